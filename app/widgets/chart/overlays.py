"""What the chart draws over its bars: fill and order markers, our order and position lines (draggable), the
crosshair and the legend."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap, QPolygonF

from app.widgets.chart.axes import shared_labels
from app.widgets.chart.data import Window
from app.widgets.chart.layers import Layer, Mapper, Prims
from app.widgets.theme import BG, BUY, SELL, TEXT_BRIGHT, TEXT_DIM


MARKER_KINDS = ("buy_fill", "sell_fill", "buy_order", "sell_order")


def _marker_pixmap(kind: str, size: int = 11) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    buy = kind.startswith("buy")
    color = BUY if buy else SELL
    s = size - 1
    if kind.endswith("fill"):
        tri = [QPointF(s / 2, 0.5), QPointF(s, s), QPointF(0.5, s)] if buy else \
            [QPointF(0.5, 0.5), QPointF(s, 0.5), QPointF(s / 2, s)]
        p.setPen(QPen(TEXT_BRIGHT, 1))
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
                p.fillRect(box, BG)
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
        self._pen = QPen(TEXT_DIM, 1, Qt.PenStyle.DashLine)

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
