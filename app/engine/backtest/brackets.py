"""Brackets in backtests (``SubmitBracket``: an entry with a stop-loss and/or a take-profit), under the bar
conventions (docs/STRATEGIES.md, "Brackets in backtests").

The entry goes through the risk gate like any order. When it fills (whole: a backtest fills orders whole), its
children are sent through the gate too, reduce-only, for the quantity it filled: the stop-loss a STOP (or a
TRAILING_STOP with ``trail``), the take-profit a LIMIT, linked as one-cancels-other at the backtest's venue
(``BarVenue``), so the first to fill cancels the other. An entry filled at a bar's open arms them for that bar's
range; one filled inside a bar's range (a limit) arms them from the next bar. When one bar's range reaches both, the
stop-loss is assumed first. A bracket whose stop-loss or take-profit is on the wrong side of its entry (its limit
price, or the price its sender saw) is refused whole (BRACKET_SIDES), as live.

The children end with the position, as live: a fill that leaves it flat cancels them, and a reduce-only order that
closes all of it (``close_position()``) cancels them before the risk gate sees it, as a flatten cancels a position's
stops first. Left working, the take-profit's resting limit would make the gate refuse the close as opening the
other way (REDUCING_ONLY), and either child could fill after the close, on the flat position.
"""
from __future__ import annotations

from typing import Any

from dataclasses import replace

from app.engine.core.messages import OrderFilled, OrderType, Side, SubmitBracket, SubmitOrder
from app.engine.orders.groups import sides_denial, trail_denial


class BacktestBrackets:
    def __init__(self, bus: Any, risk: Any, execution: Any, price_now: Any) -> None:
        self.bus, self.risk, self.execution, self.price_now = bus, risk, execution, price_now
        self._waiting: dict[str, SubmitBracket] = {}  # entry id -> its bracket
        self._armed: dict[str, tuple[str, list[str]]] = {}  # list id -> (symbol, its children's ids)
        bus.subscribe(SubmitBracket, self.on_bracket)
        bus.subscribe(OrderFilled, self.on_fill)

    def on_bracket(self, cmd: SubmitBracket) -> None:
        e = cmd.entry
        limit = e.order_type is OrderType.LIMIT and e.price is not None
        inst = self.risk.instruments.get(e.symbol)
        ref = e.price if limit else self.price_now()
        denial = None if ref != ref else sides_denial(  # (no price yet: nothing to compare with)
            e.side is Side.BUY, ref, "its entry price" if limit else "the price now", cmd.stop_loss,
            cmd.take_profit, inst.price_decimals if inst is not None else 8)
        denial = denial or trail_denial(cmd.trail)
        if denial is not None:
            self.risk._deny(e, denial)
            return
        self._waiting[e.client_order_id] = cmd
        self.bus.publish(replace(e, list_id=cmd.list_id, role="ENTRY"))

    def before_gate(self, cmd: SubmitOrder) -> None:
        """Subscribed before the risk gate: a reduce-only order closing the whole position ends its brackets'
        children first. (Not from inside a fill's or an order update's callback, where their cancels could not be
        applied before the gate: there the close is refused while the take-profit rests, and the bracket stays.)"""
        if not self._armed or not cmd.reduce_only or cmd.role is not None:
            return
        pos = self.risk.portfolio.positions.get(cmd.symbol)
        qty = pos.quantity if pos is not None else 0.0
        if not qty or cmd.side.sign * qty > 0 or cmd.quantity < abs(qty) - 1e-12:
            return
        if self.execution.busy:
            return
        self._end(cmd.symbol)
        self.execution.flush()  # the cancels applied now: the gate sees the position without them

    def on_fill(self, fill: OrderFilled) -> None:
        if self._armed:
            self._after_fill(fill)
        cmd = self._waiting.pop(fill.client_order_id, None)
        if cmd is None:
            return
        e = cmd.entry
        side = e.side.opposite
        now = fill.ts
        children: list[str] = []
        self._armed[cmd.list_id] = (fill.symbol, children)
        if cmd.stop_loss is not None or cmd.trail is not None:
            children.append(f"{cmd.list_id}-sl")
            trailing = cmd.trail is not None and cmd.stop_loss is None
            self.bus.publish(SubmitOrder(f"{cmd.list_id}-sl", e.symbol, e.venue, side,
                                         OrderType.TRAILING_STOP if trailing else OrderType.STOP, fill.quantity,
                                         None, e.actor, reduce_only=True, ts=now,
                                         trigger_price=None if trailing else cmd.stop_loss,
                                         trail_amount=cmd.trail if trailing else None, list_id=cmd.list_id,
                                         role="SL"))
        if cmd.take_profit is not None:
            children.append(f"{cmd.list_id}-tp")
            self.bus.publish(SubmitOrder(f"{cmd.list_id}-tp", e.symbol, e.venue, side, OrderType.LIMIT,
                                         fill.quantity, cmd.take_profit, e.actor, reduce_only=True, ts=now,
                                         list_id=cmd.list_id, role="TP"))

    def _after_fill(self, fill: OrderFilled) -> None:
        """A child filled: its bracket is done (the venue canceled the other). Any fill that left the position flat
        ends the children still working on it."""
        for lid, (_, children) in list(self._armed.items()):
            if fill.client_order_id in children:
                del self._armed[lid]
        pos = self.risk.portfolio.positions.get(fill.symbol)
        if pos is None or not pos.quantity:
            self._end(fill.symbol)

    def _end(self, symbol: str) -> None:
        for lid, (sym, children) in list(self._armed.items()):
            if sym == symbol:
                del self._armed[lid]
                for cid in children:
                    self.execution.cancel(cid)
