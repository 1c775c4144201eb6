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

BAR_FIELDS = ("open", "high", "low", "close", "volume", "session")
BOOK_FIELDS = ("spread_bps", "imbalance")
NORMS = ("raw", "rel", "scale", "ratio")
DAY_MS = 86_400_000
_NAN = math.nan


class FeatureError(ValueError):
    """A feature declaration or the data given to it is unusable; the message names the feature."""


@dataclass(frozen=True)
class Feature:
    """One column. Build with ``ind(...)`` or ``book(...)``."""

    kind: str  # "indicator" | "book"
    name: str  # indicator name, or a BOOK_FIELDS entry
    params: tuple[tuple[str, Any], ...] = ()
    output: str = ""  # which output of a multi-output indicator ("" = the first)
    input: str = ""  # single-input indicators: the bar field that feeds it ("" = its declared input)
    norm: str = "raw"
    lag: int = 0

    @property
    def column(self) -> str:
        if self.kind == "book":
            base = f"book.{self.name}"
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
    if f.kind != "indicator":
        raise FeatureError(f"{where}: kind must be 'indicator' or 'book'")
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
    def compute(self, bars: Any, book_data: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The feature matrix of ``bars`` (a ``Bars`` or a mapping with ts/open/high/low/close/volume).

        ``book_data``: arrays ``bid``, ``ask``, ``bid_size``, ``ask_size`` aligned with the bars (the last
        snapshot before each close), needed only when the spec has book features.
        """
        cols = _bar_columns(bars)
        n = len(cols["close"])
        base: dict[Feature, np.ndarray] = {}
        cache: dict[tuple, tuple[np.ndarray, ...]] = {}
        for f in self.features:
            u = f.unlagged()
            if u in base:
                continue
            if u.kind == "book":
                base[u] = _book_vector(u.name, book_data, n)
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

    def stream(self) -> "FeatureStream":
        return FeatureStream(self)


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
    """

    def __init__(self, spec: FeatureSpec) -> None:
        from app.engine import indicators
        from app.engine.indicators import registry

        self.spec = spec
        self.n = len(spec.features)
        self.bars = 0  # closed bars fed
        self._book = [_NAN, _NAN]  # spread_bps, imbalance of the latest snapshot
        self._hist: collections.deque = collections.deque(maxlen=max(spec.max_lag, 1))
        ns: dict[str, Any] = {"NAN": _NAN, "DAY": DAY_MS, "book": self._book, "hist": self._hist, "S": self}
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

    def run(self, bars: Any, book_data: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Feed every bar of ``bars`` in order (with its book, if given); the stacked rows."""
        cols = _bar_columns(bars)
        get = (lambda k: bars[k]) if isinstance(bars, Mapping) else (lambda k: getattr(bars, k))
        try:
            ts = np.asarray(get("ts"), dtype=np.int64).tolist()
        except (KeyError, AttributeError):
            ts = [0] * len(cols["close"])
        o, h, l, c, v = (cols[k].tolist() for k in ("open", "high", "low", "close", "volume"))
        bk = None
        if book_data is not None:
            bk = [np.asarray(book_data[k], dtype=np.float64).tolist() for k in ("bid", "ask", "bid_size", "ask_size")]
        rows = []
        update = self.update
        for i in range(len(c)):
            if bk is not None:
                self.update_book(bk[0][i], bk[1][i], bk[2][i], bk[3][i])
            rows.append(update(ts[i], o[i], h[i], l[i], c[i], v[i]))
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
    ok = np.flatnonzero(finite_rows(spec.compute(bars, bk)))
    return int(ok[0]) if ok.size else probe


__all__ = ["Feature", "FeatureSpec", "FeatureStream", "FeatureError", "ind", "book", "lags", "default_spec",
           "finite_rows", "warmup_bars", "BOOK_FIELDS", "NORMS"]
