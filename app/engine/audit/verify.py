"""Verify the audit trail: walk the hash chain, then compare it with signed checkpoints.

What is caught, and which record is named (``first_bad_seq``):
- a changed byte in any field of record k (ts, mono, kind, actor, payload, prev_hash, hash): k;
- a deleted record k (gap) or a renumbered tail: k, the first seq that is missing or holds the wrong record;
- an inserted or reordered record: the first seq whose prev_hash no longer links to its predecessor (the
  inserted/moved record itself, or -- if it was forged with a correct hash -- the record right after it);
- a seq changed to a value below 1: that value (the stray row sorts first);
- a rebuilt chain (record changed, every later hash recomputed): only against a checkpoint; named is the first
  checkpointed seq whose hash differs -- the change lies after the previous checkpoint that still matches,
  which ``problem`` states. Periodic checkpoints (a directory of them) narrow it down;
- a truncated trail: only against a checkpoint; named is the first missing seq;
- a forged or altered checkpoint (bad signature), or a checkpoint of another trail: no seq (None).

Torn tail (``torn_tail=True``, not tampering): the LAST record links correctly (right seq, prev_hash equal
to the previous record's hash, every earlier record verifies) but is incomplete: its hash is NULL or empty,
or its payload is NULL, empty or not valid JSON -- what a crash of a writer that does not finish a record in
one transaction leaves. Kestrel's own writer inserts a record in one statement, so it cannot leave one;
and the shape cannot be told apart from someone blanking that one record, so a record a checkpoint covers is
never called torn. Appending more records after a torn one is impossible (nothing can chain to it).

Appending a well-formed record at the end is not detectable by anyone without a secret; nor is replacing the
whole trail without checkpoints. That is what exported checkpoints are for.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from app.engine.audit.checkpoint import Checkpoint, key_id, load_checkpoints
from app.engine.audit.log import GENESIS, GENESIS_KIND, chain_hash

_MAGIC = b"SQLite format 3\x00"
_ROWS = ("SELECT seq, ts_utc_ms, mono_ns, CAST(kind AS BLOB), CAST(actor AS BLOB), CAST(payload AS BLOB), "
         "CAST(prev_hash AS BLOB), CAST(hash AS BLOB) FROM audit ORDER BY seq")
_ROWS_AFTER = _ROWS.replace("ORDER BY", "WHERE seq > ? ORDER BY")


class AuditOpenError(RuntimeError):
    """The database cannot be opened or read (missing, not SQLite, unreadable). Not tamper evidence."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records: int  # records that verified (on success: all of them)
    first_bad_seq: int | None  # the first bad record (see the module docstring); None when ok / not a record
    problem: str  # "" when ok; else what is wrong, for a person
    torn_tail: bool  # True: the only problem is an incomplete last record (not tampering)
    last_seq: int = 0  # last record that verified
    last_hash: str = ""
    profile_id: str = ""
    checkpoint_seq: int | None = None  # highest checkpoint seq that matched


