"""The ccxt adapter against the fake Binance on 127.0.0.1: real ccxt signing, parsing and error mapping."""
from __future__ import annotations

import time

from app.engine.core.messages import (
    BookSnapshot,
    OrderStatus,
    OrderType,
    Side,
    TradeTick,
    VenueStatus,
)
from app.engine.venues.events import FeedStatus, VenueError
from tests.kit.venues import Session, order_polls, run, served_more
from tests.kit.wait import until

S = OrderStatus


def test_connects_streams_market_data_and_loads_instruments(profile, fake_factory):
    async def go():
        fake = await fake_factory().start()
        s = await Session(profile, fake).start()
        try:
            await until(lambda: sum(b.symbol == "BTC/USDT@binance" for b in s.of(BookSnapshot)) > 5
                        and sum(t.symbol == "BTC/USDT@binance" for t in s.of(TradeTick)) > 5, 5, "market data")
            inst = s.kernel.instruments["BTC/USDT@binance"]
            assert (inst.venue, inst.tick_size, inst.lot_size, inst.min_notional) == ("binance", 0.01, 1e-05, 5.0)
            book = [b for b in s.of(BookSnapshot) if b.symbol == "BTC/USDT@binance"][-1]
            assert book.symbol in ("BTC/USDT@binance", "ETH/USDT@binance") and book.bids[0][0] < book.asks[0][0]
            assert len(book.bids) == 10
            assert s.kernel.venue_status["binance"].connected
            assert s.venue.feed.mode == "ws"
            states = {(f.symbol, f.channel): f.state for f in s.of(FeedStatus)}
            assert states[("BTC/USDT@binance", "trades")] == "live" and states[("BTC/USDT@binance", "book")] == "live"
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_limit_order_partial_fill_then_cancel(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "ACCEPTED")
            assert s.order(cid).venue_order_id == str(fake.order_by_client_id(cid).order_id)
            fake.fill_order(cid, 0.004)
            await until(lambda: s.order(cid).status is S.PARTIALLY_FILLED, 5, "the partial fill")
            await order_polls(s.venue, 4)  # the order is still open: each poll re-reads the same trade
            assert abs(s.order(cid).filled_qty - 0.004) < 1e-12
            s.kernel.execution.cancel(cid)
            await until(lambda: s.order(cid).status is S.CANCELED, 5, "CANCELED")
            assert fake.order_by_client_id(cid).status == "CANCELED"
            fills = list(s.kernel.store.fills())
            assert [(f["venue"], f["quantity"]) for f in fills] == [("binance", 0.004)]
            assert abs(s.kernel.portfolio.positions["BTC/USDT@binance"].quantity - 0.004) < 1e-12
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_market_order_filled_once_from_the_create_answer_and_the_poll(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.MARKET, 0.02)
            await until(lambda: s.order(cid).status is S.FILLED, 5, "FILLED")
            await order_polls(s.venue, 6)  # none of them may report the fill again
            fills = list(s.kernel.store.fills())
            assert len(fills) == 1 and fills[0]["trade_id"] == str(fake.my_trades[0]["id"])
            assert abs(s.kernel.portfolio.positions["BTC/USDT@binance"].quantity - 0.02) < 1e-12
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_timed_out_create_is_unknown_then_found_by_client_id_never_resent(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll", ccxt={"timeout": 400}).start()
        try:
            await s.tradable()
            fake.hang_after_place(1.5)
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is S.UNKNOWN, 5, "UNKNOWN")
            assert "client order id" in s.order(cid).reason
            fake.hang_after_place(0)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 8, "found and ACCEPTED")
            assert fake.requests.count(("POST", "/api/v3/order")) == 1
            assert s.venue.stats["unknown_creates"] == 1
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_unanswered_create_that_never_arrived_is_rejected_after_the_grace(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            fake.fail_next("POST /api/v3/order", 503, -1001, "Internal error; unable to process your request.")
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is S.UNKNOWN, 5, "UNKNOWN")
            await until(lambda: s.order(cid).status is S.REJECTED, 8, "REJECTED after the grace")
            assert "not placed" in s.order(cid).reason
            assert fake.requests.count(("POST", "/api/v3/order")) == 1
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_venue_refusals_are_rejections_with_clear_reasons_and_never_retried(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            fake.reject_next_order("insufficient")
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is S.REJECTED, 5, "REJECTED")
            assert "insufficient balance" in s.order(cid).reason
            fake.reject_next_order("filter")
            cid2 = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_001.0)
            await until(lambda: s.order(cid2).status is S.REJECTED, 5, "REJECTED")
            assert "invalid" in s.order(cid2).reason and "LOT_SIZE" in s.order(cid2).reason
            assert fake.requests.count(("POST", "/api/v3/order")) == 2
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_rate_limit_honours_retry_after(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            n0 = len(fake.requests)
            fake.rate_limit(1, retry_after_s=1)
            await until(lambda: any(e.kind == "rate_limit" for e in s.of(VenueError)), 5, "the 429")
            hit = time.monotonic()
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status.is_terminal, 2, "refused while the gate is closed")
            assert s.order(cid).status is S.REJECTED and "rate limit" in s.order(cid).reason, s.order(cid)
            in_flight = hit + 0.1  # requests already on their way when the 429 came back may still land
            resumed = await until(lambda: next((t for t, _route in fake.arrived if t > in_flight), None), 3,
                                  "requests resume")
            assert resumed - hit >= 0.9, "nothing is sent during Retry-After"
            assert sum(t <= in_flight for t, _route in fake.arrived) > n0
            err = [e for e in s.of(VenueError) if e.kind == "rate_limit"][0]
            assert err.retry_in_s == 1.0 and "429" in err.message
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_clock_skew_is_measured_and_resynchronised_after_a_timestamp_refusal(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        fake.clock_offset_ms = 7_000  # far beyond the 2 s recvWindow
        s = await Session(profile, fake, stream="poll").start()
        try:
            assert abs(s.venue.time_offset_ms + 7_000) < 500
            await s.tradable()
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "ACCEPTED despite the skew")
            fake.clock_offset_ms = -6_000  # the venue's clock jumps: the next signed calls are refused
            await until(lambda: abs(s.venue.time_offset_ms - 6_000) < 500, 5, "the clock re-synchronised")
            cid2 = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_002.0)
            await until(lambda: s.order(cid2).status is S.ACCEPTED, 5, "orders work again")
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_websocket_drop_reconnects_and_resubscribes(profile, fake_factory):
    async def go():
        fake = await fake_factory().start()
        s = await Session(profile, fake).start()
        try:
            btc = lambda: [t for t in s.of(TradeTick) if t.symbol == "BTC/USDT@binance"]  # noqa: E731
            await until(lambda: len(btc()) > 3, 5, "trades")
            connects = fake.ws_connects
            await fake.drop_websockets()
            n = len(btc())
            await until(lambda: fake.ws_connects > connects and len(btc()) > n + 5, 5, "trades again")
            states = [f.state for f in s.of(FeedStatus) if f.symbol == "BTC/USDT@binance" and f.channel == "trades"]
            assert "reconnecting" in states and states[-1] == "live"
            assert s.venue.feed.reconnects >= 1
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_sequence_gap_takes_a_fresh_snapshot(profile, fake_factory):
    async def go():
        fake = await fake_factory().start()
        s = await Session(profile, fake).start()
        try:
            await until(lambda: sum(b.symbol == "BTC/USDT@binance" for b in s.of(BookSnapshot)) > 3, 5, "books")
            snapshots = fake.requests.count(("GET", "/api/v3/depth"))
            fake.gap_next_depth("BTC/USDT")
            await until(lambda: s.venue.feed.gaps >= 1, 5, "the gap detected")
            await until(lambda: fake.requests.count(("GET", "/api/v3/depth")) > snapshots, 5, "a fresh snapshot")
            n = len(s.of(BookSnapshot))
            await until(lambda: len([b for b in s.of(BookSnapshot)[n:] if b.symbol == "BTC/USDT@binance"]) > 3, 5,
                        "books again")
            assert "snapshot" in [f.state for f in s.of(FeedStatus) if f.channel == "book"]
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_duplicated_stream_messages_are_dropped(profile, fake_factory):
    async def go():
        fake = await fake_factory().start()
        fake.duplicate_ws = True
        s = await Session(profile, fake).start()
        try:
            await until(lambda: sum(t.symbol == "BTC/USDT@binance" for t in s.of(TradeTick)) > 20, 5, "trades")
            ids = [(t.symbol, t.trade_id) for t in s.of(TradeTick)]
            assert len(ids) == len(set(ids))
            assert s.venue.feed.duplicates > 0
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_refused_api_key_stops_the_venue_with_a_clear_message(profile, fake_factory):
    async def go():
        from app.engine.core.messages import Alert
        from app.engine.venues.credentials import Credentials

        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start(credentials=Credentials("wrong-key-123", "nope-secret"),
                                                               wait_ready=False)
        try:
            await until(lambda: s.venue.state == "failed", 5, "FAILED")
            n = len(fake.requests)
            await served_more(fake, "GET /api/v3/depth", 10)  # market data is still polled
            signed = [r for r in fake.requests[n:] if r[1] in ("/api/v3/openOrders", "/api/v3/order")]
            assert signed == [], "an auth failure is never retried blindly"
            alert = [a for a in s.of(Alert) if a.level == "critical"][-1]
            assert "API key" in alert.message and "kestrel keys set binance" in alert.message
            assert not s.kernel.venue_status["binance"].connected
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_rest_polling_when_streams_are_off(profile, fake_factory):
    async def go():
        fake = await fake_factory().start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await until(lambda: any(f.state == "polling" for f in s.of(FeedStatus)), 5, "polled data")
            await until(lambda: any(t.symbol == "BTC/USDT@binance" for t in s.of(TradeTick)), 5, "polled trades")
            assert s.venue.feed.mode == "poll" and fake.ws_connects == 0
        finally:
            await s.close()
            await fake.stop()
    run(go())


def test_venue_lost_after_failed_polls_reconnects_with_backoff(profile, fake_factory):
    async def go():
        fake = await fake_factory(auto_market=False).start()
        s = await Session(profile, fake, stream="poll").start()
        try:
            await s.tradable()
            cid = s.kernel.submit("BTC/USDT@binance", Side.BUY, OrderType.LIMIT, 0.01, 59_000.0)
            await until(lambda: s.order(cid).status is S.ACCEPTED, 5, "ACCEPTED")
            fake.fail_next("GET /api/v3/openOrders", 502, -1001, "bad gateway", n=5)
            await until(lambda: not s.venue.connected, 5, "disconnected")
            assert [v for v in s.of(VenueStatus) if v.venue == "binance" and not v.connected]
            await until(lambda: s.venue.connected, 8, "reconnected")
            assert s.venue.stats["connects"] >= 2
            assert s.order(cid).status is S.ACCEPTED  # reconciled: still open at the venue
        finally:
            await s.close()
            await fake.stop()
    run(go())
