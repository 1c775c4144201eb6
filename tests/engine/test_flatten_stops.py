"""Flatten with a position protected by a stop (issue 20: "a flatten cancels a position's protection before
closing it"). The stop is canceled first and the close is sent only once it has ended: a stop that fires while
its cancel travels has closed (part of) the position, and the close is what is left, so the two together never
sell twice and open a short. On the sim with 50 ms latency, so the cancel races the market."""
from __future__ import annotations

import pytest

from app.engine.core.messages import OrderStatus, OrderType, Side, SubmitOrder
from tests.kit.kernel import advance, kernel_with

S = OrderStatus
BTC = "BTC/USDT@sim"


@pytest.fixture
def k(make_kernel):
    k = kernel_with(make_kernel, latency_ms=50)  # loose limits, a book
    k.submit(BTC, Side.BUY, OrderType.MARKET, 0.05)
    advance(k, 200)
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.05)
    return k


def protect(k, ticks_below: int = 3) -> str:
    inst = k.instruments[BTC]
    trigger = inst.round_price(min(k.market.get(BTC).last, k.market.get(BTC).book.best_bid)
                               - ticks_below * inst.tick_size)
    k.bus.publish(SubmitOrder("sl-1", BTC, "sim", Side.SELL, OrderType.STOP, 0.05, None, "manual",
                              trigger_price=trigger))
    advance(k, 200)
    assert k.execution.orders["sl-1"].status is S.ACCEPTED
    return "sl-1"


def fall_through(k, price: float) -> None:
    for _ in range(100):
        if k.market.get(BTC).last < price:
            return
        k.sim.external_order(BTC, Side.SELL, 2.0)
        advance(k, 5)


def test_flatten_cancels_the_stop_first_then_closes_and_the_stop_never_fires_after(k):
    stop = protect(k)
    sent = k.risk.flatten("desk", confirmed=True)
    assert sent == []  # held: the stop's cancel goes first
    assert k.execution.orders[stop].status is S.PENDING_CANCEL
    advance(k, 300)
    assert k.execution.orders[stop].status is S.CANCELED
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)
    fall_through(k, k.execution.orders[stop].trigger_price)
    advance(k, 200)
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)  # no stop left to open a short


def test_a_stop_that_fires_while_its_cancel_travels_leaves_the_flatten_nothing_to_sell(k):
    stop = protect(k, ticks_below=1)
    k.risk.flatten("desk", confirmed=True)
    fall_through(k, k.execution.orders[stop].trigger_price)  # within the 50 ms the cancel takes
    advance(k, 300)
    assert k.execution.orders[stop].status is S.FILLED  # the stop won the race ...
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)  # ... and nothing sold twice
    flattens = [o for o in k.execution.orders.values() if o.actor == "flatten"]
    assert all(o.filled_qty == 0 for o in flattens)


def test_a_refused_cancel_is_sent_again_and_said(k):
    stop = protect(k)
    k.sim.reject_next_cancel()
    k.risk.flatten("desk", confirmed=True)
    advance(k, 500)
    assert k.execution.orders[stop].status is S.CANCELED
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)
    assert any(a.title == f"Flatten of {BTC} waits" for a in k.risk.alarms)
