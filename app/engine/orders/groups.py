"""Brackets and OCO: an entry's protection, or a position's, kept by Kestrel (issue 20, item 2).

A list is an ``order_lists`` row and its members (``Order.list_id``, ``Order.role``): a BRACKET is an ENTRY with a
TP (take-profit) and/or an SL (stop-loss); a position's protection (``ProtectPosition``) is an OCO of a TP and/or an
SL for a fixed quantity. The children are orders Kestrel keeps (emulated): the SL a stop, the TP a limit at its
price sent when the market touches it. The venue sees each only when it fires.

SIZE      one absolute rule, recomputed from journaled totals on every change (never a delta, so a duplicated or
          reordered report cannot mis-size it): what is left to protect = lot_floor(base - TP filled - SL filled),
          base being what the entry filled (or the position's quantity). Each open child protects that much: it
          waits (WAITING) until the entry has filled the venue's minimum, is armed for the entry's first fills,
          grows with later fills, and shrinks by what its sibling filled. An entry canceled after a partial fill
          leaves the protection for what did fill; one that ends unfilled cancels its children.
OCO       a child that ends FILLED ends the list: its sibling is disarmed and what is left of the entry canceled.
          A child that fires while its sibling's order works at the venue (a take-profit's limit resting, then the
          market falls through the stop) waits until that order's cancel is confirmed, then fires for what is left:
          the two never work at the venue at once, so the position is never closed twice.
GATE      a bracket is checked whole: the entry through every pre-trade check, the children's prices on the tick
          and on the right side (for a buy, stop-loss < entry < take-profit; BRACKET_SIDES), and the armed-stop
          limit. Refused, nothing of it is placed: the entry and the children are journaled DENIED with the reason.
          Each child passes the gate again, whole, when it fires (``RiskEngine.check_fire``).
RESTART   lists are rebuilt from the journal (members by ``list_id``); WAITING children resume, ARMED ones are
          re-armed by the emulator.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

from app.engine.core.messages import (
    CommandRefused, OrderDenied, OrderStatus, OrderType, OrderUpdated, PositionChanged, ProtectPosition, Side,
    SubmitBracket, SubmitOrder,
)
from app.engine.oms.orders import Order
from app.engine.risk.checks import Denial, _price_check

log = logging.getLogger("kestrel.groups")
S = OrderStatus
EPS = 1e-12


@dataclass
class OrderList:
    list_id: str
    kind: str  # BRACKET or OCO
    actor: str
    entry: str | None = None  # the entry's id (a bracket)
    fixed: float = 0.0  # an OCO's quantity (a position's protection)
    children: list[str] = field(default_factory=list)
    held: tuple | None = None  # (child id, print, ts, trigger): a fire waiting for its sibling's cancel
    done: bool = False


class OrderGroups:
    def __init__(self, bus: Any, execution: Any, risk: Any, emulator: Any, instruments: Any, portfolio: Any,
                 market: Any) -> None:
        self.bus, self.execution, self.risk, self.emulator = bus, execution, risk, emulator
        self.instruments, self.portfolio, self.market = instruments, portfolio, market
        self.clock = risk.clock
        self.lists: dict[str, OrderList] = {}
        self._of: dict[str, str] = {}  # member id -> list id
        emulator.hold = self.hold
        bus.subscribe(SubmitBracket, self.on_bracket)
        bus.subscribe(ProtectPosition, self.on_protect)
        bus.subscribe(OrderUpdated, self.on_update)
        bus.subscribe(PositionChanged, self.on_position)
        self._restore()

    # ------------------------------------------------------------------------------------------ reading
    def protection(self, symbol: str) -> tuple[Order | None, Order | None, float]:
        """A position's open protection: (its stop-loss, its take-profit, the quantity they protect)."""
        sl = tp = None
        qty = 0.0
        for lst in self.lists.values():
            if lst.done:
                continue
            for cid in lst.children:
                o = self.execution.orders[cid]
                if o.symbol != symbol or not o.status.is_open:
                    continue
                if o.role == "SL":
                    sl = o
                elif o.role == "TP":
                    tp = o
                qty = max(qty, o.leaves_qty if o.status is not S.WAITING else self._left(lst))
        return sl, tp, qty

    # ------------------------------------------------------------------------------------------ commands
    def on_bracket(self, cmd: SubmitBracket) -> None:
        entry = cmd.entry
        if "@" not in entry.symbol:
            from app.engine.core.instruments import make_id
            entry = replace(entry, symbol=make_id(entry.symbol, entry.venue))
        lid = cmd.list_id
        entry = replace(entry, list_id=lid, role="ENTRY")
        children = self._children(lid, entry, entry.quantity, cmd.take_profit, cmd.stop_loss, cmd.actor, cmd.trail)
        denial = self._check_children(entry, cmd.take_profit, cmd.stop_loss, len(children), entry_ref=True,
                                      trail=cmd.trail)
        if denial is not None:
            self.risk._deny(entry, denial)
            self._deny_children(children, f"its bracket was refused: {denial.reason}")
            return
        self.risk.on_submit(entry)
        order = self.execution.orders.get(entry.client_order_id)
        if order is None or order.status is S.DENIED:
            self._deny_children(children, f"its entry was refused: {order.reason if order else 'not placed'}")
            return
        lst = OrderList(lid, "BRACKET", cmd.actor, entry=entry.client_order_id)
        self._add(lst, order)
        for child in children:
            c = self.execution.hold_child(child, entry.client_order_id, "waiting for the entry to fill")
            self._add(lst, c)
        self.execution._store.stage_list(lid, "BRACKET", "ACTIVE", cmd.actor, self.clock.now_ms())
        self._settle(lst)

    def on_protect(self, cmd: ProtectPosition) -> None:
        inst = self.instruments.get(cmd.symbol)
        pos = self.portfolio.positions.get(inst.id) if inst is not None else None
        if inst is None or pos is None or not inst.round_qty_down(abs(pos.quantity)):
            self._refuse(cmd, f"no open position in {cmd.symbol} to protect")
            return
        if cmd.stop_loss is None and cmd.take_profit is None:
            self._end_protection(inst.id, "protection removed")
            return
        qty = inst.round_qty_down(abs(pos.quantity))
        side = Side.SELL if pos.quantity > 0 else Side.BUY
        lid = f"P{self.clock.now_ms():x}-{len(self.lists) + 1}"
        ref = SubmitOrder(lid + "-ref", inst.id, inst.venue, side.opposite, OrderType.MARKET, qty, None, cmd.actor)
        children = self._children(lid, ref, qty, cmd.take_profit, cmd.stop_loss, cmd.actor)
        denial = self._check_children(ref, cmd.take_profit, cmd.stop_loss, len(children), entry_ref=False)
        if denial is not None:  # refused: what protects the position now stays
            self._refuse(cmd, f"{denial.reason}: {denial.message}")
            return
        self._end_protection(inst.id, "replaced by new protection")
        lst = OrderList(lid, "OCO", cmd.actor, fixed=qty)
        self.execution._store.stage_list(lid, "OCO", "ACTIVE", cmd.actor, self.clock.now_ms(), f"qty={qty!r}")
        for child in children:
            self._add(lst, self.execution.execute(child, emulated=True))
        log.info("protection of %s %g: SL %s TP %s", inst.id, qty, cmd.stop_loss, cmd.take_profit)

    # ------------------------------------------------------------------------------------------ events
    def on_update(self, ev: OrderUpdated) -> None:
        lid = self._of.get(ev.client_order_id)
        if lid is not None:
            self._settle(self.lists[lid])

    def on_position(self, ev: PositionChanged) -> None:
        """A position closed (flat) by anything else (a close, a flatten, another order): its protection ends,
        unless an entry is still working (it may fill later)."""
        if ev.quantity or not self.lists:
            return
        for lst in list(self.lists.values()):
            if lst.done or not lst.children or self.execution.orders[lst.children[0]].symbol != ev.symbol:
                continue
            entry = self.execution.orders[lst.entry] if lst.entry else None
            self._settle(lst)  # its own child's fill closed it: that says why
            if not lst.done and (entry is None or not entry.status.is_open) and not self._working(
                    [self.execution.orders[c] for c in lst.children]):
                self._finish(lst, "the position was closed")

    def hold(self, order: Order, price: float, ts: int, trigger: float) -> bool:
        """A child fires: held while its sibling's order works at the venue (its cancel sent), else sized to what
        is left to protect now."""
        lst = self.lists.get(self._of.get(order.client_order_id, ""))
        if lst is None:
            return False
        for cid in lst.children:
            sib = self.execution.orders[cid]
            if sib is not order and sib.status.is_working and sib.leaves_qty > EPS:
                lst.held = (order.client_order_id, price, ts, trigger)
                log.warning("%s fired at %g: held until %s at the venue is canceled", order.client_order_id, price,
                            cid)
                self.execution.cancel(cid)
                return True
        order.quantity = order.filled_qty + max(self._left(lst), 0.0)
        return False

    # ------------------------------------------------------------------------------------------ internals
    def _left(self, lst: OrderList) -> float:
        """What is left to protect: the base (the entry's fills, or the fixed quantity) less the children's fills,
        on the lot."""
        base = self.execution.orders[lst.entry].filled_qty if lst.entry else lst.fixed
        left = base - sum(self.execution.orders[c].filled_qty for c in lst.children)
        sym = self.execution.orders[lst.children[0]].symbol if lst.children else None
        inst = self.instruments.get(sym) if sym else None
        return inst.round_qty_down(left) if inst is not None and left > 0 else max(left, 0.0)

    def _settle(self, lst: OrderList) -> None:
        if lst.done:
            return
        orders = self.execution.orders
        entry = orders[lst.entry] if lst.entry else None
        kids = [orders[c] for c in lst.children]
        entry_done = entry is None or not entry.status.is_open
        left = self._left(lst)
        filled_child = next((k for k in kids if k.status is S.FILLED), None)
        unfilled = entry is not None and entry_done and entry.filled_qty <= EPS
        ended = bool(kids) and all(k.status.is_terminal for k in kids)
        if filled_child is not None or unfilled or ended or (entry_done and left <= EPS and not self._working(kids)):
            why = (f"the {_name(filled_child.role)} filled: the {lst.kind.lower()} is done" if filled_child else
                   "its entry ended unfilled" if unfilled else "its protection ended" if ended else
                   "nothing left to protect")
            self._finish(lst, why)
            return
        inst = self.instruments.get(kids[0].symbol) if kids else None
        min_qty = inst.min_qty if inst is not None else 0.0
        for k in kids:
            want = k.filled_qty + left
            if k.status is S.WAITING:
                if left >= min_qty - EPS and left > EPS:
                    k.quantity = want
                    self.execution.arm_waiting(k, f"armed in Kestrel for {left:g} (its entry filled "
                                                  f"{entry.filled_qty if entry else lst.fixed:g}): it fires only "
                                                  f"while this terminal runs")
            elif k.status is S.ARMED and left > EPS and abs(k.quantity - want) > EPS:
                k.quantity = want
                k.reason = f"armed in Kestrel for {left:g}: it fires only while this terminal runs"
                self.execution.persist(k, notify=True)
        if lst.held is not None and not self._working(kids):
            cid, price, ts, trigger = lst.held
            lst.held = None
            self.emulator.fire_held(orders[cid], price, ts, trigger)

    @staticmethod
    def _working(kids: list[Order]) -> bool:
        return any(k.status.is_working for k in kids)

    def _finish(self, lst: OrderList, why: str, keep_entry: bool = False) -> None:
        lst.done = True
        lst.held = None
        orders = self.execution.orders
        for cid in [*lst.children, *([lst.entry] if lst.entry and not keep_entry else [])]:
            o = orders[cid]
            if o.status in (S.ARMED, S.WAITING):
                self.execution.disarm_all(lambda x, o=o: x is o, reason=why)
            elif o.status.is_working and o.status is not S.PENDING_CANCEL and o.role != "SL":
                self.execution.cancel(cid)  # what is left of the entry; a take-profit's resting limit
        self.execution._store.stage_list(lst.list_id, lst.kind, "DONE", lst.actor, self.clock.now_ms(), why)
        log.info("%s %s done: %s", lst.kind, lst.list_id, why)

    def _end_protection(self, symbol: str, why: str) -> None:
        """Every list protecting ``symbol`` ends: its children are disarmed; a bracket's entry still working stays,
        a plain order from now on."""
        for lst in self.lists.values():
            if not lst.done and any(self.execution.orders[c].symbol == symbol for c in lst.children):
                self._finish(lst, why, keep_entry=True)

    def _add(self, lst: OrderList, order: Order) -> None:
        self.lists[lst.list_id] = lst
        self._of[order.client_order_id] = lst.list_id
        if order.role in ("TP", "SL"):
            lst.children.append(order.client_order_id)

    def _children(self, lid: str, entry: SubmitOrder, qty: float, tp: float | None, sl: float | None,
                  actor: str, trail: float | None = None) -> list[SubmitOrder]:
        side = entry.side.opposite
        now = self.clock.now_ms()
        out = []
        if tp is not None:
            out.append(SubmitOrder(f"{lid}-tp", entry.symbol, entry.venue, side, OrderType.LIMIT, qty, tp, actor,
                                   reduce_only=True, ts=now, trigger_price=tp, list_id=lid, role="TP"))
        if sl is not None:
            out.append(SubmitOrder(f"{lid}-sl", entry.symbol, entry.venue, side, OrderType.STOP, qty, None, actor,
                                   reduce_only=True, ts=now, trigger_price=sl, list_id=lid, role="SL"))
        elif trail is not None:
            out.append(SubmitOrder(f"{lid}-sl", entry.symbol, entry.venue, side, OrderType.TRAILING_STOP, qty, None,
                                   actor, reduce_only=True, ts=now, trail_amount=trail, list_id=lid, role="SL"))
        return out

    def _check_children(self, entry: SubmitOrder, tp: float | None, sl: float | None, n: int,
                        entry_ref: bool, trail: float | None = None) -> Denial | None:
        """The children's prices on the tick and on the right side of the entry (or of the market, for a
        position's protection); a trailing stop-loss's distance; the armed-stop limit."""
        inst = self.instruments.get(entry.symbol)
        if inst is None:
            return None  # the entry's own check says so
        denial = trail_denial(trail)
        if denial is not None:
            return denial
        for p, name in ((tp, "Take-profit"), (sl, "Stop-loss")):
            if p is not None:
                denial = _price_check(p, inst, f"A {name.lower()} needs a positive price", f"{name} price")
                if denial is not None:
                    return denial
        st = self.market.symbols.get(inst.id)
        buy = entry.side is Side.BUY  # the entry (or the position) is long
        if entry_ref and entry.order_type is OrderType.LIMIT and entry.price is not None:
            ref, what = entry.price, "its entry price"
        else:
            book = st.book if st is not None else None
            ref = (st.last if st is not None and st.last else None) or (book.mid if book is not None else None)
            what = "the last trade"
        if ref is None or not math.isfinite(ref):
            return Denial("NO_MARKET_DATA", f"No price of {inst.id} yet to place protection against.")
        denial = sides_denial(buy, ref, what, sl, tp, inst.price_decimals)
        if denial is not None:
            return denial
        limits = self.risk.limits
        if len(self.execution.armed) + len(self.execution.waiting) + n > limits.max_armed_triggers_total:
            return Denial("MAX_ARMED_TRIGGERS", f"{len(self.execution.armed)} stops are armed in Kestrel; the limit "
                          f"is {limits.max_armed_triggers_total}.", limit=str(limits.max_armed_triggers_total))
        return None

    def _deny_children(self, children: list[SubmitOrder], reason: str) -> None:
        now = self.clock.now_ms()
        for child in children:
            if child.client_order_id in self.execution.orders:
                continue
            self.execution.record_denied(child, reason)
            self.bus.publish(OrderDenied(child.client_order_id, child.symbol, "BRACKET_REFUSED", reason, "", "",
                                         child.actor, now))

    def _refuse(self, cmd: object, reason: str) -> None:
        log.warning("%s refused: %s", type(cmd).__name__, reason)
        self.bus.publish(CommandRefused.to(cmd, reason, self.clock.now_ms()))

    def _restore(self) -> None:
        stored = self.execution._store.order_lists()
        for order in sorted(self.execution.orders.values(), key=lambda o: o.created_ts):
            lid = order.list_id
            if lid is None or lid not in stored or stored[lid]["state"] == "DONE":
                continue
            lst = self.lists.get(lid)
            if lst is None:
                row = stored[lid]
                fixed = float(row["note"].split("=", 1)[1]) if row["kind"] == "OCO" and row["note"] else 0.0
                lst = self.lists[lid] = OrderList(lid, row["kind"], row["actor"] or "", fixed=fixed)
            if order.role == "ENTRY":
                lst.entry = order.client_order_id
            self._add(lst, order)
        for lst in list(self.lists.values()):
            self._settle(lst)


