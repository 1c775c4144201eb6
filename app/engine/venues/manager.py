"""``VenueManager``: the one place that wires venues into a Kernel (``kernel.venues``): the sim, real venues
(ccxt), A-shares (akshare), replays; for the window, headless runs and the Venues dock alike.

It registers each adapter with the ExecutionEngine (the only one that sends to adapters), starts and closes
them (``start``/``close``, one lifecycle for every adapter), routes the adapter's market data and status onto
the bus, adds the venue's instruments to the kernel's table (by id: Binance's BTC/USDT@binance beside the sim's
BTC/USDT@sim; an order goes to the venue its instrument names), caches them in
``<profile>/venues/<name>.instruments.json`` so the window can list them before the venue connects, and routes
``ApproveReconciliation`` commands to the venue.
The Venues dock connects a venue with changed settings through ``connect`` and disables or removes one through
``disconnect`` (its settings file says whether it is enabled: ``config.set_enabled``). A ccxt config with
``paper: true`` runs as a ``PaperVenue`` (paper/venue.py): the exchange's live market, no keys, its paper
account opened in the portfolio. ``mode(name)`` says what a venue's orders are ("paper", "live", "sim"), for
views.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from app.engine.core.instruments import Instrument
from app.engine.core.messages import CommandRefused
from app.engine.venues.credentials import CredentialError, Credentials, CredentialStore
from app.engine.venues.events import ApproveReconciliation, ConnectVenue, DisconnectVenue
from app.engine.venues.failover import FeedRouter, load_feeds
from app.engine.venues.reconcile import KernelJournal
from app.engine.venues.subscriptions import MarketSubscriptions
from app.engine.venues.venue_config import (
    AkshareVenueConfig, CcxtVenueConfig, VenueConfig, list_configs, venues_dir,
)

log = logging.getLogger("kestrel.venues")


def cached_instruments(profile: Path, name: str | None = None) -> list[Instrument]:
    """Instruments remembered from earlier connections (all venues, or ``name``)."""
    out = []
    folder = venues_dir(profile)
    pattern = f"{name}.instruments.json" if name else "*.instruments.json"
    for path in sorted(folder.glob(pattern)) if folder.exists() else []:
        try:
            out += [Instrument(**row) for row in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            log.warning("ignoring unreadable instrument cache %s", path)
    return out


def startup_configs(profile: Path) -> list[VenueConfig]:
    """The profile's venue configs that connect when the terminal starts (enabled, autoconnect)."""
    return [c for c in list_configs(profile) if c.enabled and c.autoconnect]


def stored_credentials(profile: Path, venue: str) -> Credentials | None:
    """The venue's keys if they can be read without asking (keyring, or the passphrase in the environment);
    None otherwise: the venue starts with market data only and the Connect dialog can unlock it."""
    try:
        store = CredentialStore(profile)
        return None if store.needs_passphrase else store.get(venue)
    except CredentialError as exc:
        log.warning("credentials of %s not available: %s", venue, exc)
        return None


_DEFINITION = (("tick_size", "tick"), ("lot_size", "lot"), ("min_qty", "minimum quantity"),
               ("max_qty", "maximum quantity"), ("min_notional", "minimum notional"))  # (field, in words)


def kernel_instruments(profile: Path, configs: list[Any]) -> list[Instrument]:
    """The instrument table for a Kernel that will run these venues: the sim's instruments, plus the venues'
    instruments remembered from earlier connections (each venue's symbols are its own instruments, by id:
    the sim's BTC/USDT@sim and Binance's BTC/USDT@binance both trade, each on its venue)."""
    from app.engine.core.instruments import default_instruments

    listed = {(cfg.name, sym) for cfg in configs for sym in getattr(cfg, "symbols", [])}
    out = default_instruments()
    out += [i for i in cached_instruments(profile) if (i.venue, i.symbol) in listed]
    return out


