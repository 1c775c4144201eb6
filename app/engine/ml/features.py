"""Features declared once, computed two ways with identical numbers.

A ``FeatureSpec`` is a tuple of ``Feature``s. Each is an indicator from the registry (with its parameters,
which output, which bar field feeds it) or a top-of-book value, normalised to be scale-free, optionally
lagged by k bars. The same spec gives:

- ``spec.compute(bars, book)``: a (n_bars, n_features) float64 matrix, vectorised, for training;
- ``spec.stream()``: a ``FeatureStream`` fed one bar at a time (live and in backtests), whose row after bar
  ``i`` equals row ``i`` of ``compute`` bit for bit. Both call the same indicator kernels (the indicator
  library guarantees streaming == vectorised) and apply the same IEEE operations (``+ - * /`` only, no
  ``log``: numpy's vectorised transcendental functions may differ from libm in the last bit).

Normalisations (``x`` the indicator value, ``c`` the bar's close, ``f`` the field that fed the indicator):
``raw`` x; ``rel`` x / c - 1 (price levels: sma, bands); ``scale`` x / c (price distances: atr, macd);
``ratio`` f / x - 1 (e.g. volume over its own average). A zero denominator gives NaN in both forms.

Book features (``spread_bps``, ``imbalance``) use the last book snapshot seen before the bar closed; for
training, pass arrays of that snapshot's best bid/ask and their sizes aligned with the bars.

News features (``news.sentiment``, ``news.count``, ``news.surprise``; news_kernels.py) use the items that had
*arrived* by the bar's close time, ``ts + timeframe_ms``: for training, pass the symbol's ``NewsSeries`` and
the bar length; the stream is given items with ``on_news`` as they arrive and the bar length at creation.

``stream.update(..., final=False)`` previews a still-forming bar: the row the bar would give if it closed
now; nothing is committed (lags keep pointing at closed bars).
"""
from __future__ import annotations

import collections
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from app.engine.ml.news_kernels import (
    NewsSeries,
    NewsSeriesError,
    count_kernel,
    news_count,
    news_sentiment,
    news_surprise,
    sentiment_kernel,
    surprise_kernel,
)

BAR_FIELDS = ("open", "high", "low", "close", "volume", "session")
BOOK_FIELDS = ("spread_bps", "imbalance")
NORMS = ("raw", "rel", "scale", "ratio")
NEWS_FIELDS = ("sentiment", "count", "surprise")
NEWS_SURPRISE_BASE = 20  # bars in a surprise's baseline when the text does not say
DAY_MS = 86_400_000
_NAN = math.nan


class FeatureError(ValueError):
    """A feature declaration or the data given to it is unusable; the message names the feature."""


@dataclass(frozen=True)
class Feature:
    """One column. Build with ``ind(...)``, ``book(...)`` or ``news_feature(...)``."""

    kind: str  # "indicator" | "book" | "news"
    name: str  # indicator name, a BOOK_FIELDS or a NEWS_FIELDS entry
    params: tuple[tuple[str, Any], ...] = ()
    output: str = ""  # which output of a multi-output indicator ("" = the first)
    input: str = ""  # single-input indicators: the bar field that feeds it ("" = its declared input)
    norm: str = "raw"
    lag: int = 0

    @property
    def column(self) -> str:
        if self.kind == "book":
            base = f"book.{self.name}"
        elif self.kind == "news":
            p = dict(self.params)
            args = [duration_text(p["window"]) if isinstance(p.get("window"), int) else str(p.get("window"))]
            if "base" in p:
                args.append(str(p["base"]))
            base = f"news.{self.name}({','.join(args)})"
        else:
            args = ",".join(f"{v}" for _, v in self.params)
            base = f"{self.name}({args})" if args else self.name
            if self.output:
                base += f".{self.output}"
            if self.input:
                base += f"[{self.input}]"
            base += {"raw": "", "rel": "/close-1", "scale": "/close", "ratio": ":ratio"}.get(self.norm, f":{self.norm}")
        return base + (f"@lag{self.lag}" if self.lag else "")

    def unlagged(self) -> "Feature":
        return Feature(self.kind, self.name, self.params, self.output, self.input, self.norm, 0)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "params": dict(self.params), "output": self.output,
                "input": self.input, "norm": self.norm, "lag": self.lag}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Feature":
        params = dict(d.get("params") or {})
        if d["kind"] == "news":
            params = {k: params[k] for k in ("window", "base") if k in params} | {
                k: v for k, v in params.items() if k not in ("window", "base")}  # declared order first
        if d["kind"] == "indicator":
            from app.engine.indicators import registry

            if d["name"] in registry:
                params = registry[d["name"]].validate_params(**params)  # declared order, defaults filled
        return cls(d["kind"], d["name"], tuple(params.items()), d.get("output", ""), d.get("input", ""),
                   d.get("norm", "raw"), int(d.get("lag", 0)))


