"""Issue 16, defect 5: one malformed reply must never make a phantom order or wedge a ccxt venue.

The sequence that broke it: a 503 on create (the order is UNKNOWN), then a malformed reply to the lookup by
client order id, taken as "found": the order was journaled with venue_order_id 'None', every later poll asked
the venue for orderId=None (-1100), and the venue never became ready again.
"""
from __future__ import annotations

import sqlite3

from app.engine.core.messages import Alert, OrderStatus, OrderType, Side
from app.engine.venues.events import VenueError
from tests.kit.venues import Session, run, served_more
from tests.kit.wait import until

S = OrderStatus
MISSING = (None, "", "None", "null")


def journal(profile) -> dict[str, str | None]:
    """client order id -> venue order id, as written in the profile's database (read by a second reader)."""
    conn = sqlite3.connect(profile / "kestrel.db")
    try:
        return dict(conn.execute("SELECT client_order_id, venue_order_id FROM orders").fetchall())
    finally:
        conn.close()


def test_malformed_lookup_after_a_503_create_stays_unknown_then_resolves_to_the_real_order(profile,
                                                                                            fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll", unknown_grace_s=5.0).start()
        try:
            await s.tradable()
            fake.fault("POST /api/v3/order", "5xx", reached=True)  # placed, but the answer is a 503
            fake.fault("GET /api/v3/order", "malformed")  # the first lookup by client id is unreadable
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is not S.SUBMITTED, 5, "the create's outcome")
            assert s.order(cid).status is S.UNKNOWN, s.order(cid)
            await until(lambda: fake.faults_left() == 0, 5, "the malformed lookup")
            await until(lambda: s.order(cid).status is S.ACCEPTED, 8, "found by its client order id")
            placed = str(fake.order_by_client_id(cid).order_id)
            assert s.order(cid).venue_order_id == placed
            s.kernel.store.commit()
            assert journal(profile)[cid] == placed
            assert fake.requests.count(("POST", "/api/v3/order")) == 1, "never re-sent"

            # the venue keeps polling the real id, stays ready and takes new orders
            await served_more(fake, "GET /api/v3/openOrders", 8)  # eight polls of the open orders
            assert ("GET", "/api/v3/order") in fake.requests
            assert s.venue.connected and not [e for e in s.of(VenueError) if "-1100" in e.message]
            fake.fill_order(cid)
            await until(lambda: s.order(cid).status is S.FILLED, 5, "its fill")
            cid2 = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 58_000.0)
            await until(lambda: s.order(cid2).status is S.ACCEPTED, 5, "a new order")
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_unreadable_lookups_of_an_order_never_placed_end_rejected_not_found(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            fake.fault("POST /api/v3/order", "5xx")  # not placed
            fake.fault("GET /api/v3/order", "malformed", n=2)
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is S.UNKNOWN, 5, "UNKNOWN")
            await until(lambda: s.order(cid).status.is_terminal, 8, "resolved")
            assert s.order(cid).status is S.REJECTED and "not placed" in s.order(cid).reason
            assert s.order(cid).venue_order_id in (None,)
            s.kernel.store.commit()
            assert journal(profile)[cid] is None
            assert fake.requests.count(("POST", "/api/v3/order")) == 1
            assert s.venue.connected
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_malformed_create_reply_is_unknown_and_says_it_was_unreadable(profile, fake_factory):
    """A 200 with a body that is not JSON: the order may exist. UNKNOWN, found by client id, and the trader
    reads that the reply was unreadable (not "5xx")."""
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            fake.fault("POST /api/v3/order", "malformed", reached=True)
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is not S.SUBMITTED, 5, "the create's outcome")
            assert s.order(cid).status is S.UNKNOWN, s.order(cid)
            reason = s.order(cid).reason
            assert "unreadable reply" in reason and "not valid JSON" in reason and "5xx" not in reason, reason
            await until(lambda: s.order(cid).status is S.ACCEPTED, 8, "found")
            assert s.order(cid).venue_order_id == str(fake.order_by_client_id(cid).order_id)
            assert fake.requests.count(("POST", "/api/v3/order")) == 1
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_journal_with_a_phantom_venue_id_recovers_on_restart(profile, fake_factory):
    """A journal written by the old code (venue_order_id 'None'): the venue must still become ready, and the
    order is matched by its client order id and gets its real venue id."""
    async def go():
        fake = await fake_factory(auto_market=False).start()
        try:
            s1 = await Session(profile, fake, stream="poll").start()
            await s1.tradable()
            cid = s1.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s1.order(cid).status is S.ACCEPTED, 5, "ACCEPTED")
            await s1.close()
            conn = sqlite3.connect(profile / "kestrel.db")
            conn.execute("UPDATE orders SET venue_order_id='None' WHERE client_order_id=?", (cid,))
            conn.commit()
            conn.close()
            fake.cancel_behind_our_back(cid)  # not open any more: only a lookup can tell what became of it

            s2 = await Session(profile, fake, stream="poll").start(wait_ready=False)
            try:
                await until(lambda: s2.venue.connected, 8, "the venue ready despite the phantom id")
                await until(lambda: s2.order(cid).status is S.CANCELED, 5, "the order resolved")
                s2.kernel.store.commit()
                assert journal(profile)[cid] == str(fake.order_by_client_id(cid).order_id)
                cid2 = s2.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 58_000.0)
                await until(lambda: s2.order(cid2).status is S.ACCEPTED, 5, "a new order")
            finally:
                await s2.close()
        finally:
            await fake.stop()
    run(go())


