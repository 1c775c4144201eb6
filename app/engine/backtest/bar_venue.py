"""The backtest's venue: fills market orders at the next open, limit orders when a bar's range (or a print)
reaches them, and stop, stop-limit and trailing stop orders when a bar opens through or reaches their
trigger, under the documented conventions (docs/STRATEGIES.md, "Stops in backtests"); A-shares under their
rules."""
from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from app.engine.backtest.options import BacktestConfig
from app.engine.core import ashare_rules
from app.engine.core.clock import SimClock
from app.engine.core.ids import session_token
from app.engine.core.instruments import Instrument
from app.engine.core.messages import OrderAccepted, OrderCanceled, OrderFilled, OrderType, Side
from app.engine.venues.base import OpenOrderInfo, VenueOrder
from app.engine.venues.events import OrderNote

VENUE = "backtest"
CURRENCY = "QUOTE"


@dataclass
class _Resting:
    order: VenueOrder
    arrive_ms: int  # it trades from the first bar that opens at or after this
    filled: bool = False
    day: int = 0  # A-shares: the exchange day (days since 1970, Beijing time) the order is good for
    limit: float | None = None  # a limit's or a stop-limit's price (a trailing one's moves with its trigger)
    waiting: bool = False  # a stop waiting for its trigger; a stop-limit that triggered rests as its limit
    trigger: float | None = None  # a stop's trigger (a trailing stop's is set after each bar: None before)
    water: float | None = None  # a trailing stop: the best close (or high/low) since it started trailing
    oco: str | None = None  # a bracket's take-profit and stop-loss: the first to fill cancels the other


def _limit_leg_last(r: _Resting) -> bool:
    """Sort key: a bracket's limit leg (its take-profit) after everything else in a bar's range."""
    return r.oco is not None and not r.waiting


_TRAILING = frozenset({OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT})
_STOPS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT}) | _TRAILING


DAY_MS = 86_400_000
_BEIJING_MS = 8 * 3_600_000


def _exchange_days(ts):  # noqa: ANN001, ANN202 - an int or an int64 array
    """Days since 1970 in Beijing time: the exchange day of each timestamp."""
    return (ts + _BEIJING_MS) // DAY_MS