def ind(name: str, *, output: str = "", input: str = "", norm: str = "raw", lag: int = 0, **params: Any) -> Feature:
    """An indicator feature, e.g. ``ind("sma", timeperiod=10, norm="rel")``; parameters are validated now."""
    from app.engine.indicators import registry

    try:
        spec = registry[name]
    except KeyError:
        raise FeatureError(f"feature {name!r}: no such indicator; known: {', '.join(sorted(registry))}") from None
    full = spec.validate_params(**params)
    f = Feature("indicator", spec.name, tuple(full.items()), output, input, norm, lag)  # declared order
    _check(f)
    return f


def book(field_name: str, *, lag: int = 0) -> Feature:
    f = Feature("book", field_name, lag=lag)
    _check(f)
    return f


def news_feature(name: str, window: int | str, base: int | None = None, *, lag: int = 0) -> Feature:
    """A news feature, e.g. ``news_feature("sentiment", "1h")`` or ``news_feature("surprise", 3_600_000, 24)``.

    ``window``: ms or a duration text (``30m``, ``1h``, ``1d``); ``base``: bars in a surprise's baseline
    (default ``NEWS_SURPRISE_BASE``; only for ``surprise``).
    """
    w = parse_duration(window) if isinstance(window, str) else window
    params: dict[str, Any] = {"window": w}
    if name == "surprise":
        params["base"] = NEWS_SURPRISE_BASE if base is None else base
    elif base is not None:
        params["base"] = base  # refused by _check with the reason
    f = Feature("news", name, tuple(params.items()), lag=lag)
    _check(f)
    return f


