"""What the chart draws in a pane: grid, candles, volume, indicator lines, markers, price lines, crosshair.

A pane is a stack of layers painted by ``ChartView`` in the pane's pixel space. A layer maps the visible
buckets to pixels itself, with numpy, into arrays that QPainter draws in one call (``drawLines`` /
``drawRects`` over numpy memory). So a range change costs one mapping of at most a few hundred buckets per
layer, whatever the history; a partial repaint (crosshair, last bar) reuses the cached pixel arrays and
draws only the primitives in the repainted columns.
"""
from __future__ import annotations

import bisect
import logging
import math
from typing import Callable

import numpy as np
import shiboken6
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap, QPolygonF

from app.widgets.chart.axes import shared_labels
from app.widgets.chart.data import Window

log = logging.getLogger("kestrel.ui.chart")

UP = QColor("#26a69a")
DOWN = QColor("#ef5350")
ANTIALIASING = QPainter.RenderHint.Antialiasing  # (a PySide enum member lookup costs a Python call per use)
NO_PEN = Qt.PenStyle.NoPen


class Mapper:
    """Data (bar index, view y) -> pixels of a pane, for one paint."""

    __slots__ = ("x0", "x1", "y0", "y1", "w", "h", "sx", "sy", "xa", "xb", "ya", "yb")

    def __init__(self, x0: float, x1: float, y0: float, y1: float, w: float, h: float) -> None:
        self.x0, self.x1, self.y0, self.y1, self.w, self.h = x0, x1, y0, y1, w, h
        self.sx = self.w / (self.x1 - self.x0) if self.x1 != self.x0 else 1.0
        self.sy = self.h / (self.y1 - self.y0) if self.y1 != self.y0 else 1.0
        self.xa, self.xb, self.ya, self.yb = 0.0, self.w, 0.0, self.h  # the pixels being repainted

    def key(self) -> tuple:
        return (self.x0, self.x1, self.y0, self.y1, self.w, self.h)

    def px(self, x: np.ndarray) -> np.ndarray:
        return (x - self.x0) * self.sx

    def py(self, y: np.ndarray) -> np.ndarray:
        return (self.y1 - y) * self.sy

    def to_x(self, px: float) -> float:
        return self.x0 + px / self.sx

    def to_y(self, py: float) -> float:
        return self.y1 - py / self.sy


class Layer:
    """One thing a pane draws (candles, a line, the grid...)."""

    z = 0.0
    overlay = False  # drawn over the pane's cached base image on every repaint (lines, legend, crosshair)

    def __init__(self) -> None:
        self.pane = None  # the Pane (chart_view) that draws this layer
        self.dirty = True
        self.visible = True

    def invalidate(self, strip: QRectF | None = None) -> None:
        """Data changed: rebuild the pixel arrays at the next paint; repaint ``strip`` (pane pixels;
        None: the whole pane)."""
        self.dirty = True
        if self.pane is not None:
            if not self.overlay:
                self.pane.mark_stale(strip)
            self.pane.repaint_strip(strip)

    def build(self, m: Mapper) -> None:
        """Map the data to pixel arrays (called when the data or the view changed)."""

    def draw(self, p: QPainter, m: Mapper) -> None:
        raise NotImplementedError


class TailLayer(Layer):
    """A layer whose data is the window's buckets: when only the last bucket changed (a live tick) and the
    view did not move, ``build_last`` rewrites its primitives in place instead of mapping every bucket."""

    def __init__(self) -> None:
        super().__init__()
        self._full = True  # the next build maps everything
        self._key: tuple | None = None  # the mapper of the last full build

    def changed(self, strip: QRectF | None, last_only: bool) -> None:
        if not last_only:
            self._full = True
        self.invalidate(strip)

    def build(self, m: Mapper) -> None:
        key = m.key()
        if not self._full and key == self._key and self.build_last(m):
            return
        self._full, self._key = False, key
        self.build_all(m)

    def build_all(self, m: Mapper) -> None:
        raise NotImplementedError

    def build_last(self, m: Mapper) -> bool:
        """Rewrite the last bucket's primitives; False: it cannot be done in place (map everything)."""
        return False


