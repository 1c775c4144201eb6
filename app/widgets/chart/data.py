"""What the chart draws from its bars: LOD pyramids, the visible window's buckets, and resampling.

The bars themselves are ``Bars`` (engine data/bars.py), what ``ChartWidget.set_bars`` / ``update_bar``
write; ``ChartSeries`` adds the pyramids the chart draws and fits from; ``Resampler`` keeps a
longer-timeframe ``Bars`` in step with the base bars, touching only the last resampled bar on a live update
(bounded by the timeframe ratio, not the history). No Qt here.
"""
from __future__ import annotations

import math

import numpy as np

from app.engine.data.bars import COLUMNS, PRICE_COLUMNS, Bars
from app.engine.data.resample import bucket_start, resample
from app.widgets.chart.lod import LodColumn, bucket_bounds, top_for
from app.widgets.chart.lod import _fmax as fmax1
from app.widgets.chart.lod import _fmin as fmin1


class Window:
    """The visible span cut into buckets: what the items draw and the y-axis fits to."""

    __slots__ = ("i0", "i1", "k", "first", "last", "x", "open", "high", "low", "close", "volume")

    def __init__(self, series: "ChartSeries", i0: int, i1: int, k: int) -> None:
        b = series.bars
        k = min(k, top_for(b.n)) if i1 > i0 else 0
        self.i0, self.i1, self.k = i0, i1, k
        self.first, self.last = bucket_bounds(i0, i1, k)
        self.x = (self.first + self.last) * 0.5
        self.open = b.column("open")[self.first]
        self.close = b.column("close")[self.last]
        self.high = series.high.buckets(b.column("high"), i0, i1, k)
        self.low = series.low.buckets(b.column("low"), i0, i1, k)
        self.volume = series.volume.buckets(b.column("volume"), i0, i1, k)


class Buckets:
    """The window's buckets for the candles, the volume and every drawn indicator output, with each pane's
    extremes over all buckets but the last, so a live update of the last bar refits the y-axes in O(1)."""

    def __init__(self, key: tuple, series: "ChartSeries", i0: int, i1: int, k: int, indicators: list,
                 price_pane: object, volume_pane: object) -> None:
        self.key = key
        self.win = win = series.window(i0, i1, k)
        self._price, self._volume = price_pane, volume_pane
        self.lines: list[tuple[object, np.ndarray, np.ndarray]] = []  # (line layer, min, max) per output
        self._owners: list[tuple[object, int, bool]] = []  # (indicator, output, histogram) per line
        for ind, layers in indicators:
            for j in range(len(ind.outputs)):
                mn, mx = ind.buckets(j, i0, i1, win.k)
                layer = layers[id(ind), j]
                self.lines.append((layer, np.array(mn), np.array(mx)))
                self._owners.append((ind, j, layer.hist))
        self._rest: dict[int, list[float]] = {}  # pane id -> [lo, hi] without the last bucket
        nan = float("nan")
        for pane, lo, hi in self._extents(slice(None, -1)):
            r = self._rest.setdefault(id(pane), [nan, nan])
            r[0], r[1] = fmin1(r[0], lo), fmax1(r[1], hi)

    def _extents(self, sl: slice):
        """(pane, lo, hi) of each series over the buckets ``sl``."""
        w = self.win
        if len(w.x[sl]):
            yield self._price, float(np.nanmin(w.low[sl])), float(np.nanmax(w.high[sl]))
            yield self._volume, 0.0, float(np.max(w.volume[sl]))
        for (layer, mn, mx), (ind, _j, hist) in zip(self.lines, self._owners):
            a, b = mn[sl], mx[sl]
            if len(a) and np.isfinite(a).any():
                lo, hi = float(np.nanmin(a)), float(np.nanmax(b))
                if hist:
                    lo, hi = min(lo, 0.0), max(hi, 0.0)
                yield ind.pane, lo, hi

    def refresh_last(self, series: "ChartSeries") -> None:
        """The last bar changed (same window): recompute the last bucket only."""
        w, b = self.win, series.bars
        last = len(w.x) - 1
        f, l = int(w.first[last]), int(w.last[last]) + 1
        w.open[last] = b.column("open")[f]
        w.close[last] = b.column("close")[l - 1]
        w.high[last] = b.column("high")[f:l].max()
        w.low[last] = b.column("low")[f:l].min()
        w.volume[last] = b.column("volume")[f:l].sum()
        for (_layer, mn, mx), (ind, j, _hist) in zip(self.lines, self._owners):
            if last < len(mn):
                col = ind.column(j)[f:l]
                mn[last], mx[last] = np.fmin.reduce(col), np.fmax.reduce(col)

    def y_ranges(self, panes: list, log_scale: bool) -> list[tuple[float, float, float, float]]:
        """``y_range`` of each pane (the last bucket's extents are read once)."""
        last = list(self._extents(slice(-1, None)))
        return [self.y_range(p, log_scale, last) for p in panes]

    def y_range(self, pane: object, log_scale: bool, last: list | None = None
                ) -> tuple[float, float, float, float]:
        """The pane's y-range, padded, then its extremes over the window without the padding (y0, y1,
        lo, hi; log10 for a log price scale). A live tick keeps the scale still while the extremes stay
        inside the range already shown (the padding is headroom, not a target)."""
        nan = float("nan")
        lo, hi = self._rest.get(id(pane), [nan, nan])
        for p, a, b in self._extents(slice(-1, None)) if last is None else last:
            if p is pane:
                lo, hi = fmin1(lo, a), fmax1(hi, b)
        if lo != lo or hi != hi:
            return 0.0, 1.0, 0.0, 1.0
        if pane is self._volume:
            return 0.0, hi * 1.12 or 1.0, 0.0, hi
        if pane is self._price:
            if log_scale:
                lo, hi = math.log10(max(lo, 1e-12)), math.log10(max(hi, 1e-12))
            pad = (hi - lo) * 0.06 or abs(hi) * 0.001 or 1.0
        else:
            pad = (hi - lo) * 0.08 or abs(hi) * 0.01 or 1.0
        return lo - pad, hi + pad, lo, hi


