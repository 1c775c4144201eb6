"""DAY orders at Binance (issue 20, item 1), against the fake Binance on 127.0.0.1: Binance spot has no DAY time in
force, so Kestrel sends a DAY limit as GTC and cancels it at 00:00 UTC on the exchange's clock, saying so; a DAY
order whose day ended while Kestrel was not running is canceled when it connects again, saying that."""
from __future__ import annotations

from app.engine.core.messages import OrderStatus, OrderType, Side, TimeInForce
from app.engine.venues.ccxt.orders import day_end
from tests.kit.venues import Session, order_polls, run, running
from tests.kit.wait import until

S = OrderStatus


def shifted(s, by: list[int]) -> None:
    """The venue's clock, ``by[0]`` ms ahead of the real one (a test moves it to the end of the day)."""
    real = s.venue._now
    s.venue._now = lambda: real() + by[0]


async def day_buy(s, fake) -> tuple[str, float]:
    await s.tradable()
    price = round(max(fake.markets["BTCUSDT"].bids) - 50.0, 2)
    cid = s.send(Side.BUY, OrderType.LIMIT, 0.01, price, tif=TimeInForce.DAY)
    await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "the DAY order at Binance")
    return cid, price


def test_a_day_order_at_binance_is_a_gtc_that_kestrel_cancels_at_midnight_utc(profile):
    async def go():
        async with running(profile, {"auto_market": False}, stream="poll") as s:
            fake = s.fake
            by = [0]
            shifted(s, by)
            cid, _ = await day_buy(s, fake)
            assert fake.created_params[-1].get("timeInForce") == "GTC"  # Binance has no DAY
            exchange_now = s.venue.now_ms() + s.venue.time_offset_ms
            by[0] = day_end(exchange_now) - exchange_now - 2_000  # two seconds before 00:00 UTC
            await order_polls(s.venue, 3)
            assert s.order(cid).status is S.ACCEPTED  # not before its day ends
            by[0] += 3_000
            await until(lambda: s.order(cid).status is S.CANCELED, 5, "the DAY order's end")
            assert "expired at the end of the UTC day" in s.order(cid).reason
            assert "canceled by Kestrel at 00:00 UTC" in s.order(cid).reason, s.order(cid).reason
            assert fake.order_by_client_id(cid).status == "CANCELED"
    run(go())


def test_a_day_order_whose_day_ended_while_kestrel_was_closed_is_canceled_when_it_connects(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            cid, _ = await day_buy(s, fake)
            created = s.order(cid).created_ts
            s.kernel.execution.commit_states()
        finally:
            await s.close()
        s = await Session(profile, fake, stream="poll").start()
        shifted(s, [day_end(created) + 120_000 - s.venue.now_ms()])  # two minutes into the next day
        try:
            await until(lambda: s.order(cid).status is S.CANCELED, 5, "the DAY order's end")
            assert "Kestrel was not running at 00:00 UTC" in s.order(cid).reason, s.order(cid).reason
            assert fake.order_by_client_id(cid).status == "CANCELED"
        finally:
            await s.close()
            await fake.stop()
    run(go())
