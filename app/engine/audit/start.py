"""The audit trail checked at every start, cheaply: a tampered trail raises an alarm, never a silent start.

``check_at_start`` walks only the records appended since the last record an earlier start verified (the
mark: seq and hash, in the ``audit_verified`` table of the profile's database). It walks the whole trail the
first time, when the marked record is no longer there unchanged, and after an edit with SQL: that needs the
append-only triggers dropped, and ``AuditLog`` re-creates them and flags the mark.
A whole walk is also held against the mark (a local, unsigned checkpoint): a trail now shorter than the
mark was truncated, a different hash at the marked seq means a rebuilt chain. What this check cannot see: a
record before the mark changed byte by byte in the file with the triggers left in place. ``kestrel audit
verify`` (the whole chain) and signed checkpoints (``kestrel audit checkpoint``) are for that.

A finding is logged (CRITICAL) and published as an ``Alert`` (level critical) naming the first bad record
and the command to investigate; the alerts are also returned, for a window built after the kernel started.
The start goes on: the trail's evidence stays for a person to examine, and trading state is unchanged.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.engine.audit.log import AuditLog
from app.engine.audit.verify import AuditOpenError, VerifyResult, verify, verify_from
from app.engine.core.messages import Alert

log = logging.getLogger("kestrel.audit")
TITLE = "Audit trail tampered"


def check_at_start(audit: AuditLog, bus: Any = None) -> list[Alert]:
    """Verify what is new on the trail (all of it the first time); on a finding, log it and publish an
    ``Alert`` on ``bus``. Returns the alerts raised (empty when the trail verified). Never raises."""
    conn = audit.conn
    t0 = time.perf_counter()
    try:
        mark = _mark(conn)
        result = verify_from(conn, mark[0], mark[1]) if mark is not None and not mark[2] else None
        walked = "new records" if result is not None else "whole trail"
        if result is None:
            result = verify(conn)
            if mark is not None and result.ok:
                result = _against_mark(conn, result, mark[0], mark[1])
        seconds = time.perf_counter() - t0
        if result.ok:
            _set_mark(conn, result.last_seq, result.last_hash, audit)
            log.info("audit trail verified at start (%s): %d records through seq %d in %.0f ms", walked,
                     result.records, result.last_seq, seconds * 1000)
            return []
        message = _finding(result, rearmed=mark is not None and mark[2])
    except (AuditOpenError, sqlite3.Error) as exc:
        message = f"the audit trail could not be read to verify it ({exc})."
    message += f" Investigate with `kestrel audit verify --profile {_profile(conn)}`; keep the file as it is."
    log.critical("%s: %s", TITLE, message)
    alert = Alert("critical", TITLE, message, audit.now_ms(), {"source": "audit"})
    if bus is not None:
        bus.publish(alert)
    return [alert]


def _against_mark(conn: sqlite3.Connection, result: VerifyResult, seq: int, digest: str) -> VerifyResult:
    """A whole chain that verifies must still hold the record an earlier start verified, unchanged: the
    mark is a local (unsigned) checkpoint that catches a truncated trail or a rebuilt chain."""
    if result.last_seq < seq:
        return replace(result, ok=False, first_bad_seq=result.last_seq + 1, problem=(
            f"the trail ends at seq {result.last_seq}, but seq {seq} was verified at an earlier start: the "
            f"records from seq {result.last_seq + 1} on were removed (truncated)"))
    row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    if row is None or row[0] != digest:
        return replace(result, ok=False, first_bad_seq=seq, problem=(
            f"record {seq}'s hash differs from the one verified at an earlier start: a record in seq 1..{seq} "
            f"was changed and the chain recomputed after it (rebuilt chain)"))
    return result


def _finding(result: VerifyResult, rearmed: bool) -> str:
    first = f"first bad record: seq {result.first_bad_seq}" if result.first_bad_seq else "no single record named"
    text = f"{first} ({result.problem})."
    if rearmed:
        text += " Its append-only triggers had been dropped outside Kestrel since the last verified start."
    return text


def _mark(conn: sqlite3.Connection) -> tuple[int, str, bool] | None:
    """(seq, hash, walk_all) of the last record an earlier start verified; walk_all: the triggers were found
    dropped since (``AuditLog``), so records before it may have changed too."""
    row = conn.execute("SELECT seq, hash, walk_all FROM audit_verified WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1]), bool(row[2])) if row else None


def _set_mark(conn: sqlite3.Connection, seq: int, digest: str, audit: AuditLog) -> None:
    try:
        conn.execute("INSERT OR REPLACE INTO audit_verified(id, seq, hash, ts_utc_ms, walk_all) VALUES (1, ?, ?, ?, 0)",
                     (seq, digest, audit.now_ms()))
    except sqlite3.Error as exc:  # the next start walks more records; nothing else is lost
        log.warning("audit: could not record the verified position (seq %d): %s", seq, exc)


def _profile(conn: sqlite3.Connection) -> Path | str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(row[2]).parent if row and row[2] else "PROFILE"
