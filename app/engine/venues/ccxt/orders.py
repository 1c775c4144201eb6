"""Our orders at a ccxt venue: placing one, finding an UNKNOWN one, canceling one (a part of ``CcxtVenue``).

ORDERS        create with our client order id. A refusal (funds, invalid, rate limit, bad timestamp) is
              ``OrderRejected`` with a clear reason. No answer (timeout, 5xx, unreadable, duplicate id) is
              ``OrderStatusUnknown``: the order is looked up by client order id until found (acknowledged)
              or absent for ``unknown_grace_s`` (rejected as "not placed"); it is never re-sent.
CANCELS       a cancel whose answer was lost is looked up before it is sent again.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from app.engine.core.messages import (
    CancelRejected, OrderAccepted, OrderCanceled, OrderRejected, OrderType, Side, TimeInForce,
)
from app.engine.venues.backoff import Backoff
from app.engine.venues.base import VenueOrder
from app.engine.venues.ccxt.errors import check_order, classify, detail, is_definite_refusal
from app.engine.venues.ccxt.lookup import find_by_client_id, per_order
from app.engine.venues.events import OrderStatusUnknown

log = logging.getLogger("kestrel.venues.ccxt")


@dataclass
class TrackedOrder:
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


class CcxtOrders:
    """Create (and resolve an UNKNOWN create), cancel (and check a cancel whose answer was lost)."""

    async def _create(self, order: VenueOrder, t: TrackedOrder) -> None:
        ex = self.exchange
        params = {self.config.client_order_id_param: order.client_order_id}
        limit = order.order_type is OrderType.LIMIT or order.order_type is OrderType.STOP_LIMIT
        otype = "limit" if limit else "market"
        if order.order_type.is_triggered:  # ccxt's unified trigger (binance spot: STOP_LOSS / STOP_LOSS_LIMIT)
            params["triggerPrice"] = order.trigger_price
        side = "buy" if order.side == Side.BUY else "sell"
        if order.post_only:
            params["postOnly"] = True  # ccxt's unified flag (binance spot: LIMIT_MAKER)
        if order.tif is not TimeInForce.GTC:
            if otype == "limit":
                params["timeInForce"] = order.tif.value
            elif order.tif is TimeInForce.FOK:  # a market order is IOC by nature; fill-or-kill it is not
                self._untrack(t.cid)
                self.on_report(OrderRejected(t.cid, t.symbol, f"{self.name} takes fill-or-kill only on limit "
                                             f"orders: set a limit price; not sent", self.now_ms()))
                return
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
        self._accepted(t, res, order.tif)

    def _accepted(self, t: TrackedOrder, res: dict, tif: TimeInForce = TimeInForce.GTC) -> None:
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
            what = "FOK: not filled whole at once; nothing filled" if tif is TimeInForce.FOK and not t.reported_qty \
                else f"{'IOC' if tif is TimeInForce.GTC else tif.value} remainder"
            t.final_reason = what if status in ("canceled", "expired") else ""
            self._settle(t, res)

    async def _resolve_unknown(self, t: TrackedOrder) -> None:
        """Find an UNKNOWN create by client order id: found -> acknowledged; absent for ``unknown_grace_s``
        -> rejected as never placed. Lookups that fail (network) are retried with backoff."""
        backoff = Backoff(0.2, 5.0)
        started = time.monotonic()
        absent = 0  # "not found" answers in a row
        while not self._closing:
            await asyncio.sleep(backoff.next_delay())
            try:
                found = await find_by_client_id(self, t.cid, t.symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - still unknown: never "found", never "absent"
                text = detail(exc, self.secrets())
                absent = 0
                title = classify(exc).title
                log.info("%s: lookup of UNKNOWN order %s failed: %s (%s); it stays UNKNOWN, looking again",
                         self.name, t.cid, title, text)
                if per_order(exc) or time.monotonic() - started >= self.config.unknown_grace_s:
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

    async def _cancel(self, t: TrackedOrder) -> None:
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

    async def _cancel_took_effect(self, t: TrackedOrder) -> bool:
        """After a cancel whose answer was lost: is the order no longer open (its end is then reported here,
        or by the poll when it filled)? False when it is open, absent or cannot be looked up: send again."""
        try:
            found = await find_by_client_id(self, t.cid, t.symbol, t.vid)
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

    def _canceled(self, t: TrackedOrder, res: dict) -> None:
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
