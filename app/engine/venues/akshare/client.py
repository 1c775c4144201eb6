"""``AkshareClient``: akshare data with hard deadlines, a SQLite cache, and backoff/fallback on bans.

``fetch(kind, symbol, ...)`` tries the sources of ``akshare_data.SOURCES[kind]`` in order. A source that
fails (ban, refusal, garbage, a hang past the deadline) is skipped for an exponentially growing, jittered
pause (``ban_base_s`` .. ``ban_cap_s``); its siblings serve meanwhile. When every source is failing or
paused, the last cached answer is returned marked stale, and ``AllSourcesFailed`` only when there is none.

The A-share list (``fetch("names", "")``: every code and its name, for the symbol search) takes about a
minute of paged requests: it runs on its own one-worker executor with a long deadline (``list_deadline_s``),
so it never holds a quote's worker.

Cache tables (profile database, written on the loop thread after the worker returns):
  ak_quotes(symbol PK, json, source, fetched_ms)
  ak_bars(symbol, timeframe_ms, ts, open, high, low, close, volume, source, fetched_ms; PK symbol, tf, ts)
  ak_names(symbol PK, name, fetched_ms)
"""
from __future__ import annotations

import functools
import json
import logging
import random
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from app.engine.core.messages import Bar
from app.engine.venues.akshare import data as akshare_data
from app.engine.venues.akshare.data import Quote
from app.engine.venues.backoff import ban_pause
from app.engine.venues.executor import CallTimedOut, DeadlineExecutor, ExecutorSaturated

log = logging.getLogger("kestrel.venues.akshare")

SCHEMA = """
CREATE TABLE IF NOT EXISTS ak_quotes (symbol TEXT PRIMARY KEY, json TEXT, source TEXT, fetched_ms INTEGER);
CREATE TABLE IF NOT EXISTS ak_bars (symbol TEXT, timeframe_ms INTEGER, ts INTEGER, open REAL, high REAL,
                                    low REAL, close REAL, volume REAL, source TEXT, fetched_ms INTEGER,
                                    PRIMARY KEY (symbol, timeframe_ms, ts));
CREATE TABLE IF NOT EXISTS ak_names (symbol TEXT PRIMARY KEY, name TEXT, fetched_ms INTEGER);
"""


class AllSourcesFailed(RuntimeError):
    pass


@dataclass
class SourceState:
    name: str
    failures: int = 0
    paused_until: float = 0.0  # time.monotonic()
    last_error: str = ""
    calls: int = 0
    ok: int = 0

    @property
    def paused_for(self) -> float:
        return max(0.0, self.paused_until - time.monotonic())


@dataclass(frozen=True)
class Fetched:
    value: Any
    source: str
    stale: bool = False  # served from the cache because every source failed
    fetched_ms: int = 0
    errors: tuple[str, ...] = field(default=())


class AkshareCache:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(SCHEMA)

    def put_quote(self, q: Quote) -> None:
        self.conn.execute("INSERT OR REPLACE INTO ak_quotes VALUES (?, ?, ?, ?)",
                          (q.symbol, json.dumps(asdict(q)), q.source, int(time.time() * 1000)))

    def get_quote(self, symbol: str) -> tuple[Quote, int] | None:
        row = self.conn.execute("SELECT json, fetched_ms FROM ak_quotes WHERE symbol=?", (symbol,)).fetchone()
        if row is None:
            return None
        d = json.loads(row[0])
        d["bids"] = tuple(map(tuple, d["bids"]))
        d["asks"] = tuple(map(tuple, d["asks"]))
        return Quote(**d), int(row[1])

    def put_bars(self, bars: list[Bar], source: str) -> None:
        now = int(time.time() * 1000)
        self.conn.execute("BEGIN")
        try:
            rows = [(b.symbol, b.timeframe_ms, b.ts, b.open, b.high, b.low, b.close, b.volume, source, now)
                    for b in bars]
            self.conn.executemany(f"INSERT OR REPLACE INTO ak_bars VALUES ({', '.join('?' * 10)})", rows)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def put_names(self, names: dict[str, str]) -> None:
        """The whole A-share list, replacing the one cached (a delisted code leaves it)."""
        now = int(time.time() * 1000)
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("DELETE FROM ak_names")
            self.conn.executemany("INSERT INTO ak_names VALUES (?, ?, ?)",
                                  [(sym, name, now) for sym, name in names.items()])
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def get_names(self) -> tuple[dict[str, str], int] | None:
        rows = self.conn.execute("SELECT symbol, name, fetched_ms FROM ak_names").fetchall()
        if not rows:
            return None
        return {r[0]: r[1] for r in rows}, min(r[2] for r in rows)

    def get_bars(self, symbol: str, timeframe_ms: int) -> tuple[list[Bar], int] | None:
        rows = self.conn.execute("SELECT ts, open, high, low, close, volume, fetched_ms FROM ak_bars "
                                 "WHERE symbol=? AND timeframe_ms=? ORDER BY ts",
                                 (symbol, timeframe_ms)).fetchall()
        if not rows:
            return None
        return [Bar(symbol, timeframe_ms, *r[:6]) for r in rows], max(r[6] for r in rows)


