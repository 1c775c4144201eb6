"""Positions and account: quantity, average price, realized and unrealized PnL; cash and equity. A position
says what it is by its venue's mode (PAPER, LIVE, SIM); each paper venue's account is shown beside the
cash."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu, QMessageBox,
    QPushButton, QVBoxLayout, QWidget,
)

from app.engine.port import Port
from app.widgets.common import fit_column, fmt, id_samples, make_table, read_numbers, set_cell
from app.widgets.theme import DOWN, PRICE_DOWN, PRICE_UP, UP

HEADERS = ["Symbol", "Qty", "Protection", "Avg price", "Mark", "Unrealized", "Realized", "Fees", "Mode"]
_C = {name: i for i, name in enumerate(HEADERS)}
PROTECTION = _C["Protection"]


class PositionsWidget(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._seen = -1
        self.table = make_table(HEADERS)
        # every column reads whole (the id "BTC/USDT@binance-paper", prices, "SL 64,936.0 · TP 65,087.9"): each as
        # wide as its usual text, a person may drag them, and a narrow dock scrolls sideways rather than eliding
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        money = ["-100,000.00"]
        for name, texts in (("Symbol", id_samples(port.instruments)), ("Qty", ["-0.000001"]),
                            ("Avg price", ["100,000.00"]), ("Mark", ["100,000.00"]), ("Unrealized", money),
                            ("Realized", money), ("Fees", ["0.0000"]), ("Protection", ["SL 65,000.0 · TP 65,000.0"])):
            fit_column(self.table, _C[name], texts)
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
        self.protect_button = QPushButton("Protect…")
        self.protect_button.setToolTip("Attach or change the selected position's stop-loss and take-profit (kept "
                                       "by Kestrel; one cancels the other)")
        self.protect_button.clicked.connect(self.ask_protection)
        self.protect_dialog: QDialog | None = None
        for b in (self.close_button, self.reverse_button, self.protect_button):
            b.setEnabled(False)
        self.close_button.clicked.connect(lambda: self.ask(reverse=False))
        self.reverse_button.clicked.connect(lambda: self.ask(reverse=True))
        self.confirm_box: QMessageBox | None = None
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.protect_button)
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
        self.protect_button.setEnabled(on)

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
        menu.addAction("Protect (stop-loss, take-profit)…", self.ask_protection)
        menu.popup(self.table.viewport().mapToGlobal(at))

    def ask(self, reverse: bool, symbol: str | None = None) -> None:
        """Say what will be sent, and send it if the person agrees (``ClosePosition``); ``symbol``: that position
        (a hotkey's), else the selected row's."""
        from app.engine.core.messages import ClosePosition

        symbol = symbol or self.selected()
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

    def ask_protection(self) -> None:
        """A small form with the position's stop-loss and take-profit (as they are now; empty: none); OK sends
        ``ProtectPosition``, which replaces what protects it now. The engine's refusal shows in the form."""
        from app.engine.core.messages import ProtectPosition

        symbol = self.selected()
        if symbol is None:
            return
        pos = self._port.portfolio.positions[symbol]
        inst = self._port.instruments[symbol]
        d = inst.price_decimals
        sl, tp, _ = self._port.orders.protection(symbol)
        dialog = self.protect_dialog = QDialog(self)
        dialog.setWindowTitle(f"Protect {symbol}")
        stop = QLineEdit("" if sl is None else f"{sl.trigger_price:.{d}f}")
        take = QLineEdit("" if tp is None or tp.price is None else f"{tp.price:.{d}f}")
        stop.setObjectName("stopLoss")
        take.setObjectName("takeProfit")
        stop.setPlaceholderText("none")
        take.setPlaceholderText("none")
        said = QLabel(f"{'Long' if pos.quantity > 0 else 'Short'} {abs(pos.quantity):g}: Kestrel keeps them and "
                      f"fires them only while this terminal runs; one filling cancels the other.")
        said.setWordWrap(True)
        error = QLabel("")
        error.setObjectName("protectError")
        error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        form = QFormLayout(dialog)
        form.addRow(said)
        form.addRow("Stop-loss", stop)
        form.addRow("Take-profit", take)
        form.addRow(error)
        form.addRow(buttons)

        def send() -> None:
            prices = read_numbers([(stop, "stop-loss"), (take, "take-profit")], error)
            if prices is None:
                return
            answer = self._port.send(ProtectPosition(symbol, prices[0], prices[1], "positions", self._port.now_ms()))
            if answer is not None and type(answer).__name__ == "CommandRefused":
                error.setText(answer.reason)
                return
            dialog.accept()

        buttons.accepted.connect(send)
        buttons.rejected.connect(dialog.reject)
        dialog.open()

    def restyle(self) -> None:
        """The up/down colours changed: redraw every row at the next frame."""
        self._seen = -1

    def refresh(self) -> None:
        pf = self._port.portfolio
        key = (pf.version, self._port.orders.version)
        if key == self._seen:
            return
        self._seen = key
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
            c = _C
            set_cell(self.table, r, c["Symbol"], p.symbol, None, False)
            set_cell(self.table, r, c["Qty"], f"{p.quantity:g}", UP if p.quantity > 0 else DOWN if p.quantity < 0
                     else None)
            set_cell(self.table, r, c["Avg price"], fmt(p.avg_price, d))
            set_cell(self.table, r, c["Mark"], fmt(p.mark, d))
            set_cell(self.table, r, c["Unrealized"], fmt(p.unrealized_pnl, 2),
                     PRICE_UP if p.unrealized_pnl >= 0 else PRICE_DOWN)
            set_cell(self.table, r, c["Realized"], fmt(p.realized_pnl, 2),
                     PRICE_UP if p.realized_pnl >= 0 else PRICE_DOWN)
            set_cell(self.table, r, c["Fees"], fmt(p.fees, 4))
            set_cell(self.table, r, PROTECTION, *self._protection(p, d))
            mode = self._port.venues.mode(inst.venue).upper() if inst else ""
            set_cell(self.table, r, c["Mode"], mode, None, False)
        self._on_selection()  # a position closed meanwhile: nothing to close or reverse

    def _protection(self, p, d: int) -> tuple:  # noqa: ANN001 - a Position
        """"SL 64,900.0 · TP 65,100.0" (and how much when it covers less than the position), or "unprotected" in
        red for an open position nothing protects."""
        if not p.quantity:
            return ("", None, False)
        sl, tp, qty = self._port.orders.protection(p.symbol)
        if sl is None and tp is None:
            return ("unprotected", DOWN, False)
        parts = []
        if sl is not None:
            parts.append(f"SL {self._port.orders.trigger_of(sl) or sl.trigger_price:,.{d}f}")
        if tp is not None:
            parts.append(f"TP {tp.price:,.{d}f}")
        text = " · ".join(parts)
        if qty < abs(p.quantity) - 1e-12:
            return (f"{text} ({qty:g} of {abs(p.quantity):g})", DOWN, False)
        return (text, None, False)
