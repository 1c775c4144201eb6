"""``kestrel backtest``, ``kestrel sweep`` and ``kestrel plugins list`` as a user runs them: a separate
process, real files, exit codes and messages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backtest import oracles
from tests.kit.data import recorded

ROOT = Path(__file__).resolve().parents[2]
DATA_NAME = "XRP-ETH-1m.csv.gz"
TRADE_KEYS = {"entry_time", "exit_time", "side", "qty", "entry_price", "exit_price", "pnl", "fees"}
STAT_KEYS = {"total_return", "annual_return", "sharpe", "sortino", "calmar", "max_drawdown",
             "max_drawdown_duration_ms", "win_rate", "profit_factor", "expectancy", "exposure", "trades"}


def kestrel(*args: str, profile: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--profile", str(profile)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("profile")


@pytest.fixture(scope="module")
def data_file() -> Path:
    return recorded(DATA_NAME)


@pytest.fixture(scope="module")
def backtest_run(tmp_path_factory, profile_dir, data_file):
    out = tmp_path_factory.mktemp("out")
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(data_file),
                   "--params", "fast=10,slow=30", "--json", str(out / "result.json"),
                   "--plot", str(out / "result.png"), profile=profile_dir)
    return proc, out


def test_backtest_writes_the_json_the_issue_specifies(backtest_run, recorded_bars):
    proc, out = backtest_run
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "result.json").read_text())
    assert set(doc) == {"trades", "stats", "equity_final"}
    assert doc["trades"] and all(set(t) == TRADE_KEYS for t in doc["trades"])
    for t in doc["trades"]:
        assert isinstance(t["entry_time"], int) and isinstance(t["exit_time"], int)
        assert t["entry_time"] < t["exit_time"] and t["side"] == "long"
        assert t["qty"] > 0 and t["fees"] > 0
    assert STAT_KEYS <= set(doc["stats"])
    assert isinstance(doc["equity_final"], float)
    assert doc["stats"]["trades"] == len(doc["trades"])
    assert f"{len(doc['trades'])} trades" in proc.stdout


def test_backtest_equity_final_equals_vectorbt(backtest_run, recorded_bars):
    pytest.importorskip("vectorbt")
    _proc, out = backtest_run
    doc = json.loads((out / "result.json").read_text())
    trades, final = oracles.vectorbt_sma_cross(recorded_bars[DATA_NAME], 10, 30, 0.001, 10_000.0)
    assert doc["equity_final"] == pytest.approx(final, rel=1e-10)
    assert [(t["entry_time"], t["exit_time"]) for t in doc["trades"]] == \
        [(t["entry_time"], t["exit_time"]) for t in trades]


def test_backtest_plot_is_a_real_picture(backtest_run):
    from PySide6.QtGui import QImage

    _proc, out = backtest_run
    png = out / "result.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    img = QImage(str(png))
    assert (img.width(), img.height()) == (1200, 700)
    colours = {img.pixel(x, y) for x in range(0, 1200, 7) for y in range(0, 700, 7)}
    assert len(colours) > 20  # curves, axes, text and fill: not a blank canvas


@pytest.mark.parametrize("params,message", [
    ("fast=abc", "parameter 'fast': 'abc' is not a valid int"),
    ("fast=0", "parameter 'fast': 0 is below its minimum 1"),
    ("speed=3", "unknown parameter(s) speed; sma_cross takes"),
    ("fast", "--params item 'fast': write name=value"),
])
def test_bad_params_exit_2_with_a_clear_message(params, message, profile_dir, data_file):
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(data_file), "--params", params,
                   profile=profile_dir)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_bad_files_and_names_exit_2_with_a_clear_message(tmp_path, profile_dir, data_file):
    missing = kestrel("backtest", "--strategy", "sma_cross", "--data", str(tmp_path / "nope.csv"),
                      profile=profile_dir)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n"
                   "1700000040000,1,1,1,1,1\n1700000100000,1,1,1,oops,1\n")
    malformed = kestrel("backtest", "--strategy", "sma_cross", "--data", str(bad), profile=profile_dir)
    unknown = kestrel("backtest", "--strategy", "no_such_strategy", "--data", str(data_file),
                      profile=profile_dir)
    for proc, message in ((missing, "no such file"),
                          (malformed, "column 'close' has a missing or non-numeric value at data row 2"),
                          (unknown, "strategy 'no_such_strategy': not found; available:")):
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr


def test_sweep_writes_json_rows_for_the_grid(tmp_path, profile_dir, data_file):
    out = tmp_path / "sweep.json"
    proc = kestrel("sweep", "--strategy", "sma_cross", "--data", str(data_file), "--grid",
                   "fast=5:15:5,slow=20:40:10", "--metric", "total_return", "--json", str(out),
                   profile=profile_dir)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["mode"] == "vectorised" and doc["metric"] == "total_return"
    assert [(r["params"]["fast"], r["params"]["slow"]) for r in doc["rows"]] == \
        [(f, s) for f in (5, 10, 15) for s in (20, 30, 40)]
    assert all(r["error"] == "" and "total_return" in r["stats"] for r in doc["rows"])
    assert doc["best"]["stats"]["total_return"] == max(r["stats"]["total_return"] for r in doc["rows"])
    assert "9 combinations (vectorised, in-process)" in proc.stdout


def test_a_bad_grid_exits_2(profile_dir, data_file):
    proc = kestrel("sweep", "--strategy", "sma_cross", "--data", str(data_file), "--grid", "fast=10:5",
                   profile=profile_dir)
    assert proc.returncode == 2 and "need step > 0 and stop >= start" in proc.stderr


def test_plugins_list_shows_the_bundled_plugins(profile_dir):
    proc = kestrel("plugins", "list", profile=profile_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in ("sma_cross", "rsi_reversion", "bollinger_breakout", "market_maker"):
        line = next((ln for ln in lines if ln.split()[:1] == [name]), "")
        assert line.split()[1:] == ["bundled", "ok"], proc.stdout
    assert "params: symbol='BTC/USDT', fast=10, slow=30" in proc.stdout


PEEKING_PLUGIN = """
    import numpy as np
    from app.api import Bar, Param, Strategy


    class PeekingCross(Strategy):
        name = "peeking_cross"
        api_version = "1.0"
        fast = Param(10, lo=1, hi=1000)

        def on_bar(self, bar: Bar) -> None:
            pass

        @classmethod
        def signals(cls, data, fast, **_):
            close = data["close"]
            nxt = np.r_[close[1:], np.nan]  # tomorrow's close, today
            with np.errstate(invalid="ignore"):
                return nxt > close, nxt < close


    class Faulty(Strategy):
        name = "faulty"
        api_version = "1.0"

        def on_bar(self, bar: Bar) -> None:
            raise RuntimeError("plugin bug")
