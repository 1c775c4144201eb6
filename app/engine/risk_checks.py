"""Pre-trade checks, in the order they run. Each returns ``None`` (pass) or a ``Denial``.

PERMISSIONS   symbol, venue and order type allowed for the strategy
VALIDITY      quantity > 0 on the lot grid within venue min/max; limit price > 0 on the tick grid
SIZE          max order quantity per instrument; max order notional (manual / strategy)
PRICE         collar around a fresh mid (a missing or stale quote denies)
FLOW          duplicate order within the window; message throttle per strategy and overall
EXPOSURE      working orders per strategy and overall (in flight counts at once); position limit;
              gross exposure vs equity; self-match against our own working orders

Orders from the confirmed flatten action (actor "flatten", reduce-only) skip SIZE and FLOW: a flatten
must not be blocked by the limits that protect against opening risk; it still passes VALIDITY and PRICE.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.engine.instruments import Instrument
from app.engine.messages import OrderType, Side, SubmitOrder
from app.engine.risk_monitor import NS, strategy_of

if TYPE_CHECKING:
    from app.engine.risk import RiskEngine


@dataclass(frozen=True, slots=True)
class Denial:
    reason: str  # stable code, e.g. "MAX_NOTIONAL"
    message: str  # what happened and what to do, for the ticket and the log
    limit: str = ""
    observed: str = ""


FLATTEN = "flatten"


class PreTradeChecks:
    def __init__(self, risk: "RiskEngine") -> None:
        self.r = risk
        self.rules = [self.permissions, self.quantity, self.price, self.max_qty, self.notional, self.collar,
                      self.duplicate, self.throttle, self.working_orders, self.position_limit, self.gross_exposure,
                      self.self_match]

    def run(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        for rule in self.rules:
            denial = rule(cmd, inst)
            if denial is not None:
                return denial
        return None

    # ------------------------------------------------------------------------------------- permissions
    def permissions(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        name = strategy_of(cmd.actor)
        perms = self.r.limits.permissions.get(name) if name else None
        if perms is None:
            return None
        for what, value, allowed in (("symbol", cmd.symbol, perms.symbols), ("venue", cmd.venue, perms.venues),
                                     ("order type", cmd.order_type.value, perms.order_types)):
            if "*" not in allowed and value not in allowed:
                return Denial("NOT_PERMITTED", f"Strategy {name} may not trade {what} {value}.",
                              limit=",".join(allowed), observed=value)
        return None

    # ---------------------------------------------------------------------------------------- validity
    def quantity(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        q = cmd.quantity
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q) or q <= 0:
            return Denial("INVALID_QUANTITY", f"Quantity must be a positive number, got {q!r}.",
                          limit="> 0", observed=repr(q))
        if not inst.is_on_lot(q):
            return Denial("QTY_NOT_ON_LOT", f"Quantity {q} is not a multiple of the lot size {inst.lot_size}.",
                          limit=f"lot {inst.lot_size}", observed=str(q))
        if q < inst.min_qty - 1e-12:
            return Denial("QTY_BELOW_MIN", f"Quantity {q} is below the minimum {inst.min_qty}.",
                          limit=str(inst.min_qty), observed=str(q))
        if q > inst.max_qty + 1e-12 and cmd.actor != FLATTEN:
            return Denial("QTY_ABOVE_VENUE_MAX", f"Quantity {q} is above the venue's maximum {inst.max_qty}.",
                          limit=str(inst.max_qty), observed=str(q))
        return None

    def price(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        if cmd.order_type is OrderType.MARKET:
            return None
        p = cmd.price
        if p is None or isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
            return Denial("INVALID_PRICE", f"A limit order needs a positive price, got {p!r}.",
                          limit="> 0", observed=repr(p))
        if not inst.is_on_tick(p):
            return Denial("PRICE_NOT_ON_TICK", f"Price {p} is not on the tick grid ({inst.tick_size}).",
                          limit=f"tick {inst.tick_size}", observed=str(p))
        return None

    # -------------------------------------------------------------------------------------------- size
    def max_qty(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        limit = self.r.limits.max_order_qty.get(cmd.symbol)
        if limit is not None and cmd.quantity > limit + 1e-12 and cmd.actor != FLATTEN:
            return Denial("MAX_ORDER_QTY", f"Quantity {cmd.quantity} exceeds the per-order limit {limit}.",
                          limit=str(limit), observed=str(cmd.quantity))
        return None

    def notional(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        price = self.r.valuation_price(cmd)
        if price is None:
            return Denial("NO_MARKET_DATA", f"No quote for {cmd.symbol} to value a market order; wait for data.")
        notional = cmd.quantity * price
        if cmd.actor != FLATTEN:
            limits, pf = self.r.limits, self.r.portfolio
            name = strategy_of(cmd.actor)
            limit = limits.max_notional_manual if name is None else limits.for_strategy(name, "max_notional")
            value = notional * pf.fx(inst.quote)  # limits are in the account's base currency
            if value > limit + 1e-9:
                return Denial("MAX_NOTIONAL", f"Order value {notional:,.2f} {inst.quote} ({value:,.2f} "
                              f"{pf.base_currency}) exceeds the limit {limit:,.2f} {pf.base_currency}.",
                              limit=f"{limit:.2f}", observed=f"{value:.2f}")
        if inst.min_notional and notional < inst.min_notional:
            return Denial("MIN_NOTIONAL", f"Order value {notional:,.2f} is below the venue minimum "
                          f"{inst.min_notional}.", limit=str(inst.min_notional), observed=f"{notional:.2f}")
        return None

    # ------------------------------------------------------------------------------------------- price
    def collar(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        st = self.r.market.symbols.get(cmd.symbol)
        book = st.book if st else None
        mid = book.mid if book else None
        if mid is None:
            return Denial("NO_QUOTE", f"No two-sided quote for {cmd.symbol}; orders wait for market data.",
                          observed="none")
        age_s = (self.r.clock.now_ms() - st.book_ts) / 1000.0
        if age_s > self.r.limits.quote_max_age_s:
            return Denial("STALE_QUOTE", f"The last quote for {cmd.symbol} is {age_s:.1f} s old.",
                          limit=f"{self.r.limits.quote_max_age_s} s", observed=f"{age_s:.1f} s")
        if cmd.order_type is OrderType.LIMIT:
            dev = abs(cmd.price / mid - 1.0) * 100.0
            if dev > self.r.limits.price_collar_pct:
                return Denial("PRICE_COLLAR", f"Price {cmd.price} is {dev:.2f}% away from the mid "
                              f"{mid:.{inst.price_decimals}f} (limit ±{self.r.limits.price_collar_pct}%).",
                              limit=f"{self.r.limits.price_collar_pct}%", observed=f"{dev:.2f}%")
        return None

    # -------------------------------------------------------------------------------------------- flow
    def duplicate(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        window = self.r.limits.duplicate_window_s
        if cmd.actor == FLATTEN or window <= 0:
            return None
        key = (cmd.actor, cmd.symbol, cmd.side, cmd.order_type, cmd.quantity, cmd.price)
        if self.r.rates.seen_within(key, self.r.clock.monotonic_ns(), int(window * NS)):
            return Denial("DUPLICATE_ORDER", f"An identical order was sent less than {window:g} s ago.",
                          limit=f"{window:g} s")
        return None

    def throttle(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        if cmd.actor == FLATTEN:
            return None
        now = self.r.clock.monotonic_ns()
        limits, rates = self.r.limits, self.r.rates
        name = strategy_of(cmd.actor)
        mine = rates.of(cmd.actor)
        if name is not None and mine.msgs.count(now) >= (cap := limits.for_strategy(name, "max_msgs_per_s")):
            return self.r.throttle_tripped(cmd, cap, mine.msgs.count(now), "strategy")
        total = rates.total.msgs.count(now)
        if total >= limits.max_msgs_per_s_total:
            return self.r.throttle_tripped(cmd, limits.max_msgs_per_s_total, total, "total")
        mine.msgs.add(now)
        rates.total.msgs.add(now)
        return None

    # ---------------------------------------------------------------------------------------- exposure
    def working_orders(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        working = self.r.execution.working
        limits = self.r.limits
        if len(working) >= limits.max_working_orders_total and cmd.actor != FLATTEN:
            return Denial("MAX_WORKING_ORDERS", f"{len(working)} orders are working; the limit is "
                          f"{limits.max_working_orders_total}.", limit=str(limits.max_working_orders_total),
                          observed=str(len(working)))
        name = strategy_of(cmd.actor)
        if name is not None:
            n = sum(1 for o in working.values() if o.actor == cmd.actor)
            cap = limits.for_strategy(name, "max_working_orders")
            if n >= cap:
                return Denial("MAX_WORKING_ORDERS_STRATEGY", f"{n} orders of {cmd.actor} are working; the limit "
                              f"is {cap}.", limit=str(cap), observed=str(n))
        return None

    def position_limit(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        limit = self.r.limits.max_position.get(cmd.symbol)
        if limit is None:
            return None
        pos = self.r.portfolio.position(cmd.symbol).quantity
        same_side = sum(o.leaves_qty for o in self.r.execution.working.values()
                        if o.symbol == cmd.symbol and o.side is cmd.side)
        projected = abs(pos + cmd.side.sign * (same_side + cmd.quantity))
        if projected > limit + 1e-9 and projected > abs(pos) + 1e-12:
            return Denial("POSITION_LIMIT", f"Position would reach {projected:g} {inst.base} (working orders "
                          f"included); the limit is {limit:g}.", limit=str(limit), observed=f"{projected:g}")
        return None

    def gross_exposure(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        if self.r.reduces(cmd):
            return None
        pf = self.r.portfolio
        fx = pf.fx(inst.quote)
        working = sum(o.leaves_qty * (o.price or self.r.mid(o.symbol) or 0.0) * pf.fx(self.r.quote_of(o.symbol))
                      for o in self.r.execution.working.values())
        price = self.r.valuation_price(cmd) or 0.0
        gross = pf.gross_exposure() + working + cmd.quantity * price * fx
        cap = self.r.limits.max_gross_exposure_x_equity * pf.equity()
        if gross > cap + 1e-9:
            return Denial("GROSS_EXPOSURE", f"Gross exposure would be {gross:,.0f} {pf.base_currency}, above "
                          f"{self.r.limits.max_gross_exposure_x_equity:g}x equity ({cap:,.0f}).",
                          limit=f"{cap:.0f}", observed=f"{gross:.0f}")
        return None

    def self_match(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        for o in self.r.execution.working.values():
            if o.symbol != cmd.symbol or o.side is cmd.side or o.price is None:
                continue
            if cmd.order_type is OrderType.MARKET:
                crosses = True
            elif cmd.side is Side.BUY:
                crosses = cmd.price >= o.price
            else:
                crosses = cmd.price <= o.price
            if crosses:
                return Denial("SELF_MATCH", f"The order would trade against our own working order "
                              f"{o.client_order_id} at {o.price}.", observed=o.client_order_id)
        return None
