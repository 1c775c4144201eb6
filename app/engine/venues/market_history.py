"""Market history for the running terminal: the stored bars at once, the venue's in the background.

WORKER    one thread ("kestrel-history") runs its own asyncio loop. Every venue request, download and bar
          store write of this module happens there, so neither the window nor the engine's loop waits on a
          venue, a rate limit, or a series lock that a download in another process holds (up to 120 s).
          What the worker loaded comes back through a queue that ``poll`` (the kernel's step) applies on the
          engine's loop, the one thread that touches the live bars.
SOURCES   a ccxt venue's candles through its own ccxt object made from the venue's config (no keys: candles
          are public), paged and paced by ``fetch_history`` (native timeframes natively, others resampled);
          akshare's daily and 1/5/15/30/60-minute bars through its own ``AkshareClient`` (deadlines, source
          fallback). The simulated exchange has no history source: its history is synthetic, seeded at start.
CHART     ``open(symbol)``: the last ``PAGE`` bars from the store go under the live bars at once; then the
          venue is asked for what the store lacks up to the forming bar, it is stored, and merged too.
          ``older(symbol)``: the ``PAGE`` bars before the oldest held, from the store, else from the venue;
          none left: ``exhausted``. The first live bar began when Kestrel did: the venue's candle replaces it.
          A longer timeframe (``open(symbol, tf)``, 4h, 1d...) is loaded the same way as its own series of
          the venue's candles of that timeframe (``bars(symbol, tf)``; fetched natively where the venue has
          it), so a daily chart has years of days, not the days the live bars span; the chart resamples the
          live bars only for the candles after them.
LIVE      each closed live bar of a venue with a history source is appended to the store (on the worker),
          except a bar the feed did not see whole: the first after start-up and after a reconnect.
ADJUSTED  A-share daily bars can be shown forward (前复权) or backward (后复权) adjusted: asked of akshare each
          time, never stored (an adjusted series changes with every dividend and split).
OFFLINE   a refresh that fails leaves the stored bars shown; ``status(symbol)`` says as of when, and why.
DOWNLOAD  ``download(venue, symbols, tf, since, until)``: the Data dialog's downloads (the same as
          ``kestrel data download``), with progress and ``cancel``.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock
from app.engine.core.instruments import InstrumentTable
from app.engine.core.messages import Bar, VenueStatus
from app.engine.data.bar_chunks import BarStoreError
from app.engine.data.bar_store import BarStore
from app.engine.data.bars import BarAggregator, Bars
from app.engine.data.resample import bucket_start, timeframe_label
from app.engine.venues.download import DAY_MS, DownloadReport, download_starts

log = logging.getLogger("kestrel.venues.history")

PAGE = 2000  # bars per chart page: what opening a chart loads, and each scroll back past the oldest bar
AKSHARE_MINUTES = (1, 5, 15, 30, 60)
ADJUSTMENTS = ("none", "forward", "backward")  # A-share prices: as traded, 前复权, 后复权
OLDER_RETRY_S = 30.0  # a failed older page is asked for again after this, not every frame


# --------------------------------------------------------------------------------------------- sources
class CcxtSource:
    """A ccxt venue's candles: its own public ccxt object, made on the worker on first use."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.name = config.name
        self._exchange: Any = None

    async def fill(self, store: BarStore, symbol: str, tf: int, since: int, until: int,
                   progress: Callable[[int, int], None] | None = None) -> DownloadReport:
        from app.engine.venues.download import download_ccxt

        if self._exchange is None:
            from app.engine.venues.ccxt.rest import make_exchange

            self._exchange = await asyncio.to_thread(make_exchange, self.config, None)
        return await download_ccxt(store, self._exchange, self.name, symbol, tf, since, until, progress=progress,
                                   retry_base_s=getattr(self.config, "history_retry_base_s", 0.5))

    async def close(self) -> None:
        if self._exchange is not None:
            try:
                await self._exchange.close()
            except Exception:  # noqa: BLE001 - closing
                log.debug("closing the history exchange failed", exc_info=True)


