"""Feed failover by priority: a stale feed hands over to the next, and back, visibly (events the UI shows)."""
from __future__ import annotations

from app.engine.core.messages import Alert, Side, TradeTick
from app.engine.venues.events import FeedChanged
from app.engine.venues.failover import FeedRouter
from tests.kit.venues import KEY, SECRET, run
from tests.kit.wait import until


def test_router_unit_hands_over_and_back_with_hysteresis():
    """feeds.json's "BTC/USDT": ["a", "b"] is BTC/USDT@a served by a, else by b: b's trades reach BTC/USDT@a
    (re-tagged) only while b is its active feed; b's own instrument BTC/USDT@b is always b's."""
    out, t = [], [0.0]
    r = FeedRouter(out.append, {"BTC/USDT": ["a", "b"]}, stale_s=1.0, recover_s=2.0, monotonic=lambda: t[0])
    pa, pb = r.publisher("a"), r.publisher("b")

    def tick(feed, price):
        return TradeTick(f"BTC/USDT@{feed}", price, 1.0, Side.BUY, f"{feed}{t[0]}", 0)

    def served():
        return [m.price for m in out if isinstance(m, TradeTick) and m.symbol == "BTC/USDT@a"]
    pa(tick("a", 1.0)), pb(tick("b", 2.0))
    assert served() == [1.0]  # only the active feed
    assert [m.price for m in out if isinstance(m, TradeTick) and m.symbol == "BTC/USDT@b"] == [2.0]
    t[0] = 1.5
    pb(tick("b", 2.0))
    r.tick()  # a is silent for 1.5 s > stale_s: hand over to b
    assert r.active["BTC/USDT@a"] == "b" and any(isinstance(m, FeedChanged) and "stale" in m.reason for m in out)
    pb(tick("b", 2.1))
    assert served()[-1] == 2.1
    for step in (2.0, 2.5, 3.0, 3.5):  # a comes back; after recover_s of health it is preferred again
        t[0] = step
        pa(tick("a", 1.1)), pb(tick("b", 2.2))
        r.tick()
        assert r.active["BTC/USDT@a"] == "b"
        assert served()[-1] == 2.2  # a's late data is not mixed in while b serves
    t[0] = 4.1
    pa(tick("a", 1.2)), pb(tick("b", 2.3))
    r.tick()
    changes = [m for m in out if isinstance(m, FeedChanged)]
    assert r.active["BTC/USDT@a"] == "a" and "healthy again" in changes[-1].reason
    pa(tick("a", 1.3)), pb(tick("b", 2.4))
    assert served()[-1] == 1.3 and r.changes == 2


def test_at_start_a_preferred_feed_still_connecting_is_waited_for_then_replaced_if_it_never_comes():
    """A keyed venue reconciles before it streams: a data-only backup delivers first. That is no failure of the
    preferred feed until the start grace has passed; after it, a feed that never delivered is replaced."""
    out, t = [], [0.0]
    r = FeedRouter(out.append, {"BTC/USDT": ["a", "b"]}, stale_s=1.0, recover_s=1.0, monotonic=lambda: t[0],
                   start_grace_s=10.0)
    pb = r.publisher("b")
    for step in (0.5, 2.0, 5.0, 9.5):
        t[0] = step
        pb(TradeTick("BTC/USDT@b", 2.0, 1.0, Side.BUY, f"b{step}", 0))
        r.tick()
        assert r.active["BTC/USDT@a"] == "a" and not any(isinstance(m, FeedChanged) for m in out)
    t[0] = 10.5
    pb(TradeTick("BTC/USDT@b", 2.0, 1.0, Side.BUY, "b10.5", 0))
    r.tick()
    assert r.active["BTC/USDT@a"] == "b" and "silent" in [m for m in out if isinstance(m, FeedChanged)][-1].reason


def test_two_live_venues_fail_over_and_back(profile, fake_factory):
    async def go():
        from app.config import Settings
        from app.engine.kernel import Kernel
        from app.engine.venues.board import VenueBoard
        from app.engine.venues.credentials import Credentials
        from app.engine.venues.manager import VenueManager, kernel_instruments
        from app.engine.venues.venue_config import parse_config

        main = await fake_factory(seed=1).start()
        backup = await fake_factory(seed=2, prices={"BTC": 90_000.0, "ETH": 4_000.0}).start()
        cfg_a = parse_config(main.venue_config(symbols=["BTC/USDT"], reconnect_base_s=0.05))
        cfg_b = parse_config(backup.venue_config(name="backup", symbols=["BTC/USDT"], reconnect_base_s=0.05))
        kernel = Kernel(profile, Settings(), instruments=kernel_instruments(profile, [cfg_a, cfg_b]))
        seen = []
        kernel.bus.subscribe(object, seen.append)
        kernel.start()
        mgr = VenueManager(kernel, approval="auto",
                           feeds={"stale_s": 1.0, "recover_s": 1.0,  # not tighter: a loaded 2-core box stalls 0.4 s
                                  "symbols": {"BTC/USDT": ["binance", "backup"]}})
        board = VenueBoard(kernel.bus, mgr.router)
        mgr.add_ccxt(cfg_a, Credentials(KEY, SECRET))
        mgr.add_ccxt(cfg_b, None)  # data only
        mgr.start()
        btc = lambda: [t for t in seen if isinstance(t, TradeTick) and t.symbol == "BTC/USDT@binance"]  # noqa: E731
        own = lambda: [t for t in seen if isinstance(t, TradeTick) and t.symbol == "BTC/USDT@backup"]  # noqa: E731
        try:
            await until(lambda: len(btc()) > 10, 10, "trades")
            assert all(t.price < 80_000 for t in btc()), "only the primary feed reaches the bus"
            assert own() and all(t.price > 80_000 for t in own()), "the backup's own instrument is its own"
            main.ws_silent = True
            await until(lambda: mgr.router.active["BTC/USDT@binance"] == "backup", 10, "hand-over to the backup")
            assert kernel.instruments["BTC/USDT@binance"].venue == "binance"  # orders still go to binance
            assert board.active_feed("BTC/USDT@binance") == "backup"  # what the chart and the Venues dock say
            rows = {(r[1], r[2]): r[5] for r in board.feed_rows() if r[0] == "BTC/USDT@binance"}
            assert rows[("backup", "trades")] and not rows[("binance", "trades")]
            n = len(btc())
            await until(lambda: len(btc()) > n + 5, 5, "backup trades")
            assert all(t.price > 80_000 for t in btc()[n:])
            main.ws_silent = False
            await until(lambda: mgr.router.active["BTC/USDT@binance"] == "binance", 10, "back to the primary")
            changes = [c for c in seen if isinstance(c, FeedChanged)]
            assert [(c.previous, c.feed) for c in changes] == [("binance", "backup"), ("backup", "binance")]
            assert any(isinstance(a, Alert) and "market data from backup" in a.title for a in seen)
        finally:
            await mgr.close()
            kernel.close()
            await main.stop()
            await backup.stop()
    run(go())
