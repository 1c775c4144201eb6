"""Find symbol… (Ctrl+K, or the watchlist's menu): search every running venue's markets by symbol, base,
quote or name (茅台 finds 600519.SH) and add the one picked to the watchlist shown. A market the terminal
does not stream yet is subscribed first (``SubscribeMarket``); the venue's refusal is shown here."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from app.engine.core.messages import CommandRefused
from app.engine.port import Port
from app.engine.venues.catalog import Market
from app.engine.venues.events import SubscribeMarket
from app.widgets.common import make_table, set_cell
from app.widgets.theme import DOWN, MUTED, css_color

HEADERS = ["Symbol", "Venue", "Base", "Quote", "Type", "Name", "Streamed"]
ALL_VENUES = "All venues"


class FindSymbolDialog(QDialog):
    added = Signal(str)  # the instrument id added to the watchlist

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self.results: list[Market] = []
        self.setWindowTitle("Find symbol")
        self.resize(760, 420)
        self.query = QLineEdit()
        self.query.setPlaceholderText("symbol, base, quote or name: BTC, eth/usdt, 600519, 茅台")
        self.query.setClearButtonEnabled(True)
        self.venue = QComboBox()
        self.table = make_table(HEADERS, self)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.status = QLabel()
        self.add_button = QPushButton("Add to watchlist")
        self.add_button.setDefault(False)
        self.add_button.setAutoDefault(False)
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.venue)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        self.query.textChanged.connect(self.search)
        self.query.returnPressed.connect(self.add_current)
        self.venue.currentIndexChanged.connect(self.search)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.add_row(row))
        self.add_button.clicked.connect(self.add_current)
        self._arrows = _ArrowsToTable(self.table)
        self.query.installEventFilter(self._arrows)

    def start(self) -> None:
        """Shown (again): the venues running now, the search text selected to type over."""
        current = self.venue.currentText()
        self.venue.blockSignals(True)
        self.venue.clear()
        self.venue.addItems([ALL_VENUES, *self._port.markets.venues()])
        self.venue.setCurrentIndex(max(0, self.venue.findText(current)))
        self.venue.blockSignals(False)
        self.add_button.setText(f"Add to {self._port.watchlists.current}")
        self.search()
        self.show()
        self.raise_()
        self.activateWindow()
        self.query.setFocus()
        self.query.selectAll()

    def search(self) -> None:
        text = self.query.text()
        venue = None if self.venue.currentIndex() <= 0 else self.venue.currentText()
        self.results = self._port.markets.search(text, venue)
        table = self.table
        table.setRowCount(len(self.results))
        for row, m in enumerate(self.results):
            streamed = self._port.markets.subscribed(m)
            for col, value in enumerate((m.symbol, m.venue, m.base, m.quote, m.type, m.name,
                                         "yes" if streamed else "")):
                set_cell(table, row, col, value, None if m.active else MUTED, align_right=False)
            if not m.active:
                table.item(row, 0).setToolTip(f"{m.venue} lists {m.symbol} but does not trade it now")
        if self.results:
            table.selectRow(0)
        if not text.strip():
            self._say("Type a symbol, a currency or a name.")
        elif not self.results:
            self._say(f"No market matches {text.strip()!r}" + (f" on {venue}" if venue else "") + ".")
        else:
            more = " (the best 200)" if len(self.results) >= 200 else ""
            self._say(f"{len(self.results)} market(s){more}. Enter or double-click adds one.")

    def add_current(self) -> None:
        self.add_row(self.table.currentRow())

    def add_row(self, row: int) -> None:
        if 0 <= row < len(self.results):
            self.add(self.results[row])

    def add(self, market: Market) -> None:
        """Subscribe ``market`` if it is not streamed yet, then put it in the watchlist shown."""
        if not self._port.markets.subscribed(market):
            answer = self._port.send(SubscribeMarket(market.venue, market.symbol, ts=self._port.now_ms()))
            if isinstance(answer, CommandRefused):
                self._say(f"{market.symbol} on {market.venue} could not be added: {answer.reason}", DOWN)
                return
        lists = self._port.watchlists
        added = lists.add(market.id)
        row = self.table.currentRow()
        self.search()  # its Streamed cell
        self.table.selectRow(row)
        where = f"{market.symbol} ({market.venue})"
        self._say(f"{where} added to {lists.current}." if added else
                  f"{where} is in {lists.current} already.")
        self.added.emit(market.id)

    def _say(self, text: str, color=None) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(css_color(color))


class _ArrowsToTable(QObject):
    """Up/Down (and Page Up/Down) typed in the search box move the results' selection."""

    KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown)

    def __init__(self, table) -> None:
        super().__init__(table)
        self.table = table

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.KeyPress and event.key() in self.KEYS and self.table.rowCount():
            step = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1, Qt.Key.Key_PageUp: -10, Qt.Key.Key_PageDown: 10}
            row = self.table.currentRow() + step[event.key()]
            self.table.selectRow(max(0, min(self.table.rowCount() - 1, row)))
            return True
        return False
