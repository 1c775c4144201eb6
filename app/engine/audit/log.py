"""The audit trail: an append-only, hash-chained record of everything that touched trading.

Every command, risk decision (accept/deny with reason), order event, fill, kill, reset and limit change is one
row of the ``audit`` table in the profile's SQLite database (the same file as the order journal, so a record
commits with -- or right next to -- the state change it describes).

Row      seq INTEGER PRIMARY KEY (1, 2, 3, ... no gaps), ts_utc_ms (wall clock, UTC), mono_ns (monotonic
         clock: order of events even when the wall clock jumps), kind (message class name, e.g.
         ``OrderDenied``), actor ("manual", "cli", "strategy:x", "system", ...), payload (canonical JSON:
         sorted keys, no spaces, UTF-8), prev_hash and hash (64 lowercase hex chars).
Chain    hash = sha256 over prev_hash and the record's fields (exact bytes: ``audit_records.chain_hash``);
         payload encoding: ``audit_records.canonical_json``. Record 1 (kind ``AuditStarted``) links to
         ``GENESIS`` (64 zeros) and carries the trail's random ``profile_id``, which checkpoints bind to.
Append   triggers refuse UPDATE and DELETE, and refuse an INSERT that is not the next link of the chain (so a
         second process appending -- ``kestrel risk halt`` from another terminal -- can never fork it; the
         writer whose cached head went stale re-reads the head and retries). A tamperer with the file can
         drop the triggers: that is what the chain (``audit_verify``) and signed checkpoints
         (``audit_checkpoint``) catch.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from app.engine.audit.checkpoint import Checkpoint, checkpoint_filename, latest_checkpoint_seq
from app.engine.audit.records import GENESIS, canonical_json, chain_hash, message_payload, record_of
from app.engine.core.clock import Clock

__all__ = ["AuditError", "AuditLog", "GENESIS", "GENESIS_KIND", "canonical_json", "chain_hash", "record_of"]
GENESIS_KIND = "AuditStarted"
_STALE = "audit: not the next link of the chain"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, ts_utc_ms INTEGER NOT NULL, mono_ns INTEGER NOT NULL, kind TEXT NOT NULL,
    actor TEXT NOT NULL, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
"""
_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit is append-only: DELETE refused'); END",
    # With seq as the primary key this is enough: a seq already taken fails the key, a seq past the end
    # (a gap) has no predecessor to link to. One indexed lookup per insert.
    "CREATE TRIGGER IF NOT EXISTS audit_chain_link BEFORE INSERT ON audit "
    f"WHEN NEW.prev_hash IS NOT (CASE WHEN NEW.seq = 1 THEN '{GENESIS}' "
    "ELSE (SELECT hash FROM audit WHERE seq = NEW.seq - 1) END) "
    f"BEGIN SELECT RAISE(ABORT, '{_STALE}'); END",
)
_TRIGGER_NAMES = ("audit_no_update", "audit_no_delete", "audit_chain_link")
# The last record a start-up check verified (audit_start.py): the next start walks only what came after it.
_VERIFIED_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_verified (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL, ts_utc_ms INTEGER NOT NULL,
    walk_all INTEGER NOT NULL DEFAULT 0)
