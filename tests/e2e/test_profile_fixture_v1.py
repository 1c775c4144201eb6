"""The profile fixture of store schema 1 (tests/data/profiles/v1, made by tests/kit/make_v1_profile.py with the
release before instrument ids) and its migration to schema 2 (issue 19): what it held is carried over, named by
id; the old profile is backed up first and can be put back; a newer profile is refused untouched; a kill -9
in the middle leaves a profile that the next start migrates."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit import profiles
from tests.kit.data import DATA
from tests.kit.make_v1_profile import EXPECTED, START
from tests.kit.profiles import schema_version as version

FIXTURE = DATA / "profiles" / "v1"
ROOT = Path(__file__).resolve().parents[2]


def copy_fixture(tmp_path: Path) -> Path:
    return profiles.copy_fixture(FIXTURE, tmp_path / "v1")


def settings_rows(db: Path) -> dict[str, object]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM settings")}
    finally:
        conn.close()


def open_kernel(profile: Path):
    return profiles.open_kernel(profile, START + 3_600_000)


def test_the_v1_profile_migrates_to_instrument_ids_keeping_what_it_held(tmp_path):
    from app.engine.audit.verify import verify
    from app.engine.core.profile_backup import check_backup
    from app.engine.data.bar_store import BarStore

    profile = copy_fixture(tmp_path)
    assert version(profile / "kestrel.db") == 1 and verify(profile / "kestrel.db").ok
    kernel = open_kernel(profile)
    try:
        positions = {s: p.quantity for s, p in kernel.portfolio.positions.items() if p.quantity}
        assert positions == {f"{s}@sim": q for s, q in EXPECTED["positions"].items()}  # the sim's, by id
        eth = [o for o in kernel.execution.orders.values() if o.symbol == "ETH/USDT@sim"]
        assert len(eth) == EXPECTED["working"]  # the working order of then (the restarted sim closed it)
        (runner,) = kernel.strategies.host.runners.values()
        assert runner.instance == EXPECTED["strategies"][0] and runner.symbol == "ETH/USDT@sim"
        assert kernel.store.get_setting("ui.charts")["main"] == {**EXPECTED["chart"], "symbol": "ETH/USDT@sim"}
        # a limit set on a bare symbol keeps its meaning: that symbol on every venue
        assert kernel.risk.limits.max_position == EXPECTED["limit"]
        assert kernel.risk.symbol_limits(kernel.instruments["BTC/USDT@sim"]).max_position == 0.5
        assert [(i.venue, i.symbol, i.timeframe_ms, i.bars) for i in BarStore(profile).series()] == EXPECTED["bars"]
    finally:
        kernel.close()
    assert version(profile / "kestrel.db") == 3
    report = verify(profile / "kestrel.db")
    assert report.ok, report  # the old records (bare symbols) and the new one chain unbroken
    conn = sqlite3.connect(profile / "kestrel.db")
    records = [json.loads(p) for (p,) in conn.execute("SELECT payload FROM audit WHERE kind='ProfileMigrated'")]
    conn.close()
    assert len(records) == 1 and records[0]["from"] == 1 and records[0]["to"] == 3
    assert records[0]["mapping"] == {"ETH/USDT": "ETH/USDT@sim"}
    assert records[0]["changed"] == ["strategies", "ui.charts", "orders (issue 20 columns)", "order_lists"]
    (backup,) = (profile / "backups").iterdir()
    assert Path(records[0]["backup"]) == backup and backup.name.startswith("pre-v3-")
    assert check_backup(backup) == []
    assert version(backup / "kestrel.db") == 1
    assert settings_rows(backup / "kestrel.db") == settings_rows(FIXTURE / "kestrel.db")

    kernel = open_kernel(profile)  # a second start: nothing more to migrate, back up or record
    kernel.close()
    assert len(list((profile / "backups").iterdir())) == 1
    conn = sqlite3.connect(profile / "kestrel.db")
    assert conn.execute("SELECT COUNT(*) FROM audit WHERE kind='ProfileMigrated'").fetchone()[0] == 1
    conn.close()


def test_restore_puts_the_v1_profile_back_as_it_was(tmp_path, capsys):
    from app.cli.main import main
    from app.engine.core.files import sha256_file

    profile = copy_fixture(tmp_path)
    open_kernel(profile).close()
    assert version(profile / "kestrel.db") == 3
    assert main(["profile", "backups", "--profile", str(profile)]) == 0
    listed = capsys.readouterr().out
    assert "pre-v3-" in listed and "whole" in listed
    (backup,) = (profile / "backups").iterdir()
    assert main(["profile", "restore", backup.name, "--profile", str(profile)]) == 0
    assert "database schema 1" in capsys.readouterr().out
    assert version(profile / "kestrel.db") == 1
    assert settings_rows(profile / "kestrel.db") == settings_rows(FIXTURE / "kestrel.db")
    for rel in ("settings.json", "venues/binance.json", "venues/binance.instruments.json"):
        assert sha256_file(profile / rel) == sha256_file(FIXTURE / rel), rel


def test_restore_refuses_a_damaged_backup_and_a_running_terminal(tmp_path, capsys):
    from app.cli.main import main
    from app.engine.core.store import ProfileLock

    profile = copy_fixture(tmp_path)
    open_kernel(profile).close()
    (backup,) = (profile / "backups").iterdir()
    lock = ProfileLock(profile)  # a terminal running on the profile
    try:
        assert main(["profile", "restore", str(backup), "--profile", str(profile)]) == 1
        assert "Another Kestrel terminal is running" in capsys.readouterr().out
    finally:
        lock.release()
    (backup / "settings.json").write_text("{}")
    assert main(["profile", "restore", str(backup), "--profile", str(profile)]) == 1
    out = capsys.readouterr().out
    assert "is not whole: settings.json is not the file that was backed up" in out and "Nothing was restored" in out
    assert version(profile / "kestrel.db") == 3


def test_a_profile_from_a_newer_release_is_refused_untouched(tmp_path):
    from app.engine.core.files import sha256_file
    from app.engine.core.store import StoreError

    profile = copy_fixture(tmp_path)
    conn = sqlite3.connect(profile / "kestrel.db")
    conn.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    before = sha256_file(profile / "kestrel.db")
    with pytest.raises(StoreError, match=r"written by a newer Kestrel \(schema 4"):
        open_kernel(profile)
    assert sha256_file(profile / "kestrel.db") == before and not (profile / "backups").exists()


def test_a_symbol_a_saved_venue_claimed_becomes_that_venues_instrument(tmp_path):
    """In schema 1 an enabled venue listing BTC/USDT took it from the sim: a strategy saved on "BTC/USDT" traded
    Binance's. It migrates to BTC/USDT@binance, not to the sim's."""
    from app.engine.core.profile_migration import claims, migrate_profile

    profile = copy_fixture(tmp_path)
    cfg = json.loads((profile / "venues" / "binance.json").read_text())
    (profile / "venues" / "binance.json").write_text(json.dumps({**cfg, "enabled": True}))
    assert claims(profile) == {"BTC/USDT": "binance"}
    conn = sqlite3.connect(profile / "kestrel.db")
    (row,) = conn.execute("SELECT value FROM settings WHERE key='strategies'").fetchone()
    saved = json.loads(row)
    saved[0]["params"]["symbol"] = "BTC/USDT"
    conn.execute("UPDATE settings SET value=? WHERE key='strategies'", (json.dumps(saved),))
    conn.commit()
    conn.close()
    done = migrate_profile(profile)
    assert done.mapping == {"BTC/USDT": "BTC/USDT@binance", "ETH/USDT": "ETH/USDT@sim"}
    rows = settings_rows(profile / "kestrel.db")
    assert rows["strategies"][0]["params"]["symbol"] == "BTC/USDT@binance"
    assert rows["ui.charts"]["main"]["symbol"] == "ETH/USDT@sim"
    assert migrate_profile(profile) is None  # done once


KILL_MID_MIGRATION = r'''
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from app.engine.core import profile_migration as m
real = m._charts
def die(value, to_id):
    real(value, to_id)
    os.kill(os.getpid(), signal.SIGKILL)  # inside the transaction: strategies rewritten, charts not yet
m._charts = die
m.migrate_profile(Path(sys.argv[1]))
'''


@pytest.mark.skipif(os.name == "nt", reason="kill -9")
def test_kill_9_in_the_middle_of_the_migration_leaves_schema_1_and_the_next_start_migrates(tmp_path):
    profile = copy_fixture(tmp_path)
    proc = subprocess.run([sys.executable, "-c", KILL_MID_MIGRATION, str(profile), str(ROOT)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert version(profile / "kestrel.db") == 1  # the transaction never committed
    assert settings_rows(profile / "kestrel.db") == settings_rows(FIXTURE / "kestrel.db")
    kernel = open_kernel(profile)  # the next start: a fresh backup, then the migration
    try:
        assert kernel.strategies.host.runners["sma_cross-1"].symbol == "ETH/USDT@sim"
    finally:
        kernel.close()
    assert version(profile / "kestrel.db") == 3 and len(list((profile / "backups").iterdir())) == 2
