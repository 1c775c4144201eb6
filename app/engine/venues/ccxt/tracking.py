"""Tracking our orders at a ccxt venue once they are live: the order poll, fills reported before the final
state of their order, and an order's own trouble kept apart from the venue's (a part of ``CcxtVenue``).

TRACKING      every ``order_poll_s``: open orders and recent trades of symbols with working orders; fills are
              reported before the final state of their order; ``max_failures`` failed polls in a row mean the
              venue is lost: reconnect (with backoff and jitter) and reconcile again. One order the venue
              will not look up (-1100, -2013, a reply about another order) is that order's trouble: shown
              once, looked up again, never counted against the venue.
"""
from __future__ import annotations

import asyncio
import logging
import time

from app.engine.core.messages import OrderAccepted, OrderCanceled, OrderFilled
from app.engine.venues.base import OpenOrderInfo, venue_id
from app.engine.venues.ccxt.errors import classify, detail
from app.engine.venues.ccxt.lookup import find_by_client_id, open_rows, per_order
from app.engine.venues.ccxt.orders import TrackedOrder
from app.engine.venues.reconcile import fill_report, open_info

log = logging.getLogger("kestrel.venues.ccxt")


class VenueLost(Exception):
    """Raised inside the venue's tasks when REST polling failed ``max_failures`` times in a row."""


class CcxtTracking:
    """The order poll; reporting fills and ends; an order's trouble."""

    async def _serve(self) -> None:
        failures = 0
        while not self._closing:
            await asyncio.sleep(self.config.order_poll_s)
            try:
                await self._sync_time()
                await self._poll_orders()
                self.expire_day_orders()
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
            opens = open_rows(await self.rest(ex.fetch_open_orders, sym))
            cache += [open_info(o) for o in opens]
            open_by_cid = {o.get("clientOrderId"): o for o in opens}
            since = max(min(t.created_ms for t in ours) - 5_000, self.now_ms() - 23 * 3_600_000)
            trades = await self.rest(ex.fetch_my_trades, sym, since)
            self._report_trades(trades)
            for t in ours:
                if self._orders.get(t.cid) is not t:
                    continue  # settled meanwhile (its cancel answered while this poll awaited the venue)
                if t.amending is not None and not t.amend_text:
                    continue  # its editOrder is in flight: its answer says what it is
                o = open_by_cid.get(t.cid)
                if t.amend_text:  # an editOrder whose outcome the venue did not say: its record does
                    found = o if o is not None else await find_by_client_id(self, t.cid, t.symbol)
                    if self._orders.get(t.cid) is t:
                        self._amend_seen(t, found, t.amend_text)
                    continue
                if o is not None:
                    t.missing_since = 0.0
                    if t.vid is not None and venue_id(o.get("id")) not in (None, t.vid):
                        self._replaced(t, o)  # replaced by a cancel-replace whose answer we never read
                        continue
                    if t.vid is None:
                        t.vid = str(o["id"])
                        self._by_vid[t.vid] = t.cid
                        self.on_report(OrderAccepted(t.cid, t.vid, t.symbol, self.now_ms()))
                    continue
                if t.canceled:
                    found = {"status": "canceled", "filled": t.cancel_filled, "id": t.vid}
                else:
                    try:
                        found = await find_by_client_id(self, t.cid, t.symbol, t.vid)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - one order's trouble is not the venue's
                        if not per_order(exc):
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

    def _still_missing(self, t: TrackedOrder) -> bool:
        """A live order the venue has no record of: wait ``unknown_grace_s`` before believing it (a venue's
        order index can lag, or one lookup be wrong); True while waiting."""
        now = time.monotonic()
        if not t.missing_since:
            t.missing_since = now
            log.warning("%s: order %s is neither open nor found at the venue; looking again for %g s",
                        self.name, t.cid, self.config.unknown_grace_s)
        return now - t.missing_since < self.config.unknown_grace_s

    def _order_trouble(self, t: TrackedOrder, text: str) -> None:
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

    def _settle(self, t: TrackedOrder, found: dict | None) -> None:
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