class WindowLayer(TailLayer):
    """A tail layer drawn from the window's buckets in two colour groups (up, down), the last bucket being
    the last primitive of its group."""

    def __init__(self) -> None:
        super().__init__()
        self.window: Window | None = None
        self._last_up: bool | None = None  # the colour group holding the last bucket

    def set_window(self, window: Window | None, strip: QRectF | None = None, last_only: bool = False) -> None:
        self.window = window
        self.changed(strip, last_only)

    def last_in_place(self) -> int | None:
        """The last bucket's index if it is still in the group holding it (rewritable in place), else None
        (no buckets, or it changed colour and moves to the other group)."""
        w = self.window
        if w is None or len(w.x) == 0:
            return None
        j = len(w.x) - 1
        return j if bool(w.close[j] >= w.open[j]) is self._last_up else None


def blend(color: QColor, alpha: float, background: QColor = QColor("#0d1117")) -> QColor:
    """An opaque colour that looks like ``color`` at ``alpha`` over the chart background (opaque fills are
    about twice as fast as blended ones)."""
    return QColor(round(color.red() * alpha + background.red() * (1 - alpha)),
                  round(color.green() * alpha + background.green() * (1 - alpha)),
                  round(color.blue() * alpha + background.blue() * (1 - alpha)))


class Prims:
    """A numpy-backed array of QLineF / QRectF / PixmapFragment that QPainter draws in one call.

    ``keys`` holds each primitive's x (pixels, ascending; bisected as a list, cheaper than a numpy call),
    so a partial repaint draws only the slice that lies in the exposed columns instead of every primitive
    clipped away one by one."""

    def __init__(self, klass: type, nfields: int) -> None:
        self.klass, self.nfields = klass, nfields
        self.a = np.zeros((16, nfields))
        self.keys = np.zeros(16)
        self._klist: list[float] | None = None  # ``keys`` as a list, made on the first partial repaint
        self.n = 0
        self._addr = self.a.ctypes.data  # (ndarray.ctypes imports ctypes on every access)

    def __len__(self) -> int:
        return self.n

    def resize(self, n: int) -> np.ndarray:
        if n > len(self.a):
            cap = max(n, 2 * len(self.a))
            self.a = np.zeros((cap, self.nfields))
            self.keys = np.zeros(cap)
            self._addr = self.a.ctypes.data
        self.n = n
        self._klist = None
        return self.a[:n]

    def span(self, m: "Mapper", margin: float = 4.0) -> tuple[int, int]:
        if m.xa <= 0 and m.xb >= m.w:
            return 0, self.n
        k, n = self._klist, self.n
        if k is None:
            k = self._klist = self.keys[:n].tolist()
        lo, hi = bisect.bisect_left(k, m.xa - margin, 0, n), bisect.bisect_left(k, m.xb + margin, 0, n)
        return max(lo - 1, 0), hi  # the one before may reach in (a line segment keyed by its start)

    def args(self, lo: int, hi: int) -> tuple:
        ptr = shiboken6.wrapInstance(self._addr + lo * 8 * self.nfields, self.klass)
        return ptr, hi - lo


def _lines(arr: Prims, x0, y0, x1, y1) -> None:
    a = arr.resize(len(x0))
    a[:, 0], a[:, 1], a[:, 2], a[:, 3] = x0, y0, x1, y1
    arr.keys[: arr.n] = x0


def _rects(arr: Prims, x, y, w, h) -> None:
    a = arr.resize(len(x))
    a[:, 0], a[:, 1], a[:, 2], a[:, 3] = x, y, w, h
    arr.keys[: arr.n] = x


CULL_MIN = 48  # a thin band over at least this many primitives: drop those above or below it first


def _band(arr: Prims, lo: int, hi: int, m: "Mapper", top: np.ndarray, bottom: np.ndarray):
    """The primitives lo..hi that reach into the repainted rows, copied contiguous (Qt would clip every
    other one away, one by one: in a thin band across a zoomed-out chart that is most of the work)."""
    keep = (bottom >= m.ya - 2) & (top <= m.yb + 2)
    sub = arr.a[lo:hi][keep]
    return shiboken6.wrapInstance(sub.__array_interface__["data"][0], arr.klass), len(sub), sub


