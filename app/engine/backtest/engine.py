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

import bisect
import dataclasses
import datetime as dt
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from app.config import RiskSettings
from app.engine.backtest.stats import BacktestResult, build_result
from app.engine.core import store as store_sql  # the journal statements, for the scratch store
from app.engine.core import ashare_rules
from app.engine.core.bus import MessageBus
from app.engine.core.clock import SimClock
from app.engine.core.ids import session_token
from app.engine.core.instruments import Instrument, ashare_instrument
from app.engine.core.messages import (Bar, BookSnapshot, OrderAccepted, OrderCanceled, OrderDenied, OrderFilled,
                                      OrderType, Side, SubmitOrder, TradeTick)
from app.engine.core.store import RiskStateRecord, Store
from app.engine.data.bar_files import BarData, TradeData, trades_to_bars
from app.engine.data.market import MarketState
from app.engine.oms.execution import ExecutionEngine
from app.engine.oms.portfolio import Portfolio
from app.engine.risk.engine import RiskEngine
from app.engine.strategy.host import StrategyHost, StrategyStatus
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
    rules: str = ""  # "ashare": the data is a China A-share, traded under its rules (module docstring)


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
    day: int = 0  # A-shares: the exchange day (days since 1970, Beijing time) the order is good for


_DAY_MS = 86_400_000
_BEIJING_MS = 8 * 3_600_000


def _exchange_days(ts):  # noqa: ANN001, ANN202 - an int or an int64 array
    """Days since 1970 in Beijing time: the exchange day of each timestamp."""
    return (ts + _BEIJING_MS) // _DAY_MS


class BarVenue:
    """A venue that fills against bar opens and ranges (or trade prints) under the documented conventions."""

    name = VENUE

    def __init__(self, instrument: Instrument, on_report, cfg: BacktestConfig, clock: SimClock,
                 on_data=None) -> None:  # noqa: ANN001 - the bus's publish (A-shares: their daily limits)
        self.instrument = instrument
        self._report = on_report
        self._cfg = cfg
        self._clock = clock
        self._taker = cfg.fee
        self._maker = cfg.fee if cfg.maker_fee is None else cfg.maker_fee
        self._slip = cfg.slippage_bps / 10_000.0
        self.pending: list[_Resting] = []
        self._n = 0
        self._trade_prefix = f"bt{session_token()}-"  # unique across runs, like every simulated venue's
        self.ashare = instrument.rules == ashare_rules.RULES
        self.day_ends: list[bool] | None = None  # A-shares: True where the next event is on another day
        self.market_time = None  # A-shares: when an order sent now reaches the market (see ``at_market``)
        if self.ashare:
            self._report = self._with_ashare_fees(on_report)
            self._on_data = on_data

    def set_ashare_times(self, event_ts: np.ndarray, daily: bool) -> None:
        """A-shares: the times orders meet the market (the opens, or each print) and where days end."""
        self._opens = np.asarray(event_ts, dtype=np.int64).tolist()
        self._daily = daily
        days = _exchange_days(np.asarray(event_ts, dtype=np.int64))
        self.day_ends = np.r_[days[1:] != days[:-1], False].tolist()
        self._next_day = np.r_[days[1:], days[-1]].tolist()

    def at_market(self) -> int:
        """When an order sent now reaches the market: the first open (print) at or after its arrival; with
        daily bars, 09:30 of that bar's day. After the last one: its arrival (it will never fill)."""
        t = self._clock.now_ms() + self._cfg.latency_ms
        j = bisect.bisect_left(self._opens, t)
        if j == len(self._opens):
            return t
        t = self._opens[j]
        return ashare_rules.at(ashare_rules.day_of(t), ashare_rules.SESSIONS[0][0]) if self._daily else t

    def day_ended(self, i: int, close: float) -> None:
        """Event ``i`` was its day's last: the next day's limits are set by this close."""
        day = dt.date(1970, 1, 1) + dt.timedelta(days=self._next_day[i])
        self._on_data(ashare_rules.DailyLimits.of(VENUE, self.instrument.symbol, day, close,
                                                  self._clock.now_ms()))

    def _with_ashare_fees(self, on_report):  # noqa: ANN001, ANN202
        def report(event) -> None:  # noqa: ANN001
            if type(event) is OrderFilled:  # each order fills whole here: its commission minimum in one fill
                fees = ashare_rules.fill_fees(event.side.value, event.price, event.quantity, event.ts)
                event = dataclasses.replace(event, fee=fees.total)
            on_report(event)
        return report

    @property
    def connected(self) -> bool:
        return True

    def instruments(self) -> list[Instrument]:
        return [self.instrument]

    def submit(self, order: VenueOrder) -> None:
        now = self._clock.now_ms()
        self._report(OrderAccepted(order.client_order_id, "bt-" + order.client_order_id, order.symbol, now))
        day = _exchange_days(self.at_market()) if self.ashare else 0
        self.pending.append(_Resting(order, now + self._cfg.latency_ms, day=day))

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
        if self.ashare:
            self._expire(ts)
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

    def _expire(self, ts: int) -> None:
        """A-share orders are day orders: those of an earlier day are canceled at this open."""
        today = _exchange_days(int(ts))
        for r in self.pending:
            if r.day < today and not r.filled:
                r.filled = True
                self._report(OrderCanceled(r.order.client_order_id, r.order.symbol,
                                           "expired at the 15:00 close (day order)", ts))
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
        self._report(OrderFilled(o.client_order_id, "bt-" + o.client_order_id, self._trade_prefix + str(self._n), o.symbol, VENUE,
                                 o.side, price, o.quantity, price * o.quantity * rate, CURRENCY, liquidity, ts))


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


