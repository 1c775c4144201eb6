"""Feed failover by priority: a stale feed hands over to the next, and back, visibly (events the UI shows)."""
from __future__ import annotations

from app.engine.core.messages import Alert, Side, TradeTick
from app.engine.venues.events import FeedChanged
from app.engine.venues.failover import FeedRouter
from tests.kit.venues import KEY, SECRET, run
from tests.kit.wait import until


def test_router_unit_hands_over_and_back_with_hysteresis():
    out, t = [], [0.0]
    r = FeedRouter(out.append, {"BTC/USDT": ["a", "b"]}, stale_s=1.0, recover_s=2.0, monotonic=lambda: t[0])
    pa, pb = r.publisher("a"), r.publisher("b")

    def tick(feed, price):
        return TradeTick("BTC/USDT", price, 1.0, Side.BUY,
                         f"{feed}{t[0]}", 0)
    pa(tick("a", 1.0)), pb(tick("b", 2.0))
    assert [m.price for m in out if isinstance(m, TradeTick)] == [1.0]  # only the active feed
    t[0] = 1.5
    pb(tick("b", 2.0))
    r.tick()  # a is silent for 1.5 s > stale_s: hand over to b
    assert r.active["BTC/USDT"] == "b" and isinstance(out[-2], FeedChanged) and "stale" in out[-2].reason
    pb(tick("b", 2.1))
    assert out[-1].price == 2.1
    for step in (2.0, 2.5, 3.0, 3.5):  # a comes back; after recover_s of health it is preferred again
        t[0] = step
        pa(tick("a", 1.1)), pb(tick("b", 2.2))
        r.tick()
        assert r.active["BTC/USDT"] == "b"
    t[0] = 4.1
    pa(tick("a", 1.2)), pb(tick("b", 2.3))
    r.tick()
    assert r.active["BTC/USDT"] == "a" and "healthy again" in [m for m in out if isinstance(m, FeedChanged)][-1].reason
    pa(tick("a", 1.3)), pb(tick("b", 2.4))
    assert out[-1].price == 1.3 and r.changes == 2


def test_two_live_venues_fail_over_and_back(profile, fake_factory):
    async def go():
        from app.config import Settings
        from app.engine.kernel import Kernel
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
        mgr.add_ccxt(cfg_a, Credentials(KEY, SECRET))
        mgr.add_ccxt(cfg_b, None)  # data only
        mgr.start()
        btc = lambda: [t for t in seen if isinstance(t, TradeTick) and t.symbol == "BTC/USDT"]  # noqa: E731
        try:
            await until(lambda: len(btc()) > 10, 10, "trades")
            assert all(t.price < 80_000 for t in btc()), "only the primary feed reaches the bus"
            assert kernel.instruments["BTC/USDT"].venue == "binance"  # orders go to the primary
            main.ws_silent = True
            await until(lambda: mgr.router.active["BTC/USDT"] == "backup", 10, "hand-over to the backup")
            n = len(btc())
            await until(lambda: len(btc()) > n + 5, 5, "backup trades")
            assert all(t.price > 80_000 for t in btc()[n:])
            main.ws_silent = False
            await until(lambda: mgr.router.active["BTC/USDT"] == "binance", 10, "back to the primary")
            changes = [c for c in seen if isinstance(c, FeedChanged)]
            assert [(c.previous, c.feed) for c in changes] == [("binance", "backup"), ("backup", "binance")]
            assert any(isinstance(a, Alert) and "market data from backup" in a.title for a in seen)
        finally:
            await mgr.close()
            kernel.close()
            await main.stop()
            await backup.stop()
    run(go())