class BarVenue:
    """A venue that fills against bar opens and ranges (or trade prints) under the documented conventions."""

    name = VENUE
    # what it takes beyond market and limit orders (the risk gate reads it: venues/base.py)
    order_features = frozenset({"STOP", "STOP_LIMIT", "TRAILING_STOP", "TRAILING_STOP_LIMIT"})

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
        self.trailing: list[_Resting] = []  # the trailing stops still waiting (``after_bar`` moves them)
        self._extremes = cfg.trail_on == "extremes"
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

    def start(self) -> None:
        """In-process: it runs when stepped (``advance_to``); nothing to start."""

    async def close(self) -> None:
        """In-process: nothing to close; it ends with the process."""

    @property
    def connected(self) -> bool:
        return True

    def instruments(self) -> list[Instrument]:
        return [self.instrument]

    def submit(self, order: VenueOrder) -> None:
        now = self._clock.now_ms()
        self._report(OrderAccepted(order.client_order_id, "bt-" + order.client_order_id, order.symbol, now))
        day = _exchange_days(self.at_market()) if self.ashare else 0
        r = _Resting(order, now + self._cfg.latency_ms, day=day, oco=order.oco)
        otype = order.order_type
        if otype is OrderType.LIMIT or otype is OrderType.STOP_LIMIT:
            r.limit = order.price
        if otype in _STOPS:
            r.waiting = True
            if otype in _TRAILING:
                self.trailing.append(r)
            else:
                r.trigger = order.trigger_price
        self.pending.append(r)

    def cancel(self, client_order_id: str) -> None:
        for r in self.pending:
            if r.order.client_order_id == client_order_id and not r.filled:
                r.filled = True
                self._report(OrderCanceled(client_order_id, r.order.symbol, "canceled", self._clock.now_ms()))
        self._drop_done()

    def _drop_done(self) -> None:
        """Forget the orders that filled, were canceled or expired (and the trailing stops that triggered)."""
        self.pending = [r for r in self.pending if not r.filled]
        if self.trailing:
            self.trailing = [r for r in self.trailing if r.waiting and not r.filled]

    def open_orders(self) -> list[OpenOrderInfo]:
        return [OpenOrderInfo(r.order.client_order_id, "bt-" + r.order.client_order_id, r.order.symbol,
                              r.order.side, r.order.quantity, 0.0, r.order.price) for r in self.pending]

    # ----------------------------------------------------------------------------------------- matching
    def at_open(self, price: float, ts: int) -> None:
        """Fill at ``price`` the orders that have arrived: market orders, stops whose trigger the open is
        through (a gap; a stop-limit whose limit the open is beyond rests as that limit from the next bar),
        and limits the open trades through."""
        if self.ashare:
            self._expire(ts)
        there = list(self.pending)
        for r in there:
            self._open_one(r, price, ts)
        # a bracket's children sent by an entry this open filled meet this open too: one the open is already
        # through (it gapped past it from the signal's close) fills at the open, never at its own price, which
        # this bar may not have traded
        seen = {id(r) for r in there}
        for r in [r for r in self.pending if id(r) not in seen and r.oco is not None]:
            self._open_one(r, price, ts)
        if self.pending:
            self._drop_done()

    def _open_one(self, r: _Resting, price: float, ts: int) -> None:
        if r.filled or r.arrive_ms > ts:
            return
        o = r.order
        buy = o.side is Side.BUY
        if r.waiting:
            t = r.trigger
            if t is not None and (price >= t if buy else price <= t):
                self._trigger(r, price, ts, ts)
        elif o.order_type is OrderType.MARKET:
            px = price * (1.0 + self._slip) if buy else price * (1.0 - self._slip)
            self._fill(r, px, self._taker, "TAKER", ts)
        elif (buy and price <= r.limit) or (not buy and price >= r.limit):
            self._fill(r, price, self._maker, "MAKER", ts)

    def _expire(self, ts: int) -> None:
        """A-share orders are day orders: those of an earlier day are canceled at this open."""
        today = _exchange_days(int(ts))
        for r in self.pending:
            if r.day < today and not r.filled:
                r.filled = True
                self._report(OrderCanceled(r.order.client_order_id, r.order.symbol,
                                           "expired at the 15:00 close (day order)", ts))
        self._drop_done()

    def in_range(self, high: float, low: float, bar_open_ts: int, fill_ts: int) -> None:
        """Fill limits whose price the bar's range reaches, at the limit price, and stops whose trigger it
        reaches, at the trigger (a stop-limit whose trigger is beyond its limit rests as that limit from the
        next bar)."""
        # a bracket's stop-loss before its take-profit: when one bar's range reaches both, the stop-loss is
        # assumed first (the conservative convention; the bar does not say which came first)
        for r in sorted(self.pending, key=_limit_leg_last):
            if r.filled or r.arrive_ms > bar_open_ts:
                continue
            buy = r.order.side is Side.BUY
            if r.waiting:
                t = r.trigger
                if t is not None and (high >= t if buy else low <= t):
                    self._trigger(r, t, bar_open_ts, fill_ts)
            elif r.limit is not None and (low <= r.limit if buy else high >= r.limit):
                self._fill(r, r.limit, self._maker, "MAKER", fill_ts)
        if self.pending:
            self._drop_done()

    def _trigger(self, r: _Resting, price: float, bar_open_ts: int, ts: int) -> None:
        """Stop ``r`` triggered at ``price`` (the open, or its trigger): a stop fills there plus slippage,
        taker; a stop-limit too when ``price`` is within its limit (slippage up to the limit), else it rests
        as that limit, which a later bar's open or range fills (never this bar's rest of the range)."""
        r.waiting = False
        buy = r.order.side is Side.BUY
        px = price * (1.0 + self._slip) if buy else price * (1.0 - self._slip)
        lim = r.limit
        if lim is None:
            self._fill(r, px, self._taker, "TAKER", ts)
        elif price <= lim if buy else price >= lim:
            self._fill(r, min(px, lim) if buy else max(px, lim), self._taker, "TAKER", ts)
        else:
            r.arrive_ms = bar_open_ts + 1  # the limit it becomes trades from the next bar's open
            self._report(OrderNote(r.order.client_order_id, r.order.symbol, f"triggered at {price:g}; rests "
                                   f"as a limit at {lim:g}", ts))

    def after_bar(self, open_: float, high: float, low: float, close: float, bar_open_ts: int,
                  close_ts: int) -> None:
        """Trailing stops trail on the bar that just closed, and the triggers they get hold from the next
        bar, so none looks ahead. A trailing stop starts at the first close at or after its arrival or,
        with an activation price (its ``trigger_price``), where a bar it was there for from the open first
        reaches it (the open if it opened through it). It then follows the best close, or the best high
        (a sell) or low (a buy) with ``trail_on="extremes"``, by its distance in price or in percent."""
        extremes = self._extremes
        for r in self.trailing:
            if not r.waiting or r.filled or r.arrive_ms > close_ts:
                continue
            o = r.order
            buy = o.side is Side.BUY
            best = (low if extremes else close) if buy else (high if extremes else close)
            w = r.water
            if w is None:
                a = o.trigger_price
                if a is None:
                    w = close  # it starts at the first close at or after its arrival
                elif r.arrive_ms <= bar_open_ts and (low <= a if buy else high >= a):
                    w = min(open_, a, best) if buy else max(open_, a, best)  # activated, then trails
                else:
                    continue
            else:
                w = min(w, best) if buy else max(w, best)
            r.water = w
            d = o.trail_amount if o.trail_amount else w * o.trail_pct / 100.0
            r.trigger = t = w + d if buy else w - d
            if o.order_type is OrderType.TRAILING_STOP_LIMIT:
                off = o.limit_offset or 0.0
                r.limit = t + off if buy else t - off

    def _fill(self, r: _Resting, price: float, rate: float, liquidity: str, ts: int) -> None:
        r.filled = True
        o = r.order
        if r.oco is not None:  # the other side of its bracket is canceled, before this fill is reported
            for other in self.pending:
                if other.oco == r.oco and other is not r and not other.filled:
                    other.filled = True
                    self._report(OrderCanceled(other.order.client_order_id, other.order.symbol,
                                               f"the other side of its bracket filled at {price:g}", ts))
        self._n += 1
        self._report(OrderFilled(o.client_order_id, "bt-" + o.client_order_id, self._trade_prefix + str(self._n), o.symbol, VENUE,
                                 o.side, price, o.quantity, price * o.quantity * rate, CURRENCY, liquidity, ts))