class _ScratchStore(Store):
    """The backtest's order journal: a throw-away SQLite file inside one open transaction.

    Per-statement commits were a third of the cost of an order; nothing here needs to survive the run (the
    file is deleted at the end), so the whole run is one transaction that is never committed, and saving a
    risk state skips the live store's fsync dance (``PRAGMA synchronous`` cannot change inside a transaction).

    The engine's group commit (``commit(fills)``) is staged and written ``BATCH`` rows at a time: three
    one-row statements per order were still ~40 µs of an order's ~150 µs. Duplicate fills are caught as the
    live store catches them (one per ``(venue, trade_id)``), from the keys already seen; the journal read
    back (``orders()``, ``fills()``, ``commit()`` without fills) is always whole.
    """

    BATCH = 4096

    def __init__(self, path: Path) -> None:
        self._fill_rows: list[tuple] = []
        self._fill_keys: set[tuple[str, str]] = set()
        super().__init__(path)

    def begin_scratch(self) -> None:
        for pragma in ("locking_mode=EXCLUSIVE", "journal_mode=OFF", "synchronous=OFF"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("BEGIN")

    def save_risk_state(self, rec: RiskStateRecord) -> None:
        self.conn.execute("INSERT OR REPLACE INTO risk_state(scope, state, reason, actor, ts) "
                          "VALUES (?,?,?,?,?)", (rec.scope, rec.state, rec.reason, rec.actor, rec.ts))

    def commit(self, fills: list[tuple] | None = None) -> list[bool]:
        """The live store's group commit, into the run's one open transaction (see the class doc)."""
        fresh = []
        if fills:
            keys, rows = self._fill_keys, self._fill_rows
            for row in fills:
                key = (row[0], row[1])  # FILL_COLUMNS starts with venue, trade_id
                new = key not in keys
                if new:
                    keys.add(key)
                    rows.append(row)
                fresh.append(new)
        if fills is None or len(self._new_orders) + len(self._fill_rows) + len(self._updates) >= self.BATCH:
            self._write()
        return fresh

    def _write(self) -> None:
        conn = self.conn
        if self._new_orders:
            conn.executemany(store_sql._INSERT_ORDER, self._new_orders)
            self._new_orders.clear()
        if self._fill_rows:
            conn.executemany(store_sql._INSERT_FILL, self._fill_rows)
            self._fill_rows.clear()
        if self._updates:
            conn.executemany(store_sql._UPDATE_ORDER, self._updates.values())
            self._updates.clear()


class _BacktestHost(StrategyHost):
    """The live host, plus: before an order is sent, the current price becomes the quote the risk gate
    and the portfolio see (a two-sided book at that price, time-stamped now). The loops keep ``index``
    (the bar or print being processed) and ``closing`` up to date for the tags of ``Backtest``."""

    price = math.nan
    symbol = ""
    index = 0
    closing = False  # tick mode: True while the bar that closes before print ``index`` is fed

    def submit(self, instance, symbol, side, quantity, price):  # noqa: ANN001 - same signature as the base
        if symbol == self.symbol and self.price == self.price:
            px = self.price
            self.bus.publish(BookSnapshot(symbol, ((px, 1e300),), ((px, 1e300),), self.clock.now_ms()))
        return super().submit(instance, symbol, side, quantity, price)

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
        if cfg.rules == ashare_rules.RULES:
            inst = dataclasses.replace(ashare_instrument(symbol, VENUE), quote=CURRENCY)
        elif cfg.rules:
            raise BacktestError(f"unknown market rules {cfg.rules!r}: use 'ashare' or none")
        else:
            inst = Instrument(symbol, VENUE, "BASE", CURRENCY, tick_size=0.0, lot_size=0.0, min_qty=0.0,
                              max_qty=math.inf, maker_fee=cfg.fee if cfg.maker_fee is None else cfg.maker_fee,
                              taker_fee=cfg.fee)
        instruments = {symbol: inst}
        first_ts = int(data.ts[0])
        clock = SimClock(first_ts)
        store = _ScratchStore(tmp / "backtest.db")
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

        bus.subscribe(SubmitOrder, on_submit)
        market = MarketState(bus)
        portfolio = Portfolio(bus, store, instruments, {CURRENCY: cfg.cash}, {CURRENCY: 1.0}, CURRENCY)
        execution = ExecutionEngine(bus, store, clock)
        risk = RiskEngine(bus, store, clock, execution, instruments, market, portfolio,
                          cfg.live_limits or backtest_limits())
        venue = BarVenue(inst, execution.on_report, cfg, clock, bus.publish)
        execution.add_venue(venue)
        if venue.ashare:
            venue.set_ashare_times(data.ts, not ticks and bars.timeframe_ms >= _DAY_MS)
            risk.checks.market_time_ms = venue.at_market
        host = _BacktestHost(bus, clock, execution, portfolio, market, instruments)
        host.symbol = symbol
        if cfg.model_db:
            from app.engine.ml.serve import ModelSource

            host.models = ModelSource(db_path=cfg.model_db)
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
        t0 = time.perf_counter()
        try:
            if not host.start("backtest"):
                raise BacktestError(f"strategy {runner.plugin} failed to start: {runner.reason}")
            t0 = time.perf_counter()  # the replay's speed: not on_start's one-off indicator compilation
            if ticks:
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
        elapsed = time.perf_counter() - t0
        result = build_result(bars, fills, cfg.cash, elapsed, len(data), denials, risk.state.value)
        result.stats["stopped_early"] = stopped
        for row, step in zip(result.fills, fill_steps):
            row["step"] = step
        result.orders = orders
        return result

    # ------------------------------------------------------------------------------------------- loops
    @staticmethod
    def _loop_bars(b: BarData, host: _BacktestHost, runner, venue: BarVenue, clock: SimClock) -> None:
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
        failed = host._call_failed
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
            clock._ms = ts  # strictly increasing, checked when the data was loaded
            host.index = i
            if venue.pending:  # a fill can stop the strategy (on_fill raised, a risk halt): check after each
                venue.at_open(o, ts)
                if runner.status is not running:
                    break
            if wants_tick:
                host.price = o
                try:
                    on_tick(make_tick(symbol, o, 0.0, buy, f"open-{i}", ts))
                except BaseException as exc:  # noqa: BLE001 - StrategyHost._call's guard, inlined
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
            clock._ms = cts
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
            except BaseException as exc:  # noqa: BLE001 - StrategyHost._call's guard, inlined
                failed(runner, on_bar, exc)
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
                host.index, host.closing = i, True
                host.price = cur[4]
                host.feed_bar(runner, _make_bar(symbol, tf, *cur, True))
                host.closing = False
                cur = None
                if runner.status is not StrategyStatus.RUNNING:
                    return
            clock._ms = max(clock._ms, ts)
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
            host._call(runner, strategy.on_tick, _make_tick(symbol, p, s_l[i], Side.BUY, f"t{i}", ts))
            if runner.status is not StrategyStatus.RUNNING:
                return
        if cur is not None:
            clock._ms = max(clock._ms, cur[0] + tf)
            host.index, host.closing = len(ts_l), True
            host.price = cur[4]
            host.feed_bar(runner, _make_bar(symbol, tf, *cur, True))


class BacktestError(RuntimeError):
    """The backtest could not run to the end (the strategy faulted or failed to start)."""


from app.engine.strategy.base import Strategy as _Strategy  # noqa: E402

_base_on_tick = _Strategy.on_tick


def run_backtest(cls: type, params: dict[str, Any], data: BarData | TradeData,
                 config: BacktestConfig | None = None, timeframe_ms: int | None = None) -> BacktestResult:
    return Backtest(cls, params, data, config or BacktestConfig(), timeframe_ms).run()


def bars_numpy(data: BarData) -> dict[str, np.ndarray]:
    return {"ts": data.ts, "open": data.open, "high": data.high, "low": data.low, "close": data.close,
            "volume": data.volume}


# --------------------------------------------------------------------------------------------- look-ahead
DEFAULT_CUTS = (0.2, 0.35, 0.5, 0.65, 0.8, 0.95)


def check_lookahead(cls: type, params: dict[str, Any], data: BarData | TradeData,
                    cuts: Sequence[float | int] = DEFAULT_CUTS, config: BacktestConfig | None = None,
                    timeframe_ms: int | None = None,
                    prepare: Callable[[BarData | TradeData], None] | None = None) -> list[str]:
    """Look for look-ahead: run the backtest on all of ``data`` and on ``data`` cut short at each of ``cuts``
    (fractions of its length, or bar/print counts), and compare what each run did before its cut — orders
    sent (side, type, quantity, price, in order) and fills (time, side, price, quantity, fee). A strategy
    that uses bars it has not been shown yet acts differently when they do not exist. Returns the
    differences found, one line each; an empty list means no look-ahead was seen.

    For a strategy with a vectorised ``signals`` form (what sweeps run), the signals computed on each cut
    are also compared with those computed on all the data.

    What it can see: future data that reaches the strategy through the run's data. A peek shows up when it
    changes a decision at the last bar before a cut, so more cuts find more. A strategy that reads data of
    its own (a file, a module-level array) is invisible to any replay unless ``prepare`` points it at each
    run's data: ``prepare(d)`` is called with the data of every run just before it starts.
    """
    config = config or BacktestConfig()
    n = len(data)
    tf = timeframe_ms or 60_000
    ks = sorted({k for k in (_cut_index(c, n, data, tf) for c in cuts) if 2 <= k < n})
    if not ks:
        raise ValueError(f"no usable cut among {list(cuts)} for {n} bars: use fractions in (0, 1) or counts "
                         f"between 2 and {n - 1}")

    def run(d: BarData | TradeData) -> BacktestResult:
        if prepare is not None:
            prepare(d)
        return run_backtest(cls, params, d, config, timeframe_ms)

    full = run(data)  # a strategy that cannot run on all the data is an error, not a finding
    problems: list[str] = []
    what = "print" if isinstance(data, TradeData) else "bar"
    for k in ks:
        where = f"cut after {what} {k} of {n} (ts {int(data.ts[k - 1])})"
        try:
            part = run(_truncate(data, k))
        except BacktestError as exc:
            problems.append(f"{where}: the run on the cut data failed but the full run did not: {exc}")
            continue
        for kind, keys in (("order", _order_key), ("fill", _fill_key)):
            before = [keys(r) for r in (full.orders if kind == "order" else full.fills) if r["step"] < 2 * k]
            got = [keys(r) for r in (part.orders if kind == "order" else part.fills)]
            if before != got:
                problems.append(f"{where}: {_first_difference(kind, before, got)}")
    if prepare is not None:
        prepare(data)
    if isinstance(data, BarData) and callable(getattr(cls, "signals", None)):
        problems += _check_signals(cls, params, data, ks)
    return problems


def _cut_index(cut: float | int, n: int, data: BarData | TradeData, tf: int) -> int:
    k = int(cut * n) if isinstance(cut, float) and 0.0 < cut < 1.0 else int(cut)
    if isinstance(data, TradeData) and 0 < k < n:  # cut where a bar starts: half a bar is another bar
        bucket = data.ts - data.ts % tf
        starts = np.flatnonzero(bucket[1:] != bucket[:-1]) + 1
        j = int(np.searchsorted(starts, k))
        k = int(starts[j]) if j < len(starts) else n
    return k


def _truncate(data: BarData | TradeData, k: int) -> BarData | TradeData:
    if isinstance(data, TradeData):
        return TradeData(data.ts[:k], data.price[:k], data.size[:k], data.symbol)
    return data.slice(0, k)


def _order_key(o: dict[str, Any]) -> tuple:
    return o["step"], o["side"], o["type"], o["qty"], o["price"]


def _fill_key(f: dict[str, Any]) -> tuple:
    return f["step"], f["time"], f["side"], f["price"], f["qty"], f["fee"]


def _first_difference(kind: str, full: list[tuple], cut: list[tuple]) -> str:
    for j, (a, b) in enumerate(zip(full, cut)):
        if a != b:
            return f"{kind} #{j + 1} differs: {a} with all the data, {b} with the data cut (step, side, ...)"
    if len(full) > len(cut):
        return (f"with all the data the strategy made {len(full)} {kind}s before the cut, with the data cut "
                f"{len(cut)}; the next was {full[len(cut)]}")
    return (f"with the data cut the strategy made {len(cut)} {kind}s, with all the data {len(full)} before "
            f"the cut; the extra one was {cut[len(full)]}")


def _check_signals(cls: type, params: dict[str, Any], data: BarData, ks: list[int]) -> list[str]:
    from app.engine.strategy.params import validate_params

    p = validate_params(cls, params)
    p.pop("symbol", None)
    entries, exits = (np.asarray(a, dtype=bool) for a in cls.signals(bars_numpy(data), **p))
    problems = []
    for k in ks:
        try:
            e, x = (np.asarray(a, dtype=bool) for a in cls.signals(bars_numpy(data.slice(0, k)), **p))
        except Exception as exc:  # noqa: BLE001 - plugin code
            problems.append(f"signals() on the first {k} bars raised {type(exc).__name__}: {exc}")
            continue
        bad = np.flatnonzero((e[:k] != entries[:k]) | (x[:k] != exits[:k])) if len(e) == k == len(x) else [0]
        if len(bad):
            problems.append(f"signals() at bar {int(bad[0])} differ when the data ends at bar {k}: the "
                            f"vectorised form reads later bars")
    return problems
