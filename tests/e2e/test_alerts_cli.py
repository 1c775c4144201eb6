"""`kestrel alerts ...` beside a terminal running on the same profile (issue 21, item 5): a rule added from the
command line is armed by the running terminal within a second (the command prints what the terminal said), fires
there when the market crosses it, and every step is on one verifiable audit trail."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

from tests.e2e.test_risk_cli import ROOT, cli
from tests.kit.terminal import wait_for_beats
from tests.kit.wait import wait_until


def audit_rows(prof, kind: str) -> list[tuple[int, str, dict]]:
    with sqlite3.connect(prof / "kestrel.db") as db:
        return [(ts, actor, json.loads(p)) for ts, actor, p in
                db.execute("SELECT ts_utc_ms, actor, payload FROM audit WHERE kind=? ORDER BY seq", (kind,))]


def test_a_rule_added_beside_a_running_terminal_is_armed_within_a_second_and_fires_there(tmp_path):
    prof = tmp_path / "p"
    running = subprocess.Popen([sys.executable, "main.py", "run", "--headless", "--duration", "40", "--profile",
                                str(prof)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "trading state ACTIVE" in running.stdout.readline()
        wait_for_beats(prof, 2)
        # far above the market: the terminal says the price is already below, with the last trade
        r = cli("alerts", "add", "--symbol", "BTC/USDT", "--below", "10000000", "--profile", str(prof))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("alert 1 set: BTC/USDT@sim crosses below 10,000,000"), r.stdout
        assert "The running terminal armed it. BTC/USDT@sim is already below 10,000,000" in r.stdout, r.stdout
        (set_ts, actor, _), = audit_rows(prof, "SetAlert")
        armed = [(ts, p) for ts, _a, p in audit_rows(prof, "AlertRuleChanged") if p["rule_id"] == "1"]
        assert actor == "cli" and armed and armed[0][0] - set_ts < 1000, (set_ts, armed)  # within a second
        last = float(re.search(r"last ([\d,.]+)", r.stdout).group(1).replace(",", ""))
        # a level just above and one just below the last trade: the market crosses one of them within seconds
        for flag, level in (("--above", last + 0.5), ("--below", last - 0.5)):
            r = cli("alerts", "add", "--symbol", "BTC/USDT", flag, f"{level:.1f}", "--note", "near", "--profile",
                    str(prof))
            assert r.returncode == 0 and "The running terminal armed it." in r.stdout, r.stdout + r.stderr
        fired = wait_until(lambda: [p for _t, _a, p in audit_rows(prof, "AlertFired")], 20, "an alert to fire")
        assert fired[0]["rule_id"] in ("2", "3") and "Note: near" in fired[0]["message"]
    finally:
        running.kill()
        running.wait(10)
    listed = cli("alerts", "list", "--profile", str(prof))
    assert re.search(r"^\s+[23]\s+fired\s+BTC/USDT@sim crosses", listed.stdout, re.M), listed.stdout
    assert "last fired" in listed.stdout
    r = cli("alerts", "remove", "1", "--profile", str(prof))
    assert r.returncode == 0 and "alert 1 removed" in r.stdout
    verify = cli("audit", "verify", "--profile", str(prof))
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr


def test_bad_input_is_refused_with_the_reason(tmp_path):
    prof = tmp_path / "p"
    r = cli("alerts", "add", "--symbol", "NOPE", "--above", "5", "--profile", str(prof))
    assert r.returncode == 2 and "unknown symbol 'NOPE'" in r.stderr
    r = cli("alerts", "add", "--symbol", "BTC/USDT", "--below", "-1", "--profile", str(prof))
    assert r.returncode == 2 and "must be positive" in r.stderr
    r = cli("alerts", "add", "--symbol", "BTC/USDT", "--when", "rsi(14) > 70", "--profile", str(prof))
    assert r.returncode == 2 and "--when needs --timeframe" in r.stderr
    r = cli("alerts", "add", "--symbol", "BTC/USDT", "--when", "rsx(14) > 70", "--timeframe", "5m", "--profile",
            str(prof))
    assert r.returncode == 2 and "unknown indicator 'rsx' at 0" in r.stderr and "rsi" in r.stderr, r.stderr
    r = cli("alerts", "add", "--symbol", "BTC/USDT", "--when", "close > rsi(14)", "--timeframe", "5m", "--profile",
            str(prof))
    assert r.returncode == 2 and "at 6" in r.stderr, r.stderr  # the comparison of a price with an oscillator
    r = cli("alerts", "add", "--symbol", "BTC/USDT", "--when", "RSI(14)>70", "--timeframe", "5m", "--expires",
            "2h", "--profile", str(prof))
    assert r.returncode == 0 and "BTC/USDT@sim 5m: rsi(14) > 70" in r.stdout, r.stdout + r.stderr
    assert "until" in cli("alerts", "list", "--profile", str(prof)).stdout
    r = cli("alerts", "add", "--symbol", "BTC/USDT", "--above", "1", "--expires", "2001-01-01", "--profile",
            str(prof))
    assert r.returncode == 2 and "already past" in r.stderr
    r = cli("alerts", "remove", "42", "--profile", str(prof))
    assert r.returncode == 1 and "no alert 42" in r.stderr
    r = cli("alerts", "remove", "abc", "--profile", str(prof))
    assert r.returncode == 2 and "is a number" in r.stderr


def test_alerts_test_sends_one_notification_or_says_why_not(tmp_path):
    from tests.kit.webhook import WebhookReceiver, closed_port

    prof = tmp_path / "p"
    with WebhookReceiver() as hook:
        r = cli("alerts", "test", hook.url("desk"), "--profile", str(prof))
        assert r.returncode == 0, r.stdout + r.stderr
        (got,) = hook.requests
        assert "Kestrel test notification" in str(got.body)
    r = cli("alerts", "test", f"json://127.0.0.1:{closed_port()}/x", "--profile", str(prof))
    assert r.returncode == 1 and r.stderr.strip(), r.stdout + r.stderr
    r = cli("alerts", "test", "nonsense://what", "--profile", str(prof))
    assert r.returncode == 1 and r.stderr.strip()


def test_an_alert_queued_when_the_terminal_is_killed_is_sent_after_the_restart(tmp_path):
    """kill -9 while the alert's channel hangs: the next start sends it again (saying so) rather than lose it."""
    import os
    import signal

    from tests.kit.webhook import WebhookReceiver

    prof = tmp_path / "p"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "KESTREL_CREDENTIALS_PASSPHRASE": "channels-passphrase"}  # no OS keyring: the encrypted file

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "main.py", *args, "--profile", str(prof)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env=env)

    def terminal() -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "main.py", "run", "--headless", "--duration", "60", "--profile",
                              str(prof)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env)
        assert "trading state ACTIVE" in p.stdout.readline()
        return p

    with WebhookReceiver(mode="hang", hang_s=60) as hook:
        first = terminal()
        try:
            wait_for_beats(prof, 2)
            r = run("alerts", "add", "--symbol", "BTC/USDT", "--below", "10000000")
            last = float(re.search(r"last ([\d,.]+)", r.stdout).group(1).replace(",", ""))
            for flag, level in (("--above", last + 0.5), ("--below", last - 0.5)):
                r = run("alerts", "add", "--symbol", "BTC/USDT", flag, f"{level:.1f}", "--notify", hook.url("desk"))
                assert r.returncode == 0, r.stdout + r.stderr
            wait_until(lambda: hook.requests, 20, "the alert's first try, which hangs")
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        hook.mode = "ok"
        second = terminal()
        try:
            again = wait_until(lambda: [q for q in hook.requests if "again after a restart" in str(q.body)], 20,
                               "the alert sent again after the restart")
            assert len(again) == 1 and again[0].answered == "ok"
        finally:
            second.kill()
            second.wait(10)
    listed = run("alerts", "list")
    assert "fired" in listed.stdout
