"""``kestrel backtest``, ``sweep`` and ``ml train`` on a series of the profile's bar store (``--venue --symbol
--timeframe [--since] [--until]`` instead of ``--data``), as a person runs them: a subprocess on a real store.
The stored bars give the result the same bars give from a file; what was read and the holes inside it are
said on stderr; a missing series, an empty range or a muddled choice of source exits 2 saying what to do;
``--timeframe`` still takes seconds for ``--ticks``, and a unit too."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.bar_store import random_bars
from tests.kit.data import TRADES_FILE, load_recorded_bars, recorded

ROOT = Path(__file__).resolve().parents[2]
BARS = "ETH-BTC-5m.csv.gz"  # recorded 5-minute candles, no holes of their own
SERIES = ("--venue", "binance", "--symbol", "ETH/BTC", "--timeframe", "5m")
HOLE = (400, 460)  # bars [400, 460) of the file are not stored: a gap inside the series


def kestrel(*args: str, profile: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--profile", str(profile)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def stats_lines(stdout: str) -> list[str]:
    """The printed statistics (every line but the first, which names the data and the events/s)."""
    return stdout.splitlines()[1:]


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    """A profile whose store holds the recorded ETH/BTC candles, less a hole of 60 bars."""
    from app.engine.data.bar_store import BarStore

    prof = tmp_path_factory.mktemp("stored")
    bars = load_recorded_bars(BARS)
    store = BarStore(prof)
    store.write("binance", "ETH/BTC", 300_000, bars.slice(0, HOLE[0]), "test")
    store.write("binance", "ETH/BTC", 300_000, bars.slice(HOLE[1], len(bars)), "test")
    return prof


def test_a_backtest_on_stored_bars_is_the_backtest_on_the_same_bars_in_a_file(tmp_path, profile):
    out = tmp_path / "export.csv"
    exported = kestrel("data", "export", *SERIES, "--out", str(out), profile=profile)
    assert exported.returncode == 0, exported.stderr
    run = ("backtest", "--strategy", "sma_cross", "--params", "fast=10,slow=30")
    from_file = kestrel(*run, "--data", str(out), "--json", str(tmp_path / "file.json"), profile=profile)
    stored = kestrel(*run, *SERIES, "--json", str(tmp_path / "store.json"), profile=profile)
    assert from_file.returncode == 0, from_file.stderr
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.startswith("sma_cross on binance ETH/BTC 5m: ")
    assert stats_lines(stored.stdout) == stats_lines(from_file.stdout)
    file_doc, store_doc = (json.loads((tmp_path / f"{k}.json").read_text()) for k in ("file", "store"))
    assert store_doc["trades"] and store_doc["trades"] == file_doc["trades"]
    assert store_doc["equity_final"] == file_doc["equity_final"]

    bars = load_recorded_bars(BARS)
    first, last = bars.ts[0], bars.ts[-1]
    from app.engine.data.bar_files import utc_text

    said = stored.stderr
    assert (f"bars: binance ETH/BTC 5m from the bar store, {utc_text(int(first))} .. {utc_text(int(last))}, "
            f"{len(bars) - 60:,} bars") in said
    assert (f"WARNING: 1 gap(s) in the range, 60 bars missing (the run goes straight across them): "
            f"{utc_text(int(bars.ts[HOLE[0]]))} .. {utc_text(int(bars.ts[HOLE[1]]))}") in said


def test_since_and_until_cut_the_stored_series(tmp_path, profile):
    bars = load_recorded_bars(BARS)
    since, until = int(bars.ts[600]), int(bars.ts[1600])
    proc = kestrel("backtest", "--strategy", "sma_cross", *SERIES, "--since", str(since), "--until", str(until),
                   profile=profile)
    assert proc.returncode == 0, proc.stderr
    assert "1000 bars" in proc.stdout.splitlines()[0]
    assert "1,000 bars" in proc.stderr and "gap" not in proc.stderr  # the hole is before the range


def test_an_instrument_id_names_the_stored_series_venue_too(tmp_path, profile):
    by_id = kestrel("backtest", "--strategy", "sma_cross", "--symbol", "ETH/BTC@binance", "--timeframe", "5m",
                    profile=profile)
    by_venue = kestrel("backtest", "--strategy", "sma_cross", *SERIES, profile=profile)
    assert by_id.returncode == 0, by_id.stderr
    def result(out: str) -> list[str]:  # all but the speed line
        return [line for line in out.splitlines() if "events/s" not in line]
    assert result(by_id.stdout) == result(by_venue.stdout) and "binance ETH/BTC 5m" in by_id.stdout.splitlines()[0]


def test_a_sweep_on_stored_bars(tmp_path, profile):
    out = tmp_path / "sweep.json"
    proc = kestrel("sweep", "--strategy", "sma_cross", *SERIES, "--grid", "fast=5:15:5,slow=20:40:10",
                   "--metric", "total_return", "--json", str(out), profile=profile)
    assert proc.returncode == 0, proc.stderr
    assert "9 combinations (vectorised, in-process)" in proc.stdout
    assert "from the bar store" in proc.stderr and "1 gap(s)" in proc.stderr
    doc = json.loads(out.read_text())
    assert len(doc["rows"]) == 9 and all(r["error"] == "" for r in doc["rows"])


def test_ml_train_on_stored_bars_records_the_store_as_its_source(tmp_path):
    from app.engine.data.bar_store import BarStore

    prof = tmp_path / "p"
    BarStore(prof).write("sim", "GEN/USD", 300_000, random_bars(1500, 300_000, seed=4, symbol="GEN/USD"), "test")
    proc = kestrel("ml", "train", "--venue", "sim", "--symbol", "GEN/USD", "--timeframe", "5m", "--model", "gbm",
                   "--horizon", "3", "--small", "--splits", "2", "--no-backtest", "--json", str(tmp_path / "m.json"),
                   profile=prof)
    assert proc.returncode == 0, proc.stderr
    assert "registered gbm-h3@1 (#1)" in proc.stdout
    assert "bars: sim GEN/USD 5m from the bar store" in proc.stderr and "1,500 bars" in proc.stderr
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["data"]["source"].startswith("bar store: sim GEN/USD 5m 2024-01-01 00:00 UTC .. ")
    assert manifest["data"]["symbol"] == "GEN/USD" and manifest["data"]["timeframe_ms"] == 300_000


BAD_SOURCES = [
    (("--data", "x.csv", *SERIES), "--data FILE and --venue NAME are two sources of bars: give one"),
    ((), "no bars given: --data FILE, or a stored series with --venue NAME --symbol S --timeframe TF"),
    (("--venue", "binance"), "--venue binance needs --symbol and --timeframe"),
    (("--venue", "binance", "--symbol", "ETH/BTC"), "--venue binance needs --timeframe"),
    (("--data", "x.csv", "--since", "2024-01-01"), "--since select bars of a stored series: give --venue too"),
    ((*SERIES, "--tz", "Asia/Shanghai"), "--tz reads the time of a --data file"),
    ((*SERIES[:4], "--timeframe", "5 minutes"), "--timeframe '5 minutes': write seconds (60) or a number and a unit"),
    (("--venue", "binance", "--symbol", "ETH/BTC", "--timeframe", "1h"),
     "no stored bars of binance ETH/BTC 1h; stored for ETH/BTC on binance: 5m (20"),
    (("--venue", "binance", "--symbol", "LTC/BTC", "--timeframe", "5m", "--since", "2024-02-01"),
     "nothing of LTC/BTC is stored on binance; it has ETH/BTC. Fetch it with: kestrel data download --venue "
     "binance --symbols LTC/BTC --timeframe 5m --since 2024-02-01T00:00"),
    (("--venue", "okx", "--symbol", "ETH/BTC", "--timeframe", "5m"), "nothing is stored for okx; the store has binance"),
    ((*SERIES, "--since", "2030-01-01"), "no stored bars of binance ETH/BTC 5m from 2030-01-01 00:00 UTC on: the "
                                         "series holds 20"),
    ((*SERIES, "--since", "2030-01-01", "--until", "2020-01-01"), "no stored bars of binance ETH/BTC 5m in "
                                                                  "[2030-01-01 00:00 UTC, 2020-01-01 00:00 UTC)"),
    (("--venue", "okx", "--symbol", "ETH/BTC@binance", "--timeframe", "5m"),
     "--symbol ETH/BTC@binance is on binance, --venue says okx: give one venue"),
]
HEADS = {"backtest": ("backtest", "--strategy", "sma_cross"),
         "sweep": ("sweep", "--strategy", "sma_cross", "--grid", "fast=5:10:5"),
         "ml": ("ml", "train", "--small", "--no-backtest")}


@pytest.mark.parametrize("command,args,message", [("backtest", *case) for case in BAD_SOURCES] + [
    (command, *BAD_SOURCES[i]) for command in ("sweep", "ml") for i in (0, 1, 2, 7, 10)])
def test_a_muddled_source_a_missing_series_or_an_empty_range_exits_2_saying_why(profile, command, args, message):
    proc = kestrel(*HEADS[command], *args, profile=profile)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (profile / "models").exists()  # nothing was trained


def test_an_empty_stretch_inside_the_series_is_an_empty_range(profile):
    bars = load_recorded_bars(BARS)
    proc = kestrel("backtest", "--strategy", "sma_cross", *SERIES, "--since", str(int(bars.ts[HOLE[0]] + 300_000)),
                   "--until", str(int(bars.ts[HOLE[1]] - 300_000)), profile=profile)
    assert proc.returncode == 2 and "no stored bars of binance ETH/BTC 5m in [" in proc.stderr


def test_ticks_take_the_timeframe_in_seconds_or_with_a_unit(tmp_path):
    runs = {}
    for tf in ("60", "1m", "300", "5m", None):
        extra = ("--timeframe", tf) if tf else ()
        proc = kestrel("backtest", "--strategy", "sma_cross", "--params", "fast=3,slow=8", "--data",
                       str(recorded(TRADES_FILE)), "--ticks", *extra, profile=tmp_path / "p")
        assert proc.returncode == 0, proc.stderr
        runs[tf] = proc.stdout
    assert stats_lines(runs["60"]) == stats_lines(runs["1m"]) == stats_lines(runs[None])
    assert stats_lines(runs["300"]) == stats_lines(runs["5m"]) != stats_lines(runs["60"])
    bad = kestrel("backtest", "--strategy", "sma_cross", "--data", str(recorded(TRADES_FILE)), "--ticks",
                  "--timeframe", "0", profile=tmp_path / "p")
    assert bad.returncode == 2 and "--timeframe '0': a number of seconds must be at least 0.001" in bad.stderr
    stored = kestrel("backtest", "--strategy", "sma_cross", "--ticks", *SERIES, profile=tmp_path / "p")
    assert stored.returncode == 2 and "--ticks runs a trade file (--data); the bar store holds bars" in stored.stderr
