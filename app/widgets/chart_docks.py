"""Several charts at once: the Chart menu, extra chart docks, and what each chart shows across restarts.

The central chart follows the watchlist; each extra dock has its own symbol and timeframe (e.g. BTC 1m
beside BTC 1h, or ETH beside BTC). Symbol, timeframe, scale and indicators of every chart are saved in the
profile with the window layout and restored before it (Qt restores dock positions by object name).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

from app.widgets.chart import ChartWidget

if TYPE_CHECKING:
    from app.widgets.main_window import MainWindow

SETTING = "ui.charts"


class ChartDocks:
    def __init__(self, window: "MainWindow") -> None:
        self.window = window
        self.charts: dict[str, ChartWidget] = {}  # dock object name -> chart
        self._next = 1
        menu = window.menuBar().addMenu("&Chart")
        self.new_action = QAction("New chart window", window)
        self.new_action.setShortcut("Ctrl+Shift+N")
        self.new_action.triggered.connect(lambda: self.add())
        menu.addAction(self.new_action)
        menu.addAction("Add indicator…", window.chart.open_indicator_dialog)
        log_action = QAction("Log scale", window)
        log_action.setCheckable(True)
        log_action.toggled.connect(window.chart.set_log_scale)
        window.chart.log_button.toggled.connect(log_action.setChecked)
        menu.addAction(log_action)
        menu.addAction("Save chart as PNG…", window.chart._save_dialog)
        saved = window.kernel.store.get_setting(SETTING) or {}
        if saved.get("main"):
            window.chart.restore_state(saved["main"])
        for state in saved.get("docks", []):
            self.add(state)

    def add(self, state: dict[str, Any] | None = None) -> ChartWidget:
        w = self.window
        name = f"dock_chart_{self._next}"
        self._next += 1
        chart = ChartWidget(w.kernel, symbol=(state or {}).get("symbol") or w.chart.symbol)
        if state:
            chart.restore_state(state)
        dock = QDockWidget(f"Chart {self._next - 1}", w)
        dock.setObjectName(name)
        dock.setWidget(chart)
        dock.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        if state is None:  # a new chart floats over the window until the trader docks it
            dock.setFloating(True)
            dock.resize(900, 560)
        self.charts[name] = chart
        w.frames.add(chart)
        dock.destroyed.connect(lambda *_: self._closed(name, chart))
        return chart

    def _closed(self, name: str, chart: ChartWidget) -> None:
        self.charts.pop(name, None)
        self.window.frames.remove(chart)

    def save(self) -> None:
        self.window.kernel.store.set_setting(SETTING, {
            "main": self.window.chart.state(),
            "docks": [c.state() for c in self.charts.values()],
        })
