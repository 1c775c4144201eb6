"""Alert rules and what they fired, in the profile's database (``kestrel.db``), shared by the terminal and
``kestrel alerts`` in another process.

TABLES        ``alert_rules`` (id, the rule as JSON, updated_ts), ``alert_history`` (one row per firing, with
              its delivery per channel as JSON), ``alert_meta`` (``rev``: bumped by every change to a rule, so a
              running terminal sees one made elsewhere with one small read every 0.25 s). The tables are new
              and only added (CREATE IF NOT EXISTS): a Kestrel without alerts reads the same database.
WRITES        each in one transaction with the bump of ``rev``; a busy database is waited for (busy_timeout).
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
from typing import Any

from app.engine.alerts.rules import AlertRule
from app.engine.core.sqlite_tx import write_tx

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alert_rules (id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, "
    "updated_ts INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS alert_history (seq INTEGER PRIMARY KEY AUTOINCREMENT, rule_id TEXT NOT NULL, "
    "ts INTEGER NOT NULL, kind TEXT NOT NULL, symbol TEXT NOT NULL, title TEXT NOT NULL, message TEXT NOT NULL, "
    "value REAL, throttled INTEGER NOT NULL DEFAULT 0, delivery TEXT NOT NULL DEFAULT '{}')",
    "CREATE INDEX IF NOT EXISTS alert_history_rule ON alert_history(rule_id)",
    "CREATE TABLE IF NOT EXISTS alert_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class AlertStore:
    """The rules and history tables on ``conn`` (autocommit mode, as ``Store.conn``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.broken: list[tuple[str, str]] = []  # (id, why) of rows the last ``rules()`` could not read
        for sql in SCHEMA:
            conn.execute(sql)

    # ------------------------------------------------------------------------------------------- rules
    def rev(self) -> int:
        row = self.conn.execute("SELECT value FROM alert_meta WHERE key='rev'").fetchone()
        return int(row[0]) if row else 0

    def rules(self) -> list[AlertRule]:
        """Every rule, oldest first. A row that does not read as a rule is skipped (``broken`` lists it)."""
        out = []
        self.broken = []
        for rid, text in self.conn.execute("SELECT id, rule FROM alert_rules ORDER BY id"):
            try:
                out.append(AlertRule.from_dict(dict(json.loads(text), id=str(rid))))
            except (ValueError, TypeError) as exc:
                self.broken.append((str(rid), str(exc)))
        return out

    def get(self, rule_id: str) -> AlertRule | None:
        row = self.conn.execute("SELECT rule FROM alert_rules WHERE id=?", (_int_id(rule_id),)).fetchone()
        return AlertRule.from_dict(dict(json.loads(row[0]), id=str(rule_id))) if row else None

    def _tx(self) -> "contextlib.AbstractContextManager[sqlite3.Connection]":
        """One write transaction (BEGIN IMMEDIATE: it waits for another process's writer, busy_timeout)."""
        return write_tx(self.conn)

    def save_fired(self, rule: AlertRule, ts: int, title: str, message: str, value: float,
                   throttled: int) -> tuple[int, int]:
        """A firing: the rule's new state and its history row, in one transaction; (the row's number, the rules'
        revision after it, which is this change's only if the revision before was the caller's)."""
        with self._tx() as conn:
            body = rule.to_dict()
            body.pop("id")
            conn.execute("UPDATE alert_rules SET rule=?, updated_ts=? WHERE id=?",
                         (json.dumps(body, sort_keys=True), rule.updated_ts, _int_id(rule.id)))
            self._bump()
            cur = conn.execute("INSERT INTO alert_history(rule_id, ts, kind, symbol, title, message, value, "
                               "throttled) VALUES (?,?,?,?,?,?,?,?)",
                               (rule.id, ts, rule.kind, rule.symbol, title, message, value, throttled))
            rev = self.rev()
        return int(cur.lastrowid), rev

    def save(self, rule: AlertRule) -> AlertRule:
        """Insert ``rule`` (no id: the store gives the next one) or replace the one with its id; the rule as
        stored (with its id)."""
        with self._tx() as conn:
            body = rule.to_dict()
            body.pop("id")
            text = json.dumps(body, sort_keys=True)
            if rule.id:
                cur = conn.execute("UPDATE alert_rules SET rule=?, updated_ts=? WHERE id=?",
                                   (text, rule.updated_ts, _int_id(rule.id)))
                if cur.rowcount == 0:
                    raise KeyError(rule.id)
                saved = rule
            else:
                cur = conn.execute("INSERT INTO alert_rules(rule, updated_ts) VALUES (?, ?)", (text, rule.updated_ts))
                saved = rule.with_(id=str(cur.lastrowid))
            self._bump()
        return saved

    def delete(self, rule_id: str) -> bool:
        with self._tx() as conn:
            n = conn.execute("DELETE FROM alert_rules WHERE id=?", (_int_id(rule_id),)).rowcount
            if n:
                self._bump()
        return bool(n)

    def _bump(self) -> None:
        self.conn.execute("INSERT INTO alert_meta(key, value) VALUES ('rev', 1) "
                          "ON CONFLICT(key) DO UPDATE SET value = value + 1")

    # ----------------------------------------------------------------------------------------- history
    def record_delivery(self, seq: int, channel: str, status: str) -> None:
        row = self.conn.execute("SELECT delivery FROM alert_history WHERE seq=?", (seq,)).fetchone()
        if row is None:
            return
        delivery = json.loads(row[0])
        delivery[channel] = status
        self.conn.execute("UPDATE alert_history SET delivery=? WHERE seq=?", (json.dumps(delivery), seq))

    def pending_deliveries(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Firings whose delivery to a channel never ended (still "queued" or "retrying": the terminal stopped
        without a close, e.g. killed), newest last, with those channels in ``pending``."""
        out = []
        for row in reversed(self.history(limit)):
            pending = [c for c, status in row["delivery"].items() if status.startswith(("queued", "retrying"))]
            if pending:
                out.append(dict(row, pending=pending))
        return out

    def history(self, limit: int = 200, rule_id: str | None = None) -> list[dict[str, Any]]:
        """The newest firings first."""
        sql = "SELECT seq, rule_id, ts, kind, symbol, title, message, value, throttled, delivery FROM alert_history"
        args: tuple = ()
        if rule_id is not None:
            sql, args = sql + " WHERE rule_id=?", (rule_id,)
        rows = self.conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        keys = ("seq", "rule_id", "ts", "kind", "symbol", "title", "message", "value", "throttled", "delivery")
        return [dict(zip(keys, r[:-1] + (json.loads(r[-1]),))) for r in rows]


def _int_id(rule_id: str) -> int:
    try:
        return int(str(rule_id).strip().lstrip("#"))
    except ValueError:
        raise ValueError(f"no alert {rule_id!r}: an alert's id is a number (see `kestrel alerts list`)") from None