def open_readonly(db_path: Path) -> sqlite3.Connection:
    """Open ``db_path`` read-only (``mode=ro``): the database file is never written. (SQLite may create the
    empty ``-wal``/``-shm`` side files a WAL reader needs, as any reader does.)"""
    db_path = Path(db_path)
    if db_path.parent.exists() and not db_path.parent.is_dir():
        raise AuditOpenError(f"the profile {db_path.parent} is a file, not a folder (is --profile right?)")
    if db_path.exists() and not db_path.is_file():
        raise AuditOpenError(f"{db_path} is a folder, not a database file (is --profile the right folder?)")
    if not db_path.is_file():
        raise AuditOpenError(f"no database at {db_path} (is --profile the right folder?)")
    try:
        with open(db_path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise AuditOpenError(f"cannot read {db_path}: {exc}") from None
    if not head:
        raise AuditOpenError(f"{db_path} is empty (0 bytes): there is no audit trail in it to verify; restore it "
                             f"from a backup")
    if head != _MAGIC:
        raise AuditOpenError(f"{db_path} is not a SQLite database (corrupt or overwritten)")
    try:
        conn = sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=2000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise AuditOpenError(f"cannot open {db_path} read-only: {exc}") from None
    return conn


def verify(source: sqlite3.Connection | Path | str, checkpoint: Path | None = None,
           key: bytes | None = None) -> VerifyResult:
    """Verify the trail in ``source`` (an open connection, or a database path opened read-only).

    ``checkpoint`` is a checkpoint file or a directory of them; it needs the ``key`` it was signed with
    (``ValueError`` otherwise). Raises ``AuditOpenError`` / ``CheckpointError`` when the database or the
    checkpoint cannot be read at all; every finding about the trail itself comes back in the result.
    """
    if checkpoint is not None and key is None:
        raise ValueError("checking a checkpoint needs the key it was signed with")
    cps = load_checkpoints(Path(checkpoint)) if checkpoint is not None else []
    own = not isinstance(source, sqlite3.Connection)
    conn = open_readonly(Path(source)) if own else source
    try:
        walk = _walk(conn, {cp.seq for cp in cps})
    except sqlite3.Error as exc:
        raise AuditOpenError(f"cannot read the audit table: {exc}") from None
    finally:
        if own:
            conn.close()
    return _against_checkpoints(walk, cps, key) if cps else walk.result()


# ------------------------------------------------------------------------------------------------ the walk
@dataclass
class _Walk:
    records: int = 0
    last_seq: int = 0
    last_hash: str = ""
    profile_id: str = ""
    bad: int | None = None
    problem: str = ""
    torn: bool = False
    wanted: dict[int, str] | None = None

    def result(self, **changes) -> VerifyResult:
        fields = dict(ok=self.bad is None, records=self.records, first_bad_seq=self.bad, problem=self.problem,
                      torn_tail=self.torn, last_seq=self.last_seq, last_hash=self.last_hash,
                      profile_id=self.profile_id)
        fields.update(changes)
        return VerifyResult(**fields)


def verify_from(conn: sqlite3.Connection, seq: int, digest: str) -> VerifyResult | None:
    """Verify only the records after ``seq``, trusting the trail up to it: the incremental check a start
    makes from the last record an earlier check verified. ``records`` counts the records walked.

    None when record ``seq`` is no longer there with hash ``digest`` (changed, removed, or the trail was
    replaced): only a whole walk can say what happened then. Raises ``AuditOpenError`` when the table cannot
    be read."""
    try:
        row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
        if row is None or row[0] != digest:
            return None
        return _walk(conn, set(), start=(seq, digest)).result()
    except sqlite3.Error as exc:
        raise AuditOpenError(f"cannot read the audit table: {exc}") from None


def _walk(conn: sqlite3.Connection, want: set[int], start: tuple[int, str] | None = None) -> _Walk:
    """Walk the chain from record 1, or from the record after ``start`` = (seq, hash), trusted."""
    w = _Walk(wanted={})
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")  # one snapshot: a live writer appending meanwhile is not seen half-way
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit'").fetchone() is None:
            w.problem = ("the database has no audit table: this profile was never opened by a Kestrel that "
                         "keeps an audit trail, or the table was dropped")
            w.bad = 1
            return w
        top = conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
        if top is None:
            w.bad, w.problem = 1, "the audit table is empty: every record, from record 1 on, was deleted"
            return w
        after, prev = start if start is not None else (0, GENESIS)
        prev, expected = prev.encode(), after + 1
        w.last_seq, w.last_hash = after, prev.decode() if after else ""
        rows = conn.execute(_ROWS_AFTER, (after,)) if start is not None else conn.execute(_ROWS)
        for row in rows:
            seq, ts, mono, kind, actor, payload, prev_hash, digest = row
            fault = _check_row(conn, row, expected, prev, top)
            if fault:
                w.bad, w.problem, w.torn = fault
                break
            if seq == 1 and kind == GENESIS_KIND.encode():
                w.profile_id = _profile_id(payload)
            prev, expected = digest, expected + 1
            w.records, w.last_seq = w.records + 1, seq
            if seq in want:
                w.wanted[seq] = digest.decode()
        w.last_hash = prev.decode("ascii", "replace") if w.last_seq else ""
        return w
    finally:
        if began:
            conn.execute("COMMIT")


def _check_row(conn: sqlite3.Connection, row: tuple, expected: int, prev: bytes,
               top: int) -> tuple[int, str, bool] | None:
    """None if the record verifies, else ``(first_bad_seq, problem, torn)``."""
    seq, ts, mono, kind, actor, payload, prev_hash, digest = row
    if seq > expected:
        return expected, (f"record {expected} is missing: the next stored record is seq {seq} "
                          f"(deleted, or its seq was changed)"), False
    if seq < expected:
        return seq, f"unexpected record with seq {seq}: seqs start at 1 (its seq was changed)", False
    if prev_hash != prev:
        return seq, (f"record {seq}'s prev_hash does not match the hash of record {seq - 1}: a record was "
                     f"inserted, deleted or moved here, or this field was changed"), False
    if type(ts) is not int or type(mono) is not int:
        return seq, f"record {seq}'s timestamps are not integers (ts_utc_ms={ts!r}, mono_ns={mono!r})", False
    if kind is None or actor is None:
        return seq, f"record {seq} has no kind or actor (NULL)", False
    if payload is not None and digest is not None and \
            digest == chain_hash(prev, seq, ts, mono, kind, actor, payload).encode():
        return None
    if seq == top and _incomplete(payload, digest):
        return seq, (f"record {seq}, the last one, is incomplete (hash or payload missing or cut short): a "
                     f"torn write, not tampering; every earlier record is intact"), True
    return seq, _mismatch(conn, row, prev), False


def _incomplete(payload: bytes | None, digest: bytes | None) -> bool:
    if not digest or not payload:
        return True
    try:
        json.loads(payload)
    except ValueError:
        return True
    return False


def _mismatch(conn: sqlite3.Connection, row: tuple, prev: bytes) -> str:
    """Say whether the hash field or the contents changed, using the next record's prev_hash as a witness."""
    seq, ts, mono, kind, actor, payload, _, digest = row
    if payload is None or digest is None:
        return f"record {seq} has a NULL payload or hash"
    row = conn.execute("SELECT CAST(prev_hash AS BLOB) FROM audit WHERE seq = ?", (seq + 1,)).fetchone()
    recomputed = chain_hash(prev, seq, ts, mono, kind, actor, payload).encode()
    if row is not None and row[0] == recomputed:
        return f"record {seq}'s hash field was changed (its contents still match the chain)"
    if row is not None and row[0] == digest:
        return f"record {seq}'s contents (ts, mono, kind, actor or payload) were changed after it was written"
    return f"record {seq}'s contents do not match its hash (contents or hash changed)"


def _profile_id(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("profile_id", ""))
    except (ValueError, AttributeError):
        return ""


# ------------------------------------------------------------------------------------------- checkpoints
def _against_checkpoints(w: _Walk, cps: list[Checkpoint], key: bytes) -> VerifyResult:
    forged = [cp for cp in cps if not cp.signature_ok(key)]
    mine = [cp for cp in cps if cp.profile_id == w.profile_id and cp not in forged]
    note = ""
    if forged:
        cp, mine_id = forged[0], key_id(key)
        if cp.key_id != mine_id:
            note = (f"checkpoint {cp.path} (seq {cp.seq}) has an invalid signature: it names key id "
                    f"{cp.key_id} but the key given is {mine_id} (use the key it was exported with), or it "
                    f"was forged")
        else:
            note = (f"checkpoint {cp.path} (seq {cp.seq}) has an invalid signature for this key: it was "
                    f"forged or altered after it was signed")
    elif not mine:
        note = (f"the checkpoint(s) belong to audit trail {cps[0].profile_id}, this one is "
                f"{w.profile_id or '?'}: another profile's checkpoint, or this trail was rebuilt from "
                f"record 1")
    if note:
        if w.bad is not None and not w.torn:
            return w.result(problem=f"{w.problem}; also: {note}")
        return w.result(ok=False, first_bad_seq=None, problem=note, torn_tail=False)
    matched, lo = None, 0
    for cp in mine:  # sorted by seq
        if w.bad is not None and w.bad <= cp.seq and not w.torn:
            break  # the chain itself already names an earlier bad record
        if cp.seq > w.last_seq:
            if w.torn:
                return w.result(torn_tail=False, problem=(
                    f"record {w.bad} is incomplete, but checkpoint seq {cp.seq} covered it when it was "
                    f"whole: it was changed afterwards (not a torn write)"))
            return w.result(ok=False, first_bad_seq=w.last_seq + 1, torn_tail=False, problem=(
                f"the trail ends at seq {w.last_seq} but the signed checkpoint covers seq {cp.seq}: records "
                f"{w.last_seq + 1}..{cp.seq} were removed (truncated)"))
        if w.wanted.get(cp.seq) != cp.hash:
            return w.result(ok=False, first_bad_seq=cp.seq, torn_tail=False, problem=(
                f"record {cp.seq}'s hash differs from the signed checkpoint: a record in seq "
                f"{lo + 1}..{cp.seq} was changed and the chain recomputed after it (rebuilt chain)"))
        matched, lo = cp.seq, cp.seq
    return w.result(checkpoint_seq=matched)
