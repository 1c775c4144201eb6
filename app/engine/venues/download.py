"""History into the bar store: what is missing is asked of the venue, page by page, and stored as it comes.

``download_akshare`` does the same for China A-share daily bars (one request per symbol covering what is
missing, through the akshare client's source fallback; unadjusted prices): days inside the span with no bar are
the exchange's non-trading days and are marked empty, so they are not gaps.

``download_ccxt`` asks the store which ranges of [since, until) it lacks (``BarStore.gaps``: the tail after
the last stored bar, the holes inside, the head before the first), fetches each with ``fetch_history`` (paged,
within the rate limits, resumable) and writes every page at once, so an interruption loses at most the page in
flight and the next run starts where this one stopped. Ranges the exchange has no candles for (maintenance, a
market listed later) are marked empty in the store and not asked for again. Used by ``kestrel data download``
(and, later, the window's Data dialog).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from app.engine.data.bar_store import BarStore
from app.engine.data.bars import Bars
from app.engine.data.resample import timeframe_label
from app.engine.venues.backoff import Backoff
from app.engine.venues.ccxt.history import HistoryError, fetch_history


@dataclass
class DownloadReport:
    symbol: str
    requested: list[tuple[int, int]] = field(default_factory=list)  # the ranges the store lacked
    bars: int = 0  # bars received and stored
    empty: list[tuple[int, int]] = field(default_factory=list)  # ranges the venue has no candles for
    complete: bool = True
    stopped: str = ""  # why not complete: what to do is to run the same download again
    notes: list[str] = field(default_factory=list)


async def download_ccxt(store: BarStore, exchange: Any, venue: str, symbol: str, timeframe_ms: int, since: int,
                        until: int, *, progress: Callable[[int, int], None] | None = None,
                        retry_base_s: float = 0.5) -> DownloadReport:
    timeframe = timeframe_label(timeframe_ms)  # ccxt's notation: 1m, 4h, 1d, 1w
    report = DownloadReport(symbol)
    report.requested = [(int(a), int(b)) for a, b in store.gaps(venue, symbol, timeframe_ms, since, until)]
    source = f"ccxt {getattr(exchange, 'id', 'exchange')}"
    expected = sum((b - a) // timeframe_ms for a, b in report.requested)
    done_before = 0

    def on_page(bars: Bars) -> None:
        report.bars += store.write(venue, symbol, timeframe_ms, bars, source=source)

    for start, end in report.requested:
        def step(delivered: int, _expected: int, base: int = done_before) -> None:
            if progress is not None:
                progress(min(base + delivered, expected), expected)
        try:
            result = await fetch_history(exchange, symbol, timeframe, start, end, on_page=on_page,
                                         progress=step, backoff=Backoff(base_s=retry_base_s, cap_s=10.0))
        except HistoryError as exc:
            _mark_empty(store, report, venue, symbol, timeframe_ms, getattr(exc, "result", None))
            report.complete, report.stopped = False, str(exc)
            return report
        if result.note and result.note not in report.notes:
            report.notes.append(result.note)
        _mark_empty(store, report, venue, symbol, timeframe_ms, result)
        if result.complete and not result.bars and end <= _last_stored(store, venue, symbol, timeframe_ms):
            # a hole inside the stored span that the venue has nothing for either (not the tail: that may
            # just not have happened yet)
            store.mark_empty(venue, symbol, timeframe_ms, start, end)
            report.empty.append((start, end))
        if not result.complete:
            report.complete, report.stopped = False, result.stopped or "the venue stopped answering"
            return report
        done_before += (end - start) // timeframe_ms
    return report


def download_starts(store: BarStore, venue: str, symbols: list[str], timeframe_ms: int, since: int | None,
                    how: str = "") -> dict[str, int]:
    """Where each symbol's download starts: ``since``, else its stored series' first bar (a download then
    fills what the series lacks). A series not stored yet, with no ``since``, is a ``ValueError`` asking for a
    start (``how``: how the caller's user gives one, e.g. "with --since 2024-01-01")."""
    starts = {}
    for sym in symbols:
        stored = store.info(venue, sym, timeframe_ms)
        if since is None and stored is None:
            raise ValueError(f"{sym} {timeframe_label(timeframe_ms)} on {venue} is not stored yet: say where to "
                             f"start{' ' + how if how else ''}")
        starts[sym] = since if since is not None else stored.first
    return starts


def _mark_empty(store: BarStore, report: DownloadReport, venue: str, symbol: str, timeframe_ms: int,
                result: Any) -> None:
    """The ranges the exchange skipped inside what it sent: recorded, so they are not asked for again."""
    for a, b in getattr(result, "gaps", ()) or ():
        store.mark_empty(venue, symbol, timeframe_ms, a, b)
        report.empty.append((a, b))


def _last_stored(store: BarStore, venue: str, symbol: str, timeframe_ms: int) -> int:
    info = store.info(venue, symbol, timeframe_ms)
    return info.last if info is not None else -1


DAY_MS = 86_400_000


async def download_akshare(store: BarStore, client: Any, symbol: str, since: int, until: int,
                           venue: str = "akshare") -> DownloadReport:
    """Daily bars of ``symbol`` opening in [since, until) that the store lacks, from akshare (unadjusted)."""
    from app.engine.core.ashare_rules import at, day_of

    report = DownloadReport(symbol)
    report.requested = [(int(a), int(b)) for a, b in store.gaps(venue, symbol, DAY_MS, since, until)]
    if not report.requested:
        return report
    lo, hi = min(a for a, _ in report.requested), max(b for _, b in report.requested)
    first_day, last_day = day_of(lo), day_of(hi - 1)  # exchange days
    got = await client.fetch("daily", symbol, first_day.strftime("%Y%m%d"), last_day.strftime("%Y%m%d"))
    if got.stale:
        report.complete = False
        report.stopped = "every akshare source failed (" + "; ".join(got.errors) + "); nothing was stored"
        return report
    report.notes.append(f"via {got.source}" + (f" ({'; '.join(got.errors)})" if got.errors else ""))
    rows = [b for b in got.value if lo <= b.ts < hi]
    if rows:
        bars = Bars.from_arrays(np.array([b.ts for b in rows], dtype=np.int64), [b.open for b in rows],
                                [b.high for b in rows], [b.low for b in rows], [b.close for b in rows],
                                [b.volume for b in rows], timeframe_ms=DAY_MS, symbol=symbol)
        report.bars = store.write(venue, symbol, DAY_MS, bars, source=f"akshare {got.source}")
    closed_before = int(time.time() * 1000) - DAY_MS  # a day that may not have closed yet is not known empty
    # the request covered whole exchange days: what is still missing inside them had no trading
    covered = (at(first_day, dt.time(0)), at(last_day + dt.timedelta(days=1), dt.time(0)))
    for a, b in store.gaps(venue, symbol, DAY_MS, since, until):
        a, b = max(a, covered[0]), min(b, covered[1], closed_before)
        if b > a:
            store.mark_empty(venue, symbol, DAY_MS, a, b)
            report.empty.append((a, b))
    return report