"""
_INSERT = ("INSERT INTO audit(seq, ts_utc_ms, mono_ns, kind, actor, payload, prev_hash, hash) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


class AuditError(RuntimeError):
    """The audit trail cannot be written as it is (its head record is incomplete, or records were deleted)."""


class AuditLog:
    """Writer of the audit trail on a connection the caller owns (the Store's, ``isolation_level=None``).

    The caller controls transactions: in autocommit mode each ``append`` is its own transaction; wrap a batch
    in BEGIN/COMMIT to amortise it. After a ROLLBACK that discarded appends nothing needs doing: the next
    ``append`` finds its cached head stale (the chain trigger refuses it), re-reads the head and retries.
    """

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        """Create the table, triggers and genesis record if missing. Raises ``AuditError`` if the table exists
        but is empty (its records were deleted: writing a new genesis would hide that) or its last record is
        incomplete; run ``kestrel audit verify`` to see why.

        Triggers found missing on an existing trail (``rearmed``: someone edited the table outside Kestrel,
        which needs them dropped) are re-created, and the next start-up check (``audit_start``) is told to
        walk the whole trail, not just its new records, and to say the triggers had been dropped."""
        self.conn = conn
        self.now_ms, self._mono_ns = clock.now_ms, clock.monotonic_ns
        self._cp_seq: dict[Path, int] = {}
        self._seq, self._head, self._head_b = 0, GENESIS, GENESIS.encode()
        self.rearmed: tuple[str, ...] = ()
        self._create()
        self._resync()
        self.profile_id = self._read_profile_id()

    # ------------------------------------------------------------------------------------------- setup
    def _create(self) -> None:
        conn = self.conn
        own_tx = not conn.in_transaction
        if own_tx:
            conn.execute("BEGIN IMMEDIATE")
        try:
            existed = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit'").fetchone() is not None
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
            self.rearmed = tuple(t for t in _TRIGGER_NAMES if t not in present) if existed else ()
            conn.execute(_SCHEMA)
            conn.execute(_VERIFIED_SCHEMA)
            for trigger in _TRIGGERS:  # IF NOT EXISTS: re-arms triggers a tamperer dropped
                conn.execute(trigger)
            if self.rearmed:  # edited outside Kestrel: anything before the last verified record may have changed
                conn.execute("UPDATE audit_verified SET walk_all = 1")
            empty = conn.execute("SELECT 1 FROM audit LIMIT 1").fetchone() is None
            if empty and existed:
                raise AuditError("The audit table exists but holds no records: they were deleted. Kestrel "
                                 "will not start a new trail over it; run `kestrel audit verify`, keep the "
                                 "file.")
            if empty:
                self.append(GENESIS_KIND, "system", {"profile_id": uuid.uuid4().hex, "format": 1})
            if own_tx:
                conn.execute("COMMIT")
        except BaseException:
            if own_tx and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _resync(self) -> None:
        """Re-read the chain head from the database (another writer appended, or a rollback discarded ours).

        The head must hash correctly: chaining onto an incomplete (torn) or altered last record would turn
        it into a record in the middle of the trail and make verify call it tampering."""
        row = self.conn.execute(
            "SELECT seq, ts_utc_ms, mono_ns, CAST(kind AS BLOB), CAST(actor AS BLOB), CAST(payload AS BLOB), "
            "CAST(prev_hash AS BLOB), hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            self._seq, self._head = 0, GENESIS
        else:
            seq, ts, mono, kind, actor, payload, prev, digest = row
            whole = None not in row and type(ts) is int and type(mono) is int and isinstance(digest, str)
            if not whole or digest != chain_hash(prev, seq, ts, mono, kind, actor, payload):
                raise AuditError(f"The last audit record (seq {seq}) is incomplete or does not match its "
                                 f"hash, so nothing can be chained to it. Run `kestrel audit verify`; keep "
                                 f"the file.")
            self._seq, self._head = seq, digest
        self._head_b = self._head.encode()

    def _confirm_head(self) -> None:
        """Make sure the cached head is a committed record before signing it (one indexed lookup)."""
        row = self.conn.execute("SELECT hash FROM audit WHERE seq = ?", (self._seq,)).fetchone()
        nxt = self.conn.execute("SELECT 1 FROM audit WHERE seq = ?", (self._seq + 1,)).fetchone()
        if row is None or row[0] != self._head or nxt is not None:
            self._resync()

    def _read_profile_id(self) -> str:
        row = self.conn.execute("SELECT kind, payload FROM audit WHERE seq = 1").fetchone()
        try:
            return str(json.loads(row[1])["profile_id"]) if row and row[0] == GENESIS_KIND else ""
        except (ValueError, KeyError, TypeError):
            return ""

    # ------------------------------------------------------------------------------------------ append
    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record this writer knows about."""
        return self._seq, self._head

    def append(self, kind: str, actor: str, payload: dict[str, Any]) -> int:
        """Append one record; returns its seq. Hot path: one JSON encode, one sha256, one prepared INSERT.

        Raises ``sqlite3.Error`` if the database refuses the write (disk full, locked past busy_timeout) and
        ``AuditError`` if the chain head is unusable: an unaudited action must not pass silently.
        """
        return self._insert(kind, actor, canonical_json(payload))

    def append_event(self, msg: Any, actor: str | None = None) -> int:
        """Append a bus message: kind = class name, payload = its fields (see ``record_of``)."""
        return self._insert(*message_payload(msg, actor))

    def append_events(self, msgs: list[Any]) -> int:
        """Append bus messages in order, as ``append_event`` would one by one, with one ``executemany``.

        Must run inside the caller's transaction. All or nothing: if the chain head went stale (another
        writer appended since we last looked) the rows are rolled back to a savepoint, the head is re-read
        and the batch is chained again. Returns the seq of the last record."""
        if not self.conn.in_transaction:
            raise AuditError("append_events needs the caller's transaction (BEGIN ... COMMIT around it)")
        encoded = [message_payload(m) for m in msgs]
        for attempt in range(3):
            rows, seq, head = [], self._seq, self._head
            head_b = head.encode()
            now_ms, mono_ns = self.now_ms, self._mono_ns
            for kind, actor, text in encoded:
                seq += 1
                ts, mono = now_ms(), mono_ns()
                digest = chain_hash(head_b, seq, ts, mono, kind.encode(), actor.encode(), text.encode())
                rows.append((seq, ts, mono, kind, actor, text, head, digest))
                head, head_b = digest, digest.encode()
            self.conn.execute("SAVEPOINT audit_batch")
            try:
                self.conn.executemany(_INSERT, rows)
            except sqlite3.IntegrityError as exc:
                self.conn.execute("ROLLBACK TO audit_batch")
                self.conn.execute("RELEASE audit_batch")
                if attempt == 2 or not (_STALE in str(exc) or "audit.seq" in str(exc)):
                    raise
                self._resync()
                continue
            self.conn.execute("RELEASE audit_batch")
            self._seq, self._head, self._head_b = seq, head, head_b
            return seq
        raise AssertionError("unreachable")

    def _insert(self, kind: str, actor: str, text: str) -> int:
        kind_b, actor_b, text_b = kind.encode(), actor.encode(), text.encode()
        for attempt in range(3):
            seq, ts, mono = self._seq + 1, self.now_ms(), self._mono_ns()
            digest = chain_hash(self._head_b, seq, ts, mono, kind_b, actor_b, text_b)
            try:
                self.conn.execute(_INSERT, (seq, ts, mono, kind, actor, text, self._head, digest))
            except sqlite3.IntegrityError as exc:
                if attempt == 2 or not (_STALE in str(exc) or "audit.seq" in str(exc)):
                    raise
                self._resync()
                continue
            self._seq, self._head, self._head_b = seq, digest, digest.encode()
            return seq
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------------- checkpoints
    def export_checkpoint(self, path: Path, key: bytes) -> Checkpoint:
        """Sign the committed head (profile id, seq, hash, now) with HMAC-SHA256(key) and write it to ``path``
        atomically. ``path`` should be OUTSIDE the profile (a tamperer who can rewrite the database should not
        reach it). The key is the caller's: the CLI keeps it in the OS keyring (see ``app.cli.audit``).

        Raises ``AuditError`` inside an open transaction: only committed records may be signed, or a rollback
        would make an honest trail look truncated."""
        if self.conn.in_transaction:
            raise AuditError("export_checkpoint inside an open transaction: commit first")
        if not self.profile_id:
            raise AuditError("this audit trail has no readable genesis record (profile id): cannot sign it")
        self._confirm_head()
        return Checkpoint.sign(self.profile_id, self._seq, self._head, self.now_ms(), key).write(Path(path))

    def maybe_checkpoint(self, every_n_records: int, directory: Path, key: bytes) -> Checkpoint | None:
        """Export a checkpoint into ``directory`` once ``every_n_records`` records were appended since the
        last one there (found by scanning the directory on first use). Call it from a timer or after a
        commit; cheap when nothing is due. Returns the checkpoint written, or None (not due, or inside an
        open transaction)."""
        directory = Path(directory)
        if self.conn.in_transaction:
            return None
        last = self._cp_seq.get(directory)
        if last is None:
            last = self._cp_seq[directory] = latest_checkpoint_seq(directory, self.profile_id)
        if self._seq - last < every_n_records:
            return None
        self._confirm_head()
        directory.mkdir(parents=True, exist_ok=True)
        cp = self.export_checkpoint(directory / checkpoint_filename(self.profile_id, self._seq), key)
        self._cp_seq[directory] = cp.seq
        return cp
