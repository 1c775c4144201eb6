"""The order emulator: stops and trailing stops kept by Kestrel where the venue does not keep them.

An emulated stop is an order like any other: one journal row, one client order id from arming to the venue
(docs/design/issue20-orders.md, section 3).

ARM       the gate approves the stop (``PreTradeChecks.shape`` decides native or emulated) and the
          ExecutionEngine journals it ARMED; only once that row is committed does ``arm`` put its trigger in
          the ``TriggerBook`` of its instrument and price series (``last`` trades; ``bid`` for a sell and ``ask``
          for a buy stop triggered on bid/ask). An unjournaled trigger can never fire.
FIRE      every trade print (and every book, for bid/ask triggers) goes to its book: O(1) when nothing fires,
          whatever the number armed. A fired trigger becomes a MARKET order (a stop, a trailing stop) or a
          LIMIT (a stop-limit at its limit; a trailing stop-limit at its trigger -/+ its offset), for what is
          left to fill, or, reduce-only, for no more than the position it protects. That order passes the
          trading states and the pre-trade checks again (``RiskEngine.check_fire``): approved, it is journaled
          as fired (``triggered_ts``, ``trigger_print``) and sent at once, under the same id; refused (HALTED,
          a limit), it is DENIED and a critical alarm says the position may be unprotected.
DISARM    a cancel, a kill (``cancel_all``), a strategy's stop, a flatten: the trigger leaves its book at once.
RESTART   ARMED rows are armed again when the engine starts, in arming order, trailing stops at their
          journaled water mark (written at most every 0.25 s: after a crash a trail resumes from a mark at most
          that old, which leaves it at most that much looser, never tighter). Started HALTED, nothing is armed:
          the rows are canceled, saying so. A stop that fired and was journaled but not yet sent when Kestrel
          stopped is never sent again (the house rule): reconciliation closes it and a critical alarm names it.
"""
from __future__ import annotations

import logging
from typing import Any

from app.engine.core.messages import (
    Alert, BookSnapshot, Emulation, OrderDenied, OrderRejected, OrderStatus, OrderType, Side, SubmitOrder, TradeTick,
    TradingState, TriggerSource,
)
from app.engine.core.triggers import TriggerBook
from app.engine.oms.orders import Order

log = logging.getLogger("kestrel.emulator")
BUY = Side.BUY


