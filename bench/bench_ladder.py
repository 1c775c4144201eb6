"""Ladder (DOM) benchmark and UI loop lag under a book flood.

1. Ladder frame cost: a real kernel, the ladder + depth chart at 330x800 offscreen, six of our working
   orders on the book; BookSnapshots (10 levels a side, a drifting mid) published on the bus at 1,000 per
   second of simulated time; at every 60 Hz frame the ladder's ``refresh`` and its repaint are timed
   (GUI-thread CPU). Goal: <= 2 ms per frame.
2. Loop lag: the real window on the qasync loop (sim venue running, frames at ``--frame-hz``) while a feed
   task publishes 10,000 BookSnapshots per second for the symbol on screen; a probe task sleeps 5 ms and
   records how late it wakes up. Goal: p99 <= 16 ms.

    .venv/bin/python bench/bench_ladder.py                       # both, offscreen
    .venv/bin/python bench/bench_ladder.py --part lag --seconds 20 --frame-hz 60
    DISPLAY=:98 QT_QPA_PLATFORM=xcb .venv/bin/python bench/bench_ladder.py --part lag   # a real X server
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import median, pct, table

SYMBOL = "BTC/USDT"


def snapshots(count: int, seed: int = 1, mid0: float = 65_000.0, tick: float = 0.1):
    """``count`` BookSnapshots of 10 levels a side around a random-walk mid (prebuilt, not timed)."""
    import numpy as np

    from app.engine.core.messages import BookSnapshot

    rng = np.random.default_rng(seed)
    mid = round(mid0 / tick)
    out = []
    sizes = rng.gamma(1.5, 0.3, (count, 20)).round(4) + 0.0001
    steps = rng.choice([-1, 0, 0, 0, 1], count)
    for i in range(count):
        mid += int(steps[i])
        bids = tuple((round((mid - 1 - j) * tick, 1), float(sizes[i, j])) for j in range(10))
        asks = tuple((round((mid + 1 + j) * tick, 1), float(sizes[i, 10 + j])) for j in range(10))
        out.append(BookSnapshot(SYMBOL, bids, asks, 1_750_000_000_000 + i))
    return out


# ------------------------------------------------------------------------------------------ ladder frames
def ladder_frames(seconds: float, rate: int, hz: int) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.bootstrap import create_app
    from app.config import Settings, SimSettings
    from app.engine.core.clock import SimClock
    from app.engine.core.messages import OrderType, Side
    from app.engine.kernel import Kernel
    from app.widgets.trading.ladder import LadderWidget

    app = create_app()
    profile = Path(tempfile.mkdtemp(prefix="kestrel-ladder-bench-"))
    kernel = Kernel(profile, Settings(sim=SimSettings(latency_ms=0)), clock=SimClock(1_750_000_000_000))
    kernel.start()
    book = kernel.market.get(SYMBOL).book
    for j, side in enumerate([Side.BUY] * 3 + [Side.SELL] * 3):
        ref = book.bids[2 + j][0] if side is Side.BUY else book.asks[j - 1][0]
        kernel.submit(SYMBOL, side, OrderType.LIMIT, 0.01, ref)
    kernel.sim.advance_to(kernel.clock.now_ms())
    ladder = LadderWidget(kernel.port)
    ladder.resize(330, 800)
    ladder.show()
    QApplication.processEvents()
    total = int(seconds * rate)
    snaps = snapshots(total)
    frames, publish = [], []
    per_frame = rate / hz
    acc, i = 0.0, 0
    while i < total:
        acc += per_frame
        t0 = time.thread_time()
        while acc >= 1 and i < total:
            kernel.bus.publish(snaps[i])
            i += 1
            acc -= 1
        t1 = time.thread_time()
        ladder.refresh()
        QApplication.processEvents()  # the ladder's and the depth chart's repaint
        t2 = time.thread_time()
        frames.append((t2 - t1) * 1000)
        publish.append((t1 - t0) * 1000)
    kernel.close()
    return {"frames": len(frames), "frame_p50": pct(frames, 0.5), "frame_p95": pct(frames, 0.95),
            "frame_p99": pct(frames, 0.99), "frame_max": max(frames), "publish_per_frame_p50": median(publish),
            "rows": ladder.view.rows}


# -------------------------------------------------------------------------------------------- loop lag
def loop_lag(seconds: float, rate: int, frame_hz: int) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import resource

    import qasync

    from app.bootstrap import build, create_app

    app = create_app()
    profile = Path(tempfile.mkdtemp(prefix="kestrel-lag-bench-"))
    (profile / "settings.json").write_text(json.dumps({"ui": {"frame_hz": frame_hz}}))
    kernel, window = build(profile)
    window.resize(1600, 900)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window.show()
    snaps = snapshots(5_000)  # a ring, published over and over: a prebuilt flood would bloat the heap and the
    # cyclic GC's full passes with it (a real feed makes a snapshot, publishes it and lets it go)
    lags: list[float] = []
    sent = [0]

    async def feed() -> None:
        if not rate:
            return
        t0 = loop.time()
        while True:
            await asyncio.sleep(0.002)
            due = int((loop.time() - t0) * rate)
            while sent[0] < due:
                kernel.bus.publish(snaps[sent[0] % len(snaps)])
                sent[0] += 1

    async def probe() -> None:
        while True:
            expected = loop.time() + 0.005
            await asyncio.sleep(0.005)
            lags.append((loop.time() - expected) * 1000)

    async def main() -> dict:
        run = asyncio.ensure_future(kernel.run())
        await asyncio.sleep(2.0)  # start-up settles (first frames, history)
        frames0 = window.frames.frames
        tasks = [asyncio.ensure_future(feed()), asyncio.ensure_future(probe())]
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        w0 = time.perf_counter()
        await asyncio.sleep(seconds)
        wall = time.perf_counter() - w0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        for t in tasks:
            t.cancel()
        kernel.stop()
        run.cancel()
        cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        return {"seconds": wall, "feed_per_s": sent[0] / wall, "frames_per_s": (window.frames.frames - frames0) / wall,
                "lag_p50": pct(lags, 0.5), "lag_p99": pct(lags, 0.99), "lag_max": max(lags), "samples": len(lags),
                "cpu_pct": 100 * cpu / wall, "platform": os.environ.get("QT_QPA_PLATFORM", "")}

    with loop:
        res = loop.run_until_complete(main())
    window.close()
    kernel.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["ladder", "lag", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=5, help="ladder runs (median of)")
    ap.add_argument("--frame-hz", type=int, default=60)
    ap.add_argument("--rate", type=int, default=10_000, help="book updates/s for the loop-lag part")
    ap.add_argument("--lag-repeat", type=int, default=3, help="loop-lag runs per row (median of)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "ladder":
        print("RESULT " + json.dumps(ladder_frames(args.seconds, 1_000, 60)), flush=True)
        return
    if args.worker == "lag":
        print("RESULT " + json.dumps(loop_lag(args.seconds, args.rate, args.frame_hz)), flush=True)
        return
    import subprocess

    def run(part: str, seconds: float) -> dict:
        cmd = [sys.executable, __file__, "--worker", part, "--seconds", str(seconds), "--frame-hz", str(args.frame_hz),
               "--rate", str(args.rate)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise SystemExit(f"{part} failed:\n{out.stderr[-3000:]}")

    if args.part in ("ladder", "both"):
        runs = [run("ladder", 10.0) for _ in range(args.repeat)]
        keys = ["frame_p50", "frame_p95", "frame_p99", "frame_max", "publish_per_frame_p50"]
        print(f"\nLadder + depth chart, 1,000 book updates/s, 60 Hz frames ({runs[0]['frames']} per run, "
              f"{runs[0]['rows']} rows), GUI-thread CPU ms, median of {len(runs)} runs (goal: <= 2 ms a frame)")
        print(table(keys, [[f"{median([r[k] for r in runs]):.3f}" for k in keys]]))
    if args.part in ("lag", "both"):
        keys = ["feed_per_s", "frames_per_s", "lag_p50", "lag_p99", "lag_max", "samples", "cpu_pct"]
        rows = []
        for label, rate in (("window only (sim feed)", 0), (f"+ {args.rate:,} book updates/s", args.rate)):
            args_rate, args.rate = args.rate, rate
            rs = [run("lag", args.seconds) for _ in range(args.lag_repeat)]
            args.rate = args_rate
            r = {k: (median([x[k] for x in rs]) if isinstance(rs[0][k], (int, float)) else rs[0][k]) for k in rs[0]}
            rows.append([label] + [f"{r[k]:,.1f}" for k in keys])
        print(f"\nUI loop lag (a 5 ms sleep's lateness), real window ({r['platform']}), frames at {args.frame_hz} Hz, "
              f"{r['seconds']:.0f} s a run, median of {args.lag_repeat} runs (goal with the flood: p99 <= 16 ms)")
        print(table(["run"] + keys, rows))


if __name__ == "__main__":
    main()
