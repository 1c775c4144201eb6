"""Bad input as a person types it (issue 16, defect 14): ``kestrel ...`` in a subprocess on real files. Each
case exits with the documented code and one line saying what happened and what to do, never a traceback,
and is refused before any long work starts (no backtest printed, no training progress shown)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = "timestamp,open,high,low,close,volume\n"


def kestrel(*args: str, profile: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--profile", str(profile)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def refused(proc: subprocess.CompletedProcess, *words: str, code: int = 2) -> str:
    """The process exited ``code`` with a message holding ``words``, and no traceback; returns the message."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == code, out
    message = proc.stderr.strip().splitlines()[-1]
    for w in words:
        assert w in message, message
    return message


def write_bars(path: Path, n: int = 600, constant: bool = False) -> Path:
    from app.engine.ml.synthetic import generated_bars

    b = generated_bars(n, seed=3)
    rows = zip(b.ts.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(), b.close.tolist(), b.volume.tolist())
    with open(path, "w") as fh:
        fh.write(HEADER)
        for ts, o, h, lo, c, v in rows:
            fh.write(f"{ts},100,100,100,100,1\n" if constant else f"{ts},{o},{h},{lo},{c},{v}\n")
    return path


@pytest.fixture(scope="module")
def bars(tmp_path_factory) -> Path:
    return write_bars(tmp_path_factory.mktemp("data") / "GEN-1m.csv")


@pytest.fixture
def db_is_a_folder(tmp_path) -> Path:
    prof = tmp_path / "p"
    (prof / "kestrel.db").mkdir(parents=True)
    return prof


# ------------------------------------------------------------------------------------------- data files
def test_a_trade_file_with_only_a_header_is_refused_with_ticks(tmp_path):
    trades = tmp_path / "trades.csv"
    trades.write_text("timestamp,price,amount\n")
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(trades), "--ticks", profile=tmp_path / "p")
    refused(proc, "no trades", "header")


def test_fractional_millisecond_timestamps_are_refused_with_the_row(tmp_path, bars):
    lines = bars.read_text().splitlines()
    ts = lines[4].split(",")[0]
    lines[4] = lines[4].replace(ts, f"{ts}.5", 1)
    frac = tmp_path / "frac.csv"
    frac.write_text("\n".join(lines) + "\n")
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(frac), profile=tmp_path / "p")
    refused(proc, "data row 4", f"{ts}.5", "whole number of milliseconds")
    trades = tmp_path / "t.csv"
    trades.write_text("timestamp,price,amount\n1700000000000,100,1\n1700000000100.25,100,1\n")
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(trades), "--ticks", profile=tmp_path / "p")
    refused(proc, "data row 2", "whole number of milliseconds")


def test_negative_trade_sizes_are_refused_with_the_row(tmp_path):
    trades = tmp_path / "t.csv"
    trades.write_text("timestamp,price,amount\n1700000000000,100,1\n1700000001000,101,2\n1700000002000,102,-3\n")
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(trades), "--ticks", profile=tmp_path / "p")
    refused(proc, "amount must be > 0", "data row 3", "-3")


# --------------------------------------------------------------------------------------- numbers given
@pytest.mark.parametrize("command,value", [("backtest", "nan"), ("backtest", "inf"), ("backtest", "-1"),
                                           ("backtest", "0"), ("sweep", "nan")])
def test_cash_must_be_a_finite_positive_number(tmp_path, bars, command, value):
    grid = ["--grid", "fast=5:10:5,slow=20:30:10"] if command == "sweep" else []
    proc = kestrel(command, "--strategy", "sma_cross", "--data", str(bars), "--cash", value, *grid,
                   profile=tmp_path / "p")
    refused(proc, "--cash must be a finite number greater than 0", f"got {float(value)}")
    assert "equity_final" not in proc.stdout and "combinations" not in proc.stdout


def test_a_nan_fee_is_refused(tmp_path, bars):
    proc = kestrel("backtest", "--strategy", "sma_cross", "--data", str(bars), "--fee", "nan", profile=tmp_path / "p")
    refused(proc, "--fee must be a finite number of at least 0 and below 1")


@pytest.mark.parametrize("name,value,rule", [
    ("max_drawdown_pct", "1e400", "a finite number greater than 0, got inf"),
    ("max_drawdown_pct", "NaN", "a finite number greater than 0, got nan"),
    ("max_notional_manual", "-5", "a finite number greater than 0, got -5"),
    ("price_collar_pct", "0", "a finite number greater than 0 and at most 100, got 0"),
    ("max_msgs_per_s_total", "1e400", "a whole number of at least 1, got inf"),
])
def test_risk_set_refuses_values_outside_the_limits_range(tmp_path, name, value, rule):
    prof = tmp_path / "p"
    before = json.loads(kestrel("risk", "limits", profile=prof).stdout)
    proc = kestrel("risk", "set", name, value, "--reason", "test", profile=prof)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert name in proc.stderr and rule in proc.stderr, proc.stderr
    assert json.loads(kestrel("risk", "limits", profile=prof).stdout) == before


