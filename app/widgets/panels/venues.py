"""Venues: a dock with each venue's connection and each feed's state (failover visible), the Connect dialog
per venue, and the reconciliation approval dialog. Views only: the model is ``VenueBoard`` (engine), the
actions are commands on the bus (``ConnectVenue``, ``DisconnectVenue``,
``ApproveReconciliation``), carried out by the engine's VenueManager.

The dock lists the sim and every saved venue, disabled ones too. A saved venue can be edited (the Connect
dialog, prefilled), disabled (disconnected now and not connected at start, until enabled) and removed (after
a confirmation that says what happens to its orders and keys); the sim is built in and can be neither.

Secrets typed into the Connect dialog go straight to the credential store; the fields are cleared after
saving and a stored key is shown only as "stored (…1234)".
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QDockWidget, QHBoxLayout, QLabel, QListWidget, QMessageBox, QPushButton, QTabWidget,
    QVBoxLayout, QWidget,
)

from app.engine.core.messages import CommandRefused
from app.engine.port import Port
from app.engine.venues.credentials import CredentialError, Credentials, CredentialStore
from app.engine.venues.events import ConnectVenue, DisconnectVenue
from app.engine.venues.venue_config import (
    VenueConfig, VenueConfigError, config_path, delete_config, list_configs, set_enabled,
)
from app.widgets.common import make_table, set_cell
from app.widgets.frame import BusSubscriptions
from app.widgets.panels.venue_dialogs import ConnectDialog, ReconcileDialog, unlock
from app.widgets.theme import DOWN, MUTED, UP

log = logging.getLogger("kestrel.ui.venues")
SIM = "sim"
SIM_FIXED = ("The simulated exchange is built in: it cannot be {what}. It is Kestrel's offline market; its "
             "settings (seed, latency) are in the profile's settings.json.")

ACTIVE = "●"


class VenuesWidget(QWidget):
    """Venues (connection state; the sim and every saved venue, disabled ones too), feeds per symbol (state,
    active feed), recent venue errors; Connect, Edit, Disable/Enable and Remove act on the selected venue."""

    def __init__(self, port: Port, open_connect: Callable[[str | None], None],
                 open_reconcile: Callable[[str], None], store: CredentialStore | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port, self.board = port, port.venues.board
        self._store = store
        self._subs = BusSubscriptions()
        self._subs.add(port.subscribe(CommandRefused, self._on_refused))
        self.destroyed.connect(self._subs.clear)
        self._seen: tuple[int, int] | None = None
        self._configs: dict[str, VenueConfig] = {}
        self._configs_version = 0
        self.names: list[str] = []
        self._selected = ""
        self._shown_proposals: set[int] = set()
        self._open_connect = open_connect
        self._open_reconcile = open_reconcile
        self.confirm_box: QMessageBox | None = None
        self.venues = make_table(["Venue", "State", "Detail"])
        self.feeds = make_table(["Symbol", "Feed", "Channel", "State", "Active", "Detail"])
        self.errors = QListWidget()
        tabs = QTabWidget()
        tabs.addTab(self.feeds, "Feeds")
        tabs.addTab(self.errors, "Errors")
        self.connect_button = QPushButton("Connect…")
        self.connect_button.clicked.connect(lambda: open_connect(None))
        self.edit_button = QPushButton("Edit…")
        self.edit_button.clicked.connect(self.edit_selected)
        self.enable_button = QPushButton("Disable")
        self.enable_button.clicked.connect(self.toggle_selected)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        self.review_button = QPushButton("Review reconciliation…")
        self.review_button.setEnabled(False)
        self.review_button.clicked.connect(self._review_first)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.hide()
        buttons = QHBoxLayout()
        for b in (self.connect_button, self.edit_button, self.enable_button, self.remove_button,
                  self.review_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.venues, 1)
        layout.addWidget(tabs, 2)
        self.venues.cellDoubleClicked.connect(lambda row, _c: self._edit(self.names[row]))
        self.venues.itemSelectionChanged.connect(self._selection_changed)
        self.reload_configs()

    # ------------------------------------------------------------------------------------------ model
    def reload_configs(self) -> None:
        """Re-read the saved venues (after Connect, Edit, Disable, Enable, Remove)."""
        self._configs = {c.name: c for c in list_configs(self._port.profile)}
        self._configs_version += 1

    def saved(self, text: str) -> None:
        """The Connect dialog saved a venue."""
        self.reload_configs()
        self._selection_changed()
        self._say(text)

    def selected(self) -> str | None:
        rows = self.venues.selectionModel().selectedRows()
        return self.names[rows[0].row()] if rows and rows[0].row() < len(self.names) else None

    def select(self, venue: str) -> None:
        self.refresh()
        if venue in self.names:
            self.venues.selectRow(self.names.index(venue))

    def row_of(self, venue: str) -> tuple[str, str] | None:
        """(state, detail) shown for ``venue``, or None when it is not listed."""
        if venue not in self.names:
            return None
        r = self.names.index(venue)
        return self.venues.item(r, 1).text(), self.venues.item(r, 2).text()

    def _status(self, venue: str):
        return self.board.venues.get(venue) or self._port.venues.status.get(venue)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {DOWN.name()}" if error else "")
        self.message.setVisible(bool(text))

    def _selection_changed(self) -> None:
        name = self.selected()
        if name:
            self._selected = name
        cfg = self._configs.get(name or "")
        self.enable_button.setText("Enable" if cfg is not None and not cfg.enabled else "Disable")

    # ---------------------------------------------------------------------------------------- actions
    def _review_first(self) -> None:
        if self.board.pending:
            self._open_reconcile(next(iter(self.board.pending)))

    def _need_selection(self) -> str | None:
        name = self.selected()
        if not name:
            self._say("Select a venue first.", error=True)
        return name

    def edit_selected(self) -> None:
        name = self._need_selection()
        if name:
            self._edit(name)

    def _edit(self, name: str) -> None:
        if name == SIM:
            self._say(SIM_FIXED.format(what="edited here"), error=True)
            return
        self._open_connect(name)

    def toggle_selected(self) -> None:
        name = self._need_selection()
        if not name:
            return
        if name == SIM:
            self._say(SIM_FIXED.format(what="disabled"), error=True)
            return
        cfg = self._configs.get(name)
        if cfg is None:
            self._say(f"{name} has no saved settings in this profile: Connect… it to save them.", error=True)
        elif cfg.enabled:
            working = self._working(name)
            if not working:
                self.disable(name)
                return
            self._confirm(f"Disable {name}?",
                          f"Disabling disconnects {name} now and it stays disconnected, at start too, until "
                          f"you enable it. {_orders_fate(name, len(working))} Its settings and keys are "
                          f"kept.",
                          "Disable", lambda _keys: self.disable(name))
        else:
            self.enable(name)

    def disable(self, name: str) -> None:
        try:
            set_enabled(self._port.profile, name, False)
        except VenueConfigError as exc:
            self._say(str(exc), error=True)
            return
        self.reload_configs()
        self._selection_changed()
        self._port.send(DisconnectVenue(name, ts=self._port.now_ms()))
        self._say(f"{name} disabled: disconnected, and not connected at start until you enable it.")

    def enable(self, name: str) -> None:
        from app.engine.venues.manager import stored_credentials

        try:
            cfg = set_enabled(self._port.profile, name, True)
        except VenueConfigError as exc:
            self._say(str(exc), error=True)
            return
        self.reload_configs()
        self._selection_changed()
        self._port.send(ConnectVenue(cfg, stored_credentials(self._port.profile, name), ts=self._port.now_ms()))
        self._say(f"{name} enabled: connecting.")

    def remove_selected(self) -> None:
        name = self._need_selection()
        if not name:
            return
        if name == SIM:
            self._say(SIM_FIXED.format(what="removed"), error=True)
            return
        if name not in self._configs:
            self._say(f"{name} has no saved settings in this profile: nothing to remove.", error=True)
            return
        where = self._store.describe() if self._store is not None else "credential store"
        settings = config_path(self._port.profile, name).name
        cfg = self._configs[name]
        keyless = cfg.kind == "akshare" or getattr(cfg, "paper", False)  # paper trading: it never had keys
        self._confirm(f"Remove {name}?",
                      f"Remove {name}? Kestrel disconnects it and deletes its settings ({settings}). "
                      f"{_orders_fate(name, len(self._working(name)))} Its order and fill history stays in "
                      f"the journal.",
                      "Remove", lambda keys: self.remove(name, delete_keys=keys),
                      keys_box="" if keyless else f"Also delete its API keys from the {where}")

    def remove(self, name: str, delete_keys: bool) -> None:
        try:
            delete_config(self._port.profile, name)
        except VenueConfigError as exc:
            self._say(str(exc), error=True)
            return
        self._port.send(DisconnectVenue(name, ts=self._port.now_ms()))
        keys = ""
        if delete_keys and self._store is not None:
            try:
                if unlock(self, self._store):
                    had = self._store.delete(name)
                    keys = " Its keys were deleted." if had else " It had no keys stored."
                else:
                    keys = " Its keys were kept (the credentials file needs its passphrase)."
            except CredentialError as exc:
                keys = f" Its keys were not deleted: {exc}"
        self.reload_configs()
        self._say(f"{name} removed.{keys}")

    def _working(self, venue: str) -> list:
        return [o for o in self._port.orders.working() if o.venue == venue]

    def _confirm(self, title: str, text: str, verb: str, then: Callable[[bool], None],
                 keys_box: str = "") -> None:
        """Ask first (window-modal, not a nested event loop); ``then(keys_checked)`` on the trader's yes."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, self)
        yes = box.addButton(verb, QMessageBox.ButtonRole.DestructiveRole)
        if keys_box:
            check = QCheckBox(keys_box, box)  # parented: the box does not take ownership of it
            check.setChecked(True)
            box.setCheckBox(check)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def done(_result: int) -> None:
            if box.clickedButton() is yes:
                then(bool(box.checkBox() and box.checkBox().isChecked()))
        box.finished.connect(done)
        self.confirm_box = box
        box.open()

    def connect_venue(self, cfg: VenueConfig, creds: Credentials | None) -> None:
        """New keys or settings (the Connect dialog): (re)connect; ``creds`` None keeps the keys it has."""
        self._port.send(ConnectVenue(cfg, creds, ts=self._port.now_ms()))

    def _on_refused(self, refused: CommandRefused) -> None:
        """A connect or disconnect failed (it runs on the loop, after ``send`` returned): say so here."""
        if refused.command in ("ConnectVenue", "DisconnectVenue"):
            self._say(refused.reason, error=True)

    # ---------------------------------------------------------------------------------------- drawing
    def refresh(self) -> None:
        b = self.board
        version = (b.version, self._configs_version)
        if version == self._seen:
            return
        self._seen = version
        cfgs = self._configs
        names = sorted({SIM, *b.venues, *self._port.venues.status, *cfgs}, key=lambda n: (n != SIM, n))
        if names != self.names:
            self.names = names
            self.venues.setRowCount(len(names))
        for i, name in enumerate(names):
            status, cfg = self._status(name), cfgs.get(name)
            if name in b.pending:
                state, color = "APPROVE", DOWN
            elif cfg is not None and not cfg.enabled:
                state, color = "disabled", MUTED
            else:
                state, color = _state(status)
            if cfg is not None and not cfg.enabled:
                detail = "off until you enable it (settings and keys kept)"
            elif status is not None:
                detail = status.message
            else:
                detail = "not started" if cfg is None or cfg.autoconnect else "connects when you ask (Edit…)"
            set_cell(self.venues, i, 0, name, align_right=False)
            set_cell(self.venues, i, 1, state, color, align_right=False)
            set_cell(self.venues, i, 2, detail, align_right=False)
        if self._selected in names and self.selected() != self._selected:
            self.venues.selectRow(names.index(self._selected))  # the selection follows the venue, not a row
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


