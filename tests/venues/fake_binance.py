"""A fake Binance-shaped spot exchange on 127.0.0.1: REST (``/api/v3``) and websocket market streams.

It answers what ccxt's ``binance`` class asks for, in Binance's own JSON shapes and error codes, so tests
and benchmarks drive the *real* ccxt client code (signing, parsing, error mapping, the order-book sequence
logic of ``ccxt.pro``) through Kestrel's adapter, without the internet.

Market: each symbol has a seeded random-walk book (``levels`` per side) and prints a trade and a diff-depth
update every ``tick_s``. Orders: LIMIT and MARKET; a market order or a crossing limit fills against the book
at once (``partial_fills`` fills half and rests the rest), others rest until ``fill_order`` or the walk
crosses them. ``POST /order/cancelReplace`` (ccxt's ``editOrder``) cancels one and places another, as
Binance does (``replaced`` lists them). Signed endpoints check the API key, the HMAC-SHA256 signature and the
timestamp against ``recvWindow`` on the exchange's own clock (``clock_offset_ms``).

What it heard: ``requests`` ((method, path) in arrival order), ``arrived`` (with the arrival time), ``served``
(answers sent per "METHOD /path"): a test waits for N more polls to be answered instead of sleeping.

Fault knobs (all reset by ``reset_faults``):
  fail_next(route, status, code, msg, n, retry_after)  the next n requests on ``route`` ("POST /api/v3/order",
                                                       or "*") get this error
  rate_limit(n, retry_after_s)                         the next n requests get 429 + Retry-After
  ban(seconds)                                         every request gets 418 + Retry-After for that long
  slow(route, seconds)                                 responses on ``route`` are delayed
  hang_after_place(seconds)                            POST /order places the order, then answers late
  clock_offset_ms                                      the exchange's clock runs ahead (+) or behind (-)
  drop_websockets()                                    closes every websocket (clients must reconnect)
  gap_next_depth(symbol)                               the next depth update skips update ids
  duplicate_ws                                         every websocket message is sent twice
  partial_fills                                        crossing orders fill only half
  reject_next_order(code, msg)                         the next create gets this Binance error
  ws_silent                                            stop sending market data without closing sockets
  fault(route, kind, n, reached=..., after=k)         the next n requests on ``route`` get a broken reply
                                                       of ``kind`` (FAULTS); with ``reached`` the exchange
                                                       acted on the request first (an order was placed,
                                                       canceled...) and only the reply is broken; ``after``
                                                       lets k matching requests through first (the fault
                                                       hits the (k+1)th)

A test that drives the market by hand (``auto_market=False``): ``set_level(symbol, "bid"|"ask", price, qty)``
changes one level of the book (0 removes it) and ``print_trade(symbol, price, qty, aggressor)`` prints a trade
that takes its size from the resting level at that price, as a real match would; both reach websocket clients
(a diff-depth update, a trade) and REST (``depth``; ``trades``/``aggTrades`` serve the printed trades once any
was printed, the synthetic five before). A recording is replayed (tests/venues/fake_replay.py) with
``print_recorded(symbol, price, qty, aggressor, time_ms, trade_id)``, a print at a given exchange time that
leaves the book alone, and ``show_book(symbol, bids, asks)``, which replaces the whole book (levels that went are
sent at 0); ``specs`` gives a market other than the BTC/ETH defaults (tick, step, min notional, mid).

Candle history (``GET /api/v3/klines``): a deterministic series per (symbol, interval) from
``history_start_ms`` up to now (the last candle is the forming one, as Binance sends it): ``candles`` gives
the exchange's own rows for a range, what a download must reproduce. Requests honour ``startTime``,
``endTime`` (inclusive, as Binance) and ``limit`` (default 500, at most 1000); without a start they end at
``endTime`` or now. ``kline_requests`` keeps every request's parameters. Knobs:
  kline_gap(start_ms, end_ms)                          no candles open in [start, end) (maintenance)
  kline_overlap                                        every page also carries this many candles before
                                                       ``startTime`` (as some exchanges do)
  kline_repeat                                         every page sends its last k candles a second time,
                                                       at its end (a bar twice, out of order)
  kline_max_rows                                       pages hold at most this many candles, whatever the
                                                       ``limit`` (a short page that is not the end)
  fault("GET /api/v3/klines", "429"|"5xx"|"drop", n, after=k)   a 429 + Retry-After, a 503, or the
                                                       connection closed with no reply, on the (k+1)th page
  slow("GET /api/v3/klines", s)                        every page answers s seconds late
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import itertools
import json
import math
import random
import time
import urllib.parse
from dataclasses import dataclass, field

import numpy as np
from aiohttp import WSMsgType, web

ERRORS = {  # Binance error codes the fake can return (as Binance does, with these HTTP statuses)
    "insufficient": (400, -2010, "Account has insufficient balance for requested action."),
    "filter": (400, -1013, "Filter failure: LOT_SIZE"),
    "unknown_order": (400, -2011, "Unknown order sent."),
    "no_such_order": (400, -2013, "Order does not exist."),
    "bad_key": (401, -2015, "Invalid API-key, IP, or permissions for action."),
    "bad_signature": (400, -1022, "Signature for this request is not valid."),
    "timestamp": (400, -1021, "Timestamp for this request is outside of the recvWindow."),
    "duplicate": (400, -2010, "Duplicate order sent."),
    "illegal_order_id": (400, -1100, "Illegal characters found in parameter 'orderId'; legal range is "
                                     "'^[0-9]{1,20}$'."),
    "too_many": (429, -1003, "Too many requests; current limit of IP is 6000 request weight per 1 minute."),
    "banned": (418, -1003, "Way too many requests; IP banned until {until}."),
    "internal": (500, -1000, "An unknown error occurred while processing the request."),
    "unavailable": (503, -1001, "Internal error; unable to process your request. Please try again."),
}


FAULTS = {  # kind -> what the client receives (see FakeBinance.fault)
    "malformed": "200, a body that is not JSON at all",
    "truncated": "200, the real reply cut off half-way",
    "html": "a 502 (or ``status``) HTML error page, as a proxy or load balancer sends",
    "empty": "200 with an empty body",
    "5xx": "a 503 (or ``status``) Binance error -1001",
    "429": "429 -1003 with Retry-After ``retry_after`` s",
    "timeout": "the reply comes ``seconds`` s late (longer than the client waits)",
    "wrong_order": "the reply describes another order (another id and client id)",
    "no_id": "the real reply without orderId",
    "no_status": "the real reply without status",
    "not_found": "400 -2013 Order does not exist, whether or not it does",
    "drop": "the connection is closed with no reply at all (the network dropped half-way)",
}
INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
                "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000}
HISTORY_START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC: the first candle of every series
_MUTATES = {"truncated", "wrong_order", "no_id", "no_status"}  # these need the real reply


@dataclass
class FakeOrder:
    order_id: int
    client_order_id: str
    symbol: str  # exchange id, "BTCUSDT"
    side: str  # "BUY"/"SELL"
    type: str  # "LIMIT"/"MARKET"
    price: float
    qty: float
    executed: float = 0.0
    quote: float = 0.0
    status: str = "NEW"
    time: int = 0
    update_time: int = 0
    stop_price: float = 0.0  # STOP_LOSS / STOP_LOSS_LIMIT: off the book until the last trade reaches it
    triggered: bool = False
    trailing_delta: int = 0  # a trailing STOP_LOSS: basis points behind the best trade since it was placed
    water: float = 0.0  # that best trade (a sell's highest, a buy's lowest)

    def as_json(self) -> dict:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id, "price": f"{self.price:.8f}", "origQty": f"{self.qty:.8f}",
                "executedQty": f"{self.executed:.8f}", "cummulativeQuoteQty": f"{self.quote:.8f}",
                "status": self.status, "timeInForce": "GTC" if "LIMIT" in self.type else "IOC", "type": self.type,
                "side": self.side, "stopPrice": f"{self.stop_price:.8f}", "icebergQty": "0.00000000", "time": self.time,
                "updateTime": self.update_time, "isWorking": self.status in ("NEW", "PARTIALLY_FILLED"),
                "workingTime": self.time, "origQuoteOrderQty": "0.00000000",
                "selfTradePreventionMode": "EXPIRE_MAKER",
                **({"trailingDelta": self.trailing_delta, "trailingTime": self.time} if self.trailing_delta else {})}


@dataclass
class FakeMarket:
    symbol: str  # "BTC/USDT"
    base: str
    quote: str
    tick: float
    step: float
    mid: float
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    update_id: int = 1000
    trade_id: int = 5000
    printed: list[dict] = field(default_factory=list)  # trades printed by ``print_trade`` (time, id, ...)
    min_notional: float = 5.0
    last_trade: float = 0.0  # what our stops trigger on

    @property
    def id(self) -> str:
        return self.base + self.quote

    @property
    def decimals(self) -> int:
        """The decimals of a price on this market's tick (0.01 -> 2, 0.00000001 -> 8)."""
        return max(0, -math.floor(math.log10(self.tick) + 1e-9))

    def px(self, price: float) -> str:
        """``price`` as Binance writes it on this market."""
        return f"{price:.{self.decimals}f}"