class VenueManager:
    def __init__(self, kernel: Any, *, approval: str = "ask", feeds: dict[str, Any] | None = None) -> None:
        self.kernel = kernel
        self.approval = approval
        self.venues: dict[str, Any] = {}  # name -> adapter (the VenueAdapter contract, venues/base.py)
        self._keys: dict[str, Credentials | None] = {}  # the keys each venue was given (None: data only)
        self._modes: dict[str, str] = {}  # name -> "paper", "live", "sim" of every venue run or saved
        self._saved_modes_read = False
        self.journal = KernelJournal(kernel.execution, kernel.store)
        feeds = load_feeds(kernel.profile) if feeds is None else feeds
        self.router = FeedRouter(kernel.bus.publish, feeds.get("symbols", {}),
                                 stale_s=float(feeds.get("stale_s", 5.0)),
                                 recover_s=float(feeds.get("recover_s", 3.0)), now_ms=kernel.clock.now_ms)
        self._ticker: asyncio.Task | None = None
        self._tasks: set[asyncio.Future] = set()
        kernel.bus.subscribe(ApproveReconciliation, self._on_approve)
        kernel.bus.subscribe(ConnectVenue, self._on_connect)
        kernel.bus.subscribe(DisconnectVenue, self._on_disconnect)
        self.subscriptions = MarketSubscriptions(self)  # SubscribeMarket: the Find symbol dialog's

    def publisher(self, name: str):
        """The ``on_data`` of venue ``name``: through the feed router (failover by priority)."""
        return self.router.publisher(name)

    def add(self, adapter: Any, *, instruments: bool = True, cache: bool = True) -> Any:
        """Register an adapter (sim, replay, akshare, ccxt): the ExecutionEngine sends to it, the manager
        starts and closes it. ``instruments``: add its instruments to the kernel's table now (a ccxt venue's
        arrive when its markets load); ``cache``: remember them in the profile for the next start."""
        if adapter.name in self.venues:
            raise ValueError(f"a venue named {adapter.name!r} is already connected")
        self.kernel.execution.add_venue(adapter)
        self.venues[adapter.name] = adapter
        self._modes[adapter.name] = getattr(adapter, "mode", "")
        if instruments:
            self._add_instruments(adapter.name, adapter.instruments(), cache=cache)
        return adapter

    def add_ccxt(self, config: CcxtVenueConfig, credentials: Credentials | None = None) -> Any:
        """A ccxt exchange with ``credentials`` (None: market data only); a paper one (``config.paper``) never
        gets keys."""
        from app.engine.venues.ccxt.venue import CcxtVenue  # ccxt's own import waits for a real venue

        if config.name in self.venues or config.name == "sim":
            raise ValueError(f"a venue named {config.name!r} is already connected")
        if config.paper:
            return self.add_paper(config)
        venue = CcxtVenue(config, self.kernel.execution.on_report, self.publisher(config.name),
                          credentials=credentials, journal=self.journal, approval=self.approval,
                          now_ms=self.kernel.clock.now_ms,
                          on_instruments=lambda insts, n=config.name: self._add_instruments(n, insts))
        self.add(venue, instruments=False)
        self._keys[config.name] = credentials
        return venue

    def add_paper(self, config: CcxtVenueConfig) -> Any:
        """Paper trading on ``config.exchange``'s live market: its book and trades fill paper orders, nothing
        reaches the exchange; the paper account (``paper_balances`` plus its journaled fills) is opened in the
        portfolio."""
        from app.engine.venues.paper.venue import PaperVenue

        kernel = self.kernel
        venue = PaperVenue(config, kernel.execution.on_report, self.publisher(config.name),
                           now_ms=kernel.clock.now_ms, fills=lambda: list(kernel.store.fills()),
                           on_instruments=lambda insts, n=config.name: self._add_instruments(n, insts))
        self.add(venue, instruments=False)
        self._keys[config.name] = None
        kernel.portfolio.open_paper_account(config.name, config.paper_balances)
        return venue

    def order_features(self, name: str) -> frozenset[str]:
        """What venue ``name`` takes beyond GTC market and limit orders ("IOC", "FOK", "post_only"): its adapter's
        ``order_features``; nothing for a venue not running."""
        return getattr(self.venues.get(name), "order_features", frozenset())

    def mode(self, name: str) -> str:
        """What orders on venue ``name`` are: "paper", "live" (a real exchange), "sim", or "" (unknown). A
        venue not running now is known by its saved config."""
        if name not in self._modes and not self._saved_modes_read:
            self._saved_modes_read = True
            for cfg in list_configs(self.kernel.profile):
                paper = getattr(cfg, "paper", False) or cfg.kind == "akshare"
                self._modes.setdefault(cfg.name, "paper" if paper else "live")
        return self._modes.get(name, "")

    def add_akshare(self, config: AkshareVenueConfig) -> Any:
        """China A-shares (the Connect dialog's "akshare"): quotes polled through akshare on worker threads,
        paper trading under the A-share rules; its instruments are known at once (from the symbols)."""
        from app.engine.venues.akshare.client import AkshareCache, AkshareClient  # imported on first use
        from app.engine.venues.akshare.venue import AkshareVenue

        if config.name in self.venues or config.name == "sim":
            raise ValueError(f"a venue named {config.name!r} is already connected")
        store = self.kernel.store
        venue = AkshareVenue(config.symbols, self.kernel.execution.on_report, self.publisher(config.name),
                             client=AkshareClient(AkshareCache(store.conn)), now_ms=self.kernel.clock.now_ms,
                             fills=lambda: list(store.fills()), quote_interval_s=config.quote_interval_s,
                             fee_rate=config.fee_rate, name=config.name, config=config)
        self.add(venue)
        self._keys[config.name] = None
        return venue

    def add_config(self, config: VenueConfig, credentials: Credentials | None = None) -> Any:
        """A saved venue of either kind (ccxt, akshare) added, not yet started."""
        if isinstance(config, AkshareVenueConfig):
            return self.add_akshare(config)
        return self.add_ccxt(config, credentials)

    def has_keys(self, name: str) -> bool:
        """Does the running venue ``name`` trade with API keys (else: market data only)?"""
        return self._keys.get(name) is not None

    async def connect(self, config: VenueConfig, credentials: Credentials | None = None) -> Any:
        """Connect venue ``config.name``, or re-connect it: with the same settings, only the keys change; with
        changed settings the old connection is closed first and a new one starts (it reconciles the journal
        with the venue, as at start-up). ``credentials`` None keeps the keys the venue has."""
        if config.name == "sim":
            raise ValueError("'sim' is the simulated exchange's name; choose another")
        old = self.venues.get(config.name)
        if credentials is None:
            credentials = self._keys.get(config.name)
        if old is not None and getattr(old, "config", None) == config:
            if isinstance(config, AkshareVenueConfig):
                return old  # no keys to change: it runs as asked
            old.reconnect(credentials)
            self._keys[config.name] = credentials
            return old
        if old is not None:
            await self.disconnect(config.name)
        venue = self.add_config(config, credentials)
        self.start()
        return venue

    async def disconnect(self, name: str) -> bool:
        """Close venue ``name`` and stop running it (disable, remove, or before new settings). Its adapter
        stays registered with the execution engine, closed: an order for it is refused as "not ready" there,
        and its working orders stay at the venue and in the journal. False if it was not running."""
        venue = self.venues.pop(name, None)
        self._keys.pop(name, None)
        if venue is None:
            return False
        try:
            await venue.close()
        except Exception:  # noqa: BLE001 - it is being let go: say so, carry on
            log.exception("closing venue %s failed", name)
        log.info("venue %s disconnected", name)
        return True

    def start(self) -> None:
        """Start connecting every venue on the running loop (progress arrives as VenueStatus)."""
        for venue in self.venues.values():
            venue.start()
        if self.router.priorities and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_router())

    async def _tick_router(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            try:
                self.router.tick()
            except Exception:  # noqa: BLE001 - failover must never stop the loop
                log.exception("feed failover check failed")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        for venue in list(self.venues.values()):
            try:
                await venue.close()
            except Exception:  # noqa: BLE001 - shutting down: the others still close
                log.exception("closing venue %s failed", venue.name)

    def _add_instruments(self, name: str, insts: list[Instrument], cache: bool = True) -> None:
        table = self.kernel.instruments
        before = {i.symbol: i for i in table.values() if i.venue == name}
        for inst in insts:
            table.add(inst)  # by id: the venue's own instrument, beside any other venue's of the same symbol
        self._check_market_changes(name, before, insts)
        if not cache:
            return
        try:
            folder = venues_dir(self.kernel.profile)
            folder.mkdir(parents=True, exist_ok=True)
            rows = [dataclasses.asdict(i) for i in insts]
            (folder / f"{name}.instruments.json").write_text(json.dumps(rows))
        except OSError:
            log.warning("could not cache the instruments of %s", name)

    def _check_market_changes(self, name: str, before: dict[str, Instrument], insts: list[Instrument]) -> None:
        """A venue's markets changed under us (seen when it loads them, at each connection): a changed tick,
        lot or size limit is said, and orders are checked against the new definition from now on; a market the
        venue's config still lists that it no longer has (delisted, suspended) refuses orders until it is
        listed again. Both are alerts and log lines."""
        from app.engine.core.messages import Alert

        risk, now = self.kernel.risk, self.kernel.clock.now_ms()
        listed = {i.symbol for i in insts}
        for inst in insts:
            if risk.unavailable.pop(inst.id, None) is not None:
                log.warning("%s is listed by %s again; orders are accepted", inst.id, name)
            prev = before.get(inst.symbol)
            changed = [f"{label} {getattr(prev, f):g} -> {getattr(inst, f):g}" for f, label in _DEFINITION
                       if prev is not None and getattr(prev, f) != getattr(inst, f)]
            if changed:
                text = (f"{name} changed {inst.symbol}: {', '.join(changed)}. Orders are checked against the new "
                        f"definition; working orders priced on the old one may be refused by the venue.")
                log.warning("%s", text)
                self.kernel.bus.publish(Alert("warning", f"{inst.id}: market definition changed", text, now))
        venue = self.venues.get(name)
        wanted = set(getattr(getattr(venue, "config", None), "symbols", None) or [])
        for sym, prev in before.items():
            if sym in listed or sym not in wanted or prev.id in risk.unavailable:
                continue
            text = (f"{name} no longer lists {sym} (delisted or suspended): orders for {prev.id} are refused until "
                    f"it is listed again. Positions on it stay as they are; remove it from the venue's symbols "
                    f"if it is gone for good.")
            risk.unavailable[prev.id] = text
            log.warning("%s", text)
            self.kernel.bus.publish(Alert("critical", f"{prev.id} is no longer listed", text, now))

    # ------------------------------------------------------------------------ commands (the Venues dock)
    def _on_connect(self, cmd: ConnectVenue) -> None:
        self._run(self.connect(cmd.config, cmd.credentials), cmd, f"connecting {cmd.config.name}")

    def _on_disconnect(self, cmd: DisconnectVenue) -> None:
        self._run(self.disconnect(cmd.name), cmd, f"disconnecting {cmd.name}")

    def _run(self, coro: Any, cmd: Any, what: str) -> None:
        """Run a connect/disconnect on the terminal's loop; a failure is answered with a CommandRefused
        (the dock says it), never raised."""
        def finished(task: asyncio.Future) -> None:
            self._tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.warning("%s failed: %s", what, task.exception())
                self.kernel.bus.publish(CommandRefused.to(cmd, f"{what} failed: {task.exception()}",
                                                          self.kernel.clock.now_ms()))
        try:
            task = asyncio.ensure_future(coro, loop=asyncio.get_running_loop())
        except RuntimeError:  # no loop runs (a test without one): nothing can be connected anyway
            coro.close()
            log.warning("%s skipped: no event loop is running", what)
            return
        self._tasks.add(task)
        task.add_done_callback(finished)

    def _on_approve(self, cmd: ApproveReconciliation) -> None:
        venue = self.venues.get(cmd.venue)
        if venue is None or not getattr(venue, "approve", None) or not venue.approve(cmd.actor):
            log.warning("approval of %s ignored: no reconciliation is pending there", cmd.venue)