def _thin(m: "Mapper", n: int) -> bool:
    return n >= CULL_MIN and m.yb - m.ya < 0.3 * m.h


def _draw(draw, arr: Prims, m: "Mapper", rows: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
    """``draw`` (QPainter.drawLines / drawRects) the primitives in the repainted columns; ``rows`` gives
    each primitive's top and bottom, for a thin band."""
    lo, hi = arr.span(m)
    if hi <= lo:
        return
    if _thin(m, hi - lo):
        ptr, n, _keep_alive = _band(arr, lo, hi, m, *rows(arr.a[lo:hi]))
        if n:
            draw(ptr, n)
        return
    draw(*arr.args(lo, hi))


def _line_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(a[:, 1], a[:, 3]), np.maximum(a[:, 1], a[:, 3])


def _rect_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return a[:, 1], a[:, 1] + a[:, 3]


def draw_lines(p: QPainter, arr: Prims, m: "Mapper") -> None:
    _draw(p.drawLines, arr, m, _line_rows)


def draw_rects(p: QPainter, arr: Prims, m: "Mapper") -> None:
    _draw(p.drawRects, arr, m, _rect_rows)


class BarShapes:
    """Vertical bars (candle bodies, volume): rects, or 1 px lines when they are 1 px wide (cheaper)."""

    def __init__(self) -> None:
        self.rects = Prims(QRectF, 4)
        self.lines = Prims(QLineF, 4)
        self.width = 1.0
        self._pen = QPen()

    def set(self, left: np.ndarray, top: np.ndarray, width: float, height: np.ndarray) -> None:
        self.width = width
        if width > 1:  # integer rects: the raster engine's fast fill
            _rects(self.rects, left, top, width, height)
            self.lines.resize(0)
        else:  # 1 px wide: a cosmetic line is cheaper than a rect
            xc = left + 0.5
            _lines(self.lines, xc, top, xc, top + np.maximum(height, 1.0) - 1)
            self.rects.resize(0)

    def set_last(self, left: float, top: float, height: float) -> None:
        """Move the last bar's top and height (its column is unchanged)."""
        if self.width > 1:
            self.rects.a[self.rects.n - 1, 1:4] = (top, self.width, height)
        else:
            self.lines.a[self.lines.n - 1, 1:4] = (top, left + 0.5, top + max(height, 1.0) - 1)

    def draw(self, p: QPainter, color: QColor, m: "Mapper") -> None:
        if len(self.rects):
            p.setPen(NO_PEN)
            p.setBrush(color)
            draw_rects(p, self.rects, m)
        elif len(self.lines):
            p.setPen(QPen(color, 0))
            draw_lines(p, self.lines, m)


class CandleLayer(WindowLayer):
    """Candles of the visible window: one per bucket (raw bars when zoomed in)."""

    z = 10

    def __init__(self) -> None:
        super().__init__()
        self.yfun: Callable[[np.ndarray], np.ndarray] = lambda y: y
        self._wicks = {True: Prims(QLineF, 4), False: Prims(QLineF, 4)}
        self._bodies = {True: BarShapes(), False: BarShapes()}
        self._pens = {True: QPen(UP, 0), False: QPen(DOWN, 0)}

    def build_last(self, m: Mapper) -> bool:
        j = self.last_in_place()
        if j is None:
            return False
        w, up = self.window, self._last_up
        o, c = float(w.open[j]), float(w.close[j])
        f = self.yfun
        yo, yh, yl, yc = (float(m.py(f(np.float64(v)))) for v in (o, w.high[j], w.low[j], c))
        x = math.floor(float(m.px(np.float64(w.x[j])))) + 0.5
        wicks = self._wicks[up]
        wicks.a[wicks.n - 1] = (x, yh, x, yl)
        top = math.floor(min(yo, yc))
        self._bodies[up].set_last(x - self._bodies[up].width / 2, top, max(math.ceil(max(yo, yc)) - top, 1.0))
        return True

    def build_all(self, m: Mapper) -> None:
        w = self.window
        self._last_up = None
        if w is None or len(w.x) == 0:
            for flag in (True, False):
                self._wicks[flag].resize(0)
                self._bodies[flag].set(np.empty(0), np.empty(0), 1.0, np.empty(0))
            return
        f = self.yfun
        x = np.floor(m.px(w.x)) + 0.5
        yo, yh, yl, yc = m.py(f(w.open)), m.py(f(w.high)), m.py(f(w.low)), m.py(f(w.close))
        spacing = (1 << w.k) * m.sx
        bw = max(1.0, math.floor(spacing * 0.7))
        if bw > 1 and bw % 2 == 0:
            bw -= 1  # odd widths centre on the wick
        up = w.close >= w.open
        top = np.floor(np.minimum(yo, yc))
        height = np.maximum(np.ceil(np.maximum(yo, yc)) - top, 1.0)
        left = x - bw / 2
        for flag, mask in ((True, up), (False, ~up)):
            _lines(self._wicks[flag], x[mask], yh[mask], x[mask], yl[mask])
            self._bodies[flag].set(left[mask], top[mask], bw, height[mask])
        self._last_up = bool(up[-1])

    def draw(self, p: QPainter, m: Mapper) -> None:
        for flag, color in ((True, UP), (False, DOWN)):
            p.setPen(self._pens[flag])
            draw_lines(p, self._wicks[flag], m)
            self._bodies[flag].draw(p, color, m)


class VolumeLayer(WindowLayer):
    """Volume per bucket (summed), coloured by the bucket's direction."""

    z = 10

    def __init__(self) -> None:
        super().__init__()
        self._bars = {True: BarShapes(), False: BarShapes()}
        self._colors = {True: blend(UP, 0.5), False: blend(DOWN, 0.5)}
        self._base_px = 0.0

    def build_last(self, m: Mapper) -> bool:
        j = self.last_in_place()
        if j is None:
            return False
        w, bars, base = self.window, self._bars[self._last_up], self._base_px
        top = min(math.floor(float(m.py(np.float64(w.volume[j])))), base - 1)
        left = math.floor(float(m.px(np.float64(w.x[j])))) + 0.5 - bars.width / 2
        bars.set_last(left, top, base - top)
        return True

    def build_all(self, m: Mapper) -> None:
        w = self.window
        self._last_up = None
        if w is None or len(w.x) == 0:
            for b in self._bars.values():
                b.set(np.empty(0), np.empty(0), 1.0, np.empty(0))
            return
        spacing = (1 << w.k) * m.sx
        bw = max(1.0, math.floor(spacing * 0.7))
        if bw > 1 and bw % 2 == 0:
            bw -= 1
        left = np.floor(m.px(w.x)) + 0.5 - bw / 2
        base = math.floor(float(m.py(np.float64(0.0))))
        top = np.minimum(np.floor(m.py(w.volume)), base - 1)
        up = w.close >= w.open
        for flag, mask in ((True, up), (False, ~up)):
            self._bars[flag].set(left[mask], top[mask], bw, base - top[mask])
        self._last_up, self._base_px = bool(up[-1]), base

    def draw(self, p: QPainter, m: Mapper) -> None:
        for flag in (True, False):
            self._bars[flag].draw(p, self._colors[flag], m)


class LineLayer(TailLayer):
    """One indicator output as a line; zoomed out, each bucket is drawn as its min-max span (no spike is
    lost). NaN (warm-up) breaks the line. ``hist=True`` draws bars from zero (MACD histogram)."""

    z = 20

    def __init__(self, color: QColor, hist: bool = False) -> None:
        super().__init__()
        self.color = QColor(color)
        self.hist = hist
        self.yfun: Callable[[np.ndarray], np.ndarray] = lambda y: y
        self.data: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None  # x, lo, hi, k
        self._segments = Prims(QLineF, 4)
        self._bars = BarShapes()
        self._pen = QPen(self.color, 1.0)
        self._pen.setCosmetic(True)
        self._fill = blend(self.color, 0.6)
        self._last_seg = False  # the last segment (into the last bucket) is the last primitive

    def set_data(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, k: int, strip: QRectF | None = None,
                 last_only: bool = False) -> None:
        self.data = (x, lo, hi, k)
        self.changed(strip, last_only)

    def build_last(self, m: Mapper) -> bool:
        if not self._last_seg or self.data is None:
            return False
        lo = self.data[1]
        y = float(m.py(self.yfun(np.float64(lo[-1]))))
        if not math.isfinite(y):
            return False
        self._segments.a[self._segments.n - 1, 3] = y
        return True

    def build_all(self, m: Mapper) -> None:
        self._last_seg = False
        self._segments.resize(0)
        self._bars.set(np.empty(0), np.empty(0), 1.0, np.empty(0))
        if self.data is None or len(self.data[0]) == 0:
            return
        x, lo, hi, k = self.data
        px = np.floor(m.px(x)) + 0.5
        f = self.yfun
        if self.hist:
            spacing = (1 << k) * m.sx
            bw = max(1.0, math.floor(spacing * 0.6))
            zero = float(m.py(np.float64(0.0)))
            v = np.where(np.abs(hi) >= np.abs(lo), hi, lo)
            ok = np.isfinite(v)
            yv = m.py(v[ok])
            top = np.minimum(yv, zero)
            self._bars.set(px[ok] - bw / 2, top, bw, np.abs(yv - zero))
            return
        if k == 0:
            xs, ys = px, m.py(f(lo))
        else:  # min, max per bucket: a vertical span, then on to the next bucket
            xs = np.repeat(px, 2)
            ys = np.empty(2 * len(px))
            ys[0::2], ys[1::2] = m.py(f(lo)), m.py(f(hi))
        ok = np.isfinite(ys[:-1]) & np.isfinite(ys[1:])
        _lines(self._segments, xs[:-1][ok], ys[:-1][ok], xs[1:][ok], ys[1:][ok])
        self._last_seg = k == 0 and len(ok) > 0 and bool(ok[-1])

    def draw(self, p: QPainter, m: Mapper) -> None:
        self._bars.draw(p, self._fill, m)
        if len(self._segments):
            smooth = self.data is not None and self.data[3] == 0  # zoomed out, min-max spans: no AA needed
            if smooth:
                p.setRenderHint(ANTIALIASING, True)
            p.setPen(self._pen)
            draw_lines(p, self._segments, m)
            if smooth:
                p.setRenderHint(ANTIALIASING, False)


class GridLayer(Layer):
    """Grid lines at the price scale's and the time scale's ticks."""

    z = -50

    def __init__(self, price_ticks: Callable[[Mapper], np.ndarray],
                 time_ticks: Callable[[float, float, float], list[float]]) -> None:
        super().__init__()
        self._price_ticks, self._time_ticks = price_ticks, time_ticks
        self._h = Prims(QRectF, 4)  # horizontal, 1 px rects (10x cheaper than lines): across the repainted columns
        self._v = Prims(QLineF, 4)  # vertical: sliced to the repainted columns
        self._color = QColor("#1c2128")
        self._pen = QPen(self._color, 0)
        self._rows: list[float] = []  # the horizontal lines' rows, ascending

    def build(self, m: Mapper) -> None:
        ys = np.sort(np.floor(m.py(np.asarray(self._price_ticks(m), dtype=np.float64))))  # top row first
        xs = np.floor(m.px(np.asarray(self._time_ticks(m.x0, m.x1, m.w), dtype=np.float64))) + 0.5
        _rects(self._h, np.zeros(len(ys)), ys, m.w, 1.0)
        self._rows = ys.tolist()
        _lines(self._v, xs, np.zeros(len(xs)), xs, np.full(len(xs), m.h))

    def draw(self, p: QPainter, m: Mapper) -> None:
        """The lines in the repainted rect only, cut to it (a clipped-away run costs as if drawn)."""
        ya, yb = max(m.ya - 1.0, 0.0), min(m.yb + 1.0, m.h)
        h = self._h
        lo, hi = bisect.bisect_left(self._rows, ya - 1, 0, h.n), bisect.bisect_right(self._rows, yb, 0, h.n)
        if hi > lo:
            xa = max(m.xa - 1.0, 0.0)
            h.a[lo:hi, 0], h.a[lo:hi, 2] = xa, min(m.xb + 1.0, m.w) - xa
            p.setPen(NO_PEN)
            p.setBrush(self._color)
            p.drawRects(*h.args(lo, hi))
        v = self._v
        if v.n:
            v.a[: v.n, 1], v.a[: v.n, 3] = ya, yb
            p.setPen(self._pen)
            draw_lines(p, v, m)


MARKER_KINDS = ("buy_fill", "sell_fill", "buy_order", "sell_order")


def _marker_pixmap(kind: str, size: int = 11) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    buy = kind.startswith("buy")
    color = QColor("#3fb950") if buy else QColor("#f85149")
    s = size - 1
    if kind.endswith("fill"):
        tri = [QPointF(s / 2, 0.5), QPointF(s, s), QPointF(0.5, s)] if buy else \
            [QPointF(0.5, 0.5), QPointF(s, 0.5), QPointF(s / 2, s)]
        p.setPen(QPen(QColor("#e6edf3"), 1))
        p.setBrush(color)
        p.drawPolygon(QPolygonF(tri))
    else:
        p.setPen(QPen(color, 1.6))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(QRectF(2, 2, s - 3, s - 3))
    p.end()
    return pm


class MarkerLayer(Layer):
    """Order and fill markers at (bar, price): visible ones only; zoomed out, one per bucket and kind."""

    z = 30

    def __init__(self) -> None:
        super().__init__()
        self.idx = np.empty(0, dtype=np.int64)  # sorted bar indices
        self.price = np.empty(0)
        self.kind = np.empty(0, dtype=np.int8)
        self.window: Window | None = None
        self.yfun: Callable[[np.ndarray], np.ndarray] = lambda y: y
        self._pixmaps = [_marker_pixmap(k) for k in MARKER_KINDS]
        self._frags = [Prims(QPainter.PixmapFragment, 10) for _ in MARKER_KINDS]

    def set_markers(self, idx: np.ndarray, price: np.ndarray, kind: np.ndarray) -> None:
        order = np.argsort(idx, kind="stable")
        self.idx, self.price, self.kind = idx[order], price[order], kind[order]
        self.invalidate()

    def set_window(self, window: Window | None, strip: QRectF | None = None) -> None:
        old, self.window = self.window, window
        if strip is not None and old is not None and window is not None and \
                (old.i0, old.i1, old.k) == (window.i0, window.i1, window.k):
            return  # the last bar changed: markers stay where they are
        self.invalidate(strip)

    def shown(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bar index, price, kind) of the markers drawn for the current window."""
        w = self.window
        if w is None or len(self.idx) == 0:
            return self.idx[:0], self.price[:0], self.kind[:0]
        a, b = np.searchsorted(self.idx, [w.i0, w.i1 + 1])
        idx, price, kind = self.idx[a:b], self.price[a:b], self.kind[a:b]
        if w.k > 0 and len(idx) > len(w.x):  # one per (bucket, kind): the lowest buy, the highest sell
            bucket = idx >> w.k
            order = np.lexsort((np.where(kind % 2 == 0, price, -price), kind, bucket))
            bucket, kind_s = bucket[order], kind[order]
            keep = np.ones(len(order), dtype=bool)
            keep[1:] = (bucket[1:] != bucket[:-1]) | (kind_s[1:] != kind_s[:-1])
            sel = order[keep]
            idx, price, kind = (bucket[keep] << w.k) + (1 << (w.k - 1)), price[sel], kind[sel]
        return idx, price, kind

    def build(self, m: Mapper) -> None:
        idx, price, kind = self.shown()
        px, py = m.px(idx.astype(np.float64)), m.py(self.yfun(price))
        for j, frags in enumerate(self._frags):
            sel = kind == j
            n = int(sel.sum())
            a = frags.resize(n)
            if n:
                pm = self._pixmaps[j]
                a[:, 0], a[:, 1] = np.round(px[sel]), np.round(py[sel])
                a[:, 2], a[:, 3], a[:, 4], a[:, 5] = 0, 0, pm.width(), pm.height()
                a[:, 6], a[:, 7], a[:, 8], a[:, 9] = 1, 1, 0, 1

    def draw(self, p: QPainter, m: Mapper) -> None:
        for frags, pm in zip(self._frags, self._pixmaps):
            if frags.n:
                p.drawPixmapFragments(*frags.args(0, len(frags)), pm)


class PriceLine:
    """A horizontal line at a price: last price, position, or one of our working orders (draggable)."""

    __slots__ = ("value", "color", "label", "style", "order_id", "dragging")

    def __init__(self, value: float, color: QColor, label: str = "", style: Qt.PenStyle = Qt.PenStyle.DashLine,
                 order_id: str | None = None) -> None:
        self.value, self.color, self.label, self.style = value, color, label, style
        self.order_id = order_id
        self.dragging = False


class PriceLinesLayer(Layer):
    """Price lines with a label box on the left; working-order lines can be dragged to a new price.

    ``on_drag_finished(order_id, new_view_value)`` is called when a drag ends; a right-click on an order
    line calls ``on_cancel(order_id)``. Clicks and drags away from an order line go to the view box."""

    z = 40
    overlay = True
    GRAB_PX = 5

    def __init__(self, on_drag_finished: Callable[[str, float], None],
                 on_cancel: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.lines: list[PriceLine] = []
        self.on_drag_finished = on_drag_finished
        self.on_cancel = on_cancel
        self.format_value: Callable[[float], str] = lambda v: f"{v:g}"
        self._drag: PriceLine | None = None
        self._labels = shared_labels()

    def set_lines(self, lines: list[PriceLine]) -> None:
        """Show ``lines``; only the strips of lines that moved or changed are repainted."""
        if self._drag is not None:  # keep the line being dragged where the mouse is
            for line in lines:
                if line.order_id == self._drag.order_id:
                    line.value, line.dragging = self._drag.value, True
                    self._drag = line
        if self.pane is None:
            self.lines = lines
            return
        m = self.pane.mapper()

        def drawn(lns: list[PriceLine]) -> set:  # what is on screen: pixel rows, not prices
            return {(math.floor(float(m.py(np.float64(ln.value)))), ln.label, ln.color.rgb(), ln.dragging)
                    for ln in lns}

        old, new = drawn(self.lines), drawn(lines)
        self.lines = lines
        for row, label, *_ in old ^ new:
            half = self._labels.height / 2 + 3 if label else 2
            self.pane.repaint_strip(QRectF(0, row - half, m.w, 2 * half + 1))

    def draw(self, p: QPainter, m: Mapper) -> None:
        th = self._labels.height
        p.setFont(self._labels.font)  # the font the boxes were measured in (else the text overruns them)
        boxes: list[QRectF] = []  # labels placed so far: a label that would cover one moves right of it
        for line in sorted(self.lines, key=lambda ln: -ln.value):
            y = math.floor(float(m.py(np.float64(line.value)))) + 0.5
            if not -2 <= y <= m.h + 2:
                continue
            if line.label:
                text = line.label if not line.dragging else f"{line.label}  → {self.format_value(line.value)}"
                st, tw = self._labels.get(text)
                box = QRectF(6, y - th / 2 - 1, tw + 10, th + 2)
                for other in boxes:
                    if other.intersects(box):
                        box.moveLeft(other.right() + 6)
                boxes.append(box)
            if not m.ya - th <= y <= m.yb + th and not (line.label and m.ya <= box.bottom() and box.top() <= m.yb):
                continue
            p.setPen(QPen(line.color, 2 if line.dragging else 1, line.style))
            p.drawLine(QLineF(0, y, m.w, y))
            if line.label:
                p.fillRect(box, QColor("#0d1117"))
                p.setPen(QPen(line.color, 1))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(box)
                p.drawStaticText(QPointF(box.left() + 5, y - th / 2), st)

    def line_near(self, y_px: float) -> PriceLine | None:
        """The working-order line within ``GRAB_PX`` of pixel row ``y_px``, if any."""
        if self.pane is None:
            return None
        m = self.pane.mapper()
        best, best_d = None, self.GRAB_PX + 1.0
        for line in self.lines:
            if line.order_id is None:
                continue
            d = abs(float(m.py(np.float64(line.value))) - y_px)
            if d < best_d:
                best, best_d = line, d
        return best

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def start_drag(self, line: PriceLine) -> None:
        self._drag = line
        line.dragging = True
        self.pane.repaint_strip(None)

    def drag_to(self, y_px: float) -> None:
        if self._drag is not None:
            self._drag.value = self.pane.mapper().to_y(y_px)
            self.pane.repaint_strip(None)

    def finish_drag(self) -> None:
        line, self._drag = self._drag, None
        if line is None:
            return
        line.dragging = False
        self.pane.repaint_strip(None)
        self.on_drag_finished(line.order_id, line.value)


class CrosshairLayer(Layer):
    """One line of the crosshair: vertical at the hovered bar (every pane), or horizontal at the mouse
    (the hovered pane). Moving the mouse repaints two thin strips."""

    z = 50
    overlay = True

    def __init__(self, vertical: bool) -> None:
        super().__init__()
        self.vertical = vertical
        self.pos: float | None = None  # bar index (vertical) or pixel y (horizontal)
        self._pen = QPen(QColor("#6e7681"), 1, Qt.PenStyle.DashLine)

    def set_position(self, pos: float | None) -> None:
        if pos == self.pos or self.pane is None:
            return
        old = self._strip()
        self.pos = pos
        self.visible = pos is not None
        for r in (old, self._strip()):
            if r is not None:
                self.pane.repaint_strip(r)

    def _pixel(self, m: Mapper) -> float:
        return float(m.px(np.float64(self.pos))) if self.vertical else float(self.pos)

    def _strip(self) -> QRectF | None:
        if self.pos is None:
            return None
        m = self.pane.mapper()
        v = self._pixel(m)
        return QRectF(v - 2, 0, 4, m.h) if self.vertical else QRectF(0, v - 2, m.w, 4)

    def draw(self, p: QPainter, m: Mapper) -> None:
        if self.pos is None:
            return
        p.setPen(self._pen)
        v = math.floor(self._pixel(m)) + 0.5
        p.drawLine(QLineF(v, 0, v, m.h) if self.vertical else QLineF(0, v, m.w, v))


class LegendLayer(Layer):
    """The pane's legend at its top-left: rows of (text, colour) segments (OHLC, indicator values)."""

    z = 60
    overlay = True

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, QColor]]] = []
        self._labels = shared_labels()
        self._extent = QRectF()
        self._widths: list[list[float]] = []  # each segment's text width, per row (measured once)

    @property
    def segments(self) -> list[tuple[str, QColor]]:
        return [seg for row in self.rows for seg in row]

    @property
    def extent(self) -> QRectF:
        return QRectF(self._extent)

    def set_segments(self, segments: list[tuple[str, QColor]]) -> None:
        self.set_rows([segments] if segments else [])

    def set_rows(self, rows: list[list[tuple[str, QColor]]]) -> None:
        def key(rs):
            return [[(t, c.rgb()) for t, c in r] for r in rs]

        if key(rows) == key(self.rows):
            return
        self.rows = rows
        old = self._extent
        lh = self._labels.height + 2
        self._widths = [[self._labels.width(t) for t, _ in r] for r in rows]
        width = max((sum(w + 14 for w in ws) for ws in self._widths), default=0) + 8
        self._extent = QRectF(0, 0, width, len(rows) * lh + 6)
        if self.pane is not None:
            self.pane.repaint_strip(old.united(self._extent))

    def draw(self, p: QPainter, m: Mapper) -> None:
        if m.xa > self._extent.right() or m.ya > self._extent.bottom():
            return
        lh = self._labels.height + 2
        p.setFont(self._labels.font)  # the font ``_extent`` was measured in: text never outgrows its repaint
        for r, (row, widths) in enumerate(zip(self.rows, self._widths)):
            x = 8.0
            for (text, color), w in zip(row, widths):
                p.setPen(color)
                self._labels.draw(p, text, x, 4 + r * lh)
                x += w + 14