"""


@pytest.fixture(scope="module")
def user_profile(tmp_path_factory) -> Path:
    profile = tmp_path_factory.mktemp("user-profile")
    (profile / "plugins").mkdir()
    (profile / "plugins" / "cheats.py").write_text(textwrap.dedent(PEEKING_PLUGIN))
    return profile


def test_check_lookahead_passes_sma_cross_and_fails_a_peeking_plugin(user_profile, data_file):
    clean = kestrel("backtest", "--strategy", "sma_cross", "--data", str(data_file), "--check-lookahead",
                    profile=user_profile)
    assert clean.returncode == 0, clean.stderr
    assert "look-ahead check: clean" in clean.stdout
    peeking = kestrel("backtest", "--strategy", "peeking_cross", "--data", str(data_file),
                      "--check-lookahead", profile=user_profile)
    assert peeking.returncode == 1, peeking.stderr
    assert "LOOK-AHEAD FOUND" in peeking.stdout and "signals() at bar" in peeking.stdout


def test_a_strategy_failing_while_running_exits_1_with_the_reason(user_profile, data_file):
    proc = kestrel("backtest", "--strategy", "faulty", "--data", str(data_file), profile=user_profile)
    assert proc.returncode == 1
    assert "faulted: on_bar raised RuntimeError: plugin bug" in proc.stderr and "Traceback" not in proc.stderr


def test_rules_ashare_backtests_an_a_share_under_its_rules(tmp_path, profile_dir):
    """``--rules ashare``: the same strategy on the same 600519.SH daily bars trades whole 100-share lots and
    pays the A-share fees (stamp duty on sells) instead of a flat fee on fractional quantities."""
    from tests.kit.series import ashare_daily_csv

    data = ashare_daily_csv(tmp_path / "600519.SH-1d.csv")
    out = {}
    for rules in ("none", "ashare"):
        r = kestrel("backtest", "--strategy", "sma_cross", "--data", str(data), "--params", "fast=3,slow=8",
                    "--cash", "1000000", "--rules", rules, "--json", str(tmp_path / f"{rules}.json"),
                    profile=profile_dir)
        assert r.returncode == 0, r.stdout + r.stderr
        out[rules] = json.loads((tmp_path / f"{rules}.json").read_text())["trades"]
    assert out["none"] and out["ashare"]
    assert any(t["qty"] % 100 for t in out["none"])  # all-in: fractional shares without the rules
    assert all(t["qty"] % 100 == 0 for t in out["ashare"])  # whole lots under them
    for t in out["ashare"]:  # commission 0.025% (min 5) + transfer 0.001% both ways, stamp duty 0.05% on sells
        notional_in, notional_out = t["qty"] * t["entry_price"], t["qty"] * t["exit_price"]
        expected = (max(5.0, notional_in * 0.00025) + notional_in * 0.00001
                    + max(5.0, notional_out * 0.00025) + notional_out * 0.00001 + notional_out * 0.0005)
        assert t["fees"] == pytest.approx(expected, abs=0.05)


def test_trail_on_sets_how_trailing_stops_follow_the_bars(tmp_path, data_file, monkeypatch, capsys):
    """``--trail-on close|extremes`` reaches the backtest's config (default: close); anything else exits 2."""
    from app.cli.main import main
    from app.engine.backtest import engine

    seen = []
    real = engine.run_backtest

    def spy(cls, params, data, cfg, *rest):
        seen.append(cfg.trail_on)
        return real(cls, params, data.slice(0, 200), cfg, *rest)

    monkeypatch.setattr(engine, "run_backtest", spy)
    common = ["backtest", "--strategy", "sma_cross", "--data", str(data_file), "--profile", str(tmp_path)]
    assert main(common) == 0
    assert main([*common, "--trail-on", "extremes"]) == 0
    assert seen == ["close", "extremes"]
    with pytest.raises(SystemExit) as exc:
        main([*common, "--trail-on", "high"])
    assert exc.value.code == 2 and "--trail-on: invalid choice: 'high'" in capsys.readouterr().err
