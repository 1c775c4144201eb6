"""``CcxtVenue``: any ccxt exchange as a Kestrel ``VenueAdapter``.

REST (orders, polling) through ``ccxt.async_support``; market data through ``ccxt.pro`` where the exchange
has websockets (``feed.py``). Everything runs as tasks on the engine's asyncio loop; ``submit`` and
``cancel`` return at once and the outcome arrives as reports, like the sim venue.

This module holds the adapter's face (the ``VenueAdapter`` calls, its lifecycle, its states and errors); its
parts live beside it, each with the rules it keeps:

  connection.py   connect, reconcile with the journal, a person's approval, reconnect (STATES, CONNECT)
  orders.py       create, UNKNOWN creates resolved by client order id, cancels, amends (ORDERS)
  tracking.py     the order poll, fills before ends, one order's trouble apart from the venue's (TRACKING)
  lookup.py       one order by client order id, the open-orders list; which failures are about one order
  rest.py         the ccxt exchange object, REST through the rate gate, rate limits, clock (RATE LIMITS)
  instruments.py  the venue's markets as Instruments, and every market it lists for the catalog

REPLIES       a body that is not JSON is ``UnreadableReply`` (``rest``), whatever ccxt made of it; an order
              reply must carry its venue id and be about our order (``check_order``). An unreadable lookup
              leaves an order "still unknown", never "found"; no venue id is taken from a reply without one.
SECRETS       credentials go to the ccxt object only; every message is redacted (``errors.redact``), and
              ccxt's own logger (which logs request headers at DEBUG) is held at WARNING.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from app.engine.core.instruments import Instrument
from app.engine.core.messages import (
    Alert, AmendRejected, CancelRejected, OrderRejected, OrderType, TimeInForce, VenueStatus,
)
from app.engine.venues.backoff import RateGate
from app.engine.venues.base import OpenOrderInfo, Report, VenueOrder
from app.engine.venues.catalog import Market
from app.engine.venues.ccxt.connection import (
    AWAITING_APPROVAL, DISCONNECTED, FAILED, READY, CcxtConnection,
)
from app.engine.venues.ccxt.feed import CcxtFeed
from app.engine.venues.ccxt.feed_process import ProcessFeed
from app.engine.venues.ccxt.instruments import market_entries, market_instruments
from app.engine.venues.ccxt.orders import CcxtOrders, TrackedOrder, day_end
from app.engine.venues.ccxt.rest import CcxtRest
from app.engine.venues.ccxt.tracking import CcxtTracking
from app.engine.venues.credentials import Credentials
from app.engine.venues.events import ReconciliationProposed, VenueError
from app.engine.venues.reconcile import JournalView
from app.engine.venues.venue_config import CcxtVenueConfig

log = logging.getLogger("kestrel.venues.ccxt")
logging.getLogger("ccxt").setLevel(logging.WARNING)  # its DEBUG lines carry request headers (API keys)


_RESTING = (TimeInForce.GTC, TimeInForce.DAY)  # a limit with these rests: editOrder may move it


class CcxtVenue(CcxtConnection, CcxtOrders, CcxtTracking, CcxtRest):
    """One ccxt exchange as a venue: its parts are the mixins (see the module docstring)."""

    mode = "live"  # what its orders are (VenueManager.mode): real ones, at the exchange
    #: exchanges whose IOC / FOK / post-only orders (ccxt's unified timeInForce and postOnly) are checked here,
    #: against a fake written from the exchange's docs (tests/venues/fake_binance.py); others take GTC only
    TIF_CHECKED = frozenset({"binance"})
    # native stops where the mapping and the poll of open orders are checked: ccxt's "binance" is Binance spot,
    # where a stop is an ordinary open order (STOP_LOSS / STOP_LOSS_LIMIT, listed by openOrders); binanceusdm's
    # conditional orders are "algo" orders listed apart, which the poll does not read yet: Kestrel emulates them.
    # TRAILING_STOP_BIPS: a STOP_LOSS with trailingDelta, by a percent in whole basis points (checks.keeps_natively)
    NATIVE_STOPS = frozenset({"binance"})
    # ModifyOrder through ccxt's editOrder where its semantics are checked here: Binance spot's cancel-replace
    # (one request: the old order canceled, a new one placed under the same client order id; a new venue id and
    # the back of the new level's queue). Elsewhere a move is Kestrel's cancel-then-replace.
    AMENDS = frozenset({"binance"})

    def __init__(self, config: CcxtVenueConfig, on_report: Report, on_data: Report, *,
                 credentials: Credentials | None = None, journal: JournalView | None = None,
                 approval: str = "ask", now_ms: Callable[[], int] | None = None,
                 on_instruments: Callable[[list[Instrument]], None] | None = None) -> None:
        self.config = config
        self.name = config.name
        self.on_report = on_report
        self.on_data = on_data
        self._credentials = credentials
        self.journal = journal
        self.approval = approval  # "ask": a person approves differences; "auto": applied at once
        self._now = now_ms or (lambda: int(time.time() * 1000))
        #: called with the venue's instruments each time its markets load (the manager adds them to the kernel;
        #: a recorder adds its own)
        self.instrument_listeners: list[Callable[[list[Instrument]], None]] = [on_instruments] if on_instruments \
            else []
        self.exchange: Any = None
        self.state = DISCONNECTED
        self.state_detail = "not started"
        self.gate = RateGate()
        self.feed: CcxtFeed | ProcessFeed = ProcessFeed(self) if config.feed_process else CcxtFeed(self)
        self._instruments: dict[str, Instrument] = {}
        self._orders: dict[str, TrackedOrder] = {}
        self._by_vid: dict[str, str] = {}
        self._open_cache: list[OpenOrderInfo] = []
        self._tasks: set[asyncio.Task] = set()
        self._supervisor: asyncio.Task | None = None
        self._approved = asyncio.Event()
        self._approver = "manual"
        self.pending: ReconciliationProposed | None = None
        self._proposal_items: tuple = ()
        self._closing = False
        self._last_time_sync = 0.0
        self.time_offset_ms = 0
        self.stats = {"connects": 0, "disconnects": 0, "rate_limited": 0, "unknown_creates": 0, "resyncs": 0,
                      "order_polls": 0}

    # ---------------------------------------------------------------------------------- VenueAdapter
    @property
    def order_features(self) -> frozenset[str]:
        """What it takes beyond GTC market and limit orders (base.py): IOC, FOK (limit orders) and post-only
        where the exchange's mapping is checked (``TIF_CHECKED``); DAY there too, as a GTC order Kestrel cancels at
        00:00 UTC (``expire_day_orders``); native STOP and STOP_LIMIT (``NATIVE_STOPS``) and a TRAILING_STOP by
        percent (Binance's trailingDelta); "amend" through ccxt's editOrder (``AMENDS``; ``can_amend`` per order)."""
        exchange = self.config.exchange
        if exchange not in self.TIF_CHECKED:
            return frozenset()
        stops = {"STOP", "STOP_LIMIT", "TRAILING_STOP_BIPS"} if exchange in self.NATIVE_STOPS else set()
        amend = {"amend"} if exchange in self.AMENDS else set()
        return frozenset({"IOC", "FOK", "DAY", "post_only", *stops, *amend})

    @property
    def connected(self) -> bool:
        return self.state == READY

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())

    # --------------------------------------------------------------------------------- market catalog
    @property
    def markets_version(self) -> object:
        """Changes when ``markets()`` would: the exchange loaded its markets (again)."""
        markets = getattr(self.exchange, "markets", None) or {}
        return id(markets), len(markets)

    def markets(self) -> list[Market]:
        """Every market the exchange lists (none before its markets loaded), subscribed or not."""
        return market_entries(self.exchange, self.name) if self.exchange is not None else []

    def subscribe(self, symbol: str) -> Instrument:
        """Stream and trade one more of the exchange's markets from now on (the Find symbol dialog's
        ``SubscribeMarket``): its instrument, its feed, and ``config.symbols`` (which the manager saves).
        ValueError, saying why, if the exchange does not list it or has not loaded its markets yet."""
        ex = self.exchange
        if ex is None or not ex.markets:
            raise ValueError(f"{self.name} has not loaded its markets yet; try again when it is connected")
        if symbol not in ex.markets:
            raise ValueError(f"{self.name} does not list {symbol}")
        if symbol in self._instruments:
            return self._instruments[symbol]
        self._instruments.update(market_instruments(ex, self.name, [symbol]))
        if symbol not in self.config.symbols:
            self.config = self.config.model_copy(update={"symbols": [*self.config.symbols, symbol]})
        if self.feed.running:
            self.feed.add(symbol)
        for listener in self.instrument_listeners:
            listener(list(self._instruments.values()))
        return self._instruments[symbol]

    def open_orders(self) -> list[OpenOrderInfo]:
        """The venue's open orders as of the last poll (fresh when the venue turns ready), and every order of
        ours whose end this adapter has not settled yet (UNKNOWN, not looked up, briefly missing): the
        ExecutionEngine's reconcile on reconnect must not guess their end ("canceled"); this adapter reports
        it when the venue tells."""
        out = list(self._open_cache)
        listed = {o.client_order_id for o in out}
        out += [OpenOrderInfo(t.cid, t.vid or "", t.symbol, t.side, t.quantity, t.reported_qty, None)
                for t in self._orders.values() if t.cid not in listed]
        return out

    def submit(self, order: VenueOrder) -> None:
        if self.state != READY:
            state = self.state.replace("_", " ")
            why = f"venue {self.name} is not ready ({state}: {self.state_detail}); not sent"
            self.on_report(OrderRejected(order.client_order_id, order.symbol, why, self.now_ms()))
            return
        if not self.gate.is_open:
            why = (f"rate limit: {self.name} asked us to wait {self.gate.remaining:.1f} s more "
                   f"({self.gate.reason}); not sent")
            self.on_report(OrderRejected(order.client_order_id, order.symbol, why, self.now_ms()))
            return
        t = TrackedOrder(order.client_order_id, order.symbol, order.side, order.quantity, self.now_ms(),
                         phase="creating", price=order.price, post_only=order.post_only,
                         plain_limit=order.order_type is OrderType.LIMIT and order.tif in _RESTING,
                         day_end_ms=day_end(self.now_ms() + self.time_offset_ms) if order.tif is TimeInForce.DAY
                         else 0)
        self._orders[t.cid] = t
        self._spawn(self._create(order, t))

    def cancel(self, client_order_id: str) -> None:
        t = self._orders.get(client_order_id)
        if t is None:
            self.on_report(CancelRejected(client_order_id, "unknown order: this venue session has no record "
                                          "of it", self.now_ms()))
            return
        if self.exchange is None:
            self.on_report(CancelRejected(client_order_id, f"venue {self.name} disconnected", self.now_ms()))
            return
        self._spawn(self._cancel(t))

    def can_amend(self, client_order_id: str) -> bool:
        """Can ``ModifyOrder`` change this order through editOrder (else: cancel-then-replace)? A resting limit
        order (GTC, or DAY: a GTC Kestrel ends), live, with nothing filled: Binance's cancel-replace places the
        whole new quantity beside what the old order filled, so it is sent with ``cancelRestrictions=ONLY_NEW``
        and only for an order with no fill (a fill that races it makes the venue refuse it: the order works as it
        was)."""
        t = self._orders.get(client_order_id)
        return ("amend" in self.order_features and self.state == READY and t is not None and t.phase == "live"
                and bool(t.vid) and t.plain_limit and not t.reported_qty and not t.canceled and t.amending is None)

    def amend(self, client_order_id: str, price: float, quantity: float) -> None:
        """Move the order to ``price`` for ``quantity`` through ccxt's editOrder (``can_amend`` said it may);
        the answer comes as ``OrderAmended`` (then ``OrderAccepted`` with its new venue id) or
        ``AmendRejected``."""
        t = self._orders.get(client_order_id)
        if t is None or self.exchange is None:
            self.on_report(AmendRejected(client_order_id, f"venue {self.name} has no live record of it; it was "
                                         f"not changed", self.now_ms()))
            return
        t.amending = (price, quantity)
        self._spawn(self._amend(t, price, quantity))

    # ------------------------------------------------------------------------------------- lifecycle
    def now_ms(self) -> int:
        return self._now()

    def secrets(self) -> tuple[str, ...]:
        c = self._credentials
        return () if c is None else tuple(s for s in (c.api_key, c.secret, c.password) if s)

    def start(self) -> None:
        """Start connecting on the running loop (returns at once; progress arrives as VenueStatus)."""
        if self._supervisor is None or self._supervisor.done():
            self._closing = False
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def close(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.feed.stop()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self.exchange is not None:
            try:
                await self.exchange.close()
            except Exception:  # noqa: BLE001
                log.debug("closing the ccxt exchange failed", exc_info=True)
        self._set_state(DISCONNECTED, "closed")

    def reconnect(self, credentials: Credentials | None = None) -> None:
        """After new keys (or a person's retry after an auth failure): start over."""
        if credentials is not None:
            self._credentials = credentials
            if self.exchange is not None:
                self.exchange.apiKey, self.exchange.secret = credentials.api_key, credentials.secret
                if credentials.password:
                    self.exchange.password = credentials.password
        if self.state == FAILED or self._supervisor is None or self._supervisor.done():
            self._set_state(DISCONNECTED, "reconnecting")
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def approve(self, actor: str = "manual") -> bool:
        """A person approved the pending reconciliation; returns False if none is pending."""
        if self.state != AWAITING_APPROVAL:
            return False
        self._approver = actor
        self._approved.set()
        return True

    # ---------------------------------------------------------------------------------------- helpers
    def _spawn(self, coro: Awaitable) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_state(self, state: str, detail_text: str) -> None:
        changed = state != self.state or detail_text != self.state_detail
        self.state, self.state_detail = state, detail_text
        if changed:
            self.on_data(VenueStatus(self.name, state == READY, f"{state.replace('_', ' ')}: {detail_text}",
                                     self.now_ms()))

    def emit_error(self, kind: str, operation: str, message: str, retry_in: float | None = None,
                   alert: str | None = None) -> None:
        log.warning("%s %s: %s", self.name, operation, message)
        self.on_data(VenueError(self.name, kind, operation, message, retry_in, self.now_ms()))
        if alert:
            self.on_data(Alert(alert, f"{self.name}: {operation}", message, self.now_ms()))
