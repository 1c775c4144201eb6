"""Restart reconciliation: the trader sees the difference between the venue and the journal and approves it
before trading resumes on that venue."""
from __future__ import annotations

from app.engine.core.messages import OrderStatus, OrderType, Side
from app.engine.venues.events import ApproveReconciliation, ReconciliationApplied, ReconciliationProposed
from tests.kit.venues import Session, run
from tests.kit.wait import until

S = OrderStatus


def test_restart_shows_differences_and_waits_for_approval(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        try:
            # session 1: two resting orders, then the terminal stops
            s1 = await Session(profile, fake, stream="poll").start()
            await s1.tradable()
            a = s1.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            b = s1.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 58_000.0)
            await until(lambda: s1.order(a).status is S.ACCEPTED and s1.order(b).status is S.ACCEPTED, 5, "acks")
            await s1.close()

            # while Kestrel is away: A fills partly, B is canceled on the website, a foreign order appears
            fake.fill_order(a, 0.006)
            fake.cancel_behind_our_back(b)
            fake.place_foreign_order("BTC/USDT", "SELL", 0.5, 70_000.0)

            s2 = await Session(profile, fake, approval="ask", stream="poll").start(wait_ready=False)
            try:
                await until(lambda: s2.venue.state == "awaiting_approval", 5, "the proposal")
                proposal = s2.of(ReconciliationProposed)[-1]
                kinds = sorted(i.kind for i in proposal.items)
                assert kinds == ["closed_at_venue", "missed_fill", "unknown_to_us"], proposal.lines()
                text = "\n".join(proposal.lines())
                assert "web_foreign1" in text and "canceled" in text and "missed fill" in text

                # nothing applied, and no new order reaches the venue before approval
                assert s2.order(a).filled_qty == 0.0 and s2.order(b).status is S.ACCEPTED
                posts = fake.requests.count(("POST", "/api/v3/order"))
                c = s2.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 57_000.0)
                await until(lambda: s2.order(c).status in (S.REJECTED, S.DENIED), 2, "refused")
                assert fake.requests.count(("POST", "/api/v3/order")) == posts

                s2.kernel.bus.publish(ApproveReconciliation("binance", "manual"))
                await until(lambda: s2.venue.connected, 5, "ready after approval")
                assert s2.order(a).status is S.PARTIALLY_FILLED and abs(s2.order(a).filled_qty - 0.006) < 1e-12
                assert s2.order(b).status is S.CANCELED and "while Kestrel was not watching" in s2.order(b).reason
                assert abs(s2.kernel.portfolio.positions["BTC/USDT@binance"].quantity - 0.006) < 1e-12
                applied = s2.of(ReconciliationApplied)[-1]
                assert applied.actor == "manual" and applied.applied >= 2

                await s2.tradable()
                d = s2.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 58_500.0)
                await until(lambda: s2.order(d).status is S.ACCEPTED, 5, "trading resumed")
                # the foreign order is shown, never touched
                assert fake.order_by_client_id("web_foreign1").status == "NEW"
                # the remaining fill of A is still tracked after the restart
                fake.fill_order(a)
                await until(lambda: s2.order(a).status is S.FILLED, 5, "A filled")
            finally:
                await s2.close()
        finally:
            await fake.stop()
    run(go())


def test_unknown_order_at_restart_is_resolved_by_client_id(profile, fake_factory):
    """An order journaled and sent, whose answer never arrived before a crash: at restart it is UNKNOWN; the
    venue has it, so approval acknowledges it. One that never arrived is closed, not re-sent."""
    async def go():
        fake = await fake_factory(auto_market=False).start()
        try:
            s1 = await Session(profile, fake, stream="poll", ccxt={"timeout": 300}, unknown_grace_s=60.0).start()
            await s1.tradable()
            fake.hang_after_place(1.0)
            fake.fail_next("GET /api/v3/order", 503, -1001, "Internal error", n=1000)  # lookups fail meanwhile
            a = s1.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s1.order(a).status is S.UNKNOWN, 5, "UNKNOWN")
            fake.hang_after_place(0)
            fake.fail_next("POST /api/v3/order", 504, -1007, "Timeout waiting for response from backend server.")
            b = s1.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 58_000.0)
            await until(lambda: s1.order(b).status is S.UNKNOWN, 5, "UNKNOWN")
            await s1.close()  # "crash" before the lookups could succeed
            fake.reset_faults()
            posts = fake.requests.count(("POST", "/api/v3/order"))

            s2 = await Session(profile, fake, approval="ask", stream="poll").start(wait_ready=False)
            try:
                await until(lambda: s2.venue.state == "awaiting_approval", 5, "the proposal")
                kinds = {i.client_order_id: i.kind for i in s2.of(ReconciliationProposed)[-1].items}
                assert kinds == {a: "confirmed", b: "not_at_venue"}
                s2.kernel.bus.publish(ApproveReconciliation("binance"))
                await until(lambda: s2.venue.connected, 5, "ready")
                assert s2.order(a).status is S.ACCEPTED
                assert s2.order(b).status is S.REJECTED and "not re-sent" in s2.order(b).reason
                assert fake.requests.count(("POST", "/api/v3/order")) == posts
            finally:
                await s2.close()
        finally:
            await fake.stop()
    run(go())


def test_no_difference_means_no_approval_needed(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        try:
            s1 = await Session(profile, fake, stream="poll").start()
            await s1.tradable()
            a = s1.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s1.order(a).status is S.ACCEPTED, 5, "ack")
            await s1.close()
            s2 = await Session(profile, fake, approval="ask", stream="poll").start()
            try:
                assert not s2.of(ReconciliationProposed)
                assert s2.order(a).status is S.ACCEPTED
            finally:
                await s2.close()
        finally:
            await fake.stop()
    run(go())
