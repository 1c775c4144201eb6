"""ExecutionEngine: the only component that sends to venue adapters.

It receives orders already approved by the RiskEngine, journals each one durably *before* sending it,
drives the order state machine from venue reports, de-duplicates fills by (venue, trade id), and
publishes what happened on the bus. Orders and cancels reach a venue only through it; the ``VenueManager``
(``kernel.venues``) registers adapters with it and owns their lifecycle (start, close), never their orders.

GROUP COMMIT  An approved order counts toward every limit at once (it is in ``working`` and booked in
              ``exposure``), its journal row is staged and it waits in the outbox. Venue reports wait in the
              inbox. ``flush`` runs when the outermost bus dispatch ends (a click, a tick, and every order
              the strategies sent in reaction to it), or at once when nothing is being dispatched:
                1. one SQLite commit: the journal rows of every waiting order, and the fill rows of every
                   waiting report (duplicates by (venue, trade_id) are found by that same insert);
                2. every waiting order is sent;
                3. only then are events published (OrderSubmitted, OrderUpdated) and the waiting reports
                   applied, in arrival order (order states; positions move when OrderFilled is published);
                4. again while handlers caused more.
              Order-state rows (acks, cancels, fill totals, denials) ride along with the next commit, or
              ``commit_states`` (RiskEngine.tick, every 0.25 s; reads of the store; close).
              Nothing reaches a venue before its journal row is committed; no fill moves a position, or is
              seen by anyone, before its row is committed. ``batch()`` groups commands issued outside a
              dispatch (flatten, kill). Cancels go out at once: a cancel only reduces risk, and its
              PENDING_CANCEL row follows in the same unit's commit.
CRASHES       What a crash (or kill -9) at each point loses: docs/ARCHITECTURE.md, "Order journal".
"""
from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import replace
from typing import Any, Iterable, Iterator

from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock
from app.engine.core.instruments import split_id
from app.engine.core.messages import (
    Alert, AmendRejected, CancelRejected, OrderAccepted, OrderAmended, OrderCanceled, OrderFilled, OrderRejected,
    OrderStatus, OrderSubmitted, OrderUpdated, SubmitOrder,
)
from app.engine.core.store import Store
from app.engine.oms.exposure import WorkingExposure
from app.engine.oms.orders import InvalidTransition, Order
from app.engine.venues.base import VenueAdapter, VenueOrder, venue_id
from app.engine.venues.events import OrderNote, OrderStatusUnknown

log = logging.getLogger("kestrel.execution")
S = OrderStatus


