"""MarketState: the latest view of each instrument's market, kept from bus data.

Read by the risk engine (mid and quote age for the price collar) and by the views at frame time
(watchlist, ladder). It only keeps the latest state and counters; it never notifies per tick: a view
compares ``version`` with what it last drew.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from app.engine.core.bus import MessageBus
from app.engine.core.instruments import IdKeyed
from app.engine.core.messages import BookSnapshot, TradeTick


@dataclass(slots=True)
class SymbolState:
    symbol: str
    book: BookSnapshot | None = None
    book_ts: int = 0
    last: float = 0.0
    last_ts: int = 0
    open: float = 0.0  # first trade seen this session: the watchlist's change %
    volume: float = 0.0
    trades: int = 0
    version: int = 0

    @property
    def change_pct(self) -> float:
        return (self.last / self.open - 1.0) * 100.0 if self.open and self.last else 0.0


class MarketState:
    def __init__(self, bus: MessageBus, canon: Callable[[str], str] | None = None) -> None:
        self.symbols: dict[str, SymbolState] = IdKeyed(canon)  # by instrument id (a bare unique symbol finds it)
        self.version = 0
        bus.subscribe(BookSnapshot, self.on_book)
        bus.subscribe(TradeTick, self.on_trade)

    def get(self, symbol: str) -> SymbolState:
        st = self.symbols.get(symbol)
        if st is None:
            key = self.symbols.key_of(symbol)
            st = self.symbols[key] = SymbolState(key)
        return st

    def on_book(self, book: BookSnapshot) -> None:
        st = self.get(book.symbol)
        st.book = book
        st.book_ts = book.ts
        st.version += 1
        self.version += 1

    def on_trade(self, tick: TradeTick) -> None:
        st = self.get(tick.symbol)
        if not st.open:
            st.open = tick.price
        st.last = tick.price
        st.last_ts = tick.ts
        st.volume += tick.size
        st.trades += 1
        st.version += 1
        self.version += 1
