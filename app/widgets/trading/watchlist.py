"""Watchlist: one row per instrument; choosing a row points the chart, ladder and ticket at it. Its context
menu (right-click a row) offers Download history… (the Data dialog's Download tab, for that symbol)."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QHeaderView, QMenu, QVBoxLayout, QWidget

from app.engine.data.market import SymbolState
from app.engine.port import Port
from app.widgets.common import cells_changed_once, fmt, make_table, new_symbols, set_cell
from app.widgets.theme import MUTED, PRICE_DOWN, PRICE_UP

HEADERS = ["Symbol", "Last", "Chg %", "Bid", "Ask", "Volume"]


class WatchlistWidget(QWidget):
    symbolSelected = Signal(str)
    historyRequested = Signal(str)  # Download history… on a row: the symbol

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._symbols = list(port.instruments)
        self._seen: dict[str, int] = {}
        self.table = make_table(HEADERS, self)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._list_symbols()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.table.currentCellChanged.connect(self._on_row)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.menu: QMenu | None = None  # the open context menu, if any

    def _list_symbols(self) -> None:
        self.table.setRowCount(len(self._symbols))
        self.table.setMinimumHeight(30 + 20 * min(len(self._symbols), 12))
        for row, sym in enumerate(self._symbols):
            set_cell(self.table, row, 0, sym, align_right=False)

    def select(self, symbol: str) -> None:
        symbol = self._port.instrument_id(symbol)
        if symbol in self._symbols:  # a symbol no venue lists now selects nothing
            self.table.selectRow(self._symbols.index(symbol))

    def _on_row(self, row: int, *_: int) -> None:
        if 0 <= row < len(self._symbols):
            self.symbolSelected.emit(self._symbols[row])

    def _context_menu(self, pos: QPoint) -> None:
        row = self.table.rowAt(pos.y())
        if not 0 <= row < len(self._symbols):
            return
        symbol = self._symbols[row]
        self.menu = QMenu(self)
        self.menu.addAction("Download history…", lambda: self.historyRequested.emit(symbol))
        self.menu.popup(self.table.viewport().mapToGlobal(pos))

    def restyle(self) -> None:
        """The up/down colours changed: redraw every row at the next frame."""
        self._seen.clear()

    def refresh(self) -> None:
        added = new_symbols(len(self._symbols), self._port.instruments)
        if added:  # a venue connected since start-up: its markets join the list
            self._symbols += added
            self._list_symbols()
        market = self._port.market
        changed = []
        for row, sym in enumerate(self._symbols):
            st = market.symbols.get(sym)
            closed = self._closed(sym)
            if st is None or self._seen.get(sym) == (st.version, closed):
                continue
            self._seen[sym] = (st.version, closed)
            changed.append((row, sym, st, closed))
        if changed:
            with cells_changed_once(self.table, changed[0][0], changed[-1][0]):  # not per cell: ~37 ms a frame
                for row, sym, st, closed in changed:
                    self._write_row(row, sym, st, closed)

    def _write_row(self, row: int, sym: str, st: SymbolState, closed: str) -> None:
        d = self._port.instruments[sym].price_decimals
        set_cell(self.table, row, 0, sym, MUTED if closed else self.table.palette().text().color(),
                 align_right=False)
        self.table.item(row, 0).setToolTip(closed)
        if st.last:
            color = MUTED if closed else PRICE_UP if st.change_pct >= 0 else PRICE_DOWN
            set_cell(self.table, row, 1, fmt(st.last, d), color)
        else:  # no trade yet this session (a closed market): the last close we know, not 0.00
            prev = self._last_close(sym)
            set_cell(self.table, row, 1, fmt(prev, d) if prev else "—", MUTED)
        set_cell(self.table, row, 2, "closed" if closed else f"{st.change_pct:+.2f}%",
                 MUTED if closed else PRICE_UP if st.change_pct >= 0 else PRICE_DOWN)
        self.table.item(row, 2).setToolTip(closed)
        book = st.book
        set_cell(self.table, row, 3, fmt(book.best_bid if book else None, d))
        set_cell(self.table, row, 4, fmt(book.best_ask if book else None, d))
        set_cell(self.table, row, 5, fmt(st.volume, 3))

    def _closed(self, symbol: str) -> str:
        """Why ``symbol``'s market is closed now (an A-share outside its sessions), or ''."""
        inst = self._port.instruments.get(symbol)
        if inst is None or inst.venue != "sim":
            return ""
        status = self._port.venues.session_status(symbol)
        return status.message if status is not None and status.state == "closed" else ""

    def _last_close(self, symbol: str) -> float | None:
        series = self._port.bars.series.get(symbol)
        return float(series.column("close")[-1]) if series is not None and series.n else None
