"""The Venues dock's dialogs: Connect (new or edit; asks for a passphrase only when it will store a secret),
Reconcile (the venue/journal differences a person approves), and the credentials file's passphrase."""
from __future__ import annotations

import json
from typing import Callable

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QInputDialog, QLabel,
    QLineEdit, QListWidget, QPlainTextEdit, QVBoxLayout, QWidget,
)

from app.engine.port import Port
from app.engine.venues.board import VenueBoard
from app.engine.venues.credentials import CredentialError, Credentials, CredentialStore
from app.engine.venues.events import ApproveReconciliation
from app.engine.venues.venue_config import (
    VenueConfig, VenueConfigError, config_path, exchange_known, load_config, parse_config, save_config,
)
from app.widgets.theme import DOWN

AKSHARE = "akshare"  # China A-shares: not a ccxt exchange, a venue kind of its own (paper trading only)
AKSHARE_NOTE = ("China A-shares through akshare (eastmoney, sina, tencent): live quotes, minute and daily "
                "bars. Orders are paper trades under the A-share rules (sessions, board lots, T+1, daily "
                "price limits, fees); nothing reaches a broker, so no API keys are asked for.")
PAPER_NOTE = ("Paper trading on the exchange's live market: its book and trades fill your paper orders "
              "here (a resting order fills after the volume ahead of it trades); nothing is sent to the "
              "exchange, so no API keys are asked for. Orders, positions and the status bar say PAPER.")
COMMON_EXCHANGES = ["binance", "okx", "bybit", "kraken", "coinbase", "kucoin", "bitget", "gate", "bitfinex",
                    "htx", "mexc", "bitstamp", "deribit"]


