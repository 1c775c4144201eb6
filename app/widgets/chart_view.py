"""ChartView: one widget that paints every pane of the chart and the scales, dirty rect by dirty rect.

Why not a QGraphicsView: per frame it dispatches paint/boundingRect into Python for every item, merges all
updates of an item into one dirty rect, and clips every primitive against the whole (many-rect) dirty
region, which costs more than drawing the chart. Here a live tick dirties a few small rects (the last
bar's strip, the last-price line, its tag); ``paintEvent`` draws each rect with a single-rect clip and only
the primitives in its columns. A pan or zoom is one full repaint: background, grid, layers, scales.

Mouse and keys: drag pans, the wheel zooms around the cursor, a double-click follows the latest bar; a
working-order line can be dragged (modify) or right-clicked (cancel). The chart widget owns the logic;
this class routes the events.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QRegion
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.widgets.chart_axes import PriceScale, TimeScale, TimeTicks
from app.widgets.chart_items import CrosshairLayer, GridLayer, Layer, LegendLayer, Mapper

if TYPE_CHECKING:
    from app.widgets.chart import ChartWidget

log = logging.getLogger("kestrel.ui.chart")
BG = QColor("#0d1117")
SEPARATOR = QColor("#2d333b")
MAX_RECTS = 8  # more dirty rects than this: repaint their bounding rect once


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

    def repaint_strip(self, strip: QRectF | None) -> None:
        """Repaint ``strip`` (pane pixels) or, with None, the whole pane and its scale."""
        if strip is None:
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
        for layer in self.layers:
            if layer.visible and (rebuild_all or layer.dirty):
                layer.dirty = False
                self._guarded(layer, layer.build, m)

    def paint(self, p: QPainter, clip: QRectF) -> None:
        r = clip.intersected(self.rect)
        if not r.isEmpty() and self._m is not None:
            m, left, top = self._m, self.rect.left(), self.rect.top()
            p.save()
            p.setClipRect(r)
            p.translate(left, top)
            m.xa, m.xb, m.ya, m.yb = r.left() - left, r.right() - left, r.top() - top, r.bottom() - top
            for layer in self.layers:
                if layer.visible:
                    try:
                        layer.draw(p, m)
                    except Exception:  # noqa: BLE001 - an exception escaping paintEvent kills the process
                        if id(layer) not in self._failed:
                            self._failed.add(id(layer))
                            log.exception("chart paint failed (%s); the chart keeps running", type(layer).__name__)
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

    def _guarded(self, layer: Layer, fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            if id(layer) not in self._failed:
                self._failed.add(id(layer))
                log.exception("chart paint failed (%s); the chart keeps running", type(layer).__name__)


class ChartView(QWidget):
    """The chart's drawing surface: panes stacked vertically, price scales right, time scale at the bottom."""

    def __init__(self, chart: "ChartWidget") -> None:
        super().__init__(chart)
        self.chart = chart
        self.panes: list[Pane] = []
        self.x0, self.x1 = 0.0, 1.0
        self.time_ticks = TimeTicks(chart._ts_source)
        self.time_scale = TimeScale(self.time_ticks)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)  # we fill every dirty rect
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 120)
        self._pan_from: float | None = None
        self._drag_line = None
        self._dirty: list[QRect] = []  # what we asked to repaint since the last paint

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
        self.chart._layout()

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
        that nearly touches another one is merged with it (fewer passes over the layers)."""
        rect = rect.intersected(self.rect())
        if rect.isEmpty() or any(r.contains(rect) for r in self._dirty):
            return
        area = _area
        if rect == self.rect():
            self._dirty = [rect]
        else:
            merged = True
            while merged:
                merged = False
                for i, r in enumerate(self._dirty):
                    u = r.united(rect)
                    if area(u) <= 1.25 * (area(r) + area(rect)):
                        rect = u
                        del self._dirty[i]
                        merged = True
                        break
            if len(self._dirty) < MAX_RECTS:
                self._dirty.append(rect)
            else:
                self._dirty = [self.rect()]
        self.update(rect)

    def pane_at(self, pos: QPointF) -> Pane | None:
        return next((p for p in self.panes if p.contains(pos)), None)

    # ----------------------------------------------------------------------------------------- paint
    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            for pane in self.panes:
                pane.build()
            rects = self._paint_rects(ev.region())
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
        mine, self._dirty = self._dirty, []
        covered = QRegion()
        for r in mine:
            covered += r
        if mine and region.subtracted(covered).isEmpty():  # only what we asked for (no window expose)
            return [QRectF(r) for r in mine]
        if region.rectCount() <= MAX_RECTS:
            return [QRectF(r) for r in region]
        return [QRectF(region.boundingRect())]

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
        lines = self.chart.lines
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
            self.chart._on_line_cancel(line.order_id)
            ev.accept()
        else:
            super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802
        pos = ev.position()
        lines = self.chart.lines
        if self._drag_line is not None:
            lines.drag_to(pos.y() - lines.pane.rect.top())
        elif self._pan_from is not None:
            dx = pos.x() - self._pan_from
            self._pan_from = pos.x()
            self.chart.pan_pixels(-dx)
        else:
            pane = self.pane_at(pos)
            near = pane is lines.pane and pane.rect.contains(pos) and \
                lines.line_near(pos.y() - pane.rect.top()) is not None
            if near:
                self.setCursor(Qt.CursorShape.SizeVerCursor)
            else:
                self.unsetCursor()
        self.chart._hover_at(pos)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802
        if self._drag_line is not None:
            self._drag_line = None
            self.chart.lines.finish_drag()
        self._pan_from = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            self.chart.follow_latest()

    def wheelEvent(self, ev) -> None:  # noqa: N802
        pane = self.panes[0] if self.panes else None
        if pane is None:
            return
        m = pane.mapper()
        anchor = m.to_x(ev.position().x() - pane.rect.left())
        self.chart.zoom(0.85 ** (ev.angleDelta().y() / 120.0), anchor)
        ev.accept()

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self.chart._hover_at(None)

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        if not self.chart._key(ev):
            super().keyPressEvent(ev)

    def x_at(self, px: float) -> float:
        """Bar index (float) under widget pixel column ``px``."""
        w = self.plot_width
        return self.x0 + px * (self.x1 - self.x0) / w if w else self.x0


def _area(r: QRect) -> int:
    return r.width() * r.height()
