"""The audit trail checked at every start: a real kernel on a real profile, stopped, tampered with the way an
attacker with the file would (raw sqlite3), and started again. A tampered trail is a critical Alert on the bus
and a CRITICAL log line naming the first bad record and `kestrel audit verify`; an intact one walks only what
is new since the last start."""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from app.config import Settings, SimSettings
from app.engine.audit.log import chain_hash
from app.engine.core.messages import Alert, OrderType, Side
from app.engine.kernel import Kernel

ROWS = ("SELECT seq, ts_utc_ms, mono_ns, CAST(kind AS BLOB), CAST(actor AS BLOB), CAST(payload AS BLOB) "
        "FROM audit WHERE seq >= ? ORDER BY seq")


class Started:
    """One terminal session on ``profile``: the alerts it published and the audit log lines it wrote."""

    def __init__(self, profile: Path, clock, trade: int = 0) -> None:
        self.alerts: list[Alert] = []
        self.lines: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = self.lines.append
        audit_log = logging.getLogger("kestrel.audit")
        audit_log.addHandler(handler)
        audit_log.setLevel(logging.INFO)
        try:
            self.kernel = Kernel(profile, Settings(sim=SimSettings(latency_ms=0)), clock=clock)
            self.kernel.bus.subscribe(Alert, self.alerts.append)  # as the headless runner does, before start
            self.kernel.start()
        finally:
            audit_log.removeHandler(handler)
        for i in range(trade):  # orders, acks, fills: records on the trail
            self.kernel.submit("BTC/USDT", Side.BUY if i % 2 else Side.SELL, OrderType.MARKET, 0.01 * (i + 1))
            for _ in range(4):
                clock.advance(50)
                self.kernel.step()
        self.kernel.close()

    @property
    def critical(self) -> list[Alert]:
        return [a for a in self.alerts if a.level == "critical"]

    def said(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.lines if r.levelno == level]


def sql(profile: Path, *statements: tuple) -> None:
    conn = sqlite3.connect(profile / "kestrel.db")
    for stmt in statements:
        conn.execute(*stmt)
    conn.commit()
    conn.close()


def head(profile: Path) -> int:
    conn = sqlite3.connect(profile / "kestrel.db")
    try:
        return conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def traded(profile, sim_clock) -> Path:
    """A profile whose terminal traded, then started again (which verified the whole trail) and stopped."""
    Started(profile, sim_clock, trade=4)
    assert not Started(profile, sim_clock).critical
    assert head(profile) > 12
    return profile


def test_a_record_changed_mid_chain_raises_a_critical_alarm_at_the_next_start(traded, sim_clock):
    sql(traded, ("DROP TRIGGER audit_no_update",),
        ("UPDATE audit SET actor = 'cli' WHERE seq = 5",))
    second = Started(traded, sim_clock)
    assert len(second.critical) == 1
    alarm = second.critical[0]
    assert alarm.title == "Audit trail tampered"
    assert "first bad record: seq 5" in alarm.message
    assert f"kestrel audit verify --profile {traded}" in alarm.message
    assert any("seq 5" in line and "kestrel audit verify" in line for line in second.said(logging.CRITICAL))
    third = Started(traded, sim_clock)  # the evidence stays: every start says it again
    assert len(third.critical) == 1 and "seq 5" in third.critical[0].message


def test_an_intact_trail_walks_only_what_is_new_since_the_last_start(traded, sim_clock):
    before = head(traded)
    again = Started(traded, sim_clock)
    assert not again.critical
    (line,) = [x for x in again.said(logging.INFO) if x.startswith("audit trail verified at start")]
    assert "(new records)" in line
    walked = int(line.split(": ")[1].split()[0])
    assert 0 <= walked <= head(traded) - before + 1 < before


def test_a_change_after_the_last_verified_record_is_caught_even_with_the_triggers_put_back(traded, sim_clock):
    """A careful tamperer restores the append-only triggers: the walk of the new records still finds it."""
    mark = head(traded)
    Started(traded, sim_clock, trade=2)  # more records after the mark (verified at the next start only)
    target = mark + 2
    conn = sqlite3.connect(traded / "kestrel.db")
    (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_no_update'").fetchone()
    conn.close()
    sql(traded, ("DROP TRIGGER audit_no_update",),
        ("UPDATE audit SET actor = 'cli' WHERE seq = ?", (target,)), (ddl,))
    later = Started(traded, sim_clock)
    assert len(later.critical) == 1 and f"first bad record: seq {target}" in later.critical[0].message


def test_records_removed_from_the_end_are_named(traded, sim_clock):
    last = head(traded)
    sql(traded, ("DROP TRIGGER audit_no_delete",), ("DELETE FROM audit WHERE seq > ?", (last - 3,)))
    later = Started(traded, sim_clock)
    assert len(later.critical) == 1
    assert f"first bad record: seq {last - 2}" in later.critical[0].message
    assert "truncated" in later.critical[0].message


def test_a_rebuilt_chain_is_caught_against_the_last_verified_record(traded, sim_clock):
    """Record 4 changed and every later hash recomputed: the chain links, but not to what a start verified."""
    conn = sqlite3.connect(traded / "kestrel.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_chain_link")
    conn.execute("UPDATE audit SET actor = 'cli' WHERE seq = 4")
    prev = conn.execute("SELECT CAST(hash AS BLOB) FROM audit WHERE seq = 3").fetchone()[0]
    for seq, ts, mono, kind, actor, payload in conn.execute(ROWS, (4,)).fetchall():
        digest = chain_hash(prev, seq, ts, mono, kind, actor, payload)
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev.decode(), digest, seq))
        prev = digest.encode()
    conn.commit()
    conn.close()
    later = Started(traded, sim_clock)
    assert len(later.critical) == 1 and "rebuilt chain" in later.critical[0].message
