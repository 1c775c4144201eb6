"""Strategy manager dock: plugins, instances, parameters, start/stop/reload, per-strategy PnL, orders, log
and kill switch. A view over the engine's strategies read model (``Port.strategies``); every action is a
command on the bus (``LoadStrategy``, ``StartStrategy``, ``StopStrategy``, ``ReloadPlugin``, ``RemoveStrategy``,
``SetStrategyParams``, ``RescanPlugins``, ``HaltStrategy``). It repaints at frame rate when the version moves."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QInputDialog, QLabel, QMessageBox, QPlainTextEdit, QPushButton, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from app.engine.core.messages import (
    CommandRefused, HaltStrategy, LoadStrategy, ReloadPlugin, RemoveStrategy, RescanPlugins, SetStrategyParams,
    StartStrategy, StopStrategy,
)
from app.engine.port import Port
from app.engine.strategy.params import declared_params
from app.engine.strategy.runner import StrategyStatus
from app.widgets.common import fmt, make_table, set_cell
from app.widgets.theme import DOWN, KILL_BG, KILL_TEXT, MUTED, UP, css_color

HEADERS = ["Instance", "Plugin", "Symbol", "Status", "PnL", "Position", "Orders", "Fills", "Denied", "Note"]
LOG_HZ = 5.0
STATUS_COLOR = {StrategyStatus.RUNNING: UP, StrategyStatus.FAULTED: DOWN, StrategyStatus.STOPPED: MUTED}


class StrategyManagerWidget(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self.strategies = port.strategies
        self._seen = -1
        self._log_seen, self._log_shown = -1, 0.0
        self._selected_params_for = ""

        # tabs, not a splitter: the dock is often short (tabbed beside others at the bottom of the window)
        self.details = QTabWidget()
        self.details.addTab(self._instances_tab(), "Instances")
        self.details.addTab(self._parameters_tab(), "Parameters")
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(500)
        self.details.addTab(self.log_view, "Log")
        for w in (self.table, self.params, self.log_view, self.details):
            w.setMinimumHeight(0)
        self.setMinimumHeight(140)  # explicit: the layout's summed minimum no longer sets the window's

        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.broken = QLabel("")
        self.broken.setWordWrap(True)
        self.broken.setStyleSheet(css_color(DOWN))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.details, 1)
        layout.addWidget(self.message)  # below the tabs: seen from Parameters too
        layout.addWidget(self.broken)

        self._connect_actions()
        self._fill_plugins()
        self.refresh()

    def _instances_tab(self) -> QWidget:
        """The plugin chooser, the instances table and the buttons acting on the selected instance."""
        self.plugin_box = QComboBox()
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Add an instance of the chosen plugin (stopped, default parameters)")
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setToolTip("Look for new or fixed plugins in the plugin folders")
        top = QHBoxLayout()
        top.addWidget(QLabel("Plugin"))
        top.addWidget(self.plugin_box, 1)
        top.addWidget(self.load_button)
        top.addWidget(self.rescan_button)

        self.table = make_table(HEADERS)
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Re-import the plugin's file; positions and saved state carry over")
        self.kill_button = QPushButton("Kill")
        self.kill_button.setToolTip("Per-strategy kill switch: HALT it, cancel its orders (asks for a reason)")
        self.kill_button.setObjectName("strategyKillButton")
        self.kill_button.setStyleSheet(f"QPushButton#strategyKillButton {{ color: {KILL_TEXT.name()}; "
                                       f"background: {KILL_BG.name()}; }}")
        self.remove_button = QPushButton("Remove")
        self.backtest_button = QPushButton("Backtest…")
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.reload_button, self.kill_button, self.remove_button,
                  self.backtest_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addLayout(top)
        ul.addWidget(self.table, 1)
        ul.addLayout(buttons)
        return upper

    def _parameters_tab(self) -> QWidget:
        """The selected instance's parameters (editable values, their bounds) and Apply."""
        self.params = QTableWidget(0, 3)
        self.params.setHorizontalHeaderLabels(["Parameter", "Value", "Allowed"])
        self.params.verticalHeader().setVisible(False)
        self.params.horizontalHeader().setStretchLastSection(True)
        self.apply_button = QPushButton("Apply parameters")
        pbox = QWidget()
        pl = QVBoxLayout(pbox)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.params, 1)
        pl.addWidget(self.apply_button)
        return pbox

    def _connect_actions(self) -> None:
        self.load_button.clicked.connect(self.load_selected_plugin)
        self.rescan_button.clicked.connect(self.rescan)
        self.start_button.clicked.connect(lambda: self._act(StartStrategy, "started"))
        self.stop_button.clicked.connect(lambda: self._act(StopStrategy, "stopped"))
        self.reload_button.clicked.connect(self.reload_selected)
        self.kill_button.clicked.connect(lambda: self.kill_selected())  # not clicked(checked) as the reason
        self.remove_button.clicked.connect(self.remove_selected)
        self.apply_button.clicked.connect(self.apply_params)
        self.backtest_button.clicked.connect(self.open_backtest)
        self.table.itemSelectionChanged.connect(self._selection_changed)

    # ----------------------------------------------------------------------------------------- helpers
    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item else None

    def select(self, instance: str) -> None:
        self.refresh()
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0) and self.table.item(row, 0).text() == instance:
                self.table.selectRow(row)
                return

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(css_color(DOWN if error else MUTED))

    def _fill_plugins(self) -> None:
        current = self.plugin_box.currentText()
        self.plugin_box.clear()
        for info in self.strategies.plugins:
            if info.ok:
                self.plugin_box.addItem(info.name)
        if current:
            self.plugin_box.setCurrentText(current)
        broken = [i for i in self.strategies.plugins if not i.ok]
        self.broken.setText("\n".join(f"Plugin {i.name} ({i.origin}) not loaded: {i.error}" for i in broken)
                            + "".join(f"\nSaved instance {o.get('instance')} not restored: {o['error']}"
                                      for o in self.strategies.orphans))

    # ----------------------------------------------------------------------------------------- actions
    def load_selected_plugin(self) -> None:
        name = self.plugin_box.currentText()
        if not name:
            return
        answer = self._port.send(LoadStrategy(name, {"symbol": self._chart_symbol()}, ts=self._port.now_ms()))
        if isinstance(answer, CommandRefused):
            self._say(answer.reason, error=True)
            return
        instance = answer.detail
        self.refresh()
        self.select(instance)
        self._say(f"Loaded {instance}. Check its parameters, then Start.")

    def _chart_symbol(self) -> str:
        window = self.window()
        chart = getattr(window, "chart", None)
        return getattr(chart, "symbol", None) or next(iter(self._port.instruments))

    def rescan(self) -> None:
        answer = self._port.send(RescanPlugins(ts=self._port.now_ms()))
        self._fill_plugins()
        self._say(answer.detail if answer is not None else "")

    def _act(self, command: type, verb: str) -> None:
        name = self.selected()
        if not name:
            self._say("Select a strategy first.", error=True)
            return
        answer = self._port.send(command(name, ts=self._port.now_ms()))
        if isinstance(answer, CommandRefused):
            self._say(answer.reason, error=True)
        else:
            self._say(f"{name} {verb}")
        self.refresh()

    def reload_selected(self) -> None:
        name = self.selected()
        if not name:
            self._say("Select a strategy first.", error=True)
            return
        answer = self._port.send(ReloadPlugin(self.strategies.runners[name].plugin, ts=self._port.now_ms()))
        self._say(answer.reason if isinstance(answer, CommandRefused) else answer.detail,
                  error=isinstance(answer, CommandRefused))
        self.refresh()

    def kill_selected(self, reason: str | None = None) -> None:
        """The per-strategy kill switch; without ``reason`` a dialog asks why (window-modal)."""
        name = self.selected()
        if not name:
            self._say("Select a strategy first.", error=True)
            return
        if reason is not None:
            self._kill(name, reason)
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle(f"Kill strategy {name}")
        dialog.setLabelText("Why? (halts it, cancels its orders; logged and audited)")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.textValueSelected.connect(lambda text: self._kill(name, text))
        dialog.open()

    def _kill(self, name: str, reason: str) -> None:
        if not reason.strip():
            self._say(f"{name} was not killed: give a reason (it is logged and audited).", error=True)
            return
        self._port.send(HaltStrategy(name, reason.strip(), "manual", ts=self._port.now_ms()))
        self._say(f"{name} HALTED: {reason.strip()}")
        self.refresh()

    def remove_selected(self) -> None:
        name = self.selected()
        if not name:
            self._say("Select a strategy first.", error=True)
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Remove strategy",
                          f"Remove {name}? Its orders are canceled.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        yes = box.button(QMessageBox.StandardButton.Yes)
        box.finished.connect(lambda _r: self._remove(name) if box.clickedButton() is yes else None)
        box.open()

    def _remove(self, name: str) -> None:
        if name in self.strategies.runners:
            self._port.send(RemoveStrategy(name, ts=self._port.now_ms()))
            self._say(f"{name} removed")
        self.refresh()

    def apply_params(self) -> None:
        name = self.selected()
        if not name:
            return
        values = {}
        for row in range(self.params.rowCount()):
            key = self.params.item(row, 0).text()
            values[key] = self.params.item(row, 1).text()
        answer = self._port.send(SetStrategyParams(name, values, ts=self._port.now_ms()))
        if isinstance(answer, CommandRefused):
            self._say(answer.reason, error=True)
            return
        self._selected_params_for = ""
        self._show_params(name)
        self._say(f"{name}: parameters saved")

    def open_backtest(self) -> None:
        from app.widgets.panels.backtest_dialog import BacktestDialog

        name = self.selected()
        runner = self.strategies.runners.get(name) if name else None
        plugin = runner.plugin if runner else self.plugin_box.currentText()
        params = dict(runner.params) if runner else {}
        # a top-level window of its own (closing the main window closes it through ``destroyed``)
        dialog = BacktestDialog(self.strategies, plugin, params, bar_store=self._port.bar_store,
                                profile_db=str(self._port.profile / "kestrel.db"))
        self.destroyed.connect(dialog.close)
        dialog.show()
        self._dialog = dialog

    # ----------------------------------------------------------------------------------------- drawing
    def _selection_changed(self) -> None:
        name = self.selected()
        if name:
            self._show_params(name)
            self._show_log(name)

    def _show_params(self, name: str) -> None:
        if self._selected_params_for == name:
            return
        self._selected_params_for = name
        runner = self.strategies.runners[name]
        decl = declared_params(runner.cls)
        self.params.setRowCount(len(decl))
        for row, (key, p) in enumerate(decl.items()):
            k = QTableWidgetItem(key)
            k.setFlags(k.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.params.setItem(row, 0, k)
            self.params.setItem(row, 1, QTableWidgetItem(str(runner.params.get(key, p.default))))
            bounds = (f"{p.kind.__name__}" + (f" ≥ {p.lo:g}" if p.lo is not None else "")
                      + (f" ≤ {p.hi:g}" if p.hi is not None else "")
                      + (f" in {list(p.choices)}" if p.choices else ""))
            b = QTableWidgetItem(bounds + (f" — {p.doc}" if p.doc else ""))
            b.setFlags(b.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.params.setItem(row, 2, b)

    def _follow_log(self) -> None:
        """New lines of the selected strategy's log, at most ``LOG_HZ`` times a second (a running strategy
        logs without moving the manager's version)."""
        name = self.selected()
        runner = self.strategies.runners.get(name) if name else None
        now = time.monotonic()
        if runner is None or runner.version == self._log_seen or now - self._log_shown < 1.0 / LOG_HZ:
            return
        self._log_seen, self._log_shown = runner.version, now
        self._show_log(name)

    def _show_log(self, name: str) -> None:
        runner = self.strategies.runners.get(name)
        text = "\n".join(runner.log_lines) if runner else ""
        if self.log_view.toPlainText() != text:
            self.log_view.setPlainText(text)
            self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())

    def refresh(self) -> None:
        self._follow_log()
        version = self.strategies.version + self._port.portfolio.version
        if version == self._seen:
            return
        self._seen = version
        runners = list(self.strategies.runners.values())
        if self.table.rowCount() != len(runners):
            self.table.setRowCount(len(runners))
        mark = self._port.strategies.last_price
        changed = self.strategies.changed
        for row, r in enumerate(runners):
            pnl = r.pnl(mark)
            pos = sum(b.quantity for b in r.books.values() if b.symbol == r.symbol)
            risk_state = self._port.risk.strategy_states.get(r.instance, (None, ""))[0]
            note = r.reason
            if r.plugin in changed:
                note = "file changed on disk: Reload" + (f"; {note}" if note else "")
            if risk_state is not None and risk_state.value != "ACTIVE":
                note = f"risk: {risk_state.value}" + (f"; {note}" if note else "")
            set_cell(self.table, row, 0, r.instance, align_right=False)
            set_cell(self.table, row, 1, r.plugin, align_right=False)
            set_cell(self.table, row, 2, r.symbol, align_right=False)
            set_cell(self.table, row, 3, r.status.value, STATUS_COLOR[r.status], align_right=False)
            set_cell(self.table, row, 4, fmt(pnl, 2), UP if pnl > 0 else DOWN if pnl < 0 else MUTED)
            set_cell(self.table, row, 5, fmt(pos, 6))
            set_cell(self.table, row, 6, str(r.orders_sent))
            set_cell(self.table, row, 7, str(r.fills))
            set_cell(self.table, row, 8, str(r.denials))
            set_cell(self.table, row, 9, note, DOWN if r.status is StrategyStatus.FAULTED else None,
                     align_right=False)
        name = self.selected()
        if name in self.strategies.runners:
            self._show_log(name)
        if self.plugin_box.count() != sum(i.ok for i in self.strategies.plugins):
            self._fill_plugins()
