"""News on the chart: a small mark on the time axis (the foot of the price pane) at the bar each item *arrived* in,
coloured by the bar's mean sentiment; hovering it shows the titles. The items are ``Port.news``'s; the marks
follow new items within half a second, the timeframe and the symbol."""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtGui import QPainter, QPen, QPolygonF

from app.widgets.chart.layers import Layer, Mapper
from app.widgets.theme import BG, DOWN, MUTED, UP

MARK_PX = 5.0  # half the diamond's size
FOOT_PX = 9.0  # its centre, above the pane's bottom edge


class NewsLayer(Layer):
    """Diamonds at bar indices (sorted), one per bar; zoomed out, one per visible bucket."""

    z = 28

    def __init__(self) -> None:
        super().__init__()
        self.idx = np.empty(0, dtype=np.int64)
        self.tone = np.empty(0, dtype=np.int8)  # -1 / 0 / +1
        self.window: Any = None
        self._polys: list[tuple[int, QPolygonF]] = []

    def set_marks(self, idx: np.ndarray, tone: np.ndarray) -> None:
        self.idx, self.tone = idx, tone
        self.invalidate()

    def set_window(self, window: Any, strip: Any = None) -> None:
        old, self.window = self.window, window
        if strip is not None and old is not None and window is not None and \
                (old.i0, old.i1, old.k) == (window.i0, window.i1, window.k):
            return
        self.invalidate(strip)

    def shown(self) -> np.ndarray:
        """Positions (in bar index units) of the marks drawn for the current window, with their tone."""
        w = self.window
        if w is None or len(self.idx) == 0:
            return np.empty((0, 2))
        a, b = np.searchsorted(self.idx, [w.i0, w.i1 + 1])
        idx, tone = self.idx[a:b], self.tone[a:b]
        if w.k > 0 and len(idx) > len(w.x):
            bucket = idx >> w.k
            keep = np.ones(len(idx), dtype=bool)
            keep[1:] = bucket[1:] != bucket[:-1]
            idx, tone = (bucket[keep] << w.k) + (1 << (w.k - 1)), tone[keep]
        return np.column_stack([idx.astype(np.float64), tone.astype(np.float64)])

    def build(self, m: Mapper) -> None:
        marks = self.shown()
        y = m.h - FOOT_PX
        self._polys = []
        for x, tone in zip(m.px(marks[:, 0]) if len(marks) else [], marks[:, 1] if len(marks) else []):
            poly = QPolygonF([QPointF(x, y - MARK_PX), QPointF(x + MARK_PX, y), QPointF(x, y + MARK_PX),
                              QPointF(x - MARK_PX, y)])
            self._polys.append((int(tone), poly))

    def draw(self, p: QPainter, m: Mapper) -> None:
        if not self._polys:
            return
        p.setPen(QPen(BG, 1))
        for tone, poly in self._polys:
            p.setBrush(UP if tone > 0 else DOWN if tone < 0 else MUTED)
            p.drawPolygon(poly)


class ChartNews:
    """Mixin for ``ChartWidget``: keeps ``news_layer`` in step with the stored news of the chart's symbol."""

    def _init_news(self) -> None:
        self._news_seen: tuple = ()
        self._news_checked = 0.0
        self.news_titles: dict[int, list[tuple[str, float]]] = {}  # bar index -> [(title, score)], newest first
        self.news_tip = ""  # what the hover shows (the tooltip's text)

    def _sync_news(self) -> None:
        port = getattr(self, "port", None)
        s = self.series
        if port is None or getattr(port, "news", None) is None or s is None:
            return
        now = time.monotonic()
        if now - self._news_checked < 0.5:
            return
        self._news_checked = now
        key = (self.symbol, self.tf, s.n, port.news.version)
        if key == self._news_seen:
            return
        self._news_seen = key
        ts = np.asarray(s.bars.ts[:s.n], dtype=np.int64)
        marks = port.news.markers(self.symbol, since_ms=int(ts[0]) if len(ts) else None) if self.symbol else []
        self.news_titles = {}
        if not marks or not len(ts):
            self.news_layer.set_marks(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int8))
            return
        arrived = np.fromiter((m[0] for m in marks), dtype=np.int64, count=len(marks))
        idx = np.searchsorted(ts, arrived, side="right") - 1  # the bar open when it arrived
        sums: dict[int, list[float]] = {}
        for i, (_t, title, score) in zip(idx.tolist(), marks):
            if i < 0:
                continue
            self.news_titles.setdefault(i, []).append((title, score))
            if not math.isnan(score):
                sums.setdefault(i, []).append(score)
        keys = np.array(sorted(self.news_titles), dtype=np.int64)
        tone = np.array([_tone(sum(sums[i]) / len(sums[i])) if i in sums else 0 for i in keys.tolist()],
                        dtype=np.int8)
        self.news_layer.set_marks(keys, tone)

    def news_at(self, pos_x: float, pos_y: float, pane: Any) -> str:
        """The titles of the news mark under the mouse (widget pixels), or ""."""
        if pane is not self.price or not self.news_titles or self.series is None:
            return ""
        y_in = pos_y - pane.rect.top()
        if abs(y_in - (pane.rect.height() - FOOT_PX)) > MARK_PX + 3:
            return ""
        m = pane.mapper()
        xd = float(self.view.x_at(pos_x))
        best, dist = None, MARK_PX + 3
        for x, _tone in self.news_layer.shown():
            d = abs(x - xd) * m.sx
            if d <= dist:
                best, dist = int(x), d
        if best is None:
            return ""
        w = self.news_layer.window
        lo, hi = (best, best) if w is None or w.k == 0 else (best - (1 << (w.k - 1)), best + (1 << (w.k - 1)))
        lines = []
        for i in sorted(self.news_titles, reverse=True):
            if lo <= i <= hi:
                lines += [f"{'' if math.isnan(sc) else f'{sc:+.2f}  '}{t}" for t, sc in self.news_titles[i]]
        return "\n".join(lines[:12]) + (f"\n… {len(lines) - 12} more" if len(lines) > 12 else "")


def _tone(score: float) -> int:
    return 1 if score > 0.05 else -1 if score < -0.05 else 0
