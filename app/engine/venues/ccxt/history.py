"""Candle history from a ccxt exchange: paged ``fetch_ohlcv`` calls, within the rate limits, resumable.

``fetch_history`` hands each page to ``on_page`` as ``Bars`` in time order and returns a ``HistoryResult``
saying how far it got; it knows no store (the caller writes the pages, and on the next call passes
``resume_from`` = the last stored bar's time + one timeframe).

RATE LIMITS   ccxt's own throttle (``enableRateLimit``, on for ``make_exchange``'s objects) paces the pages;
              ``rate`` (a venue's ``RateGate``) is waited on before each page, and a 429/418 closes it for
              the reply's Retry-After (``rest.rate_limit_wait``), so a live venue on the same exchange backs
              off too. Without a gate the page waits the same time itself. At most ``max_rate_waits`` waits.
INTERRUPTIONS network errors, 5xx, maintenance, timeouts, unreadable replies: retried with ``Backoff`` up to
              ``max_retries`` times in a row, then the call returns ``complete=False`` with ``next_since``
              and the reason (``stopped``): what was delivered stays delivered, a later call resumes there.
              A refusal that retrying cannot fix (unknown symbol, bad request, auth) raises ``HistoryError``.
PAGES         a page is asked from the bar after the last one delivered; bars before it (overlaps, a bar
              sent twice) and at or after ``until`` are dropped, so nothing is delivered twice. A short page
              is not the end: the next page is asked, and only a page with nothing newer ends the download
              (or the next bar could only be the forming one, which is left out unless ``include_forming``).
GAPS          bars the exchange skipped (maintenance, a halted market) are reported as [start, end) ranges
              of open times in ``gaps``, never filled in; a first range starting at ``start_ms`` is the time
              before the exchange's first bar (a market listed after ``since``).
RESAMPLING    the last target bar of a page is held until the next page completes it; an interrupted call
              leaves it out and its ``next_since`` is that bar's open time, so a resume rebuilds it whole.
TIMEFRAMES    a timeframe the exchange does not serve (``exchange.timeframes``) is built from the largest
              native timeframe that divides it (``data.resample``), and the result says so (``note``).
"""
from __future__ import annotations

import asyncio
import difflib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.engine.data.bars import Bars
from app.engine.data.resample import bucket_start, resample
from app.engine.venues.backoff import Backoff, RateGate
from app.engine.venues.ccxt.errors import POLICIES, UnreadableReply, classify, detail
from app.engine.venues.ccxt.rest import rate_limit_wait, recorded_reply

log = logging.getLogger("kestrel.venues.ccxt.history")


class HistoryError(Exception):
    """A download that retrying cannot fix: the message says what happened and what to do. ``result``: how
    far it got, when it failed after the first page (what ``on_page`` received stays received)."""

    result: HistoryResult | None = None


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """What one ``fetch_history`` call did. ``next_since``: the open time of the first bar not delivered,
    where a later call resumes (``resume_from``)."""

    exchange: str
    symbol: str
    timeframe: str
    timeframe_ms: int
    fetched_timeframe: str  # the timeframe asked of the exchange (== timeframe when native)
    start_ms: int
    until_ms: int
    next_since: int
    bars: int  # delivered to on_page
    pages: int  # pages the exchange answered
    first_ts: int | None
    last_ts: int | None
    gaps: tuple[tuple[int, int], ...]  # [start, end) open times, in the fetched timeframe, with no candle
    dropped: int  # rows dropped as overlap or repeats (before the next expected bar)
    retries: int  # interruptions retried
    rate_limited: int  # 429/418 waits
    waited_s: float  # time spent waiting on rate limits
    complete: bool  # the whole range was asked for and answered
    stopped: str = ""  # why not complete (the last error, for the trader)
    note: str = ""  # e.g. the resampling

    @property
    def resampled(self) -> bool:
        return self.fetched_timeframe != self.timeframe


@dataclass
class _Progress:
    """The download's running state, frozen into a ``HistoryResult`` at the end."""

    next_since: int
    bars: int = 0
    pages: int = 0
    first_ts: int | None = None
    last_ts: int | None = None  # the last bar delivered
    last_fetched: int | None = None  # the last bar of the fetched timeframe taken from the exchange
    gaps: list[tuple[int, int]] = field(default_factory=list)
    dropped: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    stopped: str = ""