def trail_denial(trail: float | None) -> Denial | None:
    """A bracket's trailing stop-loss distance (live and in backtests): above 0 and finite, or INVALID_TRAIL."""
    if trail is not None and (isinstance(trail, bool) or not isinstance(trail, (int, float))
                              or not math.isfinite(trail) or trail <= 0):
        return Denial("INVALID_TRAIL", f"A trailing stop-loss needs a distance above 0, got {trail!r}.",
                      limit="> 0", observed=repr(trail))
    return None


def sides_denial(buy: bool, ref: float, what: str, stop_loss: float | None, take_profit: float | None,
                 decimals: int) -> Denial | None:
    """A bracket's protection on the right side of what it protects (live: ``OrderGroups``; backtests:
    ``BacktestBrackets``): for a long (``buy``) stop-loss < ``ref`` < take-profit, the mirror for a short, else
    BRACKET_SIDES (``what`` names ``ref`` in the message)."""
    d, side = decimals, "long" if buy else "short"
    if stop_loss is not None and ((stop_loss >= ref) if buy else (stop_loss <= ref)):
        return Denial("BRACKET_SIDES", f"The stop-loss {stop_loss:,.{d}f} must be {'below' if buy else 'above'} "
                      f"{what} {ref:,.{d}f} for a {side}.", limit=f"{'<' if buy else '>'} {ref}",
                      observed=str(stop_loss))
    if take_profit is not None and ((take_profit <= ref) if buy else (take_profit >= ref)):
        return Denial("BRACKET_SIDES", f"The take-profit {take_profit:,.{d}f} must be {'above' if buy else 'below'} "
                      f"{what} {ref:,.{d}f} for a {side}.", limit=f"{'>' if buy else '<'} {ref}",
                      observed=str(take_profit))
    return None


def _name(role: str | None) -> str:
    return {"TP": "take-profit", "SL": "stop-loss"}.get(role or "", "order")
