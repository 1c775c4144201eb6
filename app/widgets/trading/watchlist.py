"""Watchlist: the named lists of ``port.watchlists`` (chosen above the table), one row per instrument;
choosing a row points the chart, ladder and ticket at it. A row whose venue is not connected stays, greyed.

The lists' menu (the ☰ button) makes, renames and deletes lists and opens Find symbol… (also Ctrl+K), which
adds markets of any running venue. A row's context menu: Download history…, Remove from the list, move it
up or down, add it to another list. The header's context menu chooses the columns (kept in the profile).
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QMenu, QMessageBox, QToolButton, QVBoxLayout,
    QWidget,
)

from app.engine.core.watchlists import WatchlistError, WatchRow
from app.engine.data.market import SymbolState
from app.engine.port import Port
from app.widgets.common import cells_changed_once, fmt, make_table, set_cell
from app.widgets.theme import DOWN, MUTED, PRICE_DOWN, PRICE_UP, css_color

HEADERS = ["Symbol", "Last", "Chg %", "Bid", "Ask", "Volume", "Venue", "Name", "Type"]
SYMBOL, LAST, CHG, BID, ASK, VOLUME, VENUE, NAME, TYPE = range(len(HEADERS))
DEFAULT_COLUMNS = ["Symbol", "Last", "Chg %", "Bid", "Ask", "Volume", "Venue"]
COLUMNS_SETTING = "ui.watchlist.columns"
FIND_HOTKEY = "Ctrl+K"


class WatchlistWidget(QWidget):
    symbolSelected = Signal(str)
    historyRequested = Signal(str)  # Download history… on a row: the symbol
    alertRequested = Signal(str)  # Alert… on a row: the instrument id

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._lists = port.watchlists
        self._rows: list[WatchRow] = []
        self._shown: tuple = ()  # (list name, [(id, key)]) the table shows
        self._version: tuple = ()  # (lists' version, instruments) at the last relist
        self._seen: dict[str, tuple] = {}
        self.menu: QMenu | None = None  # the open context menu, if any
        self.find_dialog = None  # FindSymbolDialog, made on first use
        self.name_dialog: QInputDialog | None = None
        self.delete_box: QMessageBox | None = None

        self.list_box = QComboBox()
        self.list_box.setToolTip("the watchlist shown")
        self.list_box.activated.connect(lambda _i: self._pick_list(self.list_box.currentText()))
        self.lists_button = QToolButton()
        self.lists_button.setText("☰")
        self.lists_button.setToolTip("watchlists: new, rename, delete; Find symbol…")
        self.lists_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.find_action = QAction("Find symbol…", self)
        self.find_action.setShortcut(QKeySequence(FIND_HOTKEY))
        self.find_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.find_action.triggered.connect(self.open_find)
        self.addAction(self.find_action)
        lists_menu = QMenu(self.lists_button)
        lists_menu.addAction("New list…", self.ask_new_list)
        lists_menu.addAction("Rename list…", self.ask_rename_list)
        lists_menu.addAction("Delete list…", self.ask_delete_list)
        lists_menu.addSeparator()
        lists_menu.addAction(self.find_action)
        self.lists_button.setMenu(lists_menu)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setVisible(False)

        self.table = make_table(HEADERS, self)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._show_columns(self._saved_columns())

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.list_box, 1)
        top.addWidget(self.lists_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.table)
        self.table.currentCellChanged.connect(self._on_row)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        if self._lists.problem:
            self._say(self._lists.problem, DOWN)
        self._relist()

    # ------------------------------------------------------------------------------------------- rows
    def rows(self) -> list[WatchRow]:
        """The rows shown, top to bottom."""
        return list(self._rows)

    def select(self, symbol: str) -> None:
        """Select the row of ``symbol`` (a table key, an id, or a bare symbol one venue lists), if the list
        shown has it; otherwise nothing is selected."""
        symbol_id = self._port.instrument_id(symbol)
        for row, r in enumerate(self._rows):
            if symbol in (r.key, r.id) or symbol_id == r.id:
                self.table.selectRow(row)
                return

    def _on_row(self, row: int, *_: int) -> None:
        if 0 <= row < len(self._rows) and self._rows[row].key is not None:
            self.symbolSelected.emit(self._rows[row].key)

    def _relist(self) -> None:
        """The list shown, again: its entries, which of them are available, the lists' names."""
        self._version = (self._lists.version, len(self._port.instruments))
        names = self._lists.names
        if [self.list_box.itemText(i) for i in range(self.list_box.count())] != names \
                or self.list_box.currentText() != self._lists.current:
            self.list_box.blockSignals(True)
            self.list_box.clear()
            self.list_box.addItems(names)
            self.list_box.setCurrentText(self._lists.current)
            self.list_box.blockSignals(False)
        rows = self._lists.rows()
        shown = (self._lists.current, [(r.id, r.key) for r in rows])
        if shown == self._shown:
            return
        selected = self._rows[self.table.currentRow()].id if 0 <= self.table.currentRow() < len(self._rows) \
            else None
        self._rows, self._shown = rows, shown
        self._seen.clear()
        self.table.blockSignals(True)  # rebuilding the rows is not a person choosing one
        self.table.clearContents()
        self.table.setRowCount(len(rows))
        self.table.setMinimumHeight(30 + 20 * min(len(rows), 12))
        for row, r in enumerate(rows):
            market = self._port.markets.get(r.id)
            set_cell(self.table, row, SYMBOL, r.symbol, align_right=False)
            set_cell(self.table, row, VENUE, r.venue, align_right=False)
            set_cell(self.table, row, NAME, market.name if market else "", align_right=False)
            kind = market.type if market else ("equity" if r.instrument and r.instrument.asset_class ==
                                                "equity" else "spot" if r.instrument else "")
            set_cell(self.table, row, TYPE, kind, align_right=False)
            set_cell(self.table, row, LAST, "—", MUTED)  # until its market's first price
            if not r.available:
                why = f"{r.venue or 'its venue'} is not connected: {r.symbol} shows here again when it is"
                for col in (SYMBOL, VENUE):
                    set_cell(self.table, row, col, self.table.item(row, col).text(), MUTED, align_right=False)
                    self.table.item(row, col).setToolTip(why)
                set_cell(self.table, row, CHG, "unavailable", MUTED)
                self.table.item(row, CHG).setToolTip(why)
        if selected is not None:  # the same row highlighted again: not a choice, the chart stays where it is
            self.select(selected)
        self.table.blockSignals(False)

    def restyle(self) -> None:
        """The up/down colours changed: redraw every row at the next frame."""
        self._seen.clear()

    def refresh(self) -> None:
        if (self._lists.version, len(self._port.instruments)) != self._version:
            self._relist()
        market = self._port.market
        changed = []
        for row, r in enumerate(self._rows):
            if r.key is None:
                continue
            st = market.symbols.get(r.key)
            closed = self._closed(r)
            if st is None or self._seen.get(r.id) == (st.version, closed):
                continue
            self._seen[r.id] = (st.version, closed)
            changed.append((row, r, st, closed))
        if changed:
            with cells_changed_once(self.table, changed[0][0], changed[-1][0]):  # not per cell: ~37 ms a frame
                text_color = self.table.palette().text().color()
                for row, r, st, closed in changed:
                    self._write_row(row, r, st, closed, text_color)

    def _write_row(self, row: int, r: WatchRow, st: SymbolState, closed: str, text_color) -> None:
        d = r.instrument.price_decimals
        set_cell(self.table, row, SYMBOL, r.symbol, MUTED if closed else text_color, align_right=False)
        self.table.item(row, SYMBOL).setToolTip(closed)
        if st.last:
            color = MUTED if closed else PRICE_UP if st.change_pct >= 0 else PRICE_DOWN
            set_cell(self.table, row, LAST, fmt(st.last, d), color)
        else:  # no trade yet this session (a closed market): the last close we know, not 0.00
            prev = self._last_close(r.key)
            set_cell(self.table, row, LAST, fmt(prev, d) if prev else "—", MUTED)
        set_cell(self.table, row, CHG, "closed" if closed else f"{st.change_pct:+.2f}%",
                 MUTED if closed else PRICE_UP if st.change_pct >= 0 else PRICE_DOWN)
        self.table.item(row, CHG).setToolTip(closed)
        book = st.book
        set_cell(self.table, row, BID, fmt(book.best_bid if book else None, d))
        set_cell(self.table, row, ASK, fmt(book.best_ask if book else None, d))
        set_cell(self.table, row, VOLUME, fmt(st.volume, 3))

    def _closed(self, r: WatchRow) -> str:
        """Why the row's market is closed now (an A-share of the sim outside its sessions), or ''."""
        if r.instrument is None or r.instrument.venue != "sim":
            return ""
        status = self._port.venues.session_status(r.key)
        return status.message if status is not None and status.state == "closed" else ""

    def _last_close(self, key: str) -> float | None:
        series = self._port.bars.series.get(key)
        return float(series.column("close")[-1]) if series is not None and series.n else None

    # ------------------------------------------------------------------------------------------ lists
    def _pick_list(self, name: str) -> None:
        self._edit(self._lists.select, name)

    def ask_new_list(self) -> None:
        self._ask_name("New watchlist", "Name of the new list:", "", self._lists.create)

    def ask_rename_list(self) -> None:
        current = self._lists.current
        self._ask_name("Rename watchlist", f"New name of {current}:", current,
                       lambda name: self._lists.rename(current, name))

    def _ask_name(self, title: str, label: str, text: str, then) -> None:
        dialog = self.name_dialog = QInputDialog(self)
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setTextValue(text)
        dialog.textValueSelected.connect(lambda name: self._edit(then, name))
        dialog.open()

    def ask_delete_list(self) -> None:
        name = self._lists.current
        if len(self._lists.names) == 1:
            self._say(f"{name} is the only list: rename it or remove its entries instead.", DOWN)
            return
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        box = self.delete_box = QMessageBox(QMessageBox.Icon.Question, "Delete watchlist",
                                            f"Delete the watchlist {name} ({len(self._lists.ids(name))} "
                                            f"entries)? The instruments stay subscribed.", buttons, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.accepted.connect(lambda: self._edit(self._lists.delete, name))
        box.open()

    def _edit(self, change, *args) -> None:
        """Make an edit of the lists; a refusal is said above the table, never raised."""
        try:
            change(*args)
        except WatchlistError as exc:
            self._say(str(exc), DOWN)
            return
        self._say("" if not self._lists.problem else self._lists.problem, DOWN)
        self._relist()

    def _say(self, text: str, color=None) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(css_color(color))
        self.message.setVisible(bool(text))

    def open_find(self):
        """Find symbol… (Ctrl+K): the dialog, shown."""
        from app.widgets.trading.find_symbol import FindSymbolDialog

        if self.find_dialog is None:
            self.find_dialog = FindSymbolDialog(self._port, self)
            self.find_dialog.added.connect(self._found)
        self.find_dialog.start()
        return self.find_dialog

    def _found(self, _market_id: str) -> None:
        self._relist()

    # --------------------------------------------------------------------------------- context menus
    def _context_menu(self, pos: QPoint) -> None:
        row = self.table.rowAt(pos.y())
        self.menu = QMenu(self)
        if 0 <= row < len(self._rows):
            r = self._rows[row]
            name = self._lists.current
            if r.key is not None:
                self.menu.addAction("Download history…", lambda: self.historyRequested.emit(r.key))
            if r.id in self._port.instruments:
                self.menu.addAction("Alert…", lambda: self.alertRequested.emit(r.id))
            self.menu.addAction(f"Remove from {name}", lambda: self._edit(self._lists.remove, r.id))
            up = self.menu.addAction("Move up", lambda: self._edit(self._lists.move, r.id, row - 1))
            up.setEnabled(row > 0)
            down = self.menu.addAction("Move down", lambda: self._edit(self._lists.move, r.id, row + 1))
            down.setEnabled(row < len(self._rows) - 1)
            others = [n for n in self._lists.names if n != name]
            if others:
                add_to = self.menu.addMenu("Add to list")
                for other in others:
                    add_to.addAction(other, lambda o=other: self._edit(self._lists.add, r.id, o))
            self.menu.addSeparator()
        self.menu.addAction(self.find_action)
        self.menu.popup(self.table.viewport().mapToGlobal(pos))

    def _column_menu(self, pos: QPoint) -> None:
        header = self.table.horizontalHeader()
        self.menu = QMenu(self)
        for col, title in enumerate(HEADERS):
            action = self.menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(col))
            action.setEnabled(col != SYMBOL)  # a row must say what it is
            action.toggled.connect(lambda on, c=col: self._toggle_column(c, on))
        self.menu.popup(header.mapToGlobal(pos))

    def _toggle_column(self, col: int, on: bool) -> None:
        self.table.horizontalHeader().setSectionHidden(col, not on)
        self._port.save_ui_state(COLUMNS_SETTING, self.columns())

    def columns(self) -> list[str]:
        """The columns shown, by title."""
        header = self.table.horizontalHeader()
        return [t for c, t in enumerate(HEADERS) if not header.isSectionHidden(c)]

    def _saved_columns(self) -> list[str]:
        try:
            saved = self._port.ui_state(COLUMNS_SETTING)
        except ValueError:  # a damaged row: the default columns, and the next choice replaces it
            saved = None
        if isinstance(saved, list) and all(isinstance(t, str) for t in saved):
            known = [t for t in saved if t in HEADERS]
            if known:
                return known
        return DEFAULT_COLUMNS

    def _show_columns(self, titles: list[str]) -> None:
        header = self.table.horizontalHeader()
        for col, title in enumerate(HEADERS):
            header.setSectionHidden(col, col != SYMBOL and title not in titles)
