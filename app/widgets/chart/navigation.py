"""Moving around the chart: zoom, pan, follow the latest bar, the log scale, the keys, and the crosshair with its
readout (a part of ``ChartWidget``)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QToolTip

from app.engine.data.resample import timeframe_label
from app.widgets.chart.axes import Tag, format_time
from app.widgets.theme import BUY, SELL, TAG_BG, TEXT_BRIGHT, TEXT_MUTED

DEFAULT_VISIBLE = 150
RIGHT_MARGIN = 4  # empty bars right of the last one when the view jumps to it (End, double-click, new data)
FOLLOW_STEP = 0.2  # following live bars, the view steps left by this share of its span when the newest bar
# reaches the right edge (a fifth of the span as empty margin, like a chart shift), not by one bar per bar:
# between steps a new bar draws into the margin, so an append repaints a strip instead of the whole chart


class ChartNavigation:
    """Zoom, pan, follow, log scale, keys, crosshair and readout."""

    def zoom(self, factor: float, anchor: float | None = None) -> None:
        n = self.series.n if self.series else 0
        x0, x1 = self._x
        span = x1 - x0
        new = min(max(span * factor, 8.0), max(n * 1.2, 50.0))
        if anchor is None or self._follow:
            anchor = x1 if self._follow else (x0 + x1) / 2
        t = (anchor - x0) / span if span else 1.0
        nx0 = anchor - t * new
        self._set_x(nx0, nx0 + new, keep_follow=self._follow)

    def pan_pixels(self, dx_px: float) -> None:
        w = max(self.view.plot_width, 1.0)
        d = dx_px * (self._x[1] - self._x[0]) / w
        self._set_x(self._x[0] + d, self._x[1] + d)

    def pan_bars(self, bars: float) -> None:
        self._set_x(self._x[0] + bars, self._x[1] + bars)

    def follow_latest(self) -> None:
        n = self.series.n if self.series else 0
        span = self._x[1] - self._x[0]
        self._follow = True
        self._x = (n - 0.5 + RIGHT_MARGIN - span, n - 0.5 + RIGHT_MARGIN)
        self._layout()

    def _set_x(self, x0: float, x1: float, keep_follow: bool = False) -> None:
        n = self.series.n if self.series else 0
        span = x1 - x0
        if x1 < 2:
            x0, x1 = 2 - span, 2.0
        if x0 > n - 3:
            x0, x1 = n - 3.0, n - 3.0 + span
        self._follow = keep_follow or x1 >= n - 0.5
        self._x = (x0, x1)
        self._layout()

    def set_log_scale(self, on: bool) -> None:
        if on == self.log_scale:
            return
        self.log_scale = on
        if self.log_button.isChecked() != on:
            self.log_button.setChecked(on)
        self.price.scale.log_scale = on
        self._layout()
        self._update_lines()
        self.stateChanged.emit()

    def _yfun(self, y: np.ndarray) -> np.ndarray:
        if not self.log_scale:
            return y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.where(y > 0, y, np.nan))

    def _price_of_view(self, v: float) -> float:
        """The price at view value ``v`` (the inverse of ``_yfun``: a log chart's view is log10 of the price)."""
        return 10.0 ** v if self.log_scale else v

    def _fmt_view(self, v: float) -> str:
        return f"{self._price_of_view(v):,.{self.decimals}f}"

    def _key(self, ev) -> bool:
        k, span = ev.key(), self._x[1] - self._x[0]
        big = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if k == Qt.Key.Key_Left:
            self.pan_bars(-span * (0.5 if big else 0.1))
        elif k == Qt.Key.Key_Right:
            self.pan_bars(span * (0.5 if big else 0.1))
        elif k in (Qt.Key.Key_Up, Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(0.8)
        elif k in (Qt.Key.Key_Down, Qt.Key.Key_Minus):
            self.zoom(1.25)
        elif k == Qt.Key.Key_Home:
            self._set_x(-0.5, -0.5 + span)
        elif k == Qt.Key.Key_End:
            self.follow_latest()
        elif k == Qt.Key.Key_L:
            self.set_log_scale(not self.log_scale)
        else:
            return False
        return True

    def _hover_at(self, pos: QPointF | None) -> None:
        """Crosshair and readout for the mouse at ``pos`` (widget pixels of the view; None: left)."""
        s = self.series
        pane = self.view.pane_at(pos) if pos is not None else None
        if s is None or s.n == 0 or pane is None:
            self._set_hover(None, None)
            return
        i = min(max(int(round(self.view.x_at(pos.x()))), 0), s.n - 1)
        y_px = pos.y() - pane.rect.top()
        self._set_hover(i, (pane, y_px, pane.mapper().to_y(y_px)))
        tip = self.news_at(pos.x(), pos.y(), pane)  # a news mark under the mouse: its titles
        if tip != self.news_tip:
            self.news_tip = tip
            if tip:
                QToolTip.showText(self.view.mapToGlobal(pos.toPoint()), tip, self.view)
            else:
                QToolTip.hideText()

    def _set_hover(self, i: int | None, where: tuple | None) -> None:
        if i == self._hover and where is None and self._hover is None:
            return
        self._hover = i
        for p in self.panes:
            y_px = where[1] if where is not None and where[0] is p else None
            p.vline.set_position(i)
            p.hline.set_position(y_px)
            tags = [t for t in p.scale.tags if not t.crosshair]
            if y_px is not None:
                v = where[2]
                text = self._fmt_view(v) if p is self.price else f"{v:,.2f}"
                tags.append(Tag(v, text, TAG_BG, TEXT_BRIGHT, crosshair=True))
            self._set_tags(p, tags)
        ttags = []
        if i is not None and self.series is not None:
            ttags = [Tag(float(i), format_time(int(self.series.bars.ts[i]), self.tf, self.time_zone),
                         TAG_BG, TEXT_BRIGHT)]
        self._set_tags(None, ttags)
        self._update_readout()

    def _update_readout(self) -> None:
        """OHLC of the hovered bar (else the last) and each indicator's values, in the panes' legends; they
        are painted with the chart (a QLabel's relayout would cost more than the whole tick)."""
        self._readout_dirty = False
        title = f" {self.symbol} · {timeframe_label(self.tf)}" if self.symbol else f" {timeframe_label(self.tf)}"
        if self.title.text() != title:
            self.title.setText(title)
        s = self.series
        if s is None or s.n == 0:
            return
        i = self._hover if self._hover is not None and self._hover < s.n else s.n - 1
        b = s.bars
        o, h, l, c, v = (float(b.column(k)[i]) for k in ("open", "high", "low", "close", "volume"))
        prev = float(b.column("close")[i - 1]) if i > 0 else o
        chg = (c / prev - 1.0) * 100.0 if prev else 0.0
        d = self.decimals
        tone = BUY if c >= o else SELL
        muted = TEXT_MUTED
        ohlc = [(format_time(int(b.ts[i]), self.tf, self.time_zone), muted),
                (f"O {o:,.{d}f}  H {h:,.{d}f}  L {l:,.{d}f}  C {c:,.{d}f}  {chg:+.2f}%", tone)]
        for pane in self.panes:
            rows = [ohlc] if pane is self.price else []
            segs = [(f"Vol {v:,.3f}", muted)] if pane is self.volume_pane else []
            for ind in pane.indicators:
                vals = ind.at(i)
                txt = " ".join(f"{x:,.{d if pane is self.price else 2}f}" for x in vals) if vals else "…"
                segs.append((f"{ind.label} {txt}", QColor(ind.colors[0])))
            pane.legend.set_rows(rows + ([segs] if segs else []))

    def readout(self) -> str:
        """The price pane's legend as text (what the trader reads at the top-left)."""
        return "  ".join(t for row in self.price.legend.rows for t, _c in row)
