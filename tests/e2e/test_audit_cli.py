"""``kestrel audit verify|checkpoint`` as a user runs them: a real profile folder, exit codes and messages.

Most cases call the entry points in-process (fast); one runs a real process with Qt blocked, against a
database a live writer still holds open, and checks the file is not modified.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import pytest

from app.cli.audit import (
    KEY_ENV,
    KEYRING_NAME,
    KEYRING_SERVICE,
    add_audit_commands,
    main_checkpoint,
    main_verify,
    run_audit_command,
)
from app.engine.audit.log import AuditLog
from app.engine.core.clock import SimClock
from app.engine.core.messages import OrderDenied, OrderType, Side, SubmitOrder
from app.engine.core.store import Store

ROOT = Path(__file__).resolve().parents[2]


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        self.secrets.pop((service, username), None)


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def backend():
    """Swap the keyring backend for the test; restore the real one after."""
    before = keyring.get_keyring()

    def use(b):
        keyring.set_keyring(b)
        return b

    yield use
    keyring.set_keyring(before)


def make_profile(folder: Path, orders: int = 40) -> Path:
    store = Store(folder / "kestrel.db")
    audit = AuditLog(store.conn, SimClock(1_750_000_000_000))
    for i in range(orders):
        sub = SubmitOrder(f"C{i}", "ETH/USDT", "sim", Side.BUY, OrderType.LIMIT, 1.0, 3000.0 + i)
        audit.append_event(sub)
        if i % 4 == 0:
            audit.append_event(OrderDenied(sub.client_order_id, sub.symbol, "PRICE_COLLAR",
                                           "outside ±5% of mid", "5%", "7.1%"))
    store.close()
    return folder


def tamper(profile: Path, sql: str, *params) -> None:
    conn = sqlite3.connect(profile / "kestrel.db", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute(sql, params)
    conn.close()


@pytest.fixture
def prof(tmp_path) -> Path:
    return make_profile(tmp_path / "profile")


def test_intact_trail_exits_0(prof, capsys):
    assert main_verify(prof, None, None) == 0
    out = capsys.readouterr().out
    assert "audit trail intact: 51 records, last seq 51, hash " in out and "…" in out


def test_a_changed_byte_exits_1_naming_the_record(prof, capsys):
    tamper(prof, """UPDATE audit SET payload=replace(payload, '"quantity":1.0', '"quantity":9.0')
                    WHERE seq=?""", 10)
    assert main_verify(prof, None, None) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and "first bad record: seq 10" in out and "contents" in out


def test_a_deleted_record_exits_1(prof, capsys):
    tamper(prof, "DELETE FROM audit WHERE seq=?", 20)
    assert main_verify(prof, None, None) == 1
    assert "first bad record: seq 20: record 20 is missing" in capsys.readouterr().out


def test_a_torn_last_write_exits_3_and_says_it_is_not_tampering(prof, capsys):
    tamper(prof, "UPDATE audit SET payload=substr(payload, 1, 9) WHERE seq=51")
    assert main_verify(prof, None, None) == 3
    out = capsys.readouterr().out
    assert "TORN WRITE at seq 51, not tampering" in out and "50 earlier records intact" in out


def test_cannot_open_exits_2(tmp_path, capsys):
    assert main_verify(tmp_path / "nowhere", None, None) == 2
    assert "no database at" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "kestrel.db").write_bytes(b"garbage, not sqlite" * 100)
    assert main_verify(tmp_path / "bad", None, None) == 2
    assert "not a SQLite database" in capsys.readouterr().err


def test_checkpoint_outside_the_profile_then_a_rebuilt_chain_is_caught(prof, tmp_path, capsys):
    keyfile, out = tmp_path / "keys" / "audit.key", tmp_path / "offsite" / "cp.json"
    keyfile.parent.mkdir()
    out.parent.mkdir()
    assert main_checkpoint(prof, out, keyfile) == 0
    text = capsys.readouterr().out
    assert "new key generated" in text and f"checkpoint written: {out} (seq 51" in text
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600 and len(bytes.fromhex(keyfile.read_text())) == 32
    assert json.loads(out.read_text())["seq"] == 51
    assert main_verify(prof, out, keyfile) == 0
    assert "matches the signed checkpoint at seq 51" in capsys.readouterr().out

    # Rebuild: change record 30 and recompute every later hash with the published algorithm.
    from app.engine.audit.log import GENESIS, chain_hash
    tamper(prof, "UPDATE audit SET actor='strategy:ghost' WHERE seq=30")
    conn = sqlite3.connect(prof / "kestrel.db", isolation_level=None)
    prev = conn.execute("SELECT hash FROM audit WHERE seq=29").fetchone()[0] or GENESIS
    later = conn.execute("SELECT seq, ts_utc_ms, mono_ns, kind, actor, payload FROM audit WHERE seq>=30 "
                         "ORDER BY seq").fetchall()
    for seq, ts, mono, kind, actor, payload in later:
        h = chain_hash(prev.encode(), seq, ts, mono, kind.encode(), actor.encode(), payload.encode())
        conn.execute("UPDATE audit SET prev_hash=?, hash=? WHERE seq=?", (prev, h, seq))
        prev = h
    conn.close()
    assert main_verify(prof, None, None) == 0  # the chain alone cannot see it
    capsys.readouterr()
    assert main_verify(prof, out, keyfile) == 1
    assert "first bad record: seq 51" in (o := capsys.readouterr().out) and "rebuilt chain" in o


def test_a_forged_checkpoint_exits_1(prof, tmp_path, capsys):
    keyfile, out = tmp_path / "k.hex", tmp_path / "cp.json"
    assert main_checkpoint(prof, out, keyfile) == 0
    tamper(prof, "DELETE FROM audit WHERE seq>40")  # cut the tail, then forge a checkpoint to match
    doc = json.loads(out.read_text())
    doc["seq"], doc["hash"] = 40, "0" * 64
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main_verify(prof, out, keyfile) == 1
    out = capsys.readouterr().out
    assert "NOT VERIFIED" in out and "forged or altered" in out


def test_key_from_the_os_keyring_generated_on_first_export(prof, tmp_path, capsys, backend):
    mem = backend(MemoryKeyring())
    assert main_checkpoint(prof, tmp_path, None) == 0  # a folder: a named file goes in it
    assert len(bytes.fromhex(mem.secrets[(KEYRING_SERVICE, KEYRING_NAME)])) == 32
    written = list(tmp_path.glob("audit-*-000000000051.json"))
    assert len(written) == 1 and "OS keyring" in capsys.readouterr().out
    assert main_verify(prof, written[0], None) == 0


def test_no_keyring_backend_says_so_and_falls_back_to_file_or_env(prof, tmp_path, capsys, backend,
                                                                   monkeypatch):
    backend(keyring.backends.fail.Keyring())
    assert main_checkpoint(prof, tmp_path / "cp.json", None) == 2
    err = capsys.readouterr().err
    assert "no OS keyring is available" in err and "--key-file" in err and KEY_ENV in err
    assert main_verify(prof, tmp_path / "cp.json", None) == 2
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    assert main_checkpoint(prof, tmp_path / "cp.json", None) == 0
    assert main_verify(prof, tmp_path / "cp.json", None) == 0
    monkeypatch.setenv(KEY_ENV, "cd" * 32)
    capsys.readouterr()
    assert main_verify(prof, tmp_path / "cp.json", None) == 1  # another key: cannot vouch for it
    assert "use the key it was exported with" in capsys.readouterr().out


def test_checkpoint_and_key_inside_the_profile_are_refused(prof, tmp_path, capsys):
    assert main_checkpoint(prof, prof / "cp.json", tmp_path / "k.hex") == 2
    assert main_checkpoint(prof, tmp_path / "cp.json", prof / "k.hex") == 2
    assert "inside the profile" in capsys.readouterr().err and not (prof / "cp.json").exists()


def test_checkpoint_refuses_a_trail_that_does_not_verify(prof, tmp_path, capsys):
    tamper(prof, "UPDATE audit SET kind='OrderFilled' WHERE seq=5")
    assert main_checkpoint(prof, tmp_path / "cp.json", tmp_path / "k.hex") == 1
    assert "not signing" in capsys.readouterr().out and not (tmp_path / "cp.json").exists()


def test_parser_wiring(prof, tmp_path, capsys):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", type=Path, default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="kestrel", parents=[common])
    add_audit_commands(parser.add_subparsers(dest="command"), common)
    key = tmp_path / "k.hex"
    cp = str(tmp_path / "c.json")
    args = parser.parse_args(["audit", "checkpoint", "--out", cp, "--key-file", str(key),
                              "--profile", str(prof)])
    assert args.command == "audit" and run_audit_command(args, args.profile) == 0
    args = parser.parse_args(["audit", "verify", "--profile", str(prof), "--checkpoint", cp, "--key-file",
                              str(key)])
    assert run_audit_command(args, args.profile) == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["audit", "checkpoint"])  # --out is required


def test_a_real_process_verifies_read_only_while_a_writer_holds_the_database(prof):
    writer = Store(prof / "kestrel.db")  # a running terminal
    AuditLog(writer.conn, SimClock()).append("Command", "manual", {"command": "buy"})
    files = ("kestrel.db", "kestrel.db-wal")
    before = [hashlib.sha256((prof / f).read_bytes()).hexdigest() for f in files]
    code = ("import sys\n"
            "class BlockQt:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'qasync'):\n"
            "            raise ImportError(name)\n"
            "sys.meta_path.insert(0, BlockQt())\n"
            "from pathlib import Path\n"
            "from app.cli.audit import main_verify\n"
            f"sys.exit(main_verify(Path({str(prof)!r}), None, None))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    after = [hashlib.sha256((prof / f).read_bytes()).hexdigest() for f in files]
    writer.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "audit trail intact: 52 records, last seq 52" in r.stdout
    assert after == before  # neither the database nor its WAL was written
