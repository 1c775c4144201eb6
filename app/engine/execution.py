"""ExecutionEngine: the only component that holds venue adapters.

It receives orders already approved by the RiskEngine, journals each one durably *before* sending it,
drives the order state machine from venue reports, de-duplicates fills by (venue, trade id), and
publishes what happened on the bus. Nothing else has a reference to an adapter, so nothing else can
reach a venue.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from app.engine.bus import MessageBus
from app.engine.clock import Clock
from app.engine.messages import (
    CancelRejected, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderStatus, OrderSubmitted,
    OrderUpdated, SubmitOrder,
)
from app.engine.orders import InvalidTransition, Order
from app.engine.store import Store
from app.engine.venues.base import VenueAdapter, VenueOrder

log = logging.getLogger("kestrel.execution")


class _Changed:
    """A deferred 'order changed' notification inside a cancel batch."""

    __slots__ = ("order",)

    def __init__(self, order: Order) -> None:
        self.order = order


class ExecutionEngine:
    def __init__(self, bus: MessageBus, store: Store, clock: Clock) -> None:
        self._bus = bus
        self._store = store
        self._clock = clock
        self._venues: dict[str, VenueAdapter] = {}
        self.orders: dict[str, Order] = {}
        self.working: dict[str, Order] = {}  # index of non-terminal orders: limits read it on every order
        self._deferred: list[Any] | None = None  # venue reports held while a cancel batch is being sent
        self.version = 0  # bumps on every order change: views repaint when it moves
        for row in store.orders():
            order = Order.from_row(row)
            self.orders[order.client_order_id] = order
            if order.status.is_working:
                self.working[order.client_order_id] = order

    # ------------------------------------------------------------------------------------------- venues
    def add_venue(self, adapter: VenueAdapter) -> None:
        self._venues[adapter.name] = adapter

    def venue_names(self) -> list[str]:
        return list(self._venues)

    def reconcile(self, venue: str) -> list[str]:
        """Compare journaled working orders with what the venue reports open.

        Orders we think working that the venue does not know are closed as CANCELED with the reason, so
        they stop counting toward limits (an order journaled but never sent, e.g. a crash between journal
        and send, ends here: it is never re-sent). While the venue is disconnected nothing can be known:
        the orders stay working and keep counting toward limits. Returns a line per difference.
        """
        adapter = self._venues[venue]
        if not adapter.connected:
            for order in list(self.working.values()):
                if order.venue == venue and order.status is OrderStatus.SUBMITTED:
                    order.reason = "sent before a restart or disconnect; not yet confirmed by the venue"
                    self._set_status(order, OrderStatus.UNKNOWN)
            return [f"{venue} is disconnected: {sum(o.venue == venue for o in self.working.values())} "
                    f"order(s) stay unresolved and keep counting toward limits"]
        venue_open = {o.client_order_id: o for o in adapter.open_orders()}
        notes = []
        for order in list(self.working_orders()):
            if order.venue != venue or order.client_order_id in venue_open:
                continue
            was = order.status.value
            order.reason = "not open at the venue on reconnect"
            self._set_status(order, OrderStatus.CANCELED)
            notes.append(f"{order.client_order_id} {order.symbol}: was {was}, the venue has no such open "
                         f"order; marked canceled")
        for cid in venue_open:
            if cid not in self.orders:
                notes.append(f"the venue has an open order {cid} that is not in our journal")
        for line in notes:
            log.warning("reconcile %s: %s", venue, line)
        return notes

    # ------------------------------------------------------------------------------------------- orders
    def working_orders(self, symbol: str | None = None) -> Iterable[Order]:
        if symbol is None:
            return list(self.working.values())
        return [o for o in self.working.values() if o.symbol == symbol]

    def record_denied(self, cmd: SubmitOrder, reason: str) -> Order:
        order = self._new_order(cmd)
        order.status = OrderStatus.DENIED
        order.reason = reason
        self.orders[order.client_order_id] = order
        self._store.journal_order(order.to_row())
        self._changed(order)
        return order

    def execute(self, cmd: SubmitOrder) -> Order:
        """Send an order the RiskEngine approved. Journal first; then send."""
        order = self._new_order(cmd)
        adapter = self._venues.get(cmd.venue)
        order.status = OrderStatus.SUBMITTED
        self.orders[order.client_order_id] = order
        self._store.journal_order(order.to_row())  # durable before anything leaves the process
        self._bus.publish(OrderSubmitted(order.client_order_id, order.symbol, order.venue, order.created_ts))
        self._changed(order)
        if adapter is None:
            self.on_report(OrderRejected(order.client_order_id, order.symbol, f"no venue named {cmd.venue!r}",
                                         self._clock.now_ms()))
            return order
        adapter.submit(VenueOrder(order.client_order_id, order.symbol, order.side, order.order_type,
                                  order.quantity, order.price))
        return order

    def cancel(self, client_order_id: str) -> bool:
        order = self.orders.get(client_order_id)
        if order is None or not order.status.is_working:
            return False
        if order.status is not OrderStatus.UNKNOWN:
            order.transition(OrderStatus.PENDING_CANCEL)
            self._persist(order)
            if self._deferred is not None:
                self._deferred.append(_Changed(order))  # published after the batch's cancels are out
            else:
                self._changed(order)
        adapter = self._venues.get(order.venue)
        if adapter is not None:
            adapter.cancel(client_order_id)
        return True

    def cancel_all(self, predicate=None) -> list[str]:
        """Send every cancel first; venue reports that come back meanwhile (a zero-latency venue answers
        inside ``cancel``) are processed after the last cancel is out, so no subscriber, however slow,
        can delay a cancel behind another order's events."""
        sent = []
        nested = self._deferred is not None
        if not nested:
            self._deferred = []
        try:
            for order in list(self.working_orders()):
                if predicate is None or predicate(order):
                    if self.cancel(order.client_order_id):
                        sent.append(order.client_order_id)
        finally:
            if not nested:
                held, self._deferred = self._deferred, None
                for event in held:
                    if isinstance(event, _Changed):
                        self._changed(event.order)
                    else:
                        self.on_report(event)
        return sent

    # ------------------------------------------------------------------------------------------ reports
    def on_report(self, event: Any) -> None:
        """Venue reports for our orders arrive here (never straight on the bus)."""
        if self._deferred is not None:
            self._deferred.append(event)
            return
        order = self.orders.get(getattr(event, "client_order_id", ""))
        if order is None:
            log.warning("report for an unknown order ignored: %r", event)
            return
        try:
            if isinstance(event, OrderFilled):
                self._on_fill(order, event)
                return
            if isinstance(event, OrderAccepted):
                order.venue_order_id = event.venue_order_id
                if order.status in (OrderStatus.SUBMITTED, OrderStatus.UNKNOWN):
                    self._set_status(order, OrderStatus.ACCEPTED)
                else:
                    self._persist(order)
            elif isinstance(event, OrderCanceled):
                order.reason = event.reason
                self._set_status(order, OrderStatus.CANCELED)
            elif isinstance(event, OrderRejected):
                order.reason = event.reason
                self._set_status(order, OrderStatus.REJECTED)
            elif isinstance(event, CancelRejected):
                if order.status is OrderStatus.PENDING_CANCEL:
                    self._set_status(order, order.status_before_cancel or OrderStatus.ACCEPTED)
            self._bus.publish(event)
        except InvalidTransition as exc:
            log.warning("late or duplicate venue report ignored: %s (%r)", exc, event)

    def _on_fill(self, order: Order, fill: OrderFilled) -> None:
        fresh = self._store.record_fill({
            "venue": fill.venue, "trade_id": fill.trade_id, "client_order_id": fill.client_order_id,
            "symbol": fill.symbol, "side": fill.side.value, "price": fill.price, "quantity": fill.quantity,
            "fee": fill.fee, "fee_currency": fill.fee_currency, "liquidity": fill.liquidity, "ts": fill.ts})
        if not fresh:
            log.info("duplicate fill %s/%s ignored", fill.venue, fill.trade_id)
            return
        if order.venue_order_id is None:
            order.venue_order_id = fill.venue_order_id
        order.apply_fill(fill.price, fill.quantity, fill.fee)
        self._persist(order)
        self._bus.publish(fill)
        self._changed(order)

    # ----------------------------------------------------------------------------------------- internals
    def _new_order(self, cmd: SubmitOrder) -> Order:
        now = self._clock.now_ms()
        return Order(cmd.client_order_id, cmd.symbol, cmd.venue, cmd.side, cmd.order_type, cmd.quantity,
                     cmd.price, cmd.actor, created_ts=now, updated_ts=now)

    def _set_status(self, order: Order, status: OrderStatus) -> None:
        order.transition(status)
        self._persist(order)
        self._changed(order)

    def _persist(self, order: Order) -> None:
        order.updated_ts = self._clock.now_ms()
        self._store.update_order(order.client_order_id, order.status.value, order.filled_qty, order.avg_price,
                                 order.venue_order_id, order.reason, order.updated_ts)

    def _changed(self, order: Order) -> None:
        if order.status.is_working:
            self.working[order.client_order_id] = order
        else:
            self.working.pop(order.client_order_id, None)
        self.version += 1
        self._bus.publish(OrderUpdated(order.client_order_id, order.status, order.filled_qty, order.avg_price,
                                       order.updated_ts))