class FakeBinance:
    def __init__(self, symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"), *, api_key: str = "fake-key",
                 secret: str = "fake-secret", seed: int = 1, tick_s: float = 0.02, levels: int = 10,
                 auto_market: bool = True, prices: dict[str, float] | None = None,
                 specs: dict[str, dict] | None = None) -> None:
        """``specs``: per symbol, what differs from the BTC/ETH defaults (``tick``, ``step``, ``min_notional``,
        ``mid``), e.g. ``{"XRP/ETH": {"tick": 1e-8, "step": 1.0, "min_notional": 0.01, "mid": 0.0014}}``."""
        self.api_key, self.secret = api_key, secret
        self.rng = random.Random(seed)
        self.tick_s, self.levels, self.auto_market = tick_s, levels, auto_market
        prices = prices or {"BTC": 60_000.0, "ETH": 3_000.0}
        self.markets: dict[str, FakeMarket] = {}
        for sym in symbols:
            base, quote = sym.split("/")
            tick, step = (0.01, 0.00001) if base == "BTC" else (0.01, 0.0001)
            spec = (specs or {}).get(sym, {})
            m = FakeMarket(sym, base, quote, spec.get("tick", tick), spec.get("step", step),
                           spec.get("mid", prices.get(base, 100.0)), min_notional=spec.get("min_notional", 5.0))
            self._rebuild_book(m)
            self.markets[m.id] = m
        self.orders: dict[int, FakeOrder] = {}
        self.my_trades: list[dict] = []
        self.balances = {"USDT": 1_000_000.0, "BTC": 10.0, "ETH": 100.0}
        self._order_ids = itertools.count(1)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every REST request, for assertions
        self.arrived: list[tuple[float, str]] = []  # (time.monotonic(), "METHOD /path") of every REST request
        self.served: collections.Counter[str] = collections.Counter()  # "METHOD /path" -> answers sent
        self.ws_clients: set[web.WebSocketResponse] = set()
        self.ws_connects = 0
        self.created_params: list[dict] = []  # every create's parameters, as the exchange received them
        self.replaced: list[tuple[int, int]] = []  # (old order id, new order id) of every cancel-replace
        self.replace_params: list[dict] = []  # every cancel-replace's parameters, as the exchange received them
        self.replace_refused: list[dict] = []  # the new order's refusal of every cancel-replace that canceled only
        self.history_start_ms = HISTORY_START_MS
        self.kline_requests: list[dict] = []  # the parameters of every klines request, in arrival order
        self.sent_at: dict[tuple[str, int], float] = {}  # (symbol id, trade id) -> perf_counter at send
        self.record_send_times = False
        self.reset_faults()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task | None = None
        self.port = 0

    # ------------------------------------------------------------------------------------------ faults
    def reset_faults(self) -> None:
        self._fail: list[list] = []  # [route, status, code, msg, remaining, retry_after]
        self._slow: dict[str, float] = {}
        self._ban_until = 0.0
        self._hang_after_place = 0.0
        self.clock_offset_ms = 0
        self.duplicate_ws = False
        self.partial_fills = False
        self.ws_silent = False
        self._gap: set[str] = set()
        self._reject_next: tuple[int, str] | None = None
        self._faults: list[dict] = []
        self.kline_gaps: list[tuple[int, int]] = []
        self.kline_overlap = 0
        self.kline_max_rows = 1000
        self.kline_repeat = 0

    def kline_gap(self, start_ms: int, end_ms: int) -> None:
        """No candle of any interval opens in [start_ms, end_ms): the exchange's own hole (maintenance)."""
        self.kline_gaps.append((int(start_ms), int(end_ms)))

    def fault(self, route: str, kind: str, n: int = 1, *, reached: bool | None = None,
              status: int | None = None, retry_after: float = 1.0, seconds: float = 5.0, after: int = 0) -> None:
        """The next ``n`` requests on ``route`` ("GET /api/v3/order", or "*") get a broken reply of ``kind``
        (one of ``FAULTS``), once ``after`` matching requests have been answered normally. ``reached``: the
        exchange handled the request before the reply broke (default: yes for the kinds that rewrite the
        real reply and for "timeout", no for the others)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULTS)}")
        if reached is None:
            reached = kind in _MUTATES or kind == "timeout"
        if kind in _MUTATES and not reached:
            raise ValueError(f"fault {kind!r} rewrites the real reply: it needs reached=True")
        self._faults.append({"route": route, "kind": kind, "n": n, "reached": reached, "status": status,
                             "retry_after": retry_after, "seconds": seconds, "after": after})

    def faults_left(self) -> int:
        return sum(f["n"] for f in self._faults)

    def fail_next(self, route: str, status: int = 503, code: int = -1001, msg: str = "Internal error", n: int = 1,
                  retry_after: float | None = None) -> None:
        self._fail.append([route, status, code, msg, n, retry_after])

    def rate_limit(self, n: int = 1, retry_after_s: float = 1.0) -> None:
        status, code, msg = ERRORS["too_many"]
        self.fail_next("*", status, code, msg, n, retry_after_s)

    def ban(self, seconds: float) -> None:
        self._ban_until = time.monotonic() + seconds

    def slow(self, route: str, seconds: float) -> None:
        self._slow[route] = seconds

    def hang_after_place(self, seconds: float) -> None:
        self._hang_after_place = seconds

    def gap_next_depth(self, symbol: str) -> None:
        self._gap.add(symbol.replace("/", ""))

    def reject_next_order(self, kind: str) -> None:
        status, code, msg = ERRORS[kind]
        self._reject_next = (status, code, msg)

    async def drop_websockets(self) -> None:
        for ws in list(self.ws_clients):
            await ws.close(code=1011, message=b"server going away")
        self.ws_clients.clear()

    # ---------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> "FakeBinance":
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/api/v3/{path:.*}", self._rest)
        app.router.add_get("/stream/ws", self._ws)
        app.router.add_get("/stream/ws/{n}", self._ws)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.auto_market:
            self._ticker = asyncio.create_task(self._run_market())
        return self

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        await self.drop_websockets()
        if self._runner:
            await self._runner.cleanup()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/ws"

    def venue_config(self, **over) -> dict:
        """A Kestrel venue config (JSON-able) pointing ccxt's binance class at this fake."""
        cfg = {
            "name": "binance", "exchange": "binance", "symbols": [m.symbol for m in self.markets.values()],
            "ccxt": {
                "urls": {"api": {"public": self.rest_url, "private": self.rest_url, "v1": self.rest_url,
                                 "ws": {"spot": self.ws_url}}},
                "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False,
                            "recvWindow": 2000, "warnOnFetchOpenOrdersWithoutSymbol": False},
                "timeout": 3000,
            },
            # the streams on the test's loop, where a test can watch them (the product's default, a child
            # process, has its own tests: tests/venues/test_feed_process.py)
            "feed_process": False,
        }
        cfg.update(over)
        return cfg

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    # ------------------------------------------------------------------------------------------ market
    def _rebuild_book(self, m: FakeMarket) -> None:
        m.bids.clear()
        m.asks.clear()
        d = m.decimals
        best_bid = round(m.mid - m.tick, d)
        for i in range(self.levels):
            m.bids[round(best_bid - i * m.tick * 10, d)] = round(0.5 + self.rng.random(), 4)
            m.asks[round(best_bid + m.tick * 2 + i * m.tick * 10, d)] = round(0.5 + self.rng.random(), 4)

    async def _run_market(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            for m in self.markets.values():
                await self.step_market(m)

    async def step_market(self, m: FakeMarket) -> None:
        """One market event: the mid walks, a trade prints, the book changes (one diff-depth update)."""
        old_bids, old_asks = dict(m.bids), dict(m.asks)
        m.mid = round(m.mid * (1 + self.rng.gauss(0, 0.0002)), m.decimals)
        self._rebuild_book(m)
        m.trade_id += 1
        buyer_maker = self.rng.random() < 0.5
        price = max(m.bids) if buyer_maker else min(m.asks)
        qty = round(0.001 + self.rng.random() * 0.05, 5)
        now = self.now_ms()
        self._cross_resting(m, price)
        if self.ws_silent:
            return
        if self.record_send_times:
            self.sent_at[(m.id, m.trade_id)] = time.perf_counter()
        await self._broadcast(f"{m.id.lower()}@trade", {
            "e": "trade", "E": now, "s": m.id, "t": m.trade_id, "p": m.px(price), "q": f"{qty:.5f}",
            "T": now, "m": buyer_maker, "M": True})
        first = m.update_id + 1
        m.update_id += 1
        if m.id in self._gap:
            self._gap.discard(m.id)
            first += 5  # ids first .. first+4 never sent: a sequence gap
            m.update_id += 5
        bids = [[m.px(p), "0.00000000"] for p in old_bids if p not in m.bids]
        bids += [[m.px(p), f"{q:.8f}"] for p, q in m.bids.items()]
        asks = [[m.px(p), "0.00000000"] for p in old_asks if p not in m.asks]
        asks += [[m.px(p), f"{q:.8f}"] for p, q in m.asks.items()]
        await self._broadcast(f"{m.id.lower()}@depth@100ms", {
            "e": "depthUpdate", "E": now, "s": m.id, "U": first, "u": m.update_id, "b": bids, "a": asks})

    async def set_level(self, symbol: str, side: str, price: float, qty: float) -> None:
        """One level of ``symbol``'s book ("bid" or "ask") now holds ``qty`` (0: the level is gone)."""
        m = self.markets[symbol.replace("/", "")]
        levels = m.bids if side == "bid" else m.asks
        price = round(price, m.decimals)
        if qty > 0:
            levels[price] = round(qty, 8)
        else:
            levels.pop(price, None)
        change = [(price, qty)]
        await self._send_depth(m, change if side == "bid" else [], change if side == "ask" else [])

    async def print_trade(self, symbol: str, price: float, qty: float, aggressor: str = "sell") -> dict:
        """A trade of ``qty`` at ``price`` by a ``aggressor`` ("sell" hits the bids, "buy" lifts the asks): it
        takes its size from the resting level at that price (the book shows the level shrink or go)."""
        m = self.markets[symbol.replace("/", "")]
        price = round(price, m.decimals)
        m.trade_id += 1
        now = self.now_ms()
        row = {"id": m.trade_id, "price": m.px(price), "qty": f"{qty:.8f}", "time": now,
               "buyer_maker": aggressor == "sell"}
        m.printed.append(row)
        self._trigger_stops(m, price)  # (our resting limits fill by fill_order; stops by what prints)
        levels = m.bids if aggressor == "sell" else m.asks
        left = round(levels.get(price, 0.0) - qty, 8)
        if price in levels:
            if left > 0:
                levels[price] = left
            else:
                del levels[price]
        await self._broadcast(f"{m.id.lower()}@trade", {
            "e": "trade", "E": now, "s": m.id, "t": m.trade_id, "p": row["price"], "q": row["qty"], "T": now,
            "m": row["buyer_maker"], "M": True})
        change = [(price, max(left, 0.0))]
        await self._send_depth(m, change if aggressor == "sell" else [], change if aggressor == "buy" else [])
        return row

    async def print_recorded(self, symbol: str, price: float, qty: float, aggressor: str, time_ms: int,
                             trade_id: int | None = None) -> dict:
        """A print as a recording has it: ``qty`` at ``price`` by the ``aggressor`` ("buy"/"sell") at exchange time
        ``time_ms``, with the recorded ``trade_id``. The book is left alone (``show_book`` moves it)."""
        m = self.markets[symbol.replace("/", "")]
        m.trade_id = int(trade_id) if trade_id is not None else m.trade_id + 1
        row = {"id": m.trade_id, "price": m.px(price), "qty": f"{qty:.8f}", "time": int(time_ms),
               "buyer_maker": aggressor == "sell"}
        m.printed.append(row)
        await self._broadcast(f"{m.id.lower()}@trade", {
            "e": "trade", "E": self.now_ms(), "s": m.id, "t": m.trade_id, "p": row["price"], "q": row["qty"],
            "T": row["time"], "m": row["buyer_maker"], "M": True})
        return row

    async def show_book(self, symbol: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        """The whole book of ``symbol`` becomes ``bids`` and ``asks`` ((price, qty) levels): one diff-depth update,
        with the levels that are gone at 0 (sent again unchanged, it restates the book: the stream stays live)."""
        m = self.markets[symbol.replace("/", "")]
        d = m.decimals
        new_bids = {round(p, d): q for p, q in bids}
        new_asks = {round(p, d): q for p, q in asks}
        gone_bids = [(p, 0.0) for p in m.bids if p not in new_bids]
        gone_asks = [(p, 0.0) for p in m.asks if p not in new_asks]
        m.bids, m.asks = new_bids, new_asks
        await self._send_depth(m, gone_bids + list(new_bids.items()), gone_asks + list(new_asks.items()))

    async def _send_depth(self, m: FakeMarket, bids: list[tuple[float, float]],
                          asks: list[tuple[float, float]]) -> None:
        m.update_id += 1
        await self._broadcast(f"{m.id.lower()}@depth@100ms", {
            "e": "depthUpdate", "E": self.now_ms(), "s": m.id, "U": m.update_id, "u": m.update_id,
            "b": [[m.px(p), f"{q:.8f}"] for p, q in bids],
            "a": [[m.px(p), f"{q:.8f}"] for p, q in asks]})

    def _cross_resting(self, m: FakeMarket, price: float) -> None:
        self._trigger_stops(m, price)
        for o in list(self.orders.values()):
            if o.symbol != m.id or o.status not in ("NEW", "PARTIALLY_FILLED") or \
                    not (o.type == "LIMIT" or (o.type == "STOP_LOSS_LIMIT" and o.triggered)):
                continue
            if (o.side == "BUY" and price < o.price) or (o.side == "SELL" and price > o.price):
                self.fill_order(o.client_order_id, None, maker=True)

    def _trigger_stops(self, m: FakeMarket, price: float) -> None:
        m.last_trade = price
        for o in list(self.orders.values()):  # stops the trade reaches: a market (STOP_LOSS) or a limit order now
            if o.symbol != m.id or o.status not in ("NEW", "PARTIALLY_FILLED") or o.triggered:
                continue
            if o.trailing_delta:  # Binance's trailing stop: it follows the best trade, its stop that far behind
                o.water = max(o.water, price) if o.side == "SELL" else min(o.water, price)
                f = o.trailing_delta / 10_000
                o.stop_price = round(o.water * (1 - f) if o.side == "SELL" else o.water * (1 + f), m.decimals)
            if not o.stop_price:
                continue
            if (o.side == "SELL" and price <= o.stop_price) or (o.side == "BUY" and price >= o.stop_price):
                o.triggered = True
                best = max(m.bids) if o.side == "SELL" else min(m.asks)
                if o.type == "STOP_LOSS":
                    self._fill(o, best, o.qty - o.executed, maker=False)
                elif (o.side == "SELL" and best >= o.price) or (o.side == "BUY" and best <= o.price):
                    self._fill(o, best, o.qty - o.executed, maker=False)  # a stop-limit that crosses at once

    # ------------------------------------------------------------------------------------------ orders
    def order_by_client_id(self, cid: str) -> FakeOrder | None:
        """The newest order with this client order id (a cancel-replace may give its new order the old one's)."""
        for o in reversed(self.orders.values()):
            if o.client_order_id == cid:
                return o
        return None

    def fill_order(self, cid: str, qty: float | None = None, *, maker: bool = True,
                   price: float | None = None) -> dict | None:
        """Fill a resting order (all that is left, or ``qty``; half of it with ``partial_fills``)."""
        o = self.order_by_client_id(cid)
        if o is None or o.status not in ("NEW", "PARTIALLY_FILLED"):
            return None
        left = o.qty - o.executed
        q = left if qty is None else min(qty, left)
        if self.partial_fills and qty is None and left > 0:
            q = round(left / 2, 8) or left
        px = o.price if (price is None and o.price) else (price or self.markets[o.symbol].mid)
        return self._fill(o, px, q, maker)

    def _fill(self, o: FakeOrder, price: float, qty: float, maker: bool) -> dict:
        m = self.markets[o.symbol]
        m.trade_id += 1
        now = self.now_ms()
        o.executed = round(o.executed + qty, 8)
        o.quote += price * qty
        o.status = "FILLED" if o.executed >= o.qty - 1e-12 else "PARTIALLY_FILLED"
        o.update_time = now
        fee = price * qty * 0.001
        trade = {"symbol": o.symbol, "id": m.trade_id, "orderId": o.order_id, "orderListId": -1,
                 "price": f"{price:.8f}", "qty": f"{qty:.8f}", "quoteQty": f"{price * qty:.8f}",
                 "commission": f"{fee:.8f}", "commissionAsset": m.quote, "time": now, "isBuyer": o.side == "BUY",
                 "isMaker": maker, "isBestMatch": True}
        self.my_trades.append(trade)
        return trade

    def place_foreign_order(self, symbol: str, side: str, qty: float, price: float, cid: str = "web_foreign1") -> FakeOrder:
        """An order placed outside Kestrel (the exchange's website): reconciliation must show it."""
        m = self.markets[symbol.replace("/", "")]
        o = FakeOrder(next(self._order_ids), cid, m.id, side, "LIMIT", price, qty, time=self.now_ms(),
                      update_time=self.now_ms())
        self.orders[o.order_id] = o
        return o

    def cancel_behind_our_back(self, cid: str) -> None:
        o = self.order_by_client_id(cid)
        if o is not None and o.status in ("NEW", "PARTIALLY_FILLED"):
            o.status, o.update_time = "CANCELED", self.now_ms()

    # ----------------------------------------------------------------------------------------- HTTP layer
    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        response = await self._answer(request, handler)
        if request.path.startswith("/api/"):
            self.served[f"{request.method} {request.path}"] += 1
        return response

    async def _answer(self, request: web.Request, handler):
        route = f"{request.method} {request.path}"
        if request.path.startswith("/api/"):
            self.requests.append((request.method, request.path))
            self.arrived.append((time.monotonic(), route))
            if time.monotonic() < self._ban_until:
                status, code, msg = ERRORS["banned"]
                until = self.now_ms() + int((self._ban_until - time.monotonic()) * 1000)
                return self._error(status, code, msg.format(until=until),
                                   retry_after=max(1, int(self._ban_until - time.monotonic() + 0.999)))
            for f in self._fail:
                if f[4] > 0 and (f[0] == "*" or f[0] == route):
                    f[4] -= 1
                    return self._error(f[1], f[2], f[3], retry_after=f[5])
            delay = self._slow.get(route) or self._slow.get("*")
            if delay:
                await asyncio.sleep(delay)
            for f in self._faults:
                if f["n"] > 0 and (f["route"] == "*" or f["route"] == route):
                    if f["after"] > 0:
                        f["after"] -= 1
                        continue
                    f["n"] -= 1
                    return await self._faulty(f, request, handler)
        return await handler(request)

    async def _faulty(self, f: dict, request: web.Request, handler) -> web.StreamResponse:
        """The broken reply of fault ``f`` (the real handler runs first when the fault ``reached`` it)."""
        real = await handler(request) if f["reached"] else None
        kind = f["kind"]
        if kind == "timeout":
            await asyncio.sleep(f["seconds"])
            return real if real is not None else self._err("unavailable")
        if kind == "malformed":
            return web.Response(text="{'orderId': 12, status: NEW,,}", content_type="application/json")
        if kind == "empty":
            return web.Response(body=b"", content_type="application/json")
        if kind == "html":
            status = f["status"] or 502
            page = (f"<html><head><title>{status} Bad Gateway</title></head><body><center><h1>{status} Bad "
                    f"Gateway</h1></center><hr><center>nginx</center></body></html>")
            return web.Response(text=page, status=status, content_type="text/html")
        if kind == "5xx":
            status, code, msg = ERRORS["unavailable"]
            return self._error(f["status"] or status, code, msg)
        if kind == "429":
            status, code, msg = ERRORS["too_many"]
            return self._error(status, code, msg, retry_after=f["retry_after"])
        if kind == "not_found":
            return self._err("no_such_order")
        if kind == "drop":
            request.transport.abort()  # type: ignore[union-attr]
            raise ConnectionResetError("fake: connection dropped")
        assert isinstance(real, web.Response) and real.text is not None
        if kind == "truncated":
            return web.Response(text=real.text[: len(real.text) // 2], status=real.status,
                                content_type="application/json")
        body = json.loads(real.text)
        rows = body if isinstance(body, list) else [body]
        for row in rows:
            if kind == "no_id":
                row.pop("orderId", None)
            elif kind == "no_status":
                row.pop("status", None)
            elif kind == "wrong_order" and "orderId" in row:
                row["orderId"] = int(row["orderId"]) + 7_000_000
                row["clientOrderId"] = f"someone-else-{row['orderId']}"
        return web.json_response(body, status=real.status)

    @staticmethod
    def _error(status: int, code: int, msg: str, retry_after: float | None = None) -> web.Response:
        headers = {"Retry-After": str(int(retry_after) if float(retry_after).is_integer() else retry_after)} \
            if retry_after is not None else None
        return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)

    def _err(self, kind: str) -> web.Response:
        status, code, msg = ERRORS[kind]
        return self._error(status, code, msg)

    async def _params(self, request: web.Request) -> tuple[dict, str]:
        body = await request.text()
        raw = request.query_string if request.method in ("GET", "DELETE") or not body else body
        if request.method == "POST" and request.query_string and body:
            raw = request.query_string + "&" + body
        return dict(urllib.parse.parse_qsl(raw, keep_blank_values=True)), raw

    def _check_signed(self, request: web.Request, params: dict, raw: str) -> web.Response | None:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return self._err("bad_key")
        signature = params.get("signature", "")
        payload = raw.rsplit("&signature=", 1)[0]
        want = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, want):
            return self._err("bad_signature")
        ts = int(params.get("timestamp", "0"))
        window = int(params.get("recvWindow", "5000"))
        now = self.now_ms()
        if ts > now + 1000 or now - ts > window:
            return self._err("timestamp")
        return None

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        params, raw = await self._params(request)
        public = {("GET", "ping"): self._ping, ("GET", "time"): self._time,
                  ("GET", "exchangeInfo"): self._exchange_info, ("GET", "depth"): self._depth,
                  ("GET", "trades"): self._trades, ("GET", "aggTrades"): self._agg_trades,
                  ("GET", "klines"): self._klines}
        private = {("POST", "order"): self._create, ("DELETE", "order"): self._cancel,
                   ("POST", "order/cancelReplace"): self._cancel_replace,
                   ("GET", "order"): self._query, ("GET", "openOrders"): self._open_orders,
                   ("GET", "allOrders"): self._all_orders, ("GET", "myTrades"): self._my_trades_route,
                   ("GET", "account"): self._account}
        key = (request.method, path)
        if key in public:
            return await public[key](params)
        if key in private:
            bad = self._check_signed(request, params, raw)
            if bad is not None:
                return bad
            return await private[key](params)
        return web.json_response({"code": -1100, "msg": f"unknown endpoint {request.method} /{path}"}, status=404)

    async def _ping(self, params: dict) -> web.Response:
        return web.json_response({})

    async def _time(self, params: dict) -> web.Response:
        return web.json_response({"serverTime": self.now_ms()})

    async def _exchange_info(self, params: dict) -> web.Response:
        symbols = []
        for m in self.markets.values():
            symbols.append({
                "symbol": m.id, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
                "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                               "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": f"{m.tick:.8f}", "maxPrice": "1000000.00000000",
                     "tickSize": f"{m.tick:.8f}"},
                    {"filterType": "LOT_SIZE", "minQty": f"{m.step:.8f}", "maxQty": "9000.00000000",
                     "stepSize": f"{m.step:.8f}"},
                    {"filterType": "NOTIONAL", "minNotional": f"{m.min_notional:.8f}", "applyMinToMarket": True,
                     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                ],
                "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]})
        return web.json_response({"timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}],
            "exchangeFilters": [], "symbols": symbols})

    def _market(self, params: dict) -> FakeMarket | None:
        return self.markets.get(params.get("symbol", ""))

    async def _depth(self, params: dict) -> web.Response:
        m = self._market(params)
        if m is None:
            return self._error(400, -1121, "Invalid symbol.")
        return web.json_response({
            "lastUpdateId": m.update_id,
            "bids": [[m.px(p), f"{q:.8f}"] for p, q in sorted(m.bids.items(), reverse=True)],
            "asks": [[m.px(p), f"{q:.8f}"] for p, q in sorted(m.asks.items())]})

    async def _trades(self, params: dict) -> web.Response:
        m = self._market(params)
        if m is None:
            return self._error(400, -1121, "Invalid symbol.")
        if m.printed:
            return web.json_response([{"id": t["id"], "price": t["price"], "qty": t["qty"],
                                       "quoteQty": f"{float(t['price']) * float(t['qty']):.8f}",
                                       "time": t["time"], "isBuyerMaker": t["buyer_maker"],
                                       "isBestMatch": True}
                                      for t in self._printed(m, params)])
        now = self.now_ms()
        return web.json_response([{"id": m.trade_id - i, "price": m.px(m.mid), "qty": "0.01000000",
                                   "quoteQty": f"{m.mid * 0.01:.8f}", "time": now - i * 10,
                                   "isBuyerMaker": bool(i % 2), "isBestMatch": True} for i in range(5)][::-1])

    async def _agg_trades(self, params: dict) -> web.Response:
        m = self._market(params)
        if m is None:
            return self._error(400, -1121, "Invalid symbol.")
        if m.printed:
            return web.json_response([{"a": t["id"], "p": t["price"], "q": t["qty"], "f": t["id"],
                                       "l": t["id"], "T": t["time"], "m": t["buyer_maker"], "M": True}
                                      for t in self._printed(m, params)])
        now = self.now_ms()
        return web.json_response([{"a": m.trade_id - i, "p": m.px(m.mid), "q": "0.01000000",
                                   "f": m.trade_id - i, "l": m.trade_id - i, "T": now - i * 10,
                                   "m": bool(i % 2), "M": True} for i in range(5)][::-1])

    @staticmethod
    def _printed(m: FakeMarket, params: dict) -> list[dict]:
        since = int(params.get("startTime", "0"))
        rows = [t for t in m.printed if t["time"] >= since]
        return rows[-int(params.get("limit", "500")):]

    def candles(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[list]:
        """The exchange's candles of ``symbol`` at ``interval`` opening in [start_ms, end_ms), as Binance
        rows (open time, o, h, l, c as strings, volume...), forming candle included, gaps left out."""
        return self._rows(symbol, INTERVALS_MS[interval], self._open_times(interval, start_ms, end_ms))

    def _open_times(self, interval: str, start_ms: int, end_ms: int) -> np.ndarray:
        step = INTERVALS_MS[interval]
        first = max(start_ms, self.history_start_ms)
        first = -(-first // step) * step
        last = min(end_ms - 1, self.now_ms())  # the candle open at ``now`` is the forming one
        if last < first:
            return np.empty(0, dtype=np.int64)
        ts = np.arange(first, last + 1, step, dtype=np.int64)
        for a, b in self.kline_gaps:
            ts = ts[(ts < a) | (ts >= b)]
        return ts

    def _rows(self, symbol: str, step: int, ts: np.ndarray) -> list[list]:
        base = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0}.get(symbol.replace("/", ""), 100.0)
        i = (ts - self.history_start_ms) // step
        k = np.log2(step / 1_000.0)  # each interval its own series, deterministic in (interval, index)

        def wave(x: np.ndarray) -> np.ndarray:
            return base * (1.0 + 0.05 * np.sin(x / 97.0 + k) + 0.01 * np.sin(x * 0.61 + 3 * k))

        o, c = wave(i.astype(np.float64)), wave(i + 1.0)
        h = np.maximum(o, c) * (1.0 + 0.0004 * (1.5 + np.sin(i * 1.3)))
        lo = np.minimum(o, c) * (1.0 - 0.0004 * (1.5 + np.cos(i * 0.7)))
        v = 1.0 + (i * 7919 % 1000) / 100.0
        return [[int(t), f"{a:.2f}", f"{b:.2f}", f"{d:.2f}", f"{e:.2f}", f"{w:.4f}", int(t) + step - 1,
                 f"{e * w:.2f}", 10, f"{w / 2:.4f}", f"{e * w / 2:.2f}", "0"]
                for t, a, b, d, e, w in zip(ts.tolist(), o, h, lo, c, v)]

    async def _klines(self, params: dict) -> web.Response:
        m = self._market(params)
        if m is None:
            return self._error(400, -1121, "Invalid symbol.")
        self.kline_requests.append(dict(params))
        interval = params.get("interval", "1m")
        if interval not in INTERVALS_MS:
            return self._error(400, -1120, "Invalid interval.")
        limit = int(params.get("limit", "500"))
        if not 1 <= limit <= 1000:
            return self._error(400, -1130, "Data sent for parameter 'limit' is not valid.")
        step = INTERVALS_MS[interval]
        end = int(params["endTime"]) + 1 if "endTime" in params else self.now_ms() + 1
        if "startTime" in params:
            start = int(params["startTime"])
            ts = self._open_times(interval, start, end)[:min(limit, self.kline_max_rows)]
            if self.kline_overlap and len(ts):
                ts = np.concatenate([self._open_times(interval, start - self.kline_overlap * step, start), ts])
        else:
            ts = self._open_times(interval, end - limit * step, end)
        if self.kline_repeat and len(ts):
            ts = np.concatenate([ts, ts[-self.kline_repeat:]])
        return web.json_response(self._rows(m.id, step, ts))

    async def _create(self, params: dict, replacing: FakeOrder | None = None) -> web.Response:
        if self._reject_next is not None:
            status, code, msg = self._reject_next
            self._reject_next = None
            return self._error(status, code, msg)
        m = self._market(params)
        if m is None:
            return self._error(400, -1121, "Invalid symbol.")
        cid = params.get("newClientOrderId") or f"fake{next(self._order_ids)}"
        if self.order_by_client_id(cid) not in (None, replacing):  # (its cancel-replace's old order: canceled)
            return self._err("duplicate")
        qty = float(params.get("quantity", "0"))
        otype, side = params.get("type", "LIMIT"), params.get("side", "BUY")
        price = float(params.get("price", "0") or 0)
        steps = qty / m.step
        if qty <= 0 or abs(steps - round(steps)) > 1e-6:
            return self._err("filter")
        ref = price or (min(m.asks) if side == "BUY" else max(m.bids))
        if side == "BUY" and qty * ref > self.balances.get(m.quote, 0.0):
            return self._err("insufficient")
        if side == "SELL" and qty > self.balances.get(m.base, 0.0):
            return self._err("insufficient")
        now = self.now_ms()
        o = FakeOrder(next(self._order_ids), cid, m.id, side, otype, price, qty, time=now, update_time=now)
        if otype in ("STOP_LOSS", "STOP_LOSS_LIMIT"):  # Binance spot: a stop rests off the book, funds locked
            stop = float(params.get("stopPrice", "0") or 0)
            last = m.last_trade if m.last_trade else (max(m.bids) + min(m.asks)) / 2
            if "trailingDelta" in params and not stop:  # trails from the last price, at once
                delta = params["trailingDelta"]
                if not delta.isdigit() or not 10 <= int(delta) <= 2000:
                    return self._error(400, -2010, "Invalid trailingDelta.")
                o.trailing_delta, o.water = int(delta), last
                self.orders[o.order_id] = o
                self.created_params.append(dict(params))
                return web.json_response(dict(o.as_json(), transactTime=now, fills=[]))
            if stop <= 0:
                return self._error(400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or "
                                               "malformed.")
            if (side == "SELL" and stop >= last) or (side == "BUY" and stop <= last):
                return self._error(400, -2010, "Stop price would trigger immediately.")
            o.stop_price = stop
            self.orders[o.order_id] = o
            self.created_params.append(dict(params))
            return web.json_response(dict(o.as_json(), transactTime=now, fills=[]))
        self.orders[o.order_id] = o
        fills = []
        best = min(m.asks) if side == "BUY" else max(m.bids)
        crosses = otype == "MARKET" or (side == "BUY" and price >= best) or (side == "SELL" and price <= best)
        tif = params.get("timeInForce", "GTC")
        self.created_params.append(dict(params))
        if otype == "LIMIT_MAKER" and crosses:  # Binance's post-only: refused, never traded
            del self.orders[o.order_id]
            return self._error(400, -2010, "Order would immediately match and take.")
        if tif == "FOK" and (not crosses or self.partial_fills):  # whole at once, or expired unfilled
            o.status = "EXPIRED"
        elif crosses:
            q = round(qty / 2, 8) if self.partial_fills and otype == "LIMIT" else qty
            t = self._fill(o, best, q, maker=False)
            fills.append({"price": t["price"], "qty": t["qty"], "commission": t["commission"],
                          "commissionAsset": t["commissionAsset"], "tradeId": t["id"]})
            if (otype == "MARKET" or tif == "IOC") and o.status != "FILLED":
                o.status = "EXPIRED"
        elif tif == "IOC":
            o.status = "EXPIRED"
        if self._hang_after_place:
            await asyncio.sleep(self._hang_after_place)
        body = dict(o.as_json(), transactTime=now)
        if params.get("newOrderRespType", "FULL") == "FULL":
            body["fills"] = fills
        return web.json_response(body)

    def _find(self, params: dict) -> FakeOrder | web.Response | None:
        m = self._market(params)
        if "orderId" in params:
            if not params["orderId"].isdigit() or len(params["orderId"]) > 20:
                return self._err("illegal_order_id")
            o = self.orders.get(int(params["orderId"]))
            return o if o is not None and m is not None and o.symbol == m.id else None
        cid = params.get("origClientOrderId")
        o = self.order_by_client_id(cid) if cid else None
        return o if o is not None and m is not None and o.symbol == m.id else None

    async def _cancel(self, params: dict) -> web.Response:
        o = self._find(params)
        if isinstance(o, web.Response):
            return o
        if o is None or o.status not in ("NEW", "PARTIALLY_FILLED"):
            return self._err("unknown_order")
        o.status, o.update_time = "CANCELED", self.now_ms()
        return web.json_response(o.as_json())

    async def _cancel_replace(self, params: dict) -> web.Response:
        """Binance spot's cancel-replace (ccxt ``editOrder``), in ``STOP_ON_FAILURE`` mode: the old order is
        canceled, then the new one placed. A cancel that fails (no such open order; ``cancelRestrictions``
        ONLY_NEW and it has filled partly) places nothing: 400 -2022. A new order that fails after the cancel
        leaves the old one canceled: 409 -2021. ``newClientOrderId`` may be the old order's (unique among open
        orders)."""
        self.replace_params.append(dict(params))
        if params.get("cancelReplaceMode") != "STOP_ON_FAILURE":
            return self._error(400, -1102, "this fake takes cancelReplaceMode=STOP_ON_FAILURE only")
        find = {"symbol": params.get("symbol", "")}
        if "cancelOrderId" in params:
            find["orderId"] = params["cancelOrderId"]
        elif "cancelOrigClientOrderId" in params:
            find["origClientOrderId"] = params["cancelOrigClientOrderId"]
        o = self._find(find)
        if isinstance(o, web.Response):
            return o
        refusal = None
        if o is None or o.status not in ("NEW", "PARTIALLY_FILLED"):
            refusal = {"code": -2011, "msg": "Unknown order sent."}
        elif params.get("cancelRestrictions") == "ONLY_NEW" and o.status != "NEW":
            refusal = {"code": -2011, "msg": "Order was not canceled due to cancel restrictions."}
        if refusal is not None:
            return web.json_response({"code": -2022, "msg": "Order cancel-replace failed.", "data": {
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED", "cancelResponse": refusal,
                "newOrderResponse": None}}, status=400)
        o.status, o.update_time = "CANCELED", self.now_ms()
        canceled = dict(o.as_json(), origClientOrderId=o.client_order_id)
        new = {k: v for k, v in params.items() if not k.startswith("cancel")}
        placed = await self._create(new, replacing=o)
        body = json.loads(placed.body)
        if placed.status != 200:
            self.replace_refused.append(body)
            return web.json_response({"code": -2021, "msg": "Order cancel-replace partially failed.", "data": {
                "cancelResult": "SUCCESS", "newOrderResult": "FAILURE", "cancelResponse": canceled,
                "newOrderResponse": body}}, status=409)
        self.replaced.append((o.order_id, body["orderId"]))
        return web.json_response({"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                                  "cancelResponse": canceled, "newOrderResponse": body})

    async def _query(self, params: dict) -> web.Response:
        o = self._find(params)
        if isinstance(o, web.Response):
            return o
        if o is None:
            return self._err("no_such_order")
        return web.json_response(o.as_json())

    async def _open_orders(self, params: dict) -> web.Response:
        sym = params.get("symbol")
        return web.json_response([o.as_json() for o in self.orders.values()
                                  if o.status in ("NEW", "PARTIALLY_FILLED") and (sym is None or o.symbol == sym)])

    async def _all_orders(self, params: dict) -> web.Response:
        sym = params.get("symbol")
        return web.json_response([o.as_json() for o in self.orders.values() if o.symbol == sym])

    async def _my_trades_route(self, params: dict) -> web.Response:
        sym = params.get("symbol")
        since = int(params.get("startTime", "0"))
        out = [t for t in self.my_trades if t["symbol"] == sym and t["time"] >= since]
        if "orderId" in params:
            out = [t for t in out if t["orderId"] == int(params["orderId"])]
        return web.json_response(out[-int(params.get("limit", "500")):])

    async def _account(self, params: dict) -> web.Response:
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True,
            "canDeposit": True, "updateTime": self.now_ms(), "accountType": "SPOT", "permissions": ["SPOT"],
            "balances": [{"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"} for a, v in self.balances.items()]})

    # ------------------------------------------------------------------------------------------ websocket
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        ws.streams = set()  # type: ignore[attr-defined]
        self.ws_clients.add(ws)
        self.ws_connects += 1
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                if req.get("method") == "SUBSCRIBE":
                    ws.streams.update(req.get("params", []))  # type: ignore[attr-defined]
                    await ws.send_str(json.dumps({"result": None, "id": req.get("id")}))
                elif req.get("method") == "UNSUBSCRIBE":
                    ws.streams.difference_update(req.get("params", []))  # type: ignore[attr-defined]
                    await ws.send_str(json.dumps({"result": None, "id": req.get("id")}))
        finally:
            self.ws_clients.discard(ws)
        return ws

    async def _broadcast(self, stream: str, payload: dict) -> None:
        text = json.dumps(payload)
        for ws in list(self.ws_clients):
            if stream in ws.streams and not ws.closed:  # type: ignore[attr-defined]
                try:
                    await ws.send_str(text)
                    if self.duplicate_ws:
                        await ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    self.ws_clients.discard(ws)
