"""News items, their scores and their sources' state, in the profile's database (``kestrel.db``), shared by the
terminal and ``kestrel news`` in another process.

TABLES        ``news_items`` (one row per item, never updated but for flags), ``news_symbols`` (item -> the keys it is
              about, and how that was found), ``news_scores`` (item, scorer -> score), ``news_sources`` (each source's
              status: failures, pause, last error, counts). Only added (CREATE IF NOT EXISTS): no schema bump.
ONCE          an item is a duplicate, counted and not stored, when its source already gave the same id, or the same
              link, or when any source gave the same normalised title within a day of it (``text.norm_title``).
TIMES         ``arrived_ms`` is our clock when the poll that brought the item returned; it is never changed.
              ``published_ms`` is the source's claim; one more than 5 minutes after arrival is clamped to the arrival
              and flagged ``FUTURE``.
"""
from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from app.engine.core.messages import NewsRecord
from app.engine.core.sqlite_tx import write_tx
from app.engine.news.text import NewsKey, norm_title

DAY_MS = 86_400_000
FUTURE_SLACK_MS = 300_000
#: flags
FUTURE, REPAIRED, MARKUP = 1, 2, 4
DEFAULT_SCORER = "lexicon"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS news_items (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, "
    "kind TEXT NOT NULL, source_id TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '', norm_title TEXT NOT NULL, "
    "title TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '', lang TEXT NOT NULL DEFAULT '', "
    "published_ms INTEGER NOT NULL, arrived_ms INTEGER NOT NULL, flags INTEGER NOT NULL DEFAULT 0)",
    "CREATE UNIQUE INDEX IF NOT EXISTS news_items_sid ON news_items(source, source_id) WHERE source_id != ''",
    "CREATE UNIQUE INDEX IF NOT EXISTS news_items_url ON news_items(source, url) WHERE url != ''",
    "CREATE INDEX IF NOT EXISTS news_items_title ON news_items(norm_title)",
    "CREATE INDEX IF NOT EXISTS news_items_arrived ON news_items(arrived_ms)",
    "CREATE TABLE IF NOT EXISTS news_symbols (item_id INTEGER NOT NULL, symbol TEXT NOT NULL, how TEXT NOT NULL, "
    "PRIMARY KEY(item_id, symbol))",
    "CREATE INDEX IF NOT EXISTS news_symbols_symbol ON news_symbols(symbol, item_id)",
    "CREATE TABLE IF NOT EXISTS news_scores (item_id INTEGER NOT NULL, scorer TEXT NOT NULL, score REAL, "
    "lang TEXT NOT NULL DEFAULT '', PRIMARY KEY(item_id, scorer))",
    "CREATE TABLE IF NOT EXISTS news_sources (name TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, "
    "poll_s REAL NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, status TEXT NOT NULL DEFAULT '{}')",
)


@dataclass(frozen=True, slots=True)
class NewsItem:
    """A parsed item before it is stored (what a source's parser returns)."""

    source: str
    kind: str
    title: str
    summary: str = ""
    url: str = ""
    source_id: str = ""
    published_ms: int = 0
    symbols: tuple = ()  # ((key, how), ...)
    flags: int = 0
    lang: str = ""
    scores: tuple = ()  # ((scorer, score), ...): NaN = the scorer cannot score this text


@dataclass
class Added:
    """What one ``add`` did."""

    records: list[NewsRecord] = field(default_factory=list)
    duplicates: int = 0
    future: int = 0


