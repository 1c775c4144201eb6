"""IOC, FOK and post-only on a ccxt venue (issue 20, item 1), against the fake Binance on 127.0.0.1: real ccxt
turns our flags into Binance's own (timeInForce, LIMIT_MAKER), and the exchange's answers (EXPIRED, the
-2010 "would immediately match" refusal) end our orders with the reason a trader reads."""
from __future__ import annotations

from app.engine.core.messages import OrderStatus, OrderType, Side, TimeInForce
from tests.kit.venues import Session, run
from tests.kit.wait import until

S = OrderStatus
BTC = "BTC/USDT@binance"


async def ended(s, cid):
    await until(lambda: s.order(cid).status.is_terminal, 5, f"{cid} ended")
    return s.order(cid)


def test_ioc_and_fok_become_binances_time_in_force_and_end_as_the_exchange_says(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        fake.partial_fills = True  # a crossing limit fills half at once
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            ask = min(fake.markets["BTCUSDT"].asks)
            bid = max(fake.markets["BTCUSDT"].bids)
            ioc = await ended(s, s.send(Side.BUY, OrderType.LIMIT, 0.02, ask, tif=TimeInForce.IOC))
            assert ioc.status is S.CANCELED and abs(ioc.filled_qty - 0.01) < 1e-12 and ioc.reason == "IOC remainder"
            assert fake.created_params[-1]["timeInForce"] == "IOC" and fake.created_params[-1]["type"] == "LIMIT"
            resting = await ended(s, s.send(Side.BUY, OrderType.LIMIT, 0.01, round(bid * 0.999, 2),
                                          tif=TimeInForce.IOC))
            assert resting.status is S.CANCELED and resting.filled_qty == 0.0  # nothing there: expired
            fok = await ended(s, s.send(Side.BUY, OrderType.LIMIT, 0.04, ask, tif=TimeInForce.FOK))
            assert fok.status is S.CANCELED and fok.filled_qty == 0.0
            assert fok.reason == "FOK: not filled whole at once; nothing filled"
            assert fake.created_params[-1]["timeInForce"] == "FOK"
            fake.partial_fills = False
            whole = await ended(s, s.send(Side.BUY, OrderType.LIMIT, 0.06, ask, tif=TimeInForce.FOK))
            assert whole.status is S.FILLED and abs(whole.filled_qty - 0.06) < 1e-12
            market = await ended(s, s.send(Side.BUY, OrderType.MARKET, 0.01, tif=TimeInForce.FOK))
            assert market.status is S.REJECTED and "fill-or-kill only on limit orders" in market.reason
            assert fake.created_params[-1]["timeInForce"] == "FOK"  # the market FOK was never sent
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_post_only_is_binances_limit_maker_refused_when_it_would_take(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            ask = min(fake.markets["BTCUSDT"].asks)
            bid = max(fake.markets["BTCUSDT"].bids)
            taker = await ended(s, s.send(Side.BUY, OrderType.LIMIT, 0.01, ask, post_only=True))
            assert taker.status is S.REJECTED and taker.filled_qty == 0.0
            assert "post-only order would have filled at once" in taker.reason
            assert fake.created_params[-1]["type"] == "LIMIT_MAKER"
            cid = s.send(Side.BUY, OrderType.LIMIT, 0.01, bid, post_only=True)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "the maker order resting")
            assert fake.order_by_client_id(cid).type == "LIMIT_MAKER"
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_an_exchange_whose_mapping_is_not_checked_takes_gtc_only_and_the_gate_says_so():
    from app.engine.venues.ccxt.venue import CcxtVenue
    from app.engine.venues.venue_config import parse_config

    okx = CcxtVenue(parse_config({"name": "okx", "exchange": "okx"}), lambda e: None, lambda m: None)
    binance = CcxtVenue(parse_config({"name": "binance", "exchange": "binance"}), lambda e: None, lambda m: None)
    assert okx.order_features == frozenset()
    assert binance.order_features == {"IOC", "FOK", "DAY", "post_only", "STOP", "STOP_LIMIT", "TRAILING_STOP_BIPS",
                                      "amend"}  # (spot)
