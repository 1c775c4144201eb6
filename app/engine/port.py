"""The port: all the window may use of the engine. Commands go in, read models come out.

Widgets get a ``Port``, never the ``Kernel`` (an import-linter contract: ``app.widgets`` may not import
``app.engine.kernel``). Through it a widget can

SEND        a command on the bus (``send``): an order, a cancel, the kill switches, a reset, a strategy's
            load/start/stop, a venue's connect/disconnect. The engine carries it out or answers with a
            ``CommandRefused`` (and, for commands whose outcome carries news, a ``CommandDone``); ``send``
            returns that answer, since dispatch is synchronous
LISTEN      to events (``subscribe``)
READ        the read models: ``orders``, ``portfolio``, ``risk``, ``market``, ``bars``, ``strategies``,
            ``venues``, ``models`` and ``health`` — numbers the engine computes once, for every view — and
            ``bar_store``, the profile's stored history (series, bars, gaps), and ``history``: a chart's
            history loads and the Data dialog's downloads, run on the history worker; ``markets``: every
            running venue's listable markets and the symbol search (subscribing one is ``SubscribeMarket``)

It cannot reach the execution engine, the risk engine's methods, the store or a venue adapter. The layout a
person arranged (``ui_state``/``save_ui_state``) is the one thing a widget writes besides commands: it is
the window's own state, kept in the profile; so are the person's ``watchlists`` (the lists' own edits).
"""
from __future__ import annotations

import asyncio

from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from app.engine.core.instruments import make_id
from app.engine.core.messages import CommandDone, CommandRefused
from app.engine.core.watchlists import Watchlists
from app.engine.ml.overview import ModelsOverview
from app.engine.venues.catalog import Market, MarketCatalog

Kernel = Any  # the Kernel builds its Port (app/engine/kernel.py); the port may not import it (a lower layer)


class OrdersView:
    """The orders the journal knows (working and done) and the fills, as the blotter, ladder and chart show
    them. ``version`` moves whenever an order changes."""

    def __init__(self, kernel: Kernel) -> None:
        self._execution, self._store = kernel.execution, kernel.store
        self._emulator = getattr(kernel, "emulator", None)
        self._groups = getattr(kernel, "groups", None)

    @property
    def version(self) -> int:
        return self._execution.version

    def get(self, client_order_id: str) -> Any:
        return self._execution.orders.get(client_order_id)

    def all(self) -> Iterable[Any]:
        return self._execution.orders.values()

    def working(self, symbol: str | None = None) -> Iterable[Any]:
        """Orders at a venue (or possibly: sent, answer unknown)."""
        return self._execution.working_orders(symbol)

    def open(self, symbol: str | None = None) -> list[Any]:
        """Orders not ended: at a venue, or stops armed in Kestrel (``Order.emulated``)."""
        return list(self._execution.working_orders(symbol)) + self._execution.armed_orders(symbol)

    def protection(self, symbol: str) -> tuple[Any, Any, float]:
        """A position's open protection: (its stop-loss, its take-profit, the quantity they protect); a stop the
        trader placed alone on the other side counts as its stop-loss."""
        sl, tp, qty = self._groups.protection(symbol) if self._groups is not None else (None, None, 0.0)
        if sl is None:
            for o in self.open(symbol):
                if o.order_type.is_triggered and not o.fired and o.list_id is None:
                    sl, qty = o, max(qty, o.leaves_qty)
                    break
        return sl, tp, qty

    def trigger_of(self, order: Any) -> float | None:
        """Where a stop fires now: an armed trailing stop's moving trigger (None while it waits for its activation
        price), else its trigger price."""
        if order.emulated and order.status.value == "ARMED" and self._emulator is not None:
            return self._emulator.trigger_of(order)
        return order.trigger_price

    def fills(self) -> list[dict[str, Any]]:
        """Every fill in the journal, oldest first; ``symbol`` is the instrument id (the journal keeps the
        venue's symbol beside the venue)."""
        rows = self._store.fills()
        for row in rows:
            row["symbol"] = make_id(row["symbol"], row["venue"])
        return rows


