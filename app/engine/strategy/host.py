"""StrategyHost: runs strategy objects against the engine, live and in backtests alike.

INSTANCES   a ``Runner`` per running strategy instance: the plugin object, its parameters, status
            (STOPPED / RUNNING / FAULTED), its own position book, orders and log lines
GUARD       every call into plugin code goes through ``call_plugin``: an exception moves that instance to
            FAULTED, cancels its orders through the OMS and raises an alert; nothing else is affected
ORDERS      ``submit`` publishes a ``SubmitOrder`` with actor ``strategy:<instance>``: the RiskEngine is
            the only way out. Order events are routed back by the order's actor
LATENCY     ``order_latency``: from a market event reaching the host to its order having passed risk and been
            handed to the venue (for a zero-latency venue, acknowledged), for the status bar
MODELS      ``load_model`` resolves ``Strategy.model(ref)`` through ``models`` (registry, files, bundled)
KILL        a global HALTED (K1) stops every running strategy; ``strategy:<name>`` HALTED (K2) stops that
            one. A reset never restarts anything: a person presses Start

The live ``StrategyManager`` feeds it from the bus; the backtester feeds it bars directly. The strategy
code, its indicators, the risk checks and the OMS are the same objects in both.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

from app.engine.strategy.base import Indicator, Strategy

from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock
from app.engine.core.ids import ClientOrderIdFactory
from app.engine.core.instruments import Instrument
from app.engine.core.latency import LatencyStats
from app.engine.core.messages import (Alert, Bar, BookSnapshot, CancelAllOrders, CancelOrder, ModifyOrder,
                                      NewsArrived, OrderDenied, OrderFilled, OrderStatus, OrderType, OrderUpdated, Side,
                                      SubmitBracket, SubmitOrder, TimeInForce, TradeTick, TradingState,
                                      TradingStateChanged, TriggerSource)
from app.engine.data.market import MarketState
from app.engine.news.text import NewsKey
from app.engine.oms.execution import ExecutionEngine
from app.engine.oms.portfolio import Portfolio, Position
from app.engine.strategy.params import validate_params
from app.engine.strategy.runner import ACTOR_PREFIX, Runner, StrategyStatus, StrategyStopped

log = logging.getLogger("kestrel.strategies")
PRIME_BARS = 1000  # bars of history fed to a starting strategy's indicators (a 200-bar SMA is valid at once)


class _RunnerLog(logging.Handler):
    """Keeps each strategy's own log lines for the strategy manager's log view."""

    def __init__(self, host: "StrategyHost") -> None:
        super().__init__(logging.INFO)
        self.host = host

    def emit(self, record: logging.LogRecord) -> None:
        instance = record.name.rsplit(".", 1)[-1]
        runner = self.host.runners.get(instance)
        if runner is not None:
            try:
                runner.log_lines.append(f"{record.levelname[0]} {record.getMessage()}")
                runner.version += 1
            except Exception:  # noqa: BLE001 - a bad log format in a plugin must not break logging
                pass


def _bar_field(name: str) -> Callable[[Bar], float]:
    if name == "session":
        return lambda bar: float(bar.ts // 86_400_000)
    return lambda bar: getattr(bar, name)


class StrategyHost:
    def __init__(self, bus: MessageBus, clock: Clock, execution: ExecutionEngine, portfolio: Portfolio,
                 market: MarketState, instruments: dict[str, Instrument],
                 new_order_id: Callable[[], str] | None = None) -> None:
        self.bus = bus
        self.clock = clock
        self.execution = execution
        self.portfolio = portfolio
        self.market = market
        self.instruments = instruments
        self.new_order_id = new_order_id or ClientOrderIdFactory()
        self.runners: dict[str, Runner] = {}
        self.version = 0
        self._by_symbol: dict[str, list[Runner]] = {}
        self._instance_of: dict[str, str] = {}  # client order id -> instance, while the order is working
        self.models: Any = None  # a ml.serve.ModelSource; None: bundled model and model folders only
        self.bar_history: Callable[[str, int], list[Bar]] | None = None  # live: the terminal's closed bars
        self.news: Any = None  # a news.reader.NewsReader (Strategy.news, Strategy.sentiment); None: no news
        self.order_latency = LatencyStats()
        self._t0 = 0  # perf_counter_ns when the market event being dispatched reached the host (0: none)
        self._bar_t0: tuple[str, int] | None = None  # a closed bar's t0, for the tick that closed it
        self._handler = _RunnerLog(self)
        logging.getLogger("kestrel.strategy").addHandler(self._handler)
        bus.subscribe(OrderUpdated, self._on_order_updated)
        bus.subscribe(OrderDenied, self._on_denied)
        bus.subscribe(OrderFilled, self._on_fill)
        bus.subscribe(TradingStateChanged, self._on_trading_state)
        bus.subscribe(NewsArrived, self._on_news)

    def close(self) -> None:
        logging.getLogger("kestrel.strategy").removeHandler(self._handler)

    # ---------------------------------------------------------------------------------------- lifecycle
    def add(self, instance: str, cls: type, params: dict[str, Any]) -> Runner:
        if instance in self.runners:
            raise ValueError(f"a strategy instance named {instance!r} already exists")
        if not instance.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"instance name {instance!r}: use letters, digits, '_' and '-' only")
        params = self.validate(cls, params)
        runner = Runner(instance, getattr(cls, "name", "") or cls.__name__, cls, params)
        self.runners[instance] = runner
        self.touch(runner)
        return runner

    def validate(self, cls: type, params: dict[str, Any] | None) -> dict[str, Any]:
        """``validate_params``, and the ``symbol`` parameter made the instrument's id (a bare "BTC/USDT" that
        one venue lists becomes "BTC/USDT@sim"; one that several list is refused, naming the choices)."""
        params = validate_params(cls, params)
        if isinstance(params.get("symbol"), str) and params["symbol"]:
            params["symbol"] = self.instrument_id(params["symbol"])
        return params

    def instrument_id(self, symbol: str) -> str:
        """The id of the instrument ``symbol`` names (an id, or a bare symbol one venue lists), which a
        strategy's bars, ticks and fills carry; ValueError naming the choices for a symbol several venues list."""
        try:
            inst = self.instruments.get(symbol)
        except KeyError as exc:  # AmbiguousSymbol: "BTC/USDT is listed by 2 venues: write one of ..."
            raise ValueError(str(exc)) from None
        return inst.id if inst is not None else symbol

    def remove(self, instance: str) -> None:
        runner = self.runners[instance]
        if runner.status is StrategyStatus.RUNNING:
            self.stop(instance, "removed")
        del self.runners[instance]
        self._reindex()

    def start(self, instance: str, state: dict[str, Any] | None = None) -> bool:
        """Create a fresh strategy object, restore ``state`` and call ``on_start``. False if it faulted."""
        runner = self.runners[instance]
        if runner.status is StrategyStatus.RUNNING:
            return True
        if runner.symbol and "@" not in runner.symbol:  # no venue listed it when it was added: one may now
            try:
                runner.params["symbol"] = self.instrument_id(runner.symbol)
            except ValueError as exc:  # several do now: say which to choose, do not guess
                log.warning("strategy %s: %s", instance, exc)
        strategy = self._instantiate(runner)
        if strategy is None:
            return False
        strategy.state = dict(state or {})
        runner.strategy = strategy
        runner.models = []
        runner.symbols = {runner.symbol} if runner.symbol else set()
        runner.status, runner.reason = StrategyStatus.RUNNING, ""
        self._reindex()
        if not self.call_plugin(runner, strategy.on_start):
            return False
        primed = self._prime_indicators(runner)
        log.info("strategy %s started (%s %s)%s", instance, runner.plugin, runner.params,
                 f"; its indicators primed with {primed} bars of history" if primed else "")
        self.touch(runner)
        return True

    def _prime_indicators(self, runner: Runner) -> int:
        """Feed the indicators ``on_start`` created the closed bars before now (live: the terminal's history;
        a backtest has none before its data), as ``feed_bar`` would but without calling ``on_bar``: a 200-bar
        SMA is valid at the first live bar, not 200 bars later. Returns how many bars were fed."""
        indicators = runner.strategy._indicators if runner.strategy is not None else []
        if not indicators or not runner.symbol:
            return 0
        bars = self.history(runner.symbol, PRIME_BARS)
        for bar in bars:
            for ind in indicators:
                ind.prev = ind.value
                ind.value = ind.feed(bar)
        return len(bars)

    def stop(self, instance: str, reason: str = "stopped") -> dict[str, Any]:
        """Call ``on_stop``, cancel the instance's working orders, return its state for saving."""
        runner = self.runners[instance]
        state: dict[str, Any] = {}
        if runner.status is StrategyStatus.RUNNING and runner.strategy is not None:
            runner.status = StrategyStatus.STOPPED  # first: on_stop cannot send more orders
            self.call_plugin(runner, runner.strategy.on_stop, fault_on_error=False)
            state = self._state_of(runner)
            runner.reason = reason
            self.bus.publish(CancelAllOrders(actor="strategy-manager", strategy=instance, ts=self.clock.now_ms()))
            log.info("strategy %s stopped: %s", instance, reason)
        self._reindex()
        self.touch(runner)
        return state

    def _instantiate(self, runner: Runner) -> Strategy | None:
        try:
            strategy = runner.cls()
            strategy._bind(self, runner.instance, runner.params)
        except BaseException as exc:  # noqa: BLE001 - plugin constructor
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not self.contains_exits:
                raise
            self._fault(runner, f"could not be created: {type(exc).__name__}: {exc}")
            return None
        return strategy

    def _state_of(self, runner: Runner) -> dict[str, Any]:
        state = getattr(runner.strategy, "state", None)
        return dict(state) if isinstance(state, dict) else {}

    # ------------------------------------------------------------------------------------------- guard
    def call_plugin(self, runner: Runner, fn: Callable[..., Any], *args: Any, fault_on_error: bool = True) -> bool:
        try:
            fn(*args)
            return True
        except BaseException as exc:  # noqa: BLE001 - includes the watchdog's StrategyFault
            self.call_failed(runner, fn, exc, fault_on_error)
            return False

    #: Does ``sys.exit()`` or ``KeyboardInterrupt`` in plugin code fault only that strategy? The live host:
    #: yes (the terminal handles its signals on the loop, so neither comes from outside). A backtest run from
    #: a shell: no, Ctrl+C stops the run.
    contains_exits = False

    def call_failed(self, runner: Runner, fn: Callable[..., Any], exc: BaseException,
                     fault_on_error: bool = True) -> None:
        """What ``call_plugin`` does when plugin code raised ``exc``. Hot loops (``feed_bar``, the backtester) guard
        the call with their own ``try`` and come here, which saves a Python call per guarded callback."""
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not self.contains_exits:
            raise exc
        where = getattr(fn, "__name__", "callback")
        text = f"{where} raised {type(exc).__name__}: {exc}"
        if isinstance(exc, StrategyStopped) and runner.status is not StrategyStatus.RUNNING:
            log.info("strategy %s: %s (it was stopped during the call: %s)", runner.instance, text, runner.reason)
            return
        if fault_on_error:
            self._fault(runner, text)
        else:
            log.error("strategy %s: %s", runner.instance, text)

    def _fault(self, runner: Runner, reason: str) -> None:
        runner.status, runner.reason = StrategyStatus.FAULTED, reason
        self._reindex()
        log.error("strategy %s FAULTED: %s", runner.instance, reason, exc_info=False)
        runner.log_lines.append(f"E FAULTED: {reason}")
        self.bus.publish(CancelAllOrders(actor="strategy-manager", strategy=runner.instance, ts=self.clock.now_ms()))
        self.bus.publish(Alert("warning", f"Strategy {runner.instance} faulted",
                               f"{reason}. Its orders were canceled; the terminal and other strategies go on. "
                               f"Fix the plugin and press Reload, or Start to try again.", self.clock.now_ms(),
                               {"event": "strategy_faulted", "strategy": runner.instance}))
        self.touch(runner)

    def touch(self, runner: Runner) -> None:
        runner.version += 1
        self.version += 1

    def _reindex(self) -> None:
        by: dict[str, list[Runner]] = {}
        for r in self.runners.values():
            if r.status is StrategyStatus.RUNNING:
                for sym in r.symbols:
                    by.setdefault(sym, []).append(r)
        self._by_symbol = by
        self.version += 1

    # ---------------------------------------------------------------------------------------- data in
    def feed_bar(self, runner: Runner, bar: Bar) -> None:
        """Update the instance's indicators with a closed bar, then call ``on_bar``."""
        strategy = runner.strategy
        for ind in strategy._indicators:
            ind.prev = ind.value
            ind.value = ind.feed(bar)
        try:
            strategy.on_bar(bar)
        except BaseException as exc:  # noqa: BLE001 - the guard of ``call_plugin``, inlined (hot path)
            self.call_failed(runner, strategy.on_bar, exc)

    def on_bar(self, bar: Bar) -> None:
        if not bar.closed:
            return
        runners = self._by_symbol.get(bar.symbol)
        if not runners:
            return
        outer = self._t0
        self._t0 = outer or time.perf_counter_ns()
        self._bar_t0 = (bar.symbol, self._t0)  # live, the trade that closed the bar comes next
        try:
            for runner in runners:
                if runner.symbol == bar.symbol and runner.status is StrategyStatus.RUNNING:
                    self.feed_bar(runner, bar)
        finally:
            self._t0 = outer

    def on_tick(self, tick: TradeTick) -> None:
        runners = self._by_symbol.get(tick.symbol)
        bar_t0, self._bar_t0 = self._bar_t0, None
        if not runners:
            return
        outer = self._t0  # set when this print is a venue's answer to an order being sent (nested dispatch)
        self._t0 = outer or (bar_t0[1] if bar_t0 is not None and bar_t0[0] == tick.symbol else time.perf_counter_ns())
        try:
            for runner in runners:
                if runner.status is StrategyStatus.RUNNING:
                    self.call_plugin(runner, runner.strategy.on_tick, tick)
        finally:
            self._t0 = outer

    def on_book(self, book: BookSnapshot) -> None:
        runners = self._by_symbol.get(book.symbol)
        if not runners:
            return
        outer = self._t0
        self._t0 = outer or time.perf_counter_ns()
        try:
            for runner in runners:
                if runner.status is StrategyStatus.RUNNING:
                    self.call_plugin(runner, runner.strategy.on_book, book)
        finally:
            self._t0 = outer

    def on_time(self, now_ms: int) -> None:
        for runner in list(self.runners.values()):
            if runner.status is StrategyStatus.RUNNING and runner.timer_s and now_ms >= runner.next_timer_ms:
                runner.next_timer_ms = now_ms + int(runner.timer_s * 1000)
                self.call_plugin(runner, runner.strategy.on_timer, now_ms)

    # ---------------------------------------------------------------------------------------- events in
    def _runner_of_order(self, client_order_id: str) -> Runner | None:
        """The runner of the instance that sent the order (by name: a restarted instance keeps its orders).
        Orders sent in this session are found in ``_instance_of``; others (journaled before a restart, or a
        late report after the order ended) through the journal's actor."""
        instance = self._instance_of.get(client_order_id)
        if instance is None:
            order = self.execution.orders.get(client_order_id)
            if order is None or not order.actor.startswith(ACTOR_PREFIX):
                return None
            instance = order.actor[len(ACTOR_PREFIX):]
        return self.runners.get(instance)

    def _on_order_updated(self, event: OrderUpdated) -> None:
        runner = self._runner_of_order(event.client_order_id)
        if runner is not None:
            runner.version += 1
            if runner.status is StrategyStatus.RUNNING:
                self.call_plugin(runner, runner.strategy.on_order, event)
        if not event.status.is_open:
            self._instance_of.pop(event.client_order_id, None)

    def _on_denied(self, event: OrderDenied) -> None:
        if not event.actor.startswith(ACTOR_PREFIX):
            return
        runner = self.runners.get(event.actor[len(ACTOR_PREFIX):])
        if runner is not None:
            runner.denials += 1
            runner.log_lines.append(f"W denied {event.client_order_id}: {event.reason} {event.message}")
            self.touch(runner)
            if runner.status is StrategyStatus.RUNNING:
                self.call_plugin(runner, runner.strategy.on_order, event)

    def _on_fill(self, fill: OrderFilled) -> None:
        runner = self._runner_of_order(fill.client_order_id)
        if runner is None:
            return
        book = runner.books.get(fill.symbol)
        if book is None:
            book = runner.books[fill.symbol] = Position(fill.symbol)
        book.apply(fill.side, fill.price, fill.quantity)
        book.fees += fill.fee
        book.realized_pnl -= fill.fee
        runner.fills += 1
        self.touch(runner)
        if runner.status is StrategyStatus.RUNNING:
            self.call_plugin(runner, runner.strategy.on_fill, fill)

    def _on_trading_state(self, event: TradingStateChanged) -> None:
        if event.state is not TradingState.HALTED:
            return  # a reset never restarts strategies
        if event.scope == "global":
            targets = [r for r in self.runners.values() if r.status is StrategyStatus.RUNNING]
        elif event.scope.startswith(ACTOR_PREFIX):
            r = self.runners.get(event.scope[len(ACTOR_PREFIX):])
            targets = [r] if r is not None and r.status is StrategyStatus.RUNNING else []
        else:
            return
        for runner in targets:
            self.on_halted(runner, f"halted: {event.reason}")

    def on_halted(self, runner: Runner, reason: str) -> None:
        self.stop(runner.instance, reason)

    # ------------------------------------------------------------------------------- called by plugins
    def make_indicator(self, name: str, params: dict[str, Any]) -> Indicator:
        from app.engine import indicators

        if name not in indicators.registry:
            raise ValueError(f"unknown indicator {name!r}; known: {', '.join(sorted(indicators.registry))}")
        ind = Indicator(name, indicators.stream(name, **params))
        update = ind.stream.update
        if ind.inputs == ("close",):
            ind.feed = lambda bar: update(bar.close)
        elif ind.inputs == ("high", "low", "close"):
            ind.feed = lambda bar: update(bar.high, bar.low, bar.close)
        else:
            getters = tuple(_bar_field(f) for f in ind.inputs)
            ind.feed = lambda bar: update(*[g(bar) for g in getters])
        return ind

    def load_model(self, instance: str, ref: str) -> Any:
        """Resolve, verify and open a model for ``instance`` (raises ``ModelError`` with the reason)."""
        from app.engine.ml.serve import ModelSource

        handle = (self.models or ModelSource()).handle(ref)
        runner = self.runners[instance]
        if getattr(handle, "needs_news", False) and self.news is not None:  # its news features: the stored items
            from app.engine.ml.news_kernels import NewsSeries

            arrived, score = self.news.store.series(NewsKey.of(runner.params.get("symbol", "")), handle.news_scorer)
            handle.add_news(NewsSeries(arrived, score))
        runner.models.append(handle)
        self.touch(runner)
        return handle

    def _on_news(self, ev: NewsArrived) -> None:
        """New items to the models with news features of the strategies on the symbols they are about (before any
        bar that closes after their arrival: the bus delivers in order)."""
        for runner in self.runners.values():
            models = [h for h in runner.models if getattr(h, "needs_news", False)]
            if not models:
                continue
            key = NewsKey.of(runner.params.get("symbol", ""))
            for item in ev.items:
                if key in item.symbols:
                    for h in models:
                        score = item.score if h.news_scorer == "lexicon" else self._score_of(item.id, h.news_scorer)
                        h.on_news(item.arrived_ms, score)

    def _score_of(self, item_id: int, scorer: str) -> float:
        row = self.news.store.conn.execute("SELECT score FROM news_scores WHERE item_id=? AND scorer=?",
                                           (item_id, scorer)).fetchone() if self.news is not None else None
        return math.nan if row is None or row[0] is None else float(row[0])

    def history(self, symbol: str, bars: int) -> list[Bar]:
        if self.bar_history is None or bars <= 0:
            return []
        return self.bar_history(symbol, bars)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def last_price(self, symbol: str) -> float:
        st = self.market.symbols.get(symbol)
        if st is None:
            return math.nan
        if st.book is not None and st.book.mid is not None:
            return st.book.mid
        return st.last or math.nan

    def position(self, instance: str, symbol: str) -> float:
        book = self.runners[instance].books.get(self.instrument_id(symbol))
        return book.quantity if book is not None else 0.0

    def cash(self, symbol: str) -> float:
        inst = self.instruments.get(symbol)
        return self.portfolio.cash.get(inst.quote if inst else "", 0.0)

    def equity(self) -> float:
        return self.portfolio.equity()

    def tick_size(self, symbol: str) -> float:
        inst = self.instruments.get(symbol)
        return inst.tick_size if inst else 0.0

    def lot_size(self, symbol: str) -> float:
        inst = self.instruments.get(symbol)
        return inst.lot_size if inst else 0.0

    def fee_rate(self, symbol: str) -> float:
        inst = self.instruments.get(symbol)
        return inst.taker_fee if inst else 0.0

    def open_orders(self, instance: str) -> list[Any]:
        actor = ACTOR_PREFIX + instance
        return [o for o in (*self.execution.working.values(), *self.execution.armed_orders()) if o.actor == actor]

    def submit(self, instance: str, symbol: str, side: Side, quantity: float, price: float | None, *,
               stop_loss: float | None = None, take_profit: float | None = None, trail: float | None = None,
               tif: str = "GTC", post_only: bool = False, reduce_only: bool = False) -> str:
        runner = self._sending(instance)
        inst = self.instruments.get(symbol)
        cid = self._new_id(instance, runner)
        cmd = SubmitOrder(cid, inst.id if inst else symbol, inst.venue if inst else "", side,
                          OrderType.MARKET if price is None else OrderType.LIMIT, quantity, price,
                          runner.actor, ts=self.clock.now_ms(), tif=TimeInForce(tif.upper()), post_only=post_only,
                          reduce_only=reduce_only)
        if stop_loss is None and take_profit is None and trail is None:
            self.bus.publish(cmd)
        else:
            if trail is not None and stop_loss is not None:
                raise ValueError("a bracket's stop-loss is a price (stop_loss=) or a trailing distance (trail=), "
                                 "not both")
            self.bus.publish(SubmitBracket(f"B{cid}", cmd, take_profit, stop_loss, runner.actor, cmd.ts,
                                           trail=trail))
        if self._t0:
            self.order_latency.record(time.perf_counter_ns() - self._t0)
        return cid

    def submit_stop(self, instance: str, symbol: str, side: Side, quantity: float, trigger: float | None,
             limit: float | None, trail: float | None, trail_pct: float | None, reduce_only: bool,
             source: str) -> str:
        runner = self._sending(instance)
        if trail is not None and trail_pct is not None:
            raise ValueError("a trailing stop trails by a price (trail=) or a percent (trail_pct=), not both")
        trailing = trail is not None or trail_pct is not None
        if not trailing and trigger is None:
            raise ValueError("a stop needs its trigger price (or trail= / trail_pct= for a trailing stop)")
        otype = (OrderType.TRAILING_STOP_LIMIT if limit is not None else OrderType.TRAILING_STOP) if trailing \
            else (OrderType.STOP_LIMIT if limit is not None else OrderType.STOP)
        inst = self.instruments.get(symbol)
        cid = self._new_id(instance, runner)
        self.bus.publish(SubmitOrder(cid, inst.id if inst else symbol, inst.venue if inst else "", side, otype,
                                     quantity, None if trailing else limit, runner.actor, reduce_only=reduce_only,
                                     ts=self.clock.now_ms(), trigger_price=trigger, trail_amount=trail,
                                     trail_pct=trail_pct, limit_offset=limit if trailing else None,
                                     trigger_source=TriggerSource(source.upper())))
        return cid

    def modify_order(self, instance: str, client_order_id: str, price: float | None, quantity: float | None,
               trigger: float | None) -> str:
        runner = self._sending(instance)
        order = self.execution.orders.get(client_order_id)
        keeps = order is not None and order.status is OrderStatus.ARMED  # moved in place by Kestrel
        cid = client_order_id if keeps else self._new_id(instance, runner)
        self.bus.publish(ModifyOrder(client_order_id, price, cid, runner.actor, quantity, self.clock.now_ms(),
                                     trigger_price=trigger))
        return cid

    def _sending(self, instance: str) -> Any:
        runner = self.runners[instance]
        if runner.status is not StrategyStatus.RUNNING:
            raise StrategyStopped(f"strategy {instance} is {runner.status.value}; it cannot send orders")
        return runner

    def _new_id(self, instance: str, runner: Any) -> str:
        cid = self.new_order_id()
        self._instance_of[cid] = instance
        runner.orders_sent += 1
        self.touch(runner)
        return cid

    def cancel(self, instance: str, client_order_id: str) -> None:
        self.bus.publish(CancelOrder(client_order_id, ACTOR_PREFIX + instance, self.clock.now_ms()))

    def cancel_all(self, instance: str) -> None:
        self.bus.publish(CancelAllOrders(actor=ACTOR_PREFIX + instance, strategy=instance, ts=self.clock.now_ms()))

    def set_timer(self, instance: str, seconds: float | None) -> None:
        runner = self.runners[instance]
        runner.timer_s = seconds if seconds and seconds > 0 else None
        runner.next_timer_ms = self.clock.now_ms() + int((runner.timer_s or 0) * 1000)

    def subscribe(self, instance: str, symbols: list[str]) -> None:
        runner = self.runners[instance]
        runner.symbols.update(self.instrument_id(s) for s in symbols)
        self._reindex()
