"""Candlestick chart with a volume pane, drawn only for the visible bars.

``CandleItem`` paints the bars inside the view's x-range, aggregating buckets of bars when there are more
bars than pixels (a bucket keeps the first open, the last close, the highest high and the lowest low), so
the cost of a frame follows the screen, not the history. Appending or updating the last bar is O(1): the
series grows in place and the item only asks for a repaint.
"""
from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.engine.bars import BarSeries
from app.engine.kernel import Kernel

log = logging.getLogger("kestrel.ui.chart")
UP = QColor("#26a69a")
DOWN = QColor("#ef5350")


def visible_buckets(series: BarSeries, i0: int, i1: int, max_buckets: int) -> tuple[np.ndarray, ...]:
    """Rows i0..i1 (inclusive) as at most ``max_buckets`` OHLCV buckets: (x, open, high, low, close, volume).

    Extremes are never lost: each bucket's high is the max of its bars' highs, its low the min of lows.
    """
    o, h, l, c, v = (series.column(k)[i0 : i1 + 1] for k in ("open", "high", "low", "close", "volume"))
    n = len(o)
    x = np.arange(i0, i0 + n, dtype=np.float64)
    if n <= max_buckets or n == 0:
        return x, o, h, l, c, v
    step = int(np.ceil(n / max_buckets))
    starts = np.arange(0, n, step)
    ends = np.minimum(starts + step, n) - 1
    return (x[starts] + (ends - starts) / 2.0, o[starts], np.maximum.reduceat(h, starts),
            np.minimum.reduceat(l, starts), c[ends], np.add.reduceat(v, starts))


class _SeriesItem(pg.GraphicsObject):
    """Base for items that paint a BarSeries' visible window.

    Qt calls ``boundingRect`` and ``paint`` from C++: an exception escaping either kills the process, so
    both only read cached state or are guarded. Bounds are kept incrementally (only bars added or changed
    since the last update are scanned), so a live update is O(1), not O(history).
    """

    def __init__(self) -> None:
        super().__init__()
        self.series: BarSeries | None = None
        self._failed = False
        self._rect = QRectF()
        self._lo = np.inf
        self._hi = -np.inf
        self._scanned = 0

    def set_series(self, series: BarSeries) -> None:
        self.series = series
        self._lo, self._hi, self._scanned = np.inf, -np.inf, 0
        self.data_changed()

    def data_changed(self) -> None:
        """Call after the series grew or its last bar changed."""
        try:
            s = self.series
            if s is not None and s.n:
                start = max(self._scanned - 1, 0)  # the last bar may have changed since the last scan
                lo, hi = self._y_bounds(s, start)
                self._lo, self._hi, self._scanned = min(self._lo, lo), max(self._hi, hi), s.n
                rect = QRectF(-1.0, self._lo, s.n + 1.0, max(self._hi - self._lo, 1e-9))
            else:
                rect = QRectF()
        except Exception:  # noqa: BLE001
            log.exception("chart data unreadable; keeping the last good view")
            return
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, p: QPainter, *args) -> None:
        try:
            self._paint(p)
        except Exception:  # noqa: BLE001 - an exception escaping a Qt paint method kills the process
            if not self._failed:
                self._failed = True
                log.exception("chart paint failed; the chart keeps running")

    def _window(self) -> tuple[int, int, int] | None:
        s = self.series
        vb = self.getViewBox()
        if s is None or s.n == 0 or vb is None:
            return None
        (x0, x1), _ = vb.viewRange()
        i0 = max(int(np.floor(x0)), 0)
        i1 = min(int(np.ceil(x1)), s.n - 1)
        if i1 < i0:
            return None
        return i0, i1, max(int(vb.width()), 50)

    def _y_bounds(self, s: BarSeries, start: int) -> tuple[float, float]:
        raise NotImplementedError

    def _paint(self, p: QPainter) -> None:
        raise NotImplementedError


class CandleItem(_SeriesItem):
    def _y_bounds(self, s: BarSeries, start: int) -> tuple[float, float]:
        return float(s.column("low")[start:].min()), float(s.column("high")[start:].max())

    def _paint(self, p: QPainter) -> None:
        win = self._window()
        if win is None:
            return
        i0, i1, px = win
        x, o, h, l, c, _v = visible_buckets(self.series, i0, i1, px)
        width = 0.7 * (x[1] - x[0] if len(x) > 1 else 1.0)
        up = c >= o
        for mask, color in ((up, UP), (~up, DOWN)):
            pen = QPen(color)
            pen.setCosmetic(True)
            p.setPen(pen)
            xs, hs, ls, os_, cs = x[mask], h[mask], l[mask], o[mask], c[mask]
            p.drawLines([QLineF(a, b, a, d) for a, b, d in zip(xs.tolist(), ls.tolist(), hs.tolist())])
            p.setBrush(color)
            lo = np.minimum(os_, cs)
            ht = np.maximum(np.abs(cs - os_), 1e-12)
            p.drawRects([QRectF(a - width / 2, b, width, e) for a, b, e in zip(xs.tolist(), lo.tolist(), ht.tolist())])