def test_settings_json_with_an_infinite_limit_is_refused_at_start(tmp_path):
    prof = tmp_path / "p"
    prof.mkdir()
    (prof / "settings.json").write_text('{"risk": {"max_drawdown_pct": 1e400}}')
    proc = kestrel("run", "--headless", "--duration", "0.2", profile=prof)
    refused(proc, "settings.json", "risk.max_drawdown_pct: must be a finite number greater than 0, got inf")
    assert not (prof / "kestrel.db").exists()


# ------------------------------------------------------------------------------------- outputs given
@pytest.mark.parametrize("command,option", [("backtest", "--json"), ("backtest", "--plot"), ("sweep", "--json"),
                                            ("sweep", "--plot")])
def test_an_output_into_a_missing_folder_is_refused_before_the_run(tmp_path, bars, command, option):
    target = tmp_path / "no-such-folder" / "out.file"
    grid = ["--grid", "fast=5:10:5,slow=20:30:10"] if command == "sweep" else []
    proc = kestrel(command, "--strategy", "sma_cross", "--data", str(bars), option, str(target), *grid,
                   profile=tmp_path / "p")
    refused(proc, option, f"the folder {target.parent} does not exist")
    assert proc.stdout == ""  # nothing ran: no result was printed


@pytest.mark.parametrize("option,target", [("--json", "missing/m.json"), ("--out", "a-file/artifact")])
def test_ml_train_outputs_are_checked_before_training(tmp_path, bars, option, target):
    (tmp_path / "a-file").write_text("not a folder")
    proc = kestrel("ml", "train", "--data", str(bars), "--small", "--no-backtest", option, str(tmp_path / target),
                   profile=tmp_path / "p")
    refused(proc, option)
    assert "computing features" not in proc.stderr


# ------------------------------------------------------------------------------------ the profile's DB
@pytest.mark.parametrize("args", [("run", "--headless", "--duration", "0.2"), ("ml", "list"), ("risk", "status"),
                                  ("ml", "train", "--small", "--no-backtest"), ()],
                         ids=["run-headless", "ml-list", "risk-status", "ml-train", "window"])
def test_a_database_that_is_a_folder_is_a_clear_error(db_is_a_folder, bars, args):
    if args[:2] == ("ml", "train"):
        args = (*args, "--data", str(bars))
    proc = kestrel(*args, profile=db_is_a_folder)
    refused(proc, "kestrel.db is a folder, not a database file", "Move it away")
    assert "computing features" not in proc.stderr  # ml train: refused before any training


def test_an_empty_database_file_is_refused_not_made_a_new_profile(tmp_path):
    prof = tmp_path / "p"
    prof.mkdir()
    (prof / "kestrel.db").write_bytes(b"")
    for args in (("run", "--headless", "--duration", "0.2"), ("risk", "status")):
        refused(kestrel(*args, profile=prof), "is empty (0 bytes)", "Restore it from a backup", "move it away")
    assert (prof / "kestrel.db").stat().st_size == 0


def test_a_profile_folder_without_a_database_is_still_a_new_profile(tmp_path):
    prof = tmp_path / "p"
    prof.mkdir()
    proc = kestrel("run", "--headless", "--duration", "0.3", profile=prof)
    assert proc.returncode == 0, proc.stderr
    assert "trading state ACTIVE" in proc.stdout and (prof / "kestrel.db").stat().st_size > 0


# ----------------------------------------------------------------------------------------------- ml train
@pytest.mark.parametrize("model", ["linear", "gbm"])
def test_constant_prices_are_refused_the_labels_do_not_vary(tmp_path, model):
    const = write_bars(tmp_path / "FLAT-1m.csv", n=400, constant=True)
    proc = kestrel("ml", "train", "--data", str(const), "--model", model, "--small", "--no-backtest",
                   profile=tmp_path / "p")
    refused(proc, "the labels do not vary", "constant prices")
    assert "registered" not in proc.stdout


# ---------------------------------------------------------------------------------------- audit at start
def test_headless_says_so_when_the_audit_trail_was_tampered(tmp_path):
    import sqlite3

    prof = tmp_path / "p"
    assert kestrel("risk", "halt", "--reason", "drill", profile=prof).returncode == 0
    assert kestrel("risk", "reset", "--reason", "drill over", profile=prof).returncode == 0
    conn = sqlite3.connect(prof / "kestrel.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'manual' WHERE seq = 2")
    conn.commit()
    conn.close()
    proc = kestrel("run", "--headless", "--duration", "0.2", profile=prof)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("[critical] Audit trail tampered"))
    assert "first bad record: seq 2" in line and f"kestrel audit verify --profile {prof}" in line
    log = (prof / "logs" / "kestrel.log").read_text()
    assert "CRITICAL" in log and "first bad record: seq 2" in log


def test_every_risk_limit_refuses_inf_and_nan():
    """The model itself (so settings.json, the CLI and the risk panel alike): every number of RiskSettings."""
    from pydantic import ValidationError

    from app.config import RiskSettings, problems

    base = RiskSettings().model_dump()
    numbers = [k for k, v in base.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert len(numbers) >= 18
    for name in numbers:
        for bad in (np.inf, np.nan, -np.inf):
            with pytest.raises(ValidationError) as err:
                RiskSettings.model_validate({**base, name: bad})
            assert problems(err.value).startswith(f"{name}: must be a ")
    for table in ("max_order_qty", "max_position"):
        with pytest.raises(ValidationError):
            RiskSettings.model_validate({**base, table: {"BTC/USDT": -1.0}})
