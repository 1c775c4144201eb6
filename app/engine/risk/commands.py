"""The operator's commands to the risk engine, as they arrive on the bus (from the kill button, the risk
panel, the chart, a plugin): ``Halt``, ``HaltStrategy``, ``Reset``, ``Flatten``, ``ModifyOrder``.

Each is carried out through the engine's own calls (``RiskEngine.halt``, ``reset``, ``flatten``...), so a
command and a direct call do the same thing; one that cannot be carried out comes back on the bus as
``CommandRefused`` with the reason, never as an exception to whoever sent it.
"""
from __future__ import annotations

import logging
from typing import Any

from app.engine.core.messages import (
    ClosePosition, CommandRefused, Flatten, Halt, HaltStrategy, ModifyOrder, OrderType, Reset, SubmitOrder,
)

log = logging.getLogger("kestrel.risk")


class RiskCommands:
    """Subscribes the operator's commands for ``risk`` (a ``RiskEngine``) on its bus."""

    def __init__(self, risk: Any) -> None:
        self.risk = risk
        bus = risk.bus
        bus.subscribe(Halt, lambda c: risk.halt(c.reason, c.actor))
        bus.subscribe(HaltStrategy, lambda c: risk.halt_strategy(c.strategy, c.reason, c.actor))
        bus.subscribe(Reset, self.on_reset)
        bus.subscribe(Flatten, lambda c: risk.flatten(c.actor, confirmed=True))
        bus.subscribe(ModifyOrder, self.on_modify)
        bus.subscribe(ClosePosition, self.on_close_position)

    def on_close_position(self, cmd: ClosePosition) -> None:
        try:
            self.risk.close_position(cmd.symbol, cmd.actor, reverse=cmd.reverse)
        except ValueError as exc:
            self.refuse(cmd, str(exc))

    def on_reset(self, cmd: Reset) -> None:
        try:
            self.risk.reset(cmd.reason, cmd.actor, cmd.scope)
        except (ValueError, PermissionError) as exc:
            self.refuse(cmd, str(exc))

    def on_modify(self, cmd: ModifyOrder) -> None:
        """Move a working limit order: no venue amends yet, so the same side at the new price is submitted
        under ``cmd.new_client_order_id`` with ``replaces`` set, through every pre-trade check like any order
        (the old one still counts against limits, so a move near a limit may be denied: an ``OrderDenied``
        for the new id, and the old order stays as it was). Approved, the ExecutionEngine holds it, cancels
        the old one and sends it only once the cancel is confirmed, less what the old one filled meanwhile:
        the two never work at once (before, both were sent together and both could fill)."""
        risk = self.risk
        order = risk.execution.orders.get(cmd.client_order_id)
        if order is None or not order.status.is_working:
            self.refuse(cmd, f"order {cmd.client_order_id} is no longer working")
            return
        if order.order_type is not OrderType.LIMIT:
            self.refuse(cmd, f"order {cmd.client_order_id} is a {order.order_type.value} order: only a limit "
                             f"order has a price to move")
            return
        if risk.execution.is_moving(cmd.client_order_id):
            self.refuse(cmd, f"order {cmd.client_order_id} is already being moved")
            return
        now = risk.clock.now_ms()
        quantity = order.leaves_qty if cmd.quantity is None else cmd.quantity
        risk.bus.publish(SubmitOrder(cmd.new_client_order_id, order.symbol, order.venue, order.side,
                                     OrderType.LIMIT, quantity, cmd.price, cmd.actor, ts=now, tif=order.tif,
                                     post_only=order.post_only, replaces=cmd.client_order_id))

    def refuse(self, cmd: object, reason: str) -> None:
        log.warning("%s refused: %s", type(cmd).__name__, reason)
        self.risk.bus.publish(CommandRefused.to(cmd, reason, self.risk.clock.now_ms()))