class VolumeItem(_SeriesItem):
    def _y_bounds(self, s: BarSeries, start: int) -> tuple[float, float]:
        return 0.0, float(s.column("volume")[start:].max())

    def _paint(self, p: QPainter) -> None:
        win = self._window()
        if win is None:
            return
        i0, i1, px = win
        x, o, _h, _l, c, v = visible_buckets(self.series, i0, i1, px)
        width = 0.7 * (x[1] - x[0] if len(x) > 1 else 1.0)
        up = c >= o
        p.setPen(pg.mkPen(None))
        for mask, color in ((up, UP), (~up, DOWN)):
            faded = QColor(color)
            faded.setAlpha(140)
            p.setBrush(faded)
            p.drawRects([QRectF(a - width / 2, 0.0, width, b) for a, b in zip(x[mask].tolist(), v[mask].tolist())])


class TimeAxis(pg.AxisItem):
    def __init__(self, chart: "ChartWidget") -> None:
        super().__init__("bottom")
        self._chart = chart

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        s = self._chart.series
        out = []
        for v in values:
            i = int(round(v))
            if s is None or not 0 <= i < s.n:
                out.append("")
                continue
            t = dt.datetime.fromtimestamp(s.column("ts")[i] / 1000, tz=dt.timezone.utc)
            out.append(t.strftime("%H:%M" if spacing < 1440 else "%m-%d"))
        return out


class ChartWidget(QWidget):
    """Live candles for one symbol from the kernel's bar aggregator."""

    def __init__(self, kernel: Kernel, parent: QWidget | None = None, visible_bars: int = 120) -> None:
        super().__init__(parent)
        self._kernel = kernel
        self._visible = visible_bars
        self.series: BarSeries | None = None
        self.symbol = ""
        self._seen = -1
        self._follow = True
        self._y_fitted: tuple[float, float, float] | None = None
        self.title = QLabel()
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground("#111418")
        self.price_plot = self.glw.addPlot(row=0, col=0, axisItems={"bottom": TimeAxis(self)})
        self.volume_plot = self.glw.addPlot(row=1, col=0)
        self.glw.ci.layout.setRowStretchFactor(0, 4)
        self.glw.ci.layout.setRowStretchFactor(1, 1)
        self.volume_plot.setXLink(self.price_plot)
        self.volume_plot.getAxis("bottom").setStyle(showValues=False)
        for plot in (self.price_plot, self.volume_plot):
            plot.showGrid(x=True, y=True, alpha=0.12)
            plot.setMouseEnabled(x=True, y=False)
            plot.hideButtons()
            plot.showAxis("right")
            plot.hideAxis("left")
        self.candles = CandleItem()
        self.volume = VolumeItem()
        self.price_plot.addItem(self.candles)
        self.volume_plot.addItem(self.volume)
        self.last_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen("#d7dae0", style=pg.QtCore.Qt.DashLine))
        self.price_plot.addItem(self.last_line)
        self.price_plot.sigXRangeChanged.connect(self._fit_y)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.glw)
        self.set_symbol(next(iter(kernel.instruments)))

    def set_symbol(self, symbol: str) -> None:
        self.symbol = symbol
        self.series = self._kernel.bars.get(symbol)
        self.candles.set_series(self.series)
        self.volume.set_series(self.series)
        self._seen = -1
        self._follow = True
        self.refresh()

    def refresh(self) -> None:
        s = self.series
        if s is None or s.version == self._seen or s.n == 0:
            return
        grew = self._seen != -1 and s.n
        self._seen = s.version
        last = s.last()
        d = self._kernel.instruments[self.symbol].price_decimals
        tf = self._kernel.bars.timeframe_ms // 1000
        self.title.setText(f"  {self.symbol}  {tf // 60}m   O {last['open']:.{d}f}  H {last['high']:.{d}f}  "
                           f"L {last['low']:.{d}f}  C {last['close']:.{d}f}  V {last['volume']:.3f}")
        self.last_line.setValue(last["close"])
        self.candles.data_changed()
        self.volume.data_changed()
        (x0, x1), _ = self.price_plot.viewRange()
        if self._follow and (not grew or x1 >= s.n - 3) and (x0, x1) != (s.n - self._visible, s.n + 2):
            self.price_plot.setXRange(s.n - self._visible, s.n + 2, padding=0)
        self._fit_y()

    def _fit_y(self, *_: object) -> None:
        s = self.series
        if s is None or s.n == 0:
            return
        (x0, x1), _ = self.price_plot.viewRange()
        i0, i1 = max(int(x0), 0), min(int(np.ceil(x1)), s.n - 1)
        if i1 < i0:
            return
        lo = float(s.column("low")[i0 : i1 + 1].min())
        hi = float(s.column("high")[i0 : i1 + 1].max())
        vmax = float(s.column("volume")[i0 : i1 + 1].max())
        if (lo, hi, vmax) == self._y_fitted:  # unchanged: don't make the axes relayout their labels
            return
        self._y_fitted = (lo, hi, vmax)
        pad = (hi - lo) * 0.05 or hi * 0.001
        self.price_plot.setYRange(lo - pad, hi + pad, padding=0)
        self.volume_plot.setYRange(0, vmax * 1.1 or 1.0, padding=0)
