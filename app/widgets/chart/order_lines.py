"""Our orders on the chart: the last-price, order and position lines and their tags, fill and order markers, and a
dragged order line sent as a move through the risk gate (a part of ``ChartWidget``)."""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from app.widgets.chart.axes import Tag
from app.widgets.chart.overlays import PriceLine
from app.widgets.chart.view import Pane
from app.engine.alerts.rules import PRICE_KINDS
from app.widgets.theme import ALERT, CANDLE_DOWN, CANDLE_UP, SELL, TEXT_MUTED, css_color

ALERT_LINE = "alert:"  # an alert's line on the chart: "alert:<rule id>" where an order's line has its id


class ChartOrderLines:
    """Price lines, tags and markers of our orders and position; dragging or cancelling an order line."""

    def _update_last(self) -> None:
        s = self.series
        if s is None or s.n == 0:
            return
        b = s.bars
        close, open_ = float(b.column("close")[-1]), float(b.column("open")[-1])
        up = close >= open_
        self._last_line = PriceLine(close, CANDLE_UP if up else CANDLE_DOWN, "", Qt.PenStyle.DotLine)
        self._update_lines()

    def _update_lines(self) -> None:
        lines: list[PriceLine] = []
        if self.orders is not None and self.series is not None:
            lines = self.orders.lines(self.decimals)
        lines += self._alert_lines()
        last = getattr(self, "_last_line", None)
        f = self._yfun
        shown = []
        for ln in lines + ([last] if last is not None else []):
            v = float(f(np.float64(ln.value)))
            shown.append(PriceLine(v, ln.color, ln.label, ln.style, ln.order_id))
        self.lines.set_lines(shown)
        tags = [Tag(ln.value, self._fmt_view(ln.value), ln.color) for ln in shown]
        hover = [t for t in self.price.scale.tags if t.crosshair]
        self._set_tags(self.price, tags + hover)

    def _set_tags(self, pane: Pane | None, tags: list[Tag]) -> None:
        """Price tags of ``pane`` (None: time tags); repaints only where tags appear or disappear."""
        scale = pane.scale if pane is not None else self.view.time_scale
        old = {(t.value, t.text) for t in scale.tags}
        if old == {(t.value, t.text) for t in tags}:
            return
        scale.tags = tags
        if pane is None:
            self.view.dirty(self.view.time_rect.toAlignedRect())
            return
        for value, _text in old ^ {(t.value, t.text) for t in tags}:
            pane.repaint_scale(pane.scale.tag_rect(pane.scale_rect, pane.y0, pane.y1, value))

    def _update_markers(self) -> None:
        src = self._marker_src
        if src is None or self.series is None or len(src[0]) == 0:
            self.markers.set_markers(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int8))
            return
        ts, price, kind = src
        idx = np.asarray(self.series.index_of(ts), dtype=np.int64)
        ok = idx >= 0
        self.markers.set_markers(idx[ok], price[ok], kind[ok])

    def set_markers(self, ts_ms: Any, prices: Any, kinds: Any) -> None:
        """Markers at times/prices (kinds: 0 buy fill, 1 sell fill, 2 buy order, 3 sell order)."""
        self._marker_src = (np.asarray(ts_ms, dtype=np.int64), np.asarray(prices, dtype=np.float64),
                            np.asarray(kinds, dtype=np.int8))
        self._update_markers()

    def _alert_lines(self) -> list[PriceLine]:
        """The armed price alerts of this symbol: dash-dot-dot lines tagged "alert N ↑" (crosses above) or "↓",
        dragged to move them."""
        if self.port is None or not self.symbol:
            return []
        return [PriceLine(r.level, ALERT, f"alert {r.id} {'↑' if r.kind == 'price_above' else '↓'}",
                          Qt.PenStyle.DashDotDotLine, ALERT_LINE + r.id)
                for r in self.port.alerts.rules(self.symbol) if r.kind in PRICE_KINDS and r.state == "armed"]

    def _on_alert_dragged(self, rule_id: str, price: float) -> None:
        from app.engine.core.messages import CommandRefused, SetAlert

        rule = self.port.alerts.get(rule_id)
        if rule is None:
            return
        answer = self.port.send(SetAlert(rule.with_(level=price).to_dict(), "manual", self.port.now_ms()))
        if isinstance(answer, CommandRefused):
            self.show_status(answer.reason, error=True)
        else:
            self.show_status(f"Alert {rule_id} moved to {price:.{self.decimals}f}")
        self._orders_seen = None
        self.refresh()

    def _on_line_dragged(self, order_id: str, view_value: float) -> None:
        if self.port is None:
            return
        if order_id.startswith(ALERT_LINE):
            inst = self.port.instruments[self.symbol]
            self._on_alert_dragged(order_id[len(ALERT_LINE):],
                                   inst.round_price(self._price_of_view(view_value)))
            return
        from app.widgets.chart.orders import replace_order

        inst = self.port.instruments[self.symbol]
        price = inst.round_price(self._price_of_view(view_value))
        order = self.port.orders.get(order_id)
        stop = order is not None and order.order_type.is_triggered
        was = None if order is None else order.trigger_price if stop else order.price
        if was is None or abs(price - was) < inst.tick_size / 2:
            self._orders_seen = None
            return
        new_id = self.port.new_order_id()
        self.orders.mine.add(new_id)
        what = "stop" if stop else ""
        if stop and order.emulated:
            text = f"Moved the {order.side.value} stop {order_id} to {price:.{self.decimals}f} (armed in Kestrel)"
        else:
            text = (f"Moved {order.side.value} {what + ' ' if what else ''}{order.leaves_qty:g} to "
                    f"{price:.{self.decimals}f} (cancel {order_id}, new {new_id})")
        answer = replace_order(self.port, order_id, price, new_id=new_id)
        if not isinstance(answer, str):
            self.show_status(f"{order_id} was not moved: {answer.reason}", error=True)
        elif not self.orders.denied:  # a denial (synchronous) is shown by refresh
            self.show_status(text)
        self._orders_seen = None
        self.refresh()

    def _on_line_cancel(self, order_id: str) -> None:
        from app.engine.core.messages import CancelOrder, CommandRefused, RemoveAlert

        if order_id.startswith(ALERT_LINE):  # right click on an alert's line: it is removed
            rule_id = order_id[len(ALERT_LINE):]
            answer = self.port.send(RemoveAlert(rule_id, "manual", self.port.now_ms()))
            if isinstance(answer, CommandRefused):
                self.show_status(answer.reason, error=True)
            else:
                self.show_status(f"Alert {rule_id} removed")
            return
        self.port.send(CancelOrder(order_id, "manual", ts=self.port.now_ms()))
        self.show_status(f"Cancel {order_id} sent")

    def alert_at(self, view_value: float) -> str | None:
        """Set an alert where the trader right-clicked the price pane: above the last price, one that fires when
        the market crosses above it; below, one when it crosses below. Its id, or None (refused: said)."""
        from app.engine.core.messages import CommandRefused, SetAlert

        if self.port is None or not self.symbol:
            return None
        inst = self.port.instruments[self.symbol]
        price = inst.round_price(self._price_of_view(view_value))
        st = self.port.market.get(self.symbol)
        last = st.last if st is not None and st.last else None
        kind = "price_below" if last is not None and price < last else "price_above"
        answer = self.port.send(SetAlert({"kind": kind, "symbol": self.symbol, "level": price}, "manual",
                                         self.port.now_ms()))
        if isinstance(answer, CommandRefused):
            self.show_status(answer.reason, error=True)
            return None
        where = "below" if kind == "price_below" else "above"
        note = self.port.alerts.note(answer.detail)
        self.show_status(f"Alert {answer.detail}: when {self.symbol} crosses {where} {price:.{self.decimals}f}"
                         + (f". {note}" if note else ""))
        self._orders_seen = None
        self.refresh()
        return answer.detail

    def show_status(self, text: str, error: bool = False) -> None:
        self.status_text = text
        self.status.setText(text)
        self.status.setStyleSheet(css_color(SELL if error else TEXT_MUTED))
