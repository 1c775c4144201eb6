"""RiskEngine: the gate every order passes, and the owner of the trading state and the kill switch.

COMMANDS     SubmitOrder, CancelOrder, CancelAllOrders arrive from the bus (ticket, ladder, strategies).
PRE-TRADE    trading state -> known symbol -> quantity -> price -> max quantity -> notional -> collar.
             Each check returns early with a ``Denial``; a check that raises denies the order too.
DENIALS      become ``OrderDenied`` events with a stable reason code, the limit, the observed value and
             the actor; the order is journaled as DENIED. Never an exception to the caller.
EGRESS       an approved order goes to ``ExecutionEngine.execute``; nothing else reaches a venue.

The kill switch (``halt``) persists HALTED *first*, then refuses everything new, cancels every working
order and tells strategies to stop. HALTED survives restarts until ``reset`` with a reason.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

from app.config import RiskSettings
from app.engine.bus import MessageBus
from app.engine.clock import Clock
from app.engine.execution import ExecutionEngine
from app.engine.instruments import Instrument
from app.engine.market import MarketState
from app.engine.messages import (
    Alert, CancelAllOrders, CancelOrder, OrderDenied, OrderType, Side, SubmitOrder, TradingState,
    TradingStateChanged,
)
from app.engine.portfolio import Portfolio
from app.engine.store import RiskStateRecord, Store

log = logging.getLogger("kestrel.risk")


@dataclass(frozen=True, slots=True)
class Denial:
    reason: str  # stable code, e.g. "MAX_NOTIONAL"
    message: str  # what happened and what to do, for the ticket and the log
    limit: str = ""
    observed: str = ""


Check = Callable[[SubmitOrder, Instrument], "Denial | None"]


class RiskEngine:
    def __init__(self, bus: MessageBus, store: Store, clock: Clock, execution: ExecutionEngine,
                 instruments: dict[str, Instrument], market: MarketState, portfolio: Portfolio,
                 limits: RiskSettings) -> None:
        self._bus = bus
        self._store = store
        self._clock = clock
        self._execution = execution
        self._instruments = instruments
        self._market = market
        self._portfolio = portfolio
        self.limits = limits
        rec = store.load_risk_state()
        self.state = TradingState(rec.state)
        self.state_reason = rec.reason
        self.denials: list[OrderDenied] = []  # recent, newest last (the risk panel shows them)
        self.version = 0
        self._checks: list[Check] = [self._check_state, self._check_quantity, self._check_price,
                                     self._check_max_qty, self._check_notional, self._check_collar]
        bus.subscribe(SubmitOrder, self.on_submit)
        bus.subscribe(CancelOrder, self.on_cancel)
        bus.subscribe(CancelAllOrders, self.on_cancel_all)
        if self.state is TradingState.HALTED:
            log.warning("starting HALTED (%s): reset the kill switch to trade", rec.reason)

    # ------------------------------------------------------------------------------------------ commands
    def on_submit(self, cmd: SubmitOrder) -> None:
        try:
            denial = self.check(cmd)
        except Exception as exc:  # noqa: BLE001 - a rule that raises denies the order
            log.exception("risk check failed on %s", cmd.client_order_id)
            denial = Denial("RISK_CHECK_ERROR", f"A risk check failed ({exc!r}); the order was not sent.")
        if denial is None:
            self._execution.execute(cmd)
        else:
            self._deny(cmd, denial)

    def on_cancel(self, cmd: CancelOrder) -> None:
        """Cancels are never blocked, in any trading state."""
        self._execution.cancel(cmd.client_order_id)

    def on_cancel_all(self, cmd: CancelAllOrders) -> None:
        self._execution.cancel_all(None if cmd.strategy is None else
                                   (lambda o: o.actor == f"strategy:{cmd.strategy}"))

    # ------------------------------------------------------------------------------------- kill switch
    def halt(self, reason: str, actor: str = "manual") -> list[str]:
        """Engage the kill switch: persist HALTED, refuse new orders, cancel every working order.

        Returns the client order ids cancels were sent for. Idempotent: halting twice re-sends cancels.
        """
        previous = self.state
        self._store.save_risk_state(RiskStateRecord("global", TradingState.HALTED.value, reason, actor,
                                                    self._clock.now_ms()))
        self.state = TradingState.HALTED
        self.state_reason = reason
        self.version += 1
        log.critical("KILL SWITCH engaged by %s: %s", actor, reason)
        self._bus.publish(TradingStateChanged(TradingState.HALTED, previous, reason, actor, self._clock.now_ms()))
        sent = self._execution.cancel_all()
        self._bus.publish(Alert("critical", "Trading HALTED",
                                f"Kill switch engaged by {actor}: {reason}. {len(sent)} working order(s) canceled. "
                                f"Reset it from the risk panel when it is safe.", self._clock.now_ms()))
        return sent

    def reset(self, reason: str, actor: str = "manual") -> None:
        """Return to ACTIVE. Needs a written reason; never restarts strategies by itself."""
        if not reason.strip():
            raise ValueError("a reset needs a reason")
        previous = self.state
        self._store.save_risk_state(RiskStateRecord("global", TradingState.ACTIVE.value, reason, actor,
                                                    self._clock.now_ms()))
        self.state = TradingState.ACTIVE
        self.state_reason = reason
        self.version += 1
        log.warning("kill switch reset by %s: %s", actor, reason)
        self._bus.publish(TradingStateChanged(TradingState.ACTIVE, previous, reason, actor, self._clock.now_ms()))

    def sync_external_state(self) -> None:
        """Pick up a HALTED written by another process (``kestrel risk halt`` from a second terminal)."""
        rec = self._store.load_risk_state()
        if rec.state == TradingState.HALTED.value and self.state is not TradingState.HALTED:
            self.halt(rec.reason or "halted from outside", rec.actor or "external")

    # ------------------------------------------------------------------------------------------- checks
    def check(self, cmd: SubmitOrder) -> Denial | None:
        if cmd.client_order_id in self._execution.orders:
            return Denial("DUPLICATE_ORDER_ID", f"Client order id {cmd.client_order_id} was already used.")
        inst = self._instruments.get(cmd.symbol)
        if inst is None or inst.venue != cmd.venue:
            return Denial("UNKNOWN_SYMBOL", f"{cmd.symbol!r} is not an instrument on venue {cmd.venue!r}.")
        for rule in self._checks:
            denial = rule(cmd, inst)
            if denial is not None:
                return denial
        return None

    def _check_state(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        if self.state is TradingState.HALTED:
            return Denial("TRADING_HALTED", f"Trading is HALTED ({self.state_reason}); no new orders until a "
                          f"person resets the kill switch.", limit="ACTIVE", observed="HALTED")
        if self.state is TradingState.REDUCING and not self._reduces(cmd):
            return Denial("REDUCING_ONLY", "Trading is REDUCING: only orders that shrink the position are "
                          "accepted.", limit="REDUCING", observed="would increase exposure")
        return None

    def _check_quantity(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        q = cmd.quantity
        if not isinstance(q, (int, float)) or not math.isfinite(q) or q <= 0:
            return Denial("INVALID_QUANTITY", f"Quantity must be a positive number, got {q!r}.",
                          limit="> 0", observed=repr(q))
        if not inst.is_on_lot(q):
            return Denial("QTY_NOT_ON_LOT", f"Quantity {q} is not a multiple of the lot size {inst.lot_size}.",
                          limit=f"lot {inst.lot_size}", observed=str(q))
        if q < inst.min_qty - 1e-12:
            return Denial("QTY_BELOW_MIN", f"Quantity {q} is below the minimum {inst.min_qty}.",
                          limit=str(inst.min_qty), observed=str(q))
        if q > inst.max_qty + 1e-12:
            return Denial("QTY_ABOVE_VENUE_MAX", f"Quantity {q} is above the venue's maximum {inst.max_qty}.",
                          limit=str(inst.max_qty), observed=str(q))
        return None

    def _check_price(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        if cmd.order_type is OrderType.MARKET:
            return None
        p = cmd.price
        if p is None or not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
            return Denial("INVALID_PRICE", f"A limit order needs a positive price, got {p!r}.",
                          limit="> 0", observed=repr(p))
        if not inst.is_on_tick(p):
            return Denial("PRICE_NOT_ON_TICK", f"Price {p} is not on the tick grid ({inst.tick_size}).",
                          limit=f"tick {inst.tick_size}", observed=str(p))
        return None

    def _check_max_qty(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        limit = self.limits.max_order_qty.get(cmd.symbol)
        if limit is not None and cmd.quantity > limit:
            return Denial("MAX_ORDER_QTY", f"Quantity {cmd.quantity} exceeds the per-order limit {limit}.",
                          limit=str(limit), observed=str(cmd.quantity))
        return None

    def _check_notional(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        price = self._valuation_price(cmd)
        if price is None:
            return Denial("NO_MARKET_DATA", f"No quote for {cmd.symbol} to value a market order; wait for data.")
        limit = self.limits.max_notional_manual if cmd.actor == "manual" else self.limits.max_notional_strategy
        notional = cmd.quantity * price
        if notional > limit:
            return Denial("MAX_NOTIONAL", f"Order value {notional:,.2f} {inst.quote} exceeds the limit "
                          f"{limit:,.2f}.", limit=f"{limit:.2f}", observed=f"{notional:.2f}")
        if inst.min_notional and notional < inst.min_notional:
            return Denial("MIN_NOTIONAL", f"Order value {notional:,.2f} is below the venue minimum "
                          f"{inst.min_notional}.", limit=str(inst.min_notional), observed=f"{notional:.2f}")
        return None

    def _check_collar(self, cmd: SubmitOrder, inst: Instrument) -> Denial | None:
        st = self._market.symbols.get(cmd.symbol)
        book = st.book if st else None
        mid = book.mid if book else None
        if mid is None:
            return Denial("NO_QUOTE", f"No two-sided quote for {cmd.symbol}; orders wait for market data.",
                          observed="none")
        age_s = (self._clock.now_ms() - st.book_ts) / 1000.0
        if age_s > self.limits.quote_max_age_s:
            return Denial("STALE_QUOTE", f"The last quote for {cmd.symbol} is {age_s:.1f} s old.",
                          limit=f"{self.limits.quote_max_age_s} s", observed=f"{age_s:.1f} s")
        if cmd.order_type is OrderType.LIMIT:
            dev = abs(cmd.price / mid - 1.0) * 100.0
            if dev > self.limits.price_collar_pct:
                return Denial("PRICE_COLLAR", f"Price {cmd.price} is {dev:.2f}% away from the mid {mid:.{inst.price_decimals}f}"
                              f" (limit ±{self.limits.price_collar_pct}%).",
                              limit=f"{self.limits.price_collar_pct}%", observed=f"{dev:.2f}%")
        return None

    # ----------------------------------------------------------------------------------------- helpers
    def _valuation_price(self, cmd: SubmitOrder) -> float | None:
        if cmd.order_type is OrderType.LIMIT:
            return cmd.price
        st = self._market.symbols.get(cmd.symbol)
        if st is None or st.book is None:
            return None
        return st.book.best_ask if cmd.side is Side.BUY else st.book.best_bid

    def _reduces(self, cmd: SubmitOrder) -> bool:
        pos = self._portfolio.position(cmd.symbol).quantity
        working = sum(o.leaves_qty * o.side.sign for o in self._execution.working_orders(cmd.symbol))
        before = pos + working
        after = before + cmd.quantity * cmd.side.sign
        return abs(after) < abs(before) and after * before >= 0

    def _deny(self, cmd: SubmitOrder, denial: Denial) -> None:
        event = OrderDenied(cmd.client_order_id, cmd.symbol, denial.reason, denial.message, denial.limit,
                            denial.observed, cmd.actor, self._clock.now_ms())
        log.warning("order %s denied [%s]: %s", cmd.client_order_id, denial.reason, denial.message)
        if cmd.client_order_id not in self._execution.orders:
            self._execution.record_denied(cmd, f"{denial.reason}: {denial.message}")
        self.denials.append(event)
        del self.denials[:-200]
        self.version += 1
        self._bus.publish(event)
