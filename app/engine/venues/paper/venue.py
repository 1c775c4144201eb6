"""``PaperVenue``: paper trading on a ccxt exchange's live market, with no keys.

It owns a keyless, data-only ``CcxtVenue`` (the same connection, reconnects, streams or polling, rate gate and
errors as a real venue's "market data only" mode) and publishes that live book and those trades under its own
ids (``BTC/USDT@binance-paper``; ``Instrument.market`` is the exchange, so charts and strategies read the
exchange's stored history). Nothing it does reaches the exchange's order endpoints: paper orders are matched
here, per instrument, by a ``QueueModel`` (queue.py) fed with the live events:

ARRIVAL   an order or a cancel reaches the paper exchange ``paper_latency_ms`` after it is sent; an order is
          acknowledged then, and what crosses the displayed book is taken at once.
FILLS     a resting limit fills at its own price, as maker, once the volume estimated ahead of it has traded
          (or the book moved through it); a marketable order takes the displayed levels at their prices, as
          taker, up to their sizes; a market order's remainder beyond the displayed depth is canceled. Our
          orders leave the live book as it is: no market impact. Fees are the instrument's maker and taker
          rates; fills come in lots of the instrument.
BALANCES  the paper account starts at the config's ``paper_balances`` and moves with this venue's fills (the
          journal's, after a restart); a buy the free quote balance cannot pay for (limit price or the walked
          book, with the taker fee), or a sell of more base than is free, is refused ("paper balance: ...").
STALE     no book of an instrument for longer than the config's ``stale_after_s``: new paper orders on it are
          refused ("paper feed stale: ..."), its working orders are marked stale (their reason says so, an
          Alert too) and nothing fills them. When books come back every resting order rejoins the back of its
          level as shown then (what traded meanwhile is unknown).
RESTART   paper orders live as long as the venue that holds them: after a restart the journal's working paper
          orders are not open here, and the reconcile on connect cancels them with ``reconcile_reason``.

Reject reasons start with a stable phrase: "paper venue not ready", "duplicate client order id", "unknown
symbol", "invalid quantity", "invalid price", "min notional", "paper feed stale", "paper balance", "no
liquidity".
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from app.engine.core.ids import session_token
from app.engine.core.instruments import Instrument, split_id
from app.engine.core.messages import (
    Alert, BookSnapshot, CancelRejected, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderType,
    Side, TimeInForce, TradeTick, VenueStatus,
)
from app.engine.venues.base import OpenOrderInfo, Report, VenueOrder
from app.engine.venues.events import OrderNote
from app.engine.venues.paper.queue import EPS, PaperFill, QueueModel
from app.engine.venues.sim.rules import check_instrument
from app.engine.venues.venue_config import CcxtVenueConfig

log = logging.getLogger("kestrel.venues.paper")


@dataclass
class _PaperOrder:
    """The paper exchange's record of one of our orders (from the time it is sent until it ends)."""

    order: VenueOrder
    vid: str
    reserve_price: float  # what a buy is reserved at (limit price, or the walked book when sent)
    arrived: bool = False
    filled: float = 0.0  # what the queue model has filled (floats)
    reported: float = 0.0  # what was reported (in lots)
    stale: bool = False

    @property
    def leaves(self) -> float:
        return self.order.quantity - self.reported


