"""Our orders on the chart: fill and order markers, working-order and position lines, drag-to-modify.

Moving a working order is a ``ModifyOrder`` command on the bus: the engine decides what it means (no venue
amends yet: a cancel, never blocked, and the same side at the new price through every pre-trade check). The
old order keeps counting against limits until the venue confirms the cancel, so a move near a limit may be
denied; the denial is shown on the chart.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from app.engine.core.messages import CommandRefused, ModifyOrder, OrderDenied, OrderFilled, Side
from app.engine.port import Port
from app.widgets.chart.overlays import PriceLine
from app.widgets.frame import BusSubscriptions
from app.widgets.theme import BUY, POSITION, SELL



def replace_order(port: Port, client_order_id: str, price: float, actor: str = "manual",
                  new_id: str | None = None) -> str | CommandRefused:
    """Ask the engine to move a working limit order to ``price``, or a stop's trigger to ``price`` (a
    stop-limit's limit keeps its distance to the trigger) (``ModifyOrder``). Returns the id the order continues
    under, or the engine's refusal (the order is no longer working, has no price to move, the new trigger would
    fire at once). ``new_id``: that id (so a caller can recognise the answer, which may arrive before this
    returns)."""
    cid = new_id or port.new_order_id()
    order = port.orders.get(client_order_id)
    if order is not None and order.order_type.is_triggered and order.trigger_price is not None:
        limit = None if order.price is None else order.price + (price - order.trigger_price)
        inst = port.instruments[order.symbol] if order.symbol in port.instruments else None
        if limit is not None and inst is not None:
            limit = inst.round_price(limit)
        msg = ModifyOrder(client_order_id, limit, cid, actor, ts=port.now_ms(), trigger_price=price)
    else:
        msg = ModifyOrder(client_order_id, price, cid, actor, ts=port.now_ms())
    answer = port.send(msg)
    if isinstance(answer, CommandRefused):
        return answer
    if answer is not None and getattr(answer, "detail", None):  # CommandDone: amended in place, the same id
        return answer.detail
    return client_order_id if order is not None and order.status.value == "ARMED" else cid


class ChartOrders:
    """Collects fills and orders of one symbol for the chart; builds its markers and price lines."""

    def __init__(self, port: Port) -> None:
        self.port = port
        self.symbol = ""
        self.fills: list[tuple[int, float, int]] = []  # (ts, price, kind)
        self.version = 0
        self.denied: list[OrderDenied] = []
        self.mine: set[str] = set()  # ids of orders this chart created (modifies)
        self._subs = BusSubscriptions()
        self._subs.add(port.subscribe(OrderFilled, self._on_fill))
        self._subs.add(port.subscribe(OrderDenied, self._on_denied))

    def close(self) -> None:
        self._subs.clear()

    def set_symbol(self, symbol: str) -> None:
        self.symbol = symbol
        self.fills = [(int(r["ts"]), float(r["price"]), 0 if r["side"] == Side.BUY.value else 1)
                      for r in self.port.orders.fills() if r["symbol"] == symbol]
        self.version += 1

    def _on_fill(self, fill: OrderFilled) -> None:
        if fill.symbol == self.symbol:
            self.fills.append((fill.ts, fill.price, 0 if fill.side is Side.BUY else 1))
            self.version += 1

    def _on_denied(self, ev: OrderDenied) -> None:
        if ev.client_order_id in self.mine:
            self.denied.append(ev)

    def markers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ts, price, kind) of fills and of our limit orders where they were placed (kinds: 0 buy fill,
        1 sell fill, 2 buy order, 3 sell order; see ``chart_items.MARKER_KINDS``)."""
        rows = list(self.fills)
        for o in self.port.orders.all():
            if o.symbol == self.symbol and o.price is not None and o.created_ts and o.status.value != "DENIED" \
                    and not o.order_type.is_triggered:
                rows.append((o.created_ts, o.price, 2 if o.side is Side.BUY else 3))
        if not rows:
            return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int8)
        arr = np.array(rows, dtype=np.float64)
        return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2].astype(np.int8)

    def lines(self, decimals: int) -> list[PriceLine]:
        out = []
        for o in self.port.orders.open(self.symbol):
            if o.order_type.is_triggered and not o.fired:  # a stop: where it triggers, dotted (dash-dot: Kestrel's)
                trigger = self.port.orders.trigger_of(o)
                if trigger is None:
                    continue  # a trailing stop waiting for its activation price
                then = "" if o.price is None else f" -> {o.price:.{decimals}f}"
                kind = "TRAIL" if o.order_type.is_trailing else "STOP"
                out.append(PriceLine(trigger, BUY if o.side is Side.BUY else SELL,
                                     f"{o.side.value} {kind} {o.leaves_qty:g} @ {trigger:.{decimals}f}{then}"
                                     f"{' · emulated' if o.emulated else ''}",
                                     Qt.PenStyle.DashDotLine if o.emulated else Qt.PenStyle.DotLine,
                                     order_id=o.client_order_id))
                continue
            if o.price is None:
                continue
            buy = o.side is Side.BUY
            kept = o.emulated and not o.fired  # a take-profit Kestrel keeps: sent when the market touches it
            out.append(PriceLine(o.price, BUY if buy else SELL,
                                 f"{o.side.value}{' TP' if o.role == 'TP' else ''} {o.leaves_qty:g} @ "
                                 f"{o.price:.{decimals}f}{' · emulated' if kept else ''}",
                                 Qt.PenStyle.DashDotLine if kept else Qt.PenStyle.DashLine,
                                 order_id=o.client_order_id))
        pos = self.port.portfolio.positions.get(self.symbol)
        if pos is not None and pos.quantity:
            out.append(PriceLine(pos.avg_price, POSITION,
                                 f"POS {pos.quantity:+g} @ {pos.avg_price:.{decimals}f}  "
                                 f"uPnL {pos.unrealized_pnl:+,.2f}",
                                 Qt.PenStyle.SolidLine))
        return out

    def state_key(self) -> tuple[int, int, int]:
        return (self.version, self.port.orders.version, self.port.portfolio.version)
