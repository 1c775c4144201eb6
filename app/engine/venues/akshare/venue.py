"""Venue ``akshare``: China A-share quotes and bars from akshare, and paper trading under A-share rules.

DATA     every ``quote_interval_s`` each symbol's quote is fetched (``AkshareClient``: worker threads, hard
         deadlines, cache, backoff and fallback); it becomes a ``BookSnapshot`` (5 levels) and, when the day's
         volume grew, a ``TradeTick`` of the difference at the last price. Daily and minute bars are
         available through ``history``. A quote from the cache (every source failing) is not published as
         live data: the feed reports "stale" and the risk engine's stale-data check does the rest.
PAPER    the pre-trade check has applied ``ashare_rules`` (sessions, calendar, lots, T+1, price limits);
         the paper broker applies them again as a real one would, with its own holdings, and refuses with
         the same words. The day's limits come from the quote (eastmoney's, else by board from the previous
         close) and are published as ``ashare_rules.DailyLimits``. An order is matched against the quote:
         a marketable order fills at the opposite levels (walking the five), a limit rests and fills when a
         later quote crosses it at its price. Resting orders expire at the 15:00 close. Fills pay
         ``ashare_rules.fill_fees``: commission (``fee_rate``, at least 5 CNY per order), transfer fee and
         stamp duty on sells.
NAMES    the list of every A-share code and its name (贵州茅台) is read from the cache at once and fetched
         when the venue starts if the cached one is a day old (about a minute of paged requests, on its own
         worker): the market catalog searches it, and ``subscribe`` adds one of them to the quoted symbols.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from app.engine.core import instruments
from app.engine.core import ashare_rules as rules
from app.engine.core.ids import session_token
from app.engine.core.instruments import Instrument, make_id
from app.engine.core.messages import (
    BookSnapshot, CancelRejected, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderType, Side,
    TradeTick, VenueStatus,
)
from app.engine.venues.akshare.client import AkshareCache, AkshareClient, AllSourcesFailed, Fetched
from app.engine.venues.akshare.data import Quote, adjusted_history_problem
from app.engine.venues.base import OpenOrderInfo, Report, VenueOrder
from app.engine.venues.catalog import Market
from app.engine.venues.events import FeedStatus
from app.engine.venues.venue_config import AkshareVenueConfig

log = logging.getLogger("kestrel.venues.akshare")
NAMES_MAX_AGE_MS = 86_400_000  # the A-share list is fetched again when the cached one is this old


def ashare_instrument(symbol: str, venue: str = "akshare") -> Instrument:
    return instruments.ashare_instrument(symbol, venue)


@dataclass
class _Resting:
    order: VenueOrder
    vid: str
    filled: float = 0.0
    value: float = 0.0  # traded so far (the commission minimum is per order)

    @property
    def leaves(self) -> float:
        return self.order.quantity - self.filled


class AkshareVenue:
    name = "akshare"
    mode = "paper"  # what its orders are (VenueManager.mode): paper trades, no broker

    def __init__(self, symbols: list[str], on_report: Report, on_data: Report, *, client: AkshareClient,
                 now_ms: Callable[[], int] | None = None, quote_interval_s: float = 3.0,
                 fills: Callable[[], list[dict]] | None = None, fee_rate: float = 0.00025,
                 name: str = "akshare", config: Any = None) -> None:
        self.name = name
        self.config = config  # the saved AkshareVenueConfig it runs (the Venues dock's), or None (headless)
        self.symbols = [s.upper() for s in symbols]
        self.on_report, self.on_data = on_report, on_data
        self.client = client
        self._now = now_ms or (lambda: int(time.time() * 1000))
        self.quote_interval_s = quote_interval_s
        self.fee_rate = fee_rate
        self._instruments = {s: ashare_instrument(s, name) for s in self.symbols}
        self.quotes: dict[str, Quote] = {}
        self.limits: dict[str, rules.DailyLimits] = {}
        self._volume: dict[str, float] = {}
        self._resting: dict[str, _Resting] = {}
        self._holdings: dict[str, list[tuple[int, float]]] = {}  # symbol -> [(ts, signed qty)] of our fills
        for f in (fills() if fills else []):
            if f.get("venue") == self.name:
                qty = f["quantity"] if f["side"] == "BUY" else -f["quantity"]
                self._holdings.setdefault(f["symbol"], []).append((int(f["ts"]), qty))
        self._ids = itertools.count(1)
        self._trades = itertools.count(1)
        self.session = session_token()  # in every trade and venue order id: unique across restarts
        self._connected = False
        self._status_text = "not started"
        self._task: asyncio.Task | None = None
        self._closing = False  # close(): the poll loop ends at its next round
        self.feed_states: dict[str, str] = {}
        self.last_source: dict[str, str] = {}
        #: every A-share code and its name ({"600519.SH": "贵州茅台"}): the market catalog's list
        self.ashare_names: dict[str, str] = {}
        self.names_fetched_ms = 0
        self.names_problem = ""  # why the list could not be fetched (the cached one, if any, is used)
        self._names_task: asyncio.Task | None = None
        cached = client.cache.get_names() if client.cache is not None else None
        if cached is not None:
            self.ashare_names, self.names_fetched_ms = cached

    # ------------------------------------------------------------------------------------ VenueAdapter
    @property
    def connected(self) -> bool:
        return self._connected

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())

    # --------------------------------------------------------------------------------- market catalog
    @property
    def markets_version(self) -> object:
        return id(self.ashare_names), len(self.ashare_names), len(self.symbols)

    def markets(self) -> list[Market]:
        """Every A-share akshare lists (with its name), and the subscribed symbols."""
        return [Market(self.name, sym, rules.code_of(sym), "CNY", "equity", self.ashare_names.get(sym, ""))
                for sym in dict.fromkeys([*self.ashare_names, *self.symbols])]

    def subscribe(self, symbol: str) -> Instrument:
        """Quote and paper-trade one more A-share from now on (the Find symbol dialog's ``SubscribeMarket``):
        its instrument, a place in the quote loop, and ``config.symbols`` (which the manager saves).
        ValueError, saying why, for what is not an A-share code or not in akshare's list."""
        (symbol,) = AkshareVenueConfig._symbols([symbol])  # ValueError in the config's words
        if self.ashare_names and symbol not in self.ashare_names:
            raise ValueError(f"akshare does not list {symbol} (its list has {len(self.ashare_names)} "
                             f"A-shares)")
        if symbol not in self._instruments:
            self._instruments[symbol] = ashare_instrument(symbol, self.name)
            self.symbols.append(symbol)  # the quote loop reads it on its next round
            if self.config is not None and symbol not in self.config.symbols:
                self.config = self.config.model_copy(update={"symbols": [*self.config.symbols, symbol]})
        return self._instruments[symbol]

    async def refresh_names(self, max_age_ms: int = NAMES_MAX_AGE_MS) -> None:
        """Fetch the A-share list unless the one held is younger than ``max_age_ms``; a failure keeps the
        cached list and says why (``names_problem``), never raises."""
        if self.ashare_names and time.time() * 1000 - self.names_fetched_ms < max_age_ms:
            return
        try:
            got = await self.client.fetch("names", "")
        except AllSourcesFailed as exc:
            self.names_problem = f"the A-share list could not be fetched: {exc}"
            log.warning("%s: %s", self.name, self.names_problem)
            return
        self.names_problem = "" if not got.stale else "the A-share list is the cached one: " + "; ".join(
            got.errors)
        self.ashare_names, self.names_fetched_ms = dict(got.value), got.fetched_ms

    def open_orders(self) -> list[OpenOrderInfo]:
        return [OpenOrderInfo(r.order.client_order_id, r.vid, r.order.symbol, r.order.side, r.order.quantity,
                              r.filled, r.order.price) for r in self._resting.values()]

    def holding(self, symbol: str) -> rules.Holding:
        entries = self._holdings.get(symbol, [])
        today = rules.local(self._now()).date()
        qty = max(0.0, sum(q for _, q in entries))
        bought_today = sum(q for ts, q in entries if q > 0 and rules.local(ts).date() == today)
        reserved = sum(r.leaves for r in self._resting.values()
                       if r.order.symbol == symbol and r.order.side == Side.SELL)
        return rules.Holding(qty, min(bought_today, qty), reserved)

    def submit(self, order: VenueOrder) -> None:
        now = self._now()
        q = self.quotes.get(order.symbol)
        if order.symbol not in self._instruments:
            self._reject(order, f"unknown symbol: {order.symbol} is not subscribed on akshare")
            return
        if q is None:
            self._reject(order, "no quote yet: akshare has not delivered a price for this symbol")
            return
        side = "BUY" if order.side == Side.BUY else "SELL"
        limits = self.limits.get(order.symbol)
        if limits is not None and limits.day != rules.day_of(now).isoformat():
            limits = None  # another day's: not today's range
        refusal = rules.check_order(order.symbol, side, order.quantity,
                                    order.price if order.order_type == OrderType.LIMIT else None, now,
                                    self.holding(order.symbol), limits)
        if refusal is not None:
            self._reject(order, refusal.message)
            return
        r = _Resting(order, f"AK{self.session}-{next(self._ids):06d}")
        self.on_report(OrderAccepted(order.client_order_id, r.vid, order.symbol, now))
        self._match(r, q, "TAKER")
        if r.leaves > 1e-9:
            if order.order_type == OrderType.MARKET:
                self.on_report(OrderCanceled(order.client_order_id, order.symbol,
                                             "IOC remainder: no more depth", now))
            else:
                self._resting[order.client_order_id] = r

    def cancel(self, client_order_id: str) -> None:
        r = self._resting.pop(client_order_id, None)
        if r is None:
            self.on_report(CancelRejected(client_order_id, "unknown order: not resting on akshare paper",
                                          self._now()))
            return
        self.on_report(OrderCanceled(client_order_id, r.order.symbol, "canceled", self._now()))

    # -------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        self._closing = True
        for task in (self._task, self._names_task):
            if task is None:
                continue
            # cancel until it is done: Python 3.11's wait_for (the executor's deadline) returns a result that
            # arrives with the cancel instead of raising it, and the poll loop went on: close never returned
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.2)
            if not task.cancelled() and task.exception() is not None:
                log.warning("akshare %s: a task ended with %r", self.name, task.exception())
        self.client.shutdown()
        self._status(False, "disconnected")  # the Venues dock must not go on showing it connected

    async def history(self, symbol: str, kind: str = "daily", *args: Any, adjust: str = "none") -> list:
        """Daily or minute bars (fetched on a worker, cached; the cache when every source fails). ``args``:
        daily (start, end) as YYYYMMDD; minute (period,) in minutes. ``adjust``: "none", "forward" (前复权) or
        "backward" (后复权); adjusted bars are never served from the cache, and a request no source can serve
        as asked (adjusted 1-minute bars) is refused before any source is called (``ValueError``)."""
        return (await self.fetch_history(symbol, kind, *args, adjust=adjust)).value

    async def fetch_history(self, symbol: str, kind: str = "daily", *args: Any, adjust: str = "none") -> Fetched:
        """As ``history``, with where the bars came from (source, or the cache and how old) for the chart."""
        problem = adjusted_history_problem(kind, adjust, *args[:1] if kind == "minute" else ())
        if problem:
            raise ValueError(problem)
        return await self.client.fetch(kind, symbol, *args, adjust=adjust)

    async def _run(self) -> None:
        self._status(False, "loading akshare (its first import takes seconds)")
        try:
            await self.client.warm()
        except Exception as exc:  # noqa: BLE001 - a broken akshare install: say so, keep the terminal alive
            self._status(False, f"akshare could not be loaded ({type(exc).__name__}: {exc})")
            return
        self._names_task = asyncio.get_running_loop().create_task(self.refresh_names())
        while not self._closing:
            started = time.monotonic()
            for sym in self.symbols:
                await self.poll_once(sym)
            await asyncio.sleep(max(0.0, self.quote_interval_s - (time.monotonic() - started)))

    async def poll_once(self, symbol: str) -> None:
        try:
            got = await self.client.fetch("quote", symbol)
        except AllSourcesFailed as exc:
            self._feed(symbol, "down", str(exc))
            self._status(False, "down: every akshare source is failing and nothing is cached")
            return
        if got.stale:
            age = (self._now() - got.fetched_ms) / 1000.0
            self._feed(symbol, "stale", f"every source failing; last quote {age:.0f} s old (cache); "
                       + "; ".join(got.errors))
            self._status(False, "stale: every akshare source is failing; serving cached quotes "
                                "(not traded on)")
            return
        self.last_source[symbol] = got.source
        self._feed(symbol, "live" if got.source == "eastmoney" else "fallback",
                   f"via {got.source}" + (f" ({'; '.join(got.errors)})" if got.errors else ""), got.source)
        self._status(True, f"quotes via {got.source}")
        self.on_quote(got.value)

    def on_quote(self, q: Quote) -> None:
        """A fresh quote: publish it, then fill resting orders it crosses and expire them after the close."""
        now = self._now()
        prev_close = q.prev_close or getattr(self.quotes.get(q.symbol), "prev_close", 0.0)  # degraded: keep
        q = Quote(q.symbol, now, q.last, prev_close, q.bids, q.asks, q.volume, q.limit_up, q.limit_down,
                  q.source)
        self.quotes[q.symbol] = q
        if prev_close:
            limits = rules.DailyLimits.of(self.name, q.symbol, rules.day_of(now), prev_close, now,
                                          lower=q.limit_down, upper=q.limit_up)
            known = self.limits.get(q.symbol)
            key = (limits.day, limits.lower, limits.upper)
            if known is None or (known.day, known.lower, known.upper) != key:
                self.limits[q.symbol] = limits
                self.on_data(limits)
        bids = q.bids or (((q.last, 0.0),) if q.last else ())
        asks = q.asks or (((q.last, 0.0),) if q.last else ())
        iid = make_id(q.symbol, self.name)  # on the bus: the instrument id
        self.on_data(BookSnapshot(iid, bids, asks, now))
        prev = self._volume.get(q.symbol)
        self._volume[q.symbol] = q.volume
        if prev is None and q.last > 0:  # the first quote: its last price, so marks and views have one
            self.on_data(TradeTick(iid, q.last, 0.0, Side.BUY, f"ak-{q.symbol}-first-{now}", now))
        elif prev is not None and q.volume > prev and q.last > 0:
            aggressor = Side.BUY if q.asks and q.last >= q.asks[0][0] else Side.SELL
            tid = f"ak-{q.symbol}-{int(q.volume)}"
            self.on_data(TradeTick(iid, q.last, q.volume - prev, aggressor, tid, now))
        state = rules.session_state(now)
        for cid, r in list(self._resting.items()):
            if r.order.symbol != q.symbol:
                continue
            if state == "open":
                self._match(r, q, "MAKER")
                if r.leaves <= 1e-9:
                    self._resting.pop(cid, None)
            elif state in ("closed", "holiday") and rules.local(now).time() >= rules.SESSIONS[1][1]:
                self._resting.pop(cid, None)
                self.on_report(OrderCanceled(cid, r.order.symbol, "expired at the 15:00 close (day order)",
                                             now))

    # ---------------------------------------------------------------------------------------- matching
    def _match(self, r: _Resting, q: Quote, liquidity: str) -> None:
        o = r.order
        levels = q.asks if o.side == Side.BUY else q.bids
        if not levels and q.last > 0 and not q.bids and not q.asks:
            levels = ((q.last, float("inf")),)  # degraded quote (no depth): trade at the last price
        limit = o.price if o.order_type == OrderType.LIMIT else None
        lot = self._instruments[o.symbol].lot_size
        for price, size in levels:
            if r.leaves <= 1e-9:
                break
            if limit is not None and ((o.side == Side.BUY and price > limit + 1e-9) or
                                      (o.side == Side.SELL and price < limit - 1e-9)):
                break
            qty = min(r.leaves, size)
            if qty < r.leaves and lot > 1:
                qty = (qty // lot) * lot  # fills in board lots while more remains
            if qty <= 0:
                continue
            self._fill(r, price, qty, liquidity)

    def _fill(self, r: _Resting, price: float, qty: float, liquidity: str) -> None:
        o = r.order
        now = self._now()
        r.filled += qty
        notional = price * qty
        fee = rules.fill_fees(o.side.value, price, qty, now, r.value, self.fee_rate).total
        r.value += notional
        self._holdings.setdefault(o.symbol, []).append((now, qty if o.side == Side.BUY else -qty))
        self.on_report(OrderFilled(o.client_order_id, r.vid, f"AKT{self.session}-{next(self._trades)}", o.symbol,
                                   self.name, o.side, price, qty, round(fee, 2), "CNY", liquidity, now))

    def _reject(self, order: VenueOrder, reason: str) -> None:
        self.on_report(OrderRejected(order.client_order_id, order.symbol, reason, self._now()))

    # ----------------------------------------------------------------------------------------- status
    def _status(self, connected: bool, text: str) -> None:
        if connected == self._connected and text == self._status_text:
            return
        self._connected, self._status_text = connected, text
        self.on_data(VenueStatus(self.name, connected, text, self._now()))

    def _feed(self, symbol: str, state: str, message: str, source: str = "") -> None:
        key = f"{state}:{source}"
        if self.feed_states.get(symbol) == key:
            return
        self.feed_states[symbol] = key
        self.on_data(FeedStatus(self.name, make_id(symbol, self.name), "quotes", state, message, self._now()))


def default_symbols() -> list[str]:
    return ["600519.SH", "000001.SZ"]


def plan_akshare(profile: Path, opts: Any, plan: Any) -> Any:
    """``kestrel run --headless --venue akshare --symbols 600519.SH``: the plan headless.py follows."""
    from app.engine.core.instruments import default_instruments

    from app.engine.venues.akshare.data import warm_imports

    warm_imports()  # seconds of imports before the loop starts, not on it
    symbols = [s.upper() for s in (opts.symbols or default_symbols())]
    plan.instruments = default_instruments()
    plan.instruments += [ashare_instrument(s) for s in symbols]

    async def attach(kernel: Any, _opts: Any, runtime: Any) -> None:
        venue = AkshareVenue(symbols, kernel.execution.on_report, kernel.bus.publish,
                             client=AkshareClient(AkshareCache(kernel.store.conn)),
                             now_ms=kernel.clock.now_ms, fills=lambda: list(kernel.store.fills()))
        kernel.venues.add(venue, instruments=False)  # the plan put them in the table
        recorder = getattr(runtime, "recorder", None)
        if recorder is not None:
            recorder.add_instruments(venue.instruments())
        kernel.venues.start()

    plan.attach_fn = attach
    return plan
