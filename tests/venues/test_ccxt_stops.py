"""Native stops on a ccxt venue (issue 20, items 1 and 3; design step 7), against the fake Binance on 127.0.0.1:
real ccxt turns our STOP / STOP_LIMIT into Binance spot's STOP_LOSS / STOP_LOSS_LIMIT with its stopPrice; the
exchange keeps it off the book (the order is polled and reconciled as open, never closed as "not at the venue"),
fires it when a trade reaches it, and the fill comes back to the order. A stop the exchange refuses says why."""
from __future__ import annotations

from app.engine.core.messages import OrderStatus, OrderType, Side
from tests.kit.venues import Session, run
from tests.kit.wait import until

S = OrderStatus
BTC = "BTC/USDT@binance"


async def long_with_a_last_trade(s, fake):
    """A tradable session whose gate has seen a trade at the bid, with BTC to sell: (the fake's market, the bid)."""
    await s.tradable()
    m = fake.markets["BTCUSDT"]
    bid = max(m.bids)
    await fake.print_trade("BTC/USDT", bid, 0.001)
    await until(lambda: s.kernel.market.get(BTC) is not None and s.kernel.market.get(BTC).last, 5, "the trade seen")
    fake.balances["BTC"] = 1.0
    return m, bid


def test_a_native_stop_rests_at_binance_survives_reconcile_and_fires_on_a_trade(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            m = fake.markets["BTCUSDT"]
            bid = max(m.bids)
            await fake.print_trade("BTC/USDT", bid, 0.001)  # a last trade for the gate (and the fake)
            await until(lambda: s.kernel.market.get(BTC) is not None and s.kernel.market.get(BTC).last, 5,
                        "the trade seen")
            fake.balances["BTC"] = 1.0
            trigger = round(bid * 0.99, 2)
            cid = s.send(Side.SELL, OrderType.STOP, 0.01, trigger_price=trigger)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "the stop at Binance")
            stop = s.order(cid)
            assert not stop.emulated
            sent = fake.created_params[-1]
            assert (sent["type"], float(sent["stopPrice"])) == ("STOP_LOSS", trigger)
            assert fake.order_by_client_id(cid).status == "NEW"
            # a reconcile (as after a reconnect) finds it open: it stays, it is not closed as absent
            notes = s.kernel.execution.reconcile("binance")
            assert stop.status is S.ACCEPTED and not [n for n in notes if cid in n]
            # the market trades through it: Binance fires it, the fill comes back
            await fake.print_trade("BTC/USDT", round(trigger - 1.0, 2), 0.001)
            await until(lambda: s.order(cid).status is S.FILLED, 10, "the stop filled")
            assert abs(s.order(cid).filled_qty - 0.01) < 1e-12
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_stop_limit_is_binances_stop_loss_limit_and_a_refused_stop_says_why(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            m = fake.markets["BTCUSDT"]
            ask = min(m.asks)
            await fake.print_trade("BTC/USDT", ask, 0.001, aggressor="buy")
            await until(lambda: s.kernel.market.get(BTC) is not None and s.kernel.market.get(BTC).last, 5,
                        "the trade seen")
            trigger, limit = round(ask * 1.01, 2), round(ask * 1.012, 2)
            cid = s.send(Side.BUY, OrderType.STOP_LIMIT, 0.01, limit, trigger_price=trigger)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "the stop-limit at Binance")
            sent = fake.created_params[-1]
            assert (sent["type"], float(sent["stopPrice"]), float(sent["price"])) == \
                ("STOP_LOSS_LIMIT", trigger, limit)
            # Binance refuses a stop its own last price has already passed (our gate saw an older trade)
            fake.markets["BTCUSDT"].last_trade = trigger + 5.0
            bad = s.send(Side.BUY, OrderType.STOP, 0.01, trigger_price=round(trigger + 1.0, 2))
            await until(lambda: s.order(bad).status.is_terminal, 5, "the refusal")
            assert s.order(bad).status is S.REJECTED and "trigger immediately" in s.order(bad).reason
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_refused_native_stop_is_kept_by_kestrel_only_when_the_setting_allows_it(profile, fake_factory):
    from app.config import OrderSettings, Settings
    from app.engine.core.messages import Alert

    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll",
                          settings=Settings(orders=OrderSettings(fallback_to_emulation=True))).start()
        alerts = []
        s.kernel.bus.subscribe(Alert, alerts.append)
        try:
            m, bid = await long_with_a_last_trade(s, fake)
            trigger = round(bid * 0.99, 2)
            m.last_trade = trigger - 1.0  # Binance's last price is past it: it refuses the native stop
            cid = s.send(Side.SELL, OrderType.STOP, 0.01, trigger_price=trigger)
            await until(lambda: s.order(cid).status is S.REJECTED, 5, "the refusal")
            await until(lambda: s.kernel.execution.orders.get(cid + "e") is not None, 5, "kept by Kestrel")
            kept = s.order(cid + "e")
            assert kept.status is S.ARMED and kept.emulated and kept.trigger_price == trigger, kept.reason
            said = [a for a in alerts if cid in a.title]
            assert said and "Kestrel keeps it instead" in said[0].message and "trigger immediately" in said[0].message
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_without_the_setting_a_refused_native_stop_is_not_replaced_and_the_alarm_says_how(profile, fake_factory):
    from app.engine.core.messages import Alert

    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        alerts = []
        s.kernel.bus.subscribe(Alert, alerts.append)
        try:
            m, bid = await long_with_a_last_trade(s, fake)
            trigger = round(bid * 0.99, 2)
            m.last_trade = trigger - 1.0
            cid = s.send(Side.SELL, OrderType.STOP, 0.01, trigger_price=trigger)
            await until(lambda: s.order(cid).status is S.REJECTED, 5, "the refusal")
            await until(lambda: any(cid in a.title for a in alerts), 5, "the alarm")
            assert cid + "e" not in s.kernel.execution.orders
            said = next(a for a in alerts if cid in a.title)
            assert said.level == "critical" and "fallback_to_emulation" in said.message
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_percent_trailing_stop_is_binances_trailing_delta_and_trails_at_binance(profile, fake_factory):
    """Binance spot keeps a trailing stop itself (a STOP_LOSS with trailingDelta, in basis points): one by a whole
    number of basis points, on the last trade, with no activation price is sent there (native: it works while
    Kestrel is closed); by price, or with an activation price, Kestrel keeps it."""
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            m, bid = await long_with_a_last_trade(s, fake)
            cid = s.send(Side.SELL, OrderType.TRAILING_STOP, 0.01, trail_pct=1.0)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "the trailing stop at Binance")
            assert not s.order(cid).emulated
            sent = fake.created_params[-1]
            assert (sent["type"], sent["trailingDelta"], sent.get("stopPrice")) == ("STOP_LOSS", "100", None)
            # the market rises 2 %, then falls to 0.5 % under where it started: a stop that did not trail would still
            # wait at -1 % from the start; Binance's followed the high, so 2.5 % off it, it fires
            high = round(bid * 1.02, 2)
            await fake.print_trade("BTC/USDT", high, 0.001, aggressor="buy")
            await fake.print_trade("BTC/USDT", round(bid * 0.995, 2), 0.001)
            await until(lambda: s.order(cid).status is S.FILLED, 10, "the trailing stop filled")
            assert fake.order_by_client_id(cid).stop_price == round(high * 0.99, 2)
            # by price, or with an activation price: Kestrel keeps it
            by_price = s.send(Side.SELL, OrderType.TRAILING_STOP, 0.01, trail_amount=50.0)
            activated = s.send(Side.SELL, OrderType.TRAILING_STOP, 0.01, trail_pct=1.0,
                               trigger_price=round(bid * 1.05, 2))
            odd = s.send(Side.SELL, OrderType.TRAILING_STOP, 0.01, trail_pct=0.125)  # 12.5 basis points
            await until(lambda: all(s.order(c).status is S.ARMED for c in (by_price, activated, odd)), 5,
                        "kept by Kestrel")
            assert all(s.order(c).emulated for c in (by_price, activated, odd))
            assert [p["type"] for p in fake.created_params].count("STOP_LOSS") == 1  # none of them went to Binance
        finally:
            await s.close()
            await fake.stop()
    run(go())