class OrderEmulator:
    """Keeps the armed triggers of the ExecutionEngine (``execution.armed``) in trigger books and fires them."""

    def __init__(self, bus: Any, execution: Any, risk: Any, instruments: Any, portfolio: Any,
                 market: Any) -> None:
        self.bus, self.execution, self.risk = bus, execution, risk
        self._said: list | None = None  # the fire log lines of a batch of fires, said once it is sent
        self.instruments, self.portfolio, self.market = instruments, portfolio, market
        self.clock = risk.clock
        self._last: dict[str, TriggerBook] = {}  # symbol -> the book of its trade prints
        self._bid: dict[str, TriggerBook] = {}  # symbol -> sell stops on the bid
        self._ask: dict[str, TriggerBook] = {}  # symbol -> buy stops on the ask
        self._where: dict[str, TriggerBook] = {}  # armed id -> its book
        self.fires = 0
        # OrderGroups: may hold a bracket child's fire while its sibling's order at the venue is canceled, and
        # sizes it (orders/groups.py); True = held
        self.hold: Any = None
        execution.on_armed = self.arm
        execution.on_disarm = self.disarm
        risk.commands.move_armed = self.move
        bus.subscribe(TradeTick, self.on_trade)
        bus.subscribe(BookSnapshot, self.on_book)
        bus.subscribe(OrderRejected, self.on_rejected)
        self.fallback = False  # settings.orders.fallback_to_emulation (the kernel sets it)
        self._restore()

    # ------------------------------------------------------------------------------------------ arming
    def _restore(self) -> None:
        armed = sorted(self.execution.armed.values(), key=lambda o: (o.created_ts, o.client_order_id))
        if not armed:
            return
        if self.risk.state is TradingState.HALTED:
            self.execution.disarm_all(reason=f"disarmed: trading is HALTED ({self.risk.state_reason})")
            self.execution.commit_states()
            log.warning("started HALTED: %d armed stop(s) disarmed", len(armed))
            return
        for order in armed:
            self.arm(order)
        log.info("%d stop(s) armed again from the journal", len(armed))

    def arm(self, order: Order) -> None:
        """Put a journaled ARMED order's trigger in its book."""
        cid, symbol = order.client_order_id, order.symbol
        buy = order.side is BUY
        if order.trigger_source is TriggerSource.BID_ASK:
            books = self._ask if buy else self._bid
        else:
            books = self._last
        book = books.get(symbol)
        if book is None:
            book = books[symbol] = TriggerBook()
            start = self._price_now(symbol, books)
            if start is not None:  # trailing stops trail from the market now, not from the next print
                book.on_price(start)
        if order.role == "TP":  # a take-profit is touched from the other side: a sell one when the market rises
            book.arm_fixed(cid, "down" if buy else "up", order.trigger_price)
        elif order.order_type.is_trailing:
            pct = None if order.trail_pct is None else order.trail_pct / 100.0
            book.arm_trailing(cid, "buy" if buy else "sell", distance=order.trail_amount, pct=pct,
                              activation=order.trigger_price, ref=order.trail_ref)
            mark = book.water_mark(cid)
            if mark is not None and mark != order.trail_ref:  # the mark it starts from is journaled too (the
                order.trail_ref = mark  # book reports only later moves): a restart resumes from it, not looser
                self.execution.persist(order)
        else:
            book.arm_fixed(cid, "up" if buy else "down", order.trigger_price)
        self._where[cid] = book

    def move(self, order: Order, trigger: float, price: float | None, quantity: float) -> None:
        """An armed stop moved in place (``RiskCommands`` checked it): journaled first, then re-keyed in its book
        (a crash in between arms the new trigger, never the old one)."""
        order.trigger_price, order.price, order.quantity = trigger, price, quantity
        order.reason = f"armed in Kestrel at {trigger:g} (moved): it fires only while this terminal runs"
        self.execution.persist(order, notify=True)
        self.execution.commit_states()
        book = self._where.get(order.client_order_id)
        if book is not None:
            book.modify(order.client_order_id, trigger)

    def disarm(self, order: Order) -> None:
        book = self._where.pop(order.client_order_id, None)
        if book is not None:
            book.cancel(order.client_order_id)

    def trigger_of(self, order: Order) -> float | None:
        """Where an armed stop fires now (a trailing stop's moving trigger; None while it waits to activate)."""
        book = self._where.get(order.client_order_id)
        if book is None:
            return None
        return book.trigger_of(order.client_order_id)

    def _price_now(self, symbol: str, books: dict) -> float | None:
        st = self.market.symbols.get(symbol)
        if st is None:
            return None
        if books is self._last:
            return st.last or None
        if st.book is None:
            return None
        return st.book.best_bid if books is self._bid else st.book.best_ask

    # ------------------------------------------------------------------------------------------ prints
    def on_trade(self, tick: TradeTick) -> None:
        book = self._last.get(tick.symbol)
        if book is None:
            return
        fired = book.on_price(tick.price)
        if fired:
            self._fire_all(book, fired, tick.price, tick.ts)
        elif book.moved:
            self.execution.version += 1  # a trailing stop's trigger moved: the views show it

    def on_book(self, snap: BookSnapshot) -> None:
        if not self._bid and not self._ask:
            return
        book = self._bid.get(snap.symbol)
        if book is not None and snap.bids:
            fired = book.on_price(snap.bids[0][0])
            if fired:
                self._fire_all(book, fired, snap.bids[0][0], snap.ts)
        book = self._ask.get(snap.symbol)
        if book is not None and snap.asks:
            fired = book.on_price(snap.asks[0][0])
            if fired:
                self._fire_all(book, fired, snap.asks[0][0], snap.ts)

    def _fire_all(self, book: TriggerBook, fired: list, price: float, ts: int) -> None:
        """Fire the stops one print reached. The first is sent at once; the others are checked, then committed in
        one journal commit and sent together (``ExecutionEngine.batch``), their log lines after: one commit
        instead of one per stop, so the last of 50 at one level leaves a few milliseconds after the print, not
        12-20 (docs/BENCHMARKS.md)."""
        self._fire_one(fired[0], price, ts, book.fired_at)  # the first goes out at once, alone
        if len(fired) == 1:
            return
        execution = self.execution
        self._said = []  # their log lines wait until they are sent
        try:
            with execution.batch():
                for cid in fired[1:]:
                    self._fire_one(cid, price, ts, book.fired_at)
            execution.flush()
        finally:
            said, self._said = self._said, None
            for args in said:
                log.info(*args)

    def _fire_one(self, cid: str, price: float, ts: int, triggers: dict) -> None:
        self._where.pop(cid, None)
        try:
            self._fire(cid, price, ts, triggers.get(cid, price))
        except Exception:  # noqa: BLE001 - one stop's failure must not keep the others from firing
            log.exception("stop %s could not be fired", cid)
            order = self.execution.orders.get(cid)
            if order is not None and order.status is OrderStatus.ARMED:
                self._refuse(order, "FIRE_ERROR", "Kestrel failed while firing it (see the log)", price, ts)

    def _fire(self, cid: str, price: float, ts: int, trigger: float) -> None:
        order = self.execution.orders.get(cid)
        if order is None or order.status is not OrderStatus.ARMED:
            return
        if order.list_id is not None and self.hold is not None and self.hold(order, price, ts, trigger):
            return
        self.fires += 1
        now = self.clock.now_ms()
        inst = self.instruments.get(order.symbol)
        qty = order.leaves_qty
        if order.reduce_only:  # never more than the position it protects
            pos = self.portfolio.positions.get(order.symbol)
            held = pos.quantity if pos is not None else 0.0
            reducible = -held if order.side is BUY else held
            qty = min(qty, inst.round_qty_down(reducible) if reducible > 0 and inst is not None else 0.0)
            if qty <= 0:
                self.execution.disarm_all(lambda o: o is order, reason=f"fired at {price:g} with no position left to "
                                          f"protect: nothing sent")
                return
        if qty <= 1e-12:
            self.execution.disarm_all(lambda o: o is order, reason=f"fired at {price:g} with nothing left to fill: "
                                      f"nothing sent")
            return
        otype = order.order_type
        limit = None
        if otype is OrderType.STOP_LIMIT or otype is OrderType.LIMIT:  # a stop-limit; a take-profit
            limit = order.price
        elif otype is OrderType.TRAILING_STOP_LIMIT:
            off = order.limit_offset or 0.0
            raw = trigger + off if order.side is BUY else trigger - off
            limit = _on_tick(raw, inst, order.side)
        cmd = SubmitOrder(cid, order.symbol, order.venue, order.side,
                          OrderType.LIMIT if limit is not None else OrderType.MARKET, qty, limit, order.actor,
                          reduce_only=order.reduce_only, ts=now)
        try:
            denial = self.risk.check_fire(cmd, price)
        except Exception as exc:  # noqa: BLE001 - a rule that raises refuses the fire, loudly
            log.exception("risk check failed on the fire of %s", cid)
            self._refuse(order, "RISK_CHECK_ERROR", f"a risk check failed ({exc!r})", price, ts)
            return
        if denial is not None:
            self._refuse(order, denial.reason, denial.message, price, ts, denial)
            return
        self.execution.release(order, limit, order.filled_qty + qty, price, ts, trigger)
        said = ("stop %s %s %g %s fired at %g", cid, order.side.value, qty, order.symbol, price)
        if self._said is not None:
            self._said.append(said)  # after the batch is sent
        else:
            log.info(*said)  # after release: ~50 µs

    def on_rejected(self, ev: OrderRejected) -> None:
        """A venue refused a native stop. With ``fallback`` (and not for funds or a rate limit, which emulation
        would not cure) Kestrel places it again as its own, under a new id, and says so; without, it says how."""
        order = self.execution.orders.get(ev.client_order_id)
        if order is None or order.emulated or not order.order_type.is_triggered or order.list_id is not None:
            return
        why = ev.reason.lower()
        curable = not any(w in why for w in ("fund", "balance", "rate limit", "too many", "insufficient"))
        now = self.clock.now_ms()
        name = order.order_type.value.lower().replace("_", " ")
        if not (self.fallback and curable):
            hint = ("set orders.fallback_to_emulation in settings.json to let Kestrel keep such stops, or place it "
                    "again with 'Stop on: emulated'") if curable else "emulation would not change that"
            self.bus.publish(Alert("critical", f"{order.venue} refused stop {order.client_order_id}",
                                   f"{order.venue} refused the {order.described} ({ev.reason}); nothing protects "
                                   f"what it was for: {hint}.", now))
            return
        cid = f"{order.client_order_id}e"
        self.bus.publish(SubmitOrder(cid, order.symbol, order.venue, order.side, order.order_type, order.quantity,
                                     order.price, order.actor, reduce_only=order.reduce_only, ts=now,
                                     trigger_price=order.trigger_price, trigger_source=order.trigger_source,
                                     trail_amount=order.trail_amount, trail_pct=order.trail_pct,
                                     limit_offset=order.limit_offset, emulation=Emulation.EMULATED))
        placed = self.execution.orders.get(cid)
        ok = placed is not None and placed.status is OrderStatus.ARMED
        then = (f"Kestrel keeps it instead as {cid} (emulated): it fires only while this terminal runs." if ok else
                f"Kestrel could not keep it either ({placed.reason if placed else 'not placed'}).")
        self.bus.publish(Alert("warning" if ok else "critical", f"{order.venue} refused stop {order.client_order_id}",
                               f"{order.venue} refused the native {name} ({ev.reason}); {then}", now))

    def fire_held(self, order: Order, price: float, ts: int, trigger: float) -> None:
        """Fire a bracket child whose fire was held (its sibling's order at the venue has ended)."""
        if order.status is OrderStatus.ARMED:
            self._fire(order.client_order_id, price, ts, trigger)

    def _refuse(self, order: Order, code: str, message: str, price: float, ts: int, denial: Any = None) -> None:
        self.execution.deny_fire(order, f"fired at {price:g} and refused: {code}: {message}", ts, price)
        now = self.clock.now_ms()
        self.bus.publish(OrderDenied(order.client_order_id, order.symbol, code, message,
                                     getattr(denial, "limit", ""), getattr(denial, "observed", ""), order.actor, now))
        pos = self.portfolio.positions.get(order.symbol)
        held = f"The position is {pos.quantity:g}" if pos is not None and pos.quantity else "There is no position"
        self.bus.publish(Alert("critical", f"Stop {order.client_order_id} refused when it fired",
                               f"The {order.described} fired at {price:g} and was refused: {code} "
                               f"({message}). {held}: it is not protected by this stop any more.", now))

    # ------------------------------------------------------------------------------------------ journal
    def persist_trails(self) -> int:
        """Stage the water marks that moved (``trail_ref``) for the next commit; how many. Called every
        0.25 s (``RiskEngine.tick`` commits them)."""
        n = 0
        orders = self.execution.orders
        for book in list(self._last.values()) + list(self._bid.values()) + list(self._ask.values()):
            for cid, h in book.take_moved():
                order = orders.get(cid)
                if order is not None and order.status is OrderStatus.ARMED:
                    order.trail_ref = h
                    self.execution.persist(order)
                    n += 1
        return n


def _on_tick(price: float, inst: Any, side: Side) -> float:
    """A limit on the tick grid, rounded the way that keeps it no worse than asked (a sell's down, a buy's up)."""
    if inst is None:
        return price
    tick = inst.tick_size
    steps = price / tick
    n = int(steps) if side is not BUY else -int(-steps)
    if abs(steps - round(steps)) < 1e-9:
        n = round(steps)
    return round(n * tick, inst.price_decimals)
