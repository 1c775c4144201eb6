"""ChartView: one widget that paints every pane of the chart and the scales, dirty rect by dirty rect.

Why not a QGraphicsView: per frame it dispatches paint/boundingRect into Python for every item, merges all
updates of an item into one dirty rect, and clips every primitive against the whole (many-rect) dirty
region, which costs more than drawing the chart. Here a live tick dirties a few small rects (the last
bar's strip, the last-price line, its tag); ``paintEvent`` draws each rect with a single-rect clip and only
the primitives in its columns. A pan or zoom is one full repaint: background, grid, layers, scales.

Each pane keeps a base image: its static layers (grid, candles, volume, indicator lines, markers) rendered
left of the live column (``live_x``, where the last bar's strip starts). A repaint blits the base where it
can, draws the layers directly only right of ``live_x``, then draws the overlays (price lines, legend,
crosshair) on top. So the legend's refresh, the last-price line crossing the whole chart and the crosshair
following the mouse cost a blit and their own drawing, not a pass over every candle under them. A layer
whose data changes marks its strip stale (``mark_stale``); the base is re-rendered there before the next
blit that needs it; a new view (pan, zoom, y-range) makes the whole base stale.

Mouse and keys: drag pans, the wheel zooms around the cursor, a double-click follows the latest bar; a
working-order line can be dragged (modify) or right-clicked (cancel); a right click on the time scale asks for
its zone menu. The chart widget owns the logic;
this class routes the events.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPen, QRegion
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.widgets.chart.axes import PriceScale, TimeScale, TimeTicks
from app.widgets.chart.layers import GridLayer, Layer, Mapper
from app.widgets.chart.overlays import CrosshairLayer, LegendLayer
from app.widgets.theme import BG, SEPARATOR

log = logging.getLogger("kestrel.ui.chart")
MAX_RECTS = 8  # more dirty rects than this: repaint their bounding rect once
MERGE_GAP = 48  # two strips as wide as each other this close (rows) are one repaint: the old and the new row
# of the last-price line, say. A repaint's passes over the layers cost more than copying the rows between.
RENDER_PAD = 40  # rows rendered into a base image above and below what a repaint needs


class Pane:
    """One row of the chart: a plot area with its layers, its y-range and its price scale."""

    def __init__(self, view: "ChartView", kind: str, stretch: float) -> None:
        self.view, self.kind, self.stretch = view, kind, stretch
        self.layers: list[Layer] = []
        self.y0, self.y1 = 0.0, 1.0
        self.rect = QRectF()  # plot area, widget coordinates
        self.scale = PriceScale()
        self.indicators: list = []
        self.lines: dict = {}
        self._key: tuple | None = None
        self._m: Mapper | None = None
        self._last_strip: QRectF | None = None
        self._failed: set[int] = set()
        self.live_x = float("inf")  # pane columns at or right of it are drawn directly on every repaint
        self._base: QImage | None = None  # the static layers left of ``live_x`` (device pixels)
        self._stale = QRegion()  # where the base must be re-rendered before it is blitted (pane pixels)
        self.grid = self.add(GridLayer(lambda m: self.scale.ticks(m.y0, m.y1, m.h)[0], view.time_ticks.xs))
        self.legend = self.add(LegendLayer())
        self.vline = self.add(CrosshairLayer(vertical=True))
        self.hline = self.add(CrosshairLayer(vertical=False))
        self.vline.visible = self.hline.visible = False

    # ---------------------------------------------------------------------------------------- layers
    def add(self, layer: Layer) -> Layer:
        layer.pane = self
        self.layers.append(layer)
        self.layers.sort(key=lambda lay: lay.z)
        layer.invalidate()
        return layer

    def remove(self, layer: Layer) -> None:
        if layer in self.layers:
            self.layers.remove(layer)
            layer.pane = None
            self.repaint_strip(None)

    # -------------------------------------------------------------------------------------- geometry
    @property
    def scale_rect(self) -> QRectF:
        r = self.rect
        return QRectF(r.right(), r.top(), PriceScale.WIDTH, r.height())

    def mapper(self) -> Mapper:
        v, r = self.view, self.rect
        return Mapper(v.x0, v.x1, self.y0, self.y1, r.width(), r.height())

    def contains(self, pos: QPointF) -> bool:
        return self.rect.contains(pos) or self.scale_rect.contains(pos)

    def set_y(self, y0: float, y1: float) -> bool:
        if (y0, y1) == (self.y0, self.y1):
            return False
        self.y0, self.y1 = y0, y1
        self.repaint_strip(None)
        return True

    def set_live_x(self, x: float) -> None:
        """The live bar's strip starts at column ``x`` (pane pixels): right of it the pane is drawn on every
        repaint, left of it blitted from the base. Columns that change sides are re-rendered."""
        x = math.floor(x)
        if x != self.live_x:
            old, self.live_x = self.live_x, x
            a, b = min(old, x), max(old, x)
            self.mark_stale(None if math.isinf(b) else QRectF(a, 0, b - a, self.rect.height()))

    def mark_stale(self, strip: QRectF | None) -> None:
        """A static layer changed in ``strip`` (pane pixels; None: everywhere): re-render the base there."""
        if strip is not None and strip.left() >= self.live_x:
            return  # the live columns are drawn on every repaint, never taken from the base
        bounds = self._bounds()
        self._stale += bounds if strip is None else strip.toAlignedRect().intersected(bounds)

    def _bounds(self, right: float = math.inf) -> QRect:
        """The pane in pane pixels, cut at column ``right``."""
        w = max(math.ceil(min(right, self.rect.width())), 0)
        return QRect(0, 0, w, math.ceil(self.rect.height()))

    def repaint_strip(self, strip: QRectF | None) -> None:
        """Repaint ``strip`` (pane pixels) or, with None, the whole pane and its scale."""
        if strip is None:
            self.mark_stale(None)
            self.view.dirty(self.rect.united(self.scale_rect).toAlignedRect())
            return
        if strip == self._last_strip:  # several layers asking for the same strip (a live tick)
            return
        self._last_strip = QRectF(strip)
        r = strip.translated(self.rect.topLeft()).adjusted(-1, -1, 1, 1).intersected(self.rect)
        if not r.isEmpty():
            self.view.dirty(r.toAlignedRect().intersected(self.rect.toAlignedRect()))

    def repaint_scale(self, rect: QRectF | None = None) -> None:
        self.view.dirty((rect or self.scale_rect).toAlignedRect())

    # ----------------------------------------------------------------------------------------- paint
    def build(self) -> None:
        """Rebuild the pixel arrays of layers whose data or view changed (once per paint event)."""
        self._last_strip = None
        m = self._m = self.mapper()
        key = m.key()
        rebuild_all = key != self._key
        self._key = key
        if rebuild_all:
            self.mark_stale(None)
        for layer in self.layers:
            if layer.visible and (rebuild_all or layer.dirty):
                layer.dirty = False
                self._guarded(layer, layer.build, m)

    def paint(self, p: QPainter, clip: QRectF) -> None:
        """Paint ``clip`` (widget pixels): the base image left of ``live_x``, the static layers right of
        it, the overlays."""
        r = clip.intersected(self.rect)
        if not r.isEmpty() and self._m is not None:
            m, left, top = self._m, self.rect.left(), self.rect.top()
            rp = r.translated(-left, -top)  # pane pixels
            live = min(max(self.live_x, rp.left()), rp.right())
            p.save()
            p.translate(left, top)
            if self._all_stale(rp):  # a pan, a zoom: one pass draws it all (the base stays stale)
                self._draw(p, m, rp, False)
            else:
                if live > rp.left():  # the static part: from the base image
                    self._static(p, m, QRectF(rp.left(), rp.top(), live - rp.left(), rp.height()))
                if live < rp.right():  # the live bar's columns: drawn now
                    self._draw(p, m, QRectF(live, rp.top(), rp.right() - live, rp.height()), False)
            self._draw(p, m, rp, True)
            p.restore()
        s = clip.intersected(self.scale_rect)
        if not s.isEmpty():
            p.save()
            p.setClipRect(s)
            try:
                self.scale.paint(p, self.scale_rect, self.y0, self.y1, s)
            except Exception:  # noqa: BLE001
                if -1 not in self._failed:
                    self._failed.add(-1)
                    log.exception("chart paint failed (price scale); the chart keeps running")
            p.restore()

    def _draw(self, p: QPainter, m: Mapper, r: QRectF, overlay: bool) -> None:
        """Draw the static layers (``overlay`` False) or the overlays clipped to ``r`` (pane pixels)."""
        p.setClipRect(r)
        m.xa, m.xb, m.ya, m.yb = r.left(), r.right(), r.top(), r.bottom()
        for layer in self.layers:
            if layer.visible and layer.overlay is overlay:
                self._guarded(layer, layer.draw, p, m)  # (an exception escaping paintEvent kills the process)

    def live_part(self, clip: QRectF) -> QRectF:
        """The part of ``clip`` (widget pixels) in this pane's live columns (empty if none)."""
        r = clip.intersected(self.rect)
        x = self.rect.left() + self.live_x
        if r.isEmpty() or x >= r.right():
            return QRectF()
        return QRectF(max(x, r.left()), r.top(), r.right() - max(x, r.left()), r.height())

    def _all_stale(self, r: QRectF) -> bool:
        """``r`` (pane pixels) is most of the pane and its base there is all stale: drawing it directly
        costs less than a render and a copy. The base stays stale until a smaller repaint needs a part of
        it, and then only that part is rendered."""
        if r.width() * r.height() <= 0.5 * self.rect.width() * self.rect.height():
            return False
        base = QRegion(r.toAlignedRect().intersected(self._bounds(self.live_x)))
        return base.subtracted(self._stale).isEmpty()

    def _static(self, p: QPainter, m: Mapper, r: QRectF) -> None:
        """The static layers in ``r`` (pane pixels, left of ``live_x``): copied from the base image after
        re-rendering its stale part there."""
        base, dpr = self._ensure_base()
        todo = QRegion(r.toAlignedRect()).intersected(self._stale)
        if not todo.isEmpty():
            self._render(todo)
        p.setClipRect(r)
        p.drawImage(r.topLeft(), base, QRectF(r.left() * dpr, r.top() * dpr, r.width() * dpr, r.height() * dpr))

    def _ensure_base(self) -> tuple[QImage, float]:
        """The base image at the pane's size (a new one is all stale)."""
        dpr = self.view.devicePixelRatioF()
        w, h = math.ceil(self.rect.width() * dpr), math.ceil(self.rect.height() * dpr)
        base = self._base
        if base is None or base.width() != w or base.height() != h or base.devicePixelRatio() != dpr:
            base = self._base = QImage(w, h, QImage.Format.Format_RGB32)  # opaque: a plain copy to the screen
            base.setDevicePixelRatio(dpr)
            self.mark_stale(None)
        return base, dpr

    def _render(self, todo: QRegion) -> None:
        """Render the static layers into the base image in ``todo`` (pane pixels); it is no longer stale."""
        # One pass, and rows around it too: a pass costs per visible bar, hardly per pixel row, and the next
        # ticks move the last-price line a few rows up or down.
        rect = todo.boundingRect().adjusted(0, -RENDER_PAD, 0, RENDER_PAD).intersected(self._bounds())
        rf = QRectF(rect)
        bp = QPainter(self._base)
        try:
            bp.setClipRect(rf)  # (an unclipped fill takes a slow path: 4x the time)
            bp.fillRect(rf, BG)
            self._draw(bp, self._m, rf, False)
            self._stale -= rect
        finally:
            bp.end()

    def _guarded(self, layer: Layer, fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            if id(layer) not in self._failed:
                self._failed.add(id(layer))
                log.exception("chart paint failed (%s); the chart keeps running", type(layer).__name__)


class ChartView(QWidget):
    """The chart's drawing surface: panes stacked vertically, price scales right, time scale at the bottom.

    It draws and reads the mouse and keys; what a gesture means is the chart's (``ChartWidget``), told by
    signals. ``lines`` (the order/position lines layer, set by the chart) is what a click may grab."""

    resized = Signal()  # after the panes were laid out again
    panRequested = Signal(float)  # drag: move the view by this many pixels (positive: towards later bars)
    zoomRequested = Signal(float, float)  # wheel: (factor, bar index under the mouse)
    followRequested = Signal()  # double click: back to the latest bar
    hovered = Signal(object)  # QPointF under the mouse, or None when it left
    cancelLineRequested = Signal(str)  # right click on a working order's line: its client order id
    keyPressed = Signal(object)  # a QKeyEvent: a slot that handles it accepts it
    timeMenuRequested = Signal(object)  # right click on the time scale: the global QPoint (the zone menu)
    priceMenuRequested = Signal(object, float)  # right click in the price pane off a line: (global QPoint, view y)

    def __init__(self, parent: QWidget, ts_source: Callable[[], Any],
                 zone_source: Callable[[], Any] | None = None) -> None:
        super().__init__(parent)
        self.lines: Any = None
        self.panes: list[Pane] = []
        self.x0, self.x1 = 0.0, 1.0
        self.time_ticks = TimeTicks(ts_source, zone_source) if zone_source else TimeTicks(ts_source)
        self.time_scale = TimeScale(self.time_ticks)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)  # we fill every dirty rect
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 120)
        self._pan_from: float | None = None
        self._drag_line = None
        self._boxes: list[tuple[int, int, int, int]] = []  # what we asked to repaint: (x0, y0, x1, y1)

    # ---------------------------------------------------------------------------------------- layout
    def add_pane(self, kind: str, stretch: float) -> Pane:
        pane = Pane(self, kind, stretch)
        self.panes.append(pane)
        self.relayout()
        return pane

    def remove_pane(self, pane: Pane) -> None:
        self.panes.remove(pane)
        self.relayout()

    @property
    def time_rect(self) -> QRectF:
        h = self.height()
        return QRectF(0, h - TimeScale.HEIGHT, self.width() - PriceScale.WIDTH, TimeScale.HEIGHT)

    @property
    def plot_width(self) -> float:
        return max(self.width() - PriceScale.WIDTH, 10)

    def restyle(self) -> None:
        """The theme's colours changed (the up/down convention): re-render every pane and scale."""
        for pane in self.panes:
            pane.repaint_strip(None)

    def relayout(self) -> None:
        total = max(self.height() - TimeScale.HEIGHT, 10)
        weight = sum(p.stretch for p in self.panes) or 1.0
        y = 0.0
        for i, pane in enumerate(self.panes):
            h = round(total * pane.stretch / weight) if i < len(self.panes) - 1 else total - y
            pane.rect = QRectF(0, y + (1 if i else 0), self.plot_width, h - (1 if i else 0))
            pane._key = None
            y += h
        self.dirty(self.rect())

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self.relayout()
        self.resized.emit()

    def set_x(self, x0: float, x1: float) -> bool:
        """Move the x-range: the panes and the time scale repaint (a price scale only if its y moves)."""
        if (x0, x1) == (self.x0, self.x1):
            return False
        self.x0, self.x1 = x0, x1
        top = self.panes[0].rect.top() if self.panes else 0.0
        self.dirty(QRectF(0, top, self.plot_width, self.height() - top).toAlignedRect())
        return True

    def dirty(self, rect: QRect) -> None:
        """Schedule a repaint of ``rect``. Our own rects are painted as given (Qt would split their union
        into many horizontal bands: a tick's strip crossed by the last-price line becomes five); a rect
        that nearly touches another one, or a strip as wide as another one and close to it, is merged with
        it (fewer passes over the layers). Several calls per
        tick: plain integer boxes, not QRect calls."""
        full = self.rect()
        x, y, w, h = rect.intersected(full).getRect()
        if w <= 0 or h <= 0:
            return
        x1, y1 = x + w, y + h
        boxes = self._boxes
        for a, b, c, d in boxes:
            if a <= x and b <= y and x1 <= c and y1 <= d:
                return
        if (x, y, w, h) == full.getRect():
            boxes[:] = [(x, y, x1, y1)]
        else:
            merged = True
            while merged:
                merged = False
                for i, (a, b, c, d) in enumerate(boxes):
                    ua, ub, uc, ud = min(a, x), min(b, y), max(c, x1), max(d, y1)
                    if (uc - ua) * (ud - ub) <= 1.25 * ((c - a) * (d - b) + (x1 - x) * (y1 - y)) or \
                            (a == x and c == x1 and max(b, y) - min(d, y1) <= MERGE_GAP):
                        x, y, x1, y1 = ua, ub, uc, ud
                        del boxes[i]
                        merged = True
                        break
            if len(boxes) < MAX_RECTS:
                boxes.append((x, y, x1, y1))
            else:  # too many: the whole widget (and Qt must be told so: later rects count as covered)
                fx, fy, fw, fh = full.getRect()
                boxes[:] = [(fx, fy, fx + fw, fy + fh)]
                x, y, x1, y1 = fx, fy, fx + fw, fy + fh
        self.update(x, y, x1 - x, y1 - y)

    @property
    def _dirty(self) -> list[QRect]:
        """What we asked to repaint since the last paint."""
        return [QRect(a, b, c - a, d - b) for a, b, c, d in self._boxes]

    def pane_at(self, pos: QPointF) -> Pane | None:
        return next((p for p in self.panes if p.contains(pos)), None)

    # ----------------------------------------------------------------------------------------- paint
    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            for pane in self.panes:
                pane.build()
            rects = self._paint_rects(ev.region())
            rects = [self._without_live(r, rects) for r in rects]
            for r in rects:
                p.setClipRect(r)
                p.fillRect(r, BG)
                for pane in self.panes:
                    pane.paint(p, r)
                self._paint_frame(p, r)
        except Exception:  # noqa: BLE001 - an exception escaping paintEvent kills the process
            log.exception("chart paint failed; the chart keeps running")
        finally:
            p.end()

    def _paint_rects(self, region: QRegion) -> list[QRectF]:
        mine = self._dirty
        self._boxes = []
        covered = QRegion()
        for r in mine:
            covered += r
        if mine and region.subtracted(covered).isEmpty():  # only what we asked for (no window expose)
            return [QRectF(r) for r in mine]
        if region.rectCount() <= MAX_RECTS:
            return [QRectF(r) for r in region]
        return [QRectF(region.boundingRect())]

    def _without_live(self, r: QRectF, rects: list[QRectF]) -> QRectF:
        """``r`` without its part in a pane's live columns when another rect covers that part (a tick's
        last-price line crosses the last bar's strip: those columns are drawn once, not twice)."""
        for pane in self.panes:
            if pane.rect.contains(r):
                lp = pane.live_part(r)
                if lp.left() > r.left() and any(o is not r and o.contains(lp) for o in rects):
                    return QRectF(r.left(), r.top(), lp.left() - r.left(), r.height())
                break
        return r

    def _paint_frame(self, p: QPainter, r: QRectF) -> None:
        p.setClipRect(r)
        p.setPen(QPen(SEPARATOR, 0))
        for pane in self.panes[1:]:
            y = pane.rect.top() - 0.5
            p.drawLine(QPointF(0, y), QPointF(self.width(), y))
        t = self.time_rect
        if r.intersects(t):
            self.time_scale.paint(p, t, self.x0, self.x1)

    # ------------------------------------------------------------------------------------------ mouse
    def mousePressEvent(self, ev) -> None:  # noqa: N802
        pos = ev.position()
        pane = self.pane_at(pos)
        lines = self.lines
        line = lines.line_near(pos.y() - lines.pane.rect.top()) if pane is lines.pane and \
            pane.rect.contains(pos) else None
        if ev.button() == Qt.MouseButton.LeftButton:
            if line is not None:
                lines.start_drag(line)
                self._drag_line = line
            else:
                self._pan_from = pos.x()
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
            ev.accept()
        elif ev.button() == Qt.MouseButton.RightButton and line is not None:
            self.cancelLineRequested.emit(line.order_id)
            ev.accept()
        elif ev.button() == Qt.MouseButton.RightButton and self.time_rect.contains(pos):
            self.timeMenuRequested.emit(ev.globalPosition().toPoint())
            ev.accept()
        elif ev.button() == Qt.MouseButton.RightButton and pane is lines.pane and pane.rect.contains(pos):
            value = pane.mapper().to_y(pos.y() - pane.rect.top())
            self.priceMenuRequested.emit(ev.globalPosition().toPoint(), float(value))
            ev.accept()
        else:
            super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802
        pos = ev.position()
        lines = self.lines
        if self._drag_line is not None:
            lines.drag_to(pos.y() - lines.pane.rect.top())
        elif self._pan_from is not None:
            dx = pos.x() - self._pan_from
            self._pan_from = pos.x()
            self.panRequested.emit(-dx)
        else:
            pane = self.pane_at(pos)
            near = pane is lines.pane and pane.rect.contains(pos) and \
                lines.line_near(pos.y() - pane.rect.top()) is not None
            if near:
                self.setCursor(Qt.CursorShape.SizeVerCursor)
            else:
                self.unsetCursor()
        self.hovered.emit(pos)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802
        if self._drag_line is not None:
            self._drag_line = None
            self.lines.finish_drag()
        self._pan_from = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            self.followRequested.emit()

    def wheelEvent(self, ev) -> None:  # noqa: N802
        pane = self.panes[0] if self.panes else None
        if pane is None:
            return
        m = pane.mapper()
        anchor = m.to_x(ev.position().x() - pane.rect.left())
        self.zoomRequested.emit(0.85 ** (ev.angleDelta().y() / 120.0), anchor)
        ev.accept()

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self.hovered.emit(None)

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()
        self.keyPressed.emit(ev)
        if not ev.isAccepted():
            super().keyPressEvent(ev)

    def x_at(self, px: float) -> float:
        """Bar index (float) under widget pixel column ``px``."""
        w = self.plot_width
        return self.x0 + px * (self.x1 - self.x0) / w if w else self.x0
