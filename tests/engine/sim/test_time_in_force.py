"""Time in force and post-only on the sim (issue 20, item 1), through the real kernel: the gate, the journal,
the sim's matching. IOC takes what is there and cancels the rest; FOK fills whole at once or not at all (and
says how much was there); a post-only order that would take liquidity is refused, one that would rest rests.
A venue that does not take them refuses nothing it was given: the gate refuses first, saying what the venue
takes."""
from __future__ import annotations

import pytest

from app.engine.core.messages import OrderDenied, OrderStatus, OrderType, Side, SubmitOrder, TimeInForce
from tests.kit.kernel import advance, kernel_with

BTC = "BTC/USDT@sim"


def submit(k, side, otype, qty, price=None, **kw) -> str:
    cid = f"tif-{len(k.execution.orders) + 1}"
    k.bus.publish(SubmitOrder(cid, BTC, "sim", side, otype, qty, price, "manual", **kw))
    advance(k, 50)
    return cid


def asks(k, n):
    """The best ``n`` ask levels as (price, size) from the sim's own book."""
    return k.market.get(BTC).book.asks[:n]


def test_ioc_takes_what_is_there_at_its_price_and_cancels_the_rest(make_kernel):
    k = kernel_with(make_kernel)
    (p1, s1), (p2, s2) = asks(k, 2)
    qty = round(s1 + s2 + 1.0, 4)  # more than the two levels hold
    cid = submit(k, Side.BUY, OrderType.LIMIT, qty, p2, tif=TimeInForce.IOC)
    o = k.execution.orders[cid]
    assert o.status is OrderStatus.CANCELED and o.reason == "IOC remainder"
    assert o.filled_qty == pytest.approx(s1 + s2) and o.avg_price <= p2
    assert not [w for w in k.execution.orders.values() if w.is_working]  # nothing rests
    assert k.store.orders()[0]["tif"] == "IOC"  # journaled as what it was


def test_fok_fills_whole_or_not_at_all_and_says_what_was_there(make_kernel):
    k = kernel_with(make_kernel)
    (p1, s1), (p2, s2) = asks(k, 2)
    too_much = round(s1 + s2 + 1.0, 4)
    cid = submit(k, Side.BUY, OrderType.LIMIT, too_much, p2, tif=TimeInForce.FOK)
    o = k.execution.orders[cid]
    assert o.status is OrderStatus.CANCELED and o.filled_qty == 0.0
    assert o.reason.startswith(f"FOK: only {s1 + s2:g} of {too_much:g} available at {p2:g} or better")
    assert not [f for f in k.store.fills() if f["client_order_id"] == cid]  # nothing was taken
    (p1, s1), (p2, s2) = asks(k, 2)  # the market moved meanwhile
    enough = round(s1 + s2 / 2, 4)
    cid = submit(k, Side.BUY, OrderType.LIMIT, enough, p2, tif=TimeInForce.FOK)
    o = k.execution.orders[cid]
    assert o.status is OrderStatus.FILLED and o.filled_qty == pytest.approx(enough)


def test_post_only_rests_or_is_refused_but_never_takes(make_kernel):
    k = kernel_with(make_kernel)
    book = k.market.get(BTC).book
    ask, bid = book.best_ask, book.best_bid
    taker = submit(k, Side.BUY, OrderType.LIMIT, 0.01, ask, post_only=True)
    o = k.execution.orders[taker]
    assert o.status is OrderStatus.REJECTED and o.filled_qty == 0.0
    assert o.reason == f"post-only: a buy at {ask:g} would take the ask at {ask:g}; not placed"
    maker = submit(k, Side.BUY, OrderType.LIMIT, 0.01, bid, post_only=True)
    assert k.execution.orders[maker].status is OrderStatus.ACCEPTED


def test_the_gate_refuses_what_the_venue_does_not_take_and_nonsense_combinations(make_kernel):
    k = kernel_with(make_kernel)
    seen: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, seen.append)
    bid = k.market.get(BTC).book.best_bid
    k.risk.checks.venue_features = lambda venue: frozenset()  # a venue that takes GTC only
    submit(k, Side.BUY, OrderType.LIMIT, 0.01, bid, tif=TimeInForce.IOC)
    assert seen[-1].reason == "ORDER_SHAPE" and "cannot place time in force IOC orders on sim" in seen[-1].message
    k.risk.checks.venue_features = lambda venue: frozenset({"IOC"})
    submit(k, Side.BUY, OrderType.LIMIT, 0.01, bid, post_only=True)
    assert seen[-1].message == "Venue sim does not take post-only orders here (it takes: GTC, IOC)."
    submit(k, Side.BUY, OrderType.LIMIT, 0.01, bid, post_only=True, tif=TimeInForce.IOC)
    assert "cannot also be IOC" in seen[-1].message
    assert len(seen) == 3 and all(o.status is OrderStatus.DENIED for o in k.execution.orders.values())
