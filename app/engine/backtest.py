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
- Latency: an order arrives ``latency_ms`` after it was sent and can only fill from the first bar that
  opens at or after its arrival.
- Fees: ``fee`` x notional, in the quote currency, on every fill (maker and taker alike unless set apart).
- Tick mode: every trade print is a tick; bars of ``timeframe_ms`` are built from them; a market order
  fills at the next print's price, a limit order at its price when a later print reaches it.

The pre-trade checks all apply. By default the desk limits — size (notional, quantity, position) and the
loss kills (daily loss, drawdown) — are lifted, so a backtest measures the strategy rather than the
profile's limits; ``live_limits`` applies a profile's limits as they are. The stale-data trip (K5) watches
the wall clock and is live-only.
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.config import RiskSettings
from app.engine.backtest_data import BarData, TradeData, trades_to_bars
from app.engine.backtest_stats import BacktestResult, build_result
from app.engine.bus import MessageBus
from app.engine.clock import SimClock
from app.engine.execution import ExecutionEngine
from app.engine.instruments import Instrument
from app.engine.market import MarketState
from app.engine.messages import (Bar, BookSnapshot, OrderAccepted, OrderCanceled, OrderFilled, OrderType, Side,
                                 TradeTick)
from app.engine.portfolio import Portfolio
from app.engine.risk import RiskEngine
from app.engine.store import Store
from app.engine.strategy_host import StrategyHost, StrategyStatus
from app.engine.venues.base import OpenOrderInfo, VenueOrder

VENUE = "backtest"
CURRENCY = "QUOTE"


@dataclass
class BacktestConfig:
    cash: float = 10_000.0
    fee: float = 0.001
    maker_fee: float | None = None  # None: same as ``fee``
    slippage_bps: float = 0.0
    latency_ms: int = 0
    live_limits: RiskSettings | None = None  # the profile's limits, or None for backtest limits
    model_db: str | None = None  # a profile database: Strategy.model() may name registered models


def backtest_limits() -> RiskSettings:
    """The profile defaults with the size limits lifted (see the module docstring)."""
    return RiskSettings(max_notional_manual=1e300, max_notional_strategy=1e300, max_order_qty={},
                        max_position={}, max_gross_exposure_x_equity=1.0, daily_loss_halt_pct=1e300,
                        daily_loss_strategy_pct=1e300, max_drawdown_pct=1e300)


@dataclass
class _Resting:
    order: VenueOrder
    arrive_ms: int
    filled: bool = False


class BarVenue:
    """A venue that fills against bar opens and ranges (or trade prints) under the documented conventions."""

    name = VENUE

    def __init__(self, instrument: Instrument, on_report, cfg: BacktestConfig, clock: SimClock) -> None:
        self.instrument = instrument
        self._report = on_report
        self._cfg = cfg
        self._clock = clock
        self._taker = cfg.fee
        self._maker = cfg.fee if cfg.maker_fee is None else cfg.maker_fee
        self._slip = cfg.slippage_bps / 10_000.0
        self.pending: list[_Resting] = []
        self._n = 0

    @property
    def connected(self) -> bool:
        return True

    def instruments(self) -> list[Instrument]:
        return [self.instrument]

    def submit(self, order: VenueOrder) -> None:
        now = self._clock.now_ms()
        self._report(OrderAccepted(order.client_order_id, "bt-" + order.client_order_id, order.symbol, now))
        self.pending.append(_Resting(order, now + self._cfg.latency_ms))

    def cancel(self, client_order_id: str) -> None:
        for r in self.pending:
            if r.order.client_order_id == client_order_id and not r.filled:
                r.filled = True
                self._report(OrderCanceled(client_order_id, r.order.symbol, "canceled", self._clock.now_ms()))
        self.pending = [r for r in self.pending if not r.filled]

    def open_orders(self) -> list[OpenOrderInfo]:
        return [OpenOrderInfo(r.order.client_order_id, "bt-" + r.order.client_order_id, r.order.symbol,
                              r.order.side, r.order.quantity, 0.0, r.order.price) for r in self.pending]

    # ----------------------------------------------------------------------------------------- matching
    def at_open(self, price: float, ts: int) -> None:
        """Fill market orders that have arrived, and limits the open trades through, at ``price``."""
        for r in list(self.pending):
            if r.filled or r.arrive_ms > ts:
                continue
            o = r.order
            if o.order_type is OrderType.MARKET:
                px = price * (1.0 + self._slip) if o.side is Side.BUY else price * (1.0 - self._slip)
                self._fill(r, px, self._taker, "TAKER", ts)
            elif (o.side is Side.BUY and price <= o.price) or (o.side is Side.SELL and price >= o.price):
                self._fill(r, price, self._maker, "MAKER", ts)
        if self.pending:
            self.pending = [r for r in self.pending if not r.filled]

    def in_range(self, high: float, low: float, bar_open_ts: int, fill_ts: int) -> None:
        """Fill limits whose price the bar's range reaches, at the limit price."""
        for r in list(self.pending):
            o = r.order
            if r.filled or r.arrive_ms > bar_open_ts or o.order_type is not OrderType.LIMIT:
                continue
            if (o.side is Side.BUY and low <= o.price) or (o.side is Side.SELL and high >= o.price):
                self._fill(r, o.price, self._maker, "MAKER", fill_ts)
        if self.pending:
            self.pending = [r for r in self.pending if not r.filled]

    def _fill(self, r: _Resting, price: float, rate: float, liquidity: str, ts: int) -> None:
        r.filled = True
        o = r.order
        self._n += 1
        self._report(OrderFilled(o.client_order_id, "bt-" + o.client_order_id, f"bt-{self._n}", o.symbol, VENUE,
                                 o.side, price, o.quantity, price * o.quantity * rate, CURRENCY, liquidity, ts))