class PortfolioView:
    """Cash, equity and positions (marked to market)."""

    def __init__(self, kernel: Kernel) -> None:
        self._portfolio = kernel.portfolio
        self.positions: Mapping[str, Any] = MappingProxyType(kernel.portfolio.positions)

    @property
    def version(self) -> int:
        return self._portfolio.version

    @property
    def base_currency(self) -> str:
        return self._portfolio.base_currency

    @property
    def cash(self) -> Mapping[str, float]:
        return MappingProxyType(self._portfolio.cash)

    def equity(self) -> float:
        return self._portfolio.equity()

    def paper_balances(self) -> dict[str, dict[str, float]]:
        """Each paper venue's account: its starting balances plus what its fills moved, per currency."""
        return self._portfolio.paper_balances()


class RiskView:
    """The trading state and its scopes, the limits' utilisation and the recent denials."""

    def __init__(self, kernel: Kernel) -> None:
        self._risk = kernel.risk

    @property
    def version(self) -> int:
        return self._risk.version

    @property
    def state(self) -> Any:
        return self._risk.state

    @property
    def state_reason(self) -> str:
        return self._risk.state_reason

    @property
    def venue_states(self) -> Mapping[str, tuple[Any, str]]:
        return MappingProxyType(self._risk.venue_states)

    @property
    def strategy_states(self) -> Mapping[str, tuple[Any, str]]:
        return MappingProxyType(self._risk.strategy_states)

    @property
    def denials(self) -> list[Any]:
        return list(self._risk.denials)

    def utilization(self) -> list[tuple[str, float, float]]:
        return self._risk.utilization()


class BarsView:
    """The live bars per symbol at the chart's base timeframe."""

    def __init__(self, kernel: Kernel) -> None:
        self._bars = kernel.bars
        self.series: Mapping[str, Any] = MappingProxyType(kernel.bars.series)

    @property
    def timeframe_ms(self) -> int:
        return self._bars.timeframe_ms

    def get(self, symbol: str) -> Any:
        """``symbol``'s live bars (created on first use)."""
        return self._bars.get(symbol)


class HistoryView:
    """Stored and venue history: a chart asks for a symbol's (``open``) and for older pages (``older``) and
    reads how it went (``status``); the Data dialog downloads (``download`` returns a job to poll)."""

    def __init__(self, kernel: Kernel) -> None:
        self._history = kernel.history

    def open(self, symbol: str, timeframe_ms: int | None = None, adjust: str = "none") -> bool:
        return self._history.open(symbol, timeframe_ms, adjust)

    def older(self, symbol: str, timeframe_ms: int | None = None, adjust: str = "none") -> bool:
        return self._history.older(symbol, timeframe_ms, adjust)

    def status(self, symbol: str, timeframe_ms: int | None = None, adjust: str = "none") -> Any:
        return self._history.status(symbol, timeframe_ms, adjust)

    def bars(self, symbol: str, timeframe_ms: int, adjust: str = "none") -> Any:
        """The venue's candles of a timeframe longer than the live bars' (after ``open(symbol, tf)``)."""
        return self._history.bars(symbol, timeframe_ms, adjust)

    def sources(self) -> list[str]:
        return self._history.sources()

    def download(self, venue: str, symbols: list[str], timeframe_ms: int, since: int | None,
                 until: int | None) -> Any:
        return self._history.download(venue, symbols, timeframe_ms, since, until)


class StrategiesView:
    """The plugins found, the instances loaded and their runners (status, orders, fills, log)."""

    def __init__(self, kernel: Kernel) -> None:
        self._manager = kernel.strategies

    @property
    def version(self) -> int:
        return self._manager.version

    @property
    def plugins(self) -> list[Any]:
        return list(self._manager.plugins)

    def plugin(self, name: str) -> Any:
        return self._manager.plugin(name)

    @property
    def orphans(self) -> list[dict[str, Any]]:
        return list(self._manager.orphans)

    @property
    def runners(self) -> Mapping[str, Any]:
        return MappingProxyType(self._manager.runners)

    @property
    def changed(self) -> set[str]:
        """Plugins whose file changed on disk since they were loaded."""
        return set(self._manager.changed)

    def last_price(self, symbol: str) -> float:
        """The price a strategy's PnL is marked at (book mid, else last trade; NaN before any)."""
        return self._manager.host.last_price(symbol)