def test_one_order_the_venue_refuses_to_look_up_does_not_stop_the_venue(profile, fake_factory):
    """The venue answers -1100 for one order's lookups: that order is shown as unresolved, the venue keeps
    serving the others, and the order is resolved once its lookups work again."""
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            bad = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(bad).status is S.ACCEPTED, 5, "ACCEPTED")
            fake.fail_next("GET /api/v3/order", 400, -1100,
                           "Illegal characters found in parameter 'orderId'.", n=10_000)
            fake.cancel_behind_our_back(bad)  # gone from the open orders: the poll looks it up, and fails
            await until(lambda: any(bad in a.message for a in s.of(Alert)), 5, "the order's alert")
            alert = [a for a in s.of(Alert) if bad in a.message][-1]
            assert "-1100" in alert.message and "check it on the exchange" in alert.message, alert.message
            # ten refused lookups (max_failures is 3): the venue must not count this order against itself
            lost = s.venue.stats["disconnects"]
            await served_more(fake, "GET /api/v3/order", 10)
            assert s.venue.connected and s.venue.state == "ready" and s.venue.stats["disconnects"] == lost
            good = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 58_000.0)
            await until(lambda: s.order(good).status is S.ACCEPTED, 5, "another order served")
            fake.fill_order(good)
            await until(lambda: s.order(good).status is S.FILLED, 5, "its fill")
            assert s.order(bad).status.is_working  # not guessed: still counting toward limits
            fake.reset_faults()
            await until(lambda: s.order(bad).status is S.CANCELED, 5, "resolved when lookups work again")
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_restart_with_an_order_the_venue_will_not_look_up_still_becomes_ready(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        try:
            s1 = await Session(profile, fake, stream="poll").start()
            await s1.tradable()
            bad = s1.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s1.order(bad).status is S.ACCEPTED, 5, "ACCEPTED")
            await s1.close()
            fake.cancel_behind_our_back(bad)
            fake.fail_next("GET /api/v3/order", 400, -1100,
                           "Illegal characters found in parameter 'orderId'.", n=10_000)

            s2 = await Session(profile, fake, approval="ask", stream="poll").start(wait_ready=False)
            try:
                await until(lambda: s2.venue.connected, 8, "ready: one order's trouble is not the venue's")
                alert = [a for a in s2.of(Alert) if bad in a.message][-1]
                assert "-1100" in alert.message and "check it on the exchange" in alert.message
                assert s2.order(bad).status is S.ACCEPTED  # nothing guessed about it
                good = s2.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 58_000.0)
                await until(lambda: s2.order(good).status is S.ACCEPTED, 5, "another order served")
                fake.reset_faults()
                await until(lambda: s2.order(bad).status is S.CANCELED, 5, "resolved once it can be looked up")
            finally:
                await s2.close()
        finally:
            await fake.stop()
    run(go())


class CarelessVenue:
    """A venue adapter that acknowledges without an order id (what the ccxt adapter used to do): the journal
    must never take such an id, whichever adapter sends it."""

    name, connected = "sim", True

    def __init__(self) -> None:
        self.sent: list = []

    def instruments(self) -> list:
        return []

    def submit(self, order) -> None:
        self.sent.append(order)

    def cancel(self, client_order_id: str) -> None:
        pass

    def open_orders(self) -> list:
        return []


def test_the_journal_never_records_a_missing_venue_order_id(make_kernel, profile):
    from app.engine.core.messages import OrderAccepted, OrderFilled

    k = make_kernel()
    venue = CarelessVenue()
    k.execution.add_venue(venue)  # swaps the sim adapter for a careless one, below the venue manager
    price = k.sim.last_price("BTC/USDT")
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, round(price * 0.99, 1))
    assert [o.client_order_id for o in venue.sent] == [cid]
    now = k.clock.now_ms()
    for missing in MISSING:
        k.execution.on_report(OrderAccepted(cid, missing, "BTC/USDT", now))
    k.execution.on_report(OrderFilled(cid, "", "T-careless-1", "BTC/USDT", "sim", Side.BUY, price, 0.004, 0.0,
                                      "", "MAKER", now))
    k.execution.commit_states()
    assert k.execution.orders[cid].venue_order_id is None
    assert k.execution.orders[cid].status is S.PARTIALLY_FILLED  # the fill counts; the missing id does not
    assert journal(profile)[cid] is None
    k.execution.on_report(OrderAccepted(cid, "8812", "BTC/USDT", now))
    k.execution.commit_states()
    assert journal(profile)[cid] == "8812" and k.execution.orders[cid].status is S.PARTIALLY_FILLED
