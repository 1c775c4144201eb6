"""``CcxtVenue``: any ccxt exchange as a Kestrel ``VenueAdapter``.

REST (orders, polling) through ``ccxt.async_support``; market data through ``ccxt.pro`` where the exchange
has websockets (``ccxt_feed.py``). Everything runs as tasks on the engine's asyncio loop; ``submit`` and
``cancel`` return at once and the outcome arrives as reports, like the sim venue.

STATES        disconnected -> connecting -> (awaiting_approval) -> ready; "failed" after an auth error (a
              person must act: new keys, reconnect). Only "ready" takes new orders; cancels always go out.
CONNECT       load markets, measure the clock offset (``load_time_difference``), fetch open orders, the state
              of every order the journal thinks working, and recent trades; compare (reconcile.py). Any
              difference waits for a person's approval (``ReconciliationProposed`` -> ``approve``); then
              ``VenueStatus(connected)``.
ORDERS        create with our client order id. A refusal (funds, invalid, rate limit, bad timestamp) is
              ``OrderRejected`` with a clear reason. No answer (timeout, 5xx, unreadable, duplicate id) is
              ``OrderStatusUnknown``: the order is looked up by client order id until found (acknowledged)
              or absent for ``unknown_grace_s`` (rejected as "not placed"); it is never re-sent.
REPLIES       a body that is not JSON is ``UnreadableReply`` (``rest``), whatever ccxt made of it; an order
              reply must carry its venue id and be about our order (``check_order``). An unreadable lookup
              leaves an order "still unknown", never "found"; no venue id is taken from a reply without one.
TRACKING      every ``order_poll_s``: open orders and recent trades of symbols with working orders; fills are
              reported before the final state of their order; ``max_failures`` failed polls in a row mean the
              venue is lost: reconnect (with backoff and jitter) and reconcile again. One order the venue
              will not look up (-1100, -2013, a reply about another order) is that order's trouble: shown
              once, looked up again, never counted against the venue. A cancel whose answer was lost is
              looked up before it is sent again.
RATE LIMITS   ccxt's own throttle (``enableRateLimit``) paces requests; a 429/418 closes the ``RateGate`` for
              the venue's Retry-After (or our backoff): reads wait, a create is refused rather than queued.
SECRETS       credentials go to the ccxt object only; every message is redacted (``ccxt_errors.redact``), and
              ccxt's own logger (which logs request headers at DEBUG) is held at WARNING.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from app.engine.core.instruments import Instrument
from app.engine.core.messages import (
    Alert, CancelRejected, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderType, Side,
    VenueStatus,
)
from app.engine.venues.backoff import Backoff, RateGate, parse_retry_after
from app.engine.venues.base import OpenOrderInfo, Report, VenueOrder, venue_id
from app.engine.venues.ccxt.errors import (
    POLICIES, UnreadableReply, check_order, classify, detail, is_definite_refusal, unreadable_body,
)
from app.engine.venues.ccxt.feed import CcxtFeed
from app.engine.venues.credentials import Credentials
from app.engine.venues.events import (
    OrderStatusUnknown, ReconciliationApplied, ReconciliationProposed, VenueError,
)
from app.engine.venues.reconcile import JournalView, VenueView, build_items, fill_report, open_info
from app.engine.venues.venue_config import CcxtVenueConfig

log = logging.getLogger("kestrel.venues.ccxt")
logging.getLogger("ccxt").setLevel(logging.WARNING)  # its DEBUG lines carry request headers (API keys)

DISCONNECTED, CONNECTING, AWAITING_APPROVAL, READY, FAILED, PUBLIC = (
    "disconnected", "connecting", "awaiting_approval", "ready", "failed", "market data only")


class VenueLost(Exception):
    """Raised inside the venue's tasks when REST polling failed ``max_failures`` times in a row."""


@dataclass
class _Reply:
    """The HTTP reply behind one ``rest`` call (the last one, if the call made several)."""

    status: int = 0
    headers: dict = field(default_factory=dict)
    unreadable: str | None = None  # why its body is not JSON (see ccxt_errors.unreadable_body)


