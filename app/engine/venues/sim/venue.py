"""``SimVenue``: the built-in venue ``sim``, a ``VenueAdapter`` over real order books.

Time is driven from outside: ``advance_to(ts_ms)`` runs, in time order, the market models' events and our
orders/cancels whose latency has elapsed (submitted at t, they reach the venue at t + latency; reports are
emitted as they are processed), emits a ``TradeTick`` for every trade (ours and synthetic) as it happens,
and finally one ``BookSnapshot`` per instrument whose book changed. With ``latency_ms == 0`` an order or
cancel is processed inside ``submit``/``cancel`` (its snapshot follows on the next ``advance_to``; call
``advance_to(now)`` to flush). Callbacks may call ``submit``/``cancel`` re-entrantly (those are queued and
run after the current event), but not ``advance_to``.

Reject reasons (``OrderRejected.reason``) start with a stable phrase: "unknown symbol", "duplicate client
order id", "venue disconnected", and the order checks of ``rules.py``. ``CancelRejected.reason``: "unknown
order", "order not open", "venue disconnected", "cancel rejected". A callback that raises is logged and
skipped: a broken subscriber must not leave a book half-matched.

A-shares (``Instrument.rules == "ashare"``, core/ashare_rules.py): the market trades only in continuous
sessions (09:30-11:30, 13:00-15:00 Beijing time, exchange trading days). Outside them its model is skipped to
the next open, so the feed is quiet: no prints, the last book unchanged, and a ``FeedStatus`` (channel
"quotes") that says "closed" with the reason, "live" again at the open. Orders are refused while it is
closed ("market closed", "not a trading day"); our resting orders expire at the 15:00 close (day orders).
At each trading day's first open the previous close (the last print) sets the day's price limits by board,
published as ``ashare_rules.DailyLimits``. Fills pay ``ashare_rules.fill_fees`` (commission with its
minimum per order, transfer fee, stamp duty on sells).

Faults for tests: ``set_connected(False)`` emits ``VenueStatus``, rejects submits and cancels at once with
"venue disconnected", stops market data, and *withholds* reports of what happens at the venue meanwhile
(fills of resting orders, acks of orders already in flight); ``set_connected(True)`` delivers them in order,
then fresh snapshots on the next ``advance_to``. ``drop_reports(True)`` *loses* reports for good (the
venue's state still changes, so ``open_orders()`` tells the truth: what reconciliation must recover from).
``reject_next_cancel(n)``: the next n cancels get ``CancelRejected`` (0 stops it).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import time
from typing import Any, Iterable, Mapping

from app.engine.core import ashare_rules
from app.engine.core.ids import session_token
from app.engine.core.instruments import Instrument, default_instruments, split_id
from app.engine.core.messages import (AmendRejected, BookSnapshot, CancelRejected, OrderAccepted, OrderAmended,
                                      OrderCanceled, OrderFilled, OrderRejected, OrderStatus, OrderType, Side,
                                      TimeInForce, TradeTick, VenueStatus)
from app.engine.core.triggers import TriggerBook
from app.engine.venues.base import OpenOrderInfo, Report, VenueOrder
from app.engine.venues.events import FeedStatus, OrderNote
from app.engine.venues.sim.market_model import MarketModel, ModelParams, daily_limits
from app.engine.venues.sim.orderbook import OWNER_CLIENT, BookOrder, Fill, OrderBook
from app.engine.venues.sim.rules import check_order

DAY_MS = 86_400_000

log = logging.getLogger(__name__)

EXTERNAL = 3  # owner id of orders placed through ``external_order`` (replayed feeds, tests)
_NEVER = 2 ** 62  # no session edge to wait for (no A-shares)


class _Working:
    """The venue's record of one of our orders (mutable, private)."""

    __slots__ = ("cid", "vid", "symbol", "side", "lots", "price", "filled", "book_id", "status", "value",
                 "trigger", "expire")

    def __init__(self, cid: str, vid: str, symbol: str, side: Side, lots: int, price: int | None,
                 book_id: int) -> None:
        self.cid, self.vid, self.symbol, self.side = cid, vid, symbol, side
        self.lots, self.price, self.filled, self.book_id = lots, price, 0, book_id
        self.status = OrderStatus.ACCEPTED
        self.value = 0.0  # traded value so far (an A-share order's commission minimum is per order)
        self.trigger: float | None = None  # a stop's trigger price while it waits (None: in the book, or done)
        self.expire: int | None = None  # a DAY order: when the UTC day it was placed on ends