_UNITS = (("d", DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def parse_duration(text: str) -> int:
    """ "30m", "1h", "2d", "90s", "250ms" -> ms (a number and one unit); ``FeatureError`` otherwise."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h|d)\s*", text or "")
    if not m or int(m.group(1)) <= 0:
        raise FeatureError(f"duration {text!r}: write a whole number and a unit, e.g. 30m, 1h, 1d "
                           f"(units ms s m h d)")
    return int(m.group(1)) * dict(_UNITS)[m.group(2)]


def duration_text(ms: int) -> str:
    """A duration in ms in the largest unit that divides it: 3600000 -> "1h", 5400000 -> "90m"."""
    for unit, size in _UNITS:
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_news_features(text: str) -> list[Feature]:
    """``"news.sentiment:1h,news.count:30m,news.surprise:1h:24"`` -> features, in order.

    Each item is ``news.NAME:WINDOW`` with NAME one of sentiment, count, surprise and WINDOW a duration
    (``parse_duration``); a surprise may add ``:BASE``, its baseline in bars (default 20). Blank text gives
    no features. ``FeatureError`` names the item and what is wrong with it.
    """
    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        where = f"news feature {item!r}"
        head, _, rest = item.partition(":")
        kind, _, name = head.strip().partition(".")
        if kind != "news" or name not in NEWS_FIELDS:
            raise FeatureError(f"{where}: write news.NAME:WINDOW with NAME one of {', '.join(NEWS_FIELDS)}, "
                               f"e.g. news.sentiment:1h")
        parts = [p.strip() for p in rest.split(":")] if rest else []
        if not parts or len(parts) > (2 if name == "surprise" else 1):
            more = " and optionally :BASE (bars)" if name == "surprise" else ""
            raise FeatureError(f"{where}: give a window{more}, e.g. news.{name}:1h"
                               + (":24" if name == "surprise" else ""))
        try:
            window = parse_duration(parts[0])
        except FeatureError as exc:
            raise FeatureError(f"{where}: {exc}") from None
        base = None
        if len(parts) == 2:
            if not parts[1].isdigit() or int(parts[1]) < 1:
                raise FeatureError(f"{where}: the surprise's base {parts[1]!r} must be a whole number of bars >= 1")
            base = int(parts[1])
        out.append(news_feature(name, window, base))
    return out


def lags(feature: Feature, *ks: int) -> list[Feature]:
    """``feature`` at each lag in ``ks`` (0 = the current bar)."""
    u = feature.unlagged()
    return [Feature(u.kind, u.name, u.params, u.output, u.input, u.norm, k) for k in ks]


def _check(f: Feature) -> None:
    where = f"feature {f.column!r}"
    if f.lag < 0:
        raise FeatureError(f"{where}: lag {f.lag} would read a future bar; lags must be >= 0")
    if f.norm not in NORMS:
        raise FeatureError(f"{where}: norm {f.norm!r} is not one of {', '.join(NORMS)}")
    if f.kind == "book":
        if f.name not in BOOK_FIELDS:
            raise FeatureError(f"{where}: book features are {', '.join(BOOK_FIELDS)}")
        return
    if f.kind == "news":
        _check_news(f, where)
        return
    if f.kind != "indicator":
        raise FeatureError(f"{where}: kind must be 'indicator', 'book' or 'news'")
    from app.engine.indicators import registry

    spec = registry[f.name]
    if f.output and f.output not in spec.outputs:
        raise FeatureError(f"{where}: {f.name} has outputs {', '.join(spec.outputs)}, not {f.output!r}")
    if f.input:
        if len(spec.inputs) != 1:
            raise FeatureError(f"{where}: only single-input indicators take input=; {f.name} needs "
                               f"{', '.join(spec.inputs)}")
        if f.input not in BAR_FIELDS[:5]:
            raise FeatureError(f"{where}: input must be one of open, high, low, close, volume")
    if f.norm == "ratio" and len(spec.inputs) != 1:
        raise FeatureError(f"{where}: norm 'ratio' divides the indicator's single input by it")


def _check_news(f: Feature, where: str) -> None:
    if f.name not in NEWS_FIELDS:
        raise FeatureError(f"{where}: news features are {', '.join(NEWS_FIELDS)}")
    if f.norm != "raw" or f.output or f.input:
        raise FeatureError(f"{where}: news features take no norm, output or input")
    p = dict(f.params)
    want = ("window", "base") if f.name == "surprise" else ("window",)
    if tuple(p) != want:
        raise FeatureError(f"{where}: news.{f.name} takes the parameters {', '.join(want)}, got "
                           f"{', '.join(p) or 'none'}")
    if not isinstance(p["window"], int) or isinstance(p["window"], bool) or p["window"] <= 0:
        raise FeatureError(f"{where}: the window must be a whole number of ms >= 1")
    if "base" in p and (not isinstance(p["base"], int) or isinstance(p["base"], bool) or p["base"] < 1):
        raise FeatureError(f"{where}: the surprise's base must be a whole number of bars >= 1")


@dataclass(frozen=True)
class FeatureSpec:
    """The declared features of a model, in column order. JSON-serialisable; ``digest`` identifies it."""

    features: tuple[Feature, ...]
    version: int = 1

    def __post_init__(self) -> None:
        if not self.features:
            raise FeatureError("a feature spec needs at least one feature")
        for f in self.features:
            _check(f)
        names = self.names
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise FeatureError(f"duplicate feature(s): {', '.join(dup)}")

    # ------------------------------------------------------------------------------------- identity
    @property
    def names(self) -> list[str]:
        return [f.column for f in self.features]

    @property
    def needs_book(self) -> bool:
        return any(f.kind == "book" for f in self.features)

    @property
    def needs_news(self) -> bool:
        return any(f.kind == "news" for f in self.features)

    @property
    def news_columns(self) -> list[str]:
        return [f.column for f in self.features if f.kind == "news"]

    @property
    def max_lag(self) -> int:
        return max(f.lag for f in self.features)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "features": [f.to_json() for f in self.features]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "FeatureSpec":
        try:
            return cls(tuple(Feature.from_json(x) for x in d["features"]), int(d.get("version", 1)))
        except (KeyError, TypeError) as exc:
            raise FeatureError(f"not a feature spec ({type(exc).__name__}: {exc})") from None

    @property
    def digest(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # ------------------------------------------------------------------------------------ vectorised
    def compute(self, bars: Any, book_data: Mapping[str, np.ndarray] | None = None,
                news: NewsSeries | None = None, *, timeframe_ms: int | None = None) -> np.ndarray:
        """The feature matrix of ``bars`` (a ``Bars`` or a mapping with ts/open/high/low/close/volume).

        ``book_data``: arrays ``bid``, ``ask``, ``bid_size``, ``ask_size`` aligned with the bars (the last
        snapshot before each close), needed only when the spec has book features.
        ``news``: the symbol's items, needed only when the spec has news features; these are computed at
        each bar's close time ``ts + timeframe_ms`` (``timeframe_ms`` defaults to ``bars.timeframe_ms``).
        """
        cols = _bar_columns(bars)
        n = len(cols["close"])
        base: dict[Feature, np.ndarray] = {}
        cache: dict[tuple, tuple[np.ndarray, ...]] = {}
        close_ms = None
        for f in self.features:
            u = f.unlagged()
            if u in base:
                continue
            if u.kind == "book":
                base[u] = _book_vector(u.name, book_data, n)
            elif u.kind == "news":
                if close_ms is None:
                    close_ms = _close_times(bars, timeframe_ms, u)
                base[u] = _news_vector(u, close_ms, news)
            else:
                base[u] = _indicator_vector(u, cols, cache)
        out = np.empty((n, len(self.features)), dtype=np.float64)
        for j, f in enumerate(self.features):
            v = base[f.unlagged()]
            if f.lag:
                out[: f.lag, j] = _NAN
                out[f.lag:, j] = v[: n - f.lag]
            else:
                out[:, j] = v
        return out

    def stream(self, timeframe_ms: int = 0) -> "FeatureStream":
        return FeatureStream(self, timeframe_ms)


def _bar_columns(bars: Any) -> dict[str, np.ndarray]:
    get = (lambda k: bars[k]) if isinstance(bars, Mapping) else (lambda k: getattr(bars, k))
    cols = {k: np.ascontiguousarray(get(k), dtype=np.float64) for k in ("open", "high", "low", "close", "volume")}
    try:
        ts = np.asarray(get("ts"), dtype=np.int64)
    except (KeyError, AttributeError):
        ts = np.zeros(len(cols["close"]), dtype=np.int64)
    cols["session"] = (ts // DAY_MS).astype(np.float64)
    return cols


def _indicator_vector(f: Feature, cols: dict[str, np.ndarray], cache: dict) -> np.ndarray:
    from app.engine.indicators import registry

    spec = registry[f.name]
    key = (f.name, f.params, f.input)
    outs = cache.get(key)
    if outs is None:
        inputs = (f.input,) if f.input else spec.inputs
        args = [cols[i] for i in inputs]
        params = dict(f.params)
        res = spec.fn(*args[:4], session=args[4], **params) if f.name == "vwap" else spec.fn(*args, **params)
        outs = cache[key] = res if isinstance(res, tuple) else (res,)
    x = outs[spec.outputs.index(f.output) if f.output else 0]
    close = cols["close"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if f.norm == "rel":
            v = np.where(close != 0.0, x / close - 1.0, _NAN)
        elif f.norm == "scale":
            v = np.where(close != 0.0, x / close, _NAN)
        elif f.norm == "ratio":
            src = cols[f.input or spec.inputs[0]]
            v = np.where(x != 0.0, src / x - 1.0, _NAN)
        else:
            v = np.array(x, dtype=np.float64, copy=True)
    return v


def _close_times(bars: Any, timeframe_ms: int | None, f: Feature) -> np.ndarray:
    """Each bar's close time, ``ts + timeframe_ms``: the moment its news features are taken."""
    tf = int(timeframe_ms if timeframe_ms is not None else getattr(bars, "timeframe_ms", 0) or 0)
    if tf <= 0:
        raise FeatureError(f"feature {f.column}: news features are taken at each bar's close (open time + bar "
                           f"length); give the bar length (timeframe_ms), or pass a Bars that knows it")
    ts = bars["ts"] if isinstance(bars, Mapping) else getattr(bars, "ts", None)
    if ts is None:
        raise FeatureError(f"feature {f.column}: news features need the bars' times (ts)")
    return np.asarray(ts, dtype=np.int64) + np.int64(tf)


def _news_vector(f: Feature, close_ms: np.ndarray, news: NewsSeries | None) -> np.ndarray:
    if news is None:
        raise FeatureError(f"feature {f.column} needs the symbol's news (a NewsSeries of arrival times and "
                           f"scores); none was given: fetch news first, or drop news features from the spec")
    p = dict(f.params)
    if f.name == "count":
        return news_count(close_ms, news, p["window"])
    if f.name == "sentiment":
        return news_sentiment(close_ms, news, p["window"])
    return news_surprise(close_ms, news, p["window"], p["base"])


def _book_vector(name: str, book_data: Mapping[str, np.ndarray] | None, n: int) -> np.ndarray:
    if book_data is None:
        raise FeatureError(f"feature book.{name} needs order-book data (bid, ask, bid_size, ask_size per bar); "
                           f"bar files have none: drop book features from the spec to train on bars")
    try:
        b, a, bs, as_ = (np.asarray(book_data[k], dtype=np.float64) for k in ("bid", "ask", "bid_size", "ask_size"))
    except KeyError as exc:
        raise FeatureError(f"feature book.{name}: book data lacks {exc}") from None
    if len(b) != n:
        raise FeatureError(f"feature book.{name}: {len(b)} book rows for {n} bars")
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "spread_bps":
            mid = (a + b) * 0.5
            return np.where(mid != 0.0, (a - b) / mid * 10000.0, _NAN)
        tot = bs + as_
        return np.where(tot != 0.0, (bs - as_) / tot, _NAN)


# ---------------------------------------------------------------------------------------------- streaming
class FeatureStream:
    """The streaming form of a spec: O(1) per bar, the indicator kernels' own streams underneath.

    ``update`` runs on every trade print of an ML strategy with intrabar scoring, so it is generated once per
    stream as straight-line Python (``self.source`` shows it): one call per indicator stream, the
    normalisations inlined, lags read from a ring of past rows. The bit-for-bit tests against ``compute``
    cover the generated code like any other.

    News features: give the bar length (``timeframe_ms``) and feed each item with ``on_news`` as it
    arrives (or a batch with ``add_news``); a bar's news values are taken at its close, ``ts +
    timeframe_ms``, over the items fed so far, with the same kernels ``compute`` uses. Items are kept in
    arrival order (a late one is inserted after those that arrived at or before it, as a stable sort
    would place it), and items too old for any later bar's window are dropped.
    """

    def __init__(self, spec: FeatureSpec, timeframe_ms: int = 0) -> None:
        from app.engine import indicators
        from app.engine.indicators import registry

        self.spec = spec
        self.n = len(spec.features)
        self.bars = 0  # closed bars fed
        self.timeframe_ms = int(timeframe_ms)
        self._book = [_NAN, _NAN]  # spread_bps, imbalance of the latest snapshot
        self._hist: collections.deque = collections.deque(maxlen=max(spec.max_lag, 1))
        self._news_units: list[tuple[str, int, int]] = []  # (name, window, base) per distinct news feature
        self._news_arrived = np.zeros(64, dtype=np.int64)
        self._news_score = np.zeros(64, dtype=np.float64)
        self._news_m = 0
        self._news_version = 0
        self._news_cached: tuple[tuple[int, int, int], list[float]] | None = None
        ns: dict[str, Any] = {"NAN": _NAN, "DAY": DAY_MS, "book": self._book, "hist": self._hist, "S": self,
                              "NEWS": self._news_values}
        body: list[str] = []
        units: dict[tuple, str] = {}
        bases: dict[Feature, str] = {}
        for f in spec.features:
            u = f.unlagged()
            if u in bases:
                continue
            b = bases[u] = f"b{len(bases)}"
            if u.kind == "book":
                body.append(f"{b} = book[{BOOK_FIELDS.index(u.name)}]")
                continue
            if u.kind == "news":
                p = dict(u.params)
                body.append(f"{b} = nv[{len(self._news_units)}]")
                self._news_units.append((u.name, p["window"], p.get("base", 0)))
                continue
            ispec = registry[u.name]
            inputs = (u.input,) if u.input else ispec.inputs
            key = (u.name, u.params, u.input)
            if key not in units:
                name = units[key] = f"u{len(units)}"
                ns["U" + name] = indicators.stream(u.name, **dict(u.params)).update
                body.append(f"{name} = U{name}({', '.join(inputs)}, final)")
            x = units[key] + (f"[{ispec.outputs.index(u.output) if u.output else 0}]" if len(ispec.outputs) > 1 else "")
            src = u.input or ispec.inputs[0]
            body.append({
                "raw": f"{b} = {x}",
                "rel": f"{b} = {x} / close - 1.0 if close != 0.0 else NAN",
                "scale": f"{b} = {x} / close if close != 0.0 else NAN",
                "ratio": f"x = {x}\n    {b} = {src} / x - 1.0 if x != 0.0 else NAN",
            }[u.norm])
        row = []
        for f in spec.features:
            b = bases[f.unlagged()]
            row.append(b if f.lag == 0 else f"(hist[-{f.lag}][{int(b[1:])}] if d >= {f.lag} else NAN)")
        session = "    session = float(ts // DAY)\n" if any("session" in line for line in body) else ""
        if self._news_units:
            session += "    nv = NEWS(ts, final)\n"
        base_bars = max((b for _, _, b in self._news_units), default=0)
        self._closes: collections.deque = collections.deque(maxlen=max(base_bars, 1))  # committed bar closes
        self._news_reach = max((w for _, w, _ in self._news_units), default=0)
        self.source = (
            "def update(ts, open, high, low, close, volume, final=True):\n" + session
            + "".join(f"    {line}\n" for line in body)
            + "    d = len(hist)\n"
            + f"    row = [{', '.join(row)}]\n"
            + f"    if final:\n        hist.append(({', '.join(bases.values())},))\n        S.bars += 1\n"
            + "    return row\n")
        exec(compile(self.source, f"<features {spec.digest[:12]}>", "exec"), ns)  # noqa: S102 - our own code
        self.update = ns["update"]  # the instance's generated function shadows the method below

    def update(self, ts: int, open: float, high: float, low: float, close: float, volume: float,  # noqa: F811
               final: bool = True) -> list[float]:
        """Feed one bar (``final=False``: a forming bar, nothing committed); returns the feature row.
        (Replaced per instance by the generated function; this signature is its contract.)"""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------- news
    def on_news(self, arrived_ms: int, score: float) -> None:
        """One item of this stream's symbol: our arrival time (never the source's published time) and its
        score in [-1, 1] (NaN: unscored). It counts for every bar that closes at or after ``arrived_ms``."""
        a, s = int(arrived_ms), float(score)
        if not (s != s or -1.0 <= s <= 1.0):
            raise NewsSeriesError(f"news score {s!r} is outside [-1, 1]; NaN marks an unscored item")
        m = self._news_m
        if m == len(self._news_arrived):
            self._news_arrived = np.concatenate([self._news_arrived, np.zeros(m, dtype=np.int64)])
            self._news_score = np.concatenate([self._news_score, np.zeros(m, dtype=np.float64)])
        arr, sc = self._news_arrived, self._news_score
        if m == 0 or a >= arr[m - 1]:
            arr[m], sc[m] = a, s
        else:  # a late item: after every item that arrived at or before it
            j = int(np.searchsorted(arr[:m], a, side="right"))
            arr[j + 1: m + 1] = arr[j:m].copy()
            sc[j + 1: m + 1] = sc[j:m].copy()
            arr[j], sc[j] = a, s
        self._news_m = m + 1
        self._news_version += 1

    def add_news(self, series: NewsSeries) -> None:
        """Several items at once (e.g. the stored history before a warm-up): as ``on_news`` for each."""
        for a, s in zip(series.arrived_ms.tolist(), series.score.tolist()):
            self.on_news(a, s)

    @property
    def news_items(self) -> int:
        """Items held (those too old for any later bar are dropped)."""
        return self._news_m

    def _news_values(self, ts: int, final: bool) -> list[float]:
        """The news features' values at the close of the bar that opened at ``ts`` (generated code calls it)."""
        tf = self.timeframe_ms
        if tf <= 0:
            raise FeatureError("news features are taken at each bar's close (open time + bar length): create "
                               "the stream with the bar length, spec.stream(timeframe_ms=...)")
        c = int(ts) + tf
        key = (c, self._news_version, self.bars)
        cached = self._news_cached
        if cached is not None and cached[0] == key:
            vals = cached[1]
        else:
            m = self._news_m
            arr, sc = self._news_arrived[:m], self._news_score[:m]
            closes = np.array([*self._closes, c], dtype=np.int64)
            vals = []
            for name, w, base in self._news_units:
                if name == "count":
                    v = count_kernel(closes[-1:], arr, w)[-1]
                elif name == "sentiment":
                    v = sentiment_kernel(closes[-1:], arr, sc, w)[-1]
                else:
                    v = surprise_kernel(closes[-(base + 1):], arr, sc, w, base)[-1]
                vals.append(float(v))
            self._news_cached = (key, vals)
        if final:
            self._closes.append(c)
            self._drop_old_news()
        return vals

    def _drop_old_news(self) -> None:
        """Forget items no later bar can see: at or before (the oldest close a surprise still looks back
        to) minus the longest window. Only the front goes, so every later window holds the same items."""
        cutoff = self._closes[0] - self._news_reach
        k = int(np.searchsorted(self._news_arrived[: self._news_m], cutoff, side="right"))
        if k >= 256 and 2 * k >= self._news_m:
            m = self._news_m - k
            self._news_arrived[:m] = self._news_arrived[k: self._news_m].copy()
            self._news_score[:m] = self._news_score[k: self._news_m].copy()
            self._news_m = m

    def update_book(self, bid: float, ask: float, bid_size: float, ask_size: float) -> None:
        mid = (ask + bid) * 0.5
        self._book[0] = (ask - bid) / mid * 10000.0 if mid != 0.0 else _NAN
        tot = bid_size + ask_size
        self._book[1] = (bid_size - ask_size) / tot if tot != 0.0 else _NAN

    def on_book(self, snapshot: Any) -> None:
        """Take the top of a ``BookSnapshot`` (a one-sided book gives NaN)."""
        if snapshot.bids and snapshot.asks:
            (b, bs), (a, as_) = snapshot.bids[0], snapshot.asks[0]
            self.update_book(b, a, bs, as_)
        else:
            self._book[0] = self._book[1] = _NAN

    def update_bar(self, bar: Any, final: bool = True) -> list[float]:
        return self.update(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, final)

    def run(self, bars: Any, book_data: Mapping[str, np.ndarray] | None = None,
            news: NewsSeries | None = None) -> np.ndarray:
        """Feed every bar of ``bars`` in order (with its book, if given, and the news items that arrived by
        its close, if given); the stacked rows."""
        cols = _bar_columns(bars)
        get = (lambda k: bars[k]) if isinstance(bars, Mapping) else (lambda k: getattr(bars, k))
        try:
            ts = np.asarray(get("ts"), dtype=np.int64).tolist()
        except (KeyError, AttributeError):
            ts = [0] * len(cols["close"])
        o, h, lw, c, v = (cols[k].tolist() for k in ("open", "high", "low", "close", "volume"))
        bk = None
        if book_data is not None:
            bk = [np.asarray(book_data[k], dtype=np.float64).tolist() for k in ("bid", "ask", "bid_size", "ask_size")]
        if news is not None and self.timeframe_ms <= 0:
            self.timeframe_ms = int(getattr(bars, "timeframe_ms", 0) or 0)
        na = news.arrived_ms.tolist() if news is not None else []
        nsc = news.score.tolist() if news is not None else []
        k = 0
        rows = []
        update = self.update
        for i in range(len(c)):
            if bk is not None:
                self.update_book(bk[0][i], bk[1][i], bk[2][i], bk[3][i])
            close_ms = ts[i] + self.timeframe_ms
            while k < len(na) and na[k] <= close_ms:
                self.on_news(na[k], nsc[k])
                k += 1
            rows.append(update(ts[i], o[i], h[i], lw[i], c[i], v[i]))
        return np.array(rows, dtype=np.float64).reshape(len(rows), self.n)


def default_spec() -> FeatureSpec:
    """The bundled model's features: returns, trend, oscillators, volatility and volume, all scale-free."""
    ret1 = ind("roc", timeperiod=1)
    return FeatureSpec(tuple([
        *lags(ret1, 0, 1, 2),
        ind("roc", timeperiod=5),
        ind("roc", timeperiod=20),
        ind("sma", timeperiod=10, norm="rel"),
        ind("sma", timeperiod=30, norm="rel"),
        ind("rsi", timeperiod=14),
        ind("bbands", timeperiod=20, output="upperband", norm="rel"),
        ind("bbands", timeperiod=20, output="lowerband", norm="rel"),
        ind("macd", output="macdhist", norm="scale"),
        ind("natr", timeperiod=14),
        ind("adx", timeperiod=14),
        ind("trange", norm="scale"),
        ind("sma", timeperiod=20, input="volume", norm="ratio"),
    ]))


def finite_rows(X: np.ndarray) -> np.ndarray:
    """Mask of rows with every feature finite (warm-up rows are not)."""
    return np.isfinite(X).all(axis=1)


def warmup_bars(spec: FeatureSpec, probe: int = 600) -> int:
    """Bars before the first row with every feature defined (measured on a synthetic probe)."""
    rng = np.random.default_rng(0)
    c = 100.0 * np.cumprod(1.0 + 0.001 * rng.standard_normal(probe))
    bars = {"ts": np.arange(probe) * 60_000, "open": c, "high": c * 1.001, "low": c * 0.999, "close": c,
            "volume": 1.0 + rng.random(probe)}
    bk = None
    if spec.needs_book:
        bk = {"bid": c * 0.9999, "ask": c * 1.0001, "bid_size": np.ones(probe), "ask_size": np.ones(probe)}
    items = None
    if spec.needs_news:  # one scored item in every bar
        items = NewsSeries(bars["ts"] + 30_000, np.tanh(rng.standard_normal(probe)))
    ok = np.flatnonzero(finite_rows(spec.compute(bars, bk, items, timeframe_ms=60_000)))
    return int(ok[0]) if ok.size else probe


__all__ = ["Feature", "FeatureSpec", "FeatureStream", "FeatureError", "ind", "book", "lags", "default_spec",
           "finite_rows", "warmup_bars", "BOOK_FIELDS", "NORMS", "NEWS_FIELDS", "news_feature",
           "parse_news_features", "parse_duration", "duration_text", "NewsSeries"]
