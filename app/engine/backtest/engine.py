"""The event-driven backtester: the live strategy objects, indicators, risk checks and OMS on a simulated clock.

What runs is the terminal's own engine — ``MessageBus``, ``RiskEngine`` (every pre-trade check),
``ExecutionEngine`` (journal, order states, fill de-duplication, on a scratch SQLite file), ``Portfolio``
and ``StrategyHost`` — with one venue swapped in: ``BarVenue``, which fills by these conventions:

- Time: bar ``i`` opens at ``ts[i]`` and closes at ``ts[i] + timeframe``. Each bar is delivered to the
  strategy as its opening print (``on_tick``, at the open time; only to strategies that define
  ``on_tick``) and then as a closed bar (``on_bar``, at the close time, indicators already updated).
- Market orders fill at the first open after they arrive: an order sent while processing bar ``t``
  (``on_bar``) fills at bar ``t+1``'s open; one sent from the opening tick of bar ``t+1`` fills at that
  same open. Slippage moves the fill price against the order by ``slippage_bps``.
- Limit orders fill when a later bar's range reaches their price, at the limit price — or at the open
  when the bar opens through it. The whole quantity fills (no volume model).
- Stops fill at the open when the bar opens through their trigger, else at the trigger when the range
  reaches it (taker, with slippage); a stop-limit likewise when that price is within its limit, else it rests
  as the limit from the next bar. Trailing stops move after each bar, on its close (or its high/low with
  ``trail_on="extremes"``), so the trigger a bar sees was set before it opened (docs/STRATEGIES.md).
- Latency: an order arrives ``latency_ms`` after it was sent and can only fill from the first bar that
  opens at or after its arrival.
- Fees: ``fee`` x notional, in the quote currency, on every fill (maker and taker alike unless set apart).
- Tick mode: every trade print is a tick; bars of ``timeframe_ms`` are built from them; a market order
  fills at the next print's price, a limit order at its price when a later print reaches it.

China A-shares (``BacktestConfig.rules = "ashare"``; the data's symbol, e.g. "600519.SH" from the file name,
says the board): the A-share rules of ``core/ashare_rules.py`` apply through the same pre-trade check as
live, at the time an order reaches the market, which here is the open of the bar it can fill in (an order
sent at a day's last close meets the next session's opening, as an order placed before the open would; with
daily bars, 09:30 of the next bar's day): sessions and calendar, lots by board, T+1 and no short selling,
price limits from the previous trading day's last close (published as ``DailyLimits`` when the next bar is
on another day). Resting orders expire when their day ends; fills pay ``ashare_rules.fill_fees`` (commission
with its minimum, transfer fee, stamp duty on sells) instead of ``fee``.

The pre-trade checks all apply. By default the desk limits — size (notional, quantity, position) and the
loss kills (daily loss, drawdown) — are lifted, so a backtest measures the strategy rather than the
profile's limits; ``live_limits`` applies a profile's limits as they are. The stale-data trip (K5) watches
the wall clock and is live-only.
"""
from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.backtest.bar_venue import CURRENCY, DAY_MS, VENUE, BarVenue
from app.engine.backtest.journal import ScratchStore
from app.engine.backtest.options import BacktestConfig, backtest_limits
from app.engine.backtest.stats import BacktestResult, build_result
from app.engine.core import ashare_rules
from app.engine.core.bus import MessageBus
from app.engine.core.clock import SimClock
from app.engine.core.instruments import Instrument, InstrumentTable, ashare_instrument, split_id
from app.engine.backtest.brackets import BacktestBrackets
from app.engine.core.messages import Bar, BookSnapshot, OrderDenied, OrderFilled, Side, SubmitOrder, TradeTick
from app.engine.data.bar_files import TradeData, trades_to_bars
from app.engine.data.bars import Bars
from app.engine.data.market import MarketState
from app.engine.oms.execution import ExecutionEngine
from app.engine.oms.portfolio import Portfolio
from app.engine.risk.engine import RiskEngine
from app.engine.strategy.base import Strategy
from app.engine.strategy.host import StrategyHost
from app.engine.strategy.runner import StrategyStatus


def _message_maker(cls: type) -> Any:
    """A constructor for a frozen, slotted message that sets its slots directly.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, about 3x the cost of
    writing the slot; the backtester builds two messages per bar (the opening tick and the bar), and that
    was a quarter of its per-bar time. The object made is the same: same class, same fields, equal to
    ``cls(...)``, and frozen (the class's ``__setattr__`` still refuses changes).
    """
    names = [f for f in cls.__dataclass_fields__]
    env = {"_new": object.__new__, "_cls": cls, **{f"_set_{n}": getattr(cls, n).__set__ for n in names}}
    body = "".join(f"    _set_{n}(m, {n})\n" for n in names)
    code = f"def make({', '.join(names)}):\n    m = _new(_cls)\n{body}    return m\n"
    exec(code, env)  # noqa: S102 - generated from the dataclass's own field names
    return env["make"]


