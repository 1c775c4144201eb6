"""The audit trail checked at every start, cheaply: a tampered trail raises an alarm, never a silent start.

``check_at_start`` walks only the records appended since the last record an earlier start verified (kept in
the ``audit_verified`` table of the profile's database); the first start of a profile, or one whose mark no
longer matches its record, walks the whole trail. A trail edited with SQL needs its append-only triggers
dropped: ``AuditLog`` re-creates them, records that on the trail and clears the mark, so the next start
walks everything again. What this check cannot see: a record before the mark changed byte by byte in the
file with the triggers left in place. ``kestrel audit verify`` (the whole chain) and signed checkpoints
(``kestrel audit checkpoint``) are for that.

A finding is logged (CRITICAL) and published as an ``Alert`` (level critical) naming the first bad record
and the command to investigate; the alerts are also returned, for a window built after the kernel started.
The start goes on: the trail's evidence stays for a person to examine, and trading state is unchanged.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from app.engine.audit import TRIGGERS_RESTORED_KIND, AuditLog
from app.engine.audit_verify import AuditOpenError, VerifyResult, verify, verify_from
from app.engine.messages import Alert

log = logging.getLogger("kestrel.audit")
TITLE = "Audit trail tampered"


def check_at_start(audit: AuditLog, bus: Any = None) -> list[Alert]:
    """Verify what is new on the trail (all of it the first time); on a finding, log it and publish an
    ``Alert`` on ``bus``. Returns the alerts raised (empty when the trail verified). Never raises."""
    conn = audit.conn
    t0 = time.perf_counter()
    try:
        mark = _mark(conn)
        result = verify_from(conn, *mark) if mark is not None else None
        walked = "new records" if result is not None else "whole trail"
        result = result or verify(conn)
        seconds = time.perf_counter() - t0
        if result.ok:
            _set_mark(conn, result.last_seq, result.last_hash, audit)
            log.info("audit trail verified at start (%s): %d records through seq %d in %.0f ms", walked,
                     result.records, result.last_seq, seconds * 1000)
            return []
        message = _finding(result, conn)
    except (AuditOpenError, sqlite3.Error) as exc:
        message = f"the audit trail could not be read to verify it ({exc})."
    message += f" Investigate with `kestrel audit verify --profile {_profile(conn)}`; keep the file as it is."
    log.critical("%s: %s", TITLE, message)
    alert = Alert("critical", TITLE, message, audit._now_ms(), {"source": "audit"})
    if bus is not None:
        bus.publish(alert)
    return [alert]


def _finding(result: VerifyResult, conn: sqlite3.Connection) -> str:
    first = f"first bad record: seq {result.first_bad_seq}" if result.first_bad_seq else "no single record named"
    text = f"{first} ({result.problem})."
    restored = conn.execute("SELECT seq FROM audit WHERE kind = ? ORDER BY seq DESC LIMIT 1",
                            (TRIGGERS_RESTORED_KIND,)).fetchone()
    if restored:
        text += (f" Its append-only protection had been removed outside Kestrel (restored at record "
                 f"{restored[0]}).")
    return text


def _mark(conn: sqlite3.Connection) -> tuple[int, str] | None:
    row = conn.execute("SELECT seq, hash FROM audit_verified WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _set_mark(conn: sqlite3.Connection, seq: int, digest: str, audit: AuditLog) -> None:
    try:
        conn.execute("INSERT OR REPLACE INTO audit_verified(id, seq, hash, ts_utc_ms) VALUES (1, ?, ?, ?)",
                     (seq, digest, audit._now_ms()))
    except sqlite3.Error as exc:  # the next start walks more records; nothing else is lost
        log.warning("audit: could not record the verified position (seq %d): %s", seq, exc)


def _profile(conn: sqlite3.Connection) -> Path | str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(row[2]).parent if row and row[2] else "PROFILE"
