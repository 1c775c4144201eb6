"""Amend in place (issue 20, item 4): where the venue can (the sim says "amend"), ModifyOrder changes a working limit
order under its own id: a new price joins the back of the new level, a smaller quantity at the same price keeps
its place in the queue; the amended order is checked by the gate first, and a venue's refusal leaves it as it was.
More quantity is moved by cancel-then-replace (a new id)."""
from __future__ import annotations

import sqlite3

from app.engine.core.messages import CommandDone, CommandRefused, ModifyOrder, OrderStatus, OrderType, Side
from tests.kit.kernel import BTC, advance, kernel_with

S = OrderStatus


def rest_buy(k, qty: float, ticks_below_bid: int) -> tuple[str, float]:
    inst = k.instruments[BTC]
    price = inst.round_price(k.market.get(BTC).book.best_bid - ticks_below_bid * inst.tick_size)
    cid = k.submit(BTC, Side.BUY, OrderType.LIMIT, qty, price)
    advance(k, 20)
    assert k.execution.orders[cid].status is S.ACCEPTED
    return cid, price


def answers(k) -> list:
    seen: list = []
    k.bus.subscribe(CommandDone, seen.append)
    k.bus.subscribe(CommandRefused, seen.append)
    return seen


def test_an_amended_price_keeps_the_order_and_its_id_and_is_journaled(make_kernel):
    k = kernel_with(make_kernel)
    cid, price = rest_buy(k, 0.02, 20)
    inst = k.instruments[BTC]
    new = inst.round_price(price - 5 * inst.tick_size)
    seen = answers(k)
    k.bus.publish(ModifyOrder(cid, new, "unused-id"))
    advance(k, 20)
    order = k.execution.orders[cid]
    assert [type(a).__name__ for a in seen] == ["CommandDone"] and seen[0].detail == cid
    assert order.status is S.ACCEPTED and order.price == new and "unused-id" not in k.execution.orders
    assert [(o.client_order_id, o.price) for o in k.sim.open_orders()] == [(cid, new)]
    k.execution.commit_states()
    con = sqlite3.connect(k.profile / "kestrel.db")
    assert con.execute("SELECT price FROM orders WHERE client_order_id=?", (cid,)).fetchone()[0] == new
    con.close()


def queue(k, price: float) -> list[tuple[str, float]]:
    """The bid level at ``price`` in queue order: ("ours" or "other", size)."""
    from app.engine.venues.sim.orderbook import OWNER_CLIENT

    book, inst = k.sim.book(BTC), k.instruments[BTC]
    return [("ours" if o.owner == OWNER_CLIENT else "other", book.size(o.qty))
            for o in book.orders_at(Side.BUY, inst.price_to_ticks(price))]


def test_a_smaller_size_at_the_same_price_keeps_its_place_in_the_queue(make_kernel):
    k = kernel_with(make_kernel)
    cid, price = rest_buy(k, 0.05, 20)
    k.sim.external_order(BTC, Side.BUY, 0.07, price=price)  # someone else queues behind us at the same price
    before = queue(k, price)
    assert before.index(("ours", 0.05)) < before.index(("other", 0.07))
    k.bus.publish(ModifyOrder(cid, price, "unused-id", quantity=0.02))
    advance(k, 20)
    order = k.execution.orders[cid]
    assert order.status is S.ACCEPTED and abs(order.quantity - 0.02) < 1e-12
    after = queue(k, price)
    assert after.index(("ours", 0.02)) < after.index(("other", 0.07))  # still ahead of the later order
    # a new price joins the back of the new level's queue
    inst = k.instruments[BTC]
    lower = inst.round_price(price - inst.tick_size)
    k.sim.external_order(BTC, Side.BUY, 0.03, price=lower)
    k.bus.publish(ModifyOrder(cid, lower, "unused-id-2"))
    advance(k, 20)
    assert queue(k, lower)[-1] == ("ours", 0.02) and ("other", 0.03) in queue(k, lower)


def test_more_quantity_is_moved_by_cancel_then_replace_under_a_new_id(make_kernel):
    k = kernel_with(make_kernel)
    cid, price = rest_buy(k, 0.02, 20)
    k.bus.publish(ModifyOrder(cid, price, "bigger-1", quantity=0.05))
    advance(k, 50)
    assert k.execution.orders[cid].status is S.CANCELED
    new = k.execution.orders["bigger-1"]
    assert new.status is S.ACCEPTED and new.quantity == 0.05 and new.replaces == cid


def test_an_amend_the_gate_refuses_leaves_the_order_as_it_was(make_kernel):
    k = kernel_with(make_kernel)
    cid, price = rest_buy(k, 0.02, 20)
    seen = answers(k)
    k.bus.publish(ModifyOrder(cid, round(price * 0.5, 1), "unused-id"))  # 50 % under the mid: the collar
    advance(k, 20)
    order = k.execution.orders[cid]
    assert isinstance(seen[0], CommandRefused) and "PRICE_COLLAR" in seen[0].reason
    assert order.status is S.ACCEPTED and order.price == price