class ExecutionEngine:
    def __init__(self, bus: MessageBus, store: Store, clock: Clock) -> None:
        self._bus = bus
        self._store = store
        self._clock = clock
        self._venues: dict[str, VenueAdapter] = {}
        self.orders: dict[str, Order] = {}
        self.working: dict[str, Order] = {}  # index of non-terminal orders
        self.exposure = WorkingExposure()  # running totals over ``working``: what the limits read
        self._outbox: dict[str, Order] = {}  # approved, journal row staged, not sent yet
        self.armed: dict[str, Order] = {}  # emulated triggers, journaled ARMED, in the emulator's books
        self._arming: dict[str, Order] = {}  # approved emulated triggers, journal row staged, not armed yet
        self.waiting: dict[str, Order] = {}  # bracket children waiting for their entry to fill (orders/groups.py)
        # the emulator (orders/emulator.py): told when a trigger's ARMED row is committed, and when one is
        # canceled; until it is wired nothing is armed
        self.on_armed: Any = None
        self.on_disarm: Any = None
        self._inbox: list[Any] = []  # venue reports not applied yet
        self._notes: list[Order] = []  # "order changed" notifications held while a batch is open
        self._hold = 0  # > 0 inside ``batch()``: nothing is flushed until it ends
        self._flushing = False
        self.journal_failures = 0
        self.version = 0  # bumps on every order change: views repaint when it moves
        # moves in flight (ModifyOrder): the old order's id -> (the held new order, the old order's filled
        # quantity when the move was asked)
        self._replacing: dict[str, tuple[Order, float]] = {}
        self.instruments: Any = None  # the kernel's InstrumentTable: a move's quantity stays on the lot
        held = []
        for row in store.orders():
            order = Order.from_row(row)
            self.orders[order.client_order_id] = order
            if order.status.is_working:
                self._track(order)
            elif order.status is S.ARMED:
                self.armed[order.client_order_id] = order  # the emulator re-arms them (or disarms: HALTED)
            elif order.status is S.WAITING:
                self.waiting[order.client_order_id] = order  # bracket children: OrderGroups resumes them
            elif order.status is S.PENDING_REPLACE:
                held.append(order)
        for order in held:  # a move a restart interrupted: never sent, so never both working
            order.reason = (f"not sent: Kestrel stopped while {order.replaces} was being canceled for this move; "
                            f"check that order and place it again if you still want it")
            self._set_status(order, S.CANCELED)
        self._catch_up_from_fills()

    # ------------------------------------------------------------------------------------------- venues
    def add_venue(self, adapter: VenueAdapter) -> None:
        self._venues[adapter.name] = adapter

    def venue_names(self) -> list[str]:
        return list(self._venues)

    def reconcile(self, venue: str) -> list[str]:
        """Compare journaled working orders with what the venue reports open.

        Orders we think working that the venue does not know are closed as CANCELED with the reason, so
        they stop counting toward limits (an order journaled but never sent, e.g. a crash between journal
        and send, ends here: it is never re-sent), with the venue's ``reconcile_reason`` if it has one (a
        paper venue's orders end with its session). While the venue is disconnected nothing can be known:
        the orders stay working and keep counting toward limits. Returns a line per difference.
        """
        adapter = self._venues[venue]
        with self.batch():
            if not adapter.connected:
                for order in list(self.working.values()):
                    unsent = order.client_order_id in self._outbox
                    if order.venue == venue and order.status is S.SUBMITTED and not unsent:
                        order.reason = "sent before a restart or disconnect; not yet confirmed by the venue"
                        self._set_status(order, S.UNKNOWN)
                return [f"{venue} is disconnected: {sum(o.venue == venue for o in self.working.values())} "
                        f"order(s) stay unresolved and keep counting toward limits"]
            venue_open = {o.client_order_id: o for o in adapter.open_orders()}
            reason = getattr(adapter, "reconcile_reason", "") or "not open at the venue on reconnect"
            notes = []
            for order in list(self.working_orders()):
                cid = order.client_order_id
                if order.venue != venue or cid in venue_open or cid in self._outbox:
                    continue
                was = order.status.value
                order.reason = reason
                self._set_status(order, S.CANCELED)
                notes.append(f"{cid} {order.symbol}: was {was}, the venue has no such open order; marked canceled")
                if order.fired:
                    self._lost_fire(order)
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
        order.status = S.DENIED
        order.reason = reason
        self.orders[order.client_order_id] = order
        self._store.stage_order(order.journal_row())
        self.version += 1
        self._notify(order)
        self._schedule()
        return order

    def execute(self, cmd: SubmitOrder, emulated: bool = False) -> Order:
        """Take an order the RiskEngine approved: it counts toward limits now, is journaled and sent at the
        end of this dispatch (``flush``), in one commit with every other order of the burst. One that
        ``replaces`` a working order (a move) is journaled and held (PENDING_REPLACE) while the old one is
        canceled, and sent only once that cancel is confirmed (``_resolve_move``). An ``emulated`` trigger is
        journaled ARMED and handed to the emulator once that row is committed; nothing is sent until it
        fires (``release``)."""
        order = self._new_order(cmd)
        cid = order.client_order_id
        self.orders[cid] = order
        if emulated:
            order.emulated = True
            order.status = S.ARMED
            order.reason = "armed in Kestrel: it fires only while this terminal runs"
            self._store.stage_order(order.journal_row())
            self._arming[cid] = order
            self._schedule()
            return order
        old = self.orders.get(cmd.replaces) if cmd.replaces else None
        if cmd.replaces:
            order.replaces = cmd.replaces
            order.status = S.PENDING_REPLACE
            self._store.stage_order(order.journal_row())
            self.version += 1
            self._notify(order)
            if old is None or not old.status.is_working:
                self._end_move(order, f"not sent: {cmd.replaces} was no longer working when the move arrived")
                self._schedule()
                return order
            self._replacing[old.client_order_id] = (order, old.filled_qty)
            old.replaced_by = cid
            self._persist(old)
            if not self.cancel(old.client_order_id):
                self._resolve_move(old)
            self._schedule()
            return order
        order.status = S.SUBMITTED
        self._track(order)
        self._store.stage_order(order.journal_row())
        self._outbox[cid] = order
        self._schedule()
        return order

    def is_moving(self, client_order_id: str) -> bool:
        """A move of this order is in flight: its replacement waits for its cancel."""
        return client_order_id in self._replacing

    def _resolve_move(self, old: Order) -> None:
        """The old order of a move changed: canceled -> send the held new one, less what the old one filled
        since the move was asked; filled, rejected, unknown, or still working after a refused cancel -> the
        new one is canceled, saying why. Nothing else happens while the cancel is pending."""
        entry = self._replacing.get(old.client_order_id)
        if entry is None or old.status is S.PENDING_CANCEL:
            return
        new, filled_then = entry
        del self._replacing[old.client_order_id]
        if new.status is not S.PENDING_REPLACE:
            return
        if old.status is S.CANCELED:
            late = old.filled_qty - filled_then
            if late > 1e-12:
                inst = self.instruments.get(new.symbol) if self.instruments is not None else None
                qty = inst.round_qty_down(new.quantity - late) if inst is not None else new.quantity - late
                if qty <= 1e-12:
                    self._end_move(new, f"not sent: {old.client_order_id} filled {old.filled_qty:g} before its "
                                        f"cancel, nothing is left to move")
                    return
                new.quantity = qty
                new.reason = (f"{old.client_order_id} filled {late:g} more before its cancel: moved "
                              f"{new.quantity:g}")
            new.transition(S.SUBMITTED)
            self._persist(new)
            self._track(new)
            self._outbox[new.client_order_id] = new
            self._schedule()
            return
        if old.status is S.FILLED:
            why = f"not sent: {old.client_order_id} filled before its cancel reached the venue"
        elif old.status.is_working and old.status is not S.UNKNOWN:
            why = f"not sent: the venue refused to cancel {old.client_order_id}, which still works at its price"
        else:
            why = f"not sent: {old.client_order_id} ended {old.status.value.lower()} ({old.reason})"
        self._end_move(new, why)

    def _end_move(self, new: Order, why: str) -> None:
        new.reason = why
        self._set_status(new, S.CANCELED)
        self._bus.publish(OrderCanceled(new.client_order_id, new.symbol, why, new.updated_ts))

    def release(self, order: Order, price: float | None, quantity: float, trigger_print: float, ts: int,
                trigger: float) -> None:
        """An armed trigger fired and the gate approved the order it becomes (``price``: a stop-limit's limit):
        ARMED -> SUBMITTED with when and at what it fired, and sent at once (``flush`` now, not when this
        dispatch ends: no strategy's handler of the same print delays a stop)."""
        self.armed.pop(order.client_order_id, None)
        order.triggered_ts, order.trigger_print = ts, trigger_print
        order.price, order.quantity = price, quantity
        order.reason = f"fired at {trigger_print:g} (trigger {trigger:g})"
        order.transition(S.SUBMITTED)
        self._persist(order)
        self._track(order)
        self._outbox[order.client_order_id] = order
        self.flush()
        self._schedule()

    def deny_fire(self, order: Order, reason: str, ts: int, trigger_print: float) -> None:
        """An armed trigger fired and the gate refused the order it becomes: DENIED, never sent."""
        self.armed.pop(order.client_order_id, None)
        order.triggered_ts, order.trigger_print = ts, trigger_print
        order.reason = reason
        self._set_status(order, S.DENIED)
        self._schedule()

    def armed_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders Kestrel keeps: armed triggers and bracket children waiting for their entry."""
        return [o for o in (*self.armed.values(), *self.waiting.values()) if symbol is None or o.symbol == symbol]

    def hold_child(self, cmd: SubmitOrder, parent_id: str | None, reason: str) -> Order:
        """A bracket child the gate approved with its entry: journaled WAITING (with the entry, in one commit),
        armed by ``arm_waiting`` once the entry has filled enough to protect."""
        order = self._new_order(cmd)
        order.emulated, order.parent_id, order.reason = True, parent_id, reason
        order.status = S.WAITING
        self.orders[order.client_order_id] = order
        self.waiting[order.client_order_id] = order
        self._store.stage_order(order.journal_row())
        self.version += 1
        self._notify(order)
        self._schedule()
        return order

    def arm_waiting(self, order: Order, reason: str) -> None:
        """WAITING -> ARMED: journaled, then handed to the emulator (as any emulated trigger)."""
        self.waiting.pop(order.client_order_id, None)
        order.transition(S.ARMED)
        order.reason = reason
        self._persist(order)
        self._arming[order.client_order_id] = order
        self._schedule()

    def amend(self, order: Order, price: float, quantity: float) -> bool:
        """Ask the order's venue to change it in place (the gate checked the amended order); the answer comes as
        ``OrderAmended`` (applied: the new price and quantity, journaled) or ``AmendRejected`` (it works as it
        was). False when its venue cannot amend (it, or this order: ``can_amend``)."""
        adapter = self._venues.get(order.venue)
        if adapter is None or not hasattr(adapter, "amend"):
            return False
        can = getattr(adapter, "can_amend", None)  # a venue that amends some orders only (ccxt: unfilled limits)
        if can is not None and not can(order.client_order_id):
            return False
        order.reason = f"amending to {quantity:g} @ {price:g}…"
        self.version += 1
        self._notify(order)
        try:
            adapter.amend(order.client_order_id, price, quantity)
        except Exception:  # noqa: BLE001 - a broken adapter: the order works as it was
            log.exception("venue %s failed to take the amend of %s", order.venue, order.client_order_id)
            order.reason = "the venue adapter failed to take the amend; the order works as it was"
            return False
        self._schedule()
        return True

    def persist(self, order: Order, notify: bool = False) -> None:
        """Stage an order's changed fields (an armed trigger's water mark or new trigger) for the next commit;
        ``notify``: and publish that it changed."""
        self._persist(order)
        self.version += 1
        if notify:
            self._notify(order)

    def cancel(self, client_order_id: str) -> bool:
        """Send a cancel now (never held back). An order still waiting to be sent is never sent; an armed
        trigger is disarmed at once (nothing to ask a venue)."""
        order = self.orders.get(client_order_id)
        if order is not None and order.status in (S.ARMED, S.WAITING):
            return self._disarm(order, "canceled" if order.client_order_id in self.armed else
                                "canceled before it was armed")
        if order is None or not order.status.is_working:
            return False
        if self._outbox.pop(client_order_id, None) is not None:
            order.reason = "canceled before it was sent"
            self._set_status(order, S.CANCELED)
            self._bus.publish(OrderCanceled(client_order_id, order.symbol, order.reason, order.updated_ts))
            self._schedule()
            return True
        pending = order.status is not S.UNKNOWN
        if pending:
            order.transition(S.PENDING_CANCEL)
            self._persist(order)
        adapter = self._venues.get(order.venue)
        if adapter is not None:
            try:
                adapter.cancel(client_order_id)
            except Exception:  # noqa: BLE001 - a broken adapter must not stop a kill's other cancels
                log.exception("venue %s failed to take the cancel of %s; it will be retried", order.venue,
                              client_order_id)
        if pending:
            self.version += 1
            self._notify(order)
        self._schedule()
        return True

    def cancel_all(self, predicate=None) -> list[str]:
        """Send every cancel first; venue reports that come back meanwhile (a zero-latency venue answers
        inside ``cancel``) and the PENDING_CANCEL notifications wait until the last cancel is out, so no
        subscriber, however slow, can delay a cancel behind another order's events. Armed triggers the
        predicate takes are disarmed too (``disarm_all``), after the venue cancels are out."""
        sent = []
        with self.batch():
            for order in list(self.working.values()):
                if predicate is None or predicate(order):
                    if self.cancel(order.client_order_id):
                        sent.append(order.client_order_id)
            self.disarm_all(predicate)
        return sent

    def disarm_all(self, predicate=None, reason: str = "canceled") -> list[str]:
        """Disarm every armed trigger ``predicate`` takes (all: None), at once; the ids."""
        gone = [o for o in [*self.armed.values(), *self._arming.values(), *self.waiting.values()]
                if predicate is None or predicate(o)]
        for order in gone:
            self._disarm(order, reason)
        return [o.client_order_id for o in gone]

    def _disarm(self, order: Order, reason: str) -> bool:
        cid = order.client_order_id
        if self.armed.pop(cid, None) is not None and self.on_disarm is not None:
            self.on_disarm(order)
        self._arming.pop(cid, None)  # approved but not committed: its row commits as CANCELED
        self.waiting.pop(cid, None)
        order.reason = reason
        self._set_status(order, S.CANCELED)
        self._bus.publish(OrderCanceled(cid, order.symbol, reason, order.updated_ts))
        self._schedule()
        return True

    def _lost_fire(self, order: Order) -> None:
        """A fired stop the venue no longer lists open after a restart: Kestrel stopped after the fire was
        journaled and before the venue confirmed the order, so it may never have arrived, or may have filled (or
        part of it) while Kestrel was down. It is never re-sent by itself; a person decides (a stop sent minutes
        late at market can be wrong)."""
        filled = f" ({order.filled_qty:g} of it filled)" if order.filled_qty else ""
        self._bus.publish(Alert("critical", f"Stop {order.client_order_id} was lost",
                                f"The {order.described} fired at {order.trigger_print:g}{filled}, and "
                                f"Kestrel stopped before {order.venue} confirmed it; {order.venue} does not list it "
                                f"open now (it never arrived, or it filled while Kestrel was down). It is not sent "
                                f"again. The position it protected may be unprotected: check the position and the "
                                f"venue's trade history, and place a new stop or close it.", self._clock.now_ms()))

    @property
    def busy(self) -> bool:
        """Inside a flush or a ``batch()``: what is asked now is applied only when that ends."""
        return self._flushing or bool(self._hold)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold sends of new orders, report processing and notifications until the block ends, then flush
        once: one commit for every order submitted inside (e.g. the flatten of several positions)."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
            self._schedule()

    # ------------------------------------------------------------------------------------------ reports
    def on_report(self, event: Any) -> None:
        """Venue reports for our orders arrive here (never straight on the bus). They are applied by
        ``flush`` after their fills are committed: at once, unless a dispatch or a batch is running."""
        self._inbox.append(event)
        self._schedule()

    # ------------------------------------------------------------------------------------ group commit
    def flush(self) -> None:
        """Commit, send, then publish and apply; repeat while that caused more (see the module doc).
        Called by the bus when a dispatch ends; also by ``RiskEngine.tick`` to retry after a failed commit."""
        if self._flushing or self._hold:
            return
        self._flushing = True
        try:
            while self._outbox or self._inbox or self._notes or self._arming:
                if not self._commit_send_apply():
                    break
        finally:
            self._flushing = False

    def commit_states(self) -> None:
        """Commit staged order-state rows (acks, cancels, fill totals, denials) that no send or fill forced
        out yet. They are derived data: after a crash, ``_catch_up_from_fills`` and ``reconcile`` rebuild
        them from the fills and the venue. ``RiskEngine.tick`` calls this every 0.25 s."""
        try:
            self._store.commit()
        except sqlite3.Error:
            self.journal_failures += 1
            log.exception("order states could not be written to the journal; retrying later")

    def _commit_send_apply(self) -> bool:
        outbox, self._outbox = self._outbox, {}
        inbox, self._inbox = self._inbox, []
        arming, self._arming = self._arming, {}
        known = self.orders
        fills = [(i, e) for i, e in enumerate(inbox) if type(e) is OrderFilled and e.client_order_id in known]
        duplicates: set[int] | tuple = ()
        if outbox or fills or arming:  # a batch of acks/cancels only (nothing to send, no fill) needs no commit
            try:
                fresh = self._store.commit([_fill_row(e) for _, e in fills])
            except sqlite3.Error as exc:
                self._journal_failed(list(outbox.values()) + list(arming.values()), exc)
                self._inbox[:0] = inbox  # not applied: a fill moves nothing before it is durable
                return False
            if not all(fresh):
                duplicates = {i for (i, _), new in zip(fills, fresh) if not new}
        for order in outbox.values():
            self._send(order)
        for order in arming.values():  # journaled ARMED: only now can it fire
            self.armed[order.client_order_id] = order
            if self.on_armed is not None:
                self.on_armed(order)
            self.version += 1
            self._notify(order)
        publish = self._bus.publish
        for order in outbox.values():
            publish(OrderSubmitted(order.client_order_id, order.symbol, order.venue, order.created_ts))
            self._notify(order)
        notes, self._notes = self._notes, []
        for order in notes:
            self._notify(order)
        for i, event in enumerate(inbox):
            try:
                self._apply(event, i not in duplicates)
            except Exception:  # noqa: BLE001 - one bad report must not stop the others
                log.exception("venue report %r could not be applied", event)
        return True

    def _send(self, order: Order) -> None:
        adapter = self._venues.get(order.venue)
        if adapter is None:
            self._inbox.append(OrderRejected(order.client_order_id, order.symbol,
                                             f"no venue named {order.venue!r}", self._clock.now_ms()))
            return
        try:
            if order.emulated:  # a fired trigger: the venue gets the plain order it became
                sent = VenueOrder(order.client_order_id, split_id(order.symbol)[0], order.side, order.venue_type,
                                  order.quantity, order.price, order.tif)
            else:
                sent = VenueOrder(order.client_order_id, split_id(order.symbol)[0], order.side, order.order_type,
                                  order.quantity, order.price, order.tif, order.post_only, order.trigger_price,
                                  order.trail_amount, order.trail_pct, order.limit_offset,
                                  order.list_id if order.role in ("TP", "SL") else None)
            adapter.submit(sent)
        except Exception as exc:  # noqa: BLE001 - did it reach the venue? Unknown: never re-send, reconcile
            log.exception("venue %s failed while sending %s", order.venue, order.client_order_id)
            order.reason = f"the venue adapter failed while sending ({exc!r}); unknown until reconciled"
            self._set_status(order, S.UNKNOWN)

    def _journal_failed(self, orders: list[Order], exc: Exception) -> None:
        """The journal cannot be written: refuse to send (the rows stay staged for the next commit)."""
        self.journal_failures += 1
        log.error("order journal commit failed (%s): %d order(s) not sent", exc, len(orders))
        now = self._clock.now_ms()
        for order in orders:
            armed = order.status is S.ARMED
            order.reason = f"not {'armed' if armed else 'sent'}: the order journal could not be written ({exc})"
            order.transition(S.DENIED if armed else S.REJECTED)
            self._persist(order)
            self._track(order)
            self._bus.publish(OrderRejected(order.client_order_id, order.symbol, order.reason, now))
            self._notify(order)
        self._bus.publish(Alert("critical", "Order journal unavailable",
                                f"The order journal in {self._store.path} could not be written ({exc}). "
                                f"{len(orders)} order(s) were refused, not sent. Check the disk.", now))

    def _apply(self, event: Any, fresh: bool) -> None:
        order = self.orders.get(getattr(event, "client_order_id", ""))
        if order is None:
            log.warning("report for an unknown order ignored: %r", event)
            return
        if getattr(event, "symbol", order.symbol) != order.symbol:  # adapters name the venue's symbol
            event = replace(event, symbol=order.symbol)
        try:
            if type(event) is OrderFilled:
                if fresh:
                    self._on_fill(order, event)
                else:
                    log.info("duplicate fill ignored: %s %s", event.venue, event.trade_id)
                return
            if type(event) is OrderAccepted:
                if venue_id(event.venue_order_id) is None:  # journaled, every later request would name it
                    log.error("venue %s acknowledged %s without an order id (%r): ignored; the order stays "
                              "%s until the venue names it", order.venue, order.client_order_id,
                              event.venue_order_id, order.status.value)
                    return
                order.venue_order_id = venue_id(event.venue_order_id)
                if order.status in (S.SUBMITTED, S.UNKNOWN):
                    self._set_status(order, S.ACCEPTED)
                else:
                    self._persist(order)
            elif type(event) is OrderCanceled:
                order.reason = event.reason
                self._set_status(order, S.CANCELED)
            elif type(event) is OrderRejected:
                order.reason = event.reason
                self._set_status(order, S.REJECTED)
            elif type(event) is OrderAmended:
                if not order.status.is_working:
                    return
                order.price, order.quantity = event.price, max(event.quantity, order.filled_qty)
                order.reason = f"amended: {order.leaves_qty:g} @ {event.price:g}"
                self._persist(order)
                self._track(order)
                self._notify(order)
            elif type(event) is AmendRejected:
                order.reason = f"amend refused by the venue ({event.reason}); it works as it was"
                self.persist(order, notify=True)
            elif type(event) is CancelRejected:
                if order.status is S.PENDING_CANCEL:
                    self._set_status(order, order.status_before_cancel or S.ACCEPTED)
            elif type(event) is OrderStatusUnknown:  # a create went unanswered: reconciled, never re-sent
                order.reason = event.reason
                if order.status is not S.UNKNOWN:
                    self._set_status(order, S.UNKNOWN)
            elif type(event) is OrderNote:  # the venue's word on a working order: its reason, no new state
                if not order.status.is_working:
                    return
                order.reason = event.note
                self._persist(order)
                self.version += 1
                self._notify(order)
            self._bus.publish(event)
        except InvalidTransition as exc:
            log.warning("late or duplicate venue report ignored: %s (%r)", exc, event)

    def _on_fill(self, order: Order, fill: OrderFilled) -> None:
        if venue_id(order.venue_order_id) is None:
            order.venue_order_id = venue_id(fill.venue_order_id)
        order.apply_fill(fill.price, fill.quantity, fill.fee)
        self._persist(order)
        self._track(order)  # leaves shrink as the position grows (published next): exposure stays whole
        self._bus.publish(fill)
        self._notify(order)
        if self._replacing and order.status is S.FILLED and order.client_order_id in self._replacing:
            self._resolve_move(order)

    # ----------------------------------------------------------------------------------------- internals
    def _schedule(self) -> None:
        if not self._hold and not self._flushing:
            self._bus.call_when_idle(self.flush)

    def _catch_up_from_fills(self) -> None:
        """After a crash between a fill's commit and its order-state row, the fill is in the journal but the
        order row is behind: bring working orders up to their recorded fills (positions are rebuilt from the
        same fills, so orders and positions agree)."""
        totals = self._store.fill_totals(list(self.working))
        for cid, (qty, notional, fees) in totals.items():
            order = self.working[cid]
            if qty <= order.filled_qty + 1e-12:
                continue
            log.warning("order %s caught up from its journaled fills: filled %g -> %g", cid, order.filled_qty, qty)
            order.filled_qty, order.avg_price, order.fees = qty, notional / qty, fees
            try:
                if qty >= order.quantity - 1e-12:
                    order.transition(S.FILLED)
                elif order.status in (S.SUBMITTED, S.ACCEPTED, S.UNKNOWN):
                    order.transition(S.PARTIALLY_FILLED)
            except InvalidTransition:
                pass
            self._persist(order)
            self._track(order)
        self._store.commit()

    def _new_order(self, cmd: SubmitOrder) -> Order:
        now = self._clock.now_ms()
        return Order(cmd.client_order_id, cmd.symbol, cmd.venue, cmd.side, cmd.order_type, cmd.quantity,
                     cmd.price, cmd.actor, created_ts=now, updated_ts=now, trigger_price=cmd.trigger_price,
                     tif=cmd.tif, post_only=cmd.post_only, reduce_only=cmd.reduce_only,
                     trigger_source=cmd.trigger_source, trail_amount=cmd.trail_amount, trail_pct=cmd.trail_pct,
                     limit_offset=cmd.limit_offset, expire_ts=cmd.expire_ts, list_id=cmd.list_id, role=cmd.role)

    def _set_status(self, order: Order, status: OrderStatus) -> None:
        order.transition(status)
        self._persist(order)
        self._track(order)
        self._notify(order)
        if self._replacing and order.client_order_id in self._replacing:
            self._resolve_move(order)

    def _persist(self, order: Order) -> None:
        order.updated_ts = self._clock.now_ms()
        self._store.stage_order_update(order.client_order_id, order.status._value_, order.filled_qty,
                                       order.avg_price, order.venue_order_id, order.reason, order.updated_ts,
                                       order.quantity, order.replaced_by,
                                       (order.price, order.trigger_price, order.trail_ref, order.triggered_ts,
                                        order.trigger_print))

    def _track(self, order: Order) -> None:
        """Keep ``working`` and the exposure totals in step with the order's state."""
        if order.status.is_working:
            self.working[order.client_order_id] = order
        else:
            self.working.pop(order.client_order_id, None)
        self.exposure.book(order)
        self.version += 1

    def _notify(self, order: Order) -> None:
        if self._hold:
            self._notes.append(order)
            return
        self._bus.publish(OrderUpdated(order.client_order_id, order.status, order.filled_qty, order.avg_price,
                                       order.updated_ts))


def _fill_row(f: OrderFilled) -> tuple:
    """The row of the fills table, in ``store.FILL_COLUMNS`` order."""
    return (f.venue, f.trade_id, f.client_order_id, split_id(f.symbol)[0], f.side._value_, f.price, f.quantity,
            f.fee, f.fee_currency, f.liquidity, f.ts)
