"""RiskEngine: the gate every order passes, and the owner of trading states and the kill switch.

COMMANDS     SubmitOrder, CancelOrder, CancelAllOrders arrive from the bus (ticket, ladder, strategies); the
             operator's Halt, HaltStrategy, Reset, Flatten and ModifyOrder are handled in commands.py.
PRE-TRADE    trading states (global, strategy, venue), then ``PreTradeChecks`` (checks.py). A check
             that raises denies the order.
DENIALS      ``OrderDenied`` with a stable reason code, the limit, the observed value and the actor; the
             order is journaled as DENIED. Never an exception to the caller.
EGRESS       an approved order goes to ``ExecutionEngine.execute``; nothing else reaches a venue.
KILL         ``halt`` (K1) and ``halt_strategy`` (K2) persist HALTED first, then refuse, cancel (retried until
             terminal, alarm after ``cancel_alarm_s``) and stop strategies. ``flatten`` is separate and
             confirmed. The latch and the kill's cancels are kept in kill.py. Automatic trips (K3 loss, K4
             behaviour, K5 infrastructure) are in trips.py; the risk panel's read model in utilization.py.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from app.config import RiskSettings
from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock
from app.engine.core.instruments import Instrument, make_id, split_id
from app.engine.core.messages import (
    Alert, CancelAllOrders, CancelOrder, OrderDenied, OrderFilled, OrderRejected, OrderStatus, OrderType,
    OrderUpdated, RiskLimitsChanged, Side, SubmitOrder, TradingState, TradingStateChanged, VenueStatus,
)
from app.engine.core.store import RiskStateRecord, Store
from app.engine.core.triggers import trail_trigger
from app.engine.data.market import MarketState
from app.engine.oms.execution import ExecutionEngine
from app.engine.oms.portfolio import Portfolio, Position
from app.engine.risk.checks import FLATTEN, ActorLimits, Denial, OrderContext, PreTradeChecks, SymbolLimits
from app.engine.risk.commands import RiskCommands
from app.engine.risk.kill import KillCancels, KillLatch
from app.engine.risk.limits import PEOPLE, change_limits, stored_limits
from app.engine.risk.rates import RateBook
from app.engine.risk.trips import AutomaticTrips
from app.engine.risk.utilization import utilization

log = logging.getLogger("kestrel.risk")
HALTED, REDUCING, ACTIVE = TradingState.HALTED, TradingState.REDUCING, TradingState.ACTIVE
NO_STORM = {"TRADING_HALTED", "STRATEGY_HALTED"}  # refusals caused by a halt do not feed the reject storm


class RiskEngine(AutomaticTrips):
    def __init__(self, bus: MessageBus, store: Store, clock: Clock, execution: ExecutionEngine,
                 instruments: dict[str, Instrument], market: MarketState, portfolio: Portfolio,
                 limits: RiskSettings) -> None:
        self.bus, self.store, self.clock = bus, store, clock
        self.execution, self.instruments = execution, instruments
        self.market, self.portfolio = market, portfolio
        self._actors: dict[str, ActorLimits] = {}
        self._symbols: dict[str, SymbolLimits] = {}
        self.unavailable: dict[str, str] = {}  # instrument id -> why its venue no longer lists it (VenueManager)
        self.rates = RateBook()
        # a person's changes outlive settings.json's defaults
        self._limits, limits_problem = stored_limits(store.get_setting("risk.limits"), limits)
        self._limits_problem = limits_problem
        self.checks = PreTradeChecks(self)
        self.state, self.state_reason = ACTIVE, ""
        self.latch = KillLatch(store, clock)
        self.strategy_states: dict[str, tuple[TradingState, str]] = {}
        self.venue_states: dict[str, tuple[TradingState, str]] = {}
        for rec in store.risk_states():
            self._adopt(rec)
        if not any(r.scope == "global" for r in store.risk_states()):
            self._adopt(store.load_risk_state())  # missing record: fail closed
        self.denials: list[OrderDenied] = []  # recent, newest last (the risk panel shows them)
        self.alarms: list[Alert] = []
        self.version = 0
        self.kill_cancels = KillCancels(execution, clock, self._alarm, lambda: self.limits.cancel_alarm_s)
        self._strategy_books: dict[str, dict[str, Position]] = {}
        self._sod = store.get_setting("risk.sod") or {}
        self._day_ends_ms = 0  # the end of the UTC day ``_sod`` belongs to (cached: daily_pnl runs per fill)
        self.peak_equity = float(store.get_setting("risk.peak_equity") or 0.0)
        self._peak_saved = self.peak_equity
        # a close (flatten, ClosePosition) held behind the cancels of its position's stops:
        # symbol -> (the stops' ids, who asked, the close order's actor, reverse)
        self._flatten_waiting: dict[str, tuple[set[str], str, str, bool]] = {}
        self._flatten_n = 0
        bus.subscribe(SubmitOrder, self.on_submit)
        bus.subscribe(OrderUpdated, self._on_order_updated)
        bus.subscribe(CancelOrder, self.on_cancel)
        bus.subscribe(CancelAllOrders, self.on_cancel_all)
        bus.subscribe(OrderFilled, self.on_fill)
        bus.subscribe(OrderRejected, self.on_reject)
        bus.subscribe(VenueStatus, self.on_venue_status)
        self.commands = RiskCommands(self)  # Halt, HaltStrategy, Reset, Flatten, ModifyOrder
        if self.state is HALTED:
            log.warning("starting HALTED (%s): reset the kill switch to trade", self.state_reason)
        if limits_problem:
            log.critical(limits_problem)
            self._alarm("critical", "Risk limits replaced", limits_problem)

    @property
    def limits(self) -> RiskSettings:
        return self._limits

    @limits.setter
    def limits(self, value: RiskSettings) -> None:
        self._limits = value
        self._actors.clear()  # resolved per actor/symbol from the limits: rebuilt on first use
        self._symbols.clear()

    def actor_limits(self, actor: str) -> ActorLimits:
        a = self._actors.get(actor)
        if a is None:
            a = self._actors[actor] = ActorLimits(actor, self._limits, self.rates.of(actor))
        return a

    def symbol_limits(self, inst: Instrument) -> SymbolLimits:
        s = self._symbols.get(inst.id)
        if s is None or s.inst is not inst:  # new, or its venue changed the market's definition
            s = self._symbols[inst.id] = SymbolLimits(inst, self._limits, self.portfolio.fx(inst.quote))
        return s

    def symbol_state(self, s: SymbolLimits):
        """The market state of a symbol (None before any data): MarketState.symbols, remembered once seen."""
        st = s.state
        if st is None:
            st = s.state = self.market.symbols.get(s.inst.id)
        return st

    # ------------------------------------------------------------------------------------------ commands
    def on_submit(self, cmd: SubmitOrder) -> None:
        if "@" not in cmd.symbol:  # a bare symbol names the instrument on the order's venue
            cmd = replace(cmd, symbol=make_id(cmd.symbol, cmd.venue))
        ctx = None
        try:
            denial, ctx = self._check(cmd)
        except Exception as exc:  # noqa: BLE001 - a rule that raises denies the order
            log.exception("risk check failed on %s", cmd.client_order_id)
            denial = Denial("RISK_CHECK_ERROR", f"A risk check failed ({exc!r}); the order was not sent.")
        if denial is None:
            self.execution.execute(cmd, emulated=ctx is not None and ctx.emulated)
        else:
            self._deny(cmd, denial)

    def on_cancel(self, cmd: CancelOrder) -> None:
        """Cancels are never blocked, in any trading state; they are counted."""
        order = self.execution.orders.get(cmd.client_order_id)
        self.rates.of(order.actor if order else cmd.actor).cancels += 1
        self.execution.cancel(cmd.client_order_id)

    def on_cancel_all(self, cmd: CancelAllOrders) -> None:
        self.execution.cancel_all(None if cmd.strategy is None else
                                  (lambda o: o.actor == f"strategy:{cmd.strategy}"))

    def check(self, cmd: SubmitOrder) -> Denial | None:
        """Every pre-trade check of ``cmd``: the first denial, or None (approved)."""
        return self._check(cmd)[0]

    def _check(self, cmd: SubmitOrder) -> tuple[Denial | None, OrderContext | None]:
        if cmd.client_order_id in self.execution.orders:
            return Denial("DUPLICATE_ORDER_ID", f"Client order id {cmd.client_order_id} was already used."), None
        inst, denial = self._instrument(cmd)
        if denial is not None:
            return denial, None
        a = self.actor_limits(cmd.actor)  # (the per-order path: the context built here, not in _context)
        ctx = OrderContext(a, self.symbol_limits(inst), self._limits, self.valuation_price(cmd),
                           self.clock.now_ms(), self.clock.monotonic_ns())
        return self._check_states(cmd, a.name) or self.checks.run(cmd, inst, ctx), ctx

    def check_fire(self, cmd: SubmitOrder, trigger_print: float) -> Denial | None:
        """The order an armed trigger becomes when ``trigger_print`` fires it (its id is the armed order's),
        through the trading states and the pre-trade checks again (``PreTradeChecks.fire_rules``): HALTED
        refuses it, REDUCING lets it through when it reduces. It is valued at the touch, or at the print that
        fired it when the book is older than ``quote_max_age_s`` or missing."""
        inst, denial = self._instrument(cmd)
        if denial is not None:
            return denial
        value = cmd.price if cmd.order_type is OrderType.LIMIT else None
        if value is None:
            st = self.market.symbols.get(cmd.symbol)
            fresh = st is not None and st.book is not None and \
                (self.clock.now_ms() - st.book_ts) / 1000.0 <= self._limits.quote_max_age_s
            value = (st.book.best_ask if cmd.side is Side.BUY else st.book.best_bid) if fresh else None
            value = value or trigger_print
        ctx = self._context(cmd, inst, value)
        return self._check_states(cmd, ctx.a.name) or self.checks.run_fire(cmd, inst, ctx)

    def check_amend(self, cmd: SubmitOrder) -> Denial | None:
        """A working limit order amended in place (``cmd`` under its own id, for no more than it has left): its
        new price and quantity checked as a new order's would be (on the tick, the lot, the size limits, the
        collar, our own orders on the other side). What it adds to exposure it already added (no more quantity),
        so the exposure limits are not asked again; HALTED refuses it."""
        c = self.checks
        return self._run_rules(cmd, (self._not_halted, c.quantity, c.price, c.ashare, c.max_qty, c.notional,
                                     c.collar, c.self_match))

    def check_move(self, cmd: SubmitOrder) -> Denial | None:
        """An armed stop moved in place (``cmd`` under its own id): its new trigger, limit and quantity checked
        as a new stop's would be (the shape: on the tick, not marketable; the quantity; a stop-limit's limit
        within the collar of its trigger)."""
        c = self.checks
        return self._run_rules(cmd, (c.shape, c.quantity, c.price, c.collar))

    def _run_rules(self, cmd: SubmitOrder, rules: tuple) -> Denial | None:
        """Some of the pre-trade rules, in order, for an order that keeps its id (an amend, a move in place)."""
        inst, denial = self._instrument(cmd)
        if denial is not None:
            return denial
        ctx = self._context(cmd, inst, self.valuation_price(cmd))
        for rule in rules:
            denial = rule(cmd, inst, ctx)
            if denial is not None:
                return denial
        return None

    def _not_halted(self, cmd: SubmitOrder, inst: Instrument, ctx: OrderContext) -> Denial | None:
        if self.state is HALTED:
            return Denial("TRADING_HALTED", f"Trading is HALTED ({self.state_reason}); no order is changed until a "
                          f"person resets the kill switch.", limit="ACTIVE", observed="HALTED")
        return None

    def _context(self, cmd: SubmitOrder, inst: Instrument, value: float | None) -> OrderContext:
        return OrderContext(self.actor_limits(cmd.actor), self.symbol_limits(inst), self._limits, value,
                            self.clock.now_ms(), self.clock.monotonic_ns())

    def _instrument(self, cmd: SubmitOrder) -> tuple[Instrument | None, Denial | None]:
        inst = self.instruments.get(cmd.symbol)
        if inst is None or inst.venue != cmd.venue:
            native, venue = split_id(cmd.symbol)
            if inst is not None or (venue is not None and venue != cmd.venue):
                return None, Denial("VENUE_MISMATCH", f"{cmd.symbol} is traded on {venue}, not on {cmd.venue!r}: the "
                              f"order goes to the venue it names, never elsewhere.", limit=venue or "",
                              observed=cmd.venue)
            return None, Denial("UNKNOWN_SYMBOL", f"{native!r} is not an instrument on venue {cmd.venue!r}.")
        gone = self.unavailable.get(inst.id)
        if gone is not None:
            return None, Denial("INSTRUMENT_UNAVAILABLE", gone, limit="listed", observed="not listed")
        return inst, None

    def _check_states(self, cmd: SubmitOrder, name: str | None) -> Denial | None:
        flatten = cmd.reduce_only and cmd.actor == FLATTEN
        state = self.state
        if state is HALTED and not flatten:
            return Denial("TRADING_HALTED", f"Trading is HALTED ({self.state_reason}); no new orders until a "
                          f"person resets the kill switch.", limit="ACTIVE", observed="HALTED")
        st = self.strategy_states.get(name) if name else None
        if st is not None and st[0] is HALTED:
            return Denial("STRATEGY_HALTED", f"Strategy {name} is HALTED ({st[1]}).", limit="ACTIVE",
                          observed="HALTED")
        venue = self.venue_states.get(cmd.venue)
        reducing = state is REDUCING or (st is not None and st[0] is REDUCING) or (venue is not None and venue[0] is REDUCING)
        if (reducing or cmd.reduce_only) and not self.reduces(cmd):
            why = "; ".join(why for on, why in (
                (state is REDUCING, "trading is REDUCING"),
                (st is not None and st[0] is REDUCING, f"strategy {name} is REDUCING"),
                (venue is not None and venue[0] is REDUCING, f"venue {cmd.venue} is REDUCING ({venue and venue[1]})"),
            ) if on) or "the order is reduce-only"
            return Denial("REDUCING_ONLY", f"Only orders that shrink the position are accepted: {why}.",
                          limit="reduce only", observed="would increase exposure")
        return None

    # ------------------------------------------------------------------------------------- kill switch
    def halt(self, reason: str, actor: str = "manual", written: RiskStateRecord | None = None) -> list[str]:
        """K1: persist HALTED, refuse new orders, cancel every working order (retried until terminal).

        ``written``: the HALTED record another process already persisted (``kestrel risk halt``); it is
        adopted as it is, not written again (a record of ours would look like yet another outside change)."""
        previous = self.state
        if written is None:
            self.latch.write("global", HALTED, reason, actor)
        else:
            self.latch.known["global"] = written
        self.state, self.state_reason = HALTED, reason
        self.version += 1
        log.critical("KILL SWITCH engaged by %s: %s", actor, reason)
        armed = len(self.execution.armed)
        sent = self.kill_cancels.send(lambda o: True)  # before any subscriber (a slow plugin) can delay them
        self.bus.publish(TradingStateChanged(HALTED, previous, reason, actor, self.clock.now_ms()))
        self._alarm("critical", "Trading HALTED", f"Kill switch engaged by {actor}: {reason}. Cancels sent for "
                    f"{len(sent)} working order(s)" + (f"; {armed} stop(s) armed in Kestrel disarmed" if armed
                                                       else "") + ". Reset it from the risk panel when it is safe.")
        return sent

    def halt_strategy(self, name: str, reason: str, actor: str = "manual",
                      written: RiskStateRecord | None = None) -> list[str]:
        """K2: the same as ``halt``, limited to one strategy."""
        previous = self.strategy_states.get(name, (ACTIVE, ""))[0]
        if written is None:
            self.latch.write(f"strategy:{name}", HALTED, reason, actor)
        else:
            self.latch.remember(written)
        self.strategy_states[name] = (HALTED, reason)
        self.version += 1
        log.critical("strategy %s HALTED by %s: %s", name, actor, reason)
        sent = self.kill_cancels.send(lambda o: o.actor == f"strategy:{name}")
        self.bus.publish(TradingStateChanged(HALTED, previous, reason, actor, self.clock.now_ms(), f"strategy:{name}"))
        self._alarm("critical", f"Strategy {name} HALTED", f"{reason} ({actor}); {len(sent)} order(s) canceled.")
        return sent

    def reset(self, reason: str, actor: str = "manual", scope: str = "global") -> None:
        """Back to ACTIVE. A person's action with a written reason; never restarts strategies by itself."""
        if not reason.strip():
            raise ValueError("a reset needs a written reason")
        if actor not in PEOPLE:
            raise PermissionError(f"only a person can reset the kill switch, not {actor!r}")
        if scope == "global":
            previous, self.state, self.state_reason = self.state, ACTIVE, reason
        else:
            previous = self.strategy_states.get(scope.split(":", 1)[1], (ACTIVE, ""))[0]
            self.strategy_states[scope.split(":", 1)[1]] = (ACTIVE, reason)
        self.latch.write(scope, ACTIVE, reason, actor)
        self.version += 1
        log.warning("%s reset to ACTIVE by %s: %s", scope, actor, reason)
        self.bus.publish(TradingStateChanged(ACTIVE, previous, reason, actor, self.clock.now_ms(), scope))

    def applied_states(self) -> dict[str, tuple[str, int]]:
        """scope -> (state, ts of the record it came from), as this engine holds them (the heartbeat)."""
        return self.latch.applied(self.state)

    def utilization(self) -> list[tuple[str, float, float]]:
        """The read model of the risk panel: (limit, in use, max) for every limit with a current level, from
        the same figures the checks and the automatic trips use (a view never recomputes a risk figure)."""
        return utilization(self)

    def start_refusal(self, name: str) -> str | None:
        """Why strategy ``name`` may not start now (a HALTED state, global or its own), or None."""
        if self.state is HALTED:
            return f"trading is HALTED ({self.state_reason}); reset the kill switch first"
        st = self.strategy_states.get(name)
        if st is not None and st[0] is HALTED:
            return f"strategy {name} is HALTED ({st[1]}); reset its kill switch first"
        return None

    def flatten(self, actor: str = "manual", confirmed: bool = False) -> list[str]:
        """Close every position with reduce-only market orders through the normal order path. A position
        protected by working stops has them canceled first, and its close is sent only once every one of them
        has ended (a stop that fired meanwhile has closed part or all of it: the close is what is left), so a
        stop can never fire behind the close and open the other way."""
        if not confirmed:
            raise PermissionError("flattening needs an explicit confirmation")
        sent: list[str] = []
        with self.execution.batch():  # one journal commit for all of them
            self._flatten_positions(actor, sent)
        return sent

    def _flatten_positions(self, actor: str, sent: list[str]) -> None:
        for pos in list(self.portfolio.positions.values()):
            if pos.quantity:
                self._close_after_stops(pos.symbol, actor, FLATTEN, False, sent)

    def close_position(self, symbol: str, actor: str = "manual", reverse: bool = False) -> list[str]:
        """Close one position at market (``reverse``: twice its size, the other way), its stops canceled first
        (as a flatten: see ``flatten``). ValueError, saying why, if there is no such position."""
        inst = self.instruments.get(symbol)
        pos = self.portfolio.positions.get(inst.id if inst else symbol)
        if inst is None or pos is None or not pos.quantity:
            raise ValueError(f"no open position in {symbol}")
        sent: list[str] = []
        self._close_after_stops(inst.id, actor, actor, reverse, sent)
        return sent

    def _close_after_stops(self, symbol: str, actor: str, order_actor: str, reverse: bool, sent: list[str]) -> None:
        if symbol in self._flatten_waiting:
            return
        for order in self.execution.armed_orders(symbol):  # Kestrel's own: gone at once
            self.execution.cancel(order.client_order_id)
        stops = [o.client_order_id for o in self.execution.working_orders(symbol) if o.order_type.is_triggered]
        if not stops:
            self._close(symbol, actor, order_actor, reverse, sent)
            return
        self._flatten_waiting[symbol] = (set(stops), actor, order_actor, reverse)
        log.warning("close of %s requested by %s waits for the cancel of its %d stop(s)", symbol, actor, len(stops))
        for cid in stops:
            self.execution.cancel(cid)

    def _close(self, symbol: str, actor: str, order_actor: str, reverse: bool, sent: list[str]) -> None:
        pos = self.portfolio.positions.get(symbol)
        inst = self.instruments.get(symbol)
        qty = inst.round_qty_down(abs(pos.quantity)) if inst and pos else 0.0
        if not qty:
            if pos is not None and pos.quantity:
                log.warning("close: %s %g is below the lot; nothing sent", symbol, pos.quantity)
            return
        side = Side.SELL if pos.quantity > 0 else Side.BUY
        self._flatten_n += 1
        cid = f"F{self.clock.now_ms():x}-{self._flatten_n}"  # no symbol: venues limit client ids' characters
        if reverse:  # one order through the gate: the close and the new position (two legs would leave a gap)
            qty = inst.round_qty_down(2 * qty)
        log.warning("%s requested by %s: %s %s %s", "reverse" if reverse else "close", actor, side.value, qty,
                    symbol)
        self.bus.publish(SubmitOrder(cid, inst.id, inst.venue, side, OrderType.MARKET, qty, None, order_actor,
                                     reduce_only=not reverse, ts=self.clock.now_ms()))
        sent.append(cid)

    def _on_order_updated(self, ev: OrderUpdated) -> None:
        """A held flatten's stops: once none of a symbol's is working any more, close what is left of it. A
        cancel the venue refused (the stop is working again) is sent again, and said."""
        if not self._flatten_waiting:
            return
        for symbol, (stops, actor, order_actor, reverse) in list(self._flatten_waiting.items()):
            if ev.client_order_id not in stops:
                continue
            if not ev.status.is_terminal:
                if ev.status.is_working and ev.status is not OrderStatus.PENDING_CANCEL:
                    self._alarm("warning", f"Flatten of {symbol} waits",
                                f"The venue refused to cancel stop {ev.client_order_id}; the cancel is sent again. "
                                f"{symbol} is closed once its stops are gone.")
                    self.execution.cancel(ev.client_order_id)
                return
            stops.discard(ev.client_order_id)
            if not stops:
                del self._flatten_waiting[symbol]
                self._close(symbol, actor, order_actor, reverse, [])

    def update_limits(self, changes: dict, actor: str, reason: str) -> RiskSettings:
        """Change limits. Only a person may (risk panel or CLI); each change is logged old -> new."""
        old = self.limits
        self.limits = new = change_limits(self.store, old, changes, actor, reason)
        self.version += 1
        for name in changes:
            self.bus.publish(RiskLimitsChanged(name, repr(getattr(old, name)), repr(getattr(new, name)), actor,
                                               reason, self.clock.now_ms()))
        return new

    # ------------------------------------------------------------------------------- outside changes
    def sync_external_state(self) -> None:
        """Adopt states written by another process (``kestrel risk halt|reset`` from a second terminal).

        A record that differs from the one we last wrote or read was written by someone else: a HALTED one
        runs the full kill here once (cancels included; the record is adopted, not rewritten, so the next
        poll finds nothing new); a HALTED one while already HALTED only adopts the new reason and re-sends
        the cancels; an ACTIVE one is a person's reset."""
        for rec in self.latch.outside_changes():
            name = rec.scope.split(":", 1)[1] if rec.scope.startswith("strategy:") else None
            current = self.state if name is None else self.strategy_states.get(name, (ACTIVE,))[0]
            if rec.state == HALTED.value and current is HALTED:
                self.latch.remember(rec)
                self._adopt(rec)
                self.version += 1
                log.warning("%s HALTED again from outside by %s: %s", rec.scope, rec.actor, rec.reason)
                self.kill_cancels.send((lambda o: True) if name is None else
                                      (lambda o, a=f"strategy:{name}": o.actor == a))
                continue
            if rec.state == HALTED.value:
                if name is None:
                    self.halt(rec.reason or "halted from outside", rec.actor or "external", written=rec)
                else:
                    self.halt_strategy(name, rec.reason or "halted from outside", rec.actor or "external",
                                       written=rec)
            else:
                previous = self.state if name is None else self.strategy_states.get(name, (ACTIVE,))[0]
                self._adopt(rec)
                self.version += 1
                log.warning("%s set to %s from outside by %s: %s", rec.scope, rec.state, rec.actor, rec.reason)
                self.bus.publish(TradingStateChanged(TradingState(rec.state), previous, rec.reason, rec.actor,
                                                     self.clock.now_ms(), rec.scope))
            self.latch.remember(rec)
        stored = self.store.get_setting("risk.limits")
        if stored and stored != self.limits.model_dump(mode="json"):
            new, problem = stored_limits(stored, self.limits)
            if problem:
                if problem != self._limits_problem:
                    self._limits_problem = problem
                    log.critical(problem)
                    self._alarm("critical", "Risk limits refused", problem)
                if new == self.limits:
                    return
            self.limits = new
            self.version += 1
            log.warning("risk limits changed from outside; now in force")

    # ------------------------------------------------------------------------------------------ helpers
    def valuation_price(self, cmd: SubmitOrder) -> float | None:
        if cmd.order_type is OrderType.LIMIT or cmd.order_type is OrderType.STOP_LIMIT:
            return cmd.price
        if cmd.order_type is OrderType.STOP:
            return cmd.trigger_price  # a market order where it triggers
        st = self.market.symbols.get(cmd.symbol)
        if cmd.order_type.is_trailing:  # where it would trigger now: the last trade less (plus) its distance
            last = st.last if st is not None else None
            if not last or (cmd.trail_amount is None and cmd.trail_pct is None):
                return cmd.trigger_price or last
            pct = None if cmd.trail_pct is None else cmd.trail_pct / 100.0  # (the book's own formula)
            return trail_trigger("sell" if cmd.side is Side.SELL else "buy", last, cmd.trail_amount, pct)
        if st is None or st.book is None:
            return None
        return st.book.best_ask if cmd.side is Side.BUY else st.book.best_bid

    def working_notional(self) -> float:
        """Leaves x (limit price, or the mid for market orders) of every working order, in the base currency."""
        exposure, total = self.execution.exposure, 0.0
        for symbol, notional in exposure.priced_notional.items():
            total += notional * self.portfolio.fx(self.quote_of(symbol))
        for symbol, leaves in exposure.unpriced_leaves.items():
            total += leaves * (self.mid(symbol) or 0.0) * self.portfolio.fx(self.quote_of(symbol))
        return total

    def mid(self, symbol: str) -> float | None:
        st = self.market.symbols.get(symbol)
        return st.book.mid if st and st.book else None

    def quote_of(self, symbol: str) -> str:
        inst = self.instruments.get(symbol)
        return inst.quote if inst else ""

    def reduces(self, cmd: SubmitOrder) -> bool:
        """Does the order shrink |position + working orders| without flipping through zero?"""
        pos = self.portfolio.positions.get(cmd.symbol)
        before = (pos.quantity if pos else 0.0) + self.execution.exposure.net_leaves.get(cmd.symbol, 0.0)
        after = before + cmd.quantity * cmd.side.sign
        return abs(after) < abs(before) - 1e-12 and after * before >= 0

    def strategy_pnl(self, name: str) -> float:
        total = 0.0
        for sym, pos in self._strategy_books.get(name, {}).items():
            pos.mark = self.mid(sym) or pos.mark
            total += (pos.realized_pnl + pos.unrealized_pnl) * self.portfolio.fx(self.quote_of(sym))
        return total

    def daily_pnl(self) -> tuple[float, float]:
        """(PnL since the start of the UTC day, start-of-day equity), in the base currency."""
        equity = self.portfolio.equity()
        now = self.clock.now_ms()
        if now >= self._day_ends_ms or now < self._day_ends_ms - 86_400_000:
            day = dt.datetime.fromtimestamp(now / 1000, tz=dt.timezone.utc).date()
            self._day_ends_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()
                                    * 1000) + 86_400_000
            if self._sod.get("date") != day.isoformat():
                self._sod = {"date": day.isoformat(), "equity": equity}
                self.store.set_setting("risk.sod", self._sod)
        return equity - self._sod["equity"], self._sod["equity"]

    def _set_venue(self, venue: str, state: TradingState, reason: str) -> None:
        previous = self.venue_states.get(venue, (ACTIVE, ""))[0]
        if previous is state:
            return
        self.venue_states[venue] = (state, reason)
        self.version += 1
        log.warning("venue %s %s: %s", venue, state.value, reason)
        self.bus.publish(TradingStateChanged(state, previous, reason, "risk", self.clock.now_ms(), f"venue:{venue}"))

    def _adopt(self, rec: RiskStateRecord) -> None:
        self.latch.remember(rec)
        if rec.scope == "global":
            self.state, self.state_reason = TradingState(rec.state), rec.reason
        elif rec.scope.startswith("strategy:"):
            self.strategy_states[rec.scope.split(":", 1)[1]] = (TradingState(rec.state), rec.reason)

    def _alarm(self, level: str, title: str, message: str) -> None:
        alert = Alert(level, title, message, self.clock.now_ms())
        self.alarms.append(alert)
        del self.alarms[:-50]
        self.bus.publish(alert)

    def _deny(self, cmd: SubmitOrder, denial: Denial) -> None:
        event = OrderDenied(cmd.client_order_id, cmd.symbol, denial.reason, denial.message, denial.limit,
                            denial.observed, cmd.actor, self.clock.now_ms())
        log.warning("order %s denied [%s]: %s", cmd.client_order_id, denial.reason, denial.message)
        if cmd.client_order_id not in self.execution.orders:
            self.execution.record_denied(cmd, f"{denial.reason}: {denial.message}")
        self.denials.append(event)
        del self.denials[:-200]
        self.version += 1
        self.bus.publish(event)
        if denial.reason not in NO_STORM:
            self._count_reject(cmd.actor)
