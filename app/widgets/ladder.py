"""Order book ladder: asks above, bids below, with our own working orders at each level.

Double-click a bid level to buy there, an ask level to sell there: the window routes the request through
the ticket (its quantity) and the risk gate, like any order.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.engine.kernel import Kernel
from app.engine.messages import Side
from app.widgets.common import ASK_BG, BID_BG, DOWN, MUTED, UP, make_table, set_cell

HEADERS = ["Mine", "Bid size", "Price", "Ask size", "Mine"]


class LadderWidget(QWidget):
    tradeRequested = Signal(object, float)  # (Side, price)

    def __init__(self, kernel: Kernel, levels: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kernel = kernel
        self._levels = levels
        self.symbol = next(iter(kernel.instruments))
        self._seen: tuple[int, int] = (-1, -1)
        self._prices: list[float | None] = []
        self.title = QLabel()
        self.table = make_table(HEADERS)
        self.table.setRowCount(2 * levels)
        self.table.verticalHeader().setDefaultSectionSize(18)
        for row in range(2 * levels):  # fixed colours: asks above, bids below (set once, not per frame)
            for col in range(len(HEADERS)):
                set_cell(self.table, row, col, "")
                self.table.item(row, col).setBackground(ASK_BG if row < levels else BID_BG)
        self.table.cellDoubleClicked.connect(self._on_click)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table)

    def set_symbol(self, symbol: str) -> None:
        self.symbol = symbol
        self._seen = (-1, -1)

    def _on_click(self, row: int, _col: int) -> None:
        if row < len(self._prices) and self._prices[row] is not None:
            side = Side.SELL if row < self._levels else Side.BUY
            self.tradeRequested.emit(side, self._prices[row])

    def refresh(self) -> None:
        st = self._kernel.market.symbols.get(self.symbol)
        key = (st.version if st else -1, self._kernel.execution.version)
        if key == self._seen:
            return
        self._seen = key
        book = st.book if st else None
        inst = self._kernel.instruments[self.symbol]
        d = inst.price_decimals
        self.title.setText(f"  {self.symbol}   spread "
                           f"{(book.best_ask - book.best_bid):.{d}f}" if book and book.bids and book.asks else
                           f"  {self.symbol}   no book")
        mine: dict[tuple[Side, float], float] = {}
        for o in self._kernel.execution.working_orders(self.symbol):
            if o.price is not None:
                key2 = (o.side, round(o.price, d))
                mine[key2] = mine.get(key2, 0.0) + o.leaves_qty
        asks = list(book.asks[: self._levels]) if book else []
        bids = list(book.bids[: self._levels]) if book else []
        n = self._levels
        self._prices = [None] * (2 * n)
        t = self.table
        for i in range(n):  # asks: best ask just above the middle
            row = n - 1 - i
            price, size = asks[i] if i < len(asks) else (None, None)
            self._row(t, row, price, None, size, d, mine)
        for i in range(n):
            row = n + i
            price, size = bids[i] if i < len(bids) else (None, None)
            self._row(t, row, price, size, None, d, mine)

    def _row(self, t, row, price, bid_size, ask_size, d, mine) -> None:
        self._prices[row] = price
        p = None if price is None else round(price, d)
        set_cell(t, row, 0, f"{mine[(Side.BUY, p)]:g}" if (Side.BUY, p) in mine else "", UP)
        set_cell(t, row, 1, "" if bid_size is None else f"{bid_size:g}", UP)
        set_cell(t, row, 2, "" if price is None else f"{price:.{d}f}", MUTED)
        set_cell(t, row, 3, "" if ask_size is None else f"{ask_size:g}", DOWN)
        set_cell(t, row, 4, f"{mine[(Side.SELL, p)]:g}" if (Side.SELL, p) in mine else "", DOWN)
