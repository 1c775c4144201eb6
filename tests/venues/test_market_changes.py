"""A venue whose markets change under us (issue 19, bad input and faults): the fake Binance's BTC/USDT changes its
tick size and ETH/USDT disappears (delisted) between two loads of its markets. The terminal says so (alerts),
checks orders against the new definition, refuses orders for the delisted market with the reason (the sim's
ETH/USDT is not touched), and accepts them again once the market is listed again."""
from __future__ import annotations

import dataclasses

from app.engine.core.messages import Alert, OrderDenied, OrderType, Side
from tests.kit.venues import Session, run


def test_a_changed_tick_and_a_delisted_market_are_said_and_orders_on_the_stale_definition_refused(profile,
                                                                                                   fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        k = s.kernel
        try:
            await s.tradable("BTC/USDT@binance")
            btc, eth = k.instruments["BTC/USDT@binance"], k.instruments["ETH/USDT@binance"]
            assert btc.tick_size == 0.01
            alerts, denied = [], []
            k.bus.subscribe(Alert, alerts.append)
            k.bus.subscribe(OrderDenied, denied.append)
            # what the venue's next load of its markets brings: BTC/USDT on a 0.1 tick, ETH/USDT gone
            k.venues._add_instruments("binance", [dataclasses.replace(btc, tick_size=0.1)])
            titles = {a.title: a for a in alerts}
            assert "tick 0.01 -> 0.1" in titles["BTC/USDT@binance: market definition changed"].message
            gone = titles["ETH/USDT@binance is no longer listed"]
            assert gone.level == "critical" and "delisted or suspended" in gone.message

            bad_tick = k.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.05)
            on_tick = k.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.1)
            delisted = k.submit("ETH/USDT@binance", Side.BUY, OrderType.LIMIT, 0.1, 2_900.0)
            sim_eth = k.submit("ETH/USDT@sim", Side.BUY, OrderType.LIMIT, 0.1,
                               k.instruments["ETH/USDT@sim"].round_price(k.market.get("ETH/USDT@sim").book.mid * 0.98))
            reasons = {d.client_order_id: d for d in denied}
            assert reasons[bad_tick].reason == "PRICE_NOT_ON_TICK" and on_tick not in reasons
            assert reasons[delisted].reason == "INSTRUMENT_UNAVAILABLE"
            assert "binance no longer lists ETH/USDT" in reasons[delisted].message
            assert sim_eth not in reasons  # the sim's ETH/USDT is another instrument
            assert fake.order_by_client_id(delisted) is None

            k.venues._add_instruments("binance", [dataclasses.replace(btc, tick_size=0.1), eth])  # listed again
            again = k.submit("ETH/USDT@binance", Side.BUY, OrderType.LIMIT, 0.1, 2_890.0)
            assert not [d for d in denied if d.client_order_id == again and d.reason == "INSTRUMENT_UNAVAILABLE"]
        finally:
            await s.close()
            await fake.stop()
    run(go())
