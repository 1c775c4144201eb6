"""Pre-trade checks, in the order they run. Each returns ``None`` (pass) or a ``Denial``.

PERMISSIONS   symbol, venue and order type allowed for the strategy
VALIDITY      quantity > 0 on the lot grid within venue min/max; limit price > 0 on the tick grid
A-SHARES      instruments with ``rules == "ashare"``: session and calendar, lots by board, T+1 and no short
              selling, daily price limits (core/ashare_rules.py); VALIDITY leaves their lots to it
SIZE          max order quantity per instrument; max order notional (manual / strategy)
PRICE         collar around a fresh mid (a missing or stale quote denies); a reduce-only limit resting away
              from the market (a take-profit: it can only close at a better price) is not collared
FLOW          duplicate order within the window; message throttle per strategy and overall
EXPOSURE      working orders per strategy and overall (in flight counts at once); position limit;
              gross exposure vs equity; self-match against our own working orders

Orders from the confirmed flatten action (actor "flatten", reduce-only) skip SIZE and FLOW: a flatten
must not be blocked by the limits that protect against opening risk; it still passes VALIDITY, A-SHARES
(a market's rules are not ours to lift) and PRICE.

The A-share rules are checked here, before the order is journaled or sent, for every venue alike (the sim,
akshare paper trading, backtests): the engine knows the exchange calendar, its own holdings and today's buys
(from fills), and the day's limits each venue publishes (``ashare_rules.DailyLimits``). A refusal is an
``OrderDenied`` with the rule's stable code (``ASHARE_*``) and a sentence for the trader. Venues still refuse
what a real market would (the sim: closed market, price limits; akshare paper: all of it), with the same
module's words, as a second line.

Cost: the checks run on every order, so everything they need is at hand: the limits in force for the
order's actor and symbol are resolved once (``ActorLimits``/``SymbolLimits``, rebuilt when a limit changes),
and working orders are read through running totals (``working.WorkingExposure``), never scanned. Only a
denial's text is built per order, and only when the order is denied.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from app.engine.core import ashare_rules
from app.engine.core.instruments import Instrument, make_id, split_id
from app.engine.core.messages import Emulation, OrderFilled, OrderType, Side, SubmitOrder, TimeInForce, TriggerSource
from app.engine.risk.rates import NS, ActorRates



class RiskView(Protocol):
    """What the checks read of the risk engine (``RiskEngine``): the books they check against, never its
    states or limits (those come with each order, in its ``OrderContext``)."""

    bus: Any
    clock: Any
    store: Any
    portfolio: Any
    execution: Any
    rates: Any

    def symbol_state(self, s: "SymbolLimits") -> Any: ...
    def throttle_tripped(self, cmd: SubmitOrder, limit: int, observed: int, which: str) -> "Denial": ...
    def reduces(self, cmd: SubmitOrder) -> bool: ...
    def working_notional(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Denial:
    reason: str  # stable code, e.g. "MAX_NOTIONAL"
    message: str  # what happened and what to do, for the ticket and the log
    limit: str = ""
    observed: str = ""


FLATTEN = "flatten"
BUY, SELL, LIMIT, MARKET = Side.BUY, Side.SELL, OrderType.LIMIT, OrderType.MARKET
STOP, STOP_LIMIT = OrderType.STOP, OrderType.STOP_LIMIT
_FLAGS = frozenset({"IOC", "FOK", "DAY", "post_only"})  # the time-in-force words of ``order_features``
TRAILING, TRAILING_LIMIT = OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT
GTC = TimeInForce.GTC
EMULATED, NATIVE = Emulation.EMULATED, Emulation.NATIVE
ASHARE = ashare_rules.RULES
_isfinite = math.isfinite


class ActorLimits:
    """The limits in force for one actor ("manual", "strategy:x", "flatten"), resolved from ``RiskSettings``."""

    __slots__ = ("actor", "name", "flatten", "perms", "max_notional", "max_msgs", "max_working", "rates")

    def __init__(self, actor: str, limits, rates: ActorRates) -> None:
        self.actor = actor
        self.name = name = actor[9:] if actor.startswith("strategy:") else None  # strategy_of, inlined
        self.flatten = actor == FLATTEN
        self.perms = limits.permissions.get(name) if name else None
        self.max_notional = (limits.max_notional_manual if name is None
                             else limits.for_strategy(name, "max_notional"))
        self.max_msgs = None if name is None else limits.for_strategy(name, "max_msgs_per_s")
        self.max_working = None if name is None else limits.for_strategy(name, "max_working_orders")
        self.rates = rates


class SymbolLimits:
    """What the checks need about one instrument: grid, currency, per-instrument limits, its market state."""

    __slots__ = ("inst", "quote", "fx", "max_order_qty", "max_position", "state")

    def __init__(self, inst: Instrument, limits, fx: float) -> None:
        self.inst = inst
        self.quote, self.fx = inst.quote, fx
        self.max_order_qty = per_instrument(limits.max_order_qty, inst)
        self.max_position = per_instrument(limits.max_position, inst)
        self.state = None  # MarketState's SymbolState, once the market has been seen


def per_instrument(table: dict[str, float], inst: Instrument) -> float | None:
    """An instrument's entry in a per-instrument limit table: by its id ("BTC/USDT@binance"), else by its bare
    symbol, which applies to that symbol on every venue (as limits set before ids were)."""
    value = table.get(inst.id)
    return table.get(inst.symbol) if value is None else value


class AShareBook:
    """The A-share facts the pre-trade check needs beyond the order: the shares bought per trading day (T+1)
    and each symbol's daily limits as its venue published them.

    Buys come from fills: a symbol's last week is read from the journal the first time it is checked (after a
    restart, or an instrument added later), then kept up to date from ``OrderFilled``; a fill is counted once
    by (venue, trade id) whichever way it arrives (it is committed before it is published)."""

    WEEK_MS = 7 * 86_400_000

    def __init__(self, risk: RiskView) -> None:
        self._risk = risk
        self.buys = ashare_rules.BuyLedger()
        self.limits: dict[str, ashare_rules.DailyLimits] = {}
        self._loaded: set[str] = set()
        self._seen: set[tuple[str, str]] = set()
        risk.bus.subscribe(OrderFilled, self.on_fill)
        risk.bus.subscribe(ashare_rules.DailyLimits, self.on_limits)

    def bought(self, symbol: str, day: dt.date) -> float:
        """Shares of instrument ``symbol`` (an id) bought on ``day``."""
        if symbol not in self._loaded:
            self._loaded.add(symbol)
            since = self._risk.clock.now_ms() - self.WEEK_MS
            native, venue = split_id(symbol)  # the journal keeps the venue's symbol beside the venue
            rows = self._risk.store.conn.execute(
                "SELECT venue, trade_id, quantity, ts FROM fills WHERE symbol = ? AND venue = ? AND side = 'BUY' "
                "AND ts >= ?", (native, venue or "", since))
            for venue, trade_id, qty, ts in rows:
                self._add(symbol, venue, trade_id, qty, ts)
        return self.buys.bought(symbol, day)

    def on_fill(self, fill: OrderFilled) -> None:
        if fill.side is BUY and fill.symbol in self._loaded:
            self._add(fill.symbol, fill.venue, fill.trade_id, fill.quantity, fill.ts)

    def _add(self, symbol: str, venue: str, trade_id: str, qty: float, ts: int) -> None:
        key = (venue, trade_id)
        if key not in self._seen:
            self._seen.add(key)
            self.buys.add(symbol, "BUY", qty, ts)

    def on_limits(self, msg: ashare_rules.DailyLimits) -> None:
        self.limits[make_id(msg.symbol, msg.venue)] = msg  # it names the venue's symbol and the venue


class OrderContext:
    """What every check reads about the order being checked, handed to each rule: its actor's and symbol's
    resolved limits, the limits in force, its value price (the limit price, or the best opposite price for a
    market order) and the clocks (wall for calendar rules, monotonic for rate windows)."""

    __slots__ = ("a", "s", "limits", "value_price", "now_ms", "mono_ns", "emulated")

    def __init__(self, a: ActorLimits, s: SymbolLimits, limits: Any, value_price: float | None, now_ms: int,
                 mono_ns: int) -> None:
        self.a, self.s, self.limits, self.value_price = a, s, limits, value_price
        self.now_ms, self.mono_ns = now_ms, mono_ns
        self.emulated = False  # set by ``shape``: a trigger the engine keeps (orders/emulator.py)


def _price_check(p: object, inst: Instrument, needs: str, name: str) -> Denial | None:
    """A limit or trigger price: a positive finite number (INVALID_PRICE, "``needs``, got ...") on the tick grid
    (PRICE_NOT_ON_TICK, "``name`` ... is not on the tick grid")."""
    if p is None or (type(p) is not float and (isinstance(p, bool) or not isinstance(p, (int, float)))) \
            or not _isfinite(p) or p <= 0:
        return Denial("INVALID_PRICE", f"{needs}, got {p!r}.", limit="> 0", observed=repr(p))
    if not inst.is_on_tick(p):
        return Denial("PRICE_NOT_ON_TICK", f"{name} {p} is not on the tick grid ({inst.tick_size}).",
                      limit=f"tick {inst.tick_size}", observed=str(p))
    return None


#: a venue whose ``order_features`` has "TRAILING_STOP_BIPS" (Binance spot's ``trailingDelta``) keeps a trailing stop
#: by a percent in whole basis points, 0.1 % to 20 %, from the last price when it is placed, with no activation price
NATIVE_TRAIL_BIPS = (10, 2000)


def keeps_natively(order_type: OrderType, source: TriggerSource, features: frozenset[str],
                   trail_amount: float | None = None, trail_pct: float | None = None,
                   activation: float | None = None) -> bool:
    """Whether a venue with ``features`` (its adapter's ``order_features``) keeps this stop itself: it has the type
    and the stop watches trades (no adapter keeps bid/ask triggers yet); at a venue that keeps trailing stops by
    basis points only ("TRAILING_STOP_BIPS"), one by such a percent (``NATIVE_TRAIL_BIPS``) without an activation
    price. Else Kestrel emulates it
    (the ticket says which before it is sent, from this same answer)."""
    if source is not TriggerSource.LAST:
        return False
    if order_type.value in features:
        return True
    if order_type is OrderType.TRAILING_STOP and "TRAILING_STOP_BIPS" in features:
        if trail_amount is not None or activation is not None or trail_pct is None:
            return False
        bips = trail_pct * 100.0
        return abs(bips - round(bips)) < 1e-6 and NATIVE_TRAIL_BIPS[0] <= round(bips) <= NATIVE_TRAIL_BIPS[1]
    return False


class PreTradeChecks:
    def __init__(self, risk: RiskView) -> None:
        self.r = risk
        self.rules = [self.shape, self.permissions, self.quantity, self.price, self.ashare, self.max_qty, self.notional,
                      self.collar, self.duplicate, self.throttle, self.working_orders, self.position_limit,
                      self.gross_exposure, self.self_match]
        # an armed trigger that fired (``RiskEngine.check_fire``): the order it becomes, checked again in full
        # but for the rules its arming already passed (shape, duplicates, the message throttle, order counts:
        # the arm was the message and counted) and the quote's age (the print that fired it is the market)
        self.fire_rules = [self.permissions, self.quantity, self.price, self.ashare, self.max_qty, self.notional,
                           self.position_limit, self.gross_exposure, self.fire_self_match]
        self.ashare_book = AShareBook(risk)
        # When an order reaches the market, for the A-share session rules: now, live; a backtest sets it to the
        # open of the bar the order will fill in (an order sent after the close meets the next session).
        self.market_time_ms: Callable[[], int] | None = None
        # what each venue takes beyond GTC market and limit orders ("IOC", "FOK", "post_only"; VenueManager)
        self.venue_features: Callable[[str], frozenset[str]] | None = None
        self.can_emulate = False  # an OrderEmulator keeps stops the venue does not (the kernel wires one)

    def run(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        """Every rule in order; the first denial wins."""
        for rule in self.rules:
            denial = rule(cmd, inst, ctx)
            if denial is not None:
                return denial
        return None

    def run_fire(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        """The rules for the order a fired trigger becomes (``fire_rules``); it counts in the rate windows."""
        for rule in self.fire_rules:
            denial = rule(cmd, inst, ctx)
            if denial is not None:
                return denial
        ctx.a.rates.msgs.push(ctx.mono_ns)
        self.r.rates.total.msgs.push(ctx.mono_ns)
        return None

    # ------------------------------------------------------------------------------------------- shape
    def shape(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        """What the engine can place today. The messages and the journal carry stops, trailing stops, time in
        force and post-only (issue 20, schema 3); until the engine places them, they are refused here, whole,
        rather than sent as the plain order they would otherwise look like. What each venue takes beyond GTC
        market and limit orders is its adapter's ``order_features``."""
        otype = cmd.order_type
        if (otype is MARKET or otype is LIMIT) and cmd.tif is GTC and not cmd.post_only:
            return None  # the plain order: every venue takes it (the path of almost every order)
        has = self.venue_features(cmd.venue) if self.venue_features is not None else frozenset()
        if otype.is_triggered:
            denial = self._stop_shape(cmd, inst, ctx, has)
            if denial is not None:
                return denial
            if cmd.tif is not GTC or cmd.post_only:
                return Denial("ORDER_SHAPE", f"A stop waits for its trigger: it is good till canceled, not "
                              f"{'post-only' if cmd.post_only else cmd.tif.value}.", limit="GTC",
                              observed="post-only" if cmd.post_only else cmd.tif.value)
            return None
        if cmd.tif is GTC and not cmd.post_only:
            return None
        if cmd.post_only and cmd.order_type is not LIMIT:
            return Denial("ORDER_SHAPE", "A post-only order must be a limit order: a market order always takes "
                          "liquidity.", limit="LIMIT", observed=cmd.order_type.value)
        if cmd.post_only and cmd.tif is not GTC:
            return Denial("ORDER_SHAPE", f"A post-only order rests in the book: it cannot also be "
                          f"{cmd.tif.value}.", limit="GTC", observed=cmd.tif.value)
        want = "post_only" if cmd.post_only else cmd.tif.value
        if want not in has:
            what = "post-only" if cmd.post_only else f"time in force {cmd.tif.value}"
            offered = ", ".join(sorted(x.replace("_", "-") for x in has if x in _FLAGS)) or "none"
            return Denial("ORDER_SHAPE", f"Venue {cmd.venue} does not take {what} orders here (it takes: GTC, "
                          f"{offered})." if has else f"Kestrel cannot place {what} orders on {cmd.venue} yet: "
                          f"only good till canceled.", limit="GTC" + (f", {offered}" if has else ""),
                          observed=what)
        return None

    def _stop_shape(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext, has: frozenset) -> Denial | None:
        """A stop: kept by the venue where it has the type (native), else by the engine (emulated; also when
        the sender asks for it, and always for bid/ask triggers, which no venue adapter keeps yet). Its
        trigger on the tick and on the far side of the market (else it would trigger at once:
        STOP_MARKETABLE); a trailing stop's distance positive (INVALID_TRAIL); not on an A-share (China's
        exchanges take limit and market orders only)."""
        otype = cmd.order_type
        name = otype.value
        if inst.rules == ASHARE:
            return Denial("ORDER_SHAPE", f"An A-share order is a limit or a market order, not {name}.",
                          limit="LIMIT, MARKET", observed=name)
        source = cmd.trigger_source
        native = keeps_natively(otype, source, has, cmd.trail_amount, cmd.trail_pct, cmd.trigger_price)
        if cmd.emulation is NATIVE and not native:
            return Denial("ORDER_SHAPE", f"Venue {cmd.venue} does not keep {name} orders triggered on "
                          f"{source.value.lower().replace('_', '/')} prices; Kestrel can emulate it (Exec: "
                          f"emulated).", limit="native stops", observed=name)
        if source is TriggerSource.MARK:
            return Denial("ORDER_SHAPE", "A stop on the mark price is kept only by a venue that has one; "
                          "trigger it on the last trade or on bid/ask.", limit="LAST, BID_ASK", observed="MARK")
        ctx.emulated = cmd.emulation is EMULATED or not native
        if ctx.emulated and not self.can_emulate:
            return Denial("ORDER_SHAPE", f"Venue {cmd.venue} does not keep {name} orders"
                          f"{'' if source is TriggerSource.LAST else ' on bid/ask'}, and nothing here emulates them.",
                          limit="native stops", observed=name)
        trailing = otype.is_trailing
        tp = cmd.trigger_price
        if trailing:
            denial = self._trail_shape(cmd)
            if denial is not None or tp is None:  # a trailer's trigger is its optional activation price
                return denial
        denial = _price_check(tp, inst, "A stop order needs a positive trigger price", "Trigger price")
        if denial is not None:
            return denial
        up = cmd.side is BUY
        last, what = self._touch(ctx, source, up)
        if not last:
            return Denial("NO_MARKET_DATA", f"No {what} of {cmd.symbol} yet: a stop is placed against the {what}; "
                          f"wait for one.", observed="none")
        if trailing:  # an activation price: the trailer starts trailing when the market reaches it
            return None
        if ((tp <= last) if up else (tp >= last)) and not cmd.allow_marketable:
            where = "at or below" if up else "at or above"
            return Denial("STOP_MARKETABLE", f"A {cmd.side.value.lower()} stop at {tp:,.{inst.price_decimals}f} is "
                          f"{where} the {what} {last:,.{inst.price_decimals}f}: it would trigger at once. Send a "
                          f"{'market' if otype is STOP else 'limit'} order instead.",
                          limit=f"{'>' if up else '<'} {last}", observed=str(tp))
        return None

    def _touch(self, ctx: OrderContext, source: TriggerSource, up: bool) -> tuple[float | None, str]:
        """The price a stop is placed against: the last trade, or the ask (a buy stop) / bid (a sell stop)."""
        st = self.r.symbol_state(ctx.s)
        if st is None:
            return None, "trade" if source is not TriggerSource.BID_ASK else ("ask" if up else "bid")
        if source is TriggerSource.BID_ASK:
            book = st.book
            return (None if book is None else book.best_ask if up else book.best_bid), "ask" if up else "bid"
        # the last trade; a backtest's bars publish no trade, its book is at the bar's price
        return st.last or (st.book.mid if st.book is not None else None), "last trade"

    @staticmethod
    def _trail_shape(cmd: SubmitOrder) -> Denial | None:
        """Exactly one distance, in price or in percent, finite and positive (a percent under 100); a trailing
        stop-limit's offset finite and not negative."""
        amount, pct = cmd.trail_amount, cmd.trail_pct
        if (amount is None) == (pct is None):
            return Denial("INVALID_TRAIL", "A trailing stop needs one distance: in price or in percent, not "
                          f"{'both' if amount is not None else 'neither'}.", limit="one of amount, %",
                          observed=f"amount {amount!r}, % {pct!r}")
        d = amount if pct is None else pct
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not _isfinite(d) or d <= 0 \
                or (pct is not None and d >= 100):
            return Denial("INVALID_TRAIL", f"A trailing distance must be above 0{' and below 100 %' if pct else ''}"
                          f", got {d!r}{' %' if pct is not None else ''}.", limit="> 0", observed=repr(d))
        if cmd.order_type is TRAILING_LIMIT:
            off = cmd.limit_offset
            if off is None or isinstance(off, bool) or not isinstance(off, (int, float)) or not _isfinite(off) \
                    or off < 0:
                return Denial("INVALID_TRAIL", f"A trailing stop-limit needs its limit offset from the trigger "
                              f"(0 or more), got {off!r}.", limit=">= 0", observed=repr(off))
        return None

    # ------------------------------------------------------------------------------------- permissions
    def permissions(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        perms = ctx.a.perms
        if perms is None:
            return None
        name = ctx.a.name
        for what, value, allowed in (("symbol", cmd.symbol, perms.symbols), ("venue", cmd.venue, perms.venues),
                                     ("order type", cmd.order_type.value, perms.order_types)):
            if "*" not in allowed and value not in allowed and not (what == "symbol" and inst.symbol in allowed):
                return Denial("NOT_PERMITTED", f"Strategy {name} may not trade {what} {value}.",
                              limit=",".join(allowed), observed=value)
        return None

    # ---------------------------------------------------------------------------------------- validity
    def quantity(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        q = cmd.quantity
        if (type(q) is not float and (isinstance(q, bool) or not isinstance(q, (int, float)))) \
                or not _isfinite(q) or q <= 0:
            return Denial("INVALID_QUANTITY", f"Quantity must be a positive number, got {q!r}.",
                          limit="> 0", observed=repr(q))
        whole = inst.rules == ASHARE or (  # A-share lots: the ashare check, with its odd-lot rule
            inst.odd_lot_sell_whole and cmd.side is Side.SELL and self._sells_whole_holding(cmd, q))
        if not whole and not inst.is_on_lot(q):
            return Denial("QTY_NOT_ON_LOT", f"Quantity {q} is not a multiple of the lot size {inst.lot_size}.",
                          limit=f"lot {inst.lot_size}", observed=str(q))
        if q < inst.min_qty - 1e-12 and not whole:
            return Denial("QTY_BELOW_MIN", f"Quantity {q} is below the minimum {inst.min_qty}.",
                          limit=str(inst.min_qty), observed=str(q))
        if q > inst.max_qty + 1e-12 and not ctx.a.flatten:
            return Denial("QTY_ABOVE_VENUE_MAX", f"Quantity {q} is above the venue's maximum {inst.max_qty}.",
                          limit=str(inst.max_qty), observed=str(q))
        return None

    def _sells_whole_holding(self, cmd: SubmitOrder, q: float) -> bool:
        """An A-share odd lot may be sold only as the whole holding: ``q`` is the whole position."""
        pos = self.r.portfolio.positions.get(cmd.symbol)
        held = pos.quantity if pos is not None else 0.0
        return held > 0 and abs(q - held) <= 1e-9 * max(1.0, held)

    def price(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        otype = cmd.order_type
        if otype is MARKET or otype is STOP or otype is TRAILING or otype is TRAILING_LIMIT:
            return None  # a trailing stop-limit's limit follows its trigger
        return _price_check(cmd.price, inst, "A limit order needs a positive price", "Price")

    # --------------------------------------------------------------------------------------------- A-shares
    def ashare(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        if inst.rules != ASHARE:
            return None
        book, symbol = self.ashare_book, cmd.symbol
        ts = ctx.now_ms if self.market_time_ms is None else self.market_time_ms()
        day = ashare_rules.day_of(ts)
        pos = self.r.portfolio.positions.get(symbol)
        held = max(pos.quantity, 0.0) if pos is not None else 0.0
        reserved = self.r.execution.exposure.side_leaves.get((symbol, SELL), 0.0) if cmd.side is SELL else 0.0
        holding = ashare_rules.Holding(held, min(held, book.bought(symbol, day)), reserved)
        limits = book.limits.get(symbol)
        if limits is not None and limits.day != day.isoformat():
            limits = None  # another day's: the venue has not published today's yet (the venue still checks)
        refusal = ashare_rules.check_order(inst.symbol, cmd.side.value, cmd.quantity,
                                           cmd.price if cmd.order_type is LIMIT else None, ts, holding, limits)
        if refusal is None:
            return None
        return Denial(refusal.code, refusal.message, refusal.limit, refusal.observed)

    # -------------------------------------------------------------------------------------------- size
    def max_qty(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        limit = ctx.s.max_order_qty
        if limit is not None and cmd.quantity > limit + 1e-12 and not ctx.a.flatten:
            return Denial("MAX_ORDER_QTY", f"Quantity {cmd.quantity} exceeds the per-order limit {limit}.",
                          limit=str(limit), observed=str(cmd.quantity))
        return None

    def notional(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        price = ctx.value_price
        if price is None:
            return Denial("NO_MARKET_DATA", f"No quote for {cmd.symbol} to value a market order; wait for data.")
        notional = cmd.quantity * price
        a = ctx.a
        if not a.flatten:
            limit = a.max_notional
            value = notional * ctx.s.fx  # limits are in the account's base currency
            if value > limit + 1e-9:
                base = self.r.portfolio.base_currency
                return Denial("MAX_NOTIONAL", f"Order value {notional:,.2f} {inst.quote} ({value:,.2f} "
                              f"{base}) exceeds the limit {limit:,.2f} {base}.",
                              limit=f"{limit:.2f}", observed=f"{value:.2f}")
        if inst.min_notional and notional < inst.min_notional:
            return Denial("MIN_NOTIONAL", f"Order value {notional:,.2f} is below the venue minimum "
                          f"{inst.min_notional}.", limit=str(inst.min_notional), observed=f"{notional:.2f}")
        return None

    # ------------------------------------------------------------------------------------------- price
    def collar(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        if ctx.emulated:  # an engine trigger rests nowhere: its order is checked again, whole, when it fires
            return self._limit_to_trigger(cmd, ctx) if cmd.order_type is STOP_LIMIT else None
        st = self.r.symbol_state(ctx.s)
        book = st.book if st else None
        mid = book.mid if book else None
        if mid is None:
            return Denial("NO_QUOTE", f"No two-sided quote for {cmd.symbol}; orders wait for market data.",
                          observed="none")
        limits = ctx.limits
        age_s = (ctx.now_ms - st.book_ts) / 1000.0
        if age_s > limits.quote_max_age_s:
            return Denial("STALE_QUOTE", f"The last quote for {cmd.symbol} is {age_s:.1f} s old.",
                          limit=f"{limits.quote_max_age_s} s", observed=f"{age_s:.1f} s")
        if cmd.order_type is LIMIT:
            dev = abs(cmd.price / mid - 1.0) * 100.0
            if cmd.reduce_only and ((cmd.price > mid) if cmd.side is SELL else (cmd.price < mid)):
                return None  # a take-profit resting away from the market: it can only close at a better price
            if dev > limits.price_collar_pct:
                return Denial("PRICE_COLLAR", f"Price {cmd.price} is {dev:.2f}% away from the mid "
                              f"{mid:.{inst.price_decimals}f} (limit ±{limits.price_collar_pct}%).",
                              limit=f"{limits.price_collar_pct}%", observed=f"{dev:.2f}%")
        elif cmd.order_type is STOP_LIMIT:
            return self._limit_to_trigger(cmd, ctx)
        return None

    @staticmethod
    def _limit_to_trigger(cmd: SubmitOrder, ctx: OrderContext) -> Denial | None:
        """A stop rests away from the market: a stop-limit's limit is collared to its trigger."""
        limits = ctx.limits
        dev = abs(cmd.price / cmd.trigger_price - 1.0) * 100.0
        if dev > limits.price_collar_pct:
            return Denial("PRICE_COLLAR", f"Limit {cmd.price} is {dev:.2f}% away from its trigger "
                          f"{cmd.trigger_price} (limit ±{limits.price_collar_pct}%).",
                          limit=f"{limits.price_collar_pct}%", observed=f"{dev:.2f}%")
        return None

    # -------------------------------------------------------------------------------------------- flow
    def duplicate(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        window = ctx.limits.duplicate_window_s
        if ctx.a.flatten or window <= 0:
            return None
        # (side, type) as booleans: an Enum member hashes in Python code, a bool in C
        key = (cmd.actor, cmd.symbol, cmd.side is BUY, cmd.order_type is LIMIT, cmd.quantity, cmd.price)
        if cmd.order_type.is_triggered:  # a stop is the same order only with the same trigger and keeper (a
            # venue's refused native stop placed again as Kestrel's is not a double click)
            key += (cmd.order_type, cmd.trigger_price, cmd.trail_amount, cmd.trail_pct, cmd.emulation)
        if self.r.rates.seen_within(key, ctx.mono_ns, int(window * NS)):
            return Denial("DUPLICATE_ORDER", f"An identical order was sent less than {window:g} s ago.",
                          limit=f"{window:g} s")
        return None

    def throttle(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        a = ctx.a
        if a.flatten:
            return None
        now = ctx.mono_ns
        mine, total = a.rates.msgs, self.r.rates.total.msgs
        if a.name is not None and mine.count(now) >= a.max_msgs:
            return self.r.throttle_tripped(cmd, a.max_msgs, mine.count(now), "strategy")
        n = total.count(now)
        cap = ctx.limits.max_msgs_per_s_total
        if n >= cap:
            return self.r.throttle_tripped(cmd, cap, n, "total")
        mine.push(now)
        total.push(now)
        return None

    # ---------------------------------------------------------------------------------------- exposure
    def working_orders(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        if ctx.emulated:
            return self._armed_limit(cmd, ctx)
        n_all = len(self.r.execution.working)
        cap_all = ctx.limits.max_working_orders_total
        a = ctx.a
        if n_all >= cap_all and not a.flatten:
            return Denial("MAX_WORKING_ORDERS", f"{n_all} orders are working; the limit is {cap_all}.",
                          limit=str(cap_all), observed=str(n_all))
        if a.name is not None:
            n = self.r.execution.exposure.by_actor.get(cmd.actor, 0)
            cap = a.max_working
            if n >= cap:
                return Denial("MAX_WORKING_ORDERS_STRATEGY", f"{n} orders of {cmd.actor} are working; the limit "
                              f"is {cap}.", limit=str(cap), observed=str(n))
        return None

    def _armed_limit(self, cmd: SubmitOrder, ctx: OrderContext) -> Denial | None:
        """Triggers the engine keeps are not venue orders: they count toward their own limits (arming is rare, so
        counting one actor's is a scan)."""
        armed = self.r.execution.armed
        cap = ctx.limits.max_armed_triggers_total
        if len(armed) >= cap and not ctx.a.flatten:
            return Denial("MAX_ARMED_TRIGGERS", f"{len(armed)} stops are armed in Kestrel; the limit is {cap}.",
                          limit=str(cap), observed=str(len(armed)))
        if ctx.a.name is not None:
            cap = ctx.limits.max_armed_triggers_strategy
            n = sum(1 for o in armed.values() if o.actor == cmd.actor)
            if n >= cap:
                return Denial("MAX_ARMED_TRIGGERS_STRATEGY", f"{n} stops of {cmd.actor} are armed in Kestrel; the "
                              f"limit is {cap}.", limit=str(cap), observed=str(n))
        return None

    def position_limit(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        limit = ctx.s.max_position
        if limit is None:
            return None
        held = self.r.portfolio.positions.get(cmd.symbol)
        pos = held.quantity if held else 0.0
        same_side = self.r.execution.exposure.side_leaves.get((cmd.symbol, cmd.side), 0.0)
        projected = abs(pos + (same_side + cmd.quantity if cmd.side is BUY else -same_side - cmd.quantity))
        if projected > limit + 1e-9 and projected > abs(pos) + 1e-12:
            return Denial("POSITION_LIMIT", f"Position would reach {projected:g} {inst.base} (working orders "
                          f"included); the limit is {limit:g}.", limit=str(limit), observed=f"{projected:g}")
        return None

    def gross_exposure(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        r = self.r
        if r.reduces(cmd):
            return None
        pf = r.portfolio
        price = ctx.value_price or 0.0
        gross = pf.gross_exposure() + r.working_notional() + cmd.quantity * price * ctx.s.fx
        x = ctx.limits.max_gross_exposure_x_equity
        cap = x * pf.equity()
        if gross > cap + 1e-9:
            return Denial("GROSS_EXPOSURE", f"Gross exposure would be {gross:,.0f} {pf.base_currency}, above "
                          f"{x:g}x equity ({cap:,.0f}).", limit=f"{cap:.0f}", observed=f"{gross:.0f}")
        return None

    def fire_self_match(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        """A fired stop that shrinks the position is sent even against our own resting order on the other side
        (a dip-buy must not block a stop-loss; the venue's self-trade prevention is the second line, and the
        order's reason says so); any other fired order is checked as a new order."""
        if self.r.reduces(cmd):
            return None
        return self.self_match(cmd, inst, ctx)

    def self_match(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        if cmd.order_type.is_triggered:
            return None  # off the book until it triggers; the venue's own self-trade prevention then
        market = cmd.order_type is MARKET
        if not self.r.execution.exposure.crosses(cmd.symbol, cmd.side, None if market else cmd.price):
            return None
        for o in self.r.execution.working.values():  # denied: name the first crossing order, as always
            if o.symbol != cmd.symbol or o.side is cmd.side or o.price is None:
                continue
            if market:
                crosses = True
            elif cmd.side is BUY:
                crosses = cmd.price >= o.price
            else:
                crosses = cmd.price <= o.price
            if crosses:
                return Denial("SELF_MATCH", f"The order would trade against our own working order "
                              f"{o.client_order_id} at {o.price}.", observed=o.client_order_id)
        return None
