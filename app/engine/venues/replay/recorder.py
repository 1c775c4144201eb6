"""Recording market data to the profile's SQLite, and reading it back for replay.

Tables (created here, next to the journal; never touched by the order path):
  md_sessions(id, started_ms, ended_ms, source, symbols)            one row per recording run
  md_instruments(session, symbol, json)                              precision/limits, so a replay matches
  md_trades(session, ts, symbol, price, size, aggressor, trade_id)  every TradeTick the feeds delivered
  md_books(session, ts, symbol, bids, asks)                          every BookSnapshot (levels as JSON)

The recorder is a bus subscriber that only appends to a list; rows are written in batches (every 0.5 s or
2,000 rows, one transaction each) so recording never costs a write per tick on the loop.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

from app.engine.core.instruments import Instrument, split_id
from app.engine.core.messages import BookSnapshot, Side, TradeTick

log = logging.getLogger("kestrel.recorder")

SCHEMA = """
CREATE TABLE IF NOT EXISTS md_sessions (id INTEGER PRIMARY KEY, started_ms INTEGER, ended_ms INTEGER,
                                        source TEXT, symbols TEXT);
CREATE TABLE IF NOT EXISTS md_instruments (session INTEGER, symbol TEXT, json TEXT,
                                           PRIMARY KEY (session, symbol));
CREATE TABLE IF NOT EXISTS md_trades (session INTEGER, ts INTEGER, symbol TEXT, price REAL, size REAL,
                                      aggressor TEXT, trade_id TEXT);
CREATE TABLE IF NOT EXISTS md_books (session INTEGER, ts INTEGER, symbol TEXT, bids TEXT, asks TEXT);
CREATE INDEX IF NOT EXISTS md_trades_session_ts ON md_trades(session, ts);
CREATE INDEX IF NOT EXISTS md_books_session_ts ON md_books(session, ts);
"""


class Recorder:
    def __init__(self, conn: sqlite3.Connection, bus: Any, source: str, symbols: list[str] | None = None,
                 flush_s: float = 0.5, batch: int = 2000) -> None:
        self.conn = conn
        self.source = source
        self.symbols = set(symbols) if symbols else None
        self.flush_s, self.batch = flush_s, batch
        conn.executescript(SCHEMA)
        cur = conn.execute("INSERT INTO md_sessions(started_ms, source, symbols) VALUES (?, ?, ?)",
                           (int(time.time() * 1000), source, json.dumps(sorted(self.symbols or []))))
        self.session = cur.lastrowid
        self._trades: list[tuple] = []
        self._books: list[tuple] = []
        self._last = time.monotonic()
        self.rows = 0
        self._unsubs = [bus.subscribe(TradeTick, self.on_trade), bus.subscribe(BookSnapshot, self.on_book)]

    def add_instruments(self, insts: list[Instrument]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO md_instruments(session, symbol, json) VALUES (?, ?, ?)",
                              [(self.session, i.symbol, json.dumps(dataclasses.asdict(i))) for i in insts])

    def _records(self, iid: str) -> str | None:
        """The venue's symbol to record for instrument ``iid`` (the bus carries ids), or None: a recording is
        one venue's market (``source``), in its own symbols, as the journal keeps them."""
        symbol, venue = split_id(iid)
        if venue not in (None, self.source) or (self.symbols is not None and symbol not in self.symbols
                                                 and iid not in self.symbols):
            return None
        return symbol

    def on_trade(self, t: TradeTick) -> None:
        symbol = self._records(t.symbol)
        if symbol is not None:
            self._trades.append((self.session, t.ts, symbol, t.price, t.size, t.aggressor.value,
                                 t.trade_id))
            self._maybe_flush()

    def on_book(self, b: BookSnapshot) -> None:
        symbol = self._records(b.symbol)
        if symbol is not None:
            self._books.append((self.session, b.ts, symbol, json.dumps(b.bids), json.dumps(b.asks)))
            self._maybe_flush()

    def _maybe_flush(self) -> None:
        pending = len(self._trades) + len(self._books)
        if pending >= self.batch or time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not (self._trades or self._books):
            return
        trades, books = self._trades, self._books
        self._trades, self._books = [], []
        try:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO md_trades VALUES (?, ?, ?, ?, ?, ?, ?)", trades)
            self.conn.executemany("INSERT INTO md_books VALUES (?, ?, ?, ?, ?)", books)
            self.conn.execute("COMMIT")
            self.rows += len(trades) + len(books)
        except sqlite3.Error:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            log.exception("recording: %d rows could not be written (dropped)", len(trades) + len(books))

    def close(self) -> None:
        for unsub in self._unsubs:
            unsub()
        self.flush()
        self.conn.execute("UPDATE md_sessions SET ended_ms=? WHERE id=?",
                          (int(time.time() * 1000), self.session))


