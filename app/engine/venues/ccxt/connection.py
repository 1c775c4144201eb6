"""The ccxt venue's connection: connect (markets, clock, reconciliation with the journal, a person's
approval), and reconnect with backoff after a failure (a part of ``CcxtVenue``).

STATES        disconnected -> connecting -> (awaiting_approval) -> ready; "failed" after an auth error (a
              person must act: new keys, reconnect). Only "ready" takes new orders; cancels always go out.
CONNECT       load markets, measure the clock offset (``load_time_difference``), fetch open orders, the state
              of every order the journal thinks working, and recent trades; compare (reconcile.py). Any
              difference waits for a person's approval (``ReconciliationProposed`` -> ``approve``); then
              ``VenueStatus(connected)``.
"""
from __future__ import annotations

import asyncio
import logging

from app.engine.core.messages import Alert, OrderType, TimeInForce
from app.engine.venues.backoff import Backoff
from app.engine.venues.base import venue_id
from app.engine.venues.ccxt.errors import classify, detail
from app.engine.venues.ccxt.instruments import market_instruments
from app.engine.venues.ccxt.lookup import find_by_client_id, open_rows, per_order
from app.engine.venues.ccxt.orders import TrackedOrder, day_end
from app.engine.venues.ccxt.rest import make_exchange
from app.engine.venues.ccxt.tracking import VenueLost
from app.engine.venues.events import ReconciliationApplied, ReconciliationProposed
from app.engine.venues.reconcile import VenueView, build_items, open_info

log = logging.getLogger("kestrel.venues.ccxt")

DISCONNECTED, CONNECTING, AWAITING_APPROVAL, READY, FAILED, PUBLIC = (
    "disconnected", "connecting", "awaiting_approval", "ready", "failed", "market data only")


class CcxtConnection:
    """Connect, reconcile, approve, reconnect."""

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
            loop = asyncio.get_running_loop()
            self.exchange = await loop.run_in_executor(None, make_exchange, self.config, self._credentials)
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
        out = market_instruments(ex, self.name, symbols)
        self._instruments = out
        for listener in self.instrument_listeners:
            listener(list(out.values()))

    async def _fetch_view(self) -> VenueView:
        ex = self.exchange
        working = self.journal.working(self.name) if self.journal else []
        symbols = sorted(set(self._instruments) | {o.symbol for o in working})
        open_orders: list[dict] = []
        for sym in symbols:
            open_orders += open_rows(await self.rest(ex.fetch_open_orders, sym))
        open_cids = {o.get("clientOrderId") for o in open_orders}
        by_cid: dict[str, dict | None] = {}
        unresolved: dict[str, str] = {}
        for o in working:
            if o.client_order_id not in open_cids:
                try:
                    by_cid[o.client_order_id] = await find_by_client_id(self, o.client_order_id, o.symbol,
                                                                             o.venue_order_id)
                except Exception as exc:  # noqa: BLE001 - one order's trouble is not the venue's
                    if not per_order(exc):
                        raise
                    unresolved[o.client_order_id] = detail(exc, self.secrets())
        trades: list[dict] = []
        if working:
            since = min(o.created_ts for o in working) - 60_000
            for sym in sorted({o.symbol for o in working}):
                trades += await self.rest(ex.fetch_my_trades, sym, since)
        return VenueView(open_orders, by_cid, trades, unresolved)

    def _adopt(self, view: VenueView) -> None:
        """Track every journal order that the venue still has open (or that we still think working)."""
        self._open_cache = [open_info(o) for o in view.open_orders]
        if not self.journal:
            return
        for o in self.journal.working(self.name):
            t = self._orders.get(o.client_order_id)
            if t is None:
                plain = getattr(o, "order_type", None) is OrderType.LIMIT and \
                    getattr(o, "tif", TimeInForce.GTC) in (TimeInForce.GTC, TimeInForce.DAY) and \
                    not getattr(o, "fired", False)
                t = TrackedOrder(o.client_order_id, o.symbol, o.side, o.quantity, o.created_ts,
                                 venue_id(o.venue_order_id), reported_qty=o.filled_qty,
                                 price=getattr(o, "price", None), post_only=getattr(o, "post_only", False),
                                 plain_limit=plain, day_end_ms=day_end(o.created_ts) if getattr(
                                     o, "tif", None) is TimeInForce.DAY else 0)
                self._orders[o.client_order_id] = t
            if t.vid:
                self._by_vid[t.vid] = t.cid
        seen = [(o.get("clientOrderId"), o) for o in view.open_orders]
        for cid, o in seen + [(c, o) for c, o in view.by_client_id.items() if o]:
            t = self._orders.get(cid)
            vid = venue_id(o.get("id"))
            if t is not None and t.vid and vid not in (None, t.vid) and o.get("status") == "open":
                self._replaced(t, o)  # a cancel-replace (a move) whose answer Kestrel stopped before reading
                continue
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
