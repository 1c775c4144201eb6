"""Venue-qualified instruments on a live venue (issue 19, item 1): the sim's BTC/USDT and Binance's BTC/USDT
(the fake exchange on 127.0.0.1) are two instruments, BTC/USDT@sim and BTC/USDT@binance, side by side: two
books, two positions, two limits; an order goes to the venue its instrument names, never to another; the
exchange is sent its own symbol; a bare "BTC/USDT" is refused where it could mean either."""
from __future__ import annotations

import pytest

from app.engine.core.instruments import AmbiguousSymbol
from app.engine.core.messages import BookSnapshot, OrderDenied, OrderStatus, OrderType, Side, SubmitOrder
from tests.kit.venues import Session, run
from tests.kit.wait import until

SIM, BINANCE = "BTC/USDT@sim", "BTC/USDT@binance"


def test_sim_and_binance_btc_usdt_trade_side_by_side_each_on_its_own_venue(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()  # Binance's BTC/USDT at ~60,000, the sim's at ~65,000
        s = await Session(profile, fake, stream="poll").start()
        k = s.kernel
        try:
            await s.tradable(BINANCE)
            await until(lambda: k.market.get(SIM).book is not None, 5, "the sim's book")
            assert k.instruments[SIM].venue == "sim" and k.instruments[BINANCE].venue == "binance"
            sim_mid, binance_mid = k.market.get(SIM).book.mid, k.market.get(BINANCE).book.mid
            assert sim_mid > 63_000 and binance_mid < 62_000  # two books, never mixed under one id
            books = {b.symbol for b in s.of(BookSnapshot)}
            assert {SIM, BINANCE} <= books and "BTC/USDT" not in books

            with pytest.raises(AmbiguousSymbol, match="BTC/USDT@binance, BTC/USDT@sim"):
                k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, 50_000.0)  # which one? say it

            # an order for the sim's instrument never reaches Binance
            on_sim = k.submit(SIM, Side.BUY, OrderType.MARKET, 0.01)
            await until(lambda: s.order(on_sim).status is OrderStatus.FILLED, 5, "the sim fill")
            assert fake.order_by_client_id(on_sim) is None and not fake.orders
            # an order for Binance's goes to Binance, named in the exchange's own symbol
            on_binance = k.submit(BINANCE, Side.BUY, OrderType.LIMIT, 0.002, 59_000.0)
            await until(lambda: s.order(on_binance).status is OrderStatus.ACCEPTED, 5, "Binance accepting it")
            sent = fake.order_by_client_id(on_binance)
            assert sent is not None and sent.symbol == "BTCUSDT" and len(fake.orders) == 1
            fake.fill_order(on_binance, 0.002)
            await until(lambda: s.order(on_binance).status is OrderStatus.FILLED, 5, "the Binance fill")

            # two positions, each its venue's
            positions = {sym: p.quantity for sym, p in k.portfolio.positions.items() if p.quantity}
            assert positions == {SIM: pytest.approx(0.01), BINANCE: pytest.approx(0.002)}
            # the journal keeps the venue's symbol beside the venue
            fills = {(f["venue"], f["symbol"]) for f in k.store.fills()}
            assert fills == {("binance", "BTC/USDT"), ("sim", "BTC/USDT")}

            # a limit on Binance's instrument leaves the sim's alone
            k.risk.update_limits({"max_order_qty": {**k.risk.limits.max_order_qty, BINANCE: 0.001}}, "manual",
                                 "test: a tighter limit on binance")
            denied = []
            k.bus.subscribe(OrderDenied, denied.append)
            big_binance = k.submit(BINANCE, Side.BUY, OrderType.LIMIT, 0.002, 59_000.0)
            big_sim = k.submit(SIM, Side.BUY, OrderType.LIMIT, 0.002, round(sim_mid * 0.98, 1))
            assert [(d.client_order_id, d.reason) for d in denied] == [(big_binance, "MAX_ORDER_QTY")]
            assert s.order(big_sim).status is not OrderStatus.DENIED

            # an order naming one venue's instrument but sent to another is refused, never rerouted
            k.bus.publish(SubmitOrder("wrong-1", BINANCE, "sim", Side.BUY, OrderType.LIMIT, 0.001, 50_000.0))
            assert denied[-1].client_order_id == "wrong-1" and denied[-1].reason == "VENUE_MISMATCH"
            assert "traded on binance" in denied[-1].message
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_strategy_on_a_bare_symbol_two_venues_list_is_refused_naming_both(profile, fake_factory):
    async def go():
        fake = await fake_factory().start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            manager = s.kernel.strategies
            with pytest.raises(ValueError, match="BTC/USDT is listed by 2 venues: write one of "
                                                 "BTC/USDT@binance, BTC/USDT@sim"):
                manager.load("sma_cross", "bare", {"symbol": "BTC/USDT"})
            runner = manager.load("sma_cross", "on-binance", {"symbol": BINANCE})
            assert runner.symbol == BINANCE
            only_sim = manager.load("sma_cross", "eth", {"symbol": "600519.SH"})  # one venue lists it
            assert only_sim.symbol == "600519.SH@sim"
        finally:
            await s.close()
            await fake.stop()
    run(go())