class AkshareClient:
    def __init__(self, cache: AkshareCache | None, executor: DeadlineExecutor | None = None, *,
                 deadline_s: float = 8.0, ban_base_s: float = 5.0, ban_cap_s: float = 600.0,
                 rng: random.Random | None = None, list_deadline_s: float = 300.0) -> None:
        self.cache = cache
        self.executor = executor or DeadlineExecutor()
        self.list_executor: DeadlineExecutor | None = None  # the A-share list's (made on first use)
        self.deadline_s = deadline_s
        self.list_deadline_s = list_deadline_s
        self.ban_base_s, self.ban_cap_s = ban_base_s, ban_cap_s
        self.rng = rng or random.Random()
        self.sources: dict[str, SourceState] = {}
        for entries in akshare_data.SOURCES.values():
            for name, _ in entries:
                self.sources.setdefault(name, SourceState(name))
        self._warm = False

    async def warm(self) -> None:
        """Import akshare on a worker (seconds of CPU) before the first timed call."""
        if not self._warm:
            await self.executor.call(akshare_data.warm_imports, deadline_s=120.0)
            self._warm = True

    async def fetch(self, kind: str, symbol: str, *args: Any, adjust: str = "none") -> Fetched:
        """The first source that answers (in fallback order), else the cache. ``adjust`` (history only:
        "none", "forward", "backward") is passed to the sources that can adjust; the others are skipped, and
        only unadjusted bars are cached (a cached series never stands in for an adjustment it does not have).
        """
        errors = []
        for name, fn in akshare_data.SOURCES[kind]:
            if adjust != "none" and not getattr(fn, "adjusts", True):
                errors.append(f"{name}: gives no {adjust}-adjusted bars")
                continue
            st = self.sources[name]
            if st.paused_for > 0:
                errors.append(f"{name}: paused {st.paused_for:.0f} s more after {st.failures} failure(s) "
                              f"({st.last_error})")
                continue
            st.calls += 1
            try:
                call = fn if kind in ("quote", "names") else functools.partial(fn, adjust=adjust)
                executor, deadline_s = self._executor(kind)
                value = await executor.call(call, symbol, *args, deadline_s=deadline_s)
            except (CallTimedOut, ExecutorSaturated) as exc:
                self._failed(st, f"hung: {exc}")
                errors.append(f"{name}: {st.last_error}")
                continue
            except Exception as exc:  # noqa: BLE001 - a ban looks like anything: HTTP error, bad JSON...
                self._failed(st, _describe(exc))
                errors.append(f"{name}: {st.last_error}")
                continue
            if st.failures:
                log.info("akshare source %s answers again", name)
            st.failures, st.ok = 0, st.ok + 1
            if adjust == "none":
                self._store(kind, value, name)
            return Fetched(value, name, False, int(time.time() * 1000), tuple(errors))
        cached = self._cached(kind, symbol) if adjust == "none" else None
        if cached is not None:
            value, fetched_ms = cached
            return Fetched(value, "cache", True, fetched_ms, tuple(errors))
        raise AllSourcesFailed(f"no akshare source answered for {kind} of {symbol} and nothing is cached: "
                               + "; ".join(errors))

    def _executor(self, kind: str) -> tuple[DeadlineExecutor, float]:
        if kind != "names":
            return self.executor, self.deadline_s
        if self.list_executor is None:
            self.list_executor = DeadlineExecutor(workers=1, max_stuck=1, name="akshare-list")
        return self.list_executor, self.list_deadline_s

    def shutdown(self) -> None:
        """Stop the workers (a call still running is abandoned)."""
        self.executor.shutdown()
        if self.list_executor is not None:
            self.list_executor.shutdown()

    def _failed(self, st: SourceState, why: str) -> None:
        st.failures += 1
        pause = ban_pause(st.failures, self.ban_base_s, self.ban_cap_s, self.rng)
        st.paused_until = time.monotonic() + pause
        st.last_error = why
        log.warning("akshare source %s failed (%s); paused %.0f s (failure %d)", st.name, why, pause,
                    st.failures)

    def _store(self, kind: str, value: Any, source: str) -> None:
        if self.cache is None:
            return
        try:
            if kind == "quote":
                self.cache.put_quote(value)
            elif kind == "names":
                self.cache.put_names(value)
            elif value:
                self.cache.put_bars(value, source)
        except sqlite3.Error:
            log.exception("akshare cache write failed")

    def _cached(self, kind: str, symbol: str) -> tuple[Any, int] | None:
        if self.cache is None:
            return None
        if kind == "quote":
            return self.cache.get_quote(symbol)
        if kind == "names":
            return self.cache.get_names()
        tf = akshare_data.DAY_MS if kind == "daily" else akshare_data.MIN_MS
        return self.cache.get_bars(symbol, tf)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
