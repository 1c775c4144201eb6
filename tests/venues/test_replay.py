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
