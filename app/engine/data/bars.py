"""Bars from trades, per symbol, at one timeframe; plus synthetic history for the demo market.

``BarSeries`` is append-only columnar storage (numpy arrays grown by doubling), so appending or updating
the forming bar is O(1) and a view can slice any range without copying the history.
"""
from __future__ import annotations

import numpy as np

from app.engine.core.bus import MessageBus
from app.engine.core.messages import Bar, TradeTick

COLUMNS = ("ts", "open", "high", "low", "close", "volume")


class BarSeries:
    def __init__(self, capacity: int = 4096) -> None:
        self._data = np.zeros((6, capacity), dtype=np.float64)
        self.n = 0
        self.version = 0

    def column(self, name: str) -> np.ndarray:
        return self._data[COLUMNS.index(name), : self.n]

    def extend(self, rows: np.ndarray) -> None:
        """Append rows shaped (k, 6) in COLUMNS order."""
        k = len(rows)
        self._reserve(self.n + k)
        self._data[:, self.n : self.n + k] = rows.T
        self.n += k
        self.version += 1

    def on_trade(self, ts_bar: int, price: float, size: float) -> None:
        d = self._data
        i = self.n - 1
        if i >= 0 and d[0, i] == ts_bar:
            if price > d[2, i]:
                d[2, i] = price
            if price < d[3, i]:
                d[3, i] = price
            d[4, i] = price
            d[5, i] += size
        elif i < 0 or ts_bar > d[0, i]:
            self._reserve(self.n + 1)
            d = self._data
            d[:, self.n] = (ts_bar, price, price, price, price, size)
            self.n += 1
        self.version += 1

    def last(self) -> dict[str, float] | None:
        if not self.n:
            return None
        return {c: float(self._data[j, self.n - 1]) for j, c in enumerate(COLUMNS)}

    def _reserve(self, size: int) -> None:
        cap = self._data.shape[1]
        if size > cap:
            grown = np.zeros((6, max(size, cap * 2)), dtype=np.float64)
            grown[:, : self.n] = self._data[:, : self.n]
            self._data = grown


class BarAggregator:
    """Builds bars from trades and publishes each bar when it closes (on the first trade of the next one),
    before that trade reaches later subscribers: a strategy sees bar t, then bar t+1's opening print."""

    def __init__(self, bus: MessageBus, timeframe_ms: int) -> None:
        self.timeframe_ms = timeframe_ms
        self.series: dict[str, BarSeries] = {}
        self._bus = bus
        bus.subscribe(TradeTick, self.on_trade)

    def get(self, symbol: str) -> BarSeries:
        s = self.series.get(symbol)
        if s is None:
            s = self.series[symbol] = BarSeries()
        return s

    def on_trade(self, tick: TradeTick) -> None:
        series = self.get(tick.symbol)
        start = tick.ts - tick.ts % self.timeframe_ms
        n = series.n
        if n and start > series._data[0, n - 1]:
            d = series._data[:, n - 1]
            self._bus.publish(Bar(tick.symbol, self.timeframe_ms, int(d[0]), float(d[1]), float(d[2]),
                                  float(d[3]), float(d[4]), float(d[5]), True))
        series.on_trade(start, tick.price, tick.size)


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
