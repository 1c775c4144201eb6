"""The chart's data: columnar bars with O(1) append / replace-last, their LOD pyramids, and resampling.

``Bars`` is what ``ChartWidget.set_bars`` / ``update_bar`` write; ``ChartSeries`` adds the pyramids the
chart draws and fits from; ``Resampler`` keeps a longer-timeframe series in step with the base bars,
touching only the last resampled bar on a live update (bounded by the timeframe ratio, not the history).
No Qt here.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from app.engine.resample import resample
from app.widgets.chart_lod import LodColumn, bucket_bounds, top_for

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


class Bars:
    """OHLCV columns with headroom. ``ts`` is int64 ms (bar open time), the rest float64."""

    def __init__(self, capacity: int = 1024) -> None:
        capacity = max(int(capacity), 16)
        self._ts = np.zeros(capacity, dtype=np.int64)
        self._cols = {c: np.zeros(capacity) for c in PRICE_COLUMNS}
        self.n = 0
        self.version = 0

    @classmethod
    def from_arrays(cls, ts: Any, open_: Any, high: Any, low: Any, close: Any, volume: Any) -> "Bars":
        ts = np.asarray(ts, dtype=np.int64)
        n = len(ts)
        bars = cls(n + max(n // 8, 1024))
        bars._ts[:n] = ts
        for name, values in zip(PRICE_COLUMNS, (open_, high, low, close, volume)):
            arr = np.asarray(values, dtype=np.float64)
            if len(arr) != n:
                raise ValueError(f"column {name!r} has {len(arr)} rows, timestamp has {n}")
            bars._cols[name][:n] = arr
        if n > 1 and np.any(np.diff(ts) <= 0):
            raise ValueError("timestamps must be strictly increasing")
        bars.n = n
        return bars

    @property
    def ts(self) -> np.ndarray:
        return self._ts[: self.n]

    def col(self, name: str) -> np.ndarray:
        return self._cols[name][: self.n]

    def row(self, i: int) -> dict[str, float]:
        out: dict[str, float] = {"timestamp": int(self._ts[i])}
        for c in PRICE_COLUMNS:
            out[c] = float(self._cols[c][i])
        return out

    def update(self, bar: Mapping[str, Any]) -> bool:
        """Replace the last bar if ``bar['timestamp']`` equals its timestamp, else append. True if appended.

        Raises ValueError for a bar older than the last one (bars only move forward)."""
        ts = int(bar["timestamp"])
        i = self.n - 1
        appended = i < 0 or ts != self._ts[i]
        if appended:
            if i >= 0 and ts < self._ts[i]:
                raise ValueError(f"bar at {ts} is older than the last bar ({int(self._ts[i])})")
            if self.n == len(self._ts):
                self._grow()
            i = self.n
            self._ts[i] = ts
            self.n += 1
        cols = self._cols
        cols["open"][i] = bar["open"]
        cols["high"][i] = bar["high"]
        cols["low"][i] = bar["low"]
        cols["close"][i] = bar["close"]
        cols["volume"][i] = bar["volume"]
        self.version += 1
        return appended

    def truncate_to(self, n: int) -> None:
        self.n = min(self.n, n)
        self.version += 1

    def _grow(self) -> None:
        cap = 2 * len(self._ts)
        ts = np.zeros(cap, dtype=np.int64)
        ts[: self.n] = self._ts[: self.n]
        self._ts = ts
        for c, arr in self._cols.items():
            grown = np.zeros(cap)
            grown[: self.n] = arr[: self.n]
            self._cols[c] = grown


class Window:
    """The visible span cut into buckets: what the items draw and the y-axis fits to."""

    __slots__ = ("i0", "i1", "k", "first", "last", "x", "open", "high", "low", "close", "volume")

    def __init__(self, series: "ChartSeries", i0: int, i1: int, k: int) -> None:
        b = series.bars
        k = min(k, top_for(b.n)) if i1 > i0 else 0
        self.i0, self.i1, self.k = i0, i1, k
        self.first, self.last = bucket_bounds(i0, i1, k)
        self.x = (self.first + self.last) * 0.5
        self.open = b.col("open")[self.first]
        self.close = b.col("close")[self.last]
        self.high = series.high.buckets(b.col("high"), i0, i1, k)
        self.low = series.low.buckets(b.col("low"), i0, i1, k)
        self.volume = series.volume.buckets(b.col("volume"), i0, i1, k)


class ChartSeries:
    """Bars plus the level-of-detail pyramids of high (max), low (min) and volume (sum)."""

    def __init__(self, bars: Bars, timeframe_ms: int) -> None:
        self.bars = bars
        self.timeframe_ms = timeframe_ms
        self.high = LodColumn(np.fmax, lambda: self.bars.col("high"))
        self.low = LodColumn(np.fmin, lambda: self.bars.col("low"))
        self.volume = LodColumn(np.add, lambda: self.bars.col("volume"))

    @property
    def n(self) -> int:
        return self.bars.n

    @property
    def version(self) -> int:
        return self.bars.version

    def changed(self, start: int) -> None:
        """Bars from ``start`` on were replaced or appended."""
        b = self.bars
        self.high.update(b.col("high"), start)
        self.low.update(b.col("low"), start)
        self.volume.update(b.col("volume"), start)

    def window(self, i0: int, i1: int, k: int) -> Window:
        return Window(self, i0, i1, k)

    def index_of(self, ts_ms: int | np.ndarray) -> int | np.ndarray:
        """Index of the bar containing ``ts_ms`` (-1 before the first bar)."""
        return np.searchsorted(self.bars.ts, ts_ms, side="right") - 1


class Resampler:
    """A ``timeframe_ms`` series derived from ``base`` and kept in step with it."""

    def __init__(self, base: Bars, timeframe_ms: int) -> None:
        self.base = base
        self.timeframe_ms = timeframe_ms
        cols = resample(base.ts, *(base.col(c) for c in PRICE_COLUMNS), timeframe_ms)
        self.bars = Bars.from_arrays(*cols)
        # base index where the last resampled bar starts
        self._last_start = int(np.searchsorted(base.ts, self.bars.ts[-1])) if self.bars.n else 0

    def base_changed(self, start: int) -> int:
        """Base bars from ``start`` on changed or were appended; update the resampled tail in place.

        Returns the first resampled index that changed. A live update (the last base bar) costs the base
        bars of the last resampled bar, not the history."""
        b, tf = self.base, self.timeframe_ms
        if start < self._last_start:  # history rewritten: start over
            self.__init__(b, tf)
            return 0
        first_changed = self.bars.n
        i = self._last_start
        ts, o, h, l, c, v = b.ts, b.col("open"), b.col("high"), b.col("low"), b.col("close"), b.col("volume")
        while i < b.n:
            key = int(ts[i]) - int(ts[i]) % tf
            end = max(int(np.searchsorted(ts, key + tf, side="left")), i + 1)
            self.bars.update({"timestamp": key, "open": o[i], "high": h[i:end].max(), "low": l[i:end].min(),
                              "close": c[end - 1], "volume": v[i:end].sum()})
            first_changed = min(first_changed, self.bars.n - 1)
            self._last_start = i
            i = end
        return first_changed
