"""`kestrel keys` and `kestrel run --headless --venue ... --record`, then `--replay`, as a user runs them
(real processes) against the fake Binance; then the profile and the logs are scanned for the planted secret."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.venues import KEY, SECRET, FakeInThread

ROOT = Path(__file__).resolve().parents[2]
PASS = "correct horse battery staple"


def kestrel(args, profile, stdin: str = "", timeout: float = 90, **env):
    e = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "main.py", *args, "--profile", str(profile)], cwd=ROOT, env=e,
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def test_keys_set_list_delete_with_the_encrypted_fallback(tmp_path):
    prof = tmp_path / "p"
    r = kestrel(["keys", "set", "binance"], prof, stdin=f"{KEY}\n{SECRET}\n",
                KESTREL_CREDENTIALS_PASSPHRASE=PASS)
    assert r.returncode == 0, r.stderr
    assert "No OS keyring backend is available" in r.stderr  # this box has none: said clearly
    assert "encrypted file" in r.stdout and SECRET not in r.stdout + r.stderr and KEY not in r.stdout
    assert (prof / "credentials.enc").stat().st_mode & 0o077 == 0
    r = kestrel(["keys", "list"], prof, KESTREL_CREDENTIALS_PASSPHRASE=PASS)
    assert r.returncode == 0 and "binance" in r.stdout and KEY[-4:] in r.stdout and KEY not in r.stdout
    r = kestrel(["keys", "list"], prof, KESTREL_CREDENTIALS_PASSPHRASE="wrong passphrase")
    assert r.returncode == 2 and "Wrong passphrase" in r.stderr
    r = kestrel(["keys", "set", "binance"], prof, stdin="", KESTREL_CREDENTIALS_PASSPHRASE=PASS)
    assert r.returncode == 2 and "both the API key and the secret" in r.stderr
    r = kestrel(["keys", "delete", "binance"], prof, KESTREL_CREDENTIALS_PASSPHRASE=PASS)
    assert r.returncode == 0 and "deleted" in r.stdout
    r = kestrel(["keys", "list"], prof, KESTREL_CREDENTIALS_PASSPHRASE=PASS)
    assert "no credentials stored" in r.stdout


def test_keys_never_taken_from_argv():
    from app.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["keys", "set", "binance", SECRET])


def test_headless_venue_with_keys_records_and_no_secret_leaks_anywhere(tmp_path):
    prof = tmp_path / "p"
    srv = FakeInThread()
    try:
        cfg = srv.fake.venue_config(order_poll_s=0.1, reconnect_base_s=0.05)
        cfg_file = tmp_path / "binance.json"
        cfg_file.write_text(json.dumps(cfg))
        env = {"KESTREL_CREDENTIALS_PASSPHRASE": PASS}
        assert kestrel(["keys", "set", "binance"], prof, stdin=f"{KEY}\n{SECRET}\n", **env).returncode == 0
        # error paths run with the secret loaded: a refused key on one call, a 5xx on another
        srv.call(srv.fake.fail_next, "GET /api/v3/openOrders", 401, -2015,
                 "Invalid API-key, IP, or permissions for action.", 1)
        r = kestrel(["run", "--headless", "--venue", "binance", "--venue-config", str(cfg_file), "--symbols",
                     "BTC/USDT", "--record", "--duration", "1.5"], prof, **env)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "venue binance" in out and "the API key was refused" in out
        srv.call(srv.fake.reset_faults)
        r = kestrel(["run", "--headless", "--venue", "binance", "--venue-config", str(cfg_file), "--symbols",
                     "BTC/USDT", "--record", "--duration", "2.5"], prof, **env)
        out += r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "venue binance: CONNECTED" in r.stdout
        assert "recorded" in r.stdout
        db = sqlite3.connect(prof / "kestrel.db")
        n_trades = db.execute("SELECT COUNT(*) FROM md_trades WHERE symbol='BTC/USDT'").fetchone()[0]
        n_books = db.execute("SELECT COUNT(*) FROM md_books WHERE symbol='BTC/USDT'").fetchone()[0]
        insts = db.execute("SELECT COUNT(*) FROM md_instruments").fetchone()[0]
        db.close()
        assert n_trades > 20 and n_books > 20 and insts >= 1
    finally:
        srv.stop()

    # the planted secret (and the full API key) appear nowhere: profile files, logs, settings, output
    assert SECRET not in out and KEY not in out
    for folder in (prof,):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert SECRET.encode() not in data, f"the secret leaked into {path}"
                assert KEY.encode() not in data, f"the API key leaked into {path}"
    assert (prof / "logs" / "kestrel.log").exists() and (prof / "credentials.enc").exists()


def test_headless_record_then_replay_at_max_speed(tmp_path):
    """Record the sim's feed headless, then replay it through the sim venue's matching engine."""
    r = kestrel(["run", "--headless", "--record", "--duration", "1.5"], tmp_path / "rec")
    assert r.returncode == 0 and "recorded" in r.stdout, r.stdout + r.stderr
    r = kestrel(["run", "--headless", "--replay", str(tmp_path / "rec"), "--speed", "max"], tmp_path / "replay")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "replaying session 1" in r.stdout and "replay finished" in r.stdout
    assert "BTC/USDT" in r.stdout.split("stopped:")[1]
    r = kestrel(["run", "--headless", "--replay", str(tmp_path / "nothing-here")], tmp_path / "replay2")
    assert r.returncode == 2 and "No database" in r.stderr
