"""The profile database: one SQLite file (WAL) holding orders, fills, risk state and settings.

Opening is careful because this file holds a trader's orders and fills: a file that is not SQLite, fails
``quick_check``, was written by a newer Kestrel, or is locked by another process raises a ``StoreError``
with what happened and what to do, *before* anything is written to it.

The order journal and fills are written by group commit (``stage_order``/``stage_order_update`` then
``commit``; see execution.py for when it commits and docs/ARCHITECTURE.md for what a crash can lose), with
prepared ``sqlite3`` statements; schema creation and ad-hoc access go through sqlite-utils. Durability:
WAL with synchronous=NORMAL (a commit survives a crash or ``kill -9`` of the process; a power cut can lose
the last commits); the kill latch alone is written with synchronous=FULL.
"""
from __future__ import annotations

import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


def _import_sqlite_utils():
    """sqlite-utils imports pandas at import time only to map ``pd.Timestamp`` columns, which Kestrel never
    stores; pandas costs ~0.4 s of the 2 s start-up budget. Import sqlite-utils with pandas hidden; pandas
    still imports normally afterwards for whoever needs it."""
    if "pandas" in sys.modules:
        import sqlite_utils
        return sqlite_utils
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` raise ImportError
    try:
        import sqlite_utils
    finally:
        del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

SCHEMA_VERSION = 3  # 2: instruments by venue-qualified id; 3: order types, triggers, lists (profile_migration.py)
_SQLITE_MAGIC = b"SQLite format 3\x00"


# schema 3 (issue 20): the orders table's new columns, (name, SQL type, default); a schema-2 row reads as a
# plain GTC order with no trigger and no list
ORDER_COLUMNS_V3 = (("trigger_price", "REAL", None), ("tif", "TEXT", "GTC"), ("post_only", "INTEGER", 0),
                    ("reduce_only", "INTEGER", 0), ("trigger_source", "TEXT", "LAST"), ("trail_amount", "REAL", None),
                    ("trail_pct", "REAL", None), ("limit_offset", "REAL", None), ("trail_ref", "REAL", None),
                    ("emulated", "INTEGER", 0), ("list_id", "TEXT", None), ("role", "TEXT", None),
                    ("parent_id", "TEXT", None), ("expire_ts", "INTEGER", None), ("triggered_ts", "INTEGER", None),
                    ("trigger_print", "REAL", None), ("replaces", "TEXT", None), ("replaced_by", "TEXT", None))
ORDER_LISTS_SQL = ("CREATE TABLE IF NOT EXISTS order_lists (list_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                   "state TEXT NOT NULL, actor TEXT, created_ts INTEGER, updated_ts INTEGER, note TEXT)")
ORDER_COLUMNS = ("client_order_id", "symbol", "venue", "side", "order_type", "quantity", "price", "actor",
                 "status", "filled_qty", "avg_price", "venue_order_id", "reason", "created_ts", "updated_ts",
                 *(c for c, _t, _d in ORDER_COLUMNS_V3))
FILL_COLUMNS = ("venue", "trade_id", "client_order_id", "symbol", "side", "price", "quantity", "fee",
                "fee_currency", "liquidity", "ts")
INSERT_ORDER = f"INSERT INTO orders({', '.join(ORDER_COLUMNS)}) VALUES ({', '.join('?' * len(ORDER_COLUMNS))})"
INSERT_FILL = (f"INSERT OR IGNORE INTO fills({', '.join(FILL_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(FILL_COLUMNS))})")
UPDATE_ORDER = ("UPDATE orders SET status=?, filled_qty=?, avg_price=?, "
                 "venue_order_id=COALESCE(?, venue_order_id), reason=?, updated_ts=?, "
                 "quantity=COALESCE(?, quantity), replaced_by=COALESCE(?, replaced_by), price=COALESCE(?, price), "
                 "trigger_price=COALESCE(?, trigger_price), trail_ref=COALESCE(?, trail_ref), "
                 "triggered_ts=COALESCE(?, triggered_ts), trigger_print=COALESCE(?, trigger_print) "
                 "WHERE client_order_id=?")


_NO_TRIGGER = (None, None, None, None, None)
_PY = {"REAL": float, "TEXT": str, "INTEGER": int}


class StoreError(RuntimeError):
    """The database cannot be used as it is. The message says what happened and what to do."""


class ProfileLock:
    """One trading terminal per profile: a second GUI or headless run on the same profile would trade the
    same account twice. ``kestrel risk``/``audit`` commands do not take it: they must work beside a terminal.
    The OS releases the lock when the process dies, so a crash never leaves a stale lock behind."""

    def __init__(self, profile: Path) -> None:
        from filelock import FileLock, Timeout

        self._path = profile / "kestrel.lock"
        try:
            profile.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(self._path), timeout=0)
            self._lock.acquire()
        except Timeout:
            raise StoreError(f"Another Kestrel terminal is running on the profile {profile}. Use that window, "
                             f"or start this one with another --profile.") from None
        except OSError as exc:
            raise StoreError(f"Cannot use the profile folder {profile}: {exc.strerror or exc}. It must be a "
                             f"writable folder; check the path and its permissions, or use another "
                             f"--profile.") from None

    def release(self) -> None:
        self._lock.release()


@dataclass(frozen=True, slots=True)
class RiskStateRecord:
    scope: str
    state: str
    reason: str
    actor: str
    ts: int


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._check_before_open()
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=2.0, isolation_level=None,
                                        check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the database {self.path}: {exc}. Check the folder's permissions.") from exc
        self._check_contents()
        self.db = sqlite_utils.Database(self.conn)
        self._new_orders: list[tuple] = []
        self._lists: dict[str, tuple] = {}  # order_lists rows, written with the next commit
        self._updates: dict[str, tuple] = {}
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=2000")
            self._migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise StoreError(f"The database {self.path} cannot be written ({exc}). Check that the profile folder "
                             f"and the file are writable and the disk is not full.") from None

    # ------------------------------------------------------------------------------------------- opening
    def _check_before_open(self) -> None:
        """No database file yet is a new profile; anything else at the path must be a SQLite file. An empty
        file is refused, not silently turned into a new profile: it would start a fresh audit trail (and
        trading state) over whatever the file used to hold."""
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise StoreError(f"The profile {self.path.parent} is a file, not a folder. Use another --profile.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the profile folder {self.path.parent}: {exc.strerror or exc}. "
                             f"Check the path and its permissions, or use another --profile.") from None
        if not self.path.exists():
            return
        if not self.path.is_file():
            raise StoreError(f"The database {self.path} is a {'folder' if self.path.is_dir() else 'special file'}, "
                             f"not a database file. Kestrel left it untouched. Move it away (or use another "
                             f"--profile).")
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise StoreError(f"Cannot read the database {self.path}: {exc.strerror or exc}. Check its "
                             f"permissions.") from None
        if size == 0:
            raise StoreError(
                f"The database {self.path} is empty (0 bytes): it holds no orders, fills or audit trail. Kestrel "
                f"will not start a new profile over it. Restore it from a backup, or move it away to start a "
                f"new profile.")
        if head != _SQLITE_MAGIC:
            raise StoreError(
                f"The database {self.path} is not a SQLite file (corrupt or overwritten). Kestrel left it "
                f"untouched. Restore it from a backup, or move it away to start a fresh profile.")

    def _check_contents(self) -> None:
        try:
            row = self.conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise StoreError(
                    f"The database {self.path} is damaged (integrity check: {row[0] if row else 'no answer'}). "
                    f"Kestrel left it untouched. Restore it from a backup, or move it away to start fresh.")
            has_meta = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
            if has_meta:
                got = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(got[0]) if got else 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"The database {self.path} was written by a newer Kestrel (schema {version}, this one "
                        f"reads up to {SCHEMA_VERSION}). Kestrel left it untouched. Upgrade Kestrel, or use "
                        f"another --profile.")
            # Can we write? A second process holding a write transaction shows up here, not mid-order.
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            text = str(exc)
            if "readonly" in text or "read-only" in text:
                raise StoreError(
                    f"The database {self.path} is read-only ({text}). Kestrel needs to write to it: check the "
                    f"permissions of the file and of its folder.") from exc
            if "locked" in text or "busy" in text:
                raise StoreError(
                    f"The database {self.path} is locked by another program (another Kestrel on the same "
                    f"profile?). Close it, or start with another --profile.") from exc
            raise StoreError(
                f"The database {self.path} cannot be read ({text}). Kestrel left it untouched. Restore it from a "
                f"backup, or move it away to start fresh.") from exc
        except StoreError:
            self.conn.close()
            raise

    def _migrate(self) -> None:
        db = self.db
        fresh = "meta" not in db.table_names()
        with self.transaction():
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            db["settings"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            db["orders"].create(
                {"client_order_id": str, "symbol": str, "venue": str, "side": str, "order_type": str,
                 "quantity": float, "price": float, "actor": str, "status": str, "filled_qty": float,
                 "avg_price": float, "venue_order_id": str, "reason": str, "created_ts": int,
                 "updated_ts": int, **{c: _PY[t] for c, t, _d in ORDER_COLUMNS_V3}},
                pk="client_order_id", if_not_exists=True,
                defaults={c: d for c, _t, d in ORDER_COLUMNS_V3 if d is not None})
            self.conn.execute(ORDER_LISTS_SQL)
            db["fills"].create(
                {"venue": str, "trade_id": str, "client_order_id": str, "symbol": str, "side": str,
                 "price": float, "quantity": float, "fee": float, "fee_currency": str, "liquidity": str,
                 "ts": int},
                pk=("venue", "trade_id"), if_not_exists=True)
            db["risk_state"].create({"scope": str, "state": str, "reason": str, "actor": str, "ts": int},
                                    pk="scope", if_not_exists=True)
            if fresh:
                db["meta"].insert_all([{"key": "schema_version", "value": str(SCHEMA_VERSION)},
                                       {"key": "created_ms", "value": str(int(time.time() * 1000))}])
                # A brand-new profile starts ACTIVE. An existing profile whose record is missing does not:
                # see load_risk_state.
                db["risk_state"].insert({"scope": "global", "state": "ACTIVE", "reason": "new profile",
                                         "actor": "system", "ts": int(time.time() * 1000)})
        self.db["orders"].create_index(["status"], if_not_exists=True)
        if "list_id" in self.db["orders"].columns_dict:  # an older profile opened by `kestrel risk`: its orders
            self.db["orders"].create_index(["list_id"], if_not_exists=True)  # table is the Kernel's to migrate

    # ------------------------------------------------------------------------------------------- helpers
    def transaction(self) -> "_Tx":
        return _Tx(self.conn)

    def close(self) -> None:
        try:
            self.commit()  # rows staged by an engine that did not get to its commit (shutdown mid-burst)
        except sqlite3.Error:
            pass
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    # ------------------------------------------------------------------------------------------ settings
    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def delete_setting(self, key: str) -> None:
        self.conn.execute("DELETE FROM settings WHERE key=?", (key,))

    # ------------------------------------------------------------------------------------- order journal
    # Group commit. The ExecutionEngine stages journal rows (new orders, order-state changes) here and calls
    # ``commit`` before anything is sent to a venue and before venue reports are applied; one commit
    # serves a whole burst. Staged rows are in memory only: no write transaction (and so no database lock
    # that ``kestrel risk halt`` would wait for) is held while engine or plugin code runs.
    def stage_list(self, list_id: str, kind: str, state: str, actor: str, ts: int, note: str = "") -> None:
        """A bracket's or OCO's row in ``order_lists`` (new or changed), written with the next commit."""
        self._lists[list_id] = (list_id, kind, state, actor, ts, ts, note)

    def order_lists(self) -> dict[str, dict[str, Any]]:
        self.commit()
        cur = self.conn.execute("SELECT * FROM order_lists")
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}

    def stage_order(self, row: tuple) -> None:
        """A new order row (``ORDER_COLUMNS`` order). Durable after the next successful ``commit``."""
        self._new_orders.append(row)

    def stage_order_update(self, client_order_id: str, status: str, filled_qty: float, avg_price: float,
                           venue_order_id: str | None, reason: str, ts: int, quantity: float | None = None,
                           replaced_by: str | None = None, trigger: tuple | None = None) -> None:
        """An order's latest state; a later update of the same order in the same commit replaces it (a
        venue order id, a new quantity or a replacement, once given, is kept). ``trigger``: a stop's (price,
        trigger_price, trail_ref, triggered_ts, trigger_print), each None to keep what is written."""
        earlier = self._updates.get(client_order_id)
        if earlier is not None:
            venue_order_id = earlier[3] if venue_order_id is None else venue_order_id
            quantity = earlier[6] if quantity is None else quantity
            replaced_by = earlier[7] if replaced_by is None else replaced_by
            if trigger is not None and earlier[8:13] != _NO_TRIGGER:
                trigger = tuple(e if t is None else t for t, e in zip(trigger, earlier[8:13]))
            elif trigger is None:
                trigger = earlier[8:13]
        self._updates[client_order_id] = (status, filled_qty, avg_price, venue_order_id, reason, ts, quantity,
                                          replaced_by, *(trigger or _NO_TRIGGER), client_order_id)

    @property
    def staged(self) -> bool:
        return bool(self._new_orders or self._updates)

    def commit(self, fills: list[tuple] | tuple = ()) -> list[bool]:
        """Write the staged order rows and ``fills`` (``FILL_COLUMNS`` order) in one transaction.

        Returns, per fill, whether it was new: False for a (venue, trade_id) already recorded (a duplicate
        delivery, also within ``fills``). Durable on return (WAL, synchronous=NORMAL: survives a crash or
        ``kill -9`` of this process; power loss can lose the last commits). On an error nothing is written,
        the staged rows are kept for the next attempt and ``sqlite3.Error`` is raised."""
        if not (fills or self._new_orders or self._updates or self._lists):
            return []
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._lists:
                conn.executemany("INSERT INTO order_lists(list_id, kind, state, actor, created_ts, updated_ts, note) "
                                 "VALUES (?,?,?,?,?,?,?) ON CONFLICT(list_id) DO UPDATE SET state=excluded.state, "
                                 "updated_ts=excluded.updated_ts, note=excluded.note", list(self._lists.values()))
            if self._new_orders:
                conn.executemany(INSERT_ORDER, self._new_orders)
            fresh = [conn.execute(INSERT_FILL, row).rowcount == 1 for row in fills]
            if self._updates:
                conn.executemany(UPDATE_ORDER, self._updates.values())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._new_orders.clear()
        self._updates.clear()
        self._lists.clear()
        return fresh

    def orders(self, statuses: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Journaled orders, oldest first (staged rows are committed first: reads see them)."""
        self.commit()
        if statuses:
            marks = ",".join("?" * len(statuses))
            cur = self.conn.execute(f"SELECT * FROM orders WHERE status IN ({marks}) ORDER BY created_ts", statuses)
        else:
            cur = self.conn.execute("SELECT * FROM orders ORDER BY created_ts")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    # --------------------------------------------------------------------------------------------- fills
    def record_fill(self, row: dict[str, Any]) -> bool:
        """Insert one fill now (autocommit); False if (venue, trade_id) is already recorded."""
        return self.conn.execute(INSERT_FILL, tuple(row[c] for c in FILL_COLUMNS)).rowcount == 1

    def fill_totals(self, client_order_ids: list[str]) -> dict[str, tuple[float, float, float]]:
        """(quantity, quantity * price, fee) summed over the recorded fills of each order."""
        out: dict[str, tuple[float, float, float]] = {}
        for i in range(0, len(client_order_ids), 500):
            chunk = client_order_ids[i:i + 500]
            rows = self.conn.execute(
                f"SELECT client_order_id, SUM(quantity), SUM(quantity * price), SUM(fee) FROM fills "
                f"WHERE client_order_id IN ({','.join('?' * len(chunk))}) GROUP BY client_order_id", chunk)
            out.update((cid, (q, n, f)) for cid, q, n, f in rows)
        return out

    def fills(self) -> Iterator[dict[str, Any]]:
        self.commit()
        cur = self.conn.execute("SELECT * FROM fills ORDER BY ts, rowid")
        cols = [d[0] for d in cur.description]
        for r in cur:
            yield dict(zip(cols, r))

    # ---------------------------------------------------------------------------------------- risk state
    def load_risk_state(self, scope: str = "global") -> RiskStateRecord:
        """The persisted trading state. A missing or unreadable record means HALTED: fail closed."""
        try:
            row = self.conn.execute("SELECT scope, state, reason, actor, ts FROM risk_state WHERE scope=?",
                                    (scope,)).fetchone()
        except sqlite3.DatabaseError as exc:
            return RiskStateRecord(scope, "HALTED", f"risk state unreadable ({exc})", "system", 0)
        if row is None:
            return RiskStateRecord(scope, "HALTED", "risk state record missing", "system", 0)
        if row[1] not in ("ACTIVE", "REDUCING", "HALTED"):
            return RiskStateRecord(scope, "HALTED", f"risk state record corrupt ({row[1]!r})", "system", 0)
        return RiskStateRecord(*row)

    def risk_states(self) -> list[RiskStateRecord]:
        """Every persisted scope (global, strategy:<name>); unreadable states read as HALTED."""
        try:
            rows = self.conn.execute("SELECT scope, state, reason, actor, ts FROM risk_state").fetchall()
        except sqlite3.DatabaseError:
            return [self.load_risk_state()]
        return [RiskStateRecord(*r) if r[1] in ("ACTIVE", "REDUCING", "HALTED")
                else RiskStateRecord(r[0], "HALTED", f"risk state record corrupt ({r[1]!r})", "system", 0)
                for r in rows]

    def save_risk_state(self, rec: RiskStateRecord) -> None:
        """Durable on return: with WAL + synchronous=NORMAL a committed write survives a process crash;
        we force FULL for this one write so it also survives power loss."""
        self.conn.execute("PRAGMA synchronous=FULL")
        try:
            self.conn.execute("INSERT OR REPLACE INTO risk_state(scope, state, reason, actor, ts) VALUES (?,?,?,?,?)",
                              (rec.scope, rec.state, rec.reason, rec.actor, rec.ts))
        finally:
            self.conn.execute("PRAGMA synchronous=NORMAL")


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