class VenuesView:
    """Each venue's connection state and mode (paper, live, sim), the sim's trading sessions, which venues
    trade with keys, and the venue board (feeds, errors, reconciliation proposals)."""

    def __init__(self, kernel: Kernel) -> None:
        self._sim, self._manager, self._bus = kernel.sim, kernel.venues, kernel.bus
        self.status: Mapping[str, Any] = MappingProxyType(kernel.venue_status)
        self._board: Any = None

    def session_status(self, symbol: str) -> Any:
        return self._sim.session_status(symbol)

    def has_keys(self, name: str) -> bool:
        return self._manager.has_keys(name)

    def mode(self, name: str) -> str:
        """What orders on venue ``name`` are: "paper", "live", "sim", or "" (unknown)."""
        return self._manager.mode(name)

    def order_features(self, name: str) -> frozenset[str]:
        """What venue ``name`` takes beyond GTC market and limit orders: "IOC", "FOK", "post_only"."""
        return self._manager.order_features(name)

    def keeps_stop(self, venue: str, order_type: Any, source: Any, trail_amount: float | None = None,
                   trail_pct: float | None = None, activation: float | None = None) -> bool:
        """Whether venue ``venue`` keeps this stop itself (else Kestrel emulates it), as the gate decides (a
        trailing stop's distance and activation price decide too)."""
        from app.engine.risk.checks import keeps_natively

        return keeps_natively(order_type, source, self._manager.order_features(venue), trail_amount, trail_pct,
                              activation)

    def queue_ahead(self, venue: str, client_order_id: str) -> float | None:
        """The volume estimated ahead of a resting paper order in its price level's queue (``QueueModel``);
        None: not a paper venue, not resting, or below the depth the book shows."""
        fn = getattr(self._manager.venues.get(venue), "queue_ahead", None)
        return fn(client_order_id) if fn is not None else None

    @property
    def board(self) -> Any:
        """Built on first use: it follows the bus from then on."""
        if self._board is None:
            from app.engine.venues.board import VenueBoard

            self._board = VenueBoard(self._bus, self._manager.router)
        return self._board


class MarketsView:
    """Every running venue's listable markets, subscribed or not, and the symbol search over them (the Find
    symbol dialog). A market becomes streamed and tradeable with the ``SubscribeMarket`` command."""

    def __init__(self, kernel: Kernel) -> None:
        self._catalog = MarketCatalog(kernel.venues.venues, kernel.instruments)

    def search(self, text: str, venue: str | None = None, limit: int = 200) -> list[Market]:
        """Markets matching ``text`` (symbol, base, quote or name; "茅台" finds 600519.SH), best first."""
        return self._catalog.search(text, venue, limit)

    def get(self, market_id: str) -> Market | None:
        return self._catalog.get(market_id)

    def subscribed(self, market: Market) -> bool:
        """Is it in the instrument table already (streamed, tradeable)?"""
        return self._catalog.subscribed(market)

    def venues(self) -> list[str]:
        return self._catalog.venues()


class Health:
    """The terminal's own vital signs for the status bar."""

    def __init__(self, kernel: Kernel) -> None:
        self._bus, self._loop, self._host = kernel.bus, kernel.loop_monitor, kernel.strategies.host

    @property
    def published(self) -> int:
        """Messages published on the bus so far."""
        return self._bus.published

    def loop_lag_p99(self) -> float:
        return self._loop.p99()

    @property
    def order_latency(self) -> Any:
        return self._host.order_latency