class ReconcileDialog(QDialog):
    """The differences between a venue and the journal; trading there resumes only after Approve."""

    def __init__(self, port: Port, board: VenueBoard, venue: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port, self.venue = port, venue
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
        self._port.send(ApproveReconciliation(self.venue, "manual", self._port.now_ms()))
        self.accept()


def unlock(parent: QWidget, store: CredentialStore) -> bool:
    """The encrypted-file fallback needs its passphrase (asked here; never stored)."""
    if not store.needs_passphrase:
        return True
    phrase, ok = QInputDialog.getText(parent, "Credentials passphrase", store.no_keyring_message() +
                                      "\n\nPassphrase:", QLineEdit.EchoMode.Password)
    if not ok or not phrase:
        return False
    store.with_passphrase(phrase)
    return True


class ConnectDialog(QDialog):
    """One venue: exchange, symbols, ccxt options, sandbox, and the API key/secret (to the keyring); or
    "akshare" (China A-shares, paper trading): its symbols and quote interval only, no keys. "Paper trading
    (no keys)" makes a ccxt exchange a paper venue (``paper: true``, named ``<exchange>-paper``): its paper
    balances instead of keys.

    With a saved ``venue`` it edits it: prefilled, the name fixed, every setting the dialog does not show
    (enabled, poll intervals...) kept. Empty key fields keep the keys: a venue that runs with its keys
    (``has_keys``) is never asked for a secret or the credentials file's passphrase; the passphrase is asked
    only to store new keys, or to read stored ones for a venue that has none yet."""

    def __init__(self, port: Port, store: CredentialStore, on_connect: Callable[[VenueConfig,
                 Credentials | None], None], venue: str | None = None, parent: QWidget | None = None,
                 has_keys: bool = False) -> None:
        super().__init__(parent)
        self._port, self._store, self._on_connect = port, store, on_connect
        self._has_keys = has_keys
        self.saved_text = ""  # what the dock says once the dialog saved
        existing = None
        if venue and config_path(port.profile, venue).exists():
            try:
                existing = load_config(config_path(port.profile, venue))
            except VenueConfigError:
                existing = None
        self.existing = existing
        title = f"Edit {venue}" if existing else f"Connect {venue}" if venue else "Connect a venue"
        self.setWindowTitle(title)
        self.name = QLineEdit(venue or "")
        self.name.setReadOnly(existing is not None)  # a new name is a new venue: Connect it, Remove this one
        self.exchange = QComboBox()
        self.exchange.setEditable(True)
        self.exchange.addItems([AKSHARE, *COMMON_EXCHANGES])
        self.exchange.insertSeparator(1)
        ccxt_cfg = existing if existing is not None and existing.kind == "ccxt" else None
        ak_cfg = existing if existing is not None and existing.kind == AKSHARE else None
        self.exchange.setCurrentText(AKSHARE if ak_cfg else ccxt_cfg.exchange if ccxt_cfg
                                     else (venue or "binance"))
        self.exchange.setEnabled(ak_cfg is None)  # a saved akshare venue stays one: Remove it to change that
        self.symbols = QLineEdit(", ".join(existing.symbols) if existing else "BTC/USDT")
        self.interval = QDoubleSpinBox()
        self.interval.setRange(0.5, 3600.0)
        self.interval.setDecimals(1)
        self.interval.setSuffix(" s")
        self.interval.setValue(ak_cfg.quote_interval_s if ak_cfg else 3.0)
        self.akshare_note = QLabel(AKSHARE_NOTE)
        self.akshare_note.setWordWrap(True)
        self.stream = QComboBox()
        self.stream.addItems(["auto", "ws", "poll"])
        self.stream.setCurrentText(ccxt_cfg.stream if ccxt_cfg else "auto")
        self.sandbox = QCheckBox("Sandbox / testnet")
        self.sandbox.setChecked(bool(ccxt_cfg and ccxt_cfg.sandbox))
        self.paper = QCheckBox("Paper trading (no keys)")
        self.paper.setToolTip(PAPER_NOTE)
        self.paper.setChecked(bool(ccxt_cfg and ccxt_cfg.paper))
        self.paper.setEnabled(existing is None)  # a saved venue stays what it is: Connect… another to change
        self.paper_balances = QLineEdit(", ".join(f"{c} {v:g}" for c, v in (
            ccxt_cfg.paper_balances if ccxt_cfg else {"USDT": 10_000.0}).items()))
        self.paper_balances.setPlaceholderText("e.g. USDT 10000, BTC 0.5")
        self.paper_note = QLabel(PAPER_NOTE)
        self.paper_note.setWordWrap(True)
        self.options = QPlainTextEdit(json.dumps(ccxt_cfg.ccxt, indent=2) if ccxt_cfg and ccxt_cfg.ccxt
                                      else "{}")
        self.options.setPlaceholderText('ccxt options, e.g. {"timeout": 10000, '
                                        '"options": {"recvWindow": 5000}}')
        self.api_key = QLineEdit()
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_state = QLabel()
        self.key_state.setWordWrap(True)  # it names the keys' file: a long profile path must not widen the dialog
        self._show_key_state(None if ccxt_cfg is not None and ccxt_cfg.paper else venue)  # paper: none to read
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {DOWN.name()}")
        form = QFormLayout()
        self.form = form
        form.addRow("Name", self.name)
        form.addRow("Exchange (ccxt id) or akshare", self.exchange)
        form.addRow("", self.akshare_note)
        form.addRow("Symbols", self.symbols)
        form.addRow("Quote every", self.interval)
        form.addRow("Market data", self.stream)
        form.addRow("", self.sandbox)
        form.addRow("", self.paper)
        form.addRow("", self.paper_note)
        form.addRow("Paper balances", self.paper_balances)
        form.addRow("ccxt options (JSON)", self.options)
        form.addRow("API key", self.api_key)
        form.addRow("API secret", self.secret)
        form.addRow("Password (if any)", self.password)
        form.addRow("", self.key_state)
        buttons = QDialogButtonBox()
        verb = "Save" if existing is not None and not existing.enabled else "Save && connect"
        self.connect_button = buttons.addButton(verb, QDialogButtonBox.ButtonRole.AcceptRole)
        self.forget_button = buttons.addButton("Forget keys", QDialogButtonBox.ButtonRole.ResetRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save_and_connect)
        buttons.rejected.connect(self.reject)
        self.forget_button.clicked.connect(self.forget)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._kind = ""
        self.exchange.currentTextChanged.connect(self._show_kind)
        self.paper.toggled.connect(self._paper_toggled)
        self._show_kind(self.exchange.currentText())
        self.resize(560, 520)

    def is_akshare(self) -> bool:
        return self.exchange.currentText().strip().lower() == AKSHARE

    def _show_kind(self, _text: str = "") -> None:
        """akshare shows its symbols, quote interval and what it is (paper trading); a ccxt exchange its
        stream, sandbox, options and keys."""
        akshare = self.is_akshare()
        kind = AKSHARE if akshare else "ccxt"
        for widget in (self.akshare_note, self.interval):
            self.form.setRowVisible(widget, akshare)
        paper = not akshare and self.paper.isChecked()
        for widget in (self.stream, self.sandbox, self.options, self.paper):
            self.form.setRowVisible(widget, not akshare)
        for widget in (self.paper_note, self.paper_balances):
            self.form.setRowVisible(widget, paper)
        for widget in (self.api_key, self.secret, self.password, self.key_state):
            self.form.setRowVisible(widget, not akshare and not paper)
        self.forget_button.setVisible(not akshare and not paper)
        if kind != self._kind and self.existing is None:  # a fresh choice: examples of its symbols
            if self._kind:
                self.symbols.setText("600519.SH, 000001.SZ" if akshare else "BTC/USDT")
            if akshare and not self.name.text().strip():
                self.name.setText(AKSHARE)
            elif not akshare and self.name.text().strip() == AKSHARE:
                self.name.clear()
        self._kind = kind
        self.symbols.setPlaceholderText("A-share codes, e.g. 600519.SH, 000001.SZ" if akshare
                                        else "unified ccxt symbols, e.g. BTC/USDT, ETH/USDT")

    def _paper_toggled(self, paper: bool) -> None:
        """Paper trading: no key fields; a new venue is named after its exchange with "-paper"."""
        exchange = self.exchange.currentText().strip().lower()
        name = self.name.text().strip().lower()
        if self.existing is None and paper and name in ("", exchange):
            self.name.setText(f"{exchange}-paper")
        elif self.existing is None and not paper and name == f"{exchange}-paper":
            self.name.setText(exchange)
        self._show_kind()

    def _unlock(self) -> bool:
        return unlock(self, self._store)

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

    def config(self) -> VenueConfig:
        if self.is_akshare():
            return self._akshare_config()
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
        if name == "sim":
            raise VenueConfigError("'sim' is the simulated exchange's name: choose another name")
        raw = self.existing.model_dump() if self.existing is not None else {}
        raw.update({"name": name, "exchange": exchange, "symbols": symbols, "ccxt": options,
                    "sandbox": self.sandbox.isChecked(), "stream": self.stream.currentText(),
                    "paper": self.paper.isChecked()})
        if self.paper.isChecked():
            raw["paper_balances"] = parse_balances(self.paper_balances.text())
        return parse_config(raw, "venue config")

    def _akshare_config(self) -> VenueConfig:
        symbols = [s.strip().upper() for s in self.symbols.text().replace("，", ",").split(",") if s.strip()]
        if not symbols:
            raise VenueConfigError("Name at least one A-share, e.g. 600519.SH, 000001.SZ")
        name = self.name.text().strip().lower() or AKSHARE
        if name == "sim":
            raise VenueConfigError("'sim' is the simulated exchange's name: choose another name")
        if self.existing is not None and self.existing.kind != AKSHARE:
            raise VenueConfigError(f"{self.existing.name} is a ccxt venue: to trade A-shares, Connect… a new "
                                   f"venue and choose akshare")
        raw = self.existing.model_dump() if self.existing is not None else {}
        raw.update({"kind": AKSHARE, "name": name, "symbols": symbols,
                    "quote_interval_s": round(self.interval.value(), 1)})
        return parse_config(raw, "venue config")

    def save_and_connect(self) -> None:
        try:
            cfg = self.config()
        except VenueConfigError as exc:
            self.error.setText(str(exc))
            return
        if cfg.kind == AKSHARE or cfg.paper:  # no keys: nothing reaches a broker or the exchange's orders
            self._save(cfg, None)
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
            elif not self._has_keys and (not self._store.needs_passphrase or self._unlock()):
                creds = self._store.get(cfg.name)
        except CredentialError as exc:
            self.error.setText(str(exc))
            return
        finally:
            for field in (self.api_key, self.secret, self.password):
                field.clear()
        self._save(cfg, creds)

    def _save(self, cfg: VenueConfig, creds: Credentials | None) -> None:
        save_config(self._port.profile, cfg)
        if not cfg.enabled:
            self.saved_text = f"{cfg.name} saved; it is disabled: Enable it to connect."
            self.accept()
            return
        self.saved_text = f"{cfg.name} saved: connecting."
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


def parse_balances(text: str) -> dict[str, float]:
    """"USDT 10000, BTC 0.5" (or "USDT=10000") -> {"USDT": 10000.0, "BTC": 0.5}."""
    out: dict[str, float] = {}
    for part in text.replace(";", ",").split(","):
        words = part.replace("=", " ").replace(":", " ").split()
        if not words:
            continue
        try:
            ccy, amount = words[0].upper(), float(words[1].replace("_", ""))
        except (IndexError, ValueError):
            raise VenueConfigError(f"Paper balances: {part.strip()!r} is not a currency and an amount; write "
                                   f"them as USDT 10000, BTC 0.5") from None
        if len(words) != 2 or not ccy.isalnum() or not amount >= 0 or amount == float("inf"):
            raise VenueConfigError(f"Paper balances: {part.strip()!r} is not a currency and an amount of at "
                                   f"least 0; write them as USDT 10000, BTC 0.5")
        out[ccy] = amount
    if not out:
        raise VenueConfigError("Paper balances: give at least one, e.g. USDT 10000")
    return out