class _Market:
    __slots__ = ("inst", "id", "book", "model", "limits", "last_price", "sent_version", "ashare", "triggers")

    def __init__(self, inst: Instrument, book: OrderBook, model: MarketModel | None,
                 limits: tuple[int, int] | None) -> None:
        self.inst, self.book, self.model, self.limits = inst, book, model, limits
        self.id = inst.id  # what its market data carries on the bus; orders name inst.symbol
        self.last_price: float | None = None
        self.sent_version = -1
        self.ashare: _AShareSession | None = None
        self.triggers = TriggerBook()  # our armed STOP / STOP_LIMIT orders, on the market's trade prints


class _AShareSession:
    """An A-share market's session state: the next open or close (``edge``), the day of its limits, and
    the latest status and limits published (sent again after a reconnect)."""

    __slots__ = ("edge", "open", "day", "daily", "status")

    def __init__(self) -> None:
        self.edge = 0
        self.open = False
        self.day = None
        self.daily: ashare_rules.DailyLimits | None = None
        self.status: FeedStatus | None = None


class _SessionGate:
    """An A-share market model that runs only in continuous trading: an event outside a session moves the
    model to the next open without simulating the gap (a closed market prints nothing)."""

    __slots__ = ("model", "_open", "_close")

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self._open = self._close = 0

    @property
    def next_ts(self) -> int:
        t = self.model.next_ts
        if self._open <= t < self._close:
            return t
        self._open, self._close = ashare_rules.session_window(t)
        if t < self._open:
            self.model.skip_to(self._open)
            t = self.model.next_ts
        return t

    def process_next(self) -> int:
        return self.model.process_next()

    def skip_to(self, ts: int) -> None:
        self.model.skip_to(ts)


