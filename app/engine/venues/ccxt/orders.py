"""Our orders at a ccxt venue: placing one, finding an UNKNOWN one, canceling one (a part of ``CcxtVenue``).

ORDERS        create with our client order id. A refusal (funds, invalid, rate limit, bad timestamp) is
              ``OrderRejected`` with a clear reason. No answer (timeout, 5xx, unreadable, duplicate id) is
              ``OrderStatusUnknown``: the order is looked up by client order id until found (acknowledged)
              or absent for ``unknown_grace_s`` (rejected as "not placed"); it is never re-sent.
CANCELS       a cancel whose answer was lost is looked up before it is sent again.
DAY           (``TIF_CHECKED``: Binance spot has no DAY) a DAY order is sent as GTC and canceled by Kestrel at
              00:00 UTC, the end of crypto's trading day, on the exchange's clock; if Kestrel is not running then,
              when it next connects (``expire_day_orders``), saying so.
AMENDS        (``AMENDS``: Binance spot) ccxt's editOrder, a cancel-replace under the same client order id, only
              for a resting limit (GTC, DAY) with nothing filled and with ``cancelRestrictions=ONLY_NEW``, so the
              new order never adds to a fill of the old one. Its answer is ``OrderAmended`` + ``OrderAccepted``
              (the new venue id) or ``AmendRejected``; a failed or lost answer is settled by looking the client
              order id up: a new venue id is the replacement, the old one open is a refusal, the old one
              canceled is a replace whose new order the venue refused (the order has ended: ``OrderCanceled``
              saying so).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from app.engine.core.messages import (
    AmendRejected, CancelRejected, OrderAccepted, OrderAmended, OrderCanceled, OrderRejected, OrderType, Side,
    TimeInForce,
)
from app.engine.venues.backoff import Backoff
from app.engine.venues.base import VenueOrder, venue_id
from app.engine.venues.ccxt.errors import check_order, classify, detail, is_definite_refusal
from app.engine.venues.ccxt.lookup import find_by_client_id, per_order
from app.engine.venues.events import OrderStatusUnknown

log = logging.getLogger("kestrel.venues.ccxt")


DAY_MS = 86_400_000


def day_end(ts_ms: int) -> int:
    """The end of the UTC day ``ts_ms`` is in (00:00 UTC after it): when a DAY order placed then expires."""
    return (int(ts_ms) // DAY_MS + 1) * DAY_MS


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
    price: float | None = None  # a limit's price at the venue
    post_only: bool = False
    plain_limit: bool = False  # a resting limit (GTC or DAY): the one kind editOrder changes (``can_amend``)
    amending: tuple[float, float] | None = None  # an editOrder in flight (price, quantity) until its outcome is known
    amend_text: str = ""  # why an editOrder failed, while the poll is to settle its outcome
    day_end_ms: int = 0  # a DAY order (sent as GTC): Kestrel cancels it at this exchange time, its UTC day's end
    expiring: bool = False  # that cancel is under way (its reason is ``final_reason``)


class CcxtOrders:
    """Create (and resolve an UNKNOWN create), cancel (and check a cancel whose answer was lost)."""

    async def _create(self, order: VenueOrder, t: TrackedOrder) -> None:
        ex = self.exchange
        params = {self.config.client_order_id_param: order.client_order_id}
        limit = order.order_type is OrderType.LIMIT or order.order_type is OrderType.STOP_LIMIT
        otype = "limit" if limit else "market"
        if order.order_type.is_trailing:  # binance spot: a STOP_LOSS with trailingDelta, in basis points
            params["trailingPercent"] = f"{round(order.trail_pct * 100) / 100:g}"
            params["stopLossOrTakeProfit"] = "stopLoss"
        elif order.order_type.is_triggered:  # ccxt's unified trigger (binance spot: STOP_LOSS / STOP_LOSS_LIMIT)
            params["triggerPrice"] = order.trigger_price
        side = "buy" if order.side == Side.BUY else "sell"
        if order.post_only:
            params["postOnly"] = True  # ccxt's unified flag (binance spot: LIMIT_MAKER)
        if order.tif is not TimeInForce.GTC and order.tif is not TimeInForce.DAY:  # (DAY: a GTC Kestrel ends)
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

    def expire_day_orders(self) -> None:
        """Cancel the DAY orders whose UTC day has ended on the exchange's clock, saying why."""
        now = self.now_ms() + self.time_offset_ms
        for t in list(self._orders.values()):
            if not t.day_end_ms or now < t.day_end_ms or t.expiring or t.canceled or t.phase != "live" \
                    or t.amending is not None:
                continue
            t.expiring = True
            late = now - t.day_end_ms > 60_000
            t.final_reason = ("expired at the end of the UTC day (DAY order: " + (
                f"Kestrel was not running at 00:00 UTC and canceled it when it connected again; {self.name} has "
                f"no DAY orders)" if late else f"canceled by Kestrel at 00:00 UTC; {self.name} has no DAY orders)"))
            log.warning("%s: DAY order %s: %s", self.name, t.cid, t.final_reason)
            self._spawn(self._cancel(t))

    async def _amend(self, t: TrackedOrder, price: float, quantity: float) -> None:
        """editOrder: Binance's cancel-replace of ``t`` by a limit at ``price`` for ``quantity``, keeping its client
        order id, only if the old order has no fill at the venue (``ONLY_NEW``)."""
        side = "buy" if t.side == Side.BUY else "sell"
        params = {self.config.client_order_id_param: t.cid, "cancelRestrictions": "ONLY_NEW"}
        if t.post_only:
            params["postOnly"] = True
        try:
            res = check_order(await self.rest(self.exchange.edit_order, t.vid, t.symbol, "limit", side, quantity,
                                              price, params), "amend", t.cid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - refused, half done, or lost: the venue's record says which
            text = detail(exc, self.secrets())
            log.warning("%s: amend of %s to %g @ %g: %s (%s); looking it up", self.name, t.cid, quantity, price,
                        classify(exc).title, text)
            await self._amend_outcome(t, text)
            return
        self._replaced(t, res)

    async def _amend_outcome(self, t: TrackedOrder, text: str) -> None:
        """After an editOrder that failed or went unanswered: the newest order with our client order id says
        what happened. Looked up until it answers (3 tries); then the poll settles it (``_amend_seen``)."""
        backoff = Backoff(0.2, 2.0)
        for _ in range(3):
            try:
                found = await find_by_client_id(self, t.cid, t.symbol)  # by client id: the newest of the two
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - cannot tell yet
                log.info("%s: lookup of %s after its amend failed (%s)", self.name, t.cid,
                         detail(exc, self.secrets()))
                await asyncio.sleep(backoff.next_delay())
                continue
            if self._orders.get(t.cid) is t:
                self._amend_seen(t, found, text)
            return
        t.amend_text = text  # the poll decides when the venue answers again

    def _amend_seen(self, t: TrackedOrder, found: dict | None, text: str) -> None:
        """The venue's record of an order whose editOrder outcome was not known: a new venue id is the
        replacement; the old order still open means the amend was refused; the old order ended means it was
        canceled by the replace whose new order the venue refused (or it filled first): the poll's settle
        reports that end."""
        vid = venue_id(found.get("id")) if found else None
        if vid is not None and vid != t.vid:
            self._replaced(t, found)
            return
        t.amending, t.amend_text = None, ""
        if found is None:
            return  # neither: the poll's lookup settles it
        if found.get("status") == "open":
            self.on_report(AmendRejected(t.cid, text, self.now_ms()))
            return
        if found.get("status") == "canceled":
            t.final_reason = (f"canceled by {self.name}'s cancel-replace, which then refused the new order "
                              f"({text}); nothing of it is working: place it again if you still want it")
            self.emit_error("order", "amend", f"{self.name}: order {t.cid}: {t.final_reason}", alert="warning")
        else:
            self.on_report(AmendRejected(t.cid, f"it {found.get('status')} before the amend reached it",
                                         self.now_ms()))
        self._settle(t, found)

    def _replaced(self, t: TrackedOrder, res: dict) -> None:
        """The venue canceled ``t``'s old order and placed ``res`` under its client order id: the same order
        for Kestrel, at its new price and quantity, with a new venue id."""
        t.amending = None
        t.amend_text = ""
        self._by_vid.pop(t.vid or "", None)
        t.vid = None
        t.price = float(res.get("price") or t.price or 0.0)
        t.quantity = t.reported_qty + float(res.get("amount") or 0.0)
        self.on_report(OrderAmended(t.cid, t.symbol, t.price, t.quantity, self.now_ms()))
        self._accepted(t, res)

    async def _cancel(self, t: TrackedOrder) -> None:
        """Cancel ``t``. A cancel whose answer was lost or unreadable may have taken effect: the order is
        looked up before the cancel is sent again (at most 3 sends); a refusal is ``CancelRejected``. A cancel
        that comes while the order's amend is in flight waits for its outcome (it may have a new venue id)."""
        ex = self.exchange
        for _ in range(100):
            if t.amending is None or self._closing:
                break
            await asyncio.sleep(0.05)
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
                t.expiring = False  # a DAY order's end is tried again at the next poll
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
        t.final_reason = t.final_reason if t.expiring else "canceled"
        if t.vid is None:
            t.vid = str(res["id"])
            self._by_vid[t.vid] = t.cid
        filled = t.cancel_filled = float(res.get("filled") or 0.0)
        if filled <= t.reported_qty + 1e-12:
            self.on_report(OrderCanceled(t.cid, t.symbol, t.final_reason, self.now_ms()))
            self._untrack(t.cid)
