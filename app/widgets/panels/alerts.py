"""Alerts: a dock with the trader's alert rules (new, edit, enable/disable, delete) and what they fired, with the
delivery of each firing; and the dialog that sets a rule. Views only: the rules are the engine's
(``Port.alerts``); every change is a ``SetAlert`` / ``RemoveAlert`` command, refused with its reason when the
engine will not take it (the dialog then stays open and says why)."""
from __future__ import annotations

import datetime as dt
from typing import Any

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QMessageBox,
    QPushButton, QSplitter, QVBoxLayout, QWidget,
)

from app.engine.alerts.rules import KINDS, TIMEFRAMES_MS, AlertRule
from app.engine.core.messages import AlertChannelsChanged, CommandRefused, RemoveAlert, SetAlert
from app.engine.port import Port
from app.widgets.common import make_table, parse_number, set_cell
from app.widgets.theme import DOWN, MUTED, UP, css_color

RULE_HEADERS = ["Id", "State", "Alert", "Mode", "Channels", "Note", "Last fired"]
HISTORY_HEADERS = ["Time", "Alert", "Message", "Delivery"]
KIND_LABELS = {
    "price_above": "Price crosses above", "price_below": "Price crosses below", "pct_move": "Price moves %",
    "indicator": "Indicator condition", "daily_pnl_below": "Daily PnL below", "drawdown_above": "Drawdown above %",
    "exposure_above": "Gross exposure above", "order_filled": "An order fills", "order_rejected": "An order is refused",
    "strategy_faulted": "A strategy faults", "venue_down": "A venue or feed goes down",
    "model_drift": "Model drift (PSI) above",
    "sentiment_above": "News sentiment above", "sentiment_below": "News sentiment below",
    "news_keyword": "News mentions a word",
}
#: which fields each kind uses (the dialog shows only those)
FIELDS = {
    "price_above": {"symbol", "level"}, "price_below": {"symbol", "level"}, "pct_move": {"symbol", "level", "window"},
    "indicator": {"symbol", "expr", "timeframe"}, "daily_pnl_below": {"level"}, "drawdown_above": {"level"},
    "exposure_above": {"level"}, "order_filled": {"symbol"}, "order_rejected": {"symbol"},
    "strategy_faulted": {"target"}, "venue_down": {"target"}, "model_drift": {"level", "target"},
    "sentiment_above": {"symbol", "level", "window"}, "sentiment_below": {"symbol", "level", "window"},
    "news_keyword": {"symbol", "expr"},
}


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M:%S") if ms else ""


