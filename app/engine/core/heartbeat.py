"""The terminal's heartbeat: proof, readable from another process, that a running terminal is still acting.

``kestrel risk halt`` writes the kill latch into the profile's database and the running terminal acts on it
at its next poll. When the terminal's loop is stuck (a plugin the watchdog cannot interrupt, a C call that
never returns), nothing acts on it, and the person who halted must know. So the kernel writes
``<profile>/heartbeat.json`` from its loop about twice a second: its pid, the wall time, and the trading
states it has applied. ``kestrel risk status`` reads it beside the profile lock (held by a running terminal,
released by the OS when the process dies) and says which of these is true: no terminal is running; a
terminal is running and has acted on every record; or it has been unresponsive for N seconds.

The file is written whole and renamed into place, so a reader never sees half of it. It is not in the
database: a write every half second must not touch the order journal's file or its locks.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

FILE = "heartbeat.json"
PERIOD_S = 0.5
UNRESPONSIVE_S = 3.0  # six missed beats


class Heartbeat:
    """Written by the kernel from its loop (never from a thread: a stuck loop must stop the beat)."""

    def __init__(self, profile: Path) -> None:
        self.path = Path(profile) / FILE
        self.started_ms = int(time.time() * 1000)
        self._last = 0.0

    def beat(self, applied: dict[str, tuple[str, int]], force: bool = False, closed: bool = False) -> None:
        """``applied``: scope -> (state, the ts of the record it came from) as the terminal holds them now."""
        mono = time.monotonic()
        if not force and mono - self._last < PERIOD_S:
            return
        self._last = mono
        body = {"pid": os.getpid(), "ts_ms": int(time.time() * 1000), "started_ms": self.started_ms,
                "closed": closed, "applied": {k: list(v) for k, v in applied.items()}}
        tmp = self.path.with_name(f".{FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(body))
            os.replace(tmp, self.path)
        except OSError:  # a reader holding the file open (Windows), a full disk: the next beat tries again
            pass


@dataclass
class TerminalStatus:
    running: bool  # a process holds the profile lock
    pid: int | None = None
    age_s: float | None = None  # seconds since the last beat
    closed: bool = False
    applied: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def unresponsive(self) -> bool:
        return self.running and (self.age_s is None or self.age_s > UNRESPONSIVE_S)

    def has_applied(self, scope: str, state: str, ts: int) -> bool:
        got = self.applied.get(scope)
        return got is not None and got[0] == state and got[1] >= ts

    def describe(self) -> str:
        if not self.running:
            return "terminal: none running on this profile (the next start begins in the states above)"
        if self.age_s is None:
            return ("terminal: a process holds this profile but has written no heartbeat yet (starting, or an "
                    "older Kestrel)")
        if self.unresponsive:
            return (f"terminal: pid {self.pid} is UNRESPONSIVE for {self.age_s:.0f} s: it is not acting on the "
                    f"kill latch. Stop the process (kill -9 {self.pid}, or end it in the task manager); the "
                    f"latch stays HALTED for its next start. Check the venue for working orders.")
        return f"terminal: pid {self.pid} running, last heartbeat {self.age_s:.1f} s ago"


def read_status(profile: Path) -> TerminalStatus:
    """Is a terminal running on ``profile``, and how recently did it beat? Never raises."""
    running = _lock_held(Path(profile))
    try:
        body = json.loads((Path(profile) / FILE).read_text())
        applied = {k: (str(v[0]), int(v[1])) for k, v in body.get("applied", {}).items()}
        age = max(0.0, time.time() - int(body["ts_ms"]) / 1000.0)
        return TerminalStatus(running, int(body["pid"]), age, bool(body.get("closed")), applied)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return TerminalStatus(running)


def _lock_held(profile: Path) -> bool:
    """Does a process hold the profile lock (``store.ProfileLock``)? Probed by trying to take it for an
    instant; a terminal starting in that very instant would be told the profile is in use."""
    from filelock import FileLock, Timeout

    path = profile / "kestrel.lock"
    if not path.exists():
        return False
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False
