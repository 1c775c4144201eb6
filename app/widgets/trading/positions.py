"""Positions and account: quantity, average price, realized and unrealized PnL; cash and equity. A position
says what it is by its venue's mode (PAPER, LIVE, SIM); each paper venue's account is shown beside the
cash."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QMenu, QMessageBox, QPushButton, QVBoxLayout, QWidget,
)

from app.engine.port import Port
from app.widgets.common import fit_column, fmt, id_samples, make_table, set_cell
from app.widgets.theme import DOWN, PRICE_DOWN, PRICE_UP, UP

HEADERS = ["Symbol", "Qty", "Avg price", "Mark", "Unrealized", "Realized", "Fees", "Mode"]


class PositionsWidget(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._seen = -1
        self.table = make_table(HEADERS)
        # the instrument id reads whole ("BTC/USDT@binance-paper"): as wide as the longest listed when it opens;
        # the numbers share what is left
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        fit_column(self.table, 0, id_samples(port.instruments))
        self.cash = QLabel()
        self.equity = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.cash)
        top.addStretch(1)
        top.addWidget(self.equity)
        # position actions (issue 20): close at market, or reverse; each asks first and names what happens to
        # the position's stops (canceled first: ClosePosition)
        self.close_button = QPushButton("Close…")
        self.close_button.setToolTip("Close the selected position at market (its stops are canceled first)")
        self.reverse_button = QPushButton("Reverse…")
        self.reverse_button.setToolTip("Close the selected position and open the same size the other way, at "
                                       "market, in one order (its stops are canceled first)")
        for b in (self.close_button, self.reverse_button):
            b.setEnabled(False)
        self.close_button.clicked.connect(lambda: self.ask(reverse=False))
        self.reverse_button.clicked.connect(lambda: self.ask(reverse=True))
        self.confirm_box: QMessageBox | None = None
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.close_button)
        actions.addWidget(self.reverse_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addLayout(actions)

    # ---------------------------------------------------------------------------------------- actions
    def selected(self) -> str | None:
        """The instrument id of the selected row with an open position (None: none)."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        pos = self._port.portfolio.positions.get(item.text()) if item is not None else None
        return item.text() if pos is not None and pos.quantity else None

    def _on_selection(self) -> None:
        on = self.selected() is not None
        self.close_button.setEnabled(on)
        self.reverse_button.setEnabled(on)

    def _menu(self, at) -> None:  # noqa: ANN001 - a QPoint
        row = self.table.rowAt(at.y())
        if row < 0:
            return
        self.table.selectRow(row)
        if self.selected() is None:
            return
        menu = QMenu(self)
        menu.addAction("Close at market…", lambda: self.ask(reverse=False))
        menu.addAction("Reverse at market…", lambda: self.ask(reverse=True))
        menu.popup(self.table.viewport().mapToGlobal(at))

    def ask(self, reverse: bool) -> None:
        """Say what will be sent, and send it if the person agrees (``ClosePosition``)."""
        from app.engine.core.messages import ClosePosition

        symbol = self.selected()
        if symbol is None:
            return
        pos = self._port.portfolio.positions[symbol]
        side = "sell" if pos.quantity > 0 else "buy"
        qty = abs(pos.quantity) * (2 if reverse else 1)
        stops = [o for o in self._port.orders.open(symbol) if o.order_type.is_triggered and not o.fired]
        text = (f"{'Reverse' if reverse else 'Close'} {symbol}: {side} {qty:g} at market"
                + (f", ending {-pos.quantity:+g}" if reverse else "") + ".")
        if stops:
            text += f" Its {len(stops)} stop order(s) are canceled first; the order goes out once they have ended."
        box = self.confirm_box = QMessageBox(QMessageBox.Icon.Question,
                                             "Reverse position" if reverse else "Close position", text,
                                             QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, self)
        box.button(QMessageBox.StandardButton.Ok).setText("Reverse" if reverse else "Close")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.accepted.connect(lambda: self._port.send(ClosePosition(symbol, reverse, "positions",
                                                                   self._port.now_ms())))
        box.open()

    def restyle(self) -> None:
        """The up/down colours changed: redraw every row at the next frame."""
        self._seen = -1

    def refresh(self) -> None:
        pf = self._port.portfolio
        if pf.version == self._seen:
            return
        self._seen = pf.version
        ccy = pf.base_currency
        text = "Cash  " + "   ".join(f"{v:,.2f} {k}" for k, v in sorted(pf.cash.items()))
        for venue, account in sorted(pf.paper_balances().items()):
            text += f"     PAPER {venue}  " + "   ".join(f"{v:,.8g} {k}" for k, v in sorted(account.items()))
        self.cash.setText(text)
        self.equity.setText(f"Equity  {pf.equity():,.2f} {ccy}")
        rows = [p for p in pf.positions.values() if p.quantity or p.realized_pnl]
        self.table.setRowCount(len(rows))
        for r, p in enumerate(rows):
            inst = self._port.instruments.get(p.symbol)
            d = inst.price_decimals if inst else 4
            set_cell(self.table, r, 0, p.symbol, None, False)
            set_cell(self.table, r, 1, f"{p.quantity:g}", UP if p.quantity > 0 else DOWN if p.quantity < 0 else None)
            set_cell(self.table, r, 2, fmt(p.avg_price, d))
            set_cell(self.table, r, 3, fmt(p.mark, d))
            set_cell(self.table, r, 4, fmt(p.unrealized_pnl, 2),
                     PRICE_UP if p.unrealized_pnl >= 0 else PRICE_DOWN)
            set_cell(self.table, r, 5, fmt(p.realized_pnl, 2),
                     PRICE_UP if p.realized_pnl >= 0 else PRICE_DOWN)
            set_cell(self.table, r, 6, fmt(p.fees, 4))
            mode = self._port.venues.mode(inst.venue).upper() if inst else ""
            set_cell(self.table, r, 7, mode, None, False)
        self._on_selection()  # a position closed meanwhile: nothing to close or reverse