class SimVenue:
    """In-process exchange with price-time matching, partial fills, fees, latency and a seeded market."""

    name = "sim"
    mode = "sim"  # what its orders are (VenueManager.mode): simulated
    # beyond GTC market and limit orders (base.py)
    order_features = frozenset({"IOC", "FOK", "DAY", "post_only", "STOP", "STOP_LIMIT", "amend"})

    def __init__(self, instruments: Iterable[Instrument] | None, on_report: Report, on_data: Report, *,
                 seed: int = 7, latency_ms: int = 5, start_ts_ms: int | None = None, book_levels: int = 10,
                 market_model: bool = True, model_params: Mapping[str, ModelParams] | None = None,
                 max_gap_ms: int | None = 5_000, session: str | None = None) -> None:
        """``start_ts_ms`` defaults to the wall clock. ``market_model=False``: books hold only our and
        ``external_order`` orders (backtests over a replayed feed, tests). ``max_gap_ms``: a longer jump of
        ``advance_to`` (machine slept) is skipped by the market models instead of simulated. ``session``: the
        token in every trade and venue order id (default: a fresh ``session_token()``, unique across restarts;
        tests pin it to compare two runs' reports)."""
        self._on_report = on_report
        self._on_data = on_data
        self._latency = int(latency_ms)
        self._levels = int(book_levels)
        self._max_gap = max_gap_ms
        self._now = int(time.time() * 1000) if start_ts_ms is None else int(start_ts_ms)
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self.session = session_token() if session is None else session
        self._venue_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._pending: list[tuple[int, int, str, Any]] = []
        self._orders: dict[str, _Working] = {}  # every order the venue accepted, terminal ones too
        self._rejected: set[str] = set()
        self._live: dict[int, _Working] = {}  # book id -> working order
        self._expiring: list[tuple[int, str]] = []  # (when, client id) of DAY orders, a heap
        self._armed: dict[str, _Working] = {}  # client id -> a stop waiting for its trigger (not in the book)
        self._connected = True
        self._dropping = False
        self._withheld: list[Any] = []
        self._reject_cancels = 0
        self._busy = False
        self._markets: dict[str, _Market] = {}
        self._notices: list[Any] = []  # A-share statuses and limits, sent with the next snapshots
        params = model_params or {}
        for inst in (default_instruments() if instruments is None else instruments):
            p = params.get(inst.symbol) or ModelParams.for_instrument(inst)
            book = OrderBook(inst, OWNER_CLIENT)
            model = (MarketModel(inst, book, p, seed, self._now, self._ids.__next__)
                     if market_model else None)
            m = _Market(inst, book, model, daily_limits(inst, p))
            book.on_fill = lambda f, m=m: self._fill(m, f)
            book.on_self_match = lambda o, m=m: self._self_match(m, o)
            self._markets[inst.symbol] = m
            if inst.rules == ashare_rules.RULES:
                m.ashare = _AShareSession()
                self._new_day(m, ashare_rules.next_open(self._now), p.start_price)
        self._models = [_SessionGate(m.model) if m.ashare else m.model
                        for m in self._markets.values() if m.model is not None]
        self._ashares = [m for m in self._markets.values() if m.ashare is not None]
        self._edge = self._now if self._ashares else _NEVER

    # ------------------------------------------------------------------------------ VenueAdapter
    def start(self) -> None:
        """In-process: it runs when stepped (``advance_to``); nothing to start."""

    async def close(self) -> None:
        """In-process: nothing to close; it ends with the process."""

    @property
    def connected(self) -> bool:
        return self._connected

    def instruments(self) -> list[Instrument]:
        return [m.inst for m in self._markets.values()]

    def submit(self, order: VenueOrder) -> None:
        """Fire-and-forget: reaches the venue after the latency; the answer comes as reports."""
        if not self._connected:
            self._send(self._on_report,
                       OrderRejected(order.client_order_id, order.symbol, "venue disconnected", self._now))
            return
        self._enqueue("submit", order)

    def cancel(self, client_order_id: str) -> None:
        if not self._connected:
            self._send(self._on_report, CancelRejected(client_order_id, "venue disconnected", self._now))
            return
        forced = self._reject_cancels > 0
        if forced:
            self._reject_cancels -= 1
        self._enqueue("cancel", (client_order_id, forced))

    def amend(self, client_order_id: str, price: float, quantity: float) -> None:
        """Change a resting limit order in place (``order_features`` "amend"): ``quantity`` is what is left to fill.
        A smaller quantity at the same price keeps its place in the queue; a new price joins the back of the new
        level's queue (and trades at once if it crosses). The answer is ``OrderAmended`` or ``AmendRejected``."""
        if not self._connected:
            self._send(self._on_report, AmendRejected(client_order_id, "venue disconnected", self._now))
            return
        self._enqueue("amend", (client_order_id, price, quantity))

    def open_orders(self) -> list[OpenOrderInfo]:
        out = []
        for w in self._armed.values():  # stops waiting for their trigger
            b = self._markets[w.symbol].book
            out.append(OpenOrderInfo(w.cid, w.vid, w.symbol, w.side, b.size(w.lots), 0.0,
                                     None if w.price is None else b.price(w.price)))
        for w in self._live.values():
            b = self._markets[w.symbol].book
            out.append(OpenOrderInfo(w.cid, w.vid, w.symbol, w.side, b.size(w.lots), b.size(w.filled),
                                     None if w.price is None else b.price(w.price)))
        return out

    # ---------------------------------------------------------------------------------- clock
    @property
    def now(self) -> int:
        """The venue clock (ms): the last ``advance_to`` target, or the event being processed."""
        return self._now

    def advance_to(self, ts_ms: int) -> None:
        """Process everything due up to ``ts_ms`` in time order, then emit snapshots of changed books.
        A ``ts_ms`` in the past is ignored (time never runs backwards)."""
        if self._busy:
            raise RuntimeError("advance_to called from inside a SimVenue callback")
        ts_ms = int(ts_ms)
        if ts_ms < self._now:
            return
        self._busy = True
        try:
            if self._max_gap is not None and ts_ms - self._now > self._max_gap:
                skip = ts_ms - self._max_gap
                self._run_to(skip, ())
                for model in self._models:
                    model.skip_to(skip)
            self._run_to(ts_ms, self._models)
            self._now = ts_ms
            if self._expiring and self._expiring[0][0] <= ts_ms:
                self._expire_days(ts_ms)
            if self._connected:
                for m in self._markets.values():
                    if m.book.version != m.sent_version:
                        m.sent_version = m.book.version
                        bids, asks = m.book.levels(self._levels)
                        self._send(self._on_data, BookSnapshot(m.id, bids, asks, ts_ms))
                notices, self._notices = self._notices, []
                for notice in notices:
                    self._send(self._on_data, notice)
            self._run(ts_ms, ())  # zero-latency orders sent by snapshot handlers
        finally:
            self._busy = False

    # ------------------------------------------------------------------------------- accessors
    def book(self, symbol: str) -> OrderBook:
        """The live book, read-only for callers (the ladder reads ``depth(n)`` with our own sizes)."""
        return self._market(symbol).book

    def _market(self, symbol: str) -> _Market:
        """The market of ``symbol``: the venue's symbol or the instrument id (KeyError if not ours)."""
        m = self._markets.get(symbol)
        if m is None:
            native, venue = split_id(symbol)
            m = self._markets.get(native)
            if m is None or venue not in (None, m.inst.venue):
                raise KeyError(symbol)
        return m

    def last_price(self, symbol: str) -> float | None:
        """Last trade price; before the first trade the mid; None for an empty book."""
        m = self._market(symbol)
        if m.last_price is not None:
            return m.last_price
        mid = m.book.mid()
        return None if mid is None else round(mid, m.inst.price_decimals + 1)

    def price_limits(self, symbol: str) -> tuple[float, float] | None:
        """Daily (lower, upper) limit prices for A-shares, None where there are none."""
        m = self._market(symbol)
        return None if m.limits is None else (m.book.price(m.limits[0]), m.book.price(m.limits[1]))

    def session_status(self, symbol: str) -> FeedStatus | None:
        """An A-share's market status now ("live" or "closed", with the reason); None for other markets."""
        m = self._market(symbol)
        return None if m.ashare is None else m.ashare.status

    def model(self, symbol: str) -> MarketModel | None:
        """The instrument's market model (diagnostics: fair value, volatility regime), if any."""
        return self._market(symbol).model

    # ------------------------------------------------------------------------------ fault knobs
    def set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        status = VenueStatus(self.name, connected, "connected" if connected else "disconnected", self._now)
        self._send(self._on_data, status)
        if connected:
            withheld, self._withheld = self._withheld, []
            for event in withheld:
                self._send(self._on_report, event)
            for m in self._markets.values():
                m.sent_version = -1
            self._notices = [n for m in self._ashares for n in (m.ashare.status, m.ashare.daily) if n is not None]

    def reject_next_cancel(self, n: int = 1) -> None:
        """The next ``n`` cancels get ``CancelRejected`` (replaces any earlier count; 0 stops rejecting)."""
        self._reject_cancels = int(n)

    def drop_reports(self, drop: bool) -> None:
        self._dropping = bool(drop)

    def external_order(self, symbol: str, side: Side, qty: float, price: float | None = None) -> None:
        """An order from another participant (replayed feed, tests), matched at once, no reports:
        a limit rests what it does not fill, a market order drops its remainder."""
        if self._busy:
            raise RuntimeError("external_order called from inside a SimVenue callback")
        m = self._market(symbol)
        lots = round(qty / m.inst.lot_size)
        self._busy = True
        try:
            if price is None:
                m.book.market(next(self._ids), EXTERNAL, Side(side), lots, stp=False)
            else:
                m.book.add_limit(next(self._ids), EXTERNAL, Side(side), m.inst.price_to_ticks(price), lots,
                                 stp=False)
            self._run(self._now, ())
        finally:
            self._busy = False

    # ------------------------------------------------------------------------------- internals
    def _enqueue(self, kind: str, payload: Any) -> None:
        if self._latency == 0 and not self._busy:
            self._busy = True
            try:
                self._process(kind, payload)
                self._run(self._now, ())
            finally:
                self._busy = False
        else:
            heapq.heappush(self._pending, (self._now + self._latency, next(self._seq), kind, payload))

    def _run_to(self, until: int, models: Iterable[MarketModel]) -> None:
        """``_run`` up to ``until``, stopping at each A-share session edge on the way (``_session_edges``)."""
        while self._edge <= until:
            edge = max(self._edge, self._now)
            self._run(edge - 1, models)
            self._now = edge
            self._session_edges()
        self._run(until, models)

    def _session_edges(self) -> None:
        """At an A-share session's open or close (``self._now``): the market's status; at the first open of a
        trading day its new limits; at the 15:00 close our resting orders expire (day orders)."""
        now = self._now
        for m in self._ashares:
            s = m.ashare
            if now < s.edge:
                continue
            start, close = ashare_rules.session_window(now)
            was_open, s.open = s.open, start <= now
            s.edge = close if s.open else start
            if s.open:
                if ashare_rules.day_of(now) != s.day:
                    self._new_day(m, now, m.last_price or m.book.mid())
                text = f"continuous trading until {ashare_rules.local(close):%H:%M} Beijing time"
                s.status = FeedStatus(self.name, m.id, "quotes", "live", text, now)
            else:
                s.status = FeedStatus(self.name, m.id, "quotes", "closed",
                                      ashare_rules.check_session(now).message, now)
                if was_open and ashare_rules.session_state(now) != "lunch break":
                    self._expire_day_orders(m)
            self._notices.append(s.status)
        self._edge = min(m.ashare.edge for m in self._ashares)

    def _new_day(self, m: _Market, ts: int, prev_close: float | None) -> None:
        """The day's limits from the previous close, for the book, the model and the pre-trade check."""
        s, inst = m.ashare, m.inst
        s.day = ashare_rules.day_of(ts)
        if not prev_close:
            return
        prev_close = ashare_rules.round_tick(prev_close)
        s.daily = ashare_rules.DailyLimits.of(self.name, inst.symbol, s.day, prev_close, ts)
        m.limits = (inst.price_to_ticks(s.daily.lower), inst.price_to_ticks(s.daily.upper))
        if m.model is not None:
            m.model.set_limits(m.limits)
        self._notices.append(s.daily)

    def _expire_days(self, now: int) -> None:
        """DAY orders whose UTC day has ended leave the book, saying so."""
        while self._expiring and self._expiring[0][0] <= now:
            _, cid = heapq.heappop(self._expiring)
            w = self._orders.get(cid)
            if w is None or w.book_id not in self._live:
                continue
            self._markets[w.symbol].book.cancel(w.book_id)
            del self._live[w.book_id]
            w.status = OrderStatus.CANCELED
            self._report(OrderCanceled(w.cid, w.symbol, "expired at the end of the UTC day (DAY order)", now))

    def _expire_day_orders(self, m: _Market) -> None:
        for w in [w for w in self._live.values() if w.symbol == m.inst.symbol]:
            m.book.cancel(w.book_id)
            del self._live[w.book_id]
            w.status = OrderStatus.CANCELED
            self._report(OrderCanceled(w.cid, w.symbol, "expired at the 15:00 close (day order)", self._now))

    def _run(self, until: int, models: Iterable[MarketModel]) -> None:
        pending = self._pending
        while True:
            tm, best = None, None
            for model in models:
                t = model.next_ts
                if tm is None or t < tm:
                    tm, best = t, model
            if pending and pending[0][0] <= until and (tm is None or pending[0][0] <= tm):
                ts, _, kind, payload = heapq.heappop(pending)
                self._now = ts
                self._process(kind, payload)
            elif best is not None and tm <= until:
                self._now = tm
                best.process_next()
            else:
                return

    def _process(self, kind: str, payload: Any) -> None:
        if kind == "submit":
            self._do_submit(payload)
        elif kind == "fire":
            self._do_fire(*payload)
        elif kind == "amend":
            self._do_amend(*payload)
        else:
            self._do_cancel(*payload)

    def _do_amend(self, cid: str, price: float, quantity: float) -> None:
        w = self._orders.get(cid)
        if w is None or w.book_id not in self._live or w.price is None:
            self._report(AmendRejected(cid, "order not open" if w is None or w.book_id not in self._live else
                                       "only a limit order has a price to amend", self._now))
            return
        m = self._markets[w.symbol]
        inst, book = m.inst, m.book
        ticks, leaves = inst.price_to_ticks(price), round(quantity / inst.lot_size)
        if leaves <= 0:
            self._report(AmendRejected(cid, "nothing left to fill: cancel it instead", self._now))
            return
        if m.limits is not None and not m.limits[0] <= ticks <= m.limits[1]:
            self._report(AmendRejected(cid, "price outside the day's limits", self._now))
            return
        left = w.lots - w.filled
        w.lots = w.filled + leaves
        if ticks == w.price and leaves <= left:
            book.reduce(w.book_id, leaves)  # keeps its place in the queue
            self._report(OrderAmended(cid, w.symbol, price, book.size(w.lots), self._now))
            return
        book.cancel(w.book_id)  # a new price, or more: the back of the queue
        w.price = ticks
        self._report(OrderAmended(cid, w.symbol, price, book.size(w.lots), self._now))
        res = book.add_limit(w.book_id, OWNER_CLIENT, w.side, ticks, leaves, stp=True)
        if not res.rested and res.remaining > 0:  # (self-trade prevention took the rest)
            self._live.pop(w.book_id, None)
            w.status = OrderStatus.CANCELED
            self._report(OrderCanceled(cid, w.symbol, "canceled: it would have traded with our own order", self._now))

    @staticmethod
    def _send(callback: Report, event: Any) -> None:
        try:
            callback(event)
        except Exception:  # a subscriber's bug must not corrupt the venue mid-match
            log.exception("sim: callback failed on %r", event)

    def _report(self, event: Any) -> None:
        if self._dropping:
            return
        if not self._connected:
            self._withheld.append(event)
        else:
            self._send(self._on_report, event)

    def _do_submit(self, o: VenueOrder) -> None:
        m = self._markets.get(o.symbol)
        if m is None:
            reason: str | None = f"unknown symbol: {o.symbol}"
        elif o.client_order_id in self._orders or o.client_order_id in self._rejected:
            reason = f"duplicate client order id: {o.client_order_id}"
        else:
            reason = check_order(m.inst, m.book, m.limits, o, self._now, m.ashare and m.ashare.daily) \
                or self._against_market(m, o)
        if reason is not None:
            if o.client_order_id not in self._orders:
                self._rejected.add(o.client_order_id)
            self._report(OrderRejected(o.client_order_id, o.symbol, reason, self._now))
            return
        book, side = m.book, (o.side if type(o.side) is Side else Side(o.side))
        lots = round(o.quantity / m.inst.lot_size)
        is_limit = o.order_type == OrderType.LIMIT
        stop = o.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        ticks = m.inst.price_to_ticks(o.price) if is_limit or o.order_type == OrderType.STOP_LIMIT else None
        tif = o.tif
        w = _Working(o.client_order_id, f"S{self.session}-{next(self._venue_ids):06d}", o.symbol, side, lots, ticks,
                     next(self._ids))
        self._orders[w.cid] = w
        if stop:  # it waits off the book until a trade prints at or through its trigger (_fill -> _do_fire)
            w.trigger = float(o.trigger_price)
            self._armed[w.cid] = w
            m.triggers.arm_fixed(w.cid, "up" if side is Side.BUY else "down", w.trigger)
            self._report(OrderAccepted(w.cid, w.vid, w.symbol, self._now))
            return
        self._live[w.book_id] = w
        self._report(OrderAccepted(w.cid, w.vid, w.symbol, self._now))
        if tif is TimeInForce.FOK:
            there = book.available(side, ticks)
            if there < lots:  # whole now, or nothing: it ends unfilled, as an exchange expires it
                self._live.pop(w.book_id, None)
                w.status = OrderStatus.CANCELED
                where = f"at {o.price:g} or better" if is_limit else "in the book"
                self._report(OrderCanceled(w.cid, w.symbol, f"FOK: only {book.size(there):g} of {o.quantity:g} "
                                           f"available {where}; nothing filled", self._now))
                return
        if is_limit:
            res = book.add_limit(w.book_id, OWNER_CLIENT, side, ticks, lots, stp=True)
        else:
            res = book.market(w.book_id, OWNER_CLIENT, side, lots, stp=True)
        if tif is TimeInForce.DAY and res.rested and w.book_id in self._live and m.ashare is None:
            w.expire = (self._now // DAY_MS + 1) * DAY_MS  # crypto's trading day ends at 00:00 UTC
            heapq.heappush(self._expiring, (w.expire, w.cid))  # (an A-share order is a day order anyway)
        elif res.rested and tif is not TimeInForce.GTC and tif is not TimeInForce.DAY and w.book_id in self._live:
            book.cancel(w.book_id)
            del self._live[w.book_id]
            w.status = OrderStatus.CANCELED
            self._report(OrderCanceled(w.cid, w.symbol, f"{tif.value} remainder", self._now))
        elif not res.rested and res.remaining > 0:
            self._live.pop(w.book_id, None)
            w.status = OrderStatus.CANCELED
            self._report(OrderCanceled(w.cid, w.symbol, "IOC remainder", self._now))

    def _against_market(self, m: _Market, o: VenueOrder) -> str | None:
        """What the market now refuses of ``o``: a post-only order that would take (Binance's LIMIT_MAKER), a
        stop that would trigger at once or has no trade to trigger against. None if it passes."""
        buy = o.side == Side.BUY
        if o.post_only and o.order_type == OrderType.LIMIT:
            best = m.book.best_ask_ticks() if buy else m.book.best_bid_ticks()
            ticks = m.inst.price_to_ticks(o.price)
            if best is not None and (ticks >= best if buy else ticks <= best):
                return (f"post-only: a {'buy' if buy else 'sell'} at {o.price:g} would take the "
                        f"{'ask' if buy else 'bid'} at {m.book.price(best):g}; not placed")
        if o.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            last = m.last_price
            if last is None:
                return "stop: no trade yet to trigger against; not placed"
            if (o.trigger_price <= last) if buy else (o.trigger_price >= last):
                return (f"stop would trigger immediately: a {'buy' if buy else 'sell'} stop at {o.trigger_price:g} "
                        f"is {'at or below' if buy else 'at or above'} the last trade {last:g}; not placed")
        return None

    def _do_fire(self, cid: str, price: float) -> None:
        """A stop whose trigger traded: into the book as the market (STOP) or limit (STOP_LIMIT) order it
        becomes, after the match that printed it; the report says where it triggered."""
        w = self._armed.pop(cid, None)
        if w is None:
            return  # canceled meanwhile
        m = self._markets[w.symbol]
        self._report(OrderNote(cid, w.symbol, f"triggered: the last trade {price:g} reached the stop at "
                                              f"{w.trigger:g}", self._now))
        w.trigger = None
        self._live[w.book_id] = w
        if w.price is not None:
            res = m.book.add_limit(w.book_id, OWNER_CLIENT, w.side, w.price, w.lots - w.filled, stp=True)
        else:
            res = m.book.market(w.book_id, OWNER_CLIENT, w.side, w.lots - w.filled, stp=True)
        if not res.rested and res.remaining > 0 and w.book_id in self._live:
            del self._live[w.book_id]
            w.status = OrderStatus.CANCELED
            self._report(OrderCanceled(w.cid, w.symbol, "IOC remainder: the book ran out", self._now))

    def _do_cancel(self, cid: str, forced: bool) -> None:
        w = self._orders.get(cid)
        if forced:
            self._report(CancelRejected(cid, "cancel rejected (fault injection)", self._now))
        elif w is None:
            self._report(CancelRejected(cid, "unknown order", self._now))
        elif cid in self._armed:
            del self._armed[cid]
            self._markets[w.symbol].triggers.cancel(cid)
            w.status, w.trigger = OrderStatus.CANCELED, None
            self._report(OrderCanceled(cid, w.symbol, "canceled", self._now))
        elif w.book_id not in self._live:
            self._report(CancelRejected(cid, f"order not open: {w.status.value.lower()}", self._now))
        else:
            self._markets[w.symbol].book.cancel(w.book_id)
            del self._live[w.book_id]
            w.status = OrderStatus.CANCELED
            self._report(OrderCanceled(cid, w.symbol, "canceled", self._now))

    def _fill(self, m: _Market, f: Fill) -> None:
        price, qty = m.book.price(f.price), m.book.size(f.qty)
        trade_id = f"T{self.session}-{next(self._trade_ids)}"
        m.last_price = price
        if len(m.triggers):  # our stops this print reaches: they enter the book right after this match
            for cid in m.triggers.on_price(price):
                heapq.heappush(self._pending, (self._now, next(self._seq), "fire", (cid, price)))
        if self._connected:
            self._send(self._on_data, TradeTick(m.id, price, qty, f.taker_side, trade_id, self._now))
        if f.maker_owner == OWNER_CLIENT:
            self._client_fill(m, self._live[f.maker_id], price, qty, f.qty, trade_id, "MAKER")
        if f.taker_owner == OWNER_CLIENT:
            self._client_fill(m, self._live[f.taker_id], price, qty, f.qty, trade_id, "TAKER")

    def _client_fill(self, m: _Market, w: _Working, price: float, qty: float, lots: int, trade_id: str,
                     liquidity: str) -> None:
        w.filled += lots
        if w.filled >= w.lots:
            w.status = OrderStatus.FILLED
            del self._live[w.book_id]
        else:
            w.status = OrderStatus.PARTIALLY_FILLED
        inst = m.inst
        if m.ashare is not None:
            fee = ashare_rules.fill_fees(w.side.value, price, qty, self._now, w.value).total
            w.value += price * qty
        else:
            fee = price * qty * (inst.maker_fee if liquidity == "MAKER" else inst.taker_fee)
        self._report(OrderFilled(w.cid, w.vid, trade_id, w.symbol, self.name, w.side, price, qty,
                                 fee, inst.quote, liquidity, self._now))

    def _self_match(self, m: _Market, order: BookOrder) -> None:
        w = self._live.pop(order.order_id)
        w.status = OrderStatus.CANCELED
        self._report(OrderCanceled(w.cid, w.symbol, "self-match prevention", self._now))
