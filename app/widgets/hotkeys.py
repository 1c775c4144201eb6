"""Trading hotkeys (issue 20, item 5): keys for what a trader does in a hurry, on the instrument the window shows
(the chart's), saved per profile (setting ``ui.hotkeys``), changed in Trading -> Keyboard shortcuts….

- Buy at the ask / sell at the bid: a LIMIT at the touch with the ticket's quantity, immediate-or-cancel where the
  venue takes it (a hotkey never sends an unbounded market order); through the risk gate like any order.
- Cancel all on the symbol (its stops Kestrel keeps too), close the position, reverse it (each asks first, as the
  Positions dock does), flatten every position (asks first, as the risk panel does).
- The kill switch (Ctrl+Shift+K) and Find symbol (Ctrl+K) are shown and cannot be changed or taken.

Each hotkey only sends commands (``Port.send``); none decides anything the engine would.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QKeySequenceEdit, QLabel, QPushButton, QTableWidget, QVBoxLayout,
)

from app.engine.core.messages import CancelOrder, OrderType, Side, SubmitOrder, TimeInForce
from app.widgets.common import parse_number

SETTING = "ui.hotkeys"
FIXED = {"Kill switch": "Ctrl+Shift+K", "Find symbol": "Ctrl+K"}  # shown, never changed or taken
# id -> (what it does, as the dialog says it, default key)
ACTIONS: dict[str, tuple[str, str]] = {
    "buy_ask": ("Buy at the ask (the ticket's quantity, IOC)", "Ctrl+Alt+B"),
    "sell_bid": ("Sell at the bid (the ticket's quantity, IOC)", "Ctrl+Alt+S"),
    "cancel_symbol": ("Cancel all orders on the symbol", "Ctrl+Alt+C"),
    "close": ("Close the position… (asks first)", "Ctrl+Alt+X"),
    "reverse": ("Reverse the position… (asks first)", "Ctrl+Alt+R"),
    "flatten": ("Flatten every position… (asks first)", "Ctrl+Alt+F"),
}


def stored_keys(port: Any) -> dict[str, str]:
    """The keys in force: the defaults, overlaid with what the profile saved (unknown ids and bad values are
    ignored, so a damaged setting never takes a key away)."""
    keys = {name: key for name, (_what, key) in ACTIONS.items()}
    saved = port.ui_state(SETTING)
    if isinstance(saved, dict):
        for name, key in saved.items():
            if name in keys and isinstance(key, str):
                keys[name] = key
    return keys


def conflict(keys: dict[str, str]) -> str | None:
    """Why ``keys`` cannot be saved (one key for two actions, or a key the kill switch or Find symbol has), or
    None."""
    seen: dict[str, str] = {QKeySequence(k).toString(): what for what, k in FIXED.items()}
    for name, key in keys.items():
        if not key:
            continue
        norm = QKeySequence(key).toString()
        if norm in seen:
            return f"{norm} is already {seen[norm]}: choose another key for {ACTIONS[name][0].split(' (')[0]}"
        seen[norm] = ACTIONS[name][0].split(" (")[0]
    return None


class Hotkeys:
    """The window's trading hotkeys: one QAction each, on the window."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.port = window.port
        self.actions: dict[str, QAction] = {}
        self.sent: list[str] = []  # client ids of orders sent by hotkeys (tests, the log)
        self.dialog: QDialog | None = None
        handlers: dict[str, Callable[[], None]] = {
            "buy_ask": lambda: self.at_touch(Side.BUY), "sell_bid": lambda: self.at_touch(Side.SELL),
            "cancel_symbol": self.cancel_symbol, "close": lambda: self.close(False),
            "reverse": lambda: self.close(True), "flatten": window.risk_panel.ask_flatten,
        }
        for name, (what, _key) in ACTIONS.items():
            action = QAction(what, window)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(handlers[name])
            window.addAction(action)
            self.actions[name] = action
        self.apply(stored_keys(self.port))

    def apply(self, keys: dict[str, str]) -> None:
        for name, action in self.actions.items():
            action.setShortcut(QKeySequence(keys.get(name, "")))

    def symbol(self) -> str:
        return self.window.chart.symbol

    # ----------------------------------------------------------------------------------------- actions
    def at_touch(self, side: Side) -> str | None:
        """A limit at the ask (buy) or the bid (sell), the ticket's quantity, IOC where the venue takes it."""
        port, symbol, ticket = self.port, self.symbol(), self.window.ticket
        inst = port.instruments.get(symbol)
        st = port.market.symbols.get(symbol)
        book = st.book if st is not None else None
        price = None if book is None else book.best_ask if side is Side.BUY else book.best_bid
        qty = parse_number(ticket.quantity.text())
        if inst is None or price is None or not qty:
            why = "no quote yet" if price is None else f"the ticket's quantity {ticket.quantity.text()!r}"
            ticket.status.setText(f"Hotkey {side.value.lower()} not sent: {why}.")
            return None
        tif = TimeInForce.IOC if "IOC" in port.venues.order_features(inst.venue) else TimeInForce.GTC
        cid = port.new_order_id()
        self.sent.append(cid)
        ticket._mine.add(cid)  # its outcome shows in the ticket's status line, as the ticket's own orders
        port.send(SubmitOrder(cid, inst.symbol, inst.venue, side, OrderType.LIMIT, qty, price, "hotkey",
                              ts=port.now_ms(), tif=tif))
        return cid

    def cancel_symbol(self) -> list[str]:
        ids = [o.client_order_id for o in self.port.orders.open(self.symbol())]
        for cid in ids:
            self.port.send(CancelOrder(cid, "hotkey", self.port.now_ms()))
        return ids

    def close(self, reverse: bool) -> None:
        pos = self.port.portfolio.positions.get(self.symbol())
        if pos is None or not pos.quantity:
            self.window.ticket.status.setText(f"No position in {self.symbol()} to "
                                              f"{'reverse' if reverse else 'close'}.")
            return
        self.window.positions.ask(reverse, symbol=self.symbol())

    # ------------------------------------------------------------------------------------------ dialog
    def open_dialog(self) -> QDialog:
        """Trading -> Keyboard shortcuts…: every hotkey, editable (the fixed ones shown), saved for the profile."""
        dialog = self.dialog = QDialog(self.window)
        dialog.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(len(ACTIONS) + len(FIXED), 2, dialog)
        table.setHorizontalHeaderLabels(["Action", "Key"])
        table.verticalHeader().setVisible(False)
        edits: dict[str, QKeySequenceEdit] = {}
        keys = stored_keys(self.port)
        for r, (name, (what, _key)) in enumerate(ACTIONS.items()):
            table.setCellWidget(r, 0, QLabel(what))
            edit = QKeySequenceEdit(QKeySequence(keys[name]))
            edit.setObjectName(f"hotkey_{name}")
            edit.setMaximumSequenceLength(1)
            table.setCellWidget(r, 1, edit)
            edits[name] = edit
        for r, (what, key) in enumerate(FIXED.items(), start=len(ACTIONS)):
            table.setCellWidget(r, 0, QLabel(f"{what} (fixed)"))
            table.setCellWidget(r, 1, QLabel(key))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        said = QLabel("Keys act on the instrument the chart shows. Orders go through the risk gate like any "
                      "other; closing, reversing and flattening ask first.")
        said.setWordWrap(True)
        error = QLabel("")
        error.setObjectName("hotkeysError")
        error.setWordWrap(True)
        defaults = QPushButton("Defaults")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        row = QHBoxLayout()
        row.addWidget(defaults)
        row.addStretch(1)
        row.addWidget(buttons)
        layout = QVBoxLayout(dialog)
        layout.addWidget(said)
        layout.addWidget(table)
        layout.addWidget(error)
        layout.addLayout(row)
        dialog.resize(560, 420)

        def save() -> None:
            chosen = {name: e.keySequence().toString() for name, e in edits.items()}
            why = conflict(chosen)
            if why:
                error.setText(why)
                return
            self.port.save_ui_state(SETTING, chosen)
            self.apply(chosen)
            dialog.accept()

        defaults.clicked.connect(lambda: [e.setKeySequence(QKeySequence(ACTIONS[n][1])) for n, e in edits.items()])
        buttons.accepted.connect(save)
        buttons.rejected.connect(dialog.reject)
        dialog.open()
        return dialog
