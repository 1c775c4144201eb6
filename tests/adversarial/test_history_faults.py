"""The bar store and the terminal's history where an adversary stands: a second process downloading into the
series the running terminal stores its live bars in, killed -9 half-way; a venue answering candle requests with
garbage. Nothing lost, nothing twice, a clear message, and the terminal keeps running."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.engine.core.messages import Bar, TradeTick
from app.engine.data.bar_store import BarStore
from tests.kit.venues import FakeInThread, no_internet, run, running  # noqa: F401 (no_internet: autouse)
from tests.kit.wait import until

ROOT = Path(__file__).resolve().parents[2]
TF = 60_000
SYM = "BTC/USDT"  # the venue's symbol (the exchange, the bar store)
ID = "BTC/USDT@binance"  # the instrument (the kernel, the bus, the chart)


def download(cfg_file: Path, profile: Path, since: int, until_ms: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "data", "download", "--venue", "binance",
                             "--venue-config", str(cfg_file), "--symbols", SYM, "--timeframe", "1m", "--since",
                             str(since), "--until", str(until_ms), "--profile", str(profile)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_download_killed_beside_a_terminal_storing_live_bars_loses_nothing_and_doubles_nothing(tmp_path):
    import dataclasses

    from app.config import Settings
    from app.engine.core.clock import SimClock
    from app.engine.core.instruments import default_instruments
    from app.engine.kernel import Kernel
    from app.engine.venues.venue_config import parse_config, save_config

    profile, srv = tmp_path / "profile", FakeInThread()
    try:
        fake = srv.fake
        cfg = fake.venue_config(stream="poll")
        cfg_file = tmp_path / "binance.json"
        cfg_file.write_text(json.dumps(cfg))
        profile.mkdir()
        save_config(profile, parse_config(cfg))
        sim = [i for i in default_instruments() if i.symbol != SYM]
        btc = dataclasses.replace(next(i for i in default_instruments() if i.symbol == SYM), venue="binance")
        live_start = fake.history_start_ms + 40 * 86_400_000  # the terminal's live minutes
        kernel = Kernel(profile, Settings(), clock=SimClock(live_start), instruments=sim + [btc])
        kernel.start()
        start = fake.history_start_ms + 10 * 86_400_000
        end = start + 3_000 * TF  # three pages the second process downloads
        srv.call(lambda: fake.slow("GET /api/v3/klines", 0.4))
        proc = download(cfg_file, profile, start, end)
        live = []
        try:
            store = BarStore(profile)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the terminal closes a live bar every 20 ms meanwhile
                ts = live_start + len(live) * TF
                c = 100.5 + len(live)
                live.append(Bar(ID, TF, ts, 100.0, c + 1.0, 99.0, c, 1.0, True))
                kernel.bus.publish(live[-1])
                kernel.step()
                time.sleep(0.02)
                info = store.info("binance", SYM, TF)
                if info is not None and info.bars - len(live) >= 1_000:
                    break  # the first page is stored: now, mid-download
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        stored_live = live[1:]  # the first closed bar began before the terminal listened
        assert until_stored(store, len(stored_live), live_start), len(store.read("binance", SYM, TF, live_start))
        kernel.close()

        got = BarStore(profile).read("binance", SYM, TF)  # readable after the kill
        assert len(set(got.ts.tolist())) == len(got)  # nothing twice
        assert [b.ts for b in stored_live] == [t for t in got.ts.tolist() if t >= live_start]
        assert [b.close for b in stored_live] == got.close[got.ts >= live_start].tolist()  # nothing lost
        downloaded = got.ts[got.ts < live_start].tolist()
        assert 0 < len(downloaded) < 3_000
        rows = fake.candles(SYM, "1m", start, end)
        assert downloaded == [int(r[0]) for r in rows][: len(downloaded)]  # the pages that arrived, whole

        srv.call(lambda: fake.slow("GET /api/v3/klines", 0.0))
        again = download(cfg_file, profile, start, end)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        got = BarStore(profile).read("binance", SYM, TF)
        assert got.ts[got.ts < live_start].tolist() == [int(r[0]) for r in rows]  # resumed, every candle once
        assert got.ts[got.ts >= live_start].tolist() == [b.ts for b in stored_live]  # the live bars kept
    finally:
        srv.stop()


def until_stored(store: BarStore, n: int, since: int, timeout: float = 10.0) -> bool:
    """The history worker stores live bars off the loop: wait for ``n`` of them."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(store.read("binance", SYM, TF, since)) >= n:
            return True
        time.sleep(0.05)
    return False


def test_garbage_candles_are_said_on_the_chart_store_nothing_and_the_terminal_keeps_trading(profile):
    async def go():
        async with running(profile, stream="poll", history_retry_base_s=0.02) as s:  # (retries soon: same path)
            fake = s.fake
            k = s.kernel
            for kind in ("malformed", "html", "truncated"):
                fake.reset_faults()
                fake.fault("GET /api/v3/klines", kind, 100)
                k.history.statuses.clear()
                assert k.history.open(ID)
                await until(lambda: k.history.status(ID).state == "offline", 30, f"{kind} candles refused")
                assert "could not be refreshed from binance" in k.history.status(ID).problem
                assert BarStore(profile).info("binance", SYM, TF) is None  # no garbage stored
                n = sum(isinstance(m, TradeTick) for m in s.seen)
                await until(lambda: sum(isinstance(m, TradeTick) for m in s.seen) > n + 3, 10,
                            "market data still flowing")
            fake.reset_faults()
            k.history.open(ID)
            await until(lambda: k.history.status(ID).state == "ready", 20, "history once the venue answers")
            assert BarStore(profile).info("binance", SYM, TF).bars > 0
    run(go(), timeout=120)