class AlertDialog(QDialog):
    """Set a new alert, or change one: only the fields its kind uses are shown; a refusal is shown here."""

    def __init__(self, port: Port, rule: AlertRule | None = None, parent: QWidget | None = None,
                 symbol: str = "", level: float | None = None, kind: str = "price_above") -> None:
        super().__init__(parent)
        self._port, self._rule = port, rule
        self.setWindowTitle(f"Alert {rule.id}" if rule is not None and rule.id else "New alert")
        self.kind = QComboBox()
        self.kind.setObjectName("alertKind")
        for k in KINDS:
            self.kind.addItem(KIND_LABELS[k], k)
        self.symbol = QComboBox()
        self.symbol.setObjectName("alertSymbol")
        self.symbol.setEditable(True)
        self.symbol.addItems(sorted(port.instruments))
        self.level = QLineEdit()
        self.level.setObjectName("alertLevel")
        self.window_min = QLineEdit("5")
        self.window_min.setObjectName("alertWindow")
        self.expr = QLineEdit()
        self.expr.setObjectName("alertExpr")
        self.expr.setPlaceholderText("e.g. rsi(14) > 70, close crosses sma(200)")
        self.timeframe = QComboBox()
        self.timeframe.setObjectName("alertTimeframe")
        self.timeframe.addItems(list(TIMEFRAMES_MS))
        self.target = QLineEdit()
        self.target.setObjectName("alertTarget")
        self.target.setPlaceholderText("any")
        self.repeat = QCheckBox("Repeat")
        self.repeat.setObjectName("alertRepeat")
        self.cooldown = QLineEdit("60")
        self.cooldown.setObjectName("alertCooldown")
        self.expires = QLineEdit()
        self.expires.setObjectName("alertExpires")
        self.expires.setPlaceholderText("never; or hours from now, e.g. 8")
        self.note = QLineEdit()
        self.note.setObjectName("alertNote")
        self.channels = QLineEdit()
        self.channels.setObjectName("alertChannels")
        self.channels.setPlaceholderText("channel names, comma-separated (the window always shows it)")
        self.error = QLabel()
        self.error.setObjectName("alertError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(css_color(DOWN))
        form = QFormLayout()
        self._rows: dict[str, int] = {}
        for key, label, widget in (("kind", "When", self.kind), ("symbol", "Symbol", self.symbol),
                                   ("level", "Level", self.level), ("window", "Within (min)", self.window_min),
                                   ("expr", "Condition", self.expr), ("timeframe", "Timeframe", self.timeframe),
                                   ("target", "Only", self.target)):
            self._rows[key] = form.rowCount()
            form.addRow(label, widget)
        repeat_row = QHBoxLayout()
        repeat_row.addWidget(self.repeat)
        repeat_row.addWidget(QLabel("cool-down (s)"))
        repeat_row.addWidget(self.cooldown)
        form.addRow("", repeat_row)
        form.addRow("Expires in (h)", self.expires)
        form.addRow("Note", self.note)
        form.addRow("Channels", self.channels)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self._form = form
        self.kind.currentIndexChanged.connect(lambda _i: self._show_fields())
        self._fill(rule, symbol, level, kind)
        self._show_fields()

    def _fill(self, rule: AlertRule | None, symbol: str, level: float | None, kind: str) -> None:
        if rule is not None:
            kind, symbol, level = rule.kind, rule.symbol, rule.level
            self.window_min.setText(f"{rule.window_s / 60:g}" if rule.window_s else "5")
            self.expr.setText(rule.expr)
            if rule.timeframe:
                self.timeframe.setCurrentText(rule.timeframe)
            self.target.setText(rule.target)
            self.repeat.setChecked(rule.repeat)
            self.cooldown.setText(f"{rule.cooldown_s:g}")
            self.note.setText(rule.note)
            self.channels.setText(", ".join(rule.channels))
        self.kind.setCurrentIndex(max(self.kind.findData(kind), 0))
        if symbol:
            self.symbol.setCurrentText(symbol)
        if level is not None:
            self.level.setText(f"{level:.10g}")

    def _show_fields(self) -> None:
        kind = self.kind.currentData()
        used = FIELDS[kind]
        self.expr.setPlaceholderText("words, comma-separated, e.g. hack, exploit" if kind == "news_keyword" else
                                     "e.g. rsi(14) > 70, close crosses sma(200)")
        self.level.setPlaceholderText("a score from -1 to 1, e.g. -0.3" if kind.startswith("sentiment") else "")
        for key, row in self._rows.items():
            if key != "kind":
                self._form.setRowVisible(row, key in used)

    def rule(self) -> AlertRule | None:
        """The rule on the form, or None (the error label says what is wrong)."""
        kind = self.kind.currentData()
        used = FIELDS[kind]
        level = window = cooldown = None
        if "level" in used:
            level = parse_number(self.level.text())
            if level is None:
                self.error.setText(f"Level {self.level.text()!r} is not a number.")
                return None
        if "window" in used:
            window = parse_number(self.window_min.text())
            if window is None:
                self.error.setText(f"Within {self.window_min.text()!r} is not a number of minutes.")
                return None
        cooldown = parse_number(self.cooldown.text())
        if cooldown is None:
            self.error.setText(f"Cool-down {self.cooldown.text()!r} is not a number of seconds.")
            return None
        expires_ts = self._rule.expires_ts if self._rule is not None and not self.expires.text().strip() else 0
        if self.expires.text().strip():
            hours = parse_number(self.expires.text())
            if hours is None or not hours > 0:
                self.error.setText(f"Expires in {self.expires.text()!r}: a number of hours above 0, or empty "
                                   f"for never.")
                return None
            expires_ts = self._port.now_ms() + int(hours * 3_600_000)
        base = self._rule if self._rule is not None else AlertRule(kind)
        return base.with_(
            kind=kind, symbol=self.symbol.currentText().strip() if "symbol" in used else "", level=level,
            window_s=(window or 0.0) * 60.0, expr=self.expr.text().strip() if "expr" in used else "",
            timeframe=self.timeframe.currentText() if "timeframe" in used else "",
            target=self.target.text().strip() if "target" in used else "", repeat=self.repeat.isChecked(),
            cooldown_s=cooldown, note=self.note.text().strip(), expires_ts=expires_ts,
            channels=tuple(c.strip() for c in self.channels.text().split(",") if c.strip()),
            state="armed" if base.state in ("fired", "expired") else base.state)

    def submit(self) -> None:
        rule = self.rule()
        if rule is None:
            return
        answer = self._port.send(SetAlert(rule.to_dict(), "manual", self._port.now_ms()))
        if isinstance(answer, CommandRefused):
            self.error.setText(answer.reason)
            return
        self.set_id = answer.detail if answer is not None else ""
        self.accept()


class _Done(QObject):
    """Carries a worker thread's answer back to the UI thread (a queued signal)."""

    done = Signal(object, object)  # (what to call with the answer, the answer)


class ChannelsDialog(QDialog):
    """The notification channels: a name and an apprise URL each (Telegram, e-mail, Slack, ntfy, webhooks ...),
    kept in the OS keyring and shown masked; Add checks the URL, Test sends one notification, Remove forgets one.
    Every keyring call and every send runs on a thread: the window never waits for them."""

    def __init__(self, port: Port, parent: QWidget | None = None, store_factory: Any = None) -> None:
        super().__init__(parent)
        self._port = port
        if store_factory is None:
            def store_factory() -> Any:
                from app.engine.alerts.channels import ChannelStore

                return ChannelStore(port.profile)
        self._store = store_factory
        self.setWindowTitle("Alert channels")
        self.table = make_table(["Name", "Where"])
        self.table.setObjectName("channelsTable")
        self.name = QLineEdit()
        self.name.setObjectName("channelName")
        self.name.setPlaceholderText("e.g. phone")
        self.url = QLineEdit()
        self.url.setObjectName("channelUrl")
        self.url.setPlaceholderText("tgram://bottoken/ChatID, ntfy://topic, mailto://user:pass@gmail.com, json://host/path")
        self.add_button = QPushButton("Add")
        self.test_button = QPushButton("Test")
        self.remove_button = QPushButton("Remove")
        self.status = QLabel("reading the keyring…")
        self.status.setObjectName("channelsStatus")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("URL", self.url)
        row = QHBoxLayout()
        for b in (self.add_button, self.test_button, self.remove_button):
            row.addWidget(b)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addWidget(close)
        self._bridge = _Done()
        self._bridge.done.connect(lambda fn, answer: fn(answer))
        self.busy = 0
        self.add_button.clicked.connect(self._add)
        self.test_button.clicked.connect(self._test)
        self.remove_button.clicked.connect(self._remove)
        self._run(lambda: self._store().list(), self._listed)

    def _run(self, work: Any, then: Any) -> None:
        """``work()`` on a thread; ``then(result or the exception)`` back on the UI thread."""
        self.busy += 1

        def go() -> None:
            try:
                answer = work()
            except Exception as exc:  # noqa: BLE001 - said in the dialog
                answer = exc
            self._bridge.done.emit(self._finish(then), answer)

        threading.Thread(target=go, name="alert-channels-ui", daemon=True).start()

    def _finish(self, then: Any) -> Any:
        def call(answer: Any) -> None:
            self.busy -= 1
            then(answer)
        return call

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(css_color(DOWN if error else MUTED))

    def _listed(self, answer: Any) -> None:
        if isinstance(answer, Exception):
            self._say(f"The channels could not be read: {answer}", error=True)
            return
        self.table.setRowCount(len(answer))
        for i, (name, masked) in enumerate(answer):
            set_cell(self.table, i, 0, name, align_right=False)
            set_cell(self.table, i, 1, masked, align_right=False)
        self._say(f"{len(answer)} channel(s)." if answer else "No channels yet: add one (its URL is kept in the "
                                                              "keyring, never in a file).")

    def _selected(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else self.name.text().strip()

    def _add(self) -> None:
        name, url = self.name.text().strip(), self.url.text().strip()
        if not name or not url:
            self._say("A channel needs a name and a URL.", error=True)
            return

        def added(answer: Any) -> None:
            if isinstance(answer, Exception):
                self._say(f"Not added: {answer}", error=True)
                return
            self.url.clear()  # the URL holds the token: not left on screen
            self._port.send(AlertChannelsChanged("manual", self._port.now_ms()))
            self._say(f"Channel {name} added.")
            self._run(lambda: self._store().list(), lambda listed: (self._listed(listed),
                                                                    self._say(f"Channel {name} added.")))

        self._say(f"Checking {name}…")
        self._run(lambda: self._store().add(name, url), added)

    def _test(self) -> None:
        target = self.url.text().strip() or self._selected()
        if not target:
            self._say("Pick a channel (or type a URL) to test.", error=True)
            return
        from app.engine.alerts.delivery import test_channel

        self._say("Sending a test notification…")
        self._run(lambda: test_channel(target, self._port.profile),
                  lambda answer: self._say(str(answer), error=True) if isinstance(answer, Exception)
                  else self._say(answer[1], error=not answer[0]))

    def _remove(self) -> None:
        name = self._selected()
        if not name:
            self._say("Pick a channel to remove.", error=True)
            return

        def removed(answer: Any) -> None:
            if isinstance(answer, Exception) or not answer:
                self._say(f"{name} was not removed: {answer or 'no such channel'}", error=True)
                return
            self._port.send(AlertChannelsChanged("manual", self._port.now_ms()))
            self._run(lambda: self._store().list(), lambda listed: (self._listed(listed),
                                                                    self._say(f"Channel {name} removed.")))

        self._run(lambda: self._store().remove(name), removed)


class AlertsPanel(QWidget):
    """The rules (New…, Edit…, Disable/Enable, Delete act on the selected one) above what they fired."""

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._seen = -1
        self.dialog: AlertDialog | None = None
        self.current_symbol = lambda: ""  # the symbol New… starts with (the window: its chart's)
        self.rules = make_table(RULE_HEADERS)
        self.rules.setObjectName("alertRules")
        self.history = make_table(HISTORY_HEADERS)
        self.history.setObjectName("alertHistory")
        fit, stretch = QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch
        for table, wide in ((self.rules, RULE_HEADERS.index("Alert")),
                            (self.history, HISTORY_HEADERS.index("Message"))):
            header = table.horizontalHeader()
            for c in range(table.columnCount()):
                header.setSectionResizeMode(c, stretch if c == wide else fit)
        self.new_button = QPushButton("New…")
        self.edit_button = QPushButton("Edit…")
        self.toggle_button = QPushButton("Disable")
        self.delete_button = QPushButton("Delete")
        self.channels_button = QPushButton("Channels…")
        self.channels_button.setToolTip("where alerts are sent besides this window: Telegram, e-mail, Slack, ntfy, "
                                        "webhooks …, each testable")
        self.channels_dialog: ChannelsDialog | None = None
        self.message = QLabel()
        self.message.setObjectName("alertsMessage")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.new_button, self.edit_button, self.toggle_button, self.delete_button, self.channels_button):
            buttons.addWidget(b)
        buttons.addWidget(self.message, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.rules)
        split.addWidget(self.history)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(buttons)
        lay.addWidget(split, 1)
        self.new_button.clicked.connect(lambda: self.open_dialog())
        self.edit_button.clicked.connect(self._edit)
        self.toggle_button.clicked.connect(self._toggle)
        self.delete_button.clicked.connect(self._delete)
        self.channels_button.clicked.connect(lambda: self.open_channels())
        self.rules.itemSelectionChanged.connect(self._sync_buttons)
        self._sync_buttons()

    # ------------------------------------------------------------------------------------------ actions
    def selected(self) -> AlertRule | None:
        rows = self.rules.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.rules.item(rows[0].row(), 0)
        return self._port.alerts.get(item.text()) if item is not None else None

    def open_dialog(self, rule: AlertRule | None = None, **preset: Any) -> AlertDialog:
        if rule is None and not preset.get("symbol"):
            symbol = self.current_symbol()
            st = self._port.market.get(symbol) if symbol else None
            preset = {**preset, "symbol": symbol, "level": preset.get("level") or (st.last if st else None)}
        self.dialog = AlertDialog(self._port, rule, self, **preset)
        self.dialog.accepted.connect(self._set_said)
        self.dialog.open()
        return self.dialog

    def open_channels(self, store_factory: Any = None) -> ChannelsDialog:
        self.channels_dialog = ChannelsDialog(self._port, self, store_factory)
        self.channels_dialog.open()
        return self.channels_dialog

    def _set_said(self) -> None:
        rid = getattr(self.dialog, "set_id", "")
        note = self._port.alerts.note(rid)
        self._say(f"Alert {rid} set." + (f" {note}" if note else ""))

    def _edit(self) -> None:
        rule = self.selected()
        if rule is not None:
            self.open_dialog(rule)

    def _toggle(self) -> None:
        rule = self.selected()
        if rule is None:
            return
        state = "disabled" if rule.state == "armed" else "armed"
        answer = self._port.send(SetAlert(rule.with_(state=state).to_dict(), "manual", self._port.now_ms()))
        if isinstance(answer, CommandRefused):
            self._say(answer.reason, error=True)
        else:
            self._say(f"Alert {rule.id} {'disabled' if state == 'disabled' else 'armed'}.")

    def _delete(self) -> None:
        """Delete the selected rule, once the trader confirms it in a box (not modal to the loop: the market
        keeps running while it is open)."""
        rule = self.selected()
        if rule is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Delete alert",
                          f"Delete alert {rule.id} ({rule.describe()})? Its history stays.",
                          QMessageBox.StandardButton.Cancel, self)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.buttonClicked.connect(lambda button: self._delete_confirmed(rule.id) if button is delete else None)
        self.confirm = box
        box.open()

    def _delete_confirmed(self, rule_id: str) -> None:
        answer = self._port.send(RemoveAlert(rule_id, "manual", self._port.now_ms()))
        if isinstance(answer, CommandRefused):
            self._say(answer.reason, error=True)
        else:
            self._say(f"Alert {rule_id} deleted.")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(css_color(DOWN if error else MUTED))

    def _sync_buttons(self) -> None:
        rule = self.selected()
        for b in (self.edit_button, self.toggle_button, self.delete_button):
            b.setEnabled(rule is not None)
        self.toggle_button.setText("Disable" if rule is None or rule.state == "armed" else "Arm")

    # ------------------------------------------------------------------------------------------ refresh
    def refresh(self) -> None:
        view = self._port.alerts
        if view.version == self._seen:
            return
        self._seen = view.version
        selected = self.selected()
        rules = view.rules()
        history = view.history(200)
        last = {}
        for h in history:
            last.setdefault(h["rule_id"], h)
        t = self.rules
        t.setRowCount(len(rules))
        for i, r in enumerate(rules):
            color = UP if r.state == "armed" else MUTED
            fired = last.get(r.id)
            mode = f"repeat, {r.cooldown:g} s" if r.repeat else "once"
            if r.expires_ts:
                mode += f", until {_time(r.expires_ts)}"
            for c, text in enumerate((r.id, r.state, r.describe(), mode, ", ".join(r.channels) or "window", r.note,
                                      _time(fired["ts"]) if fired else "")):
                set_cell(t, i, c, text, color if c == 1 else None, align_right=c == 0)
            if selected is not None and r.id == selected.id:
                t.selectRow(i)
        h = self.history
        h.setRowCount(len(history))
        for i, row in enumerate(history):
            delivery = ", ".join(f"{k}: {v}" for k, v in row["delivery"].items()) or "window"
            for c, text in enumerate((_time(row["ts"]), f"{row['rule_id']}: {row['title']}", row["message"],
                                      delivery)):
                set_cell(h, i, c, text, align_right=False)
        self._sync_buttons()
