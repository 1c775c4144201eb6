"""Market data of a ccxt venue: ``ccxt.pro`` ``watch_*`` streams where the exchange has them, REST polling
otherwise. Each (symbol, channel) runs its own loop with its own backoff, so one bad stream never stalls
another, and publishes ``FeedStatus`` when its state changes.

- A websocket drop surfaces as a ``NetworkError`` from ``watch_*``: wait (backoff + jitter), then call
  ``watch_*`` again, which reconnects and resubscribes.
- A sequence gap in an order book (ccxt ``ChecksumError``/``InvalidNonce``: ccxt drops the book and its
  subscription) is answered at once by calling ``watch_order_book`` again, which takes a fresh REST
  snapshot and replays the buffered deltas; a run of gaps backs off like any other failure.
- A stream silent for ``stale_after_s`` is failed on purpose (half-open sockets never close by themselves).
- Duplicated trades (a venue re-sending, a reconnect overlapping) are dropped by trade id.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any, Protocol

from app.engine.core.instruments import make_id
from app.engine.core.messages import BookSnapshot, Side, TradeTick
from app.engine.venues.backoff import Backoff
from app.engine.venues.ccxt.errors import classify, detail
from app.engine.venues.events import FeedStatus



class FeedHost(Protocol):
    """What the feed uses of its venue (``CcxtVenue``): the exchange, its REST gate and retries, where data
    and errors go, the clock, and the secrets to keep out of messages."""

    name: str
    config: Any
    exchange: Any
    gate: Any

    def on_data(self, msg: Any) -> None: ...
    def emit_error(self, kind: str, where: str, message: str) -> None: ...
    def now_ms(self) -> int: ...
    def secrets(self) -> tuple[str, ...]: ...
    async def rest(self, fn: Any, *args: Any) -> Any: ...

log = logging.getLogger("kestrel.venues.feed")


class _SeenIds:
    """The last ``n`` trade ids of one symbol (set + ring): O(1) duplicate check, bounded memory."""

    __slots__ = ("_set", "_ring")

    def __init__(self, n: int = 4096) -> None:
        self._set: set[str] = set()
        self._ring: collections.deque[str] = collections.deque(maxlen=n)

    def add(self, tid: str) -> bool:
        if tid in self._set:
            return False
        if len(self._ring) == self._ring.maxlen:
            self._set.discard(self._ring[0])
        self._ring.append(tid)
        self._set.add(tid)
        return True


def streams_websockets(exchange: Any, cfg: Any) -> bool:
    """Whether the feed of ``exchange`` streams by websockets (``ccxt.pro`` ``watch_trades`` and
    ``watch_order_book``) rather than polls REST: the exchange has both, and ``cfg.stream`` allows it."""
    has = getattr(exchange, "has", {}) or {}
    return cfg.stream != "poll" and bool(has.get("watchTrades")) and bool(has.get("watchOrderBook")) \
        and hasattr(exchange, "watch_trades")


class CcxtFeed:
    def __init__(self, venue: FeedHost) -> None:
        self.v = venue
        self.cfg = venue.config
        self._tasks: list[asyncio.Task] = []
        self._seen: dict[str, _SeenIds] = {}
        self._last_msg: dict[tuple[str, str], float] = {}
        self.states: dict[tuple[str, str], str] = {}
        self.gaps = 0
        self.reconnects = 0
        self.duplicates = 0
        self.mode = "poll"

    # ------------------------------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self, symbols: list[str]) -> None:
        ws = streams_websockets(self.v.exchange, self.cfg)
        if self.cfg.stream == "ws" and not ws:
            self.v.emit_error("request", "stream", f"{self.v.name}: ccxt.pro has no websocket streams for "
                              f"{self.cfg.exchange}; using REST polling instead.")
        self.mode = "ws" if ws else "poll"
        for sym in symbols:
            self.add(sym)
        if ws:
            self._spawn(self._watchdog())

    def add(self, symbol: str) -> None:
        """Stream ``symbol`` too, the way the others stream (a market subscribed while the feed runs)."""
        if self.mode == "ws":
            self._spawn(self._watch_trades(symbol))
            self._spawn(self._watch_book(symbol))
        else:
            self._spawn(self._poll(symbol))

    def _spawn(self, coro) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        self._tasks.clear()

    # ------------------------------------------------------------------------------------------- status
    def _status(self, symbol: str, channel: str, state: str, message: str = "") -> None:
        key = (symbol, channel)
        if self.states.get(key) == state:
            return
        self.states[key] = state
        self.v.on_data(FeedStatus(self.v.name, make_id(symbol, self.v.name), channel, state, message,
                                  self.v.now_ms()))

    def _touch(self, symbol: str, channel: str) -> None:
        self._last_msg[(symbol, channel)] = time.monotonic()

    # ----------------------------------------------------------------------------------------- converters
    def _emit_trades(self, symbol: str, trades: list[dict[str, Any]]) -> None:
        seen = self._seen.get(symbol)
        if seen is None:
            seen = self._seen[symbol] = _SeenIds()
        on_data, name = self.v.on_data, self.v.name
        iid = make_id(symbol, name)  # on the bus: the instrument id; the exchange knows the symbol
        for t in trades:
            tid = str(t.get("id") or f"{t.get('timestamp')}:{t.get('price')}:{t.get('amount')}")
            if not seen.add(tid):
                self.duplicates += 1
                continue
            side = Side.BUY if t.get("side") == "buy" else Side.SELL
            try:
                on_data(TradeTick(iid, float(t["price"]), float(t["amount"]), side, tid,
                                  int(t.get("timestamp") or self.v.now_ms())))
            except Exception:  # noqa: BLE001 - a subscriber's bug must not kill the stream
                log.exception("%s: a subscriber failed on a trade of %s", name, symbol)

    def _emit_book(self, symbol: str, ob: dict[str, Any]) -> None:
        n = self.cfg.book_depth
        bids = tuple((float(p), float(q)) for p, q, *_ in ob.get("bids", [])[:n])
        asks = tuple((float(p), float(q)) for p, q, *_ in ob.get("asks", [])[:n])
        try:
            self.v.on_data(BookSnapshot(make_id(symbol, self.v.name), bids, asks,
                                        int(ob.get("timestamp") or self.v.now_ms())))
        except Exception:  # noqa: BLE001
            log.exception("%s: a subscriber failed on a book of %s", self.v.name, symbol)

    # ---------------------------------------------------------------------------------------- websockets
    async def _watch_trades(self, symbol: str) -> None:
        backoff = self._backoff()
        while True:
            try:
                trades = await self.v.exchange.watch_trades(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below, the loop goes on
                await self._stream_failed(symbol, "trades", exc, backoff)
                continue
            self._touch(symbol, "trades")
            if backoff.attempts:
                backoff.reset()
            self._status(symbol, "trades", "live")
            self._emit_trades(symbol, trades)

    async def _watch_book(self, symbol: str) -> None:
        backoff = self._backoff()
        limit = self._book_limit()
        while True:
            try:
                ob = await self.v.exchange.watch_order_book(symbol, limit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                if classify(exc).kind in ("sequence", "nonce") and backoff.attempts < 3:
                    self.gaps += 1
                    backoff.attempts += 1  # three gaps in a row without a good book back off like failures
                    self._status(symbol, "book", "snapshot", "sequence gap: fresh snapshot")
                    log.warning("%s %s: order-book sequence gap (%s); taking a fresh snapshot", self.v.name,
                                symbol, type(exc).__name__)
                    continue
                await self._stream_failed(symbol, "book", exc, backoff)
                continue
            self._touch(symbol, "book")
            if backoff.attempts:
                backoff.reset()
            self._status(symbol, "book", "live")
            self._emit_book(symbol, ob)

    def _book_limit(self) -> int | None:
        """Binance-like venues accept a few fixed depth limits; ccxt's default suits the others."""
        if self.cfg.exchange.startswith("binance"):
            for allowed in (5, 10, 20, 50, 100, 500, 1000):
                if allowed >= self.cfg.book_depth:
                    return allowed
        return None

    async def _stream_failed(self, symbol: str, channel: str, exc: BaseException, backoff: Backoff) -> None:
        policy = classify(exc)
        delay = max(backoff.next_delay(), self.v.gate.remaining)
        self.reconnects += 1
        text = detail(exc, self.v.secrets())
        self._status(symbol, channel, "reconnecting", f"{policy.title}; retry in {delay:.1f} s")
        log.warning("%s %s %s stream: %s; retry in %.2f s", self.v.name, symbol, channel, text, delay)
        if policy.kind == "auth":
            self.v.emit_error(policy.kind, f"{channel}:{symbol}", policy.message(self.v.name, text))
        await asyncio.sleep(delay)

    async def _watchdog(self) -> None:
        """Fail streams that went silent (a half-open socket never reports a close)."""
        limit = self.cfg.stale_after_s
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            stale = [k for k, t in self._last_msg.items() if now - t > limit]
            if not stale:
                continue
            for sym, channel in stale:
                self._status(sym, channel, "stale", f"no message for {limit:g} s; reconnecting")
                self._last_msg[(sym, channel)] = now  # one restart per silence period
            self.restart_streams(f"stream silent for more than {limit:g} s")

    def restart_streams(self, reason: str) -> None:
        """Fail every websocket client of the exchange: pending ``watch_*`` calls raise, then reconnect."""
        from ccxt.base.errors import NetworkError

        clients = getattr(self.v.exchange, "clients", None) or {}
        for client in list(clients.values()):
            try:
                client.on_error(NetworkError(reason))
            except Exception:  # noqa: BLE001 - best effort
                log.debug("closing a stale websocket failed", exc_info=True)

    # ------------------------------------------------------------------------------------------- polling
    async def _poll(self, symbol: str) -> None:
        """REST polling: recent trades (since the last seen) and the book, every poll_interval_s."""
        backoff = self._backoff()
        since: int | None = None
        has = getattr(self.v.exchange, "has", {}) or {}
        while True:
            try:
                if has.get("fetchTrades", True):
                    trades = await self.v.rest(self.v.exchange.fetch_trades, symbol, since)
                    if trades:
                        since = int(trades[-1].get("timestamp") or 0) or since
                        self._emit_trades(symbol, trades)
                ob = await self.v.rest(self.v.exchange.fetch_order_book, symbol, self._book_limit())
                self._emit_book(symbol, ob)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                policy = classify(exc)
                if policy.kind in ("request", "auth", "closed") and not policy.retry:
                    message = policy.message(self.v.name, detail(exc, self.v.secrets()))
                    self._status(symbol, "book", "down", message)
                    self.v.emit_error(policy.kind, f"poll:{symbol}", message)
                    await asyncio.sleep(max(30.0, self.cfg.poll_interval_s))
                    continue
                await self._stream_failed(symbol, "book", exc, backoff)
                continue
            backoff.reset()
            self._status(symbol, "book", "polling")
            await asyncio.sleep(self.cfg.poll_interval_s)

    def _backoff(self) -> Backoff:
        return Backoff(self.cfg.reconnect_base_s, self.cfg.reconnect_cap_s)
