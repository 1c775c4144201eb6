"""Cumulative depth chart: bids (left, green) and asks (right, red) as steps of cumulative size by price."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from app.engine.messages import BookSnapshot
from app.widgets.chart_axes import shared_labels

BG = QColor("#0d1117")
BID_LINE, ASK_LINE = QColor("#3fb950"), QColor("#f85149")
BID_FILL, ASK_FILL = QColor("#173a24"), QColor("#442022")  # opaque (pre-blended on BG): cheaper fills
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
        bid = np.array(b.bids, dtype=np.float64).reshape(-1, 2)
        ask = np.array(b.asks, dtype=np.float64).reshape(-1, 2)
        return bid[:, 0], np.cumsum(bid[:, 1]), ask[:, 0], np.cumsum(ask[:, 1])

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

            for prices, sizes, line, fill in ((bp, bs, BID_LINE, BID_FILL), (ap, as_, ASK_LINE, ASK_FILL)):
                px = ((prices - lo) * sx).tolist()
                py = (h - sizes / top * h).tolist()
                pts = [QPointF(px[0], h)]
                for i in range(len(px)):  # a step: up at this level, across to the next level's price
                    pts.append(QPointF(px[i], py[i]))
                    if i + 1 < len(px):
                        pts.append(QPointF(px[i + 1], py[i]))
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(fill)
                p.drawPolygon(QPolygonF(pts + [QPointF(px[-1], h)]))
                p.setPen(QPen(line, 0))  # axis-aligned steps: no antialiasing needed (and 10x cheaper)
                p.drawPolyline(QPolygonF(pts))
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
