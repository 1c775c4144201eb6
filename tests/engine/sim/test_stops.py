"""Native STOP and STOP_LIMIT orders on the sim (issue 20, item 1; the sim keeps them as an exchange does),
through the real kernel: the gate checks the trigger against the last trade, the sim keeps the stop off the book
until a trade prints at or through its trigger, then it trades as the market or limit order it becomes, and the
blotter's reason says where it triggered. A canceled stop never fires; the kill switch cancels armed stops."""
from __future__ import annotations

import pytest

from app.engine.core.messages import (
    Emulation, Halt, OrderDenied, OrderStatus, OrderType, Side, SubmitOrder, TimeInForce,  # noqa: F401
)
from tests.kit.kernel import advance, kernel_with, last, push_price

S = OrderStatus
BTC = "BTC/USDT@sim"


def submit(k, side, otype, qty, price=None, trigger=None, **kw) -> str:
    cid = f"stop-{len(k.execution.orders) + 1}"
    k.bus.publish(SubmitOrder(cid, BTC, "sim", side, otype, qty, price, "manual", trigger_price=trigger, **kw))
    advance(k, 20)
    return cid


def denied(k) -> list[OrderDenied]:
    seen: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, seen.append)
    return seen


def test_a_sell_stop_waits_off_the_book_then_closes_the_position_when_its_trigger_trades(make_kernel):
    k = kernel_with(make_kernel)
    submit(k, Side.BUY, OrderType.MARKET, 0.05)
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.05)
    inst = k.instruments[BTC]
    trigger = inst.round_price(min(last(k), k.market.get(BTC).book.best_bid) - 3 * inst.tick_size)
    cid = submit(k, Side.SELL, OrderType.STOP, 0.05, trigger=trigger)
    stop = k.execution.orders[cid]
    assert stop.status is S.ACCEPTED and stop.trigger_price == trigger
    assert cid in [o.client_order_id for o in k.sim.open_orders()]  # the venue keeps it ...
    book = k.sim.book(BTC)
    assert all(book.size_at(Side.SELL, p)[1] == 0 for p in book.prices_between(Side.SELL, 0, 10**12))  # off-book
    push_price(k, Side.SELL, lambda p: p <= trigger)
    advance(k, 50)
    assert stop.status is S.FILLED and stop.reason.startswith("triggered: the last trade")
    assert f"reached the stop at {trigger:g}" in stop.reason
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)
    assert stop.avg_price <= trigger  # a market order once triggered: at or through its trigger


def test_a_buy_stop_limit_becomes_a_limit_at_its_price_when_triggered(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    trigger = inst.round_price(max(last(k), k.market.get(BTC).book.best_ask) + 15 * inst.tick_size)
    limit = inst.round_price(trigger + 20 * inst.tick_size)
    cid = submit(k, Side.BUY, OrderType.STOP_LIMIT, 0.01, limit, trigger)
    stop = k.execution.orders[cid]
    assert stop.status is S.ACCEPTED
    push_price(k, Side.BUY, lambda p: p >= trigger)
    advance(k, 50)
    assert stop.reason.startswith("triggered") and stop.status in (S.FILLED, S.ACCEPTED, S.PARTIALLY_FILLED)
    if stop.filled_qty:
        assert stop.avg_price <= limit + 1e-9  # never above its limit


def test_a_canceled_stop_never_fires_and_the_kill_switch_cancels_armed_stops(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    first = submit(k, Side.SELL, OrderType.STOP, 0.01, trigger=inst.round_price(last(k) - 3 * inst.tick_size))
    k.execution.cancel(first)
    advance(k, 20)
    assert k.execution.orders[first].status is S.CANCELED
    second = submit(k, Side.SELL, OrderType.STOP, 0.02, trigger=inst.round_price(last(k) - 4 * inst.tick_size))
    low = min(k.execution.orders[first].trigger_price, k.execution.orders[second].trigger_price)
    k.bus.publish(Halt("test: the kill switch", "manual", ts=k.clock.now_ms()))
    advance(k, 100)
    assert k.execution.orders[second].status is S.CANCELED
    push_price(k, Side.SELL, lambda p: p < low)  # the market falls through both
    advance(k, 50)
    assert k.execution.orders[first].filled_qty == 0.0 and k.execution.orders[second].filled_qty == 0.0
    assert not k.sim.open_orders()


def test_the_gate_refuses_stops_that_would_trigger_at_once_or_make_no_sense(make_kernel):
    k = kernel_with(make_kernel)
    seen = denied(k)
    inst = k.instruments[BTC]
    above = inst.round_price(last(k) * 1.001)
    submit(k, Side.SELL, OrderType.STOP, 0.01, trigger=above)  # a sell stop above the market
    assert seen[-1].reason == "STOP_MARKETABLE" and "would trigger at once" in seen[-1].message
    submit(k, Side.SELL, OrderType.STOP, 0.01)  # no trigger
    assert seen[-1].reason == "INVALID_PRICE" and "trigger price" in seen[-1].message
    below = inst.round_price(last(k) * 0.99)
    submit(k, Side.SELL, OrderType.STOP_LIMIT, 0.01, inst.round_price(below * 0.8), below)  # fat-finger limit
    assert seen[-1].reason == "PRICE_COLLAR" and "from its trigger" in seen[-1].message
    submit(k, Side.SELL, OrderType.TRAILING_STOP, 0.01, trail_amount=0.0)
    assert seen[-1].reason == "INVALID_TRAIL"
    k.risk.checks.venue_features = lambda venue: frozenset()  # a venue that keeps no stops, asked for a native one
    submit(k, Side.SELL, OrderType.STOP, 0.01, trigger=below, emulation=Emulation.NATIVE)
    assert seen[-1].reason == "ORDER_SHAPE" and "does not keep STOP orders" in seen[-1].message
    assert len(seen) == 5


def test_a_resting_stop_limit_is_not_mistaken_for_a_crossing_order(make_kernel):
    """A sell stop-limit's limit sits below the market while it waits: a buy limit above that price is not a
    self-match (the stop is not in the book)."""
    k = kernel_with(make_kernel)
    seen = denied(k)
    inst = k.instruments[BTC]
    trigger = inst.round_price(last(k) * 0.995)
    submit(k, Side.SELL, OrderType.STOP_LIMIT, 0.01, inst.round_price(trigger * 0.999), trigger)
    bid = k.market.get(BTC).book.best_bid
    cid = submit(k, Side.BUY, OrderType.LIMIT, 0.01, inst.round_price(bid - 10 * inst.tick_size))
    assert not seen and k.execution.orders[cid].status is S.ACCEPTED