_make_bar = _message_maker(Bar)
_make_tick = _message_maker(TradeTick)


class _BacktestHost(StrategyHost):
    """The live host, plus the price being processed (``price``: the quote every order is checked against,
    see ``Backtest._run``). The loops keep ``index`` (the bar or print being processed) and ``closing`` up to
    date for the tags of ``Backtest``."""

    price = math.nan
    symbol = ""
    index = 0
    closing = False  # tick mode: True while the bar that closes before print ``index`` is fed

    def last_price(self, symbol: str) -> float:
        return self.price if symbol == self.symbol else super().last_price(symbol)


@dataclass
class Backtest:
    """One backtest: ``Backtest(cls, params, data, config).run()`` -> ``BacktestResult``.

    Orders and fills in the result carry ``step``, the data event during which they happened: with bars,
    bar ``i``'s opening print is ``2i`` and its close (``on_bar``) ``2i + 1``; with ticks, print ``i`` is
    ``2i`` and the bar that closes just before it ``2i - 1`` (the last bar: ``2n - 1``). So everything a run
    did with the first ``k`` bars (or prints) has ``step < 2k`` — what the look-ahead check compares.
    """

    cls: type
    params: dict[str, Any]
    data: Bars | TradeData
    config: BacktestConfig = field(default_factory=BacktestConfig)
    timeframe_ms: int | None = None  # tick mode: the strategy's bar size (default 60 s)

    def run(self) -> BacktestResult:
        tmp = Path(tempfile.mkdtemp(prefix="kestrel-bt-"))
        try:
            return self._run(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _run(self, tmp: Path) -> BacktestResult:
        cfg = self.config
        if cfg.trail_on not in ("close", "extremes"):
            raise BacktestError(f"unknown trail_on {cfg.trail_on!r}: use 'close' or 'extremes'")
        data = self.data
        ticks = isinstance(data, TradeData)
        bars = trades_to_bars(data, self.timeframe_ms or 60_000) if ticks else data
        inst = _instrument(split_id(data.symbol)[0], cfg)
        symbol = inst.id  # "BTC/USDT@backtest": what its bars, orders and fills carry, as live ones do
        instruments = InstrumentTable([inst])
        first_ts = int(data.ts[0])
        clock = SimClock(first_ts)
        store = ScratchStore(tmp / "backtest.db")
        bus = MessageBus()
        orders: list[dict[str, Any]] = []
        opens = None if ticks else bars.ts.tolist()

        def step() -> int:
            i = host.index
            if opens is not None:  # a bar's close is always later than its open
                return 2 * i + (clock.now_ms() != opens[i])
            return 2 * i - 1 if host.closing else 2 * i

        def on_submit(cmd: SubmitOrder) -> None:  # subscribed before the risk gate: in the order sent
            orders.append({"time": cmd.ts, "step": step(), "side": cmd.side.value,
                           "type": cmd.order_type.value, "qty": cmd.quantity, "price": cmd.price,
                           "client_order_id": cmd.client_order_id})

        def quote(cmd: SubmitOrder) -> None:  # subscribed before the risk gate, which reads it
            """Bars publish no quotes: before the gate sees an order (a plugin's or any other), the current
            price becomes the quote it and the portfolio see, a two-sided book time-stamped now. A stop's
            trigger is thus checked against the price its sender saw (the close in ``on_bar``)."""
            px = host.price
            if cmd.symbol == symbol and px == px:
                bus.publish(BookSnapshot(symbol, ((px, 1e300),), ((px, 1e300),), clock.now_ms()))

        bus.subscribe(SubmitOrder, on_submit)
        bus.subscribe(SubmitOrder, quote)
        bus.subscribe(SubmitOrder, lambda cmd: brackets.before_gate(cmd))  # a close ends its brackets' children
        market = MarketState(bus, instruments.canonical)
        portfolio = Portfolio(bus, store, instruments, {CURRENCY: cfg.cash}, {CURRENCY: 1.0}, CURRENCY)
        execution = ExecutionEngine(bus, store, clock)
        risk = RiskEngine(bus, store, clock, execution, instruments, market, portfolio,
                          cfg.live_limits or backtest_limits())
        venue = BarVenue(inst, execution.on_report, cfg, clock, bus.publish)
        execution.add_venue(venue)
        risk.checks.venue_features = lambda name: venue.order_features if name == venue.name else frozenset()
        brackets = BacktestBrackets(bus, risk, execution, lambda: host.price)  # children linked at the venue
        if venue.ashare:
            venue.set_ashare_times(data.ts, not ticks and bars.timeframe_ms >= DAY_MS)
            risk.checks.market_time_ms = venue.at_market
        host = _BacktestHost(bus, clock, execution, portfolio, market, instruments)
        host.symbol = symbol
        if cfg.model_db:
            from app.engine.ml.serve import ModelSource

            host.models = ModelSource(db_path=cfg.model_db)
            host.news = _news_reader(cfg.model_db, clock)  # Strategy.news(): what had arrived by the bar
        store.begin_scratch()
        fills: list[OrderFilled] = []
        fill_steps: list[int] = []

        def on_fill(fill: OrderFilled) -> None:
            fills.append(fill)
            fill_steps.append(step())

        bus.subscribe(OrderFilled, on_fill)
        denials: list[Any] = []
        bus.subscribe(OrderDenied, denials.append)
        params = dict(self.params)
        params["symbol"] = symbol
        runner = host.add("backtest", self.cls, params)
        elapsed, stopped = self._play(host, runner, store, bars, venue, clock)
        result = build_result(bars, fills, cfg.cash, elapsed, len(data), denials, risk.state.value)
        result.stats["stopped_early"] = stopped
        for row, step in zip(result.fills, fill_steps):
            row["step"] = step
        result.orders = orders
        return result

    def _play(self, host: _BacktestHost, runner, store: ScratchStore, bars: Bars, venue: BarVenue,
              clock: SimClock) -> tuple[float, str]:
        """Start the strategy, feed it the data, stop it, close the host and the journal: (the replay's
        seconds, why the strategy stopped before the end of the data, or "")."""
        data = self.data
        t0 = time.perf_counter()
        try:
            if not host.start("backtest"):
                raise BacktestError(f"strategy {runner.plugin} failed to start: {runner.reason}")
            t0 = time.perf_counter()  # the replay's speed: not on_start's one-off indicator compilation
            if isinstance(data, TradeData):
                self._loop_ticks(data, bars.timeframe_ms, host, runner, venue, clock)
            else:
                self._loop_bars(bars, host, runner, venue, clock)
            if runner.status is StrategyStatus.FAULTED:
                raise BacktestError(f"strategy {runner.plugin} faulted: {runner.reason}")
            stopped = runner.reason if runner.status is StrategyStatus.STOPPED else ""  # e.g. a risk halt
            host.stop("backtest", "end of data")
        finally:
            host.close()
            store.close()
        return time.perf_counter() - t0, stopped

    # ------------------------------------------------------------------------------------------- loops
    @staticmethod
    def _loop_bars(b: Bars, host: _BacktestHost, runner, venue: BarVenue, clock: SimClock) -> None:
        """The conventions of the module docstring, one bar at a time. This loop is the backtester's hot
        path: it does ``StrategyHost.feed_bar``'s work inline (indicators fed from the bar's numbers, the
        plugin call guarded by a local ``try``) and builds messages with ``_make_*``; the behaviour is the
        same."""
        strategy = runner.strategy
        wants_tick = type(strategy).on_tick is not _base_on_tick
        symbol, tf = b.symbol, b.timeframe_ms
        # a bar closes at ts + timeframe, or when the next one opens if that is sooner (gaps, odd data)
        close_ts = np.minimum(b.ts + tf, np.r_[b.ts[1:], b.ts[-1] + tf]).tolist()
        rows = zip(b.ts.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(), b.close.tolist(),
                   b.volume.tolist(), close_ts)
        failed = host.call_failed
        on_tick, on_bar = strategy.on_tick, strategy.on_bar
        running = StrategyStatus.RUNNING
        buy = Side.BUY
        make_bar, make_tick = _make_bar, _make_tick
        indicators = strategy._indicators
        n_ind = -1
        by_close: list[tuple[Any, Any]] = []  # (indicator, stream.update) for close-only indicators
        others: list[Any] = []  # any other indicator: fed through its ``feed(bar)``
        day_ends = venue.day_ends  # A-shares only
        for i, (ts, o, h, l, c, v, cts) in enumerate(rows):
            clock.ms = ts  # strictly increasing, checked when the data was loaded
            host.index = i
            if venue.pending:  # a fill can stop the strategy (on_fill raised, a risk halt): check after each
                venue.at_open(o, ts)
                if runner.status is not running:
                    break
            if wants_tick:
                host.price = o
                try:
                    on_tick(make_tick(symbol, o, 0.0, buy, f"open-{i}", ts))
                except BaseException as exc:  # noqa: BLE001 - StrategyHost.call_plugin's guard, inlined
                    failed(runner, on_tick, exc)
                if runner.status is not running:
                    break
                if venue.pending:
                    venue.at_open(o, ts)
                    if runner.status is not running:
                        break
            if venue.pending:
                venue.in_range(h, l, ts, ts)
                if runner.status is not running:
                    break
            clock.ms = cts
            host.price = c
            if day_ends is not None and day_ends[i]:
                venue.day_ended(i, c)
            bar = make_bar(symbol, tf, ts, o, h, l, c, v, True)
            if len(indicators) != n_ind:  # a strategy may create indicators after on_start
                n_ind = len(indicators)
                by_close = [(ind, ind.stream.update) for ind in indicators if ind.inputs == ("close",)]
                others = [ind for ind in indicators if ind.inputs != ("close",)]
            for ind, update in by_close:
                ind.prev = ind.value
                ind.value = update(c)
            for ind in others:
                ind.prev = ind.value
                ind.value = ind.feed(bar)
            try:
                on_bar(bar)
            except BaseException as exc:  # noqa: BLE001 - StrategyHost.call_plugin's guard, inlined
                failed(runner, on_bar, exc)
            if runner.status is not running:
                break
            if venue.trailing:  # after on_bar: a trailing stop sent there starts at this close
                venue.after_bar(o, h, l, c, ts, cts)

    @staticmethod
    def _loop_ticks(t: TradeData, tf: int, host: _BacktestHost, runner, venue: BarVenue, clock: SimClock) -> None:
        strategy = runner.strategy
        symbol = t.symbol
        ts_l, p_l, s_l = t.ts.tolist(), t.price.tolist(), t.size.tolist()
        cur = None  # [bucket, open, high, low, close, volume]
        for i in range(len(ts_l)):
            ts, p = ts_l[i], p_l[i]
            bucket = ts - ts % tf
            if cur is not None and bucket != cur[0]:
                clock.ms = max(clock.ms, min(cur[0] + tf, ts))
                host.index, host.closing = i, True
                host.price = cur[4]
                host.feed_bar(runner, _make_bar(symbol, tf, *cur, True))
                host.closing = False
                cur = None
                if runner.status is not StrategyStatus.RUNNING:
                    return
            clock.ms = max(clock.ms, ts)
            host.index = i
            if venue.pending:
                venue.at_open(p, ts)
                if venue.pending:
                    venue.in_range(p, p, ts, ts)
                if runner.status is not StrategyStatus.RUNNING:
                    return
            if cur is None:
                cur = [bucket, p, p, p, p, s_l[i]]
            else:
                cur[2] = max(cur[2], p)
                cur[3] = min(cur[3], p)
                cur[4] = p
                cur[5] += s_l[i]
            host.price = p
            if venue.day_ends is not None and venue.day_ends[i]:
                venue.day_ended(i, p)
            host.call_plugin(runner, strategy.on_tick, _make_tick(symbol, p, s_l[i], Side.BUY, f"t{i}", ts))
            if runner.status is not StrategyStatus.RUNNING:
                return
            if venue.trailing:  # each print is a bar here: trailing stops trail on it
                venue.after_bar(p, p, p, p, ts, ts)
        if cur is not None:
            clock.ms = max(clock.ms, cur[0] + tf)
            host.index, host.closing = len(ts_l), True
            host.price = cur[4]
            host.feed_bar(runner, _make_bar(symbol, tf, *cur, True))


def _instrument(symbol: str, cfg: BacktestConfig) -> Instrument:
    """The backtest's one instrument: the A-share board's rules for ``rules="ashare"``, otherwise no tick,
    lot or size limits and the configured fees."""
    if cfg.rules == ashare_rules.RULES:
        return dataclasses.replace(ashare_instrument(symbol, VENUE), quote=CURRENCY)
    if cfg.rules:
        raise BacktestError(f"unknown market rules {cfg.rules!r}: use 'ashare' or none")
    return Instrument(symbol, VENUE, "BASE", CURRENCY, tick_size=0.0, lot_size=0.0, min_qty=0.0,
                      max_qty=math.inf, maker_fee=cfg.fee if cfg.maker_fee is None else cfg.maker_fee,
                      taker_fee=cfg.fee)


class BacktestError(RuntimeError):
    """The backtest could not run to the end (the strategy faulted or failed to start)."""


_base_on_tick = Strategy.on_tick


def _news_reader(db_path: str, clock: Any) -> Any:
    """The profile's stored news, as of the backtest's clock (an item is seen from the bar its arrival falls in)."""
    from app.engine.news.reader import NewsReader
    from app.engine.news.store import NewsStore

    try:
        return NewsReader(NewsStore(db_path), clock.now_ms)
    except Exception:  # noqa: BLE001 - no readable news: Strategy.news() is empty, as with no news stored
        return None


def run_backtest(cls: type, params: dict[str, Any], data: Bars | TradeData,
                 config: BacktestConfig | None = None, timeframe_ms: int | None = None) -> BacktestResult:
    return Backtest(cls, params, data, config or BacktestConfig(), timeframe_ms).run()
