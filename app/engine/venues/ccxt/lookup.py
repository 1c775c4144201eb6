"""Reading the venue's record of our orders: one order by its client order id, the open-orders list, and
which failures are about one order rather than about the venue.

Every reply is checked before it is believed (``errors.check_order``): a lookup that cannot be read, lacks
the order's id or status, or is about another order raises; it never counts as "found" or as "absent".
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Protocol

from app.engine.venues.base import venue_id
from app.engine.venues.ccxt.errors import UnreadableReply, check_order, classify, detail

log = logging.getLogger("kestrel.venues.ccxt")

_PER_ORDER = ("order", "request")  # a refusal about one order (-1100, -2013...): says nothing of the venue


class LookupHost(Protocol):
    """What a lookup uses of its venue (``CcxtVenue``): the exchange, its REST calls, its config (how the
    venue takes a client order id), and its name and secrets for messages."""

    name: str
    config: Any
    exchange: Any

    def secrets(self) -> tuple[str, ...]: ...
    async def rest(self, fn: Callable[..., Awaitable], *args: Any) -> Any: ...


async def find_by_client_id(venue: LookupHost, cid: str, symbol: str, vid: str | None = None) -> dict | None:
    """The venue's order with our client order id, or None if it has none.

    Raises on network errors and on replies that cannot be read, lack the order's id or status, or are
    about another order (``UnreadableReply``): such a lookup leaves the order "still unknown", it never
    counts as "found". A venue id the venue refuses or does not know (-1100, -2013) is retried by client
    order id."""
    ex = venue.exchange
    vid = venue_id(vid)
    if vid:
        try:
            return check_order(await venue.rest(ex.fetch_order, vid, symbol), "lookup", cid, vid, True)
        except Exception as exc:
            if not per_order(exc):
                raise
            log.info("%s: lookup of order %s by its venue id %s failed (%s); asking by client order id",
                     venue.name, cid, vid, detail(exc, venue.secrets()))
    try:
        if venue.config.lookup_by_client_id == "param":
            by_cid = {venue.config.client_order_id_param: cid}
            reply = await venue.rest(ex.fetch_order, None, symbol, by_cid)
            return check_order(reply, "lookup", cid, None, True)
    except Exception as exc:
        if type(exc).__name__ in ("OrderNotFound", "OrderNotCached"):
            return None
        raise
    for fetch, capability in (("fetch_open_orders", "fetchOpenOrders"),
                              ("fetch_closed_orders", "fetchClosedOrders"),
                              ("fetch_orders", "fetchOrders"),
                              ("fetch_canceled_orders", "fetchCanceledOrders")):
        fn = getattr(ex, fetch, None)
        if fn is None or not (ex.has or {}).get(capability):
            continue
        try:
            orders = await venue.rest(fn, symbol)
        except Exception as exc:  # noqa: BLE001
            if classify(exc).kind in ("request",):
                continue
            raise
        if not isinstance(orders, list):
            raise UnreadableReply(f"the {fetch} reply is not a list ({type(orders).__name__})")
        for o in orders:
            if isinstance(o, dict) and o.get("clientOrderId") == cid:
                return check_order(o, "lookup", cid, None, True)
    return None


def open_rows(rows: Any) -> list[dict]:
    """An open-orders reply, each row an order with its id: anything else is unreadable (the whole reply:
    a poll that cannot see which orders are open must not conclude that ours are not)."""
    if not isinstance(rows, list):
        raise UnreadableReply(f"the open-orders reply is not a list ({type(rows).__name__})")
    for o in rows:
        check_order(o, "open-orders")
        if not o.get("symbol"):
            raise UnreadableReply(f"the open-orders reply has an order without a symbol (id {o['id']})")
    return rows


def per_order(exc: BaseException) -> bool:
    """Is ``exc`` about one order (the venue refuses that order's request, or answered about another order)
    rather than about the venue (network, unreadable bodies, rate limits, auth)?"""
    if isinstance(exc, UnreadableReply):
        return exc.per_order
    return classify(exc).kind in _PER_ORDER
