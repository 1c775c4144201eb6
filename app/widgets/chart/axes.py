"""Price and time scales that cost next to nothing per frame.

pyqtgraph's ``AxisItem`` regenerates its tick strings, measures every label and re-lays out on each range
change (~70% of an empty plot's frame). These scales compute ticks with a few numpy operations (cached per
range), draw labels from a cache of prepared ``QStaticText`` keyed by the label string, and have a fixed
size, so nothing is ever re-laid out. They also draw the chart's tags: last price, working orders,
position, and the crosshair's price or time.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QStaticText

from app.widgets.chart.zones import UTC, TimeZone
from app.widgets.theme import BG, SEPARATOR, TEXT_MUTED

TIME_STEPS_MS = [60_000 * m for m in (1, 2, 5, 10, 15, 30)] + [3_600_000 * h for h in (1, 2, 3, 4, 6, 12)] + \
    [86_400_000 * d for d in (1, 2, 7, 14)]
MONTH_STEPS = (1, 3, 6, 12, 24, 60, 120)


class LabelCache:
    """Prepared static texts by string (bounded; cleared when it grows past ``size``)."""

    def __init__(self, font: QFont, size: int = 4096) -> None:
        self.font = font
        self.metrics = QFontMetricsF(font)
        self.height = self.metrics.height()
        self.ascent = self.metrics.ascent()
        self._texts: dict[str, tuple[QStaticText, float]] = {}
        self._once: set[str] = set()  # drawn once, not prepared (see ``draw``)
        self._size = size

    def draw(self, p: QPainter, text: str, x: float, y: float, align: int = 0) -> None:
        """Draw ``text`` with its top at ``y`` and its left edge (``align`` 0), right edge (1) or centre (2) at
        ``x``. The painter's font must be this cache's font.

        A string drawn for the first time is drawn as plain text: laying out a ``QStaticText`` costs ~15 µs, two
        plain draws' worth, and a live book size or a moving price is often never drawn again. A string drawn a
        second time is prepared and kept. Both ways give the same pixels.
        """
        hit = self._texts.get(text)
        if hit is None:
            if text not in self._once:
                if len(self._once) >= self._size:
                    self._once.clear()
                self._once.add(text)
                if align:
                    tw = self.metrics.horizontalAdvance(text)
                    x -= tw if align == 1 else tw / 2
                p.drawText(QPointF(x, y + self.ascent), text)
                return
            hit = self.get(text)
        st, tw = hit
        p.drawStaticText(QPointF(x - (tw if align == 1 else tw / 2 if align == 2 else 0.0), y), st)

    def width(self, text: str) -> float:
        hit = self._texts.get(text)
        return hit[1] if hit is not None else self.metrics.horizontalAdvance(text)

    def get(self, text: str) -> tuple[QStaticText, float]:
        hit = self._texts.get(text)
        if hit is None:
            if len(self._texts) >= self._size:  # forget the older half (dicts keep insertion order)
                for key in list(self._texts)[: self._size // 2]:
                    del self._texts[key]
            st = QStaticText(text)
            st.setTextFormat(Qt.TextFormat.PlainText)
            st.prepare(font=self.font)
            hit = self._texts[text] = (st, self.metrics.horizontalAdvance(text))
        return hit


def axis_font() -> QFont:
    f = QFont()
    f.setPointSizeF(8.5)
    return f


_SHARED: dict[str, LabelCache] = {}


def shared_labels(font: QFont | None = None) -> LabelCache:
    """One label cache per font for the whole process (font metrics are slow to set up, labels repeat)."""
    font = font or axis_font()
    key = font.key()
    cache = _SHARED.get(key)
    if cache is None:
        cache = _SHARED[key] = LabelCache(font)
    return cache


class Tag:
    """A label on a scale at a value (view units): last price, an order, the crosshair."""

    __slots__ = ("value", "text", "bg", "fg", "crosshair")

    def __init__(self, value: float, text: str, bg: QColor, fg: QColor = BG,
                 crosshair: bool = False) -> None:
        self.value, self.text, self.bg, self.fg, self.crosshair = value, text, bg, fg, crosshair


def price_ticks(lo: float, hi: float, pixels: float, log_scale: bool, min_px: float = 42.0
                ) -> tuple[np.ndarray, int]:
    """Tick positions (view units) and decimals for a price scale spanning ``lo..hi`` (view units)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or pixels < 10:
        return np.empty(0), 0
    n_max = max(pixels / min_px, 2.0)
    if log_scale:
        plo, phi = 10.0 ** lo, 10.0 ** hi
        if hi - lo > 1.0:  # more than a decade: 1-2-5 per decade
            decades = np.arange(math.floor(lo), math.ceil(hi) + 1)
            per = (1, 2, 5) if (hi - lo) < n_max / 3 else (1,)
            vals = np.array([m * 10.0 ** d for d in decades for m in per])
            vals = vals[(vals >= plo) & (vals <= phi)]
            dec = max(0, -int(math.floor(math.log10(vals.min())))) if len(vals) else 0
            return np.log10(vals), dec
        vals, dec = _nice(plo, phi, n_max)
        return np.log10(vals[vals > 0]), dec
    return _nice(lo, hi, n_max)