class AlertsView:
    """The trader's alert rules and what they fired (the Alerts dock, the chart's alert lines)."""

    def __init__(self, kernel: Kernel) -> None:
        self._alerts = kernel.alerts

    @property
    def version(self) -> int:
        return self._alerts.version

    def rules(self, symbol: str | None = None) -> list[Any]:
        """Every rule (``AlertRule``), by id; or those on ``symbol``."""
        rules = sorted(self._alerts.rules.values(), key=lambda r: int(r.id))
        return rules if symbol is None else [r for r in rules if r.symbol == symbol]

    def get(self, rule_id: str) -> Any:
        return self._alerts.rules.get(rule_id)

    def note(self, rule_id: str) -> str:
        """What the engine said when it last armed the rule (e.g. that the price is already across), or ""."""
        return self._alerts.notes.get(rule_id, "")

    def history(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest firings first, with their delivery per channel."""
        return self._alerts.store.history(limit)


class NewsView:
    """The news the profile holds and its sources' state (the News dock, the chart's news markers)."""

    def __init__(self, kernel: Kernel) -> None:
        self._service = kernel.news
        self._store = kernel.news_store
        self._reader = kernel.news_reader
        self._fundamentals: Any = None
        self._fund_executor: Any = None

    @property
    def version(self) -> tuple[int, int]:
        """Changes when items arrive (here or from ``kestrel news fetch`` in another process: the newest id) or a
        source's state changes."""
        return self._service.version, self._store.max_id()

    @staticmethod
    def key(symbol: str) -> str:
        """The key news about instrument ``symbol`` is filed under: ``600519.SH``, ``BTC``."""
        from app.engine.news.text import NewsKey

        return NewsKey.of(symbol)

    def recent(self, symbol: str | None = None, kinds: tuple[str, ...] = (), limit: int = 200) -> list[Any]:
        """``NewsRecord``s, newest arrival first: about ``symbol`` (an instrument id) or all, of ``kinds``."""
        return self._store.recent(self.key(symbol) if symbol else None, kinds=kinds, limit=limit)

    def markers(self, symbol: str, since_ms: int | None = None, limit: int = 500) -> list[tuple[int, str, float]]:
        """(arrival ms, title, score) of the items about ``symbol``, for the chart's time axis."""
        return [(r.arrived_ms, r.title, r.score) for r in
                self._store.recent(self.key(symbol), since_ms=since_ms, limit=limit)]

    def sentiment(self, symbol: str, window_s: float = 3600.0) -> float:
        return self._reader.sentiment(symbol, window_s)

    def sources(self) -> list[dict[str, Any]]:
        """Each source: name, kind, target, poll_s, enabled and its live status (state, counts, last error)."""
        self._service.reload_sources()
        return [{"name": st.name, "kind": st.kind, "target": st.target, "poll_s": st.poll_s,
                 "enabled": st.enabled, "status": st.status()} for st in self._service.sources.values()]

    def scorer_problems(self) -> list[str]:
        return list(self._service.scorer_errors)

    def add_source(self, name: str, kind: str, target: str = "", poll_s: float | None = None) -> None:
        """Add (or change) a source; ``ValueError`` with the reason when it cannot be."""
        self._service.add_source(name, kind, target, poll_s)

    def remove_source(self, name: str) -> None:
        self._service.remove_source(name)

    # ---------------------------------------------------------------------------------------- fundamentals
    def fundamentals(self, symbol: str) -> tuple[dict[str, Any], int | None]:
        """The stored figures of A-share ``symbol`` (field -> ``Figure``) and when they were fetched."""
        from app.engine.news.fundamentals import is_a_share

        key = self.key(symbol)
        if not is_a_share(key):
            return {}, None
        return self._fund_store().latest(key), self._fund_store().fetched_ms(key)

    async def refresh_fundamentals(self, symbol: str) -> Any:
        """Fetch ``symbol``'s valuation and report figures through akshare (on the news executor, with a deadline);
        a ``FundamentalsResult`` (stored figures marked stale where a call failed). ``NotAShare`` for others."""
        from app.engine.news.fundamentals import AkshareFundamentals, fetch_fundamentals
        from app.engine.venues.executor import DeadlineExecutor

        if self._fund_executor is None:  # made on a thread: its first use imports requests (~0.1 s)
            self._fund_executor = await asyncio.to_thread(DeadlineExecutor, 1, 2, "fundamentals")
        return await fetch_fundamentals(self.key(symbol), AkshareFundamentals(), self._fund_executor,
                                        store=self._fund_store())

    def _fund_store(self) -> Any:
        if self._fundamentals is None:
            from app.engine.news.fundamentals import FundamentalsStore

            self._fundamentals = FundamentalsStore(self._store.conn)
        return self._fundamentals

    def poll_now(self, name: str) -> None:
        """Poll ``name`` at the next second, even while paused (the trader asked)."""
        st = self._service.sources.get(name)
        if st is not None:
            st.next_due = st.paused_until = 0.0
            self._service.version += 1


