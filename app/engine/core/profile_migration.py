"""Profile schema migrations, oldest first, in one transaction after one backup:

- 1 -> 2: instruments named by venue-qualified ids (issue 19), below;
- 2 -> 3: order types, triggers and order lists (issue 20, docs/design/issue20-orders.md 2.2): the orders table
  gains its columns (``store.ORDER_COLUMNS_V3``, ``ALTER TABLE ... ADD COLUMN`` with defaults: every old row
  reads as the plain GTC order it was, no row rewritten) and the ``order_lists`` table. An older release must
  not open a schema-3 profile: it would not see an armed stop's protection (it refuses: newer schema).

Schema 1 -> 2:

A schema-1 profile names instruments by bare symbol ("BTC/USDT"); schema 2 by id ("BTC/USDT@binance"). What a
bare symbol meant in schema 1 is kept: the venue that claimed it (a saved, enabled venue listing it took it
over from the sim then; of several, the first feed in ``venues/feeds.json``), otherwise the sim.

What is rewritten (in kestrel.db's ``settings`` rows, one transaction with ``meta.schema_version = 2``):

- ``strategies``: each saved instance's ``symbol`` parameter;
- ``ui.charts``: the main chart's and each extra chart's symbol.

What is not: the journal (``orders``, ``fills``) already has the venue beside the symbol, and ids are made on
reading; the audit trail is never rewritten (its hash chain and triggers forbid it) — one ``ProfileMigrated``
record is appended instead (``Kernel``); per-instrument risk limits and strategy permissions keyed by a bare
symbol keep meaning "this symbol on every venue" (a limit never loosens); ``feeds.json``'s bare keys keep
meaning "on the first feed"; the bar store was always by (venue, symbol).

Order: refuse a newer profile; **back up first** (``profile_backup``: kestrel.db, settings.json, venues/, with a
manifest of sha256s), then the one transaction. A crash before the commit leaves schema 1 and a backup: the
next start backs up again and migrates. ``kestrel profile restore <backup>`` puts the backup back (the release
before this one then opens it; it refuses a schema-2 database rather than misread it).
"""
from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.core.files import fsync_dir, fsync_file, sha256_file
from app.engine.core.instruments import make_id, split_id
from app.engine.core.profile_backup import MANIFEST, backup_profile

log = logging.getLogger("kestrel.profile")

CURRENT = 3  # the store's SCHEMA_VERSION
PENDING = "migration_audit_pending"  # meta key: the ProfileMigrated record still to append


class MigrationError(RuntimeError):
    pass


@dataclass
class Migrated:
    """What a migration did: for the audit record and the log."""

    from_version: int
    to_version: int
    backup: str
    manifest_sha256: str
    mapping: dict[str, str] = field(default_factory=dict)  # bare symbol -> the id it became
    changed: list[str] = field(default_factory=list)  # the settings rows rewritten

    def payload(self) -> dict[str, Any]:
        return {"from": self.from_version, "to": self.to_version, "backup": self.backup,
                "manifest_sha256": self.manifest_sha256, "mapping": self.mapping, "changed": self.changed}


def schema_version(db: Path) -> int | None:
    """The profile database's schema version; None for a new (or empty) profile, and for a file that is not a
    readable database (the Store says what is wrong with it, and touches nothing)."""
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
            return None
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()


def claims(profile: Path) -> dict[str, str]:
    """Bare symbol -> the venue it meant in schema 1: a saved, enabled venue that lists it (several: the first
    feed of feeds.json that is one of them, else the first by name). Unreadable files claim nothing."""
    venues = Path(profile) / "venues"
    listed: dict[str, list[str]] = {}
    for path in sorted(venues.glob("*.json")) if venues.is_dir() else []:
        if path.name == "feeds.json" or path.name.endswith(".instruments.json"):
            continue
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(raw, dict) or raw.get("enabled", True) is False:
            continue
        name = str(raw.get("name") or path.stem)
        for sym in raw.get("symbols") or []:
            if isinstance(sym, str):
                listed.setdefault(sym.upper() if raw.get("kind") == "akshare" else sym, []).append(name)
    try:
        feeds = json.loads((venues / "feeds.json").read_text()).get("symbols", {})
    except (OSError, ValueError, AttributeError):
        feeds = {}
    out = {}
    for sym, names in listed.items():
        first = [f for f in feeds.get(sym, []) if f in names] if isinstance(feeds, dict) else []
        out[sym] = first[0] if first else names[0]
    return out