# ----------------------------------------------------------------------------------------------- reading
@dataclasses.dataclass(frozen=True)
class Recording:
    path: Path
    session: int
    source: str
    instruments: list[Instrument]
    first_ts: int
    last_ts: int
    rows: int


def open_recording(path: Path, session: int | None = None) -> Recording:
    """The recording ``session`` (default: the last one with data) in the database at ``path``."""
    path = Path(path)
    if path.is_dir():
        path = path / "kestrel.db"
    if not path.exists():
        raise FileNotFoundError(f"No database at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE name='md_sessions'").fetchone()
        if not has:
            raise LookupError(f"{path} holds no recorded market data (record with `kestrel run --headless "
                              f"--venue ... --record`)")
        if session is None:
            row = conn.execute("SELECT s.id FROM md_sessions s WHERE EXISTS (SELECT 1 FROM md_trades t WHERE "
                               "t.session=s.id) OR EXISTS (SELECT 1 FROM md_books b WHERE b.session=s.id) "
                               "ORDER BY s.id DESC LIMIT 1").fetchone()
            if row is None:
                raise LookupError(f"{path}: every recording session is empty")
            session = int(row[0])
        src = conn.execute("SELECT source FROM md_sessions WHERE id=?", (session,)).fetchone()
        if src is None:
            raise LookupError(f"{path}: no recording session {session}")
        insts = [Instrument(**json.loads(j)) for (j,) in
                 conn.execute("SELECT json FROM md_instruments WHERE session=? ORDER BY symbol", (session,))]
        lo, hi, n = conn.execute(
            "SELECT MIN(ts), MAX(ts), COUNT(*) FROM (SELECT ts FROM md_trades WHERE session=? UNION ALL "
            "SELECT ts FROM md_books WHERE session=?)", (session, session)).fetchone()
        return Recording(path, session, src[0], insts, int(lo or 0), int(hi or 0), int(n or 0))
    finally:
        conn.close()


def read_events(rec: Recording) -> Iterator[TradeTick | BookSnapshot]:
    """Trades and books of a recording in time order (books before trades of the same ms)."""
    conn = sqlite3.connect(f"file:{rec.path}?mode=ro", uri=True)
    try:
        cur = conn.execute(
            "SELECT ts, 0, symbol, bids, asks, NULL, NULL, NULL, rowid FROM md_books WHERE session=? "
            "UNION ALL SELECT ts, 1, symbol, NULL, NULL, price, size, aggressor || ':' || trade_id, rowid "
            "FROM md_trades WHERE session=? ORDER BY 1, 2, 9", (rec.session, rec.session))
        for ts, kind, symbol, bids, asks, price, size, tail, _ in cur:
            if kind == 0:
                yield BookSnapshot(symbol, tuple(map(tuple, json.loads(bids))),
                                   tuple(map(tuple, json.loads(asks))), int(ts))
            else:
                side, tid = tail.split(":", 1)
                yield TradeTick(symbol, float(price), float(size), Side(side), tid, int(ts))
    finally:
        conn.close()
