"""Moving a working limit order (``ModifyOrder``; the chart's drag sends it) when the venue cannot amend: the new
order is checked, held (PENDING_REPLACE) while the old one is canceled, and sent only once the venue confirmed
the cancel, less what the old one filled meanwhile. Before, both went out together, so an old order that filled
before its cancel arrived was followed by a new one at the new price: twice the size a trader meant. On the sim
with 50 ms latency, so the cancel and the market can race, as at a real venue."""
from __future__ import annotations

import pytest

from app.engine.core.messages import ModifyOrder, OrderStatus, OrderType, Side
from tests.kit.kernel import advance, cannot_amend, kernel_with

S = OrderStatus
BTC = "BTC/USDT@sim"


@pytest.fixture
def k(make_kernel):
    k = kernel_with(make_kernel, latency_ms=50)  # loose limits, a book
    cannot_amend(k)  # these are the moves of a venue that cannot amend (the sim's amend: test_amend.py)
    return k


def rest_buy(k, qty: float, ticks_above_bid: int = 0) -> str:
    inst, book = k.instruments[BTC], k.market.get(BTC).book
    price = inst.round_price(book.best_bid + ticks_above_bid * inst.tick_size)
    cid = k.submit(BTC, Side.BUY, OrderType.LIMIT, qty, price)
    advance(k, 100)
    assert k.execution.orders[cid].status is S.ACCEPTED
    return cid


def move(k, cid: str, new_cid: str, down_ticks: int = 20) -> float:
    inst = k.instruments[BTC]
    price = inst.round_price(k.execution.orders[cid].price - down_ticks * inst.tick_size)
    k.bus.publish(ModifyOrder(cid, price, new_cid, "chart", ts=k.clock.now_ms()))
    return price


def sell_into(k, cid: str, ours: float) -> None:
    """Another participant sells at our order's price: everything ahead of it in the sim's book (better bids,
    and earlier orders at its price), then ``ours`` of it."""
    book, inst = k.sim.book(BTC), k.instruments[BTC]
    price = k.execution.orders[cid].price
    ticks = inst.price_to_ticks(price)
    ahead = sum(book.size_at(Side.BUY, p)[0] for p in book.prices_between(Side.BUY, ticks + 1, 10**12))
    mine = k.sim._orders[cid].book_id
    for o in book.orders_at(Side.BUY, ticks):  # queue order: those before ours
        if o.order_id == mine:
            break
        ahead += o.qty
    k.sim.external_order(BTC, Side.SELL, book.size(ahead) + ours, price=price)


def at_sim(k, cid: str) -> bool:
    return any(o.client_order_id == cid for o in k.sim.open_orders())


def test_the_new_order_is_sent_only_after_the_old_ones_cancel_is_confirmed(k):
    old = rest_buy(k, 0.01)
    price = move(k, old, "moved-1")
    new = k.execution.orders["moved-1"]
    assert new.status is S.PENDING_REPLACE and new.replaces == old  # checked, journaled, held
    assert k.execution.orders[old].status is S.PENDING_CANCEL and not at_sim(k, "moved-1")
    advance(k, 200)
    assert k.execution.orders[old].status is S.CANCELED
    assert new.status is S.ACCEPTED and new.price == price and new.quantity == 0.01 and at_sim(k, "moved-1")
    rows = {r["client_order_id"]: r for r in k.store.orders()}
    assert rows[old]["replaced_by"] == "moved-1" and rows["moved-1"]["replaces"] == old


def test_an_old_order_that_fills_before_its_cancel_arrives_is_not_followed_by_the_new_one(k):
    old = rest_buy(k, 0.01)
    move(k, old, "moved-1")
    sell_into(k, old, 0.01)  # the market sells through it while the cancel travels
    advance(k, 300)
    assert k.execution.orders[old].status is S.FILLED
    new = k.execution.orders["moved-1"]
    assert new.status is S.CANCELED and not at_sim(k, "moved-1")
    assert new.reason == f"not sent: {old} filled before its cancel reached the venue"
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.01)  # once, not twice


def test_a_partial_fill_during_the_move_shrinks_the_new_order_by_as_much(k):
    old = rest_buy(k, 0.02)
    move(k, old, "moved-1")
    sell_into(k, old, 0.005)  # takes a quarter of it while the cancel travels
    advance(k, 300)
    o = k.execution.orders[old]
    assert o.status is S.CANCELED and o.filled_qty == pytest.approx(0.005)
    new = k.execution.orders["moved-1"]
    assert new.status is S.ACCEPTED and new.quantity == pytest.approx(0.015)
    assert new.reason == f"{old} filled 0.005 more before its cancel: moved 0.015"
    assert {r["client_order_id"]: r["quantity"] for r in k.store.orders()}["moved-1"] == pytest.approx(0.015)
    assert k.portfolio.positions[BTC].quantity + new.quantity == pytest.approx(0.02)  # what the trader had


def test_a_refused_cancel_leaves_the_old_order_working_and_sends_nothing(k):
    old = rest_buy(k, 0.01)
    k.sim.reject_next_cancel()
    move(k, old, "moved-1")
    advance(k, 300)
    assert k.execution.orders[old].status is S.ACCEPTED and at_sim(k, old)
    new = k.execution.orders["moved-1"]
    assert new.status is S.CANCELED and "refused to cancel" in new.reason and not at_sim(k, "moved-1")


def test_a_move_denied_by_the_gate_leaves_the_old_order_untouched(k):
    from app.engine.core.messages import OrderDenied

    old = rest_buy(k, 0.01)
    denied: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, denied.append)
    inst = k.instruments[BTC]
    k.bus.publish(ModifyOrder(old, inst.round_price(k.execution.orders[old].price * 0.5), "moved-1", "chart",
                              ts=k.clock.now_ms()))
    advance(k, 300)
    assert [d.reason for d in denied] == ["PRICE_COLLAR"]
    assert k.execution.orders[old].status is S.ACCEPTED and at_sim(k, old)


def test_a_move_interrupted_by_a_stop_is_not_sent_after_the_restart(make_kernel, profile):
    from app.config import RiskSettings
    from tests.kit.kernel import LOOSE_LIMITS

    k = kernel_with(make_kernel, latency_ms=50)
    cannot_amend(k)
    old = rest_buy(k, 0.01)
    move(k, old, "moved-1")
    k.execution.commit_states()  # the held order is journaled ...
    k.close()  # ... and the terminal stops before the cancel's answer
    k2 = make_kernel(latency_ms=50, risk=RiskSettings(**LOOSE_LIMITS))
    new = k2.execution.orders["moved-1"]
    assert new.status is S.CANCELED and new.reason.startswith(f"not sent: Kestrel stopped while {old}")
    advance(k2, 500)
    assert not at_sim(k2, "moved-1")
