"""Positions, PnL, cash and equity, derived from fills.

Fills are the source of truth: on start the portfolio is rebuilt by replaying the fills table, so a
restart never loses or double-counts a position. Marks come from the latest book mid (last trade if
there is no two-sided book).

Cash is one pool per currency (the starting cash plus every venue's fills). A paper venue's account is kept
beside it (``open_paper_account``): its starting balances plus what that venue's fills moved, per currency,
base and quote (``paper_balances``), the numbers the trader reads as that venue's paper cash; the paper venue
keeps the same account itself and refuses what it cannot pay for.

``equity()`` and ``gross_exposure()`` are read by the risk gate on every order: they are cached until
``version`` moves (every fill, every mark change). ``PositionChanged``/``AccountChanged`` are built only
when someone subscribes to them (views read the portfolio at frame time instead).
"""
from __future__ import annotations

from dataclasses import dataclass

from app.engine.core.bus import MessageBus
from app.engine.core.instruments import IdKeyed, InstrumentTable, make_id, split_id
from app.engine.core.messages import AccountChanged, BookSnapshot, OrderFilled, PositionChanged, Side, TradeTick
from app.engine.core.store import Store


@dataclass(slots=True)
class Position:
    symbol: str
    quantity: float = 0.0  # signed: > 0 long, < 0 short
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    mark: float = 0.0

    @property
    def unrealized_pnl(self) -> float:
        if self.quantity == 0.0 or self.mark == 0.0:
            return 0.0
        return (self.mark - self.avg_price) * self.quantity

    def apply(self, side: Side, price: float, qty: float) -> None:
        """Average-cost accounting: adding keeps a weighted average; reducing realizes PnL; crossing zero
        realizes the closed part and opens the rest at the fill price."""
        signed = qty * side.sign
        if self.quantity == 0.0 or (self.quantity > 0) == (signed > 0):
            total = self.quantity + signed
            self.avg_price = (self.avg_price * abs(self.quantity) + price * qty) / abs(total)
            self.quantity = total
            return
        closing = min(qty, abs(self.quantity))
        self.realized_pnl += (price - self.avg_price) * closing * (1 if self.quantity > 0 else -1)
        remaining = self.quantity + signed
        if abs(remaining) < 1e-12:
            self.quantity, self.avg_price = 0.0, 0.0
        elif (remaining > 0) != (self.quantity > 0):
            self.quantity, self.avg_price = remaining, price
        else:
            self.quantity = remaining


class Portfolio:
    def __init__(self, bus: MessageBus, store: Store, instruments: InstrumentTable,
                 starting_cash: dict[str, float], fx_to_base: dict[str, float], base_currency: str) -> None:
        self._bus = bus
        self._instruments = instruments
        self.base_currency = base_currency
        self._fx = fx_to_base
        self.cash: dict[str, float] = dict(starting_cash)
        self.venue_flows: dict[str, dict[str, float]] = {}  # venue -> currency -> what its fills moved
        self._paper_start: dict[str, dict[str, float]] = {}  # paper venue -> its starting balances
        self.positions: dict[str, Position] = IdKeyed(instruments.canonical)  # by id
        self.version = 0
        self._cached = (-1, 0.0, 0.0)  # (version, equity, gross exposure)
        for row in store.fills():
            self._apply(make_id(row["symbol"], row["venue"]), Side(row["side"]), row["price"], row["quantity"],
                        row["fee"])
        bus.subscribe(OrderFilled, self.on_fill)
        bus.subscribe(BookSnapshot, self.on_book)
        bus.subscribe(TradeTick, self.on_trade)

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            key = self.positions.key_of(symbol)
            pos = self.positions[key] = Position(key)
        return pos

    def open_paper_account(self, venue: str, balances: dict[str, float]) -> None:
        """``venue`` is a paper venue starting with ``balances``; its fills (journaled ones too) move them."""
        self._paper_start[venue] = dict(balances)
        self.version += 1

    def paper_balances(self) -> dict[str, dict[str, float]]:
        """Each paper venue's balances: its starting balances plus what its fills moved, per currency."""
        out = {}
        for venue, start in self._paper_start.items():
            account = dict(start)
            for ccy, amount in self.venue_flows.get(venue, {}).items():
                account[ccy] = account.get(ccy, 0.0) + amount
            out[venue] = account
        return out

    def fx(self, currency: str) -> float:
        return self._fx.get(currency, 1.0)

    def cash_in_base(self) -> float:
        return sum(amount * self._fx.get(ccy, 1.0) for ccy, amount in self.cash.items())

    def equity(self) -> float:
        """Cash plus marked positions, in the base currency."""
        cached = self._cached
        return cached[1] if cached[0] == self.version else self._totals()[1]

    def gross_exposure(self) -> float:
        """Sum of |position| x mark, in the base currency."""
        cached = self._cached
        return cached[2] if cached[0] == self.version else self._totals()[2]

    def _totals(self) -> tuple[int, float, float]:
        equity, gross = self.cash_in_base(), 0.0
        for pos in self.positions.values():
            inst = self._instruments.get(pos.symbol)
            if inst is not None and pos.quantity:
                value = pos.quantity * (pos.mark or pos.avg_price) * self._fx.get(inst.quote, 1.0)
                equity += value
                gross += abs(value)
        self._cached = (self.version, equity, gross)
        return self._cached

    # ---------------------------------------------------------------------------------------- handlers
    def on_fill(self, fill: OrderFilled) -> None:
        pos = self._apply(fill.symbol, fill.side, fill.price, fill.quantity, fill.fee)
        if not pos.mark:
            pos.mark = fill.price
        self._publish(pos, fill.ts)

    def on_book(self, book: BookSnapshot) -> None:
        pos = self.positions.get(book.symbol)
        if pos is not None and pos.quantity:
            mid = book.mid
            if mid is not None and mid != pos.mark:
                pos.mark = mid
                self.version += 1

    def on_trade(self, tick: TradeTick) -> None:
        pos = self.positions.get(tick.symbol)
        if pos is not None and pos.quantity and not pos.mark:
            pos.mark = tick.price
            self.version += 1

    def _apply(self, symbol: str, side: Side, price: float, qty: float, fee: float) -> Position:
        pos = self.position(symbol)
        pos.apply(side, price, qty)
        pos.fees += fee
        pos.realized_pnl -= fee
        inst = self._instruments.get(symbol)
        quote = inst.quote if inst else "USDT"
        moved = -side.sign * price * qty - fee
        self.cash[quote] = self.cash.get(quote, 0.0) + moved
        flows = self.venue_flows.setdefault(inst.venue if inst else split_id(symbol)[1] or "", {})
        flows[quote] = flows.get(quote, 0.0) + moved
        if inst is not None and inst.base:
            flows[inst.base] = flows.get(inst.base, 0.0) + side.sign * qty
        self.version += 1
        return pos

    def _publish(self, pos: Position, ts: int) -> None:
        bus = self._bus
        if bus.wants(PositionChanged):
            bus.publish(PositionChanged(pos.symbol, pos.quantity, pos.avg_price, pos.realized_pnl,
                                        pos.unrealized_pnl, ts))
        if bus.wants(AccountChanged):
            bus.publish(AccountChanged(self.cash_in_base(), self.equity(), self.base_currency, ts))
