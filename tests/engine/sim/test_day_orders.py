"""DAY orders on the sim (issue 20, item 1): a DAY limit rests like a GTC one and leaves the book when its UTC day
ends (crypto's trading day), saying so; a GTC one placed beside it stays. The terminal starts a minute before
midnight UTC so the day ends within the test."""
from __future__ import annotations

from app.config import RiskSettings, Settings, SimSettings
from app.engine.core.clock import SimClock
from app.engine.core.messages import OrderStatus, OrderType, Side, SubmitOrder, TimeInForce
from app.engine.kernel import Kernel
from tests.kit.kernel import LOOSE_LIMITS, advance

BTC = "BTC/USDT@sim"
MIDNIGHT = 1_750_032_000_000  # 2025-06-16 00:00:00 UTC


def test_a_day_order_expires_when_its_utc_day_ends_and_a_gtc_one_stays(profile):
    k = Kernel(profile, Settings(sim=SimSettings(latency_ms=0), risk=RiskSettings(**LOOSE_LIMITS)),
               clock=SimClock(MIDNIGHT - 60_000))
    k.start()
    try:
        advance(k, 500)
        bid = k.market.get(BTC).book.best_bid
        inst = k.instruments[BTC]
        price = inst.round_price(bid - 50 * inst.tick_size)
        for cid, tif in (("day-1", TimeInForce.DAY), ("gtc-1", TimeInForce.GTC)):
            k.bus.publish(SubmitOrder(cid, BTC, "sim", Side.BUY, OrderType.LIMIT, 0.01, price, "manual", tif=tif))
        advance(k, 100)
        day, gtc = k.execution.orders["day-1"], k.execution.orders["gtc-1"]
        assert day.status is OrderStatus.ACCEPTED and gtc.status is OrderStatus.ACCEPTED
        while k.clock.now_ms() < MIDNIGHT - 1_000:
            advance(k, 1_000, step=500)
        assert day.status is OrderStatus.ACCEPTED  # still its day
        advance(k, 2_000, step=500)
        assert day.status is OrderStatus.CANCELED and day.reason == "expired at the end of the UTC day (DAY order)"
        assert gtc.status is OrderStatus.ACCEPTED
        assert "day-1" not in [o.client_order_id for o in k.sim.open_orders()]
    finally:
        k.close()
