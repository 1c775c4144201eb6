"""Bars: the one family of bar containers, and the bars built from live trades.

- ``Bar`` (core/messages.py): one bar, the message a strategy receives.
- ``Bars``: many bars as columns, ``ts`` (int64 ms, the bar's open time) and open/high/low/close/volume
  (float64), with headroom: appending a bar or replacing the forming one is O(1), and a column or a
  ``slice`` is a view, not a copy. The live bars of each symbol (``BarAggregator``), bars loaded from a file
  for backtests and training (bar_files.py) and the chart's bars are all ``Bars``; ``as_dict`` gives the
  columns by name, the mapping the vectorised code (indicators, features, a strategy's ``signals``) takes.

Plus synthetic history for the demo market.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from app.engine.core.bus import MessageBus
from app.engine.core.instruments import IdKeyed
from app.engine.core.messages import Bar, TradeTick

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = COLUMNS[1:]


class Bars:
    """OHLCV columns with headroom: ``ts`` int64 ms (bar open time, strictly increasing), the rest float64.

    ``n`` bars are held; ``version`` goes up on every change, so a reader can tell that the bars moved
    without comparing them; ``reshaped`` goes up when bars were put under or between the held ones
    (``merge_history``), so a reader that keeps positions (the chart) rebuilds instead of appending. ``symbol`` and ``timeframe_ms`` say what the bars are ("" and 0 when the holder
    knows them otherwise, as the chart does).
    """

    def __init__(self, capacity: int = 1024, timeframe_ms: int = 0, symbol: str = "") -> None:
        capacity = max(int(capacity), 16)
        self._cols = {c: np.zeros(capacity, dtype=np.int64 if c == "ts" else np.float64) for c in COLUMNS}
        self.n = 0
        self.version = 0
        self.reshaped = 0
        self.timeframe_ms = timeframe_ms
        self.symbol = symbol

    @classmethod
    def from_arrays(cls, ts: Any, open_: Any, high: Any, low: Any, close: Any, volume: Any,
                    timeframe_ms: int = 0, symbol: str = "") -> Bars:
        """Bars holding copies of the columns, with room for n/8 more bars (at least 1024) before the first
        append copies them. Raises ValueError for columns of different lengths or times that do not
        strictly increase."""
        ts = np.asarray(ts, dtype=np.int64)
        n = len(ts)
        bars = cls(n + max(n // 8, 1024), timeframe_ms, symbol)
        bars._cols["ts"][:n] = ts
        for name, values in zip(PRICE_COLUMNS, (open_, high, low, close, volume)):
            arr = np.asarray(values, dtype=np.float64)
            if len(arr) != n:
                raise ValueError(f"column {name!r} has {len(arr)} rows, ts has {n}")
            bars._cols[name][:n] = arr
        if n > 1 and np.any(np.diff(ts) <= 0):
            raise ValueError("timestamps must be strictly increasing")
        bars.n = n
        return bars

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"Bars({self.symbol!r}, {self.n} bars of {self.timeframe_ms} ms)"

    # ------------------------------------------------------------------------------------------ reading
    @property
    def ts(self) -> np.ndarray:
        return self._cols["ts"][: self.n]

    @property
    def open(self) -> np.ndarray:
        return self._cols["open"][: self.n]

    @property
    def high(self) -> np.ndarray:
        return self._cols["high"][: self.n]

    @property
    def low(self) -> np.ndarray:
        return self._cols["low"][: self.n]

    @property
    def close(self) -> np.ndarray:
        return self._cols["close"][: self.n]

    @property
    def volume(self) -> np.ndarray:
        return self._cols["volume"][: self.n]

    def column(self, name: str) -> np.ndarray:
        """The column ``name`` (one of ``COLUMNS``) as a view."""
        return self._cols[name][: self.n]

    def as_dict(self) -> dict[str, np.ndarray]:
        """Every column by name (views), in ``COLUMNS`` order."""
        n = self.n
        return {c: arr[:n] for c, arr in self._cols.items()}

    def row(self, i: int) -> dict[str, float]:
        """Bar ``i`` (negative counts from the end) as a mapping keyed by ``COLUMNS``."""
        i = range(self.n)[i]
        cols = self._cols
        out: dict[str, float] = {"ts": int(cols["ts"][i])}
        for c in PRICE_COLUMNS:
            out[c] = float(cols[c][i])
        return out

    def bar(self, i: int, closed: bool = True) -> Bar:
        """Bar ``i`` (negative counts from the end) as the message."""
        i = range(self.n)[i]
        c = self._cols
        return Bar(self.symbol, self.timeframe_ms, int(c["ts"][i]), float(c["open"][i]), float(c["high"][i]),
                   float(c["low"][i]), float(c["close"][i]), float(c["volume"][i]), closed)

    def slice(self, start: int | None = None, stop: int | None = None) -> Bars:
        """Bars ``start:stop`` as a view, as numpy slices are: no copy, and a bar changed in place in one is
        changed in the other. Appending to the slice copies it first (it has no headroom)."""
        span = range(self.n)[start:stop]
        a, b = span.start, span.start + len(span)
        part = Bars.__new__(Bars)
        part._cols = {c: arr[a:b] for c, arr in self._cols.items()}
        part.n, part.version, part.reshaped = len(span), 0, 0
        part.timeframe_ms, part.symbol = self.timeframe_ms, self.symbol
        return part

    # ------------------------------------------------------------------------------------------ writing
    def update(self, bar: Mapping[str, Any]) -> bool:
        """Replace the last bar if ``bar['ts']`` equals its time, else append. True if appended.

        Raises ValueError for a bar older than the last one (bars only move forward)."""
        ts = int(bar["ts"])
        i = self.n - 1
        times = self._cols["ts"]
        appended = i < 0 or ts != times[i]
        if appended:
            if i >= 0 and ts < times[i]:
                raise ValueError(f"bar at {ts} is older than the last bar ({int(times[i])})")
            if self.n == len(times):
                self._reserve(self.n + 1)
            i = self.n
            self._cols["ts"][i] = ts
            self.n += 1
        cols = self._cols
        cols["open"][i] = bar["open"]
        cols["high"][i] = bar["high"]
        cols["low"][i] = bar["low"]
        cols["close"][i] = bar["close"]
        cols["volume"][i] = bar["volume"]
        self.version += 1
        return appended

    def add_trade(self, bar_ts: int, price: float, size: float) -> None:
        """Fold a trade print into the bar that opens at ``bar_ts``: the last bar if it opens then, a new bar
        if ``bar_ts`` is later; a print for an earlier bar is ignored (that bar is history)."""
        cols = self._cols
        times = cols["ts"]
        i = self.n - 1
        if i >= 0 and times[i] == bar_ts:
            high, low = cols["high"], cols["low"]
            if price > high[i]:
                high[i] = price
            if price < low[i]:
                low[i] = price
            cols["close"][i] = price
            cols["volume"][i] += size
        elif i < 0 or bar_ts > times[i]:
            if self.n == len(times):
                self._reserve(self.n + 1)
                cols = self._cols
            i = self.n
            cols["ts"][i] = bar_ts
            cols["open"][i] = cols["high"][i] = cols["low"][i] = cols["close"][i] = price
            cols["volume"][i] = size
            self.n += 1
        self.version += 1

    def extend(self, ts: Any, open_: Any, high: Any, low: Any, close: Any, volume: Any) -> None:
        """Append bars given as columns (they must start after the last bar; not checked)."""
        k = len(ts)
        self._reserve(self.n + k)
        n = self.n
        for arr, values in zip(self._cols.values(), (ts, open_, high, low, close, volume)):
            arr[n : n + k] = values
        self.n += k
        self.version += 1

    def merge_history(self, history: Bars, keep_last: bool = True) -> int:
        """Put closed bars from the venue or the store under these (live) bars: a history bar replaces the
        held bar of the same time (the venue's candle is whole; the first live bar began when we started
        listening), except the last held bar, which is still forming and stays (``keep_last``; False for a
        series of closed bars only). Returns the number of bars added. Bumps ``reshaped`` when anything
        moved."""
        if not history.n:
            return 0
        hts = history.ts
        if self.n and keep_last:
            hts = hts[hts < self._cols["ts"][self.n - 1]]
        k = len(hts)
        if not k:
            return 0
        live = self.as_dict()
        keep = ~np.isin(live["ts"], hts)
        cols = {c: np.concatenate([history.column(c)[:k], live[c][keep]]) for c in COLUMNS}
        order = np.argsort(cols["ts"], kind="stable")
        n = len(order)
        added = n - self.n
        self._reserve(n + max(n // 8, 1024))
        for c in COLUMNS:
            self._cols[c][:n] = cols[c][order]
        self.n = n
        self.version += 1
        self.reshaped += 1
        return added

    def truncate_to(self, n: int) -> None:
        self.n = min(self.n, n)
        self.version += 1

    def _reserve(self, size: int) -> None:
        cap = len(self._cols["ts"])
        if size > cap:
            cap = max(size, 2 * cap, 16)
            for c, arr in self._cols.items():
                grown = np.zeros(cap, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self._cols[c] = grown

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the headroom (a sweep sends its bars to worker processes)."""
        state = dict(self.__dict__)
        state["_cols"] = {c: arr[: self.n].copy() for c, arr in self._cols.items()}
        return state


