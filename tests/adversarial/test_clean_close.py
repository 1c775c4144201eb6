"""SIGTERM / SIGINT / SIGHUP close the terminal cleanly: the journal flushed, strategies stopped with their
cancels sent and answered while the loop still runs (none left PENDING_CANCEL), exit 0, "closed" in the log.

Before: SIGTERM killed the window (exit 143, layout and staged rows lost), and the headless close stopped
strategies after the loop had ended, so their cancels failed with "no running event loop"."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.terminal import wait_for_beats
from tests.kit.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def orders(prof: Path) -> list[tuple[str, str]]:
    if not (prof / "kestrel.db").exists():
        return []
    try:
        with sqlite3.connect(prof / "kestrel.db") as db:
            return db.execute("SELECT actor, status FROM orders").fetchall()
    except sqlite3.OperationalError:  # the terminal is still creating its tables
        return []


def start(prof: Path, *args: str) -> subprocess.Popen:
    # a slower sim venue (200 ms each way) so cancels are still in flight when the signal arrives
    prof.mkdir(parents=True, exist_ok=True)
    (prof / "settings.json").write_text('{"sim": {"latency_ms": 200}}')
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args, "--profile", str(prof)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_closes_the_headless_terminal_and_its_strategy_cancels_are_answered(tmp_path, sig):
    prof = tmp_path / "p"
    proc = start(prof, "run", "--headless", "--strategy", "market_maker:symbol=BTC/USDT,size=0.01")
    try:
        wait_until(lambda: any(s == "ACCEPTED" for _a, s in orders(prof)), 30, "the market maker's first quote")
        proc.send_signal(getattr(signal, sig))
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    log = (prof / "logs" / "kestrel.log").read_text()
    assert f"{sig} received: closing" in log and "closed: profile" in log
    assert "no running event loop" not in log and "Traceback" not in out
    mm = [status for actor, status in orders(prof) if actor == "strategy:market_maker"]
    assert mm and not [s for s in mm if s in ("PENDING_CANCEL", "ACCEPTED", "SUBMITTED", "PARTIALLY_FILLED")], mm
    assert "CANCELED" in mm


def test_sigterm_closes_the_window_like_its_close_button(tmp_path):
    prof = tmp_path / "w"
    proc = start(prof)
    try:
        wait_until(lambda: (prof / "heartbeat.json").exists(), 30, "the window to start")
        wait_for_beats(prof, 1)  # its loop runs (the signal handlers are installed before it starts)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out  # was 143: killed by the default action
    log = (prof / "logs" / "kestrel.log").read_text()
    assert "SIGTERM received: closing" in log and "closed: profile" in log
    with sqlite3.connect(prof / "kestrel.db") as db:  # the layout was saved on the way out
        assert db.execute("SELECT 1 FROM settings WHERE key='ui.window_state'").fetchone()