def migrate_profile(profile: Path) -> Migrated | None:
    """Bring ``profile`` to schema ``CURRENT`` (see the module docstring). None when there was nothing to do (a
    new profile, or one already there). Raises MigrationError for a newer profile or a failed backup or write,
    with nothing changed."""
    profile = Path(profile)
    db = profile / "kestrel.db"
    version = schema_version(db)
    if version is None or version == CURRENT:
        return None
    if version > CURRENT:
        raise MigrationError(f"The profile {profile} was written by a newer Kestrel (schema {version}, this one "
                             f"reads up to {CURRENT}). Kestrel left it untouched. Upgrade Kestrel, or use another "
                             f"--profile.")
    if version not in (1, 2):
        raise MigrationError(f"The profile {profile} has an unknown schema version {version}; Kestrel left it "
                             f"untouched.")
    claimed = claims(profile) if version < 2 else {}
    try:
        backup = backup_profile(profile, f"pre-v{CURRENT}")
    except Exception as exc:  # BackupError: already says what to do
        raise MigrationError(str(exc)) from exc
    done = Migrated(version, CURRENT, str(backup), sha256_file(backup / MANIFEST))

    def to_id(symbol: Any) -> Any:
        if not isinstance(symbol, str) or not symbol or split_id(symbol)[1] is not None:
            return symbol
        new = make_id(symbol, claimed.get(symbol, "sim"))
        done.mapping[symbol] = new
        return new

    conn = sqlite3.connect(db, timeout=10, isolation_level=None)  # our BEGIN: the ALTERs are in it too (the
    try:  # sqlite3 module's implicit transactions leave DDL outside)
        with _transaction(conn):
            if version < 2:
                _to_v2(conn, to_id, done)
            if version < 3:
                _to_v3(conn, done)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(CURRENT),))
            # the audit record to append once the trail is open (``record_migration``): in this transaction,
            # so a crash after the commit cannot lose it
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                         (PENDING, json.dumps(done.payload())))
    except sqlite3.Error as exc:
        raise MigrationError(f"The profile {profile} could not be migrated to schema {CURRENT} ({exc}); nothing "
                             f"was changed (a backup is in {backup}).") from exc
    finally:
        conn.close()
    log.warning("profile %s migrated from schema %d to %d; backup in %s; %s", profile, version, CURRENT, backup,
                ", ".join(f"{k} -> {v}" for k, v in sorted(done.mapping.items())) or "no symbols to rename")
    return done


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (a kill -9 inside: SQLite rolls back)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: Any, *_rest: Any) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


def _to_v2(conn: sqlite3.Connection, to_id: Any, done: Migrated) -> None:
    """Instrument ids in the settings rows that name instruments (see the module docstring)."""
    rows = dict(conn.execute("SELECT key, value FROM settings WHERE key IN ('strategies', 'ui.charts')"))
    for key, rewrite in (("strategies", _strategies), ("ui.charts", _charts)):
        if key not in rows:
            continue
        try:
            value = json.loads(rows[key])
        except ValueError:
            log.warning("profile migration: settings row %s is not JSON; left as it is", key)
            continue
        new = rewrite(value, to_id)
        if new != value:
            conn.execute("UPDATE settings SET value = ? WHERE key = ?", (json.dumps(new), key))
            done.changed.append(key)


def _to_v3(conn: sqlite3.Connection, done: Migrated) -> None:
    """The orders table's issue-20 columns (with their defaults) and the order lists."""
    from app.engine.core.store import ORDER_COLUMNS_V3, ORDER_LISTS_SQL

    have = {row[1] for row in conn.execute("PRAGMA table_info(orders)")}
    for name, sql_type, default in ORDER_COLUMNS_V3:
        if name in have:
            continue
        default_sql = "" if default is None else f" DEFAULT {default!r}" if isinstance(default, str) \
            else f" DEFAULT {default}"
        conn.execute(f"ALTER TABLE orders ADD COLUMN {name} {sql_type}{default_sql}")
    conn.execute(ORDER_LISTS_SQL)
    conn.execute("CREATE INDEX IF NOT EXISTS idx_orders_list_id ON orders(list_id)")
    done.changed.append("orders (issue 20 columns)")
    done.changed.append("order_lists")


def record_migration(conn: sqlite3.Connection, audit: Any) -> dict | None:
    """Append the ``ProfileMigrated`` audit record a migration left pending, and clear it, in one transaction
    (the audit trail is never rewritten: old records keep their bare symbols; this one says what they mean)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PENDING,)).fetchone()
    if row is None:
        return None
    payload = json.loads(row[0])
    conn.execute("BEGIN")
    try:
        audit.append("ProfileMigrated", "system", payload)
        conn.execute("DELETE FROM meta WHERE key = ?", (PENDING,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return payload


def _strategies(value: Any, to_id) -> Any:
    if not isinstance(value, list):
        return value
    out = []
    for inst in value:
        if isinstance(inst, dict) and isinstance(inst.get("params"), dict) and "symbol" in inst["params"]:
            inst = {**inst, "params": {**inst["params"], "symbol": to_id(inst["params"]["symbol"])}}
        out.append(inst)
    return out


def _charts(value: Any, to_id) -> Any:
    if not isinstance(value, dict):
        return value

    def chart(c: Any) -> Any:
        return {**c, "symbol": to_id(c["symbol"])} if isinstance(c, dict) and "symbol" in c else c
    out = dict(value)
    if "main" in out:
        out["main"] = chart(out["main"])
    if isinstance(out.get("docks"), list):
        out["docks"] = [chart(d) for d in out["docks"]]
    return out


def restore_backup(profile: Path, backup: Path) -> list[str]:
    """Put a backup's files back into ``profile`` (the caller holds the profile's lock). Returns the files
    restored. Raises MigrationError if the backup is not whole (nothing is touched then)."""
    from app.engine.core.profile_backup import check_backup

    profile, backup = Path(profile), Path(backup)
    problems = check_backup(backup)
    if problems:
        raise MigrationError(f"The backup {backup} is not whole: {'; '.join(problems)}. Nothing was restored.")
    files = list(json.loads((backup / MANIFEST).read_text())["files"])

    for rel in files:
        dest = profile / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".restoring")
        shutil.copyfile(backup / rel, tmp)
        fsync_file(tmp)
        if rel == "kestrel.db":
            for suffix in ("-wal", "-shm"):  # the newer database's log must not replay onto the old one
                dest.with_name(dest.name + suffix).unlink(missing_ok=True)
        tmp.replace(dest)
    fsync_dir(profile)
    return files
