"""Several charts at once: the Chart menu, extra chart docks, and what each chart shows across restarts.

The central chart follows the watchlist; each extra dock has its own symbol and timeframe (e.g. BTC 1m
beside BTC 1h, or ETH beside BTC). Symbol, timeframe, scale and indicators of every chart are saved in the
profile with the window layout and restored before it (Qt restores dock positions by object name). They are
saved when they change, not only when the window closes, so a terminal that was killed or crashed still
opens with them. A saved entry that no longer fits (a symbol not configured now, an indicator the registry
no longer has) is skipped with a log line.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

from app.widgets.chart.widget import ChartWidget


class DockHost(Protocol):
    """What the chart docks use of the main window (``MainWindow``): its main chart, the port (the layout
    is saved in its store), the frame scheduler, and the QMainWindow calls that place docks."""

    chart: ChartWidget
    port: Any
    frames: Any

    def menuBar(self) -> Any: ...  # noqa: N802 - Qt API
    def addDockWidget(self, *args: Any) -> None: ...  # noqa: N802 - Qt API

SETTING = "ui.charts"
log = logging.getLogger("kestrel.ui.chart")


class ChartDock(QDockWidget):
    """An extra chart's dock. ``closedByUser``: its close button (closing the main window destroys the docks
    without closing them, so they stay in the saved layout)."""

    closedByUser = Signal()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().closeEvent(event)
        if event.isAccepted():
            self.closedByUser.emit()


class ChartDocks:
    def __init__(self, window: DockHost) -> None:
        self.window = window
        self.charts: dict[str, ChartWidget] = {}  # dock object name -> chart
        self._next = 1
        self._restoring = True
        menu = window.menuBar().addMenu("&Chart")
        self.menu = menu
        self.new_action = QAction("New chart window", window)
        self.new_action.setShortcut("Ctrl+Shift+N")
        self.new_action.triggered.connect(lambda: self.add())
        menu.addAction(self.new_action)
        self.indicator_action = menu.addAction("Add indicator…", window.chart.open_indicator_dialog)
        log_action = QAction("Log scale", window)
        log_action.setCheckable(True)
        log_action.toggled.connect(window.chart.set_log_scale)
        window.chart.log_button.toggled.connect(log_action.setChecked)
        menu.addAction(log_action)
        menu.addAction("Save chart as PNG…", window.chart.save_dialog)
        try:
            saved = window.port.ui_state(SETTING) or {}
        except ValueError:  # not JSON
            saved = {}
        if not isinstance(saved, dict):
            log.warning("saved charts ignored: expected an object, got %r", saved)
            saved = {}
        if saved.get("main"):
            window.chart.restore_state(saved["main"])
        docks = saved.get("docks") or []
        for state in docks if isinstance(docks, list) else []:
            if isinstance(state, dict):
                self.add(state)
            else:
                log.warning("saved chart dock skipped: expected an object, got %r", state)
        window.chart.stateChanged.connect(self._changed)
        self._restoring = False

    def add(self, state: dict[str, Any] | None = None) -> ChartWidget:
        w = self.window
        name = f"dock_chart_{self._next}"
        self._next += 1
        symbol = (state or {}).get("symbol")
        chart = ChartWidget(w.port, symbol=symbol if symbol in w.port.instruments else w.chart.symbol)
        if state:
            chart.restore_state(state)
        dock = ChartDock(f"Chart {self._next - 1}", w)
        dock.setObjectName(name)
        dock.setWidget(chart)
        dock.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        if state is None:  # a new chart floats over the window until the trader docks it
            dock.setFloating(True)
            dock.resize(900, 560)
        self.charts[name] = chart
        w.frames.add(chart)
        chart.stateChanged.connect(self._changed)
        dock.closedByUser.connect(lambda: self._closed(name, chart, save=True))
        dock.destroyed.connect(lambda *_: self._closed(name, chart))
        self._changed()
        return chart

    def _closed(self, name: str, chart: ChartWidget, save: bool = False) -> None:
        if self.charts.pop(name, None) is not None and save:
            self._changed()
        self.window.frames.remove(chart)

    def _changed(self) -> None:
        if not self._restoring:
            self.save()

    def save(self) -> None:
        """Write every chart's state to the profile (also called by the window when it closes)."""
        try:
            self.window.port.save_ui_state(SETTING, {
                "main": self.window.chart.state(),
                "docks": [c.state() for c in self.charts.values()],
            })
        except sqlite3.Error as exc:
            log.warning("chart layout not saved: %s", exc)
