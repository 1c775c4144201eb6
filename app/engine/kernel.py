"""The Kernel wires the engine: store -> bus -> market state -> portfolio -> execution -> risk -> venue.

The same Kernel runs headless (``kestrel run --headless``), under the GUI (the window reads its state),
and in tests (with a ``SimClock`` and ``step``-by-step control). It never imports Qt.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any
from pathlib import Path

from app.config import Settings
from app.engine.audit.log import AuditError, AuditLog
from app.engine.audit.recorder import AuditRecorder
from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock, LiveClock
from app.engine.core.heartbeat import Heartbeat
from app.engine.core.ids import ClientOrderIdFactory
from app.engine.core.instruments import Instrument, InstrumentTable, default_instruments
from app.engine.core.messages import (
    Alert, AlertFired, Bar, OrderStatus, OrderType, Side, SubmitOrder, TradeTick, VenueStatus,
)
from app.engine.core.profile_migration import MigrationError, migrate_profile, record_migration
from app.engine.core.store import SCHEMA_VERSION, ProfileLock, Store, StoreError
from app.engine.data.bar_store import BarStore
from app.engine.data.bars import BarAggregator, synthetic_history
from app.engine.data.market import MarketState
from app.engine.ml.commands import ModelCommands
from app.engine.ml.serve import ModelSource
from app.engine.oms.execution import ExecutionEngine
from app.engine.oms.portfolio import Portfolio
from app.engine.alerts.engine import AlertEngine
from app.engine.alerts.notify import AlertNotifier
from app.engine.alerts.store import AlertStore
from app.engine.news.reader import NewsReader
from app.engine.news.service import NewsService
from app.engine.news.store import NewsStore, ashare_names
from app.engine.news.text import NewsKey, SymbolMatcher
from app.engine.news.worker import NewsProcess
from app.engine.orders.emulator import OrderEmulator
from app.engine.orders.groups import OrderGroups
from app.engine.port import Port
from app.engine.risk.engine import RiskEngine
from app.engine.strategy.manager import StrategyManager
from app.engine.strategy.runner import StrategyFault
from app.engine.venues.manager import VenueManager
from app.engine.venues.market_history import MarketHistory
from app.engine.venues.sim import SimVenue

log = logging.getLogger("kestrel.kernel")
_PROBE_TS = 1_700_013_600_000  # Wed 2023-11-15 10:00 Beijing time: A-shares trade then, so they have volume
SEED_BARS = 300  # synthetic bars of history per sim instrument at start (base timeframe)


class LoopMonitor:
    """Event-loop lag: how late each periodic wake-up was. The status bar shows p99 over the last ~30 s."""

    def __init__(self, size: int = 600) -> None:
        self.lags_ms: collections.deque[float] = collections.deque(maxlen=size)

    def record(self, lag_ms: float) -> None:
        self.lags_ms.append(max(lag_ms, 0.0))

    def p99(self) -> float:
        if not self.lags_ms:
            return 0.0
        xs = sorted(self.lags_ms)
        return xs[min(len(xs) - 1, int(0.99 * len(xs)))]


class Kernel:
    def __init__(self, profile: Path, settings: Settings, clock: Clock | None = None,
                 instruments: list[Instrument] | None = None) -> None:
        self.profile = Path(profile)
        self.settings = settings
        self.clock = clock or LiveClock()
        self.lock = ProfileLock(self.profile)
        try:
            migrated = migrate_profile(self.profile)  # an older schema brought to this one, backed up first
            self.store = Store(self.profile / "kestrel.db")
        except MigrationError as exc:
            self.lock.release()
            raise StoreError(str(exc)) from exc
        except StoreError:
            self.lock.release()
            raise
        self.bus = MessageBus()
        try:
            self.audit = AuditLog(self.store.conn, self.clock)
        except AuditError as exc:
            self.store.close()
            self.lock.release()
            raise StoreError(f"The audit trail in {self.store.path} cannot be continued: {exc}") from exc
        self.audit_recorder = AuditRecorder(self.bus, self.audit)  # first subscriber: commands before effects
        if record_migration(self.store.conn, self.audit):  # on the trail: what was renamed, where the old is kept
            log.warning("profile %s: migrated to schema %d; backup in %s", self.profile, SCHEMA_VERSION,
                        migrated.backup if migrated else "an earlier start's backup")
        insts = instruments or default_instruments()
        self.instruments = InstrumentTable(insts)  # by id, "BTC/USDT@sim"; a bare symbol one venue lists finds it
        self.market = MarketState(self.bus, self.instruments.canonical)
        self.bars = BarAggregator(self.bus, settings.ui.chart_timeframe_s * 1000, self.instruments.canonical)
        self.bar_store = BarStore(self.profile)  # <profile>/bars/: history, downloads, live bar closes
        self.portfolio = Portfolio(self.bus, self.store, self.instruments, settings.sim.starting_cash,
                                   settings.fx_to_base, settings.base_currency)
        self.execution = ExecutionEngine(self.bus, self.store, self.clock)
        self.risk = RiskEngine(self.bus, self.store, self.clock, self.execution, self.instruments, self.market,
                               self.portfolio, settings.risk)
        # stops the venue does not keep; on the bus before any strategy, so a stop fires ahead of their handlers
        self.emulator = OrderEmulator(self.bus, self.execution, self.risk, self.instruments, self.portfolio,
                                      self.market)
        self.risk.checks.can_emulate = True
        self.emulator.fallback = settings.orders.fallback_to_emulation
        self.groups = OrderGroups(self.bus, self.execution, self.risk, self.emulator, self.instruments,
                                  self.portfolio, self.market)  # brackets and a position's protection
        self.sim = SimVenue([i for i in insts if i.venue == "sim"], self.execution.on_report,
                               self.bus.publish, seed=settings.sim.seed, latency_ms=settings.sim.latency_ms,
                               start_ts_ms=self.clock.now_ms())
        self.venues = VenueManager(self)  # the one place that wires venues: the sim now, others when added
        self.execution.instruments = self.instruments  # a move's held order stays on the lot after late fills
        self.risk.checks.venue_features = self.venues.order_features  # IOC / FOK / post-only where they are
        self.venues.add(self.sim, instruments=False)  # its instruments are the table's sim rows already
        self.history = MarketHistory(self.bar_store, self.bars, self.instruments, self.clock, self.bus,
                                     self._history_source, self._saved_venues)  # charts', strategies', downloads
        self.loop_monitor = LoopMonitor()
        self.new_order_id = ClientOrderIdFactory()
        self.strategies = StrategyManager(self.bus, self.clock, self.store, self.execution, self.portfolio,
                                          self.market, self.instruments, self.profile, self.new_order_id)
        self.strategies.host.models = ModelSource(conn=self.store.conn)  # Strategy.model(): registry + bundled
        self.strategies.host.bar_history = self.bar_history  # Strategy.history(): warm-up at start
        self.strategies.start_refusal = self.risk.start_refusal  # no strategy starts while HALTED
        self.heartbeat = Heartbeat(self.profile)
        self.venue_status: dict[str, VenueStatus] = {}
        self.bus.subscribe(VenueStatus, self._on_venue_status)
        self._last_sync = 0.0
        self._stopping = False
        self._closed = False
        self.model_commands = ModelCommands(self.bus, self.clock, self.store, self.profile)  # Models dock
        # a trader's alert rules (issue 21): in the profile's database, evaluated on the bus, shown by the window
        self.alerts = AlertEngine(self.bus, AlertStore(self.store.conn), self.clock, self.market, self.risk,
                                  self.portfolio, self.instruments)
        self.alerts.on_fire.append(self._show_alert)
        self.notifier = AlertNotifier(self.alerts, self.profile, self.bus, self.clock)  # to the rules' channels
        self.alerts.history = self._alert_history
        self.alerts.models = lambda: [(inst, h.name, h) for inst, runner in self.strategies.host.runners.items()
                                      if runner.status.value == "RUNNING" for h in runner.models]
        # news, sentiment and fundamentals (issue 22): sources polled on the loop, items in the profile's database
        self.news_store = NewsStore(self.store.conn)
        self.news = NewsService(self.news_store, self.bus, self.clock.now_ms, watched=self._news_watched,
                                matcher=self._news_matcher,
                                process=NewsProcess(self.profile))  # parsing and scoring (its scorers) there
        self.news_reader = NewsReader(self.news_store, self.clock.now_ms)
        self.strategies.host.news = self.news_reader  # Strategy.news(), Strategy.sentiment(): as of the clock
        self.alerts.sentiment = self.news_reader.sentiment  # sentiment alert rules
        self.alerts.news_key = NewsKey.of
        self.port = Port(self)  # what the window gets: commands in, read models out

    # ----------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Check the audit trail, reconcile the journal with each venue, seed chart history, announce the venues.

        History is seeded before the sim first advances: the sim's clock started when the kernel was built,
        so advancing it to now replays the start-up time (~50 ms on a fresh profile), and a trade in it
        would open the current bar, after which the history (which must end before that bar) was skipped."""
        from app.engine.audit.start import check_at_start

        self.audit_alerts = check_at_start(self.audit, self.bus)  # tampered trail: a critical Alert, never silence
        for venue in self.execution.venue_names():
            self.execution.reconcile(venue)
        self._seed_history()
        self.sim.advance_to(self.clock.now_ms())  # first books and prices
        self.bus.publish(VenueStatus("sim", self.sim.connected, "simulated exchange", self.clock.now_ms()))
        self.heartbeat.beat(self.risk.applied_states(), force=True)
        self.alerts.start()  # the stored rules, armed again
        self.notifier.start()  # the channels, read from the keyring on a thread
        log.info("kernel started: profile %s, trading state %s", self.profile, self.risk.state.value)

    def _seed_history(self) -> None:
        """``SEED_BARS`` synthetic bars before the current one for each sim instrument, ending at its
        opening price (the mid of its first book), so the demo chart joins the live market seamlessly."""
        tf = self.bars.timeframe_ms
        per_bar = {s: rate * tf / 1000.0 for s, rate in self._sim_volume_rates().items()}
        for n, (symbol, inst) in enumerate(self.instruments.items()):
            if inst.venue != "sim":
                continue  # other venues bring their own history
            price = self.sim.last_price(symbol)
            series = self.bars.get(symbol)
            if price and series.n == 0:
                series.extend(*synthetic_history(price, self.clock.now_ms(), SEED_BARS, tf, inst.tick_size,
                                                 self.settings.sim.seed + n, per_bar.get(symbol, 1.0)).T)
            elif series.n:
                log.warning("%s: bars arrived before the history was seeded; the chart starts without it",
                            symbol)

    def _sim_volume_rates(self, seconds: int = 10) -> dict[str, float]:
        """Traded volume per second of each instrument, from a throwaway run of the same market model, so
        the demo history's volume bars match what the live market will print (~60 ms of CPU)."""
        volume: dict[str, float] = {}

        def on_data(msg: object) -> None:
            if isinstance(msg, TradeTick):
                volume[msg.symbol] = volume.get(msg.symbol, 0.0) + msg.size

        probe = SimVenue([i for i in self.instruments.values() if i.venue == "sim"], lambda _r: None,
                            on_data, seed=self.settings.sim.seed + 1, latency_ms=0, start_ts_ms=_PROBE_TS)
        for t in range(50, seconds * 1000 + 1, 50):
            probe.advance_to(_PROBE_TS + t)
        return {s: v / seconds for s, v in volume.items()}

    def step(self) -> None:
        """Advance the venue to now and run the periodic checks. Called by ``run`` or by tests."""
        self.sim.advance_to(self.clock.now_ms())
        mono = time.monotonic()
        if mono - self._last_sync >= 0.25:
            self._last_sync = mono
            self.emulator.persist_trails()  # committed by the tick
            self.risk.tick()
            self.alerts.tick()  # rules changed by `kestrel alerts`, expiries, account rules
            self.heartbeat.beat(self.risk.applied_states())
        self.strategies.tick(self.clock.now_ms())
        self.history.poll()
        self.notifier.drain()  # deliveries' outcomes, channel reads
        self.audit_recorder.flush()

    async def run(self, duration: float | None = None) -> None:
        """Drive the sim venue on the running loop until ``stop()`` or ``duration`` seconds."""
        period = self.settings.sim.step_ms / 1000.0
        loop = asyncio.get_running_loop()
        end = None if duration is None else loop.time() + duration
        self.news.start()  # the news sources' polls (none on a fresh profile)
        while not self._stopping and (end is None or loop.time() < end):
            expected = loop.time() + period
            await asyncio.sleep(period)
            self.loop_monitor.record((loop.time() - expected) * 1000.0)
            try:
                self.step()
            except (Exception, StrategyFault):  # noqa: BLE001 - the terminal keeps running; the log says why
                log.exception("engine step failed; continuing")

    def stop(self) -> None:
        self._stopping = True

    def _show_alert(self, fired: AlertFired, seq: int) -> None:
        """A trader's alert fired: the window's banner, sound and tray take it as an ``Alert``."""
        self.bus.publish(Alert("warning", f"Alert {fired.rule_id}: {fired.title}", fired.message, fired.ts,
                               {"event": "alert_fired", "rule": fired.rule_id, "history": seq}))

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        """The first half of a clean close, while the loop still runs (SIGTERM, SIGINT, log-out, the window
        closed): stop the loop's stepping and every strategy (their orders canceled), then keep the venues
        stepping until every cancel asked for has its answer (none left PENDING_CANCEL), at most
        ``timeout_s``; then every venue closes. ``close`` (after the loop) closes the store."""
        self.stop()
        await self.news.stop()
        log.info("closing: stopping strategies and waiting for pending cancels")
        self.strategies.stop_all("terminal closing")
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while True:
            try:
                self.execution.flush()
                pending = [o for o in self.execution.working.values() if o.status is OrderStatus.PENDING_CANCEL]
                if not pending or loop.time() >= end:
                    break
                self.sim.advance_to(self.clock.now_ms())
                self.risk.tick()
            except (Exception, StrategyFault):  # noqa: BLE001 - closing: report and go on
                log.exception("while closing")
                break
            await asyncio.sleep(0.02)
        if pending:
            log.warning("closing with %d cancel(s) unanswered: %s", len(pending),
                        ", ".join(o.client_order_id for o in pending[:10]))
        await self.venues.close()  # while the loop still runs: a venue's last requests go out
        await asyncio.to_thread(self.history.close)

    def close(self) -> None:
        """Stop strategies, commit what is staged, write the last heartbeat, close the store, free the
        profile. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self.strategies.close()
        self.history.close()
        try:
            self.emulator.persist_trails()  # trailing stops' last water marks
            self.execution.flush()
            self.execution.commit_states()  # order-state rows (acks, cancels) that rode with no commit yet
        except Exception:  # noqa: BLE001 - closing: Store.close still commits what is staged
            log.exception("while closing: committing order states")
        try:
            self.notifier.close()  # what is queued gets one last try; the rest is recorded undelivered
        except Exception:  # noqa: BLE001 - closing: report and go on
            log.exception("while closing: alert delivery")
        if self.news.executor is not None:
            self.news.executor.shutdown()  # a poll still running is abandoned; what it fetched is not stored
        self.news.process.shutdown()
        self.audit_recorder.flush()
        self.heartbeat.beat(self.risk.applied_states(), force=True, closed=True)
        self.store.close()
        self.lock.release()
        log.info("closed: profile %s, trading state %s", self.profile, self.risk.state.value)

    # ------------------------------------------------------------------------------------------ commands
    def submit(self, symbol: str, side: Side, order_type: OrderType, quantity: float,
               price: float | None = None, actor: str = "manual") -> str:
        """Publish a SubmitOrder for instrument ``symbol`` (an id, or a bare symbol one venue lists; its
        venue is where the order goes). It goes through the RiskEngine like every order. Returns its id."""
        inst = self.instruments.get(symbol)
        cid = self.new_order_id()
        self.bus.publish(SubmitOrder(cid, inst.id if inst else symbol, inst.venue if inst else "sim", side,
                                     order_type, quantity, price, actor, ts=self.clock.now_ms()))
        return cid

    def bar_history(self, symbol: str, n: int) -> list[Bar]:
        """The last ``n`` bars of ``symbol`` that have closed by now, oldest first: the live bars, and under
        them what the bar store holds (a real venue's history; ``kestrel data download`` fills it ahead)."""
        series = self.bars.get(symbol)
        tf = self.bars.timeframe_ms
        now = self.clock.now_ms()
        if series.n < n + 1:
            first = int(series.ts[0]) if series.n else now - now % tf
            series.merge_history(self.history.bars_before(symbol, first, n + 1 - series.n))
            self.history.open(symbol)  # and the venue's newest, in the background
        if series.n == 0:
            return []
        ts = series.column("ts")
        end = series.n if ts[-1] + tf <= now else series.n - 1
        start = max(0, end - n)
        cols = [series.column(c)[start:end].tolist() for c in ("ts", "open", "high", "low", "close", "volume")]
        symbol = series.symbol or symbol  # the id
        return [Bar(symbol, tf, int(t), o, h, lo, c, v, True) for t, o, h, lo, c, v in zip(*cols)]

    def _alert_history(self, symbol: str, tf_ms: int, n: int) -> tuple | None:
        """For an indicator alert's warm-up: the last ``n`` closed ``tf_ms`` bars of ``symbol`` as arrays (open,
        high, low, close, volume), resampled from the chart's bars (``bar_history``), and the bar forming now
        (bucket, o, h, l, c, v) from the closed base bars in it; None where ``tf_ms`` is not a multiple of them."""
        import numpy as np

        from app.engine.data.resample import resample

        base = self.bars.timeframe_ms
        if tf_ms < base or tf_ms % base:
            return None
        k = tf_ms // base
        bars = self.bar_history(symbol, (n + 1) * k)
        if not bars:
            return None
        cols = [np.array([getattr(b, f) for b in bars], dtype=np.float64)
                for f in ("open", "high", "low", "close", "volume")]
        ts, o, h, lo, c, v = resample(np.array([b.ts for b in bars], dtype=np.int64), *cols, tf_ms)
        now = self.clock.now_ms()
        forming = None
        if len(ts) and ts[-1] + tf_ms > now:  # the last bucket has not closed: it is the forming bar
            forming = (int(ts[-1]), float(o[-1]), float(h[-1]), float(lo[-1]), float(c[-1]), float(v[-1]))
            ts, o, h, lo, c, v = ts[:-1], o[:-1], h[:-1], lo[:-1], c[:-1], v[:-1]
        return (o[-n:], h[-n:], lo[-n:], c[-n:], v[-n:]), forming

    def _news_watched(self) -> list[str]:
        """News keys of the A-shares with live market data (the per-stock news sources poll these)."""
        keys: list[str] = []
        for symbol in list(self.market.symbols):
            inst = self.instruments.get(symbol)
            if inst is not None and inst.rules == "ashare" and (k := NewsKey.of(inst.symbol)) not in keys:
                keys.append(k)
        return keys

    def _news_matcher(self) -> SymbolMatcher:
        """What items are about: A-share names from akshare's list (when it was fetched), the instruments' crypto
        base assets."""
        tickers = {NewsKey.of(i.symbol) for i in self.instruments.values() if i.rules != "ashare"}
        return SymbolMatcher(ashare_names(self.store.conn), tickers)

    def _saved_venues(self) -> list[str]:
        from app.engine.venues.venue_config import list_configs

        return [c.name for c in list_configs(self.profile)]

    def _history_source(self, venue: str) -> Any:
        """The history source of ``venue`` (for ``MarketHistory``): a ccxt venue's config, or akshare."""
        from app.engine.venues.market_history import AkshareSource, CcxtSource
        from app.engine.venues.venue_config import resolve_config

        if venue == "sim":
            return None
        adapter = self.venues.venues.get(venue)
        if venue == "akshare" or type(adapter).__name__ == "AkshareVenue":
            return AkshareSource()
        if getattr(adapter, "mode", "") == "paper":
            return None  # a paper venue's history is its market's (Instrument.market)
        if adapter is None:  # a paper venue's market with no venue of its own: the paper venue's settings
            paper = [a for a in self.venues.venues.values() if getattr(a, "market", None) == venue
                     and getattr(a, "mode", "") == "paper" and getattr(a, "config", None) is not None]
            from app.engine.venues.venue_config import config_path

            if paper and not config_path(self.profile, venue).exists():
                return CcxtSource(paper[0].config.model_copy(update={"name": venue, "paper": False}))
        config = getattr(adapter, "config", None)
        if adapter is not None and config is None:
            return None  # a replay or other venue with no candles to ask for
        if config is None:
            try:
                config = resolve_config(self.profile, venue)
            except (OSError, ValueError):
                return None
        if getattr(config, "kind", "ccxt") == "akshare":
            return AkshareSource()
        return CcxtSource(config)

    def _on_venue_status(self, status: VenueStatus) -> None:
        self.venue_status[status.venue] = status
