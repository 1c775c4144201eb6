"""The backtest's venue: fills market orders at the next open and limit orders when a bar's range (or a print)
reaches them, under the documented conventions (docs/STRATEGIES.md); A-shares under their rules."""
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

VENUE = "backtest"
CURRENCY = "QUOTE"


@dataclass
class _Resting:
    order: VenueOrder
    arrive_ms: int
    filled: bool = False
    day: int = 0  # A-shares: the exchange day (days since 1970, Beijing time) the order is good for


DAY_MS = 86_400_000
_BEIJING_MS = 8 * 3_600_000


def _exchange_days(ts):  # noqa: ANN001, ANN202 - an int or an int64 array
    """Days since 1970 in Beijing time: the exchange day of each timestamp."""
    return (ts + _BEIJING_MS) // DAY_MS


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