def _nice(lo: float, hi: float, n_max: float) -> tuple[np.ndarray, int]:
    raw = (hi - lo) / n_max
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw:
            break
    step = m * mag
    first = math.ceil(lo / step)
    count = int(math.floor(hi / step)) - first + 1
    vals = (first + np.arange(max(count, 0))) * step
    dec = max(0, -int(math.floor(math.log10(step))) + (1 if m == 2.5 else 0))
    return vals, dec


class PriceScale:
    """A pane's right-hand price scale: cached ticks and labels, tags on top."""

    WIDTH = 76

    def __init__(self) -> None:
        self.labels = shared_labels()
        self.log_scale = False
        self.tags: list[Tag] = []
        self._key: tuple | None = None
        self._ticks: tuple[np.ndarray, int] = (np.empty(0), 0)

    def ticks(self, y0: float, y1: float, h: float) -> tuple[np.ndarray, int]:
        key = (y0, y1, h, self.log_scale)
        if key != self._key:
            self._key = key
            self._ticks = price_ticks(min(y0, y1), max(y0, y1), h, self.log_scale)
        return self._ticks

    def format(self, value: float, decimals: int) -> str:
        if self.log_scale:
            value = 10.0 ** value
        if abs(value) >= 1e6 and decimals == 0:
            return f"{value / 1e6:.2f}M"
        return f"{value:,.{decimals}f}"

    def paint(self, p: QPainter, rect: QRectF, y0: float, y1: float, clip: QRectF | None = None) -> None:
        """Draw into ``rect``; with ``clip``, only what can show in it."""
        x, top, w, h = rect.left(), rect.top(), rect.width(), rect.height()
        p.setPen(QPen(SEPARATOR, 0))
        p.drawLine(QLineF(x + 0.5, top, x + 0.5, top + h))
        if y1 == y0:
            return
        vals, dec = self.ticks(y0, y1, h)
        p.setFont(self.labels.font)
        p.setPen(QPen(TEXT_MUTED, 0))
        th = self.labels.height
        scale = h / (y1 - y0)
        ya, yb = (clip.top() - top - th, clip.bottom() - top + th) if clip is not None else (-th, h + th)
        for v in vals.tolist():
            y = (y1 - v) * scale
            if th / 2 <= y <= h - th / 2 and ya <= y <= yb:
                p.drawLine(QLineF(x, top + y, x + 4, top + y))
                self.labels.draw(p, self.format(v, dec), x + 7, top + y - th / 2)
        for tag, y in self.tag_positions(y0, y1, h):
            if not ya <= y <= yb:
                continue
            p.fillRect(QRectF(x + 1, top + y - th / 2 - 1, w - 1, th + 2), tag.bg)
            p.setPen(tag.fg)
            self.labels.draw(p, tag.text, x + 7, top + y - th / 2)  # (a live price: often drawn once)

    def tag_positions(self, y0: float, y1: float, h: float) -> list[tuple[Tag, float]]:
        """Tags and the pixel row of each, pushed apart so none covers another (the crosshair's stays put)."""
        th = self.labels.height
        scale = h / (y1 - y0)
        placed = []
        for tag in self.tags:
            y = (y1 - tag.value) * scale
            if -th <= y <= h + th:
                placed.append([min(max(y, th / 2 + 1), h - th / 2 - 1), tag])
        placed.sort(key=lambda e: e[0])
        for a, b in zip(placed, placed[1:]):
            if b[0] - a[0] < th + 2:
                b[0] = a[0] + th + 2
        return [(tag, y) for y, tag in placed]

    def tag_rect(self, rect: QRectF, y0: float, y1: float, value: float) -> QRectF:
        """Where a tag at ``value`` is drawn (to repaint only that when it moves); with tags pushed apart,
        the rows down to the next tags are included."""
        th = self.labels.height
        y = (y1 - value) * rect.height() / (y1 - y0) if y1 != y0 else 0.0
        y = min(max(y, th / 2 + 1), rect.height() - th / 2 - 1)
        extra = (th + 2) * len(self.tags)
        return QRectF(rect.left(), rect.top() + y - th / 2 - 2, rect.width(), th + 4 + extra)


