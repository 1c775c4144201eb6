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
from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from app.widgets.chart.data import Window
from app.widgets.theme import BG, CANDLE_DOWN, CANDLE_UP, GRID

log = logging.getLogger("kestrel.ui.chart")

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


def blend(color: QColor, alpha: float, background: QColor = BG) -> QColor:
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
        for flag, color in ((True, CANDLE_UP), (False, CANDLE_DOWN)):  # read each paint: the convention
            p.setPen(QPen(color, 0))
            draw_lines(p, self._wicks[flag], m)
            self._bodies[flag].draw(p, color, m)


class VolumeLayer(WindowLayer):
    """Volume per bucket (summed), coloured by the bucket's direction."""

    z = 10

    def __init__(self) -> None:
        super().__init__()
        self._bars = {True: BarShapes(), False: BarShapes()}
        self._colors: dict[bool, QColor] = {}
        self._from: tuple[int, int] | None = None  # the candle colours ``_colors`` were blended from
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
        key = (CANDLE_UP.rgb(), CANDLE_DOWN.rgb())
        if key != self._from:  # the up/down convention changed (or the first paint)
            self._colors, self._from = {True: blend(CANDLE_UP, 0.5), False: blend(CANDLE_DOWN, 0.5)}, key
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
        self._color = GRID
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