def _state(status: Any) -> tuple[str, Any]:
    """The State column: connected, or what the venue says it is doing ("loading akshare…", "stale: every
    source failing…", "down: …": the word before the colon), else not connected."""
    if status is not None and status.connected:
        return "connected", UP
    word = (status.message.split(":", 1)[0].split(" ", 1)[0] if status is not None else "").lower()
    if word in ("loading", "stale", "down"):
        return word, MUTED if word == "loading" else DOWN
    return "not connected", MUTED


def _orders_fate(venue: str, working: int) -> str:
    if not working:
        return f"Kestrel has no working orders on {venue}."
    orders = "order stays" if working == 1 else "orders stay"
    return (f"Its {working} working {orders} open at {venue} and in the journal: Kestrel does not cancel "
            f"them and stops watching them (cancel them first if you do not want them filled).")


def _hhmmss(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts / 1000).strftime("%H:%M:%S") if ts else "--:--:--"


def install_venue_ui(window: Any, port: Port) -> VenuesWidget:
    """Add the Venues dock and menu to the main window (additive: the window's own code is untouched)."""
    store = CredentialStore(port.profile)
    widget: VenuesWidget

    def open_connect(venue: str | None) -> None:
        dialog = ConnectDialog(port, store, widget.connect_venue, venue, window,
                               has_keys=bool(venue and port.venues.has_keys(venue)))
        dialog.accepted.connect(lambda: widget.saved(dialog.saved_text))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.open()

    def open_reconcile(venue: str) -> None:
        ReconcileDialog(port, port.venues.board, venue, window).open()

    widget = VenuesWidget(port, open_connect, open_reconcile, store)
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
    window.venue_board = port.venues.board
    return widget
