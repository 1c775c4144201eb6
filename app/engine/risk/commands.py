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
    ClosePosition, CommandDone, CommandRefused, Emulation, Flatten, Halt, HaltStrategy, ModifyOrder, OrderStatus,
    OrderType, Reset, SubmitOrder,
)
from app.engine.risk.checks import _price_check

log = logging.getLogger("kestrel.risk")


class RiskCommands:
    """Subscribes the operator's commands for ``risk`` (a ``RiskEngine``) on its bus."""

    def __init__(self, risk: Any) -> None:
        self.risk = risk
        self.move_armed: Any = None  # the OrderEmulator's ``move`` (orders/emulator.py)
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
        """Move an order: a stop Kestrel keeps moves in place (``_move_armed``); a working limit at a venue that
        amends is changed in place (``_amend``). Otherwise (a venue that cannot amend, more quantity, a stop at
        the venue) the same side at the new price is submitted under ``cmd.new_client_order_id`` with
        ``replaces`` set, through every pre-trade check like any order (the old one still counts against limits,
        so a move near a limit may be denied: an ``OrderDenied`` for the new id, and the old order stays as it
        was). Approved, the ExecutionEngine holds it, cancels the old one and sends it only once the cancel is
        confirmed, less what the old one filled meanwhile: the two never work at once."""
        risk = self.risk
        order = risk.execution.orders.get(cmd.client_order_id)
        if order is not None and order.status is OrderStatus.ARMED:
            self._move_armed(cmd, order)
            return
        if order is None or not order.status.is_working:
            self.refuse(cmd, f"order {cmd.client_order_id} is no longer working")
            return
        otype = order.order_type
        if otype is not OrderType.LIMIT and otype is not OrderType.STOP and otype is not OrderType.STOP_LIMIT \
                or order.fired:
            self.refuse(cmd, f"order {cmd.client_order_id} is a {order.venue_type.value} order: only a limit "
                             f"order or a stop has a price to move")
            return
        if otype is OrderType.LIMIT and cmd.price is None:
            self.refuse(cmd, f"order {cmd.client_order_id} is a limit order: say its new price")
            return
        if risk.execution.is_moving(cmd.client_order_id):
            self.refuse(cmd, f"order {cmd.client_order_id} is already being moved")
            return
        if self._amend(cmd, order):
            return
        now = risk.clock.now_ms()
        quantity = order.leaves_qty if cmd.quantity is None else cmd.quantity
        price = order.price if cmd.price is None else cmd.price
        trigger = order.trigger_price if cmd.trigger_price is None else cmd.trigger_price
        risk.bus.publish(SubmitOrder(cmd.new_client_order_id, order.symbol, order.venue, order.side, otype,
                                     quantity, price, cmd.actor, ts=now, tif=order.tif, post_only=order.post_only,
                                     replaces=cmd.client_order_id, reduce_only=order.reduce_only,
                                     trigger_price=trigger if otype.is_triggered else None,
                                     emulation=Emulation.NATIVE if otype.is_triggered else Emulation.AUTO))

    def _amend(self, cmd: ModifyOrder, order) -> bool:
        """A limit order at a venue that amends (``order_features`` "amend"), for no more than it has left: changed
        in place, keeping its id (and its queue place when only its size shrinks). False: move it by
        cancel-then-replace instead (a venue that cannot amend, a stop, more quantity)."""
        risk = self.risk
        features = risk.checks.venue_features(order.venue) if risk.checks.venue_features else frozenset()
        leaves = order.leaves_qty if cmd.quantity is None else cmd.quantity
        if "amend" not in features or order.order_type is not OrderType.LIMIT or order.status is OrderStatus.UNKNOWN \
                or order.status is OrderStatus.PENDING_CANCEL or leaves > order.leaves_qty + 1e-12:
            return False
        price = order.price if cmd.price is None else cmd.price
        amended = SubmitOrder(order.client_order_id, order.symbol, order.venue, order.side, OrderType.LIMIT, leaves,
                              price, order.actor, reduce_only=order.reduce_only, tif=order.tif,
                              post_only=order.post_only)
        denial = risk.check_amend(amended)
        if denial is not None:
            self.refuse(cmd, f"{denial.reason}: {denial.message}")
            return True
        if not risk.execution.amend(order, price, leaves):
            return False
        risk.bus.publish(CommandDone.to(cmd, order.client_order_id, risk.clock.now_ms()))  # the id it keeps
        return True

    def _move_armed(self, cmd: ModifyOrder, order) -> None:
        """A stop armed in Kestrel moves in place: the same id, its new trigger (and a stop-limit's limit)
        checked as a new stop's would be (on the tick, not marketable, the limit within the collar of the
        trigger), journaled, then re-keyed in its trigger book. A trailing stop's trigger follows the market:
        it is canceled and placed again instead."""
        risk = self.risk
        if order.order_type.is_trailing:
            self.refuse(cmd, f"order {cmd.client_order_id} is a trailing stop: its trigger follows the market; "
                             f"cancel it and place another with the distance you want")
            return
        trigger = order.trigger_price if cmd.trigger_price is None else cmd.trigger_price
        price = order.price if cmd.price is None or order.order_type is not OrderType.STOP_LIMIT else cmd.price
        quantity = order.quantity if cmd.quantity is None else cmd.quantity
        if order.role == "TP":  # a take-profit is a limit at the price that touches it: both move
            trigger = price = cmd.price if cmd.price is not None else trigger
            last = risk.market.symbols.get(order.symbol)
            last = last.last if last is not None else None
            sell = order.side.value == "SELL"
            if last and ((price <= last) if sell else (price >= last)):
                where = "at or below" if sell else "at or above"
                self.refuse(cmd, f"STOP_MARKETABLE: a take-profit at {price:g} is {where} the last trade {last:g}: "
                                 f"it would be touched at once")
                return
            inst = risk.instruments.get(order.symbol)
            denial = None if inst is None else _price_check(price, inst, "A take-profit needs a positive price",
                                                             "Take-profit price")
            if denial is not None:
                self.refuse(cmd, f"{denial.reason}: {denial.message}")
                return
            self.move_armed(order, trigger, price, quantity)
            return
        moved = SubmitOrder(order.client_order_id, order.symbol, order.venue, order.side, order.order_type,
                            quantity, price, order.actor, reduce_only=order.reduce_only, trigger_price=trigger,
                            trigger_source=order.trigger_source, emulation=Emulation.EMULATED)
        denial = risk.check_move(moved)
        if denial is not None:
            self.refuse(cmd, f"{denial.reason}: {denial.message}")
            return
        self.move_armed(order, trigger, price, quantity)

    def refuse(self, cmd: object, reason: str) -> None:
        log.warning("%s refused: %s", type(cmd).__name__, reason)
        self.risk.bus.publish(CommandRefused.to(cmd, reason, self.risk.clock.now_ms()))
