"""Reconciliation of a real venue with our journal, on every (re)connect, approved by a person.

``build_items`` compares what the venue says (open orders, the state of each order we think working,
recent trades of our orders) with the journal, and returns one ``ReconcileItem`` per difference, each
carrying the reports (acks, fills, cancels) that approving it applies through the normal report path:

  unknown_to_us    the venue has an open order we did not journal (placed elsewhere, or lost): shown, left
                   alone (Kestrel never manages an order it did not place)
  closed_at_venue  we think it working; the venue has it canceled/expired/rejected/filled: its missed fills,
                   then its final state
  not_at_venue     we think it working (or UNKNOWN); the venue has no order with that client order id:
                   closed as REJECTED ("never reached the venue"), never re-sent
  confirmed        an UNKNOWN/SUBMITTED order is open at the venue: acknowledged
  missed_fill      a trade of one of our orders that the journal does not have

An order the venue would not look up (``VenueView.unresolved``: it refuses that one request, or answers
about another order) is no difference: it is left as it is, shown by the adapter, and looked up again while
the venue serves the others. No venue order id is taken from a reply that has none (``base.venue_id``).

Nothing is applied before approval: meanwhile the venue refuses new orders (``AWAITING_APPROVAL``),
cancels still go out. An empty difference is applied at once: no one needs to approve nothing.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.engine.core.instruments import split_id
from app.engine.core.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    Side,
)
from app.engine.venues.base import OpenOrderInfo, venue_id
from app.engine.venues.events import OrderStatusUnknown, ReconcileItem


class JournaledOrder(Protocol):
    """What reconciliation reads of a journaled working order (the OMS's ``Order``)."""

    client_order_id: str
    symbol: str
    venue: str
    side: Any
    quantity: float
    filled_qty: float
    status: Any
    venue_order_id: str | None


class JournalView(Protocol):
    """What an adapter may read of the journal (never write: it reports, the ExecutionEngine decides)."""

    def working(self, venue: str) -> list[JournaledOrder]: ...

    def knows(self, client_order_id: str) -> bool: ...

    def has_fill(self, venue: str, trade_id: str) -> bool: ...


class KernelJournal:
    """``JournalView`` over a kernel's ExecutionEngine and Store."""

    def __init__(self, execution: Any, store: Any) -> None:
        self._execution, self._store = execution, store

    def working(self, venue: str) -> list[JournaledOrder]:
        """The venue's working orders as the venue knows them: in its own symbols (copies; the engine's
        orders name instrument ids)."""
        out = []
        for o in self._execution.working_orders():
            if o.venue == venue:
                o = copy.copy(o)
                o.symbol = split_id(o.symbol)[0]
                out.append(o)
        return out

    def knows(self, client_order_id: str) -> bool:
        return client_order_id in self._execution.orders

    def has_fill(self, venue: str, trade_id: str) -> bool:
        row = self._store.conn.execute("SELECT 1 FROM fills WHERE venue=? AND trade_id=?", (venue, trade_id))
        return row.fetchone() is not None


@dataclass
class VenueView:
    """What the venue said, fetched by the adapter (ccxt dicts)."""

    open_orders: list[dict]  # every open order on the symbols of interest
    by_client_id: dict[str, dict | None]  # our working orders not open: the venue's order, or None if absent
    trades: list[dict]  # recent trades on those symbols
    unresolved: dict[str, str] = field(default_factory=dict)  # working orders the venue would not look up:
    # client order id -> why. Not a difference: nothing is known about them yet (the adapter shows them)


def fill_report(venue: str, cid: str, symbol: str, side: Side, t: dict, now: int) -> OrderFilled:
    fee = t.get("fee") or {}
    taker = t.get("takerOrMaker")
    return OrderFilled(cid, str(t.get("order") or ""), str(t["id"]), symbol, venue, side, float(t["price"]),
                       float(t["amount"]), float(fee.get("cost") or 0.0), str(fee.get("currency") or ""),
                       "MAKER" if taker == "maker" else "TAKER", int(t.get("timestamp") or now))


def open_info(o: dict) -> OpenOrderInfo:
    return OpenOrderInfo(str(o.get("clientOrderId") or ""), str(o["id"]), o["symbol"],
                         Side.BUY if o.get("side") == "buy" else Side.SELL, float(o.get("amount") or 0.0),
                         float(o.get("filled") or 0.0), None if o.get("price") is None else float(o["price"]))


def build_items(venue: str, journal: JournalView, view: VenueView, now: int) -> list[ReconcileItem]:
    """One item per difference (see above): the venue's orders unknown to us first, then each working order's
    in journal order, its missed fills before its final state."""
    working = {o.client_order_id: o for o in journal.working(venue)}
    open_by_cid = {str(o.get("clientOrderId") or ""): o for o in view.open_orders}
    fills = _missed_fills(venue, journal, view, working, open_by_cid, now)
    items = _unknown_to_us(journal, view)
    for cid, order in working.items():
        if cid in view.unresolved:
            continue
        got = fills.pop(cid, [])
        o = open_by_cid.get(cid)
        if o is not None:
            items += _open_at_venue(cid, order, o, got, now)
        elif view.by_client_id.get(cid) is None:
            items += _not_at_venue(cid, order, got, now)
        else:
            items.append(_closed_at_venue(venue, cid, order, view.by_client_id[cid], got, now))
    return items


def _missed_fills(venue: str, journal: JournalView, view: VenueView, working: dict[str, JournaledOrder],
                  open_by_cid: dict[str, dict], now: int) -> dict[str, list[OrderFilled]]:
    """The trades of our working orders that the journal lacks, per order (so an order's fills come before
    its final state), oldest first."""
    vid_to_cid: dict[str, str] = {}
    for cid, order in working.items():
        if venue_id(order.venue_order_id):
            vid_to_cid[str(venue_id(order.venue_order_id))] = cid
    for cid, o in list(open_by_cid.items()) + [(c, o) for c, o in view.by_client_id.items() if o]:
        if cid in working:
            vid_to_cid[str(o["id"])] = cid
    fills: dict[str, list[OrderFilled]] = {}
    for t in sorted(view.trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
        cid = vid_to_cid.get(str(t.get("order") or ""))
        if cid is None or journal.has_fill(venue, str(t["id"])):
            continue
        order = working[cid]
        fills.setdefault(cid, []).append(fill_report(venue, cid, order.symbol, order.side, t, now))
    return fills


def _unknown_to_us(journal: JournalView, view: VenueView) -> list[ReconcileItem]:
    items = []
    for o in view.open_orders:
        cid = str(o.get("clientOrderId") or "")
        if cid and journal.knows(cid):
            continue
        text = (f"{o['symbol']}: the venue has an open {o.get('side')} order {o['id']} ({o.get('amount')} @ "
                f"{o.get('price')}, client id {cid or '-'}) that Kestrel did not place; it is left alone "
                f"(cancel it on the exchange if unwanted)")
        items.append(ReconcileItem("unknown_to_us", cid or str(o["id"]), o["symbol"], text))
    return items


def _fill_text(got: list[OrderFilled]) -> str:
    if not got:
        return ""
    got_qty = sum(f.quantity for f in got)
    return f"; {len(got)} missed fill(s), {got_qty:g} @ {sum(f.price * f.quantity for f in got) / got_qty:g}"


def _open_at_venue(cid: str, order: JournaledOrder, o: dict, got: list[OrderFilled],
                   now: int) -> list[ReconcileItem]:
    """A working order the venue lists as open: acknowledged if we had no venue id, and its missed fills."""
    accept: tuple = ()
    if order.status in (OrderStatus.UNKNOWN, OrderStatus.SUBMITTED) or venue_id(order.venue_order_id) is None:
        accept = (OrderAccepted(cid, str(o["id"]), order.symbol, now),)
    if not (accept or got):
        return []
    text = (f"{cid} {order.symbol}: open at the venue as {o['id']} (we had {order.status.value})"
            f"{_fill_text(got)}")
    kind = "confirmed" if accept and not got else "missed_fill"
    return [ReconcileItem(kind, cid, order.symbol, text, accept + tuple(got))]


def _not_at_venue(cid: str, order: JournaledOrder, got: list[OrderFilled], now: int) -> list[ReconcileItem]:
    """A working order the venue has no record of: its missed fills, then rejected (never re-sent)."""
    items = []
    if got:
        items.append(ReconcileItem("missed_fill", cid, order.symbol, f"{cid} {order.symbol}: "
                                   f"{_fill_text(got)[2:]}", tuple(got)))
    reason = ("never reached the venue: no order with this client order id (it is not re-sent)"
              if order.status in (OrderStatus.UNKNOWN, OrderStatus.SUBMITTED)
              else "the venue has no order with this client order id")
    items.append(ReconcileItem("not_at_venue", cid, order.symbol,
                               f"{cid} {order.symbol}: we had {order.status.value}; {reason}",
                               (OrderRejected(cid, order.symbol, reason, now),)))
    return items


def _closed_at_venue(venue: str, cid: str, order: JournaledOrder, found: dict, got: list[OrderFilled],
                     now: int) -> ReconcileItem:
    """A working order the venue found by a lookup (no longer in its open list): its missed fills (from the
    order record when the trade history is too short), then its final state."""
    fill_text = _fill_text(got)
    accept = ((OrderAccepted(cid, str(found["id"]), order.symbol, now),)
              if venue_id(order.venue_order_id) is None else ())
    status = found.get("status")
    venue_filled = float(found.get("filled") or 0.0)
    known = order.filled_qty + sum(f.quantity for f in got)
    synth: tuple = ()
    if venue_filled > known + 1e-12:  # trade history too short to show every fill: take the order's word
        qty = venue_filled - known
        price = float(found.get("average") or found.get("price") or 0.0)
        tid = f"reconcile:{found['id']}:{venue_filled:g}"
        synth = (OrderFilled(cid, str(found["id"]), tid, order.symbol, venue, order.side, price, qty, 0.0,
                             "", "TAKER", now),)
        fill_text += f"; {qty:g} filled per the venue's order record but missing from its trade history"
    final: tuple = ()
    if status in ("canceled", "expired", "rejected"):
        why = f"{status} at the venue while Kestrel was not watching"
        final = (OrderCanceled(cid, order.symbol, why, now),)
    return ReconcileItem("closed_at_venue" if status != "open" else "confirmed", cid, order.symbol,
                         f"{cid} {order.symbol}: we had {order.status.value}; the venue has it "
                         f"{status} (filled {venue_filled:g} of {order.quantity:g}){fill_text}",
                         accept + tuple(got) + synth + final)


def unknown_report(cid: str, symbol: str, reason: str, now: int) -> OrderStatusUnknown:
    return OrderStatusUnknown(cid, symbol, reason, now)
