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
