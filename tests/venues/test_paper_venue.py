"""Paper trading on a live market (issue 19, item 5): a ``PaperVenue`` on the fake Binance (127.0.0.1, no
keys).
The exchange's live book and trades fill paper orders through the real kernel (risk, journal, portfolio); the
exchange never hears of an order. The fake's book is still and its prints come by hand (``print_trade``, which
takes its size from the level it hits), so every fill here is one the queue estimate decided."""
from __future__ import annotations

import pytest

from app.engine.core.messages import Alert, OrderStatus, OrderType, Side
from tests.kit.venues import Session, run
from tests.kit.wait import until

BTC, ETH = "BTC/USDT@binance-paper", "ETH/USDT@binance-paper"
PRIVATE = ("/api/v3/order", "/api/v3/openOrders", "/api/v3/allOrders", "/api/v3/myTrades", "/api/v3/account")


def paper(profile, fake, **over) -> Session:
    cfg = {"name": "binance-paper", "paper": True, "stream": "poll", "paper_latency_ms": 20,
           "paper_balances": {"USDT": 100_000.0}}
    cfg.update(over)
    return Session(profile, fake, **cfg)


def order_calls(fake) -> list:
    return [r for r in fake.requests if r[1] in PRIVATE]


def test_a_resting_paper_limit_waits_for_the_queue_ahead_of_it_and_the_exchange_hears_of_no_order(profile,
                                                                                                fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await paper(profile, fake).start(credentials=None)
        k, venue = s.kernel, s.venue
        try:
            await s.tradable(BTC)
            assert venue.name == "binance-paper" and k.instruments[BTC].market == "binance"
            assert k.instruments[BTC].data_venue == "binance"  # its history is Binance's stored series
            def shown(px):  # the size at px of the book the paper venue published (and matched on) last
                return dict(k.market.get(BTC).book.bids).get(px)

            bids = fake.markets["BTCUSDT"].bids
            price = max(bids)
            ahead = bids[price]  # the level's displayed size when we join: all of it is ahead of us
            cid = k.submit(BTC, Side.BUY, OrderType.LIMIT, 0.01, price)
            await until(lambda: s.order(cid).status is OrderStatus.ACCEPTED, 5, "the paper order accepted")
            assert venue.queue_ahead(cid) == pytest.approx(ahead)

            # someone joins behind us (a level that grows grows behind us), then the price trades at our bid:
            # the naive "touch" would fill here, but half the queue is still ahead
            await fake.set_level("BTC/USDT", "bid", price, ahead + 0.5)
            await until(lambda: shown(price) == pytest.approx(ahead + 0.5), 5, "the book showing it")
            assert venue.queue_ahead(cid) == pytest.approx(ahead)
            half = round(ahead / 2, 5)
            await fake.print_trade("BTC/USDT", price, half, "sell")
            await until(lambda: shown(price) == pytest.approx(ahead + 0.5 - half), 5, "the book's drop")
            await until(lambda: venue.queue_ahead(cid) < ahead - 1e-9, 5, "the print at the paper venue")
            left = venue.queue_ahead(cid)
            assert left == pytest.approx(ahead - half)  # the book's drop was the print, not cancels as well
            assert s.order(cid).filled_qty == 0.0

            # the next print uses up the rest of the queue and 0.004 more: that much is ours, at our price
            await fake.print_trade("BTC/USDT", price, round(left + 0.004, 5), "sell")
            await until(lambda: s.order(cid).filled_qty > 0, 5, "the first paper fill")
            assert s.order(cid).status is OrderStatus.PARTIALLY_FILLED
            assert s.order(cid).filled_qty == pytest.approx(0.004)
            await fake.print_trade("BTC/USDT", price, 0.02, "sell")
            await until(lambda: s.order(cid).status is OrderStatus.FILLED, 5, "the paper order filled")

            fills = [f for f in k.store.fills() if f["client_order_id"] == cid]
            assert [round(f["quantity"], 8) for f in fills] == [0.004, 0.006]
            inst = k.instruments[BTC]
            for f in fills:
                assert (f["venue"], f["symbol"]) == ("binance-paper", "BTC/USDT")  # the paper venue's
                assert f["liquidity"] == "MAKER" and f["price"] == price
                assert f["fee"] == pytest.approx(price * f["quantity"] * inst.maker_fee)
            row = k.store.conn.execute("SELECT venue FROM orders WHERE client_order_id = ?",
                                       (cid,)).fetchone()
            assert row[0] == "binance-paper"
            pos = k.portfolio.positions[BTC]
            assert pos.quantity == pytest.approx(0.01) and pos.avg_price == price
            usdt = 100_000.0 - price * 0.01 * (1 + inst.maker_fee)
            assert k.portfolio.paper_balances()["binance-paper"]["USDT"] == pytest.approx(usdt)
            assert venue.balances == pytest.approx({"USDT": usdt, "BTC": 0.01})
            assert order_calls(fake) == [] and fake.orders == {}  # no order endpoint was ever called
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_marketable_paper_order_walks_the_displayed_book_as_taker_and_a_market_remainder_is_canceled(
        profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await paper(profile, fake).start(credentials=None)
        k = s.kernel
        try:
            await s.tradable(ETH)
            asks = sorted(fake.markets["ETHUSDT"].asks.items())
            (p1, q1), (p2, q2) = asks[0], asks[1]
            cid = k.submit(ETH, Side.BUY, OrderType.MARKET, round(q1 + 0.2, 4))
            await until(lambda: s.order(cid).status is OrderStatus.FILLED, 5, "the market order filled")
            fills = [(f["price"], round(f["quantity"], 8), f["liquidity"]) for f in k.store.fills()
                     if f["client_order_id"] == cid]
            assert fills == [(p1, q1, "TAKER"), (p2, 0.2, "TAKER")]  # the best level whole, then the next

            # a limit that crosses takes what is shown up to its price and rests the rest in the queue
            top = round(p2, 2)
            cid2 = k.submit(ETH, Side.BUY, OrderType.LIMIT, round(q1 + q2 + 0.5, 4), top)
            await until(lambda: s.order(cid2).filled_qty > 0, 5, "the crossing limit's taking")
            assert s.order(cid2).status is OrderStatus.PARTIALLY_FILLED
            assert s.order(cid2).filled_qty == pytest.approx(q1 + q2)  # our taking never leaves the live book
            assert s.venue.queue_ahead(cid2) == 0.0  # resting at a price no one else bids at: first in line

            # a market order bigger than the displayed depth takes it all; the rest is canceled, as IOC
            depth = sum(q for _, q in asks)
            cid3 = k.submit(ETH, Side.BUY, OrderType.MARKET, round(depth + 1.0, 4))
            await until(lambda: s.order(cid3).status is OrderStatus.CANCELED, 5, "the IOC remainder canceled")
            assert s.order(cid3).filled_qty == pytest.approx(depth)
            assert "displayed depth ran out" in s.order(cid3).reason
            assert order_calls(fake) == []
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_paper_balances_refuse_what_the_paper_account_cannot_pay_for(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await paper(profile, fake, paper_balances={"USDT": 1_000.0}).start(credentials=None)
        k = s.kernel
        try:
            await s.tradable(BTC)
            price = max(fake.markets["BTCUSDT"].bids)
            big = k.submit(BTC, Side.BUY, OrderType.LIMIT, 0.02, price)  # ~1,200 USDT
            await until(lambda: s.order(big).status is OrderStatus.REJECTED, 5, "the paper refusal")
            assert s.order(big).reason.startswith("paper balance: buying 0.02 BTC/USDT")
            assert "1,000 USDT free" in s.order(big).reason
            small = k.submit(BTC, Side.BUY, OrderType.LIMIT, 0.01, price)  # ~600 USDT: fits, and is held
            await until(lambda: s.order(small).status is OrderStatus.ACCEPTED, 5, "the paper order resting")
            again = k.submit(BTC, Side.BUY, OrderType.LIMIT, 0.009, price)  # the free ~400 cannot pay for it
            await until(lambda: s.order(again).status is OrderStatus.REJECTED, 5, "the second refusal")
            assert "paper balance" in s.order(again).reason
            sell = k.submit(BTC, Side.SELL, OrderType.LIMIT, 0.01, round(price * 1.01, 2))  # no BTC to sell
            await until(lambda: s.order(sell).status is OrderStatus.REJECTED, 5, "no BTC to sell")
            assert s.order(sell).reason.startswith("paper balance: selling 0.01 BTC/USDT needs 0.01 BTC")
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_stale_paper_feed_refuses_new_orders_marks_working_ones_stale_and_they_rejoin_at_the_back(
        profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await paper(profile, fake, stale_after_s=0.5).start(credentials=None)
        k, venue = s.kernel, s.venue
        try:
            await s.tradable(BTC)
            price = max(fake.markets["BTCUSDT"].bids)
            cid = k.submit(BTC, Side.BUY, OrderType.LIMIT, 0.01, price)
            await until(lambda: s.order(cid).status is OrderStatus.ACCEPTED, 5, "the paper order resting")

            fake.fail_next("GET /api/v3/depth", 503, -1001, "Internal error", n=10 ** 6)  # no more books
            await until(lambda: "paper feed stale" in s.order(cid).reason, 5, "the order marked stale")
            assert s.order(cid).status is OrderStatus.ACCEPTED  # still working: only its fills are paused
            assert venue.stale_symbols() == ["BTC/USDT"]
            alerts = [a for a in s.of(Alert) if "paper feed stale" in a.title]
            assert alerts and "1 working paper order(s)" in alerts[0].message
            refused = k.submit(BTC, Side.BUY, OrderType.LIMIT, 0.02, price)
            await until(lambda: s.order(refused).status is OrderStatus.REJECTED, 5, "the new order refused")
            assert s.order(refused).reason.startswith("paper feed stale: no book of BTC/USDT from binance")
            await fake.print_trade("BTC/USDT", price - 1.0, 0.1, "sell")  # through our bid, seen while stale
            await fake.set_level("BTC/USDT", "bid", price, 3.0)  # and the level grew meanwhile

            fake.reset_faults()
            await until(lambda: "rejoined the back of its level" in s.order(cid).reason, 5, "live again")
            assert venue.stale_symbols() == []
            assert s.order(cid).filled_qty == 0.0  # nothing filled it while the feed was stale
            assert venue.queue_ahead(cid) == pytest.approx(3.0)  # at the back of the level as shown now
            fresh = k.submit(BTC, Side.BUY, OrderType.LIMIT, 0.03, price)
            await until(lambda: s.order(fresh).status is OrderStatus.ACCEPTED, 5, "orders taken again")
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_a_restart_cancels_the_journals_working_paper_orders_with_the_reason_and_keeps_the_paper_account(
        profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        try:
            s = await paper(profile, fake).start(credentials=None)
            await s.tradable(ETH)
            bought = s.kernel.submit(ETH, Side.BUY, OrderType.MARKET, 0.1)
            await until(lambda: s.order(bought).status is OrderStatus.FILLED, 5, "a paper fill")
            resting = s.kernel.submit(ETH, Side.BUY, OrderType.LIMIT, 0.1, max(fake.markets["ETHUSDT"].bids))
            await until(lambda: s.order(resting).status is OrderStatus.ACCEPTED, 5, "a resting paper order")
            account = dict(s.venue.balances)
            await s.close()

            s = await paper(profile, fake).start(credentials=None)
            try:
                await until(lambda: s.order(resting).status is OrderStatus.CANCELED, 5, "the reconcile")
                assert "paper orders end with the session that placed them" in s.order(resting).reason
                assert s.order(bought).status is OrderStatus.FILLED
                assert s.venue.balances == pytest.approx(account)  # 100,000 USDT less the fill, plus 0.1 ETH
                assert s.kernel.portfolio.paper_balances()["binance-paper"] == pytest.approx(account)
                assert account["ETH"] == pytest.approx(0.1) and account["USDT"] < 100_000.0
            finally:
                await s.close()
            assert order_calls(fake) == []
        finally:
            await fake.stop()
    run(go())


def test_headless_paper_trading_with_a_strategy_never_sends_an_order_to_the_exchange(tmp_path):
    """`kestrel run --headless --venue binance --paper` as a user runs it (a real process) on the fake
    Binance: the first run learns the markets, the second runs a market maker on BTC/USDT@binance-paper."""
    import json
    import os
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    from tests.kit.venues import FakeInThread

    root = Path(__file__).resolve().parents[2]
    prof = tmp_path / "p"

    def kestrel(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(root)}
        return subprocess.run([sys.executable, "main.py", "run", "--headless", *args, "--profile", str(prof)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=90)

    srv = FakeInThread()
    try:
        cfg = srv.fake.venue_config(stream="poll", poll_interval_s=0.1,
                                    paper_balances={"USDT": 5000, "BTC": 0.01})
        cfg_file = tmp_path / "binance.json"
        cfg_file.write_text(json.dumps(cfg))
        base = ["--venue", "binance", "--paper", "--venue-config", str(cfg_file), "--symbols", "BTC/USDT"]
        r = kestrel(*base, "--duration", "1")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "venue binance-paper: CONNECTED (PAPER trading on binance's live market" in r.stdout, r.stdout
        r = kestrel(*base, "--duration", "2", "--strategy",
                    "market_maker:symbol=BTC/USDT@binance-paper,size=0.001,half_spread_bps=0.5")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "strategy market_maker: RUNNING {'symbol': 'BTC/USDT@binance-paper'" in r.stdout, r.stdout
        db = sqlite3.connect(prof / "kestrel.db")
        venues = db.execute("SELECT DISTINCT venue FROM orders").fetchall()
        accepted = db.execute("SELECT COUNT(*) FROM orders WHERE venue_order_id LIKE 'P%'").fetchone()[0]
        db.close()
        assert venues == [("binance-paper",)] and accepted >= 2  # the quotes, acknowledged by the paper venue
        assert not [r for r in srv.fake.requests if r[1] in PRIVATE]  # the exchange heard of no order
    finally:
        srv.stop()


def test_paper_without_a_venue_is_refused_with_what_to_do(tmp_path, capsys):
    from app.cli.main import build_parser
    from app.cli.run import run_headless

    args = build_parser().parse_args(["run", "--headless", "--paper", "--profile", str(tmp_path / "p")])
    assert run_headless(tmp_path / "p", 0.1, args) == 2
    err = capsys.readouterr().err
    assert "--paper needs --venue ID (a ccxt exchange, e.g. --venue binance --paper)" in err


def test_paper_ioc_fok_and_post_only_against_the_live_book(profile, fake_factory):
    """IOC takes what the live book shows at its price and cancels the rest; FOK fills whole from the displayed
    book or not at all; post-only is refused when it would take and rests when it would not. Nothing is sent."""
    from app.engine.core.messages import SubmitOrder, TimeInForce

    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await paper(profile, fake).start(credentials=None)
        k = s.kernel
        try:
            await s.tradable(BTC)
            asks = sorted(fake.markets["BTCUSDT"].asks)
            (p1, s1), (p2, s2) = (asks[0], 0.1), (asks[1], 0.15)  # small levels: inside the notional limits
            await fake.set_level("BTC/USDT", "ask", p1, s1)
            await fake.set_level("BTC/USDT", "ask", p2, s2)
            await until(lambda: k.market.get(BTC).book.asks[:2] == ((p1, s1), (p2, s2)), 5, "the small levels")
            bid = max(fake.markets["BTCUSDT"].bids)

            def send(qty, price, **kw):
                cid = k.port.new_order_id()
                k.bus.publish(SubmitOrder(cid, BTC, "binance-paper", Side.BUY, OrderType.LIMIT, qty, price,
                                          "manual", **kw))
                return cid

            async def ended(cid):
                await until(lambda: s.order(cid).status.is_terminal, 5, f"{cid} ended")
                return s.order(cid)

            want = round(s1 + s2 + 0.05, 5)
            ioc = await ended(send(want, p2, tif=TimeInForce.IOC))
            assert ioc.status is OrderStatus.CANCELED and ioc.reason == "IOC remainder", (ioc.status, ioc.reason)
            assert ioc.filled_qty == pytest.approx(s1 + s2, abs=1e-5)  # both displayed levels, in lots
            fok = await ended(send(round(want + 0.01, 5), p2, tif=TimeInForce.FOK))
            assert fok.status is OrderStatus.CANCELED and fok.filled_qty == 0.0
            assert fok.reason.startswith(f"FOK: only {s1 + s2:g} of") and "nothing filled" in fok.reason
            whole = await ended(send(round(s1 / 2, 5), p1, tif=TimeInForce.FOK))
            assert whole.status is OrderStatus.FILLED
            taker = await ended(send(0.01, p1, post_only=True))
            assert taker.status is OrderStatus.REJECTED and "post-only: a buy at" in taker.reason
            maker = send(0.02, bid, post_only=True)
            await until(lambda: s.order(maker).status is OrderStatus.ACCEPTED, 5, "the post-only order resting")
            assert order_calls(fake) == []  # paper: the exchange heard of none of it
        finally:
            await s.close()
            await fake.stop()
    run(go())