class ChartSeries:
    """The chart's drawing structure over ``Bars``: the level-of-detail pyramids of high (max), low (min) and
    volume (sum) that the chart draws and fits from. A view, not a container: the bars stay in ``bars``."""

    def __init__(self, bars: Bars, timeframe_ms: int) -> None:
        self.bars = bars
        self.timeframe_ms = timeframe_ms
        self.high = LodColumn(np.fmax, lambda: self.bars.column("high"))
        self.low = LodColumn(np.fmin, lambda: self.bars.column("low"))
        self.volume = LodColumn(np.add, lambda: self.bars.column("volume"))

    @property
    def n(self) -> int:
        return self.bars.n

    @property
    def version(self) -> int:
        return self.bars.version

    def changed(self, start: int) -> None:
        """Bars from ``start`` on were replaced or appended."""
        b = self.bars
        self.high.update(b.column("high"), start)
        self.low.update(b.column("low"), start)
        self.volume.update(b.column("volume"), start)

    def window(self, i0: int, i1: int, k: int) -> Window:
        return Window(self, i0, i1, k)

    def index_of(self, ts_ms: int | np.ndarray) -> int | np.ndarray:
        """Index of the bar containing ``ts_ms`` (-1 before the first bar)."""
        return np.searchsorted(self.bars.ts, ts_ms, side="right") - 1


class Resampler:
    """A ``timeframe_ms`` series derived from ``base`` and kept in step with it."""

    def __init__(self, base: Bars, timeframe_ms: int, sessions: str = "", native: Bars | None = None,
                 native_only: bool = False) -> None:
        """``native``: the venue's own candles of ``timeframe_ms`` (closed): shown where it has them, the bars
        resampled from ``base`` after its last; ``native_only``: those candles alone (prices on another scale
        than the base bars, e.g. backward adjusted)."""
        self.base = base
        self.timeframe_ms = timeframe_ms
        self.sessions = sessions  # "ashare": bars anchored on the exchange's sessions (resample.py)
        self.native, self.native_only = native, native_only
        cols = resample(base.ts, *(base.column(c) for c in PRICE_COLUMNS), timeframe_ms, sessions)
        if native_only:
            cols = [(native if native is not None else Bars(16)).column(c) for c in COLUMNS]
        elif native is not None and native.n:
            cols = _under_native(native, list(cols))
        self.bars = Bars.from_arrays(*cols)
        # base index where the last resampled bar starts
        keys = bucket_start(base.ts, timeframe_ms, sessions)
        self._last_start = int(np.searchsorted(keys, keys[-1])) if len(keys) else 0

    def base_changed(self, start: int) -> int:
        """Base bars from ``start`` on changed or were appended; update the resampled tail in place.

        Returns the first resampled index that changed. A live update (the last base bar) costs the base
        bars of the last resampled bar, not the history."""
        b, tf = self.base, self.timeframe_ms
        if self.native_only:
            return self.bars.n
        if start < self._last_start:  # history rewritten: start over
            self.__init__(b, tf, self.sessions, self.native, self.native_only)
            return 0
        first_changed = self.bars.n
        i = i0 = self._last_start
        ts, o, h, l, c, v = b.ts, b.column("open"), b.column("high"), b.column("low"), b.column("close"), b.column("volume")
        keys = bucket_start(ts[i0:], tf, self.sessions)  # the last resampled bar's base bars and newer ones
        while i < b.n:
            key = int(keys[i - i0])
            end = i + 1 + int(np.searchsorted(keys[i + 1 - i0:], key, side="right"))
            if self.bars.n and key < self.bars.ts[-1]:  # a candle the venue's own series already shows
                i = end
                continue
            self.bars.update({"ts": key, "open": o[i], "high": h[i:end].max(), "low": l[i:end].min(),
                              "close": c[end - 1], "volume": v[i:end].sum()})
            first_changed = min(first_changed, self.bars.n - 1)
            self._last_start = i
            i = end
        return first_changed


def _under_native(native: Bars, cols: list) -> list:
    """The venue's candles, then the resampled bars after its last (the venue's whole candle is preferred to
    one resampled from the base bars, which may have begun mid-candle)."""
    after = int(np.searchsorted(cols[0], native.ts[-1], side="right"))
    return [np.concatenate([native.column(c), col[after:]]) for c, col in zip(COLUMNS, cols)]
