"""Moving an order at Binance through ccxt's editOrder (issue 20, item 4), against the fake Binance on 127.0.0.1.

Binance spot's editOrder is a cancel-replace: one request cancels the order and places the new one, here under the
same client order id, so Kestrel keeps one order (its id, its row, its fills) with a new venue id. It is sent only
for a GTC limit with nothing filled, with ``cancelRestrictions=ONLY_NEW``: a fill that races the move makes Binance
refuse it instead of placing the whole new quantity beside what filled. A replace whose new order Binance refuses
leaves nothing working, and says so; a replace whose answer is lost is settled by looking the client id up, also
across a restart. A part-filled order moves by cancel-then-replace, as before."""
from __future__ import annotations

import sqlite3

from app.engine.core.messages import CommandDone, CommandRefused, ModifyOrder, OrderStatus, OrderType, Side
from tests.kit.venues import Session, run, running
from tests.kit.wait import until

S = OrderStatus
BTC = "BTC/USDT@binance"
REPLACE = "POST /api/v3/order/cancelReplace"


async def resting_buy(s, fake, qty: float = 0.01, below: float = 50.0) -> tuple[str, float]:
    """A buy limit resting ``below`` under the bid: (its client order id, its price)."""
    await s.tradable()
    price = round(max(fake.markets["BTCUSDT"].bids) - below, 2)
    cid = s.send(Side.BUY, OrderType.LIMIT, qty, price)
    await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "the order at Binance")
    return cid, price


def answers(s) -> list:
    seen: list = []
    s.kernel.bus.subscribe(CommandDone, seen.append)
    s.kernel.bus.subscribe(CommandRefused, seen.append)
    return seen


def at_venue(fake, cid: str) -> list[tuple[str, float, float, str]]:
    """Every order the fake holds under ``cid``: (status, price, quantity, venue id), oldest first."""
    return [(o.status, o.price, o.qty, str(o.order_id)) for o in fake.orders.values() if o.client_order_id == cid]


def test_a_move_at_binance_is_one_cancel_replace_that_keeps_the_order_and_its_fills(profile):
    async def go():
        async with running(profile, {"auto_market": False}, stream="poll") as s:
            fake = s.fake
            cid, price = await resting_buy(s, fake)
            old_vid = s.order(cid).venue_order_id
            seen = answers(s)
            new = round(price - 10.0, 2)
            s.kernel.bus.publish(ModifyOrder(cid, new, "not-used"))
            await until(lambda: s.order(cid).price == new and s.order(cid).venue_order_id != old_vid, 5,
                        "the order moved")
            order = s.order(cid)
            assert order.status is S.ACCEPTED and "not-used" not in s.kernel.execution.orders
            assert [type(a).__name__ for a in seen] == ["CommandDone"] and seen[0].detail == cid
            # one request at Binance: the old order canceled, the new one open under the same client id
            assert fake.requests.count(("POST", "/api/v3/order/cancelReplace")) == 1
            assert ("DELETE", "/api/v3/order") not in fake.requests
            vid = order.venue_order_id
            assert at_venue(fake, cid) == [("CANCELED", price, 0.01, old_vid), ("NEW", new, 0.01, vid)]
            sent = fake.replace_params[-1]
            assert (sent["cancelRestrictions"], sent["newClientOrderId"], sent["cancelOrderId"]) == \
                ("ONLY_NEW", cid, old_vid)
            s.kernel.execution.commit_states()
            con = sqlite3.connect(profile / "kestrel.db")
            row = con.execute("SELECT price, venue_order_id FROM orders WHERE client_order_id=?", (cid,)).fetchone()
            con.close()
            assert row == (new, vid)
            # a trade through the new price fills the same order
            fake.fill_order(cid)  # a trade at Binance fills the new order
            await until(lambda: s.order(cid).status is S.FILLED, 5, "the moved order filled")
            assert abs(s.order(cid).filled_qty - 0.01) < 1e-12
    run(go())


