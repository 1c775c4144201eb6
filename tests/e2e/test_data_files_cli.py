"""``--data`` with the files traders have, as a person runs it: ``kestrel backtest`` and ``kestrel sweep`` on a
Yahoo Finance export in a subprocess; what was detected is said on stderr, stdout and ``--json`` keep only
the result, and a file whose dates cannot be told is refused (exit 2) saying which option settles it."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def kestrel(*args: str, profile: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--profile", str(profile)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def yahoo_csv(path: Path, n: int = 120, date_format: str = "%Y-%m-%d") -> Path:
    """``n`` weekdays of a random walk from 2024-01-02, written as Yahoo Finance's download writes them."""
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    day, lines = dt.date(2024, 1, 2), ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for c in close:
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        o = c * (1 + rng.normal(0, 0.005))
        hi, lo = max(o, c) * 1.01, min(o, c) * 0.99
        lines.append(f"{day.strftime(date_format)},{o:.6f},{hi:.6f},{lo:.6f},{c:.6f},{c * 0.98:.6f},"
                     f"{int(rng.integers(1e6, 9e6))}")
        day += dt.timedelta(days=1)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_backtest_runs_on_a_yahoo_export_and_says_how_it_read_it(tmp_path):
    data = yahoo_csv(tmp_path / "AAPL.csv")
    out = tmp_path / "result.json"
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(data), "--params", "fast=5,slow=20",
                   "--tz", "America/New_York", "--json", str(out), profile=tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    assert "data AAPL.csv: Yahoo Finance, 120 bars, 2024-01-02 05:00 UTC .. " in proc.stderr
    assert "time: column 'Date', dates YYYY-MM-DD (detected); no offset in the file: read in America/New_York" \
        in proc.stderr
    assert "'Adj Close' is not used" in proc.stderr
    assert proc.stdout.startswith("sma_cross on AAPL.csv: 120 bars")
    doc = json.loads(out.read_text())
    assert doc["stats"]["bars"] == 120 and doc["trades"]
    hours = {t["entry_time"] % 86_400_000 // 3_600_000 for t in doc["trades"]}
    assert hours <= {4, 5} and 4 in hours  # midnight in New York (EST, or EDT from 10 March), stored as UTC


def test_sweep_reads_the_same_file(tmp_path):
    data = yahoo_csv(tmp_path / "AAPL.csv")
    proc = kestrel("sweep", "--strategy", "sma_cross", "--data", str(data), "--grid", "fast=5:10:5,slow=20:30:10",
                   "--workers", "1", profile=tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    assert "Yahoo Finance, 120 bars" in proc.stderr and "4 combinations" in proc.stdout


@pytest.mark.parametrize("extra,words", [
    ([], ["can be read as day/month/year or as month/day/year", "--time-format '%d/%m/%Y'"]),
    (["--time-unit", "ms"], ["--time-unit ms needs epoch numbers", "column 'Date' holds text"]),
])
def test_dates_that_cannot_be_told_are_refused_saying_which_option_settles_it(tmp_path, extra, words):
    data = yahoo_csv(tmp_path / "EU.csv", n=8, date_format="%m/%d/%Y")  # Jan 2..11: no field above 12
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(data), *extra, profile=tmp_path / "p")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("kestrel backtest: ") and all(w in message for w in words), message
    assert proc.stdout == ""
    settled = kestrel("backtest", "--strategy", "sma_cross", "--data", str(data), "--time-format", "%m/%d/%Y",
                      "--params", "fast=2,slow=4", profile=tmp_path / "p")
    assert settled.returncode == 0, settled.stderr
    assert "times in the format '%m/%d/%Y' (as given)" in settled.stderr


def test_time_options_are_refused_with_a_trade_file(tmp_path):
    trades = tmp_path / "t.csv"
    trades.write_text("timestamp,price,amount\n1700000000000,100,1\n1700000001000,101,2\n")
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(trades), "--ticks", "--tz", "UTC",
                   profile=tmp_path / "p")
    assert proc.returncode == 2 and "--tz applies only to bar files" in proc.stderr, proc.stderr


def test_ml_train_takes_the_same_time_options(tmp_path):
    proc = kestrel("ml", "train", "--help", profile=tmp_path / "p")
    assert proc.returncode == 0
    assert all(flag in proc.stdout for flag in ("--time-unit {s,ms,us,ns,iso}", "--time-format FMT", "--tz ZONE"))