class AkshareSource:
    """China A-shares through akshare: daily bars (unadjusted; non-trading days marked empty) and minute
    bars (the few recent days akshare's sources serve)."""

    name = "akshare"

    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._warming: asyncio.Future | None = None

    async def fill(self, store: BarStore, symbol: str, tf: int, since: int, until: int,
                   progress: Callable[[int, int], None] | None = None) -> DownloadReport:
        from app.engine.venues.download import download_akshare

        if tf != DAY_MS and tf // 60_000 not in AKSHARE_MINUTES or tf % 60_000:
            report = DownloadReport(symbol, complete=False)
            report.stopped = (f"akshare serves daily and 1, 5, 15, 30 and 60-minute bars, not "
                              f"{timeframe_label(tf)}")
            return report
        client = await self._warm()
        if tf == DAY_MS:
            return await download_akshare(store, client, symbol, since, until)
        return await _akshare_minutes(store, client, symbol, tf, since, until)

    async def adjusted(self, symbol: str, tf: int, since: int, until: int, adjust: str) -> Bars:
        """Daily bars opening in [since, until), forward or backward adjusted (through the sources that adjust;
        never from the cache)."""
        from app.engine.core.ashare_rules import day_of

        if tf != DAY_MS:
            raise ValueError("adjusted A-share prices are daily bars here (1d)")
        client = await self._warm()
        got = await client.fetch("daily", symbol, day_of(since).strftime("%Y%m%d"),
                                 day_of(until - 1).strftime("%Y%m%d"), adjust=adjust)
        rows = [b for b in got.value if since <= b.ts < until]
        return Bars.from_arrays([b.ts for b in rows], [b.open for b in rows], [b.high for b in rows],
                                [b.low for b in rows], [b.close for b in rows], [b.volume for b in rows],
                                timeframe_ms=tf, symbol=symbol)

    async def _warm(self) -> Any:
        if self._warming is None:  # one import of akshare: two at once deadlock in importlib
            self._warming = asyncio.ensure_future(self._make_client())
        return await asyncio.shield(self._warming)

    async def _make_client(self) -> Any:
        if self._client is None:
            from app.engine.venues.akshare.client import AkshareClient

            client = AkshareClient(None)
            await client.warm()  # imports akshare (seconds) on its worker
            self._client = client
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            self._client.executor.shutdown()