class _BacktestHost(StrategyHost):
    """The live host, plus: before an order is sent, the current price becomes the quote the risk gate
    and the portfolio see (a two-sided book at that price, time-stamped now)."""

    price = math.nan
    symbol = ""

    def submit(self, instance, symbol, side, quantity, price):  # noqa: ANN001 - same signature as the base
        if symbol == self.symbol and self.price == self.price:
            px = self.price
            self.bus.publish(BookSnapshot(symbol, ((px, 1e300),), ((px, 1e300),), self.clock.now_ms()))
        return super().submit(instance, symbol, side, quantity, price)

    def last_price(self, symbol: str) -> float:
        return self.price if symbol == self.symbol else super().last_price(symbol)


@dataclass
class Backtest:
    """One backtest: ``Backtest(cls, params, data, config).run()`` -> ``BacktestResult``."""

    cls: type
    params: dict[str, Any]
    data: BarData | TradeData
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
        data = self.data
        ticks = isinstance(data, TradeData)
        bars = trades_to_bars(data, self.timeframe_ms or 60_000) if ticks else data
        symbol = data.symbol
        inst = Instrument(symbol, VENUE, "BASE", CURRENCY, tick_size=0.0, lot_size=0.0, min_qty=0.0,
                          max_qty=math.inf, maker_fee=cfg.fee if cfg.maker_fee is None else cfg.maker_fee,
                          taker_fee=cfg.fee)
        instruments = {symbol: inst}
        first_ts = int(data.ts[0])
        clock = SimClock(first_ts)
        store = Store(tmp / "backtest.db")
        for pragma in ("locking_mode=EXCLUSIVE", "journal_mode=OFF", "synchronous=OFF"):
            store.conn.execute(f"PRAGMA {pragma}")  # a scratch journal: speed over durability
        bus = MessageBus()
        market = MarketState(bus)
        portfolio = Portfolio(bus, store, instruments, {CURRENCY: cfg.cash}, {CURRENCY: 1.0}, CURRENCY)
        execution = ExecutionEngine(bus, store, clock)
        risk = RiskEngine(bus, store, clock, execution, instruments, market, portfolio,
                          cfg.live_limits or backtest_limits())
        venue = BarVenue(inst, execution.on_report, cfg, clock)
        execution.add_venue(venue)
        host = _BacktestHost(bus, clock, execution, portfolio, market, instruments)
        host.symbol = symbol
        if cfg.model_db:
            from app.engine.ml.serve import ModelSource

            host.models = ModelSource(db_path=cfg.model_db)
        fills: list[OrderFilled] = []
        bus.subscribe(OrderFilled, fills.append)
        denials: list[Any] = []
        from app.engine.messages import OrderDenied

        bus.subscribe(OrderDenied, denials.append)
        params = dict(self.params)
        params["symbol"] = symbol
        runner = host.add("backtest", self.cls, params)
        t0 = time.perf_counter()
        try:
            if not host.start("backtest"):
                raise BacktestError(f"strategy {runner.plugin} failed to start: {runner.reason}")
            if ticks:
                self._loop_ticks(data, bars.timeframe_ms, host, runner, venue, clock)
            else:
                self._loop_bars(bars, host, runner, venue, clock)
            if runner.status is StrategyStatus.FAULTED:
                raise BacktestError(f"strategy {runner.plugin} faulted: {runner.reason}")
            host.stop("backtest", "end of data")
        finally:
            host.close()
            store.close()
        elapsed = time.perf_counter() - t0
        return build_result(bars, fills, cfg.cash, elapsed, len(data), denials, risk.state.value)

    # ------------------------------------------------------------------------------------------- loops
    @staticmethod
    def _loop_bars(b: BarData, host: _BacktestHost, runner, venue: BarVenue, clock: SimClock) -> None:
        strategy = runner.strategy
        wants_tick = type(strategy).on_tick is not _base_on_tick
        symbol, tf = b.symbol, b.timeframe_ms
        ts_l, o_l, h_l, l_l, c_l, v_l = (b.ts.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(),
                                         b.close.tolist(), b.volume.tolist())
        feed_bar = host.feed_bar
        call = host._call
        on_tick = strategy.on_tick
        running = StrategyStatus.RUNNING
        for i in range(len(ts_l)):
            ts = ts_l[i]
            o = o_l[i]
            clock._ms = ts  # strictly increasing, checked when the data was loaded
            if venue.pending:
                venue.at_open(o, ts)
            if wants_tick:
                host.price = o
                call(runner, on_tick, TradeTick(symbol, o, 0.0, Side.BUY, f"open-{i}", ts))
                if venue.pending:
                    venue.at_open(o, ts)
            if venue.pending:
                venue.in_range(h_l[i], l_l[i], ts, ts)
            close_ts = ts + tf
            nxt = ts_l[i + 1] if i + 1 < len(ts_l) else close_ts
            clock._ms = close_ts if close_ts <= nxt else nxt
            c = c_l[i]
            host.price = c
            feed_bar(runner, Bar(symbol, tf, ts, o, h_l[i], l_l[i], c, v_l[i], True))
            if runner.status is not running:
                break

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
                clock._ms = max(clock._ms, min(cur[0] + tf, ts))
                host.price = cur[4]
                host.feed_bar(runner, Bar(symbol, tf, cur[0], cur[1], cur[2], cur[3], cur[4], cur[5], True))
                cur = None
                if runner.status is not StrategyStatus.RUNNING:
                    return
            clock._ms = max(clock._ms, ts)
            if venue.pending:
                venue.at_open(p, ts)
                if venue.pending:
                    venue.in_range(p, p, ts, ts)
            if cur is None:
                cur = [bucket, p, p, p, p, s_l[i]]
            else:
                cur[2] = max(cur[2], p)
                cur[3] = min(cur[3], p)
                cur[4] = p
                cur[5] += s_l[i]
            host.price = p
            host._call(runner, strategy.on_tick, TradeTick(symbol, p, s_l[i], Side.BUY, f"t{i}", ts))
            if runner.status is not StrategyStatus.RUNNING:
                return
        if cur is not None:
            host.price = cur[4]
            host.feed_bar(runner, Bar(symbol, tf, cur[0], cur[1], cur[2], cur[3], cur[4], cur[5], True))


class BacktestError(RuntimeError):
    """The backtest could not run to the end (the strategy faulted or failed to start)."""


from app.api import Strategy as _Strategy  # noqa: E402

_base_on_tick = _Strategy.on_tick


def run_backtest(cls: type, params: dict[str, Any], data: BarData | TradeData,
                 config: BacktestConfig | None = None, timeframe_ms: int | None = None) -> BacktestResult:
    return Backtest(cls, params, data, config or BacktestConfig(), timeframe_ms).run()


def bars_numpy(data: BarData) -> dict[str, np.ndarray]:
    return {"ts": data.ts, "open": data.open, "high": data.high, "low": data.low, "close": data.close,
            "volume": data.volume}
