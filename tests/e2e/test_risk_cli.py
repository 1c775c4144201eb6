"""`kestrel risk ...` from a second terminal while a terminal is running on the same profile."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.kit.terminal import wait_for_beats
from tests.kit.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


def test_halt_from_the_cli_stops_a_running_terminal_within_one_second(tmp_path):
    prof = tmp_path / "p"
    running = subprocess.Popen([sys.executable, "main.py", "run", "--headless", "--duration", "20", "--profile",
                                str(prof)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "trading state ACTIVE" in running.stdout.readline()
        wait_for_beats(prof, 2)  # its loop is running (and polling the kill latch)
        t_halt = dt.datetime.now()
        r = cli("risk", "halt", "--reason", "risk desk", "--profile", str(prof))
        assert r.returncode == 0, r.stderr
        log = prof / "logs" / "kestrel.log"
        line = wait_until(lambda: next((x for x in log.read_text().splitlines() if "KILL SWITCH engaged" in x), ""),
                          5, "the kill switch in the terminal's log")
        assert "risk desk" in line and "by cli" in line
        stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        # From the moment the CLI had written HALTED (its audit record follows that write) to the running
        # terminal's kill: the CLI's own interpreter start-up (1-2 s on a loaded 2-core box) is not the
        # terminal's reaction time.
        with sqlite3.connect(prof / "kestrel.db") as db:
            written_ms = db.execute("SELECT ts_utc_ms FROM audit WHERE kind='RiskStateSet' AND actor='cli'"
                                    ).fetchone()[0]
        written = dt.datetime.fromtimestamp(written_ms / 1000)
        assert written >= t_halt - dt.timedelta(milliseconds=5)
        assert (stamp - written).total_seconds() < 1.0
    finally:
        running.kill()
        running.wait(10)
    status = cli("risk", "status", "--profile", str(prof))
    assert "HALTED" in status.stdout and "risk desk" in status.stdout


def test_reset_needs_a_reason_and_limits_need_valid_values(tmp_path):
    prof = str(tmp_path / "p")
    assert cli("risk", "halt", "--profile", prof).returncode == 0
    r = cli("risk", "reset", "--profile", prof)
    assert r.returncode == 2 and "--reason is required" in r.stderr
    assert cli("risk", "reset", "--reason", "all clear", "--profile", prof).returncode == 0
    assert "ACTIVE" in cli("risk", "status", "--profile", prof).stdout
    r = cli("risk", "set", "max_notional_manual", "-5", "--reason", "x", "--profile", prof)
    assert r.returncode == 2 and "greater than 0" in r.stderr and "Traceback" not in r.stderr
    r = cli("risk", "set", "max_notional_manual", "1000", "--reason", "smaller", "--profile", prof)
    assert r.returncode == 0 and "50000.0 -> 1000.0" in r.stdout
    assert '"max_notional_manual": 1000.0' in cli("risk", "limits", "--profile", prof).stdout
    assert "changed by cli" in (tmp_path / "p" / "logs" / "kestrel.log").read_text()


def test_the_terminal_and_the_cli_write_one_verifiable_audit_trail(tmp_path):
    prof = tmp_path / "p"
    r = subprocess.run([sys.executable, "main.py", "--self-test", "--profile", str(prof)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert cli("risk", "halt", "--reason", "desk", "--profile", str(prof)).returncode == 0
    assert cli("risk", "set", "max_notional_manual", "1000", "--reason", "smaller", "--profile", str(prof)).returncode == 0
    v = cli("audit", "verify", "--profile", str(prof))
    assert v.returncode == 0 and "audit trail intact" in v.stdout, v.stdout + v.stderr
    import sqlite3

    conn = sqlite3.connect(prof / "kestrel.db")
    kinds = [k for (k,) in conn.execute("SELECT kind FROM audit ORDER BY seq")]
    conn.close()
    for kind in ("SubmitOrder", "OrderSubmitted", "OrderAccepted", "OrderFilled", "OrderDenied", "TradingStateChanged",
                 "RiskStateSet", "RiskLimitsChanged"):
        assert kind in kinds, kind
    assert kinds.index("SubmitOrder") < kinds.index("OrderSubmitted") < kinds.index("OrderFilled")



def test_a_cli_halt_reaches_a_running_terminal_once_and_the_cli_says_so(tmp_path):
    """The terminal used to re-run the kill on every 0.25 s poll until restart (62 audit rows in 8 s); and
    ``halt`` was refused (exit 2, nothing written) when settings.json was invalid, while the terminal kept
    trading. ``halt`` needs nothing but the kill latch; the CLI says whether the terminal acted on it."""
    prof = tmp_path / "p"
    running = subprocess.Popen([sys.executable, "main.py", "run", "--headless", "--duration", "30", "--profile",
                                str(prof)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "trading state ACTIVE" in running.stdout.readline()
        (prof / "settings.json").write_text("{ this is not json")  # broken after the start, as in the report
        wait_for_beats(prof, 1)  # the terminal runs on with it
        r = cli("risk", "halt", "--reason", "risk desk", "--profile", str(prof))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "HALTED (risk desk)" in r.stdout and f"terminal (pid {running.pid}) stopped trading" in r.stdout
        wait_for_beats(prof, 4)  # 8 of the terminal's polls of the kill latch (two per beat): it acts on none
        status = cli("risk", "status", "--profile", str(prof))
    finally:
        running.kill()
        running.wait(10)
    log = (prof / "logs" / "kestrel.log").read_text()
    assert log.count("KILL SWITCH engaged") == 1
    with sqlite3.connect(prof / "kestrel.db") as db:
        rows = db.execute("SELECT kind FROM audit WHERE kind IN ('TradingStateChanged', 'Alert', 'RiskStateSet')"
                          ).fetchall()
    assert len(rows) <= 4, rows  # the CLI's RiskStateSet, one TradingStateChanged, one Alert
    assert "global                   HALTED    by cli: risk desk" in status.stdout
    assert f"pid {running.pid} running" in status.stdout and "has not acted" not in status.stdout


def test_status_says_when_there_is_no_kill_latch_record(tmp_path):
    prof = tmp_path / "p"
    assert cli("risk", "status", "--profile", str(prof)).returncode == 0  # creates the profile's database
    with sqlite3.connect(prof / "kestrel.db") as db:
        db.execute("DELETE FROM risk_state")
    r = cli("risk", "status", "--profile", str(prof))
    assert r.returncode == 0 and "no kill-latch record" in r.stdout and "starts HALTED" in r.stdout
    assert "none running" in r.stdout
