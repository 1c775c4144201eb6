"""``kestrel data list|import|export|delete`` as a person runs them, in subprocesses on one profile: a recorded
candle file goes into the bar store and comes back out as the backtester's CSV bit for bit; importing it
again changes nothing; a wrong timeframe or an empty range is refused (exit 2) saying why."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from app.engine.data.bar_files import load_bars
from tests.kit.data import load_recorded_bars, recorded

ROOT = Path(__file__).resolve().parents[2]
FILE = "ETH-BTC-5m.csv.gz"


def kestrel(*args: str, profile: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app.cli", "data", *args, "--profile", str(profile)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def test_a_file_goes_into_the_store_and_comes_back_as_the_backtester_s_csv(tmp_path):
    profile = tmp_path / "profile"
    series = ("--venue", "binance", "--symbol", "ETH/BTC", "--timeframe", "5m")
    empty = kestrel("list", profile=profile)
    assert empty.returncode == 0 and "no stored bars" in empty.stdout

    first = kestrel("import", str(recorded(FILE)), *series, profile=profile)
    assert first.returncode == 0, first.stderr
    original = load_recorded_bars(FILE)
    assert f"stored {len(original):,} bars of ETH/BTC 5m on binance" in first.stdout
    assert "time:" in first.stderr  # what was detected in the file is said
    again = kestrel("import", str(recorded(FILE)), *series, profile=profile)
    assert again.returncode == 0 and f"the series now holds {len(original):,} bars" in again.stdout

    listing = kestrel("list", profile=profile)
    assert listing.returncode == 0
    row = next(line for line in listing.stdout.splitlines() if line.startswith("binance"))
    assert "ETH/BTC" in row and " 5m " in row and f"{len(original):,}" in row

    out = tmp_path / "export.csv"
    exported = kestrel("export", *series, "--out", str(out), profile=profile)
    assert exported.returncode == 0, exported.stderr
    back = load_bars(out)
    for column in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(back.column(column), original.column(column)), column  # bit for bit

    cut = int(original.ts[100])
    deleted = kestrel("delete", *series, "--since", str(cut), profile=profile)
    assert deleted.returncode == 0 and f"deleted {len(original) - 100:,} bars" in deleted.stdout
    nothing = kestrel("export", *series, "--since", str(cut), "--out", str(out), profile=profile)
    assert nothing.returncode == 2 and "no stored bars of ETH/BTC 5m on binance in that range" in nothing.stderr


def test_a_wrong_timeframe_or_a_bad_time_is_refused_and_nothing_is_stored(tmp_path):
    profile = tmp_path / "profile"
    wrong = kestrel("import", str(recorded(FILE)), "--venue", "binance", "--symbol", "ETH/BTC",
                    "--timeframe", "1m", profile=profile)
    assert wrong.returncode == 2
    assert "the file's bars are 5m apart, --timeframe says 1m; nothing was stored" in wrong.stderr
    assert "no stored bars" in kestrel("list", profile=profile).stdout
    bad_tf = kestrel("delete", "--venue", "x", "--symbol", "y", "--timeframe", "5 minutes", profile=profile)
    assert bad_tf.returncode == 2 and "write a number and a unit, e.g. 1m" in bad_tf.stderr
    bad_time = kestrel("export", "--venue", "x", "--symbol", "y", "--timeframe", "5m", "--since", "yesterday",
                       "--out", str(tmp_path / "o.csv"), profile=profile)
    assert bad_time.returncode == 2 and "--since 'yesterday': write an ISO 8601 time" in bad_time.stderr


def test_download_from_a_ccxt_venue_stores_history_resumes_and_marks_what_the_venue_lacks(tmp_path):
    """`kestrel data download` against the fake Binance (in a thread; the CLI in a subprocess): the store gets
    the exchange's own candles exactly; a run cut short by a refused request stores what arrived and says to
    run again; the same command then asks only for what is missing; a range the exchange has no candles for
    is marked (even by the run that was cut short) and not asked for again."""
    import json

    from app.engine.data.bar_store import BarStore
    from tests.kit.venues import FakeInThread

    profile, srv = tmp_path / "profile", FakeInThread()
    try:
        fake = srv.fake
        cfg_file = tmp_path / "binance.json"
        cfg_file.write_text(json.dumps(fake.venue_config(stream="poll")))
        start = fake.history_start_ms + 10 * 86_400_000
        start -= start % 60_000
        end = start + 3_000 * 60_000  # three pages of 1,000
        fake.kline_gap(start + 1_500 * 60_000, start + 1_600 * 60_000)  # no candles here at the venue
        args = ("download", "--venue", "binance", "--venue-config", str(cfg_file), "--symbols", "BTC/USDT",
                "--timeframe", "1m", "--since", str(start), "--until", str(end))
        srv.call(lambda: fake.fault("GET /api/v3/klines", "not_found", 1, after=2))  # the third page refused
        cut = kestrel(*args, profile=profile)
        assert cut.returncode == 1 and "run the same command again to resume" in cut.stderr, cut.stderr
        got = BarStore(profile).read("binance", "BTC/USDT", 60_000)
        assert 0 < len(got) < 2_900  # what arrived is stored
        asked_before = len(fake.kline_requests)
        done = kestrel(*args, profile=profile)
        assert done.returncode == 0, done.stderr
        assert "(1 missing range(s) asked for)" in done.stdout  # the tail: the venue's hole was marked by run 1
        assert BarStore(profile).gaps("binance", "BTC/USDT", 60_000) == []  # known empty: not a gap any more
        bars = BarStore(profile).read("binance", "BTC/USDT", 60_000)
        rows = fake.candles("BTC/USDT", "1m", start, end)
        assert [int(r[0]) for r in rows] == bars.ts.tolist()  # every candle the venue has, once, in order
        assert [float(r[4]) for r in rows] == bars.column("close").tolist()
        resumed_from = int(fake.kline_requests[asked_before]["startTime"])
        assert resumed_from == int(got.ts[-1]) + 60_000  # the second run started where the first stopped
        again = kestrel(*args, profile=profile)
        assert again.returncode == 0 and "0 bars stored (0 missing range(s)" in again.stdout  # nothing missing
    finally:
        srv.stop()
