"""The risk engine's automatic trips (a part of ``RiskEngine``): what halts or restricts trading without a
person, and the periodic work that watches for it.

K3 LOSS        the day's loss or the drawdown from peak equity halts all trading; a strategy's own day loss
               halts that strategy (on each of its fills, and on every tick for the marks).
K4 BEHAVIOUR   a strategy that fills, is rejected or trips the throttle too often in its window is halted.
K5 INFRA       a venue that disconnects, or whose market data goes stale, is REDUCING until it is back (and
               reconciled); the kill switch's cancels are re-sent then.
"""
from __future__ import annotations

from app.engine.core.messages import OrderFilled, OrderRejected, SubmitOrder, TradingState, VenueStatus
from app.engine.oms.portfolio import Position
from app.engine.risk.checks import Denial
from app.engine.risk.rates import strategy_of

HALTED, REDUCING, ACTIVE = TradingState.HALTED, TradingState.REDUCING, TradingState.ACTIVE


class AutomaticTrips:
    """K3 (loss), K4 (behaviour), K5 (infrastructure), and the tick that drives them."""

    def tick(self) -> None:
        """Periodic (kernel.step): retry kill cancels, loss/drawdown (K3), stale data (K5), outside changes,
        and a journal commit that failed."""
        self.execution.flush()
        self.execution.commit_states()
        self.kill_cancels.retry()
        self._check_loss()
        if self.peak_equity != self._peak_saved:
            self.store.set_setting("risk.peak_equity", self.peak_equity)
            self._peak_saved = self.peak_equity
        self._check_stale_data()
        self.sync_external_state()

    def on_fill(self, fill: OrderFilled) -> None:
        order = self.execution.orders.get(fill.client_order_id)
        name = strategy_of(order.actor) if order else None
        if name is None:
            return
        book = self._strategy_books.get(name)
        if book is None:
            book = self._strategy_books[name] = {}
        pos = book.get(fill.symbol)
        if pos is None:
            pos = book[fill.symbol] = Position(fill.symbol)
        pos.apply(fill.side, fill.price, fill.quantity)
        pos.realized_pnl -= fill.fee
        n = self.actor_limits(order.actor).rates.fills.add(self.clock.monotonic_ns())
        cap = self.limits.for_strategy(name, "max_fills_per_min")
        if n > cap and self.strategy_states.get(name, (ACTIVE,))[0] is not HALTED:
            self.halt_strategy(name, f"{n} fills in 60 s (limit {cap})", "risk")
        self._check_loss(only=name)  # a fill moves this strategy's PnL; marks move the others' (tick)

    def on_reject(self, ev: OrderRejected) -> None:
        order = self.execution.orders.get(ev.client_order_id)
        if order is not None:
            self._count_reject(order.actor)

    def on_venue_status(self, status: VenueStatus) -> None:
        if not status.connected:
            self._set_venue(status.venue, REDUCING, f"disconnected: {status.message}")
        elif self.venue_states.get(status.venue, (ACTIVE,))[0] is REDUCING:
            notes = self.execution.reconcile(status.venue)
            self._alarm("warning", f"{status.venue} reconnected", "Reconciled: " + ("; ".join(notes) or "no differences"))
            self._set_venue(status.venue, ACTIVE, "reconnected and reconciled")
            self.kill_cancels.retry_now()

    def throttle_tripped(self, cmd: SubmitOrder, limit: int, observed: int, which: str) -> Denial:
        name = strategy_of(cmd.actor)
        if name is not None:
            trips = self.rates.of(cmd.actor).throttle_trips.add(self.clock.monotonic_ns())
            if trips >= self.limits.for_strategy(name, "max_throttle_trips_per_10s") \
                    and self.strategy_states.get(name, (ACTIVE,))[0] is not HALTED:
                self.halt_strategy(name, f"{trips} throttle trips in 10 s", "risk")
        return Denial("THROTTLE", f"More than {limit} new orders per second ({which}); slow down.",
                      limit=f"{limit}/s", observed=f"{observed}/s")

    def _check_loss(self, only: str | None = None) -> None:
        pnl, sod = self.daily_pnl()
        equity = sod + pnl
        if equity > self.peak_equity:
            self.peak_equity = equity  # persisted by tick(), not on every fill: no I/O on the hot path
        limits = self.limits
        if self.state is not HALTED and pnl <= -limits.daily_loss_halt_pct / 100.0 * sod:
            self.halt(f"daily loss {pnl:,.2f} reached -{limits.daily_loss_halt_pct}% of start-of-day equity", "risk")
        elif self.state is not HALTED and self.peak_equity and equity <= self.peak_equity * (1 - limits.max_drawdown_pct / 100.0):
            self.halt(f"drawdown from peak {self.peak_equity:,.2f} reached {limits.max_drawdown_pct}%", "risk")
        for name in (self._strategy_books if only is None else (only,)):
            if self.strategy_states.get(name, (ACTIVE,))[0] is not HALTED:
                spnl = self.strategy_pnl(name)
                pct = limits.for_strategy(name, "daily_loss_pct")
                if spnl <= -pct / 100.0 * sod:
                    self.halt_strategy(name, f"strategy loss {spnl:,.2f} reached -{pct}%"
                                       f" of start-of-day equity", "risk")

    def _check_stale_data(self) -> None:
        now = self.clock.now_ms()
        newest: dict[str, int] = {}
        for sym, inst in self.instruments.items():
            st = self.market.symbols.get(sym)
            newest[inst.venue] = max(newest.get(inst.venue, 0), st.book_ts if st else 0)
        for venue, ts in newest.items():
            stale = (now - ts) / 1000.0 > self.limits.stale_data_s
            state, why = self.venue_states.get(venue, (ACTIVE, ""))
            if stale and state is ACTIVE:
                self._set_venue(venue, REDUCING, f"market data stale for more than {self.limits.stale_data_s:g} s")
            elif not stale and state is REDUCING and why.startswith("market data stale"):
                self._set_venue(venue, ACTIVE, "market data fresh again")

    def _count_reject(self, actor: str) -> None:
        name = strategy_of(actor)
        if name is None:
            return
        n = self.rates.of(actor).rejects.add(self.clock.monotonic_ns())
        cap = self.limits.for_strategy(name, "max_rejects_per_min")
        if n > cap and self.strategy_states.get(name, (ACTIVE,))[0] is not HALTED:
            self.halt_strategy(name, f"{n} rejects in 60 s (limit {cap})", "risk")