class BarAggregator:
    """Builds bars from trades and publishes each bar when it closes (on the first trade of the next one),
    before that trade reaches later subscribers: a strategy sees bar t, then bar t+1's opening print."""

    def __init__(self, bus: MessageBus, timeframe_ms: int, canon: Callable[[str], str] | None = None) -> None:
        self.timeframe_ms = timeframe_ms
        self.series: dict[str, Bars] = IdKeyed(canon)  # by instrument id (a bare unique symbol finds it)
        self._bus = bus
        bus.subscribe(TradeTick, self.on_trade)

    def get(self, symbol: str) -> Bars:
        s = self.series.get(symbol)
        if s is None:
            key = self.series.key_of(symbol)
            s = self.series[key] = Bars(4096, self.timeframe_ms, key)
        return s

    def on_trade(self, tick: TradeTick) -> None:
        series = self.get(tick.symbol)
        start = tick.ts - tick.ts % self.timeframe_ms
        n = series.n
        if n and start > series._cols["ts"][n - 1]:
            self._bus.publish(series.bar(n - 1))
        series.add_trade(start, tick.price, tick.size)


def synthetic_history(end_price: float, end_ts: int, n: int, timeframe_ms: int, tick_size: float,
                      seed: int, volume_per_bar: float = 1.0) -> np.ndarray:
    """``n`` bars ending just before ``end_ts`` whose last close is ``end_price``: a GARCH(1,1) walk
    generated backwards, so the demo chart has history that joins the live market seamlessly."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-7, 0.08, 0.9
    var = omega / (1 - alpha - beta)
    rets = np.empty(n)
    for i in range(n):
        r = rng.standard_normal() * np.sqrt(var)
        rets[i] = r
        var = omega + alpha * r * r + beta * var
    after = np.cumsum(rets[::-1])[::-1] - rets  # after[i] = sum of returns of the bars after bar i
    closes = end_price * np.exp(-after)
    opens = np.empty(n)
    opens[1:] = closes[:-1]
    opens[0] = closes[0] * np.exp(-rets[0])
    wick = np.abs(rng.standard_normal((2, n))) * np.sqrt(omega / (1 - alpha - beta)) * closes * 0.6
    highs = np.maximum(opens, closes) + wick[0]
    lows = np.maximum(np.minimum(opens, closes) - wick[1], tick_size)
    def snap(x: np.ndarray) -> np.ndarray:
        return np.round(x / tick_size) * tick_size
    first = (end_ts - end_ts % timeframe_ms) - n * timeframe_ms
    ts = first + timeframe_ms * np.arange(n, dtype=np.float64)
    vol = rng.gamma(2.0, 1.0, n) * (1 + np.abs(rets) / np.sqrt(omega / (1 - alpha - beta)))
    vol *= volume_per_bar / vol.mean()
    return np.column_stack([ts, snap(opens), snap(highs), snap(lows), snap(closes), vol])