_REPLY: contextvars.ContextVar[_Reply | None] = contextvars.ContextVar("kestrel_ccxt_reply", default=None)
_PER_ORDER = ("order", "request")  # a refusal about one order (-1100, -2013...): says nothing of the venue


@dataclass
class _Tracked:
    """Our view of one of our orders at this venue."""

    cid: str
    symbol: str
    side: Side
    quantity: float
    created_ms: int
    vid: str | None = None
    phase: str = "live"  # "creating" (create in flight), "unknown" (the resolver owns it), "live" (polled)
    waits: int = 0  # polls its venue-side filled quantity ran ahead of the trades we saw
    reported_qty: float = 0.0  # fills reported so far
    trade_ids: set[str] = field(default_factory=set)
    canceled: bool = False  # the venue confirmed a cancel; waiting for fills to be reported first
    cancel_filled: float = 0.0  # the filled quantity the venue's cancel answer showed
    final_reason: str = ""
    missing_since: float = 0.0  # monotonic time the venue first had no record of it (0: it had)
    trouble: str = ""  # the last per-order failure shown to the trader (shown once per distinct text)


class CcxtVenue:
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
        self.feed = CcxtFeed(self)
        self._instruments: dict[str, Instrument] = {}
        self._orders: dict[str, _Tracked] = {}
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
    def connected(self) -> bool:
        return self.state == READY

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())

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
        t = _Tracked(order.client_order_id, order.symbol, order.side, order.quantity, self.now_ms(),
                     phase="creating")
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

    def _make_exchange(self) -> Any:
        cfg = self.config
        import ccxt.async_support as ccxt_async

        klass = None
        if cfg.stream != "poll":
            try:
                import ccxt.pro as ccxt_pro

                klass = getattr(ccxt_pro, cfg.exchange, None)
            except ImportError:
                klass = None
        if klass is None:
            klass = getattr(ccxt_async, cfg.exchange, None)
        if klass is None:
            raise ValueError(f"ccxt has no exchange {cfg.exchange!r}")
        options = dict(cfg.ccxt)
        options.setdefault("enableRateLimit", True)
        options["verbose"] = False  # verbose prints request headers, i.e. the API key
        if self._credentials is not None:
            options["apiKey"], options["secret"] = self._credentials.api_key, self._credentials.secret
            if self._credentials.password:
                options["password"] = self._credentials.password
        ex = klass(options)
        original = ex.on_rest_response

        def on_rest_response(code, reason, url, method, headers, body, *rest):  # what ``rest`` needs to know
            reply = _REPLY.get()
            if reply is not None:
                reply.status, reply.headers = int(code or 0), dict(headers or {})
                reply.unreadable = reply.unreadable or unreadable_body(reply.status, reason, body)
            return original(code, reason, url, method, headers, body, *rest)

        ex.on_rest_response = on_rest_response
        if cfg.sandbox:
            ex.set_sandbox_mode(True)
        if ex.verify and ex.ssl_context is None:
            import ssl

            ex.ssl_context = ssl.create_default_context(cafile=ex.cafile)
        return ex

    async def rest(self, fn: Callable[..., Awaitable], *args: Any) -> Any:
        """One REST call through the rate gate; a 429/418 closes the gate for the venue's Retry-After.

        A reply whose body is not JSON (empty, an HTML error page, malformed or cut off) raises
        ``UnreadableReply`` saying so, whatever ccxt made of it: ccxt returns such a body to a create or a
        lookup as an order of ``None`` fields, and labels an HTML 502 like a refused connection."""
        await self.gate.wait()
        reply = _Reply()
        token = _REPLY.set(reply)
        try:
            result = await fn(*args)
        except Exception as exc:
            policy = classify(exc)
            if policy.kind == "rate_limit":
                self._rate_limited(exc, reply)
            elif policy.kind == "nonce":
                self._spawn(self._sync_time(force=True))
            elif reply.unreadable and policy.kind in ("network", "response", "unknown", "request"):
                raise UnreadableReply(reply.unreadable) from exc
            raise
        finally:
            _REPLY.reset(token)
        if reply.unreadable:
            raise UnreadableReply(reply.unreadable)
        return result

    def _rate_limited(self, exc: BaseException, reply: _Reply) -> None:
        status, headers = reply.status, reply.headers
        retry = None
        for k, v in headers.items():
            if k.lower() == "retry-after":
                retry = parse_retry_after(v)
        ban = status == 418 or (status != 429 and type(exc).__name__ == "DDoSProtection")
        wait = retry if retry is not None else (60.0 if ban else 5.0)
        self.stats["rate_limited"] += 1
        self.gate.close_for(wait, "banned (418)" if ban else "rate limited (429)")
        policy = POLICIES["DDoSProtection" if ban else "RateLimitExceeded"]
        try:
            exc.kestrel_policy = policy  # type: ignore[attr-defined]  # ccxt says DDoSProtection to a 429
        except AttributeError:
            pass
        source = "Retry-After" if retry is not None else "backoff"
        self.emit_error("rate_limit", "rate limit", policy.message(self.name, f"{source} {wait:g} s"), wait,
                        alert="warning" if ban or wait >= 10 else None)

    async def _sync_time(self, force: bool = False) -> None:
        ex = self.exchange
        if ex is None or not (getattr(ex, "has", {}) or {}).get("fetchTime"):
            return
        if not force and time.monotonic() - self._last_time_sync < self.config.time_sync_s:
            return
        self._last_time_sync = time.monotonic()
        try:
            await self.gate.wait()
            self.time_offset_ms = int(await ex.load_time_difference())
            self.stats["resyncs"] += 1
        except Exception as exc:  # noqa: BLE001 - skew stays as it was; requests will say if it matters
            log.warning("%s: clock sync failed: %s", self.name, detail(exc, self.secrets()))
            return
        if abs(self.time_offset_ms) > 1000:
            log.warning("%s: local clock differs from the venue's by %d ms; requests are stamped with the "
                        "venue's time", self.name, self.time_offset_ms)

    # ------------------------------------------------------------------------------------ connection
    async def _supervise(self) -> None:
        backoff = Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s)
        while not self._closing:
            try:
                await self._connect()
                backoff.reset()
                await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified: the loop decides what follows
                policy = classify(exc) if not isinstance(exc, VenueLost) else None
                text = str(exc) if policy is None else detail(exc, self.secrets())
                if policy is not None and policy.kind == "auth":
                    msg = policy.message(self.name, text)
                    self._set_state(FAILED, policy.title)
                    self.emit_error("auth", "connect", msg, alert="critical")
                    return
                no_markets = self.exchange is not None and not self.exchange.markets
                if policy is not None and policy.kind in ("request", "closed") and not policy.retry \
                        and self.state == CONNECTING and no_markets:
                    msg = policy.message(self.name, text)
                    self._set_state(FAILED, policy.title)
                    self.emit_error(policy.kind, "connect", msg, alert="critical")
                    return
                if policy is None or policy.kind not in ("network", "rate_limit", "response", "nonce"):
                    log.warning("%s: connection problem: %s", self.name, text, exc_info=policy is None
                                or policy.kind == "unknown")
                delay = max(backoff.next_delay(), self.gate.remaining)
                self.stats["disconnects"] += 1
                title = "lost" if policy is None else policy.title
                self._set_state(DISCONNECTED, f"{title}; reconnecting in {delay:.1f} s")
                self.emit_error("network" if policy is None else policy.kind, "connect",
                                f"{self.name}: {text}; reconnecting in {delay:.1f} s", delay)
                await asyncio.sleep(delay)

    async def _connect(self) -> None:
        self._set_state(CONNECTING, "loading markets")
        if self.exchange is None:
            # importing ccxt (~0.8 s) and loading the CA bundle (~70 ms) happen off the loop, so the window
            # never freezes on connect
            self.exchange = await asyncio.get_running_loop().run_in_executor(None, self._make_exchange)
        ex = self.exchange
        await self.rest(ex.load_markets, True)
        await self._sync_time(force=True)
        self._load_instruments()
        if not self.feed.running:
            self.feed.start(list(self._instruments))
        self.stats["connects"] += 1
        if not self._credentials:
            self._set_state(PUBLIC, "no API key: orders are refused; add one with `kestrel keys set "
                            f"{self.name}` or the Connect dialog")
            return
        self._set_state(CONNECTING, "reconciling orders")
        view = await self._fetch_view()
        items = build_items(self.name, self.journal, view, self.now_ms()) if self.journal else []
        self._adopt(view)
        for cid, text in view.unresolved.items():
            t = self._orders.get(cid)
            if t is not None:
                self._order_trouble(t, text)
        if items and self.approval != "auto":
            self.pending = ReconciliationProposed(self.name, tuple(items), self.now_ms())
            self._approved.clear()
            self._set_state(AWAITING_APPROVAL, f"{len(items)} difference(s) with the journal to approve")
            self.on_data(self.pending)
            self.on_data(Alert("warning", f"{self.name}: approve the reconciliation",
                               f"{len(items)} difference(s) between the venue and the journal. Trading on "
                               f"{self.name} resumes when you approve them:\n" + "\n".join(
                                   i.text for i in items), self.now_ms()))
            await self._approved.wait()
            actor = self._approver
        else:
            actor = "auto"
        self._apply(items, actor)
        self.pending = None
        self._set_state(READY, f"{len(self._instruments)} market(s), clock offset {self.time_offset_ms} ms")

    def _load_instruments(self) -> None:
        ex = self.exchange
        symbols = self.config.symbols or []
        missing = [s for s in symbols if s not in ex.markets]
        if missing:
            self.emit_error("request", "markets", f"{self.name}: unknown symbol(s) {', '.join(missing)} "
                            f"(not listed by {self.config.exchange}); fix the venue config", alert="warning")
        from ccxt.base.decimal_to_precision import TICK_SIZE

        def step(value: Any) -> float:
            if value is None:
                return 0.0
            return float(value) if ex.precisionMode == TICK_SIZE else 10.0 ** -float(value)

        out = {}
        for sym in symbols:
            m = ex.markets.get(sym)
            if m is None:
                continue
            limits = m.get("limits") or {}
            amount, cost = limits.get("amount") or {}, limits.get("cost") or {}
            lot = step((m.get("precision") or {}).get("amount"))
            out[sym] = Instrument(sym, self.name, m.get("base", ""), m.get("quote", ""),
                                  tick_size=step((m.get("precision") or {}).get("price")), lot_size=lot,
                                  min_qty=float(amount.get("min") or lot),
                                  max_qty=float(amount.get("max") or 1e12),
                                  min_notional=float(cost.get("min") or 0.0),
                                  maker_fee=float(m.get("maker") or 0.001),
                                  taker_fee=float(m.get("taker") or 0.001))
        self._instruments = out
        for listener in self.instrument_listeners:
            listener(list(out.values()))

    async def _fetch_view(self) -> VenueView:
        ex = self.exchange
        working = self.journal.working(self.name) if self.journal else []
        symbols = sorted(set(self._instruments) | {o.symbol for o in working})
        open_orders: list[dict] = []
        for sym in symbols:
            open_orders += self._open_rows(await self.rest(ex.fetch_open_orders, sym))
        open_cids = {o.get("clientOrderId") for o in open_orders}
        by_cid: dict[str, dict | None] = {}
        unresolved: dict[str, str] = {}
        for o in working:
            if o.client_order_id not in open_cids:
                try:
                    by_cid[o.client_order_id] = await self._find_by_client_id(o.client_order_id, o.symbol,
                                                                              o.venue_order_id)
                except Exception as exc:  # noqa: BLE001 - one order's trouble is not the venue's
                    if not _per_order(exc):
                        raise
                    unresolved[o.client_order_id] = detail(exc, self.secrets())
        trades: list[dict] = []
        if working:
            since = min(o.created_ts for o in working) - 60_000
            for sym in sorted({o.symbol for o in working}):
                trades += await self.rest(ex.fetch_my_trades, sym, since)
        return VenueView(open_orders, by_cid, trades, unresolved)

    @staticmethod
    def _open_rows(rows: Any) -> list[dict]:
        """An open-orders reply, each row an order with its id: anything else is unreadable (the whole reply:
        a poll that cannot see which orders are open must not conclude that ours are not)."""
        if not isinstance(rows, list):
            raise UnreadableReply(f"the open-orders reply is not a list ({type(rows).__name__})")
        for o in rows:
            check_order(o, "open-orders")
            if not o.get("symbol"):
                raise UnreadableReply(f"the open-orders reply has an order without a symbol (id {o['id']})")
        return rows

    def _adopt(self, view: VenueView) -> None:
        """Track every journal order that the venue still has open (or that we still think working)."""
        self._open_cache = [open_info(o) for o in view.open_orders]
        if not self.journal:
            return
        for o in self.journal.working(self.name):
            t = self._orders.get(o.client_order_id)
            if t is None:
                t = _Tracked(o.client_order_id, o.symbol, o.side, o.quantity, o.created_ts,
                             venue_id(o.venue_order_id), reported_qty=o.filled_qty)
                self._orders[o.client_order_id] = t
            if t.vid:
                self._by_vid[t.vid] = t.cid
        seen = [(o.get("clientOrderId"), o) for o in view.open_orders]
        for cid, o in seen + [(c, o) for c, o in view.by_client_id.items() if o]:
            t = self._orders.get(cid)
            vid = venue_id(o.get("id"))
            if t is not None and vid is not None:
                t.vid = vid
                self._by_vid[t.vid] = cid

    def _apply(self, items: tuple | list, actor: str) -> None:
        n = 0
        for item in items:
            for report in item.reports:
                t = self._orders.get(getattr(report, "client_order_id", ""))
                if t is not None and hasattr(report, "trade_id"):
                    t.trade_ids.add(report.trade_id)
                    t.reported_qty += report.quantity
                self.on_report(report)
                n += 1
            if item.kind in ("closed_at_venue", "not_at_venue"):
                self._untrack(item.client_order_id)
        for item in items:
            if item.kind != "unknown_to_us":
                log.warning("reconcile %s (%s): %s", self.name, actor, item.text)
        if items:
            self.on_data(ReconciliationApplied(self.name, n, actor, self.now_ms()))

    # ----------------------------------------------------------------------------------------- serving
    async def _serve(self) -> None:
        failures = 0
        while not self._closing:
            await asyncio.sleep(self.config.order_poll_s)
            try:
                await self._sync_time()
                await self._poll_orders()
                self.stats["order_polls"] += 1
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                policy = classify(exc)
                if policy.kind == "auth":
                    raise
                failures += 1
                log.warning("%s: order poll failed (%d/%d): %s (%s)", self.name, failures,
                            self.config.max_failures, policy.title, detail(exc, self.secrets()))
                if failures >= self.config.max_failures:
                    raise VenueLost(f"{failures} order polls failed in a row ({policy.title})") from None

    async def _poll_orders(self) -> None:
        ex = self.exchange
        tracked = [t for t in self._orders.values() if t.phase == "live"]
        symbols = sorted({t.symbol for t in tracked})
        cache: list[OpenOrderInfo] = []
        for sym in symbols:
            ours = [t for t in tracked if t.symbol == sym]
            opens = self._open_rows(await self.rest(ex.fetch_open_orders, sym))
            cache += [open_info(o) for o in opens]
            open_by_cid = {o.get("clientOrderId"): o for o in opens}
            since = max(min(t.created_ms for t in ours) - 5_000, self.now_ms() - 23 * 3_600_000)
            trades = await self.rest(ex.fetch_my_trades, sym, since)
            self._report_trades(trades)
            for t in ours:
                if self._orders.get(t.cid) is not t:
                    continue  # settled meanwhile (its cancel answered while this poll awaited the venue)
                o = open_by_cid.get(t.cid)
                if o is not None:
                    t.missing_since = 0.0
                    if t.vid is None:
                        t.vid = str(o["id"])
                        self._by_vid[t.vid] = t.cid
                        self.on_report(OrderAccepted(t.cid, t.vid, t.symbol, self.now_ms()))
                    continue
                if t.canceled:
                    found = {"status": "canceled", "filled": t.cancel_filled, "id": t.vid}
                else:
                    try:
                        found = await self._find_by_client_id(t.cid, t.symbol, t.vid)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - one order's trouble is not the venue's
                        if not _per_order(exc):
                            raise
                        self._order_trouble(t, detail(exc, self.secrets()))
                        continue
                if self._orders.get(t.cid) is not t:
                    continue
                if t.trouble:
                    log.warning("%s: order %s can be looked up again", self.name, t.cid)
                    t.trouble = ""
                if found is None and self._still_missing(t):
                    continue
                t.missing_since = 0.0
                self._settle(t, found)
        self._open_cache = cache

    def _still_missing(self, t: _Tracked) -> bool:
        """A live order the venue has no record of: wait ``unknown_grace_s`` before believing it (a venue's
        order index can lag, or one lookup be wrong); True while waiting."""
        now = time.monotonic()
        if not t.missing_since:
            t.missing_since = now
            log.warning("%s: order %s is neither open nor found at the venue; looking again for %g s",
                        self.name, t.cid, self.config.unknown_grace_s)
        return now - t.missing_since < self.config.unknown_grace_s

    def _order_trouble(self, t: _Tracked, text: str) -> None:
        """One order cannot be looked up (the venue refuses that request, or answers about another order):
        show it once per distinct failure; the order stays as it is, counting toward limits, and is looked up
        again at the next poll while the venue serves every other order."""
        if text == t.trouble:
            log.debug("%s: order %s still cannot be looked up: %s", self.name, t.cid, text)
            return
        t.trouble = text
        self.emit_error("order", "lookup", f"{self.name}: order {t.cid} ({t.symbol}) cannot be looked up "
                        f"({text}). Its state is left as it is and keeps counting toward limits; "
                        f"Kestrel keeps looking it up while the venue serves other orders. If this persists, "
                        f"check it on the exchange.", alert="warning")

    def _report_trades(self, trades: list[dict]) -> None:
        now = self.now_ms()
        for tr in trades:
            cid = self._by_vid.get(str(tr.get("order") or ""))
            t = self._orders.get(cid) if cid else None
            tid = str(tr.get("id"))
            if t is None or tid in t.trade_ids:
                continue
            t.trade_ids.add(tid)
            t.reported_qty += float(tr["amount"])
            self.on_report(fill_report(self.name, t.cid, t.symbol, t.side, tr, now))

    def _settle(self, t: _Tracked, found: dict | None) -> None:
        """An order that is no longer open: report its end once all its fills are reported."""
        now = self.now_ms()
        if found is None:
            reason = ("the venue no longer reports this order (not open, not in its history); "
                      "treated as canceled")
            self.emit_error("order", "poll", f"{self.name}: order {t.cid}: {reason}", alert="warning")
            self.on_report(OrderCanceled(t.cid, t.symbol, reason, now))
            self._untrack(t.cid)
            return
        filled = float(found.get("filled") or 0.0)
        if filled > t.reported_qty + 1e-12:
            t.waits += 1
            if t.waits < 5:
                return  # its trades are not visible yet: wait for the next poll
            qty = filled - t.reported_qty  # the trade history will not show them: take the order's word
            price = float(found.get("average") or found.get("price") or 0.0)
            log.warning("%s: order %s filled %g per the venue but its trades are missing; booking %g @ %g",
                        self.name, t.cid, filled, qty, price)
            tid = f"reconcile:{found.get('id')}:{filled:g}"
            self.on_report(OrderFilled(t.cid, str(found.get("id") or t.vid), tid, t.symbol, self.name, t.side,
                                       price, qty, 0.0, "", "TAKER", now))
            t.reported_qty = filled
        status = found.get("status")
        if status == "closed":
            self._untrack(t.cid)
        elif status in ("canceled", "expired", "rejected"):
            reason = t.final_reason or ("canceled" if status == "canceled" else f"{status} by the venue")
            self.on_report(OrderCanceled(t.cid, t.symbol, reason, now))
            self._untrack(t.cid)

    def _untrack(self, cid: str) -> None:
        t = self._orders.pop(cid, None)
        if t is not None and t.vid:
            self._by_vid.pop(t.vid, None)

    async def _find_by_client_id(self, cid: str, symbol: str, vid: str | None = None) -> dict | None:
        """The venue's order with our client order id, or None if it has none.

        Raises on network errors and on replies that cannot be read, lack the order's id or status, or are
        about another order (``UnreadableReply``): such a lookup leaves the order "still unknown", it never
        counts as "found". A venue id the venue refuses or does not know (-1100, -2013) is retried by client
        order id."""
        ex = self.exchange
        vid = venue_id(vid)
        if vid:
            try:
                return check_order(await self.rest(ex.fetch_order, vid, symbol), "lookup", cid, vid, True)
            except Exception as exc:
                if not _per_order(exc):
                    raise
                log.info("%s: lookup of order %s by its venue id %s failed (%s); asking by client order id",
                         self.name, cid, vid, detail(exc, self.secrets()))
        try:
            if self.config.lookup_by_client_id == "param":
                by_cid = {self.config.client_order_id_param: cid}
                reply = await self.rest(ex.fetch_order, None, symbol, by_cid)
                return check_order(reply, "lookup", cid, None, True)
        except Exception as exc:
            if type(exc).__name__ in ("OrderNotFound", "OrderNotCached"):
                return None
            raise
        for fetch, capability in (("fetch_open_orders", "fetchOpenOrders"),
                                  ("fetch_closed_orders", "fetchClosedOrders"),
                                  ("fetch_orders", "fetchOrders"),
                                  ("fetch_canceled_orders", "fetchCanceledOrders")):
            fn = getattr(ex, fetch, None)
            if fn is None or not (ex.has or {}).get(capability):
                continue
            try:
                orders = await self.rest(fn, symbol)
            except Exception as exc:  # noqa: BLE001
                if classify(exc).kind in ("request",):
                    continue
                raise
            if not isinstance(orders, list):
                raise UnreadableReply(f"the {fetch} reply is not a list ({type(orders).__name__})")
            for o in orders:
                if isinstance(o, dict) and o.get("clientOrderId") == cid:
                    return check_order(o, "lookup", cid, None, True)
        return None

    # ------------------------------------------------------------------------------------------ orders
    async def _create(self, order: VenueOrder, t: _Tracked) -> None:
        ex = self.exchange
        params = {self.config.client_order_id_param: order.client_order_id}
        otype = "limit" if order.order_type == OrderType.LIMIT else "market"
        side = "buy" if order.side == Side.BUY else "sell"
        try:
            res = check_order(await self.rest(ex.create_order, order.symbol, otype, side, order.quantity,
                                              order.price, params), "create", t.cid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified: refused, or unknown
            policy = classify(exc)
            text = detail(exc, self.secrets())
            if is_definite_refusal(exc):
                self._untrack(t.cid)
                self.on_report(OrderRejected(t.cid, t.symbol, policy.message(self.name, text), self.now_ms()))
                if policy.kind == "auth":
                    self.emit_error("auth", "create", policy.message(self.name, text), alert="critical")
                return
            t.phase = "unknown"
            self.stats["unknown_creates"] += 1
            reason = (f"{policy.title} while placing the order ({text}); UNKNOWN until found by its client "
                      f"order id; it will not be re-sent")
            self.on_report(OrderStatusUnknown(t.cid, t.symbol, reason, self.now_ms()))
            self.emit_error(policy.kind, "create", f"{self.name}: order {t.cid}: {reason}")
            self._spawn(self._resolve_unknown(t))
            return
        self._accepted(t, res)

    def _accepted(self, t: _Tracked, res: dict) -> None:
        """The venue has the order: ``res`` passed ``check_order`` (it carries the venue's id)."""
        now = self.now_ms()
        t.vid = str(res["id"])
        self._by_vid[t.vid] = t.cid
        t.phase = "live"
        self.on_report(OrderAccepted(t.cid, t.vid, t.symbol, now))
        trades = [dict(tr, order=tr.get("order") or t.vid) for tr in (res.get("trades") or [])
                  if tr.get("id")]
        self._report_trades(trades)
        status = res.get("status")
        done = status == "closed" and t.reported_qty >= t.quantity
        if status in ("canceled", "expired", "rejected") or done:
            t.final_reason = "IOC remainder" if status in ("canceled", "expired") else ""
            self._settle(t, res)

    async def _resolve_unknown(self, t: _Tracked) -> None:
        """Find an UNKNOWN create by client order id: found -> acknowledged; absent for ``unknown_grace_s``
        -> rejected as never placed. Lookups that fail (network) are retried with backoff."""
        backoff = Backoff(0.2, 5.0)
        started = time.monotonic()
        absent = 0  # "not found" answers in a row
        while not self._closing:
            await asyncio.sleep(backoff.next_delay())
            try:
                found = await self._find_by_client_id(t.cid, t.symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - still unknown: never "found", never "absent"
                text = detail(exc, self.secrets())
                absent = 0
                title = classify(exc).title
                log.info("%s: lookup of UNKNOWN order %s failed: %s (%s); it stays UNKNOWN, looking again",
                         self.name, t.cid, title, text)
                if _per_order(exc) or time.monotonic() - started >= self.config.unknown_grace_s:
                    self._order_trouble(t, f"{title}: {text}")
                continue
            if found is not None:
                log.warning("%s: UNKNOWN order %s found at the venue as %s (%s)", self.name, t.cid,
                            found.get("id"), found.get("status"))
                self._accepted(t, found)
                return
            absent += 1
            if time.monotonic() - started >= self.config.unknown_grace_s and absent >= 2:
                self._untrack(t.cid)
                why = (f"not placed: the venue has no order with this client order id "
                       f"{self.config.unknown_grace_s:g} s after the create went unanswered")
                self.on_report(OrderRejected(t.cid, t.symbol, why, self.now_ms()))
                return

    async def _cancel(self, t: _Tracked) -> None:
        """Cancel ``t``. A cancel whose answer was lost or unreadable may have taken effect: the order is
        looked up before the cancel is sent again (at most 3 sends); a refusal is ``CancelRejected``."""
        ex = self.exchange
        backoff = Backoff(0.2, 2.0)
        for attempt in range(3):
            try:
                if t.vid:
                    res = await self.rest(ex.cancel_order, t.vid, t.symbol)
                else:
                    res = await self.rest(ex.cancel_order, None, t.symbol,
                                          {self.config.client_order_id_param: t.cid})
                res = check_order(res, "cancel", t.cid, t.vid, True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                policy = classify(exc)
                text = detail(exc, self.secrets())
                if policy.retry and policy.kind in ("network", "response", "unknown") and attempt < 2:
                    log.warning("%s: cancel of %s: %s (%s); looking the order up before sending it again",
                                self.name, t.cid, policy.title, text)
                    await asyncio.sleep(backoff.next_delay())
                    if await self._cancel_took_effect(t):
                        return
                    continue
                self.on_report(CancelRejected(t.cid, policy.message(self.name, text), self.now_ms()))
                return
            self._canceled(t, res)
            return

    async def _cancel_took_effect(self, t: _Tracked) -> bool:
        """After a cancel whose answer was lost: is the order no longer open (its end is then reported here,
        or by the poll when it filled)? False when it is open, absent or cannot be looked up: send again."""
        try:
            found = await self._find_by_client_id(t.cid, t.symbol, t.vid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - cannot tell: a cancel only reduces risk, send it again
            log.info("%s: lookup of %s after its cancel failed (%s)", self.name, t.cid,
                     detail(exc, self.secrets()))
            return False
        if found is None or found.get("status") == "open":
            return False
        if found.get("status") in ("canceled", "expired", "rejected"):
            log.warning("%s: the cancel of %s took effect (the venue has it %s)", self.name, t.cid,
                        found.get("status"))
            self._canceled(t, found)
        return True

    def _canceled(self, t: _Tracked, res: dict) -> None:
        """The venue canceled ``t`` (``res``: its order after the cancel): report it once every fill is."""
        if self._orders.get(t.cid) is not t:
            return  # the poll found its end first
        t.canceled = True
        t.final_reason = "canceled"
        if t.vid is None:
            t.vid = str(res["id"])
            self._by_vid[t.vid] = t.cid
        filled = t.cancel_filled = float(res.get("filled") or 0.0)
        if filled <= t.reported_qty + 1e-12:
            self.on_report(OrderCanceled(t.cid, t.symbol, "canceled", self.now_ms()))
            self._untrack(t.cid)
        # else: fills first; the next poll reports them, then the cancel (see _poll_orders)

def _per_order(exc: BaseException) -> bool:
    """Is ``exc`` about one order (the venue refuses that order's request, or answered about another order)
    rather than about the venue (network, unreadable bodies, rate limits, auth)?"""
    if isinstance(exc, UnreadableReply):
        return exc.per_order
    return classify(exc).kind in _PER_ORDER