def test_a_fill_that_races_the_move_makes_binance_refuse_it_and_nothing_is_bought_twice(profile):
    async def go():
        async with running(profile, {"auto_market": False}, stream="poll") as s:
            fake = s.fake
            cid, price = await resting_buy(s, fake, qty=0.02)
            # half fills at Binance; Kestrel has not seen the trade yet when the move goes out
            fake.slow("GET /api/v3/myTrades", 1.5)
            fake.fill_order(cid, 0.01)
            new = round(price + 5.0, 2)
            s.kernel.bus.publish(ModifyOrder(cid, new, "not-used"))
            await until(lambda: "amend refused" in s.order(cid).reason, 5, "the refusal")
            assert "cancel restrictions" in s.order(cid).reason, s.order(cid).reason
            # nothing was placed beside what filled: one order at Binance, at its old price, for its old size
            assert at_venue(fake, cid) == [("PARTIALLY_FILLED", price, 0.02, s.order(cid).venue_order_id)]
            assert s.order(cid).price == price and s.order(cid).status.is_working
            fake.slow("GET /api/v3/myTrades", 0.0)
            await until(lambda: abs(s.order(cid).filled_qty - 0.01) < 1e-12, 5, "the half fill reported")
            # now part-filled, it moves by cancel-then-replace: the rest, under a new id
            s.kernel.bus.publish(ModifyOrder(cid, new, "moved-1"))
            await until(lambda: s.kernel.execution.orders.get("moved-1") is not None
                        and s.order("moved-1").status is S.ACCEPTED, 5, "the replacement")
            assert s.order(cid).status is S.CANCELED and abs(s.order("moved-1").quantity - 0.01) < 1e-12
            assert fake.requests.count(("POST", "/api/v3/order/cancelReplace")) == 1
    run(go())


def test_a_replace_whose_new_order_binance_refuses_ends_the_order_and_says_so(profile):
    from app.engine.core.messages import Alert

    async def go():
        async with running(profile, {"auto_market": False}, stream="poll") as s:
            fake = s.fake
            alerts: list = []
            s.kernel.bus.subscribe(Alert, alerts.append)
            cid, price = await resting_buy(s, fake)
            fake.reject_next_order("insufficient")  # the new order is refused after the cancel
            s.kernel.bus.publish(ModifyOrder(cid, round(price - 10.0, 2), "not-used"))
            await until(lambda: s.order(cid).status is S.CANCELED, 5, "the order's end")
            assert "refused the new order" in s.order(cid).reason and "place it again" in s.order(cid).reason
            assert [st for st, *_ in at_venue(fake, cid)] == ["CANCELED"]
            await until(lambda: any(cid in a.message for a in alerts), 5, "the alert")
    run(go())


def test_a_move_whose_answer_is_lost_is_settled_by_the_venues_record(profile):
    async def go():
        async with running(profile, {"auto_market": False}, stream="poll") as s:
            fake = s.fake
            cid, price = await resting_buy(s, fake)
            old_vid = s.order(cid).venue_order_id
            fake.fault(REPLACE, "drop", reached=True)  # Binance replaces it; the answer never arrives
            new = round(price - 10.0, 2)
            s.kernel.bus.publish(ModifyOrder(cid, new, "not-used"))
            await until(lambda: s.order(cid).price == new, 5, "the move found")
            assert s.order(cid).venue_order_id not in (None, old_vid) and s.order(cid).status is S.ACCEPTED
            assert fake.requests.count(("POST", "/api/v3/order/cancelReplace")) == 1  # never sent twice
            fake.fill_order(cid)  # a trade at Binance fills the new order
            await until(lambda: s.order(cid).status is S.FILLED, 5, "the moved order filled")
    run(go())


def test_a_restart_while_a_move_is_unanswered_takes_up_the_order_binance_has(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            cid, price = await resting_buy(s, fake)
            old_vid = s.order(cid).venue_order_id
            fake.fault(REPLACE, "timeout", reached=True, seconds=4)  # (ccxt waits 3 s)
            new = round(price - 10.0, 2)
            s.kernel.bus.publish(ModifyOrder(cid, new, "not-used"))
            await until(lambda: any(st == "NEW" and p == new for st, p, *_ in at_venue(fake, cid)), 5,
                        "the replace at Binance")
            s.kernel.execution.commit_states()
        finally:
            await s.close()  # Kestrel stops before the answer came
        fake.reset_faults()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await until(lambda: s.order(cid).price == new, 5, "the order as Binance has it")
            vid = s.order(cid).venue_order_id
            assert vid != old_vid and at_venue(fake, cid)[-1] == ("NEW", new, 0.01, vid)
            fake.fill_order(cid)  # a trade at Binance fills the new order
            await until(lambda: s.order(cid).status is S.FILLED, 5, "the moved order filled")
        finally:
            await s.close()
            await fake.stop()
    run(go())