class Port:
    def __init__(self, kernel: Kernel) -> None:
        self._bus, self._clock, self._store = kernel.bus, kernel.clock, kernel.store
        self._new_order_id = kernel.new_order_id
        self.profile: Path = kernel.profile
        self.ui = kernel.settings.ui
        self.instruments: Mapping[str, Any] = MappingProxyType(kernel.instruments)  # grows as venues connect
        self.instrument_id: Callable[[str], str] = kernel.instruments.canonical  # "ETH/USDT" -> "ETH/USDT@sim"
        self.market = kernel.market
        self.orders = OrdersView(kernel)
        self.portfolio = PortfolioView(kernel)
        self.risk = RiskView(kernel)
        self.bars = BarsView(kernel)
        self.bar_store = kernel.bar_store  # stored history (read; the Data dialog's operations write)
        self.history = HistoryView(kernel)
        self.strategies = StrategiesView(kernel)
        self.venues = VenuesView(kernel)
        self.markets = MarketsView(kernel)
        self.alerts = AlertsView(kernel)
        self.news = NewsView(kernel)
        self.watchlists = Watchlists(kernel.store, kernel.instruments)  # the watchlist dock's (window state)
        self._models: ModelsOverview | None = None
        self._make_models = lambda: ModelsOverview(kernel)  # on first use: the window's, not a headless run's
        self.health = Health(kernel)
        self._start_alerts = lambda: list(getattr(kernel, "audit_alerts", ()))  # set by Kernel.start

    @property
    def models(self) -> ModelsOverview:
        """The models strategies hold and the registry (read from the database on first use)."""
        if self._models is None:
            self._models = self._make_models()
        return self._models

    # -------------------------------------------------------------------------------------- commands
    def send(self, command: Any) -> CommandRefused | CommandDone | None:
        """Publish ``command``; return the engine's ``CommandRefused`` for it, else its ``CommandDone`` (for
        commands whose outcome carries news, e.g. the name a loaded strategy got), else None."""
        answers: list[Any] = []
        name = type(command).__name__
        keep = lambda m: answers.append(m) if m.command == name else None  # noqa: E731
        off_refused = self._bus.subscribe(CommandRefused, keep)
        off_done = self._bus.subscribe(CommandDone, keep)
        try:
            self._bus.publish(command)
        finally:
            off_refused()
            off_done()
        refused = [a for a in answers if isinstance(a, CommandRefused)]
        return refused[0] if refused else (answers[0] if answers else None)

    def subscribe(self, kind: type, handler: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``handler`` for each ``kind`` event; returns the function that unsubscribes."""
        return self._bus.subscribe(kind, handler)

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def new_order_id(self) -> str:
        return self._new_order_id()

    @property
    def start_alerts(self) -> list[Any]:
        """Alerts raised while the engine started, before any widget could subscribe."""
        return self._start_alerts()

    # -------------------------------------------------------------------------------------- window state
    def ui_state(self, key: str) -> Any:
        """The window's saved state under ``key`` (layout, geometry, docked charts), or None."""
        return self._store.get_setting(key)

    def save_ui_state(self, key: str, value: Any) -> None:
        self._store.set_setting(key, value)
