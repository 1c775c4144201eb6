"""Window loop lag with three venues connected and 20 instruments streaming (issue 19; goal: p99 <= 16 ms):
the sim, a ccxt venue on the local fake Binance at its fastest, and akshare on the fake akshare HTTP layer.

    Xvfb :97 -screen 0 1600x900x24 &
    DISPLAY=:97 QT_QPA_PLATFORM=xcb .venv/bin/python bench/bench_window_venues.py       # 30 s a run, 2 runs
    .venv/bin/python bench/bench_window_venues.py --seconds 10 --repeat 1 --tick-s 0.02 # offscreen, quick

Each run is a fresh process on a fresh temp profile. ``app.bootstrap.build`` makes the real kernel and main
window (1600x900, shown), run on a qasync loop as ``launch_gui`` runs them (``kernel.run()`` steps the sim
every 50 ms, the frame timer ticks at the profile's 30 Hz, the venues start on the loop). Then
``kernel.venues.connect`` connects, as the Venues dock does:

- ``binance``, ccxt (``ccxt.pro`` websockets; with API keys, so its order polls and reconciliation run too) on
  ``tests/venues/fake_binance.py``: 15 USDT pairs, each printing a trade and a diff-depth update every
  ``--tick-s`` (0.001 s: the fake's fastest; it sends what its loop can, reported as ticks/s). The fake runs
  in its own process, as an exchange runs on another machine. In a thread of the window's process (``--fake-in
  thread``, ``tests/kit/venues.FakeInThread``) its work is off the loop but not off the GIL the loop needs,
  which adds lag no real exchange causes. On this 2-core box the process is niced (+10,
  ``KESTREL_BENCH_FAKE_NICE``): at its fastest it is CPU-bound, and it should take what the terminal and the X
  server leave rather than a core from them.
- ``akshare``: three A-share codes, a quote each every ``--quote-s`` (1 s), through akshare's own request and
  parsing code on the venue's worker threads, over ``tests/venues/fake_akshare.py`` (``requests``' HTTP
  adapter patched, as the tests do); akshare's parsing runs in the terminal's process with a real source too.
- the sim: its default BTC/USDT, ETH/USDT and 600519.SH (which prints only in Shanghai's trading sessions).

20 instruments stream at any hour (the sim's two crypto pairs, 15 on binance, 3 on akshare); 600519.SH@sim
adds a 21st in the A-share sessions. The chart shows ETH/USDT@binance (its history from the fake's klines),
the ladder follows it, the watchlist lists every instrument. Once every venue is ready and every instrument
has streamed, and ``--warmup`` s later, ``--seconds`` s are measured:

- loop lag, the goal's reading: the kernel's ``LoopMonitor``, how late each 50 ms sim-step wake-up is (the
  status bar's figure); beside it a 5 ms asyncio sleep's lateness (as ``bench_ladder.py``), with 10x the
  samples;
- ticks/s delivered (BookSnapshot + TradeTick published on the bus, by venue), frames/s, the frame callback's
  time (p50/p99; painting comes after it, in Qt), this process's CPU (all threads), the fake's CPU, the load
  average.

Each venues run follows a run of the sim alone (the same window, no venue; ``--no-baseline`` skips it).
``--tick-s 0.001,0.02`` runs each rate in turn. ``--breakdown``: what kept the loop busy and what ran while a
wake-up was late (``bench/_looptrace.py``). ``--cprofile FILE``: a cProfile of the loop thread over the first
venues run's measured seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, pct, table

GOAL_P99_MS = 16.0
CCXT_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT",
                "AVAX/USDT", "DOT/USDT", "LINK/USDT", "LTC/USDT", "TRX/USDT", "ATOM/USDT", "NEAR/USDT",
                "UNI/USDT")
PRICES = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0, "BNB": 580.0, "XRP": 2.4, "ADA": 1.5, "DOGE": 1.2,
          "AVAX": 30.0, "DOT": 6.5, "LINK": 14.0, "LTC": 80.0, "TRX": 1.2, "ATOM": 7.5, "NEAR": 5.0,
          "UNI": 10.0}  # the fake's books are 10 levels 0.10 apart: a price under ~1 would go below zero
AKSHARE_CODES = ("600519.SH", "000001.SZ", "601318.SH")
CHART = "ETH/USDT@binance"
KEY, SECRET = "bench-key-0123456789", "bench-secret-0123456789"
NICE = int(os.environ.get("KESTREL_BENCH_FAKE_NICE", "10"))


# ---------------------------------------------------------------------------------------------- the fake
def serve_fake(tick_s: float) -> None:
    """``--serve-fake``: the fake Binance on this process's loop; prints its venue config, runs until stdin
    closes."""
    sys.path.insert(0, str(ROOT / "tests" / "venues"))
    from fake_binance import FakeBinance

    async def main() -> None:
        fake = FakeBinance(CCXT_SYMBOLS, api_key=KEY, secret=SECRET, tick_s=tick_s, prices=PRICES)
        await fake.start()
        print("READY " + json.dumps(fake.venue_config()), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await fake.stop()

    asyncio.run(main())


class FakeProcess:
    """The fake Binance in a child process (its CPU and its GIL apart from the window's)."""

    def __init__(self, tick_s: float) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-fake", "--tick-s", str(tick_s)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                     preexec_fn=lambda: os.nice(NICE) if NICE else None)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"the fake Binance did not start: {line!r}")
        self.config = json.loads(line[6:])

    def cpu_s(self) -> float:
        """The fake's CPU time so far (user + system, from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class FakeThread:
    """The fake Binance on its own loop in a thread of this process (``tests/kit/venues.FakeInThread``)."""

    def __init__(self, tick_s: float) -> None:
        from tests.kit.venues import FakeInThread

        self._t = FakeInThread(symbols=CCXT_SYMBOLS, tick_s=tick_s, prices=PRICES)
        self.config = self._t.fake.venue_config()

    def cpu_s(self) -> float:
        return float("nan")  # its CPU is this process's

    def stop(self) -> None:
        self._t.stop()


# ----------------------------------------------------------------------------------------- the session
class Delivered:
    """BookSnapshot and TradeTick per instrument id, counted as they are published on the bus."""

    def __init__(self, bus) -> None:
        from app.engine.core.messages import BookSnapshot, TradeTick

        self.books: collections.Counter[str] = collections.Counter()
        self.trades: collections.Counter[str] = collections.Counter()

        def book(m: BookSnapshot) -> None:
            self.books[m.symbol] += 1

        def trade(m: TradeTick) -> None:
            self.trades[m.symbol] += 1
        self._unsubs = [bus.subscribe(BookSnapshot, book), bus.subscribe(TradeTick, trade)]

    def streaming(self) -> set[str]:
        return set(self.books) | set(self.trades)

    def total(self, venue: str | None = None, kinds: tuple[str, ...] = ("books", "trades")) -> int:
        return sum(n for c in (getattr(self, k) for k in kinds) for s, n in c.items()
                   if venue is None or s.endswith("@" + venue))

    def close(self) -> None:
        for u in self._unsubs:
            u()


def expected_ids(venues: bool) -> set[str]:
    """The instruments that stream at any hour (the sim's 600519.SH only in Shanghai's sessions: not here)."""
    ids = {"BTC/USDT@sim", "ETH/USDT@sim"}
    if venues:
        ids |= {f"{s}@binance" for s in CCXT_SYMBOLS} | {f"{c}@akshare" for c in AKSHARE_CODES}
    return ids


def run(seconds: float, *, venues: bool = True, fake_in: str = "process", tick_s: float = 0.001,
        feed: str = "process", gc_freeze: bool = False,
        quote_s: float = 1.0, warmup_s: float = 8.0, streaming_timeout_s: float = 60.0,
        cprofile: str | None = None, trace=None) -> dict:
    """One run in this process: build the window, connect the venues, wait until every venue is ready and
    every instrument has streamed (at most ``streaming_timeout_s``), ``warmup_s`` more, measure ``seconds``;
    returns the figures."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import resource

    import pytest
    import qasync

    from app.bootstrap import build, create_app
    from app.engine.venues.credentials import Credentials
    from app.engine.venues.venue_config import parse_config
    from tests.venues.fake_akshare import FakeAkshareHTTP

    patch = pytest.MonkeyPatch()
    fake = kernel = window = None
    app = create_app()
    profile = Path(tempfile.mkdtemp(prefix="kestrel-venues-lag-"))
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    expected = expected_ids(venues)
    try:
        if venues:
            FakeAkshareHTTP().install(patch)
            fake = FakeProcess(tick_s) if fake_in == "process" else FakeThread(tick_s)
        kernel, window = build(profile)
        window.resize(1600, 900)
        window.show()
        delivered = Delivered(kernel.bus)

        async def measure() -> dict:
            t_start = loop.time()
            if venues:
                await kernel.venues.connect(parse_config({**fake.config, "feed_process": feed == "process"}),
                                            Credentials(KEY, SECRET))
                await kernel.venues.connect(parse_config({"kind": "akshare", "symbols": list(AKSHARE_CODES),
                                                          "quote_interval_s": quote_s}))
                while CHART not in kernel.instruments and loop.time() - t_start < streaming_timeout_s:
                    await asyncio.sleep(0.05)
                window.set_symbol(CHART)
                window.watchlist.select(CHART)
            def ready() -> bool:
                return expected <= delivered.streaming() and all(
                    getattr(v, "connected", False) for v in kernel.venues.venues.values())

            while not ready() and loop.time() - t_start < streaming_timeout_s:
                await asyncio.sleep(0.1)
            ready_s = loop.time() - t_start
            if gc_freeze:
                import gc

                gc.collect()
                gc.freeze()  # everything alive now (imports, the window, ccxt) leaves every later collection
            await asyncio.sleep(warmup_s)
            connected = {n: bool(getattr(v, "connected", False)) for n, v in kernel.venues.venues.items()}
            status = {name: st.message for name, st in kernel.venue_status.items()}
            before = {v: delivered.total(v) for v in ("sim", "binance", "akshare")}
            trades0 = delivered.total("binance", ("trades",))
            seen0 = {s: delivered.books[s] + delivered.trades[s] for s in delivered.streaming()}
            frames0 = window.frames.frames
            lags: list[float] = []
            frame_ms: list[float] = []
            kernel.loop_monitor.lags_ms = collections.deque()  # every sample of the measured seconds

            async def probe() -> None:
                frames = window.frames.frames
                while True:
                    due = loop.time() + 0.005
                    await asyncio.sleep(0.005)
                    lags.append(max(0.0, (loop.time() - due) * 1000))
                    if window.frames.frames != frames:  # a frame ran since the last wake-up: its time
                        frames = window.frames.frames
                        frame_ms.append(window.frames.last_frame_ms)

            prof = None
            if cprofile:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            task = loop.create_task(probe())
            f0 = fake.cpu_s() if fake else 0.0
            child = feed_child(kernel)
            c0 = child_cpu_s(child)
            r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            await asyncio.sleep(seconds)
            wall = time.perf_counter() - w0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            fake_cpu = 100 * (fake.cpu_s() - f0) / wall if fake else 0.0
            feed_cpu = 100 * (child_cpu_s(child) - c0) / wall if child else 0.0
            breakdown = trace.report(w0, w0 + wall) if trace is not None else ""
            if prof is not None:
                prof.disable()
                prof.dump_stats(cprofile)
            task.cancel()
            steps = list(kernel.loop_monitor.lags_ms)
            per_venue = {v: (delivered.total(v) - before[v]) / wall for v in before}
            binance_trades = (delivered.total("binance", ("trades",)) - trades0) / wall
            during = sorted(s for s in delivered.streaming()
                            if delivered.books[s] + delivered.trades[s] > seen0.get(s, 0))
            return {
                "venues": venues, "seconds": wall, "platform": os.environ.get("QT_QPA_PLATFORM", ""),
                "connected": connected, "status": status, "ready_s": ready_s,
                "expected": sorted(expected), "streamed": sorted(delivered.streaming()), "streaming": during,
                "chart": window.chart.symbol, "ladder": window.ladder.symbol,
                "lag_p50": pct(steps, 0.5), "lag_p99": pct(steps, 0.99), "lag_max": max(steps),
                "lag_samples": len(steps),
                "probe_p50": pct(lags, 0.5), "probe_p99": pct(lags, 0.99), "probe_max": max(lags),
                "probe_samples": len(lags),
                "ticks_per_s": sum(per_venue.values()), "ticks_per_s_by_venue": per_venue,
                "binance_trades_per_s": binance_trades,
                "frames_per_s": (window.frames.frames - frames0) / wall,
                "frame_p50_ms": pct(frame_ms, 0.5), "frame_p99_ms": pct(frame_ms, 0.99),
                "fake_cpu_pct": fake_cpu, "feed_cpu_pct": feed_cpu, "feed": feed if venues else "",
                "load": os.getloadavg()[0], "breakdown": breakdown,
                "cpu_pct": 100 * ((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)) / wall,
            }

        with loop:  # as launch_gui runs the app: the sim stepping, the venues started, on the qasync loop
            runner = loop.create_task(kernel.run())
            loop.call_soon(kernel.venues.start)
            limit = seconds + warmup_s + streaming_timeout_s + 60
            res = loop.run_until_complete(asyncio.wait_for(measure(), limit))
            window.close()  # and as it closes: the window, then the kernel's first half on the loop
            loop.run_until_complete(kernel.shutdown())
            runner.cancel()
            rest = [t for t in asyncio.all_tasks(loop) if not t.done()]  # ccxt's keep-alive pings
            for t in rest:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        delivered.close()
        return res
    finally:
        if kernel is not None:
            kernel.close()
        if fake is not None:
            fake.stop()
        patch.undo()
        asyncio.set_event_loop(None)


# ---------------------------------------------------------------------------------------------- driver
def feed_child(kernel) -> int | None:
    """The pid of the binance venue's market-data process (``feed_process``), if it runs one."""
    v = kernel.venues.venues.get("binance")
    return getattr(getattr(v, "feed", None), "pid", None)


def child_cpu_s(pid: int | None) -> float:
    """A process's CPU time so far (user + system, from /proc, as ``FakeProcess.cpu_s``); 0 if it is gone."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn(args, venues: bool, tick_s: float, cprofile: str | None = None, feed: str = "process") -> dict:
    """One run in a fresh process (``--worker``)."""
    cmd = [sys.executable, __file__, "--worker", "venues" if venues else "sim",
           "--seconds", str(args.seconds), "--fake-in", args.fake_in, "--tick-s", str(tick_s),
           "--quote-s", str(args.quote_s), "--warmup", str(args.warmup), "--feed", feed]
    if args.gc_freeze:
        cmd += ["--gc-freeze"]
    if cprofile:
        cmd += ["--cprofile", cprofile]
    if args.breakdown:
        cmd += ["--breakdown"]
    limit = args.seconds + args.warmup + 240
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=limit)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"run failed:\n{out.stderr[-4000:]}")


def row(n: int, r: dict, tick_s: float | None) -> list:
    v = r["ticks_per_s_by_venue"]
    return [n, f"3 venues, tick {tick_s:g} s, feed in {r['feed']}" if r["venues"] else "sim alone",
            f"{len(r['streaming'])}/{len(r['expected'])}", f"{r['lag_p50']:.1f}", f"{r['lag_p99']:.1f}",
            f"{r['lag_max']:.0f}", f"{r['probe_p50']:.1f}", f"{r['probe_p99']:.1f}", f"{r['probe_max']:.0f}",
            f"{r['ticks_per_s']:,.0f}", f"{v['sim']:,.0f} / {v['binance']:,.0f} / {v['akshare']:.1f}",
            f"{r.get('binance_trades_per_s', 0):,.0f}",
            f"{r['frames_per_s']:.1f}", f"{r['frame_p50_ms']:.1f} / {r['frame_p99_ms']:.1f}",
            f"{r['cpu_pct']:.0f}",
            f"{r['feed_cpu_pct']:.0f}" if r["venues"] and r["feed"] == "process" else "",
            f"{r['fake_cpu_pct']:.0f}" if r["venues"] else "", f"{r['load']:.1f}"]


HEADERS = ["run", "venues", "streaming", "lag p50", "lag p99", "lag max", "5 ms p50", "5 ms p99", "5 ms max",
           "ticks/s", "sim / binance / akshare", "binance trades/s", "frames/s", "frame tick p50 / p99 ms", "CPU %", "feed CPU %",
           "fake CPU %",
           "load"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds a run")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each venues configuration")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="run the sim alone before each venues run")
    ap.add_argument("--fake-in", choices=["process", "thread"], default="process")
    ap.add_argument("--tick-s", default="0.001",
                    help="the fake Binance's tick, each symbol (a comma list: one configuration each)")
    ap.add_argument("--feed", default="process",
                    help="where binance's websocket streams run: process (the default, feed_process) or loop; "
                         "a comma list: one configuration each, interleaved")
    ap.add_argument("--gc-freeze", action="store_true", help="gc.freeze() once every venue is ready")
    ap.add_argument("--quote-s", type=float, default=1.0, help="akshare: each code's quote this often")
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds after every instrument has streamed")
    ap.add_argument("--cprofile", default=None, help="write a cProfile of the first venues run's loop thread")
    ap.add_argument("--breakdown", action="store_true", help="what kept the loop busy, what made it late "
                    "(bench/_looptrace.py)")
    ap.add_argument("--worker", choices=["venues", "sim"], help=argparse.SUPPRESS)
    ap.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    ticks = [float(t) for t in str(args.tick_s).split(",")]
    if args.serve_fake:
        serve_fake(ticks[0])
        return
    if args.worker:
        trace = None
        if args.breakdown:
            from _looptrace import LoopTrace

            trace = LoopTrace()
            trace.install()  # before the app is made
        res = run(args.seconds, venues=args.worker == "venues", fake_in=args.fake_in, tick_s=ticks[0],
                  feed=args.feed, gc_freeze=args.gc_freeze,
                  quote_s=args.quote_s, warmup_s=args.warmup, cprofile=args.cprofile, trace=trace)
        print("RESULT " + json.dumps(res), flush=True)
        return
    feeds = str(args.feed).split(",")
    runs: list[tuple[dict, float | None]] = []
    for i in range(args.repeat):
        for tick in ticks:  # interleaved: every configuration sees the same machine load
            for feed in feeds:
                if args.baseline:
                    runs.append((spawn(args, False, tick), None))
                profile_it = args.cprofile if i == 0 and tick == ticks[0] and feed == feeds[0] else None
                runs.append((spawn(args, True, tick, profile_it, feed), tick))
                r = runs[-1][0]
                print(f"  run {len(runs)}: tick {tick:g} s, feed in {feed}, lag p99 {r['lag_p99']:.1f} ms",
                      file=sys.stderr)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {runs[0][0]['platform']}, "
          f"fake Binance in a {args.fake_in} (nice {NICE}) with {len(CCXT_SYMBOLS)} symbols, akshare "
          f"{len(AKSHARE_CODES)} codes every {args.quote_s:g} s, {args.seconds:g} s measured a run; ms")
    for n, (r, _) in enumerate(runs, 1):
        missing = sorted(set(r["expected"]) - set(r["streaming"]))
        if missing:
            print(f"  run {n}: not streaming: {', '.join(missing)}")
    print(table(HEADERS, [row(n, r, t) for n, (r, t) in enumerate(runs, 1)]))
    for n, (r, _) in enumerate(runs, 1):
        if r["breakdown"]:
            print(f"\nrun {n}: {r['breakdown']}")
    for tick, feed in ((t, f) for t in ticks for f in feeds):
        p99 = [r["lag_p99"] for r, t in runs if t == tick and r["feed"] == feed]
        print(f"loop lag p99 (kernel LoopMonitor), three venues, tick {tick:g} s, feed in {feed}: "
              f"{', '.join(f'{x:.1f}' for x in p99)} ms; goal <= {GOAL_P99_MS:g} ms: "
              f"{'met' if max(p99) <= GOAL_P99_MS else 'NOT met'}")
    base = [r["lag_p99"] for r, t in runs if t is None]
    if base:
        print(f"sim alone: {', '.join(f'{x:.1f}' for x in base)} ms")


if __name__ == "__main__":
    main()