class NewsStore:
    """The news tables on ``conn`` (autocommit mode, as ``Store.conn``), or on a database file opened here."""

    def __init__(self, conn: sqlite3.Connection | str | Path) -> None:
        self.own = not isinstance(conn, sqlite3.Connection)
        if self.own:
            conn = sqlite3.connect(str(conn), timeout=5.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
        self.conn = conn
        for sql in SCHEMA:
            self.conn.execute(sql)

    def close(self) -> None:
        if self.own:
            self.conn.close()

    def _tx(self) -> "contextlib.AbstractContextManager[sqlite3.Connection]":
        """One write transaction (BEGIN IMMEDIATE: it waits for another process's writer, busy_timeout)."""
        return write_tx(self.conn)

    # ------------------------------------------------------------------------------------------------ writes
    def add(self, items: Iterable[NewsItem], arrived_ms: int) -> Added:
        """Store the items new to the profile, in one transaction; duplicates are counted, not stored."""
        out = Added()
        with self._tx() as conn:
            for it in items:
                norm = norm_title(it.title)
                if self._seen(conn, it, norm):
                    out.duplicates += 1
                    continue
                published, flags = it.published_ms or arrived_ms, it.flags
                if published > arrived_ms + FUTURE_SLACK_MS:
                    published, flags = arrived_ms, flags | FUTURE
                    out.future += 1
                cur = conn.execute(
                    "INSERT INTO news_items (source, kind, source_id, url, norm_title, title, summary, lang, "
                    "published_ms, arrived_ms, flags) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (it.source, it.kind, it.source_id, it.url, norm, it.title, it.summary, it.lang, published,
                     arrived_ms, flags))
                rid = int(cur.lastrowid)
                keys = []
                for key, how in it.symbols:
                    if key not in keys:
                        keys.append(key)
                        conn.execute("INSERT OR IGNORE INTO news_symbols VALUES (?,?,?)", (rid, key, how))
                default = math.nan
                for scorer, score in it.scores:
                    ok = score == score
                    conn.execute("INSERT OR REPLACE INTO news_scores VALUES (?,?,?,?)",
                                 (rid, scorer, float(score) if ok else None, it.lang))
                    if scorer == DEFAULT_SCORER and ok:
                        default = float(score)
                out.records.append(NewsRecord(rid, it.source, it.kind, it.title, it.summary, it.url, published,
                                              arrived_ms, tuple(keys), it.lang, default, flags))
        return out

    @staticmethod
    def _seen(conn: sqlite3.Connection, it: NewsItem, norm: str) -> bool:
        if it.source_id and conn.execute("SELECT 1 FROM news_items WHERE source=? AND source_id=?",
                                         (it.source, it.source_id)).fetchone():
            return True
        if it.url and conn.execute("SELECT 1 FROM news_items WHERE source=? AND url=?",
                                   (it.source, it.url)).fetchone():
            return True
        if len(norm) >= 4:
            when = it.published_ms
            for (pub,) in conn.execute("SELECT published_ms FROM news_items WHERE norm_title=?", (norm,)):
                if not when or abs(pub - when) <= DAY_MS:
                    return True
        return False

    def put_scores(self, scorer: str, rows: Sequence[tuple[int, float, str]]) -> None:
        """(item id, score, language) for one scorer; NaN is stored as NULL (cannot score)."""
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO news_scores VALUES (?,?,?,?)",
                             [(i, scorer, None if s != s else float(s), lang) for i, s, lang in rows])

    def set_source(self, name: str, kind: str, target: str, poll_s: float, enabled: bool = True) -> None:
        self.conn.execute(
            "INSERT INTO news_sources (name, kind, target, poll_s, enabled) VALUES (?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, target=excluded.target, poll_s=excluded.poll_s, "
            "enabled=excluded.enabled", (name, kind, target, poll_s, int(enabled)))

    def forget(self, source: str) -> int:
        """Delete the items ``source`` brought (with their symbols and scores); how many."""
        with self._tx() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM news_items WHERE source=?", (source,))]
            for table, col in (("news_symbols", "item_id"), ("news_scores", "item_id"), ("news_items", "id")):
                conn.executemany(f"DELETE FROM {table} WHERE {col}=?", [(i,) for i in ids])
        return len(ids)

    def remove_source(self, name: str) -> bool:
        return self.conn.execute("DELETE FROM news_sources WHERE name=?", (name,)).rowcount > 0

    def put_status(self, name: str, status: dict) -> None:
        self.conn.execute("UPDATE news_sources SET status=? WHERE name=?", (json.dumps(status, sort_keys=True), name))

    # ------------------------------------------------------------------------------------------------- reads
    def sources(self) -> list[dict]:
        out = []
        for name, kind, target, poll_s, enabled, status in self.conn.execute(
                "SELECT name, kind, target, poll_s, enabled, status FROM news_sources ORDER BY name"):
            try:
                st = json.loads(status or "{}")
            except ValueError:
                st = {}
            out.append({"name": name, "kind": kind, "target": target, "poll_s": poll_s, "enabled": bool(enabled),
                        "status": st if isinstance(st, dict) else {}})
        return out

    def max_id(self) -> int:
        row = self.conn.execute("SELECT max(id) FROM news_items").fetchone()
        return int(row[0] or 0)

    def recent(self, symbol: str | None = None, *, kinds: Sequence[str] = (), since_ms: int | None = None,
               after_id: int = 0, limit: int = 200, scorer: str = DEFAULT_SCORER) -> list[NewsRecord]:
        """Newest arrivals first: about ``symbol`` (a news key) or all; of ``kinds``; arrived at or after
        ``since_ms``; with an id above ``after_id``."""
        where, args = ["i.id > ?"], [after_id]
        if symbol:
            where.append("i.id IN (SELECT item_id FROM news_symbols WHERE symbol=?)")
            args.append(symbol)
        if kinds:
            where.append(f"i.kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if since_ms is not None:
            where.append("i.arrived_ms >= ?")
            args.append(int(since_ms))
        sql = (f"SELECT i.id, i.source, i.kind, i.title, i.summary, i.url, i.published_ms, i.arrived_ms, i.lang, "
               f"i.flags, s.score, (SELECT group_concat(symbol, ' ') FROM news_symbols WHERE item_id=i.id) "
               f"FROM news_items i LEFT JOIN news_scores s ON s.item_id=i.id AND s.scorer=? "
               f"WHERE {' AND '.join(where)} ORDER BY i.arrived_ms DESC, i.id DESC LIMIT ?")
        rows = self.conn.execute(sql, [scorer, *args, int(limit)]).fetchall()
        return [NewsRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple((r[11] or "").split()), r[8],
                           math.nan if r[10] is None else float(r[10]), r[9]) for r in rows]

    def unscored(self, scorer: str, limit: int = 500) -> list[tuple[int, str, str]]:
        """(id, title, summary) of items ``scorer`` has not scored, oldest first."""
        return self.conn.execute(
            "SELECT id, title, summary FROM news_items WHERE id NOT IN (SELECT item_id FROM news_scores WHERE "
            "scorer=?) ORDER BY id LIMIT ?", (scorer, int(limit))).fetchall()

    def series(self, symbol: str, scorer: str = DEFAULT_SCORER) -> tuple[np.ndarray, np.ndarray]:
        """(arrived_ms int64, score float64; NaN where unscored) of the items about ``symbol``, by arrival."""
        rows = self.conn.execute(
            "SELECT i.arrived_ms, s.score FROM news_items i JOIN news_symbols n ON n.item_id=i.id "
            "LEFT JOIN news_scores s ON s.item_id=i.id AND s.scorer=? WHERE n.symbol=? ORDER BY i.arrived_ms, i.id",
            (scorer, symbol)).fetchall()
        arrived = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        score = np.fromiter((math.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=len(rows))
        return arrived, score

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM news_items").fetchone()[0])


def ashare_names(conn: sqlite3.Connection) -> dict[str, str]:
    """A-share name -> news key, from akshare's name list cached in the profile (``ak_names``); {} before it was
    ever fetched."""
    try:
        rows = conn.execute("SELECT symbol, name FROM ak_names").fetchall()
    except sqlite3.Error:  # no akshare list cached in this profile yet: codes and tickers only
        return {}
    return {str(name).replace(" ", ""): NewsKey.of(str(sym)) for sym, name in rows if name}
