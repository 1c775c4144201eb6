"""Venues: a dock with each venue's connection and each feed's state (failover visible), the Connect dialog
per venue, and the reconciliation approval dialog. Views only: the model is ``VenueBoard`` (engine), the
actions are the VenueManager's and bus commands.

Secrets typed into the Connect dialog go straight to the credential store; the fields are cleared after
saving and a stored key is shown only as "stored (…1234)".
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDockWidget, QFormLayout, QHBoxLayout, QInputDialog,
    QLabel, QLineEdit, QListWidget, QPlainTextEdit, QPushButton, QTabWidget, QVBoxLayout, QWidget,
)

from app.engine.venues.board import VenueBoard
from app.engine.venues.config import (
    CcxtVenueConfig, VenueConfigError, config_path, exchange_known, load_config, parse_config, save_config,
)
from app.engine.venues.credentials import CredentialError, Credentials, CredentialStore
from app.engine.venues.events import ApproveReconciliation
from app.widgets.common import DOWN, MUTED, UP, make_table, set_cell

COMMON_EXCHANGES = ["binance", "okx", "bybit", "kraken", "coinbase", "kucoin", "bitget", "gate", "bitfinex",
                    "htx", "mexc", "bitstamp", "deribit"]
ACTIVE = "●"


class VenuesWidget(QWidget):
    """Venues (connection state), feeds per symbol (state, active feed), recent venue errors."""

    def __init__(self, kernel: Any, board: VenueBoard, open_connect: Callable[[str | None], None],
                 open_reconcile: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kernel, self.board = kernel, board
        self._seen = -1
        self._shown_proposals: set[int] = set()
        self._open_reconcile = open_reconcile
        self.venues = make_table(["Venue", "State", "Detail"])
        self.feeds = make_table(["Symbol", "Feed", "Channel", "State", "Active", "Detail"])
        self.errors = QListWidget()
        tabs = QTabWidget()
        tabs.addTab(self.feeds, "Feeds")
        tabs.addTab(self.errors, "Errors")
        self.connect_button = QPushButton("Connect…")
        self.connect_button.clicked.connect(lambda: open_connect(None))
        self.review_button = QPushButton("Review reconciliation…")
        self.review_button.setEnabled(False)
        self.review_button.clicked.connect(self._review_first)
        buttons = QHBoxLayout()
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.review_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.venues, 1)
        layout.addWidget(tabs, 2)
        self.venues.cellDoubleClicked.connect(lambda row, _c: open_connect(self.venues.item(row, 0).text()))

    def _review_first(self) -> None:
        if self.board.pending:
            self._open_reconcile(next(iter(self.board.pending)))

    def refresh(self) -> None:
        b = self.board
        if b.version == self._seen:
            return
        self._seen = b.version
        rows = sorted(b.venues.values(), key=lambda r: r.venue)
        self.venues.setRowCount(len(rows))
        for i, r in enumerate(rows):
            pending = r.venue in b.pending
            state = "APPROVE" if pending else ("connected" if r.connected else "not connected")
            color = DOWN if pending else (UP if r.connected else MUTED)
            set_cell(self.venues, i, 0, r.venue, align_right=False)
            set_cell(self.venues, i, 1, state, color, align_right=False)
            set_cell(self.venues, i, 2, r.message, align_right=False)
        feeds = b.feed_rows()
        self.feeds.setRowCount(len(feeds))
        for i, (sym, venue, channel, state, message, active) in enumerate(feeds):
            color = UP if state in ("live", "polling") else (MUTED if state == "fallback" else DOWN)
            for col, text in enumerate((sym, venue, channel, state, ACTIVE if active else "", message)):
                set_cell(self.feeds, i, col, text, color if col == 3 else None, align_right=False)
        lines = [f"{_hhmmss(c.ts)}  {c.symbol}: market data now from {c.feed} (was {c.previous}): {c.reason}"
                 for c in b.changes]
        lines += [f"{_hhmmss(e.ts)}  {e.venue} {e.operation}: {e.message}" for e in b.errors]
        if self.errors.count() != len(lines):
            self.errors.clear()
            self.errors.addItems(sorted(lines)[-100:])
        self.review_button.setEnabled(bool(b.pending))
        for venue, proposal in b.pending.items():
            if id(proposal) not in self._shown_proposals:
                self._shown_proposals.add(id(proposal))
                self._open_reconcile(venue)


def _hhmmss(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts / 1000).strftime("%H:%M:%S") if ts else "--:--:--"


class ReconcileDialog(QDialog):
    """The differences between a venue and the journal; trading there resumes only after Approve."""

    def __init__(self, kernel: Any, board: VenueBoard, venue: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kernel, self.venue = kernel, venue
        proposal = board.pending.get(venue)
        self.setWindowTitle(f"Reconcile {venue}")
        self.items = QListWidget()
        for item in (proposal.items if proposal else ()):
            self.items.addItem(f"[{item.kind.replace('_', ' ')}] {item.text}")
        text = QLabel(f"{venue} and Kestrel's order journal differ. New orders on {venue} are refused "
                      f"until you approve these changes (fills are booked, closed orders closed; orders "
                      f"Kestrel did not place are left alone). Cancels still go out.")
        text.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.approve_button = buttons.addButton("Approve", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Not now", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.approve)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.items, 1)
        layout.addWidget(buttons)
        self.resize(760, 320)

    def approve(self) -> None:
        self._kernel.bus.publish(ApproveReconciliation(self.venue, "manual", self._kernel.clock.now_ms()))
        self.accept()


class ConnectDialog(QDialog):
    """One venue: exchange, symbols, ccxt options, sandbox, and the API key/secret (to the keyring)."""

    def __init__(self, kernel: Any, store: CredentialStore, on_connect: Callable[[CcxtVenueConfig,
                 Credentials | None], None], venue: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kernel, self._store, self._on_connect = kernel, store, on_connect
        self.setWindowTitle(f"Connect {venue}" if venue else "Connect a venue")
        existing = None
        if venue and config_path(kernel.profile, venue).exists():
            try:
                existing = load_config(config_path(kernel.profile, venue))
            except VenueConfigError:
                existing = None
        self.name = QLineEdit(venue or "")
        self.exchange = QComboBox()
        self.exchange.setEditable(True)
        self.exchange.addItems(COMMON_EXCHANGES)
        self.exchange.setCurrentText(existing.exchange if existing else (venue or "binance"))
        self.symbols = QLineEdit(", ".join(existing.symbols) if existing else "BTC/USDT")
        self.stream = QComboBox()
        self.stream.addItems(["auto", "ws", "poll"])
        self.stream.setCurrentText(existing.stream if existing else "auto")
        self.sandbox = QCheckBox("Sandbox / testnet")
        self.sandbox.setChecked(bool(existing and existing.sandbox))
        self.options = QPlainTextEdit(json.dumps(existing.ccxt, indent=2) if existing and existing.ccxt
                                      else "{}")
        self.options.setPlaceholderText('ccxt options, e.g. {"timeout": 10000, '
                                        '"options": {"recvWindow": 5000}}')
        self.api_key = QLineEdit()
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_state = QLabel()
        self._show_key_state(venue)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {DOWN.name()}")
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Exchange (ccxt id)", self.exchange)
        form.addRow("Symbols", self.symbols)
        form.addRow("Market data", self.stream)
        form.addRow("", self.sandbox)
        form.addRow("ccxt options (JSON)", self.options)
        form.addRow("API key", self.api_key)
        form.addRow("API secret", self.secret)
        form.addRow("Password (if any)", self.password)
        form.addRow("", self.key_state)
        buttons = QDialogButtonBox()
        self.connect_button = buttons.addButton("Save && connect", QDialogButtonBox.ButtonRole.AcceptRole)
        self.forget_button = buttons.addButton("Forget keys", QDialogButtonBox.ButtonRole.ResetRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save_and_connect)
        buttons.rejected.connect(self.reject)
        self.forget_button.clicked.connect(self.forget)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(560, 520)

    def _unlock(self) -> bool:
        """The encrypted-file fallback needs its passphrase (asked here; never stored)."""
        if not self._store.needs_passphrase:
            return True
        phrase, ok = QInputDialog.getText(self, "Credentials passphrase", self._store.no_keyring_message() +
                                          "\n\nPassphrase:", QLineEdit.EchoMode.Password)
        if not ok or not phrase:
            return False
        self._store.with_passphrase(phrase)
        return True

    def _show_key_state(self, venue: str | None) -> None:
        where = self._store.describe()
        if not venue or self._store.needs_passphrase:
            self.key_state.setText(f"Keys are kept in the {where}.")
            return
        try:
            creds = self._store.get(venue)
        except CredentialError as exc:
            self.key_state.setText(str(exc))
            return
        self.key_state.setText(f"Stored ({creds.masked}) in the {where}; leave the fields empty to keep them."
                               if creds else f"No keys stored yet; they go to the {where}.")

    def config(self) -> CcxtVenueConfig:
        exchange = self.exchange.currentText().strip().lower()
        if not exchange_known(exchange):
            raise VenueConfigError(f"ccxt has no exchange {exchange!r}")
        try:
            options = json.loads(self.options.toPlainText() or "{}")
        except json.JSONDecodeError as exc:
            raise VenueConfigError(f"ccxt options: not valid JSON ({exc})") from None
        if not isinstance(options, dict):
            raise VenueConfigError("ccxt options must be a JSON object")
        symbols = [s.strip().upper() for s in self.symbols.text().split(",") if s.strip()]
        name = self.name.text().strip().lower() or exchange
        return parse_config({"name": name, "exchange": exchange, "symbols": symbols, "ccxt": options,
                             "sandbox": self.sandbox.isChecked(), "stream": self.stream.currentText()},
                            "venue config")

    def save_and_connect(self) -> None:
        try:
            cfg = self.config()
        except VenueConfigError as exc:
            self.error.setText(str(exc))
            return
        key, secret = self.api_key.text().strip(), self.secret.text().strip()
        creds = None
        try:
            if key or secret:
                if not (key and secret):
                    self.error.setText("Both the API key and the secret are needed (or neither, to keep the "
                                       "stored ones or use public data only).")
                    return
                if not self._unlock():
                    self.error.setText("Not saved: the credentials file needs its passphrase.")
                    return
                creds = Credentials(key, secret, self.password.text().strip() or None)
                self._store.set(cfg.name, creds)
            elif not self._store.needs_passphrase or self._unlock():
                creds = self._store.get(cfg.name)
        except CredentialError as exc:
            self.error.setText(str(exc))
            return
        finally:
            for field in (self.api_key, self.secret, self.password):
                field.clear()
        save_config(self._kernel.profile, cfg)
        try:
            self._on_connect(cfg, creds)
        except Exception as exc:  # noqa: BLE001 - a clear message, never a traceback
            self.error.setText(f"Could not connect: {exc}")
            return
        self.accept()

    def forget(self) -> None:
        name = self.name.text().strip().lower()
        if not name or not self._unlock():
            return
        try:
            had = self._store.delete(name)
        except CredentialError as exc:
            self.error.setText(str(exc))
            return
        self.key_state.setText("Keys deleted." if had else "No keys were stored.")


def install_venue_ui(window: Any, kernel: Any, manager: Any) -> VenuesWidget:
    """Add the Venues dock and menu to the main window (additive: the window's own code is untouched)."""
    board = VenueBoard(kernel.bus, manager.router)
    store = CredentialStore(kernel.profile)

    def connect(cfg: CcxtVenueConfig, creds: Credentials | None) -> None:
        venue = manager.venues.get(cfg.name)
        if venue is not None:
            venue.reconnect(creds)
            return
        manager.add_ccxt(cfg, creds)
        manager.start()

    def open_connect(venue: str | None) -> None:
        ConnectDialog(kernel, store, connect, venue, window).open()

    def open_reconcile(venue: str) -> None:
        ReconcileDialog(kernel, board, venue, window).open()

    widget = VenuesWidget(kernel, board, open_connect, open_reconcile)
    dock = QDockWidget("Venues", window)
    dock.setObjectName("dock_venues")
    dock.setWidget(widget)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    docks = getattr(window, "docks", {})
    if "log" in docks:
        window.tabifyDockWidget(docks["log"], dock)
    if "blotter" in docks and "positions" in docks:  # the order table needs the width to be readable
        window.resizeDocks([docks["blotter"], docks["positions"]], [800, 800], Qt.Orientation.Horizontal)
        docks["positions"].raise_()
    window.frames.add(widget)
    menu = window.menuBar().addMenu("V&enues")
    action = menu.addAction("Connect…")
    action.triggered.connect(lambda: open_connect(None))
    menu.addAction(dock.toggleViewAction())
    window.venues_dock, window.venues_widget = dock, widget
    window.venue_manager, window.venue_board = manager, board
    return widget