class PaperVenue:
    """Paper orders on a ccxt exchange's live market (see the module docstring)."""

    mode = "paper"
    order_features = frozenset({"IOC", "FOK", "post_only"})  # against the live book, as the sim does (base.py)

    def __init__(self, config: CcxtVenueConfig, on_report: Report, on_data: Report, *,
                 now_ms: Callable[[], int] | None = None, fills: Callable[[], Iterable[dict]] | None = None,
                 on_instruments: Callable[[list[Instrument]], None] | None = None) -> None:
        """``now_ms``: the terminal's clock (reports' times); ``fills``: the journal's fills (the account
        after a restart); ``on_instruments``: called with the instruments each time the exchange's markets
        load."""
        from app.engine.venues.ccxt.venue import CcxtVenue  # ccxt's own import waits for a real venue

        self.config = config
        self.name = config.name
        self.market = config.exchange  # whose market data and history these are
        self.on_report, self._publish = on_report, on_data
        self._now = now_ms or (lambda: int(time.time() * 1000))
        self.latency_s = config.paper_latency_ms / 1000.0
        self.stale_s = config.stale_after_s
        self.session = session_token()  # in every paper order and trade id: unique across restarts
        self.reconcile_reason = (f"paper order of an earlier session: {self.name} restarted, and paper "
                                 f"orders end with the session that placed them (nothing was sent to "
                                 f"{self.market})")
        self.instrument_listeners: list[Callable[[list[Instrument]], None]] = \
            [on_instruments] if on_instruments else []
        self.data = CcxtVenue(config.model_copy(update={"paper": False}), self._no_report, self._on_market,
                              credentials=None, journal=None, now_ms=self._exchange_ms,
                              on_instruments=self._on_instruments)
        self._instruments: dict[str, Instrument] = {}
        self._models: dict[str, QueueModel] = {}
        self._orders: dict[str, _PaperOrder] = {}  # not ended yet (in flight or working)
        self._seen: set[str] = set()  # every client order id sent here (duplicates are refused)
        self._last_book: dict[str, float] = {}  # symbol -> monotonic time of its last book
        self._stale: dict[str, float] = {}  # symbol -> monotonic time it was found stale
        self._ids, self._trades = itertools.count(1), itertools.count(1)
        self.balances: dict[str, float] = dict(config.paper_balances)
        for f in (fills() if fills else ()):
            if f.get("venue") == self.name:
                self._book_balance(f["symbol"], Side(f["side"]), f["price"], f["quantity"], f["fee"])
        self._connected = False
        self._watch: asyncio.Task | None = None
        self._timers: set[asyncio.TimerHandle] = set()

    # ------------------------------------------------------------------------------------------ VenueAdapter
    @property
    def connected(self) -> bool:
        return self._connected

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())

    def open_orders(self) -> list[OpenOrderInfo]:
        return [OpenOrderInfo(p.order.client_order_id, p.vid, p.order.symbol, p.order.side, p.order.quantity,
                              p.reported, p.order.price) for p in self._orders.values()]

    def submit(self, order: VenueOrder) -> None:
        """Checked now (readiness, the instrument's rules, a live feed, the paper balance); it reaches the
        paper exchange after the latency."""
        reason = self._refusal(order)
        cid = order.client_order_id
        if reason is None:
            p = _PaperOrder(order, f"P{self.session}-{next(self._ids):06d}", self._reserve_price(order))
            reason = self._balance_refusal(p)
            if reason is None:
                self._seen.add(cid)
                self._orders[cid] = p
                self._later(self._arrive, p)
                return
        self._seen.add(cid)
        self.on_report(OrderRejected(cid, order.symbol, reason, self._now()))

    def cancel(self, client_order_id: str) -> None:
        """Reaches the paper exchange after the latency (the order may fill meanwhile); works with the feed
        down too: a cancel needs no market."""
        if client_order_id not in self._orders:
            self.on_report(CancelRejected(client_order_id, f"unknown order: not working on {self.name}",
                                          self._now()))
            return
        self._later(self._cancel_arrives, client_order_id)

    # --------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.data.start()
        if self._watch is None or self._watch.done():
            self._watch = asyncio.get_running_loop().create_task(self._watch_feed())

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            try:
                await self._watch
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing
                pass
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.data.close()

    def reconnect(self, credentials: Any = None) -> None:
        """The same settings connected again: the market data starts over if it had failed (keys are never
        used here)."""
        self.data.reconnect(None)

    # ------------------------------------------------------------------------------------------- accessors
    def queue_ahead(self, client_order_id: str) -> float | None:
        """The volume estimated ahead of a resting paper order (None: not resting, or beyond the depth)."""
        for model in self._models.values():
            o = model.orders.get(client_order_id)
            if o is not None:
                return o.ahead
        return None

    def stale_symbols(self) -> list[str]:
        return sorted(self._stale)

    # ------------------------------------------------------------------------------------------ market data
    def _exchange_ms(self) -> int:
        """The exchange's clock (ms): the one its books' and trades' times are on."""
        return int(time.time() * 1000) - int(getattr(self.data, "time_offset_ms", 0) or 0)

    def _no_report(self, event: Any) -> None:
        log.error("%s: the data-only connection reported an order event (ignored): %r", self.name, event)

    def _on_instruments(self, insts: list[Instrument]) -> None:
        insts = [dataclasses.replace(i, market=self.market) for i in insts]
        self._instruments = {i.symbol: i for i in insts}
        for i in insts:
            self._models.setdefault(i.symbol, QueueModel())
        for listener in self.instrument_listeners:
            listener(insts)

    def _on_market(self, msg: Any) -> None:
        """Everything the data connection publishes: statuses in the paper venue's words, books and trades to
        the bus and to the queue models."""
        kind = type(msg)
        if kind is VenueStatus:
            self._on_status(msg)
            return
        self._publish(msg)
        try:
            if kind is BookSnapshot:
                self._on_book(msg)
            elif kind is TradeTick:
                symbol = split_id(msg.symbol)[0]
                model = self._models.get(symbol)
                if model is not None and symbol not in self._stale:
                    self._fills(model.on_trade(msg))
        except Exception:  # noqa: BLE001 - one bad event must not stop the feed
            log.exception("%s: paper matching failed on %r", self.name, msg)

    def _on_status(self, status: VenueStatus) -> None:
        from app.engine.venues.ccxt.connection import PUBLIC

        ready = self.data.state == PUBLIC
        if ready:
            text = (f"PAPER trading on {self.market}'s live market: orders are matched here against its book "
                    f"and trades; nothing is sent to {self.market} (no keys)")
        else:
            text = f"paper, {status.message}"
        self._connected = ready
        self._publish(VenueStatus(self.name, ready, text, self._now()))

    def _on_book(self, book: BookSnapshot) -> None:
        symbol = split_id(book.symbol)[0]
        model = self._models.get(symbol)
        if model is None:
            return
        self._last_book[symbol] = time.monotonic()
        fills = model.on_book(book)
        if symbol in self._stale:
            self._recovered(symbol, model)
        self._fills(fills)

    async def _watch_feed(self) -> None:
        """Find instruments whose book stopped coming (a silent stream sends nothing to notice it by)."""
        while True:
            await asyncio.sleep(min(0.25, self.stale_s / 4))
            now = time.monotonic()
            for symbol, last in list(self._last_book.items()):
                if symbol not in self._stale and now - last > self.stale_s:
                    self._went_stale(symbol, now - last)

    def _went_stale(self, symbol: str, age: float) -> None:
        self._stale[symbol] = time.monotonic()
        since = _hhmmss(self._now() - int(age * 1000))
        note = f"paper feed stale since {since}: no fills until {self.market}'s book of {symbol} is back"
        working = [p for p in self._orders.values() if p.order.symbol == symbol and p.arrived]
        for p in working:
            p.stale = True
            self.on_report(OrderNote(p.order.client_order_id, symbol, note, self._now()))
        log.warning("%s: %s stale (no book for %.1f s); %d working paper order(s) marked stale", self.name,
                    symbol, age, len(working))
        self._publish(Alert("warning", f"{self.name}: paper feed stale",
                            f"No book of {symbol} from {self.market} for {age:.1f} s (the limit is "
                            f"{self.stale_s:g} s). {len(working)} working paper order(s) on it are marked "
                            f"stale and do not fill; new paper orders on it are refused until it is live "
                            f"again.",
                            self._now()))

    def _recovered(self, symbol: str, model: QueueModel) -> None:
        del self._stale[symbol]
        model.rejoin()
        note = (f"paper feed live again at {_hhmmss(self._now())}: the order rejoined the back of its level "
                f"(what traded meanwhile is unknown)")
        working = [p for p in self._orders.values() if p.order.symbol == symbol and p.stale]
        for p in working:
            p.stale = False
            self.on_report(OrderNote(p.order.client_order_id, symbol, note, self._now()))
        self._publish(Alert("info", f"{self.name}: paper feed live again",
                            f"{symbol}: books from {self.market} again; {len(working)} working paper "
                            f"order(s) rejoined the back of their levels.", self._now()))

    # ---------------------------------------------------------------------------------------------- orders
    def _later(self, fn: Callable[..., None], *args: Any) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._timers.discard(handle)
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - a paper order's trouble must not stop the loop
                log.exception("%s: paper %s failed", self.name, fn.__name__)
        handle = loop.call_later(self.latency_s, run)
        self._timers.add(handle)

    def _arrive(self, p: _PaperOrder) -> None:
        o = p.order
        if self._orders.get(o.client_order_id) is not p:
            return
        reason = self._feed_refusal(o.symbol)
        if reason is not None:
            del self._orders[o.client_order_id]
            self.on_report(OrderRejected(o.client_order_id, o.symbol, reason, self._now()))
            return
        model = self._models[o.symbol]
        price = o.price if o.order_type == OrderType.LIMIT else None
        levels = model.book.asks if o.side == Side.BUY else model.book.bids
        if o.post_only and price is not None and levels and \
                (price >= levels[0][0] if o.side == Side.BUY else price <= levels[0][0]):
            del self._orders[o.client_order_id]
            self.on_report(OrderRejected(o.client_order_id, o.symbol, f"post-only: a {o.side.value.lower()} at "
                                         f"{price:g} would take the {'ask' if o.side == Side.BUY else 'bid'} at "
                                         f"{levels[0][0]:g} of {self.market}'s live book; not placed", self._now()))
            return
        p.arrived = True
        self.on_report(OrderAccepted(o.client_order_id, p.vid, o.symbol, self._now()))
        if o.tif is TimeInForce.FOK:
            there = sum(q for px, q in levels if price is None
                        or (px <= price if o.side == Side.BUY else px >= price))
            if there < o.quantity - 1e-12:  # whole at once from the displayed book, or nothing
                del self._orders[o.client_order_id]
                where = f"at {price:g} or better" if price is not None else "in the displayed book"
                self.on_report(OrderCanceled(o.client_order_id, o.symbol, f"FOK: only {there:g} of "
                                             f"{o.quantity:g} displayed {where}; nothing filled", self._now()))
                return
        self._fills(model.place(o.client_order_id, o.side, price, o.quantity, ts=self._exchange_ms()))
        if price is not None and o.tif is not TimeInForce.GTC and o.client_order_id in self._orders:
            model.cancel(o.client_order_id)  # IOC / FOK never rest
            del self._orders[o.client_order_id]
            self.on_report(OrderCanceled(o.client_order_id, o.symbol, f"{o.tif.value} remainder", self._now()))
        if price is None and o.client_order_id in self._orders:
            del self._orders[o.client_order_id]
            self.on_report(OrderCanceled(o.client_order_id, o.symbol, "IOC remainder: the displayed depth "
                                         "ran out (paper orders take only what the book shows)", self._now()))

    def _cancel_arrives(self, cid: str) -> None:
        p = self._orders.pop(cid, None)
        if p is None:
            self.on_report(CancelRejected(cid, "order not open: it ended before the cancel arrived",
                                          self._now()))
            return
        model = self._models.get(p.order.symbol)
        if model is not None:
            model.cancel(cid)
        self.on_report(OrderCanceled(cid, p.order.symbol, "canceled", self._now()))

    def _fills(self, fills: list[PaperFill]) -> None:
        for f in fills:
            p = self._orders.get(f.cid)
            if p is None:
                continue
            inst = self._instruments[p.order.symbol]
            p.filled += f.qty
            done = p.order.quantity - p.filled <= 1e-9 * max(1.0, p.order.quantity)
            target = p.order.quantity if done else inst.round_qty_down(p.filled)
            qty = round(target - p.reported, inst.qty_decimals + 2)
            if done:
                del self._orders[f.cid]
            if qty <= 0:
                continue
            p.reported += qty
            fee = f.price * qty * (inst.maker_fee if f.maker else inst.taker_fee)
            self._book_balance(inst.symbol, p.order.side, f.price, qty, fee)
            trade_id = f"PT{self.session}-{next(self._trades)}"
            self.on_report(OrderFilled(f.cid, p.vid, trade_id, inst.symbol, self.name, p.order.side, f.price,
                                       qty, fee, inst.quote, "MAKER" if f.maker else "TAKER", self._now()))

    # -------------------------------------------------------------------------------------------- checks
    def _refusal(self, o: VenueOrder) -> str | None:
        if not self._connected:
            return (f"paper venue not ready: {self.name} has no live market from {self.market} yet "
                    f"({self.data.state_detail}); not accepted")
        if o.client_order_id in self._seen:
            return f"duplicate client order id: {o.client_order_id}"
        inst = self._instruments.get(o.symbol)
        if inst is None:
            return f"unknown symbol: {o.symbol} is not among {self.name}'s markets"
        reason = check_instrument(inst, o) or self._feed_refusal(o.symbol)  # the sim's words for the first
        if reason is not None:
            return reason
        q = o.quantity
        book = self._models[o.symbol].book
        levels = book.asks if o.side == Side.BUY else book.bids
        if o.order_type == OrderType.MARKET and not levels:
            return "no liquidity: the opposite side of the live book is empty"
        ref = o.price if o.order_type == OrderType.LIMIT else levels[0][0]
        if inst.min_notional > 0 and q * ref < inst.min_notional * (1 - 1e-9):
            return f"min notional: {q * ref:g} below {inst.min_notional:g}"
        return None

    def _feed_refusal(self, symbol: str) -> str | None:
        last = self._last_book.get(symbol)
        if last is None:
            return (f"paper feed stale: no book of {symbol} from {self.market} yet; paper orders are refused "
                    f"until its market data is live")
        age = time.monotonic() - last
        if symbol in self._stale or age > self.stale_s:
            return (f"paper feed stale: no book of {symbol} from {self.market} for {age:.1f} s (the limit is "
                    f"{self.stale_s:g} s); paper orders are refused until it is live again")
        return None

    def _reserve_price(self, o: VenueOrder) -> float:
        """What each unit of a buy is held at: its limit, or the average of the live asks a market buy of its
        size would take now (the worst shown price beyond them)."""
        if o.order_type == OrderType.LIMIT:
            return float(o.price)
        model = self._models.get(o.symbol)
        levels = (model.book.asks if o.side == Side.BUY else model.book.bids) if model and model.book else ()
        left, cost = o.quantity, 0.0
        for price, size in levels:
            take = min(size, left)
            cost, left = cost + take * price, left - take
            if left <= EPS:
                break
        if levels and left > EPS:
            cost += left * levels[-1][0]
        return cost / o.quantity if o.quantity else 0.0

    def _balance_refusal(self, p: _PaperOrder) -> str | None:
        o, inst = p.order, self._instruments[p.order.symbol]
        held = [q for q in self._orders.values()
                if q.order.side == o.side and q.order.symbol in self._instruments]
        if o.side == Side.BUY:
            ccy, fee = inst.quote, max(inst.maker_fee, inst.taker_fee)
            need = o.quantity * p.reserve_price * (1 + fee)
            reserved = sum(q.leaves * q.reserve_price * (1 + fee) for q in held
                           if self._instruments[q.order.symbol].quote == ccy)
            what = f"buying {o.quantity:g} {o.symbol} at {p.reserve_price:,.{inst.price_decimals}f}"
        else:
            ccy = inst.base
            need = o.quantity
            reserved = sum(q.leaves for q in held if self._instruments[q.order.symbol].base == ccy)
            what = f"selling {o.quantity:g} {o.symbol}"
        free = self.balances.get(ccy, 0.0) - reserved
        if need <= free * (1 + 1e-9):
            return None
        account = ", ".join(f"{c} {v:,.8g}" for c, v in sorted(self.balances.items())) or "empty"
        return (f"paper balance: {what} needs {need:,.8g} {ccy}; {self.name} has {max(free, 0.0):,.8g} {ccy} "
                f"free (paper balances: {account}; set them in the venue's paper_balances)")

    def _book_balance(self, symbol: str, side: Side, price: float, qty: float, fee: float) -> None:
        inst = self._instruments.get(symbol)
        if inst is not None:
            base, quote = inst.base, inst.quote
        else:  # a journal fill before its market loaded: the symbol says ("BTC/USDT", "ETH/USDT:USDT")
            base, _, quote = symbol.partition("/")
            quote = quote.split(":")[0]
        sign = 1.0 if side == Side.BUY else -1.0
        if quote:
            self.balances[quote] = self.balances.get(quote, 0.0) - sign * price * qty - fee
        if base:
            self.balances[base] = self.balances.get(base, 0.0) + sign * qty


def _hhmmss(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%H:%M:%S UTC")