async def fetch_history(exchange: Any, symbol: str, timeframe: str, since_ms: int, until_ms: int | None = None,
                        *, on_page: Callable[[Bars], None], resume_from: int | None = None,
                        page_limit: int | None = None, rate: RateGate | None = None,
                        progress: Callable[[int, int], None] | None = None, include_forming: bool = False,
                        max_retries: int = 5, max_rate_waits: int = 5, backoff: Backoff | None = None,
                        params: dict | None = None) -> HistoryResult:
    """Download ``symbol``'s ``timeframe`` candles opening in [since_ms, until_ms) (until: now when None),
    from ``resume_from`` when given, handing each page to ``on_page`` as ``Bars`` in time order.

    ``page_limit``: candles per request (default: the exchange's maximum where ccxt knows it).
    ``progress(bars_delivered, bars_expected)`` after each page. ``params`` go to ``fetch_ohlcv`` as is.
    Returns how far it got (see ``HistoryResult``); raises ``HistoryError`` for what retrying cannot fix."""
    backoff = backoff or Backoff(base_s=0.5, cap_s=10.0)
    await _call(exchange.load_markets, backoff, max_retries, what="loading markets")
    _check_symbol(exchange, symbol)
    download = _Download(exchange, symbol, timeframe, since_ms, until_ms, resume_from, page_limit,
                         include_forming)
    if not getattr(exchange, "enableRateLimit", True):
        log.warning("%s: ccxt's rate limiter is off (enableRateLimit=False): history pages are not paced",
                    download.name)
    fetch = functools.partial(_page, exchange, symbol, download.fetch_tf, limit=download.limit,
                              params=params or {}, rate=rate, backoff=backoff, state=download.state,
                              max_retries=max_retries, max_rate_waits=max_rate_waits, name=download.name)
    return await download.run(fetch, on_page, progress)


