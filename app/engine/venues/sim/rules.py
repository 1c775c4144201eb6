"""Venue-side order checks of the sim exchange: what a real venue would refuse, with a readable reason.

Every reason starts with a stable phrase (before any ":"), so callers and tests can match on it:
"invalid side", "invalid order type", "invalid quantity", "invalid price", "price limit", "min notional",
"no liquidity". (The exchange adds "unknown symbol", "duplicate client order id", "venue disconnected".)
A-shares (``Instrument.rules == "ashare"``) are refused as the exchange would, with ``ashare_rules``' words:
"market closed", "not a trading day" and "price limit" (the day's limits from the previous close). T+1 and
no short selling are a broker's rules, on our side of the venue (the pre-trade check).
"""
from __future__ import annotations

import math

from app.engine.core import ashare_rules
from app.engine.core.instruments import Instrument
from app.engine.core.messages import OrderType, Side
from app.engine.venues.base import VenueOrder
from app.engine.venues.sim.orderbook import OrderBook


def check_order(inst: Instrument, book: OrderBook, limits: tuple[int, int] | None, o: VenueOrder,
                now_ms: int = 0, daily: ashare_rules.DailyLimits | None = None) -> str | None:
    """None if the venue accepts ``o`` at ``now_ms``, else the reject reason. ``limits``: daily limits in
    ticks; ``daily``: an A-share's limits of the day (``limits`` in prices, for its words)."""
    refusal = check_instrument(inst, o)
    if refusal is not None:
        return refusal
    q = o.quantity
    if inst.rules == ashare_rules.RULES:
        if o.order_type not in (OrderType.LIMIT, OrderType.MARKET):
            return f"invalid order type: an A-share order is a limit or a market order, not {o.order_type.value}"
        refusal = ashare_rules.check_session(now_ms)
        if refusal is None and o.order_type == OrderType.LIMIT:
            refusal = ashare_rules.check_price(o.price, daily)
        if refusal is not None:
            return refusal.message
    if o.order_type == OrderType.STOP:
        ref = float(o.trigger_price)  # a market order once triggered: valued where it triggers
    elif o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        px = o.price
        if limits is not None and not limits[0] <= inst.price_to_ticks(px) <= limits[1]:
            lo, hi = book.price(limits[0]), book.price(limits[1])
            return f"price limit: {px} outside today's range [{lo}, {hi}]"
        ref = float(px)
    else:
        best = book.best_ask_ticks() if o.side == Side.BUY else book.best_bid_ticks()
        if best is None:
            return "no liquidity: the opposite side of the book is empty"
        ref = book.price(best)
    if inst.min_notional > 0 and q * ref < inst.min_notional * (1 - 1e-9):
        return f"min notional: {q * ref:g} below {inst.min_notional:g}"
    return None


def check_instrument(inst: Instrument, o: VenueOrder) -> str | None:
    """What a venue refuses of ``o`` by the instrument's definition alone (the sim's and the paper venue's):
    side, type, a quantity that is positive, on the lot and within the size limits, a limit's price that is
    positive and on the tick. None if it passes."""
    if o.side not in (Side.BUY, Side.SELL):
        return f"invalid side: {o.side}"
    if o.order_type not in (OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT):
        return f"invalid order type: {o.order_type}"
    if o.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        tp = o.trigger_price
        if not isinstance(tp, (int, float)) or not math.isfinite(tp) or tp <= 0:
            return f"invalid trigger price: a stop order needs a positive trigger price, got {tp}"
        if not inst.is_on_tick(tp):
            return f"invalid trigger price: {tp} is not a multiple of the tick size {inst.tick_size:g}"
    q = o.quantity
    if not isinstance(q, (int, float)) or not math.isfinite(q) or q <= 0:
        return f"invalid quantity: {q}"
    if not inst.is_on_lot(q):
        return f"invalid quantity: {q} is not a multiple of the lot size {inst.lot_size:g}"
    odd_sell = inst.odd_lot_sell_whole and o.side == Side.SELL  # the holding's remainder: the broker's to check
    if (q < inst.min_qty * (1 - 1e-9) and not odd_sell) or q > inst.max_qty * (1 + 1e-9):
        return f"invalid quantity: {q} outside [{inst.min_qty:g}, {inst.max_qty:g}]"
    if o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        px = o.price
        if not isinstance(px, (int, float)) or not math.isfinite(px) or px <= 0:
            return f"invalid price: a limit order needs a positive price, got {px}"
        if not inst.is_on_tick(px):
            return f"invalid price: {px} is not a multiple of the tick size {inst.tick_size:g}"
    return None