class TimeTicks:
    """Time ticks for the chart's x-range, shared by the time scale and every pane's grid, in the zone
    ``zone_source`` names (``zones.py``: ticks on that zone's hour and day boundaries)."""

    def __init__(self, ts_source: Callable[[], tuple[np.ndarray, int]],
                 zone_source: Callable[[], TimeZone] = lambda: UTC) -> None:
        self._ts_source = ts_source  # -> (timestamps ms, timeframe ms)
        self._zone_source = zone_source
        self.data_version = 0
        self._key: tuple | None = None
        self._ticks: tuple[list[float], list[str]] = ([], [])
        self.zone_label = ""  # "UTC+8 (exchange)": the zone of the ticks computed last

    @property
    def last(self) -> tuple[list[float], list[str]]:
        """The ticks computed last (what is on screen)."""
        return self._ticks

    @property
    def zone(self) -> TimeZone:
        return self._zone_source()

    def xs(self, x0: float, x1: float, pixels: float) -> list[float]:
        return self.get(x0, x1, pixels)[0]

    def get(self, x0: float, x1: float, pixels: float) -> tuple[list[float], list[str]]:
        zone = self._zone_source()
        key = (x0, x1, pixels, self.data_version, zone)
        if key != self._key:
            self._key = key
            ts, tf = self._ts_source()
            self._ticks = time_ticks(ts, tf, x0, x1, pixels, zone)
            newest = int(ts[min(max(int(math.floor(x1)), 0), len(ts) - 1)]) if len(ts) else 0
            self.zone_label = zone.label(newest)
        return self._ticks


class TimeScale:
    """The bottom time scale over bar indices: ticks on calendar boundaries of the chart's zone, cached
    labels, a tag, and at its right end the zone's name (what the times are in)."""

    HEIGHT = 22

    def __init__(self, ticks: TimeTicks) -> None:
        self.ticks = ticks
        self.labels = shared_labels()
        self.tags: list[Tag] = []

    def zone_rect(self, rect: QRectF) -> QRectF:
        """Where the zone's name is drawn: the right end of the scale ``rect``."""
        tw = self.labels.width(self.ticks.zone_label) + 12 if self.ticks.zone_label else 0.0
        return QRectF(rect.right() - tw, rect.top() + 1, tw, rect.height() - 1)

    def paint(self, p: QPainter, rect: QRectF, x0: float, x1: float) -> None:
        left, top, w, h = rect.left(), rect.top(), rect.width(), rect.height()
        p.setPen(QPen(SEPARATOR, 0))
        p.drawLine(QLineF(left, top + 0.5, left + w, top + 0.5))
        if x1 == x0:
            return
        xs, texts = self.ticks.get(x0, x1, w)
        zone = self.zone_rect(rect)
        p.setFont(self.labels.font)
        p.setPen(QPen(TEXT_MUTED, 0))
        scale = w / (x1 - x0)
        room = zone.left() - left - 4  # tick labels stop short of the zone's name
        for x, text in zip(xs, texts):
            px = (x - x0) * scale
            tw = self.labels.width(text)
            if tw / 2 <= px <= w - tw / 2:
                p.drawLine(QLineF(left + px, top, left + px, top + 4))
                if px + tw / 2 <= room:
                    self.labels.draw(p, text, left + px - tw / 2, top + 5)
        if zone.width():
            p.fillRect(zone, BG)
            p.setPen(QPen(SEPARATOR, 0))
            p.drawLine(QLineF(zone.left() + 0.5, top + 4, zone.left() + 0.5, top + h - 4))
            p.setPen(QPen(TEXT_MUTED, 0))
            self.labels.draw(p, self.ticks.zone_label, zone.left() + 6, top + 5)
        for tag in self.tags:
            px = (tag.value - x0) * scale
            tw = self.labels.width(tag.text)
            x = min(max(px - tw / 2 - 5, 0), w - tw - 10)
            p.fillRect(QRectF(left + x, top + 1, tw + 10, h - 2), tag.bg)
            p.setPen(tag.fg)
            self.labels.draw(p, tag.text, left + x + 5, top + 4)


