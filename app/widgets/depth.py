"""Cumulative depth chart: bids (left, green) and asks (right, red) as steps of cumulative size by price."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from app.engine.messages import BookSnapshot
from app.widgets.chart_axes import shared_labels

BG = QColor("#0d1117")
BID_LINE, ASK_LINE = QColor("#3fb950"), QColor("#f85149")
BID_FILL, ASK_FILL = QColor(63, 185, 80, 60), QColor(248, 81, 73, 60)
TEXT = QColor("#8b949e")


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
        bp = np.array([p for p, _ in b.bids])
        bs = np.cumsum([s for _, s in b.bids]) if b.bids else np.empty(0)
        ap = np.array([p for p, _ in b.asks])
        as_ = np.cumsum([s for _, s in b.asks]) if b.asks else np.empty(0)
        return bp, bs, ap, as_

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

            def pt(price: float, size: float) -> QPointF:
                return QPointF((price - lo) * sx, h - size / top * h)

            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            for prices, sizes, line, fill in ((bp, bs, BID_LINE, BID_FILL), (ap, as_, ASK_LINE, ASK_FILL)):
                pts = [pt(prices[0], 0.0)]
                for i in range(len(prices)):
                    pts.append(pt(prices[i], sizes[i]))
                    if i + 1 < len(prices):
                        pts.append(pt(prices[i + 1], sizes[i]))
                path = QPainterPath()
                path.addPolygon(QPolygonF(pts + [pt(prices[-1], 0.0)]))
                p.fillPath(path, fill)
                p.setPen(QPen(line, 1.5))
                p.drawPolyline(QPolygonF(pts))
            p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            p.setPen(QPen(TEXT, 0))
            d = self.decimals
            for price, align in ((lo, 0), ((bp[0] + ap[0]) / 2, 1), (hi, 2)):
                st, tw = self.labels.get(f"{price:,.{d}f}")
                x = [2.0, w / 2 - tw / 2, w - tw - 2][align]
                p.drawStaticText(QPointF(x, h + 2), st)
            st, _tw = self.labels.get(f"depth  {bs[-1]:g} / {as_[-1]:g}")
            p.drawStaticText(QPointF(4, 2), st)
        finally:
            p.end()
