"""Recording the feed to SQLite and replaying it through the sim venue's matching engine, 1x..max."""
from __future__ import annotations

import time

from app.engine.core.messages import OrderStatus, OrderType, Side, TradeTick
from app.engine.venues.replay.recorder import Recorder, open_recording, read_events
from tests.kit.venues import run


def record_sim(make_kernel, seconds: int = 20):
    k = make_kernel()
    rec = Recorder(k.store.conn, k.bus, "sim", ["BTC/USDT"])
    rec.add_instruments([k.instruments["BTC/USDT"]])
    for _ in range(seconds * 20):
        k.clock.advance(50)
        k.step()
    rec.close()
    return k, rec


def test_recording_reads_back_in_time_order(make_kernel):
    k, rec = record_sim(make_kernel, 5)
    r = open_recording(k.profile)
    assert r.session == rec.session and r.instruments[0].symbol == "BTC/USDT" and r.rows == rec.rows
    events = list(read_events(r))
    assert len(events) == rec.rows and all(a.ts <= b.ts for a, b in zip(events, events[1:]))
    assert {type(e).__name__ for e in events} == {"TradeTick", "BookSnapshot"}


def test_replay_fills_our_orders_at_recorded_prices_and_speed_scales(make_kernel, tmp_path):
    import dataclasses

    from app.config import Settings
    from app.engine.core.clock import SimClock
    from app.engine.kernel import Kernel
    from app.engine.venues.replay.venue import Replayer, ReplayVenue

    k, _ = record_sim(make_kernel, 20)
    rec = open_recording(k.profile)
    insts = [dataclasses.replace(i, venue="replay") for i in rec.instruments]

    async def replay(speed, order: bool):
        clock = SimClock(rec.first_ts)
        kernel = Kernel(tmp_path / f"replay-{speed}", Settings(), clock=clock, instruments=insts)
        kernel.start()
        ex = ReplayVenue(rec, kernel.execution.on_report, kernel.bus.publish)
        kernel.venues.add(ex, instruments=False)
        prints = []
        kernel.bus.subscribe(TradeTick, lambda t: prints.append(t))
        player = Replayer(ex, clock, kernel.step, speed, chunk_ms=20)
        cid = None
        if order:  # a resting bid 0.1% under the first recorded book: the recorded prints come through it
            first_bid = next(e for e in read_events(rec) if hasattr(e, "bids")).bids[0][0]
            ex.advance_to(rec.first_ts)
            kernel.risk.limits = kernel.risk.limits.model_copy(update={"quote_max_age_s": 1e9})
            cid = kernel.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01,
                                kernel.instruments["BTC/USDT"].round_price(first_bid * 0.999))
        t = time.monotonic()
        await player.run()
        took = time.monotonic() - t
        status = kernel.execution.orders[cid].status if cid else None
        kernel.close()
        return took, prints, status

    took_max, prints, status = run(replay(None, True), 60)
    span = (rec.last_ts - rec.first_ts) / 1000
    assert prints and prints[0].ts >= rec.first_ts and took_max < span / 4
    assert status in (OrderStatus.FILLED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
    took_10x, _, _ = run(replay(10.0, False), 60)
    assert span / 10 * 0.8 <= took_10x <= span / 10 + 1.5


def test_a_recorded_level_that_changes_size_keeps_our_place_in_its_queue():
    """Outside orders that join a level go behind ours, those that leave go from the back first: our order 10
    lots back fills only after 10 lots have traded ahead of it (it used to jump to the front whenever the
    recorded size changed, and filled after 2)."""
    from app.engine.core.messages import BookSnapshot
    from app.engine.core.instruments import Instrument
    from app.engine.venues.replay.venue import ReplayModel
    from app.engine.venues.sim.orderbook import OWNER_CLIENT, OrderBook

    inst = Instrument("X/USD", "replay", "X", "USD", 1.0, 1.0, 1.0, 1e6)
    book = OrderBook(inst)
    filled = []
    book.on_fill = lambda f: filled.append(f.qty) if f.maker_owner == OWNER_CLIENT else None

    def snap(ts, bid_size):
        return BookSnapshot("X/USD", ((100.0, bid_size),), ((102.0, 5.0),), ts)

    def sell(ts, size):
        return TradeTick("X/USD", 100.0, size, Side.SELL, f"t{ts}", ts)
    events = iter([snap(1, 10.0), snap(3, 12.0), sell(4, 2.0), snap(5, 10.0), sell(6, 5.0), snap(7, 5.0),
                   snap(8, 4.0), sell(9, 3.0), sell(10, 2.0)])
    model = ReplayModel(events, {"X/USD": book})
    model.process_next()  # the level: 10 lots
    book.add_limit(1, OWNER_CLIENT, Side.BUY, 100, 1)  # ours, behind them
    model.process_next()  # 12: two joined behind us
    model.process_next()  # 2 traded: 8 ahead
    model.process_next()  # 10 shown: what the trade left (8 ahead, 2 behind), nothing moves
    model.process_next()  # 5 traded: 3 ahead
    assert filled == []
    model.process_next()  # 5 shown: 3 ahead, 2 behind
    model.process_next()  # 4 shown: one left from the back (ours stays: 3 ahead of it)
    assert book.size_at(Side.BUY, 100) == (5, 1)  # 4 outside and ours
    model.process_next()  # 3 traded: the queue ahead is done
    assert filled == []
    model.process_next()  # 2 traded: ours fills
    assert filled == [1]