def time_ticks(ts: np.ndarray, tf_ms: int, x0: float, x1: float, pixels: float, zone: TimeZone = UTC,
               min_px: float = 90.0) -> tuple[list[float], list[str]]:
    """Bar indices where a calendar step boundary of ``zone`` falls (an hour, a day, a month there), with
    their labels in that zone's wall-clock time."""
    n = len(ts)
    i0, i1 = max(int(math.ceil(x0)), 0), min(int(math.floor(x1)), n - 1)
    if n == 0 or i1 <= i0 or pixels < 20:
        return [], []
    bars_per_px = (x1 - x0) / pixels
    want_ms = min_px * bars_per_px * max(tf_ms, 1)
    samples = int(min(i1 - i0 + 1, 2 * pixels))
    idx = np.linspace(i0, i1, samples).astype(np.int64) if samples < i1 - i0 + 1 else np.arange(i0, i1 + 1)
    t = zone.wall(ts[idx])  # wall-clock ms: boundaries and labels are the zone's
    step = next((s for s in TIME_STEPS_MS if s >= want_ms and s >= tf_ms), None)
    if step is not None:
        keys = t // step
        day_format = "%d %b" if step < 86_400_000 else "%d %b"
        intraday = step < 86_400_000
    else:
        months_wanted = want_ms / (30.4 * 86_400_000)
        months = next((m for m in MONTH_STEPS if m >= months_wanted), MONTH_STEPS[-1])
        keys = t.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64) // months
        day_format = "%b %Y" if months < 12 else "%Y"
        intraday = False
    change = np.flatnonzero(np.diff(keys)) + 1
    if len(change) > pixels / (min_px * 0.6):  # bars with gaps: thin the ticks out
        change = change[:: int(math.ceil(len(change) / (pixels / min_px)))]
    xs, texts = [], []
    days = t // 86_400_000
    for j in change.tolist():
        fmt = "%H:%M" if intraday and days[j] == days[j - 1] else day_format
        xs.append(float(idx[j]))
        texts.append(_label(int(t[j]), fmt))
    return xs, texts


_LABELS: dict[tuple[int, str], str] = {}


def _label(ms: int, fmt: str) -> str:
    key = (ms, fmt)
    s = _LABELS.get(key)
    if s is None:
        if len(_LABELS) > 20_000:
            _LABELS.clear()
        s = _LABELS[key] = time.strftime(fmt, time.gmtime(ms / 1000.0))
    return s


def format_time(ms: int, tf_ms: int, zone: TimeZone = UTC) -> str:
    """Crosshair/readout time of a bar, in ``zone``."""
    fmt = "%a %d %b %Y" if tf_ms >= 86_400_000 else "%d %b %H:%M"
    return time.strftime(fmt, time.gmtime((ms + zone.offset_s(ms) * 1000) / 1000.0))
