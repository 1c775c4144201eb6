"""Venues: feed-to-bus latency through the ccxt adapter, recovery after a websocket drop, and the UI loop while
akshare is banned or hanging.

    python bench/bench_venues.py [--seconds 10] [--drops 10] [--phase-s 8]

1. latency   the fake Binance (tests/venues/fake_binance.py, 127.0.0.1) stamps each trade with perf_counter()
             as it writes it to the websocket; a bus subscriber takes the difference when the TradeTick is
             published. The path: aiohttp server -> TCP loopback -> ccxt.pro's client (JSON, parse_ws_trade,
             ArrayCache) -> our feed loop -> dedup -> bus. Fake and terminal share one asyncio loop (the
             fake's own work per print, a diff-depth update per symbol, is inside the figure: an upper
             bound). Two symbols at ``--rate`` trades/s each (the fake prints what it can).
2. recovery  the fake closes every websocket (code 1011); measured until the first trade printed after the
             drop reaches the bus through the new connection: the reconnect backoff (base 0.25 s, full
             jitter) + dial + resubscribe + the next print. Default config, ``--drops`` times.
3. akshare   the real window (offscreen, qasync loop, frame timer at 30 Hz) with the akshare venue polling a
             quote every 0.25 s through akshare's own code over a patched HTTP layer; phases: normal,
             eastmoney banned (falls back to sina), eastmoney and sina hanging past the deadline (executor
             cuts them; cache served), everything refusing. The loop lag is what a 5 ms asyncio timer sees.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, pct, table

sys.path.insert(0, str(ROOT / "tests" / "venues"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

KEY, SECRET = "bench-key-0123456789", "bench-secret-0123456789"


async def _session(profile: Path, fake, **over):
    from app.config import Settings
    from app.engine.kernel import Kernel
    from app.engine.venues.credentials import Credentials
    from app.engine.venues.manager import VenueManager, kernel_instruments
    from app.engine.venues.venue_config import parse_config

    cfg = parse_config({**fake.venue_config(), **over})
    kernel = Kernel(profile, Settings(), instruments=kernel_instruments(profile, [cfg]))
    kernel.start()
    mgr = VenueManager(kernel, approval="auto", feeds={})
    venue = mgr.add_ccxt(cfg, Credentials(KEY, SECRET))
    mgr.start()
    runner = asyncio.get_running_loop().create_task(kernel.run())
    while not venue.connected:
        await asyncio.sleep(0.01)
    return kernel, mgr, venue, runner


async def _close(kernel, mgr, runner) -> None:
    kernel.stop()
    await runner
    await mgr.close()
    kernel.close()


async def latency(seconds: float, rate: float) -> dict:
    from fake_binance import FakeBinance

    from app.engine.core.messages import TradeTick

    fake = await FakeBinance(api_key=KEY, secret=SECRET, tick_s=1.0 / rate).start()
    fake.record_send_times = True
    with tempfile.TemporaryDirectory() as d:
        kernel, mgr, venue, runner = await _session(Path(d), fake)
        lat: list[float] = []

        def on_trade(t: TradeTick) -> None:
            if not t.trade_id.isdigit():
                return
            sent = fake.sent_at.get((t.symbol.replace("/", ""), int(t.trade_id)))
            if sent is not None:
                lat.append((time.perf_counter() - sent) * 1e6)
        await asyncio.sleep(1.0)  # warm: connections, first snapshots
        kernel.bus.subscribe(TradeTick, on_trade)
        kernel.loop_monitor.lags_ms.clear()
        await asyncio.sleep(seconds)
        lag = kernel.loop_monitor.p99()
        await _close(kernel, mgr, runner)
    await fake.stop()
    return {"n": len(lat), "rate": len(lat) / seconds, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat),
            "loop_p99": lag}


async def recovery(drops: int) -> dict:
    from fake_binance import FakeBinance

    from app.engine.core.messages import TradeTick

    fake = await FakeBinance(api_key=KEY, secret=SECRET, tick_s=0.01).start()
    times: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        kernel, mgr, venue, runner = await _session(Path(d), fake, symbols=["BTC/USDT"])
        state = {"after": None, "t0": 0.0, "done": None}

        def on_trade(t: TradeTick) -> None:
            if t.symbol != "BTC/USDT" or not t.trade_id.isdigit():
                return
            if state["after"] is not None and int(t.trade_id) > state["after"] and state["done"] is None:
                state["done"] = time.perf_counter() - state["t0"]
        kernel.bus.subscribe(TradeTick, on_trade)
        await asyncio.sleep(1.0)
        for _ in range(drops):
            state.update(after=fake.markets["BTCUSDT"].trade_id, t0=time.perf_counter(), done=None)
            await fake.drop_websockets()
            while state["done"] is None:
                await asyncio.sleep(0.001)
            times.append(state["done"] * 1000)
            await asyncio.sleep(0.5)
        reconnects = venue.feed.reconnects
        await _close(kernel, mgr, runner)
    await fake.stop()
    return {"n": len(times), "p50": pct(times, 0.5), "max": max(times), "min": min(times), "reconnects": reconnects}


def akshare_ui(phase_s: float, window_on: bool = True) -> list[list]:
    import pytest
    import qasync
    from fake_akshare import FakeAkshareHTTP

    from app.bootstrap import build, create_app
    from app.engine.venues.akshare.client import AkshareCache, AkshareClient
    from app.engine.venues.akshare.venue import AkshareVenue
    from app.engine.venues.executor import DeadlineExecutor

    mp = pytest.MonkeyPatch()
    http = FakeAkshareHTTP().install(mp)
    http.hang_s = 30.0
    rows: list[list] = []
    with tempfile.TemporaryDirectory() as d:
        if window_on:
            app = create_app()
            kernel, window = build(Path(d))
            window.show()
            loop = qasync.QEventLoop(app)
        else:
            from app.config import Settings
            from app.engine.kernel import Kernel

            kernel, window = Kernel(Path(d), Settings()), None
            kernel.start()
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        client = AkshareClient(AkshareCache(kernel.store.conn), DeadlineExecutor(workers=2, max_stuck=4),
                               deadline_s=1.0, ban_base_s=2.0, ban_cap_s=8.0)
        venue = AkshareVenue(["601318.SH", "000001.SZ"], kernel.execution.on_report, kernel.bus.publish,
                             client=client, quote_interval_s=0.25)
        kernel.venues.add(venue, cache=False)

        async def main() -> None:
            await client.warm()  # imports (seconds of CPU) before measuring, as the terminal does at connect
            run = loop.create_task(kernel.run())
            phases = [("window alone (no akshare)" if window_on else "engine alone (no akshare)", None),
                      ("normal", {}), ("eastmoney banned", {"eastmoney": "ban"}),
                      ("eastmoney + sina hang", {"eastmoney": "hang_hard", "sina": "hang_hard"}),
                      ("every source refusing", {"eastmoney": "forbidden", "sina": "garbage"})]
            for name, modes in phases:
                if modes is not None:
                    venue.start()
                    http.mode.update({"eastmoney": "ok", "sina": "ok", "tencent": "ok", **modes})
                lags: list[float] = []
                frame_ms: list[float] = []
                calls0, to0 = client.executor.calls, client.executor.timeouts
                frames0 = window.frames.frames if window else 0
                end = loop.time() + phase_s
                while loop.time() < end:
                    t = loop.time()
                    await asyncio.sleep(0.005)
                    lags.append(max(0.0, (loop.time() - t - 0.005) * 1000))
                    frame_ms.append(window.frames.last_frame_ms if window else 0.0)
                sources = ",".join(sorted({s for s in venue.last_source.values()})) or "-"
                rows.append([name, len(lags), f"{pct(lags, 0.5):.2f}", f"{pct(lags, 0.99):.2f}", f"{max(lags):.1f}",
                             client.executor.calls - calls0, client.executor.timeouts - to0,
                             client.executor.stuck, sources,
                             f"{((window.frames.frames if window else 0) - frames0) / phase_s:.0f}",
                             f"{max(frame_ms):.1f}"])
            http.release_hangs()
            kernel.stop()
            await run
            await venue.close()

        if window_on:
            with loop:
                loop.run_until_complete(main())
        else:
            loop.run_until_complete(main())
            loop.close()
        if window is not None:
            window.close()
        kernel.close()
    mp.undo()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=200.0, help="trades per second per symbol")
    ap.add_argument("--drops", type=int, default=10)
    ap.add_argument("--phase-s", type=float, default=8.0)
    ap.add_argument("--only", choices=["latency", "recovery", "akshare"], default=None)
    args = ap.parse_args()
    import logging

    logging.getLogger("kestrel").setLevel(logging.ERROR)
    logging.getLogger("kestrel").propagate = False
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if args.only in (None, "latency"):
        for rate in (args.rate, args.rate * 5):
            r = asyncio.run(latency(args.seconds, rate))
            print(f"\nfeed-to-bus latency, ccxt.pro binance -> CcxtVenue -> bus, 2 symbols, asked {rate:g} trades/s each:")
            print(table(["trades", "trades/s", "p50 us", "p99 us", "max us", "engine loop lag p99 ms"],
                        [[r["n"], f"{r['rate']:.0f}", f"{r['p50']:.0f}", f"{r['p99']:.0f}", f"{r['max']:.0f}",
                          f"{r['loop_p99']:.1f}"]]))
    if args.only in (None, "recovery"):
        r = asyncio.run(recovery(args.drops))
        print("\nrecovery after a websocket drop (first post-drop trade on the bus):")
        print(table(["drops", "min ms", "p50 ms", "max ms", "stream reconnects"],
                    [[r["n"], f"{r['min']:.0f}", f"{r['p50']:.0f}", f"{r['max']:.0f}", r["reconnects"]]]))
    if args.only in (None, "akshare"):
        for window_on in (False, True):
            rows = akshare_ui(args.phase_s, window_on)
            where = "the window's qasync loop (offscreen, 30 Hz frames)" if window_on else "the engine's asyncio loop"
            print(f"\nakshare on {where}; deadline 1 s, 2 workers, a quote every 0.25 s for 2 symbols:")
            print(table(["phase", "samples", "lag p50 ms", "lag p99 ms", "lag max ms", "calls", "timed out",
                         "stuck now", "served by", "frames/s", "max frame ms"], rows))


if __name__ == "__main__":
    main()
