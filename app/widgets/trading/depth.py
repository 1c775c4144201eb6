"""Cumulative depth chart: bids (left, green) and asks (right, red) as steps of cumulative size by price."""
from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from app.engine.core.messages import BookSnapshot
from app.widgets.chart.axes import shared_labels
from app.widgets.theme import ASK_FILL, BG, BID_FILL, BUY, SELL, TEXT_MUTED



def polygon(n: int) -> tuple[QPolygonF, np.ndarray]:
    """A polygon of ``n`` points and an (n, 2) float64 view of its memory, to fill without a QPointF per point
    (keep the polygon alive while the view is used)."""
    poly = QPolygonF()
    poly.resize(n)
    return poly, np.frombuffer(shiboken6.VoidPtr(poly.data(), n * 16, True), dtype=np.float64).reshape(n, 2)


class DepthChart(QWidget):
    """Repaints only when ``set_book`` gets a new snapshot (the ladder calls it at frame rate)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.book: BookSnapshot | None = None
        self.decimals = 2
        self.labels = shared_labels()
        self.setMinimumHeight(90)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    def set_book(self, book: BookSnapshot | None, decimals: int) -> None:
        if book is self.book:
            return
        self.book, self.decimals = book, decimals
        self.update()

    def curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(bid prices, cumulative bid sizes, ask prices, cumulative ask sizes), best first."""
        b = self.book
        if b is None:
            e = np.empty(0)
            return e, e, e, e
        bid = np.array(b.bids, dtype=np.float64).reshape(-1, 2)
        ask = np.array(b.asks, dtype=np.float64).reshape(-1, 2)
        return bid[:, 0], np.cumsum(bid[:, 1]), ask[:, 0], np.cumsum(ask[:, 1])

    @staticmethod
    def _steps(px: np.ndarray, py: np.ndarray, base: float) -> tuple[QPolygonF, QPolygonF]:
        """The filled area and the outline of one side: up from the base at the best level, then at each level
        across to the next level's price and up (or down) to its cumulative size; the area closes at the base.
        Written straight into the polygons' memory (no QPointF per vertex)."""
        n = len(px)
        area, a = polygon(2 * n + 1)
        a[0] = px[0], base
        a[1:2 * n:2, 0], a[1:2 * n:2, 1] = px, py  # (price_i, cum_i)
        a[2:2 * n:2, 0], a[2:2 * n:2, 1] = px[1:], py[:-1]  # (price_i+1, cum_i)
        a[2 * n] = px[-1], base
        steps, b = polygon(2 * n)
        b[:] = a[:2 * n]
        return area, steps

    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), BG)
            bp, bs, ap, as_ = self.curves()
            if not len(bp) or not len(ap):
                return
            w, h = self.width(), self.height() - 16
            lo, hi = bp[-1], ap[-1]
            top = max(bs[-1], as_[-1]) * 1.1 or 1.0
            sx = w / (hi - lo) if hi > lo else 1.0

            for prices, sizes, line, fill in ((bp, bs, BUY, BID_FILL), (ap, as_, SELL, ASK_FILL)):
                area, steps = self._steps((prices - lo) * sx, h - sizes / top * h, h)
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(fill)
                p.drawPolygon(area)
                p.setPen(QPen(line, 0))  # axis-aligned steps: no antialiasing needed (and 10x cheaper)
                p.drawPolyline(steps)
            p.setPen(TEXT_MUTED)
            p.setFont(self.labels.font)  # the label cache draws in its own font
            d = self.decimals
            for price, align, x in ((lo, 0, 2.0), ((bp[0] + ap[0]) / 2, 2, w / 2), (hi, 1, w - 2.0)):
                self.labels.draw(p, f"{price:,.{d}f}", x, h + 2, align)
            self.labels.draw(p, f"depth  {bs[-1]:g} / {as_[-1]:g}", 4, 2)
        finally:
            p.end()