async def _akshare_minutes(store: BarStore, client: Any, symbol: str, tf: int, since: int,
                           until: int) -> DownloadReport:
    report = DownloadReport(symbol, requested=[(since, until)])
    got = await client.fetch("minute", symbol, str(tf // 60_000))
    if got.stale:
        report.complete = False
        report.stopped = "every akshare source failed (" + "; ".join(got.errors) + ")"
        return report
    rows = [b for b in got.value if since <= b.ts < until]
    if rows:
        bars = Bars.from_arrays([b.ts for b in rows], [b.open for b in rows], [b.high for b in rows],
                                [b.low for b in rows], [b.close for b in rows], [b.volume for b in rows],
                                timeframe_ms=tf, symbol=symbol)
        report.bars = store.write("akshare", symbol, tf, bars, source=f"akshare {got.source}")
    report.notes.append(f"via {got.source}")
    return report


# ---------------------------------------------------------------------------------------------- worker
class _Worker:
    """A daemon thread running an asyncio loop; ``submit`` schedules a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="kestrel-history", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Any) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self, sources: list[Any], timeout_s: float = 5.0) -> None:
        """Cancel what runs, close ``sources`` (their connections live on this loop), stop the thread."""
        async def stop() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for source in sources:
                await source.close()

        try:
            self.submit(stop()).result(timeout_s)
        except Exception:  # noqa: BLE001 - closing: a source that will not close is left to the process end
            log.warning("the history worker did not stop cleanly", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)


# ---------------------------------------------------------------------------------------------- status
@dataclass
class HistoryStatus:
    """What the chart says about one symbol's history. ``as_of``: the end of the newest stored bar (ms)
    when the venue could not be asked; ``problem``: what could not be refreshed, in words."""

    symbol: str
    venue: str
    timeframe_ms: int
    adjust: str = "none"  # A-share prices: "none", "forward" (前复权) or "backward" (后复权)
    state: str = "idle"  # idle | loading | ready | offline | unavailable
    as_of: int | None = None
    problem: str = ""
    exhausted: bool = False  # no bars older than the oldest held, in the store or at the venue
    older_loading: bool = False
    older_retry_at: float = 0.0  # time.monotonic(): after a failed older page, not before this
    bars_loaded: int = 0
    version: int = 0
    key: str = ""  # the instrument id ("BTC/USDT@binance"): its live bars; ``symbol`` is the venue's


@dataclass
class DownloadJob:
    """A download the Data dialog started; its fields are set from the worker thread (read them, poll)."""

    venue: str
    symbols: list[str]
    timeframe_ms: int
    state: str = "running"  # running | done | failed | canceled
    symbol: str = ""
    done: int = 0
    total: int = 0
    reports: list[DownloadReport] = field(default_factory=list)
    message: str = ""
    _future: concurrent.futures.Future | None = None

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()

    def _ended(self, future: concurrent.futures.Future) -> None:
        if future.cancelled() and self.state == "running":  # canceled before it started
            self.state = "canceled"
            self.message = self.message or "Canceled. What arrived is stored; Download again resumes."


# ------------------------------------------------------------------------------------------- the service
class MarketHistory:
    def __init__(self, store: BarStore, bars: BarAggregator, instruments: InstrumentTable, clock: Clock,
                 bus: MessageBus, source_for: Callable[[str], Any],
                 known_venues: Callable[[], list[str]] = list) -> None:
        """``source_for(venue)``: a history source for the venue (``CcxtSource``/``AkshareSource``), or None;
        called on the engine's loop, its result then used on the worker only. ``known_venues()``: the venues
        saved in the profile (for ``sources``)."""
        self.store, self._bars, self._instruments, self._clock = store, bars, instruments, clock
        self._source_for, self._known_venues = source_for, known_venues
        self.statuses: dict[tuple[str, int, str], HistoryStatus] = {}  # (symbol, tf, adjust)
        self._native: dict[tuple[str, int, str], Bars] = {}  # the venue's candles of a longer tf, or adjusted
        self._done: collections.deque[Callable[[], None]] = collections.deque()  # worker -> poll
        self._worker: _Worker | None = None
        self._sources: dict[str, Any] = {}  # venue -> its source (used on the worker only)
        self._skip: dict[str, int] = {}  # symbol -> closed live bars still to leave out of the store
        self._seen: set[str] = set()
        self._closed = False
        bus.subscribe(Bar, self._on_bar)
        bus.subscribe(VenueStatus, self._on_venue_status)

    # ------------------------------------------------------------------------------------ engine side
    @property
    def timeframe_ms(self) -> int:
        return self._bars.timeframe_ms

    def status(self, symbol: str, timeframe_ms: int | None = None, adjust: str = "none") -> HistoryStatus | None:
        return self.statuses.get((self._key(symbol), timeframe_ms or self.timeframe_ms, adjust))

    def _key(self, symbol: str) -> str:
        """The instrument id ``symbol`` names (statuses and series are by id)."""
        return self._instruments.canonical(symbol)

    def bars(self, symbol: str, timeframe_ms: int, adjust: str = "none") -> Bars | None:
        """The venue's candles of ``symbol`` at a timeframe longer than the live bars' (``open`` loads them),
        adjusted as asked, or None when none were loaded."""
        return self._native.get((self._key(symbol), timeframe_ms, adjust))

    def sources(self) -> list[str]:
        """The venues whose history can be downloaded: every venue the terminal trades or has saved (a
        disabled one too: candles need no connection), and akshare; not the sim."""
        venues = {i.venue for i in self._instruments.values()} | set(self._known_venues()) | {"akshare"}
        return sorted(v for v in venues - {"sim"} if self._source(v) is not None)

    def open(self, symbol: str, timeframe_ms: int | None = None, adjust: str = "none") -> bool:
        """Load ``symbol``'s history: at the live bars' timeframe under the live bars, at a longer one as its
        own series (``bars``); the store's at once, then the venue's. Once per session (again after a failed
        refresh). ``adjust`` (A-share daily bars): "forward" or "backward" adjusted prices, asked of akshare
        each time (adjusted prices change with every dividend and split: never stored). False when the symbol
        has no history source."""
        inst = self._instruments.get(symbol)
        tf = int(timeframe_ms or self.timeframe_ms)
        if inst is None or inst.venue == "sim" or self._closed or tf < self.timeframe_ms:
            return False
        if adjust not in ADJUSTMENTS or (adjust != "none" and tf == self.timeframe_ms):
            raise ValueError(f"adjust {adjust!r}: 'none', or 'forward'/'backward' for a longer timeframe")
        key, venue = inst.id, inst.data_venue
        st = self.statuses.get((key, tf, adjust))
        if st is not None and st.state in ("loading", "ready", "unavailable"):
            return st.state != "unavailable"
        st = self.statuses[(key, tf, adjust)] = HistoryStatus(inst.symbol, venue, tf, adjust, key=key)
        source = self._source(venue)
        if source is None:
            st.state, st.problem = "unavailable", f"{venue} has no history source"
            st.version += 1
            return False
        st.state = "loading"
        st.version += 1
        sessions = "ashare" if getattr(inst, "rules", "") == "ashare" else ""
        until = int(bucket_start(self._clock.now_ms(), tf, sessions))  # the forming bar is live, not history
        self._run(self._load(st, source, tf, until - PAGE * tf, until))
        return True

    def older(self, symbol: str, timeframe_ms: int | None = None, adjust: str = "none") -> bool:
        """Load the ``PAGE`` bars before the oldest held (the chart scrolled past it). False when nothing is
        asked for: unknown, still loading, or no older bars exist."""
        tf = int(timeframe_ms or self.timeframe_ms)
        key = self._key(symbol)
        st = self.statuses.get((key, tf, adjust))
        series = self._target(key, tf, adjust)
        if st is None or st.state in ("loading", "unavailable") or st.exhausted or st.older_loading \
                or not series.n or time.monotonic() < st.older_retry_at:
            return False
        source = self._source(st.venue)
        if source is None:
            return False
        st.older_loading = True
        st.version += 1
        first = int(series.ts[0])
        self._run(self._load_older(st, source, tf, first - PAGE * tf, first))
        return True

    def _target(self, symbol: str, tf: int, adjust: str = "none") -> Bars:
        """Where history of instrument ``symbol`` (an id) at ``tf`` goes: the live bars, or the longer
        timeframe's own series."""
        if tf == self.timeframe_ms:
            return self._bars.get(symbol)
        bars = self._native.get((symbol, tf, adjust))
        if bars is None:
            bars = self._native[(symbol, tf, adjust)] = Bars(PAGE + 16, tf, symbol)
        return bars

    def download(self, venue: str, symbols: list[str], timeframe_ms: int, since: int | None,
                 until: int | None) -> DownloadJob:
        """Download ``symbols``' bars of ``venue`` into the store, one after another, in the background.
        ``since`` None: from each stored series' first bar (ValueError if one is not stored yet)."""
        source = self._source(venue)
        if source is None:
            raise ValueError(f"{venue} has no history to download (known: {', '.join(self.sources()) or 'none'})")
        tf = int(timeframe_ms)
        starts = download_starts(self.store, venue, symbols, tf, since)
        if until is None:
            now = self._clock.now_ms()
            until = now - now % tf
        job = DownloadJob(venue, list(symbols), tf)
        job._future = self._run(self._download(job, source, starts, int(until)))
        job._future.add_done_callback(job._ended)
        return job

    def poll(self) -> None:
        """Apply what the worker loaded (on the engine's loop; the kernel's step calls this)."""
        while self._done:
            try:
                self._done.popleft()()
            except Exception:  # noqa: BLE001 - one symbol's trouble must not stop the others' history
                log.exception("applying loaded history failed")

    def bars_before(self, symbol: str, until: int, n: int) -> Bars:
        """Up to ``n`` stored bars of ``symbol`` opening before ``until`` (a synchronous read: the store's
        readers take no lock). Empty for the sim and unknown symbols."""
        inst = self._instruments.get(symbol)
        if inst is None or inst.venue == "sim" or n <= 0:
            return Bars(16, self.timeframe_ms, symbol)
        tf = self.timeframe_ms
        try:
            stored = self.store.read(inst.data_venue, inst.symbol, tf, until - 2 * n * tf, until)
        except BarStoreError as exc:  # a damaged store: the strategy starts on the live bars; the log says why
            log.warning("%s: the stored history cannot be read (%s); Strategy.history has only the live bars",
                        symbol, exc)
            return Bars(16, tf, symbol)
        return stored.slice(max(stored.n - n, 0)) if stored.n > n else stored

    def close(self) -> None:
        self._closed = True
        if self._worker is not None:
            self._worker.close(list(self._sources.values()))
            self._worker = None

    # --------------------------------------------------------------------------------------- live bars
    def _on_bar(self, bar: Bar) -> None:
        inst = self._instruments.get(bar.symbol)
        if inst is None or inst.venue == "sim" or bar.timeframe_ms != self.timeframe_ms or self._closed:
            return
        left = self._skip.get(bar.symbol, 0 if bar.symbol in self._seen else 1)  # the first began before we listened
        self._seen.add(bar.symbol)
        if left:
            self._skip[bar.symbol] = left - 1
            return
        if self._source(inst.data_venue) is None:
            return
        self._run(self._append(inst.data_venue, inst.symbol, bar))

    def _on_venue_status(self, status: VenueStatus) -> None:
        if status.connected:
            self._refresh_source(status.venue)
            return
        for sym in self._bars.series:  # the bar forming now and the first after the outage miss its trades
            inst = self._instruments.get(sym)
            if inst is not None and inst.venue == status.venue:
                self._skip[sym] = 2

    async def _append(self, venue: str, symbol: str, bar: Bar) -> None:
        try:
            await asyncio.to_thread(self.store.append_bar, venue, symbol, bar.timeframe_ms, bar.ts, bar.open,
                                    bar.high, bar.low, bar.close, bar.volume)
        except Exception as exc:  # noqa: BLE001 - the live market goes on; the store's trouble is said once
            log.warning("%s: the closed bar at %d was not stored: %s", bar.symbol, bar.ts, exc)

    # -------------------------------------------------------------------------------------- worker side
    def _source(self, venue: str) -> Any:
        if venue not in self._sources:
            self._sources[venue] = self._source_for(venue)  # None too: asked once
        return self._sources[venue]

    def _refresh_source(self, venue: str) -> None:
        """A venue (re)connected, perhaps with new settings: its history source follows them."""
        old = self._sources.get(venue)
        if old is None or self._closed:
            return
        new = self._source_for(venue)
        if getattr(new, "config", None) != getattr(old, "config", None):
            self._sources[venue] = new
            self._run(old.close())

    def _run(self, coro: Any) -> concurrent.futures.Future:
        if self._closed:  # the terminal is closing: nothing new starts
            coro.close()
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.cancel()
            return future
        if self._worker is None:
            self._worker = _Worker()
        return self._worker.submit(coro)

    def _post(self, fn: Callable[[], None]) -> None:
        self._done.append(fn)

    async def _load(self, st: HistoryStatus, source: Any, tf: int, since: int, until: int) -> None:
        venue, symbol = st.venue, st.symbol
        if st.adjust != "none":
            return await self._load_adjusted(st, source, tf, since, until)
        try:
            stored = await asyncio.to_thread(self.store.read, venue, symbol, tf, since, until)
            self._post(lambda: self._merge(st, stored, None))
            report = await source.fill(self.store, symbol, tf, since, until)
            fresh = await asyncio.to_thread(self.store.read, venue, symbol, tf, since, until)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong is said on the chart
            log.warning("%s history from %s failed: %s", symbol, venue, exc)
            problem, as_of = f"{type(exc).__name__}: {exc}", await self._stored_end(venue, symbol, tf)
            self._post(lambda: self._offline(st, problem, as_of))
            return
        as_of = None if report.complete else await self._stored_end(venue, symbol, tf)
        self._post(lambda: self._merge(st, fresh, report, as_of))

    async def _load_adjusted(self, st: HistoryStatus, source: Any, tf: int, since: int, until: int) -> None:
        """Adjusted prices straight from the venue (not stored: they change with each dividend and split)."""
        try:
            if not hasattr(source, "adjusted"):
                raise ValueError(f"{st.venue} has no adjusted prices (they are for A-shares, through akshare)")
            bars = await source.adjusted(st.symbol, tf, since, until, st.adjust)
        except Exception as exc:  # noqa: BLE001 - said on the chart
            problem = f"{type(exc).__name__}: {exc}"
            self._post(lambda: self._offline(st, f"{st.adjust}-adjusted prices: {problem}", None))
            return
        report = DownloadReport(st.symbol, bars=bars.n)
        self._post(lambda: self._merge(st, bars, report))

    async def _stored_end(self, venue: str, symbol: str, tf: int) -> int | None:
        """The end of the newest stored bar (the "as of" of an offline chart), None if unknown or unreadable."""
        try:
            info = await asyncio.to_thread(self.store.info, venue, symbol, tf)
        except Exception:  # noqa: BLE001 - a damaged store: the problem already says so
            return None
        return None if info is None else info.last + tf

    async def _load_older(self, st: HistoryStatus, source: Any, tf: int, since: int, until: int) -> None:
        venue, symbol = st.venue, st.symbol
        report = None
        try:
            if st.adjust != "none":
                stored = await source.adjusted(symbol, tf, since, until, st.adjust)
                self._post(lambda: self._older_done(st, stored, None, ""))
                return
            stored = await asyncio.to_thread(self.store.read, venue, symbol, tf, since, until)
            if stored.n < (until - since) // tf:
                report = await source.fill(self.store, symbol, tf, since, until)
                stored = await asyncio.to_thread(self.store.read, venue, symbol, tf, since, until)
            if not stored.n and (report is None or report.complete):  # nothing there: go further back once
                info = await asyncio.to_thread(self.store.info, venue, symbol, tf)
                if info is not None and info.first < since:
                    stored = await asyncio.to_thread(self.store.read, venue, symbol, tf, info.first - PAGE * tf,
                                                     since)
        except Exception as exc:  # noqa: BLE001
            log.warning("%s older history from %s failed", symbol, venue, exc_info=True)
            problem = f"{type(exc).__name__}: {exc}"
            self._post(lambda: self._older_done(st, Bars(16, tf, symbol), None, problem))
            return
        self._post(lambda: self._older_done(st, stored, report, ""))

    async def _download(self, job: DownloadJob, source: Any, starts: dict[str, int], until: int) -> None:
        tf = job.timeframe_ms
        for sym in job.symbols:
            job.symbol, job.done, job.total = sym, 0, 0

            def progress(done: int, total: int) -> None:
                job.done, job.total = done, total
            try:
                report = await source.fill(self.store, sym, tf, starts[sym], until, progress=progress)
            except asyncio.CancelledError:
                job.state = "canceled"
                job.message = (f"Canceled during {sym}. What arrived is stored; Download again resumes.")
                raise
            except Exception as exc:  # noqa: BLE001 - said in the dialog
                report = DownloadReport(sym, complete=False, stopped=f"{type(exc).__name__}: {exc}")
            job.reports.append(report)
        failed = [r for r in job.reports if not r.complete]
        job.state = "failed" if failed else "done"
        job.message = "; ".join(describe(r, job.venue, tf) for r in job.reports)

    # ---------------------------------------------------------------------------------- applied on poll
    def _merge(self, st: HistoryStatus, history: Bars, report: DownloadReport | None,
               as_of: int | None = None) -> None:
        tf = st.timeframe_ms
        target = self._target(st.key, tf, st.adjust)
        st.bars_loaded += target.merge_history(history, keep_last=tf == self.timeframe_ms)
        if report is not None:
            if report.complete:
                st.state, st.problem, st.as_of = "ready", "", None
            else:
                self._offline(st, report.stopped, as_of)
        st.version += 1

    def _offline(self, st: HistoryStatus, problem: str, as_of: int | None) -> None:
        st.state = "offline"
        st.as_of = as_of
        st.problem = f"{st.symbol} history could not be refreshed from {st.venue}: {problem}"
        st.version += 1

    def _older_done(self, st: HistoryStatus, history: Bars, report: DownloadReport | None, problem: str) -> None:
        st.older_loading = False
        tf = st.timeframe_ms
        added = self._target(st.key, tf, st.adjust).merge_history(history, keep_last=tf == self.timeframe_ms)
        st.bars_loaded += added
        if problem or (report is not None and not report.complete):
            st.older_retry_at = time.monotonic() + OLDER_RETRY_S
            st.problem = f"older {st.symbol} history could not be loaded from {st.venue}: " \
                         f"{problem or report.stopped}"
        elif not added:
            st.exhausted = True
        st.version += 1


def describe(report: DownloadReport, venue: str, tf: int) -> str:
    """One symbol's download in words, as ``kestrel data download`` says it."""
    label = timeframe_label(tf)
    if report.complete:
        return f"{report.symbol} {label} on {venue}: {report.bars:,} bars stored"
    return (f"{report.symbol} {label} on {venue}: stopped after {report.bars:,} bars: {report.stopped}. "
            f"What arrived is stored; Download again resumes")