class _Download:
    """One call of ``fetch_history``: what to fetch (the native timeframe, the bounds), how far it got."""

    def __init__(self, exchange: Any, symbol: str, timeframe: str, since_ms: int, until_ms: int | None,
                 resume_from: int | None, page_limit: int | None, include_forming: bool) -> None:
        self.exchange, self.symbol, self.timeframe = exchange, symbol, timeframe
        self.include_forming = include_forming
        self.tf_ms, self.fetch_tf, self.fetch_ms = _timeframes(exchange, timeframe)
        self.name = str(getattr(exchange, "id", type(exchange).__name__))
        now = int(exchange.milliseconds())
        self.until = now + 1 if until_ms is None else int(until_ms)
        self.start = int(since_ms if resume_from is None else max(resume_from, since_ms))
        self.resampler = _Resampler(self.tf_ms) if self.fetch_tf != timeframe else None
        self.fetch_until = self.until
        self.note = ""
        if self.resampler is not None:  # whole target bars only: from a bar boundary to the last bar's end
            self.start = -(-self.start // self.tf_ms) * self.tf_ms
            self.fetch_until = -(-self.until // self.tf_ms) * self.tf_ms
            self.note = (f"{timeframe} is not a timeframe {self.name} serves: built from its {self.fetch_tf} "
                         f"candles (the largest native timeframe that divides {timeframe})")
        self.limit = page_limit or _max_limit(exchange, symbol)
        self.fixed_bars = not self.fetch_tf.endswith(("M", "y"))  # months and years vary: no gap arithmetic
        self.state = _Progress(next_since=self.start)
        self.expected = max(0, (self.until - self.start) // self.tf_ms)

    def now(self) -> int:
        return int(self.exchange.milliseconds())

    def deliver(self, rows: np.ndarray, on_page: Callable[[Bars], None]) -> None:
        ms, state = self.tf_ms, self.state
        bars = Bars.from_arrays(rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4],
                                rows[:, 5], timeframe_ms=ms, symbol=self.symbol)
        on_page(bars)
        state.bars += len(bars)
        if state.first_ts is None:
            state.first_ts = int(bars.ts[0])
        state.last_ts = int(bars.ts[-1])
        state.next_since = state.last_ts + ms

    def result(self, complete: bool) -> HistoryResult:
        st = self.state
        return HistoryResult(
            exchange=self.name, symbol=self.symbol, timeframe=self.timeframe, timeframe_ms=self.tf_ms,
            fetched_timeframe=self.fetch_tf, start_ms=self.start, until_ms=self.until,
            next_since=st.next_since,
            bars=st.bars, pages=st.pages, first_ts=st.first_ts, last_ts=st.last_ts, gaps=tuple(st.gaps),
            dropped=st.dropped, retries=st.retries, rate_limited=st.rate_limited, waited_s=st.waited_s,
            complete=complete, stopped="" if complete else st.stopped, note=self.note)

    async def run(self, fetch: Callable[..., Any], on_page: Callable[[Bars], None],
                  progress: Callable[[int, int], None] | None) -> HistoryResult:
        state, resampler = self.state, self.resampler
        since, complete = self.start, False
        while True:
            if since >= self.fetch_until:
                complete = True
                break
            if not self.include_forming and since + self.fetch_ms > self.now():
                complete = True  # only the forming bar could come
                break
            try:
                page = await fetch(since)
            except HistoryError as exc:
                state.stopped = str(exc)
                exc.result = self.result(False)
                raise
            if page is None:
                break
            state.pages += 1
            rows = _fresh(page, since, self.fetch_until, self.fetch_ms, self.include_forming, self.now(),
                          state)
            if len(rows) == 0:
                complete = True  # the exchange has nothing newer
                break
            ts = rows[:, 0].astype(np.int64)
            if self.fixed_bars:
                _note_gaps(ts, since, self.fetch_ms, state)
            state.last_fetched = int(ts[-1])
            since = state.last_fetched + self.fetch_ms
            if resampler is not None:
                rows = resampler.take(rows)
            if len(rows):
                self.deliver(rows, on_page)
            if resampler is not None and resampler.held_since is not None:
                state.next_since = resampler.held_since  # where a resume must start
            if progress is not None:
                progress(state.bars, self.expected)
        if resampler is not None:
            self._last_resampled(complete, on_page, progress)
        return self.result(complete)

    def _last_resampled(self, complete: bool, on_page: Callable[[Bars], None],
                        progress: Callable[[int, int], None] | None) -> None:
        """The bar the resampler held back: given out whole, or where a resume must start."""
        tail = self.resampler.last(complete, self.include_forming, self.now())
        if len(tail):
            self.deliver(tail, on_page)
        elif self.resampler.held_since is not None:
            self.state.next_since = self.resampler.held_since
        if progress is not None:
            progress(self.state.bars, self.expected)


# ------------------------------------------------------------------------------------------------ pages
async def _page(exchange: Any, symbol: str, timeframe: str, since: int, limit: int | None, params: dict,
                rate: RateGate | None, backoff: Backoff, state: _Progress, max_retries: int,
                max_rate_waits: int, name: str) -> list | None:
    """One page of candles, rate limits waited out and interruptions retried; None when it gave up (the
    reason in ``state.stopped``)."""
    failures = waits = 0
    while True:
        if rate is not None:
            await rate.wait()
        with recorded_reply() as reply:
            try:
                page = await exchange.fetch_ohlcv(symbol, timeframe, since, limit, params)
                if reply.unreadable:
                    raise UnreadableReply(reply.unreadable)
            except Exception as exc:  # classified below; what cannot be retried is raised
                policy = classify(exc)
                why = policy.message(name, detail(exc))
                if policy.kind == "rate_limit":
                    headers = reply.headers or dict(getattr(exchange, "last_response_headers", None) or {})
                    asked = rate_limit_wait(exc, reply.status, headers)
                    policy = POLICIES["DDoSProtection" if asked.banned else "RateLimitExceeded"]  # ccxt says
                    why = policy.message(name, detail(exc))  # DDoSProtection to some 429s: the status decides
                    waits += 1
                    state.rate_limited += 1
                    if waits > max_rate_waits:
                        state.stopped = f"{why} (gave up after {max_rate_waits} waits)"
                        return None
                    log.warning("%s: history of %s rate limited; waiting %.1f s (%s)", name, symbol,
                                asked.seconds, asked.source)
                    state.waited_s += asked.seconds
                    if rate is not None:
                        rate.close_for(asked.seconds, "banned (418)" if asked.banned else "rate limited (429)")
                    else:
                        await asyncio.sleep(asked.seconds)
                    continue
                if not policy.retry or policy.kind in ("auth", "closed"):
                    raise HistoryError(why) from exc
                failures += 1
                state.retries += 1
                if failures > max_retries:
                    state.stopped = f"{why} (gave up after {max_retries} retries)"
                    return None
                delay = backoff.next_delay()
                log.info("%s: history of %s interrupted (%s); retrying in %.2f s", name, symbol,
                         detail(exc), delay)
                await asyncio.sleep(delay)
                continue
        backoff.reset()
        return page


def _fresh(page: list, since: int, until: int, tf_ms: int, include_forming: bool, now: int,
           state: _Progress) -> np.ndarray:
    """The page's rows from ``since`` (the next bar expected) up to ``until``, in time order, each bar once,
    the forming bar left out unless asked for. Rows before ``since`` are counted as dropped."""
    if not page:
        return np.empty((0, 6))
    rows = np.array([r[:6] for r in page], dtype=np.float64)
    ts = rows[:, 0].astype(np.int64)
    order = np.argsort(ts, kind="stable")
    rows, ts = rows[order], ts[order]
    first = np.ones(len(ts), dtype=bool)
    first[1:] = ts[1:] != ts[:-1]
    keep = first & (ts >= since)
    state.dropped += int(len(ts) - np.count_nonzero(keep))
    keep &= ts < until
    if not include_forming:
        keep &= ts + tf_ms <= now
    return rows[keep]


def _note_gaps(ts: np.ndarray, expected: int, tf_ms: int, state: _Progress) -> None:
    """Record every run of missing bars: before the page's first bar, and between its bars."""
    starts = np.concatenate(([expected], ts[:-1] + tf_ms))
    missing = np.flatnonzero(ts - starts >= tf_ms)
    for i in missing:
        state.gaps.append((int(starts[i]), int(ts[i])))


class _Resampler:
    """Fetched rows in, whole bars of ``tf_ms`` out: the last bar of each page is held until the next page
    (its other part may be there), and given out at the end only if the download completed and the bar has
    closed (or the forming bar was asked for)."""

    def __init__(self, tf_ms: int) -> None:
        self.tf_ms = tf_ms
        self.held = np.empty((0, 6))

    @property
    def held_since(self) -> int | None:
        """The open time of the held bar (where a resume must start), None when nothing is held."""
        return int(bucket_start(int(self.held[0, 0]), self.tf_ms)) if len(self.held) else None

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.concatenate([self.held, rows]) if len(self.held) else rows
        buckets = bucket_start(rows[:, 0].astype(np.int64), self.tf_ms)
        cut = int(np.searchsorted(buckets, buckets[-1]))
        self.held = rows[cut:]
        return self._resampled(rows[:cut])

    def last(self, complete: bool, include_forming: bool, now: int) -> np.ndarray:
        if not len(self.held) or not complete:
            return np.empty((0, 6))
        bar = self._resampled(self.held)
        if not include_forming and int(bar[0, 0]) + self.tf_ms > now:
            return np.empty((0, 6))
        self.held = np.empty((0, 6))
        return bar

    def _resampled(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.empty((0, 6))
        cols = resample(rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4],
                        rows[:, 5], self.tf_ms)
        return np.column_stack([cols[0].astype(np.float64), *cols[1:]])


async def _call(fn: Callable, backoff: Backoff, max_retries: int, what: str) -> Any:
    """``fn()`` with interruptions retried (for the calls before the pages)."""
    for attempt in range(max_retries + 1):
        try:
            return await fn()
        except Exception as exc:
            policy = classify(exc)
            if not policy.retry or policy.kind in ("auth", "closed") or attempt == max_retries:
                raise HistoryError(f"{what}: {policy.message('the exchange', detail(exc))}") from exc
            await asyncio.sleep(backoff.next_delay())
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------------------- what to ask
def _check_symbol(exchange: Any, symbol: str) -> None:
    markets = getattr(exchange, "markets", None) or {}
    if symbol in markets:
        return
    name = getattr(exchange, "id", "the exchange")
    close = difflib.get_close_matches(symbol.upper(), list(markets), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise HistoryError(f"{name} does not list {symbol!r}: no history to download.{hint} Use the exchange's "
                       f"unified symbol (BASE/QUOTE, e.g. BTC/USDT).")


def _timeframes(exchange: Any, timeframe: str) -> tuple[int, str, int]:
    """(timeframe in ms, the timeframe to ask the exchange for, its length in ms)."""
    name = getattr(exchange, "id", "the exchange")

    def ms(tf: str) -> int:
        return int(exchange.parse_timeframe(tf) * 1000)

    try:
        tf_ms = ms(timeframe)
    except Exception as exc:  # ccxt raises NotSupported or ValueError
        raise HistoryError(f"{timeframe!r} is not a timeframe (write it as 1m, 5m, 1h, 1d...)") from exc
    native = dict(getattr(exchange, "timeframes", None) or {})
    if not native or timeframe in native:
        return tf_ms, timeframe, tf_ms
    dividing = []
    for tf in native:
        try:
            n = ms(tf)
        except Exception:  # noqa: BLE001 - a timeframe ccxt itself cannot read is no use here
            log.debug("%s: skipping timeframe %r ccxt cannot read", name, tf)
            continue
        if 0 < n < tf_ms and tf_ms % n == 0:
            dividing.append((n, tf))
    if not dividing:
        raise HistoryError(f"{name} does not serve {timeframe} candles, and none of its timeframes "
                           f"({', '.join(native)}) divides it: pick one of those.")
    n, tf = max(dividing)
    return tf_ms, tf, n


def _max_limit(exchange: Any, symbol: str) -> int | None:
    """The most candles one request may ask for, where ccxt's ``features`` says; None lets the exchange
    choose (paging still works, with more pages)."""
    features = getattr(exchange, "features", None) or {}
    market = (getattr(exchange, "markets", None) or {}).get(symbol) or {}
    kind = market.get("type") or "spot"
    entry = features.get(kind) or {}
    if kind in ("swap", "future") and isinstance(entry, dict):
        entry = entry.get("linear" if market.get("linear", True) else "inverse") or {}
    ohlcv = (entry or {}).get("fetchOHLCV") or {}
    limit = ohlcv.get("limit") if isinstance(ohlcv, dict) else None
    return int(limit) if limit else None
