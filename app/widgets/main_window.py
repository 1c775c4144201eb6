"""The main window: docks around the chart, a frame-rate scheduler, the kill-switch hotkey, the alarm banner.

The tool bar holds a kill button and the trading state (HALTED / REDUCING, with a Reset… button) that no
layout can hide or cover: it cannot be moved, floated or closed, and docks never overlap it. The trading
state follows the engine (a reset from ``kestrel risk reset`` clears it); the alarm banner is separate and
stays until a person acknowledges it.

Layout (dock positions and window geometry) is saved in the profile database on close and restored on
open. The window and every dock get the engine's ``Port``, never the ``Kernel``: they read its read models
and act only by commands on the bus (``Port.send``).
"""
from __future__ import annotations

import base64

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFrame, QHBoxLayout, QLabel, QMainWindow, QPushButton, QSizePolicy, QToolBar,
    QScrollArea, QVBoxLayout, QWidget,
)

from app.engine.core.logring import RingHandler
from app.engine.core.messages import Alert, OrderType, Side
from app.engine.port import Port
from app.widgets.hotkeys import Hotkeys
from app.widgets.chart.docks import ChartDocks
from app.widgets.chart.widget import ChartWidget
from app.widgets.frame import BusSubscriptions, FrameScheduler
from app.widgets.news.panel import NewsPanel
from app.widgets.panels.alerts import AlertsPanel
from app.widgets.panels.data_dialog import DataDialog
from app.widgets.panels.log import LogPane
from app.widgets.panels.models import MlPanel
from app.widgets.panels.risk import RiskPanel
from app.widgets.panels.status import StatusBar
from app.widgets.panels.strategies import StrategyManagerWidget
from app.widgets.trading.blotter import BlotterWidget
from app.widgets.trading.ladder import LadderWidget
from app.widgets.trading.positions import PositionsWidget
from app.widgets.trading.ticket import TicketWidget
from app.widgets.trading.watchlist import WatchlistWidget
from app.widgets.up_colors import UpColors

KILL_HOTKEY = "Ctrl+Shift+K"
LAYOUT_SAVE_MS = 3000  # how often moved docks are saved


class AlarmBanner(QWidget):
    """A banner that stays until a person acknowledges it."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setObjectName("alarmBanner")
        self.label.setWordWrap(True)
        self.ack = QPushButton("Acknowledge")
        self.ack.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.ack)
        self.hide()

    def show_alert(self, alert: Alert) -> None:
        self.label.setText(f"⚠ {alert.title}: {alert.message}")
        self.show()


class TradingStateIndicator(QWidget):
    """The global trading state while it is not ACTIVE: what it is, why, and a Reset… button. Read from the
    risk engine at frame time, so a halt or reset from another process shows within a frame of the engine
    adopting it. Empty while ACTIVE (its parts hide: a tool bar's own widget hides only through its action).
    """

    def __init__(self, port: Port) -> None:
        super().__init__()
        self._port = port
        self._seen = None
        self.label = QLabel()
        self.label.setObjectName("tradingStateBanner")
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # a long reason is
        self.label.setMinimumWidth(160)                           # cut (whole in the tooltip), Reset… stays
        self.reset_button = QPushButton("Reset…")
        self.reset_button.setToolTip("Resume trading (asks why it is safe)")
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.reset_button)
        self.refresh()

    def shown(self) -> bool:
        """Does a person see the trading state now?"""
        return self.label.isVisible()

    def refresh(self) -> None:
        risk = self._port.risk
        key = (risk.state, risk.state_reason)
        if key == self._seen:
            return
        self._seen = key
        state = risk.state.value
        self.label.setVisible(state != "ACTIVE")
        self.reset_button.setVisible(state != "ACTIVE")
        what = "new orders are refused" if state == "HALTED" else "only orders that shrink a position are taken"
        self.label.setText(f" Trading {state}: {risk.state_reason or 'no reason recorded'} — {what} ")
        self.label.setToolTip(self.label.text())
        self.label.setProperty("state", state)
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)


class MainWindow(QMainWindow):
    def __init__(self, port: Port, ring: RingHandler) -> None:
        super().__init__()
        self.port = port
        self.setWindowTitle(f"Kestrel — {port.profile}")
        self.resize(1600, 900)
        self.up_colors = UpColors(self, port.ui.up_color_convention)  # before any view paints a price
        self.frames = FrameScheduler(port.ui.frame_hz, self)
        self._alerts: list[Alert] = port.start_alerts  # raised at start, before we subscribed
        self._subs = BusSubscriptions()
        self._subs.add(port.subscribe(Alert, self._alerts.append))

        self.banner = AlarmBanner()
        self.chart = ChartWidget(port)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.banner)
        cl.addWidget(self.chart, 1)
        self.setCentralWidget(central)

        self._build_docks(port, ring)
        self.data_dialog: DataDialog | None = None

        for view in (self.chart, self.watchlist, self.ladder, self.ticket, self.blotter, self.positions,
                     self.risk_panel, self.strategies, self.ml_panel, self.alerts_panel, self.news_panel,
                     self.log_pane, self.status,
                     self):
            self.frames.add(view)

        self._build_safety_bar()
        self._build_menus()
        self.chart_docks = ChartDocks(self)  # extra charts exist before restore_layout places them

        self.watchlist.symbolSelected.connect(self.set_symbol)
        self.watchlist.historyRequested.connect(self.download_history)
        self.ladder.tradeRequested.connect(self._ladder_trade)
        self.ladder.stopRequested.connect(self._ladder_stop)
        self.watchlist.alertRequested.connect(self.new_alert)
        self.alerts_panel.current_symbol = lambda: self.chart.symbol
        self.news_panel.current_symbol = lambda: self.chart.symbol
        self.ladder.alertRequested.connect(self.new_alert)
        self.restore_layout()
        self.watchlist.select(self.chart.symbol)
        self.frames.start()
        self._start_layout_saver()

    def _build_docks(self, port: Port, ring: RingHandler) -> None:
        """The docks around the chart, in their default places (a saved layout moves them after)."""
        self.watchlist = WatchlistWidget(port)
        self.ladder = LadderWidget(port)
        self.ticket = TicketWidget(port)
        self.blotter = BlotterWidget(port)
        self.positions = PositionsWidget(port)
        self.risk_panel = RiskPanel(port)
        self.strategies = StrategyManagerWidget(port)
        self.ml_panel = MlPanel(port)
        self.alerts_panel = AlertsPanel(port)
        self.news_panel = NewsPanel(port)
        self.log_pane = LogPane(ring)
        self.status = StatusBar(port)
        self.setStatusBar(self.status)

        L, R, B = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                   Qt.DockWidgetArea.BottomDockWidgetArea)
        self.docks: dict[str, QDockWidget] = {}
        for name, title, widget, area in [
            ("watchlist", "Watchlist", self.watchlist, L), ("ticket", "Order ticket", self.ticket, L),
            ("risk", "Risk", self.risk_panel, L), ("ladder", "Order book", self.ladder, R),
            ("blotter", "Orders && fills", self.blotter, B),
            ("positions", "Positions && account", self.positions, B),
            ("strategies", "Strategies", self.strategies, B), ("ml", "Models", self.ml_panel, B),
            ("alerts", "Alerts", self.alerts_panel, B), ("news", "News", self.news_panel, B),
            ("log", "Log", self.log_pane, B),
        ]:
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            if name == "risk":  # its limits table and texts scroll in a short dock: the default layout fits
                widget = _scrolled(widget)  # 1600x900 (the safety bar's kill button is never inside it)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        for name in ("strategies", "ml", "alerts", "news", "log"):  # one tab group beside the order table
            self.tabifyDockWidget(self.docks["positions"], self.docks[name])
        self.docks["positions"].raise_()
        self.resizeDocks([self.docks["watchlist"], self.docks["ladder"]], [420, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["watchlist"], self.docks["ticket"], self.docks["risk"]], [110, 200, 330],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["blotter"]], [220], Qt.Orientation.Vertical)
        self._bottom_split_due = True  # once shown (a hidden window's docks have no widths yet)

    def _build_menus(self) -> None:
        """The kill-switch hotkey (application-wide), the View menu (every dock), the Trading menu and the
        Data menu (the bar store)."""
        self.kill_action = QAction("Kill switch", self)
        self.kill_action.setShortcut(QKeySequence(KILL_HOTKEY))
        self.kill_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.kill_action.triggered.connect(self.risk_panel.engage_kill_switch)
        self.addAction(self.kill_action)
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        self.up_colors.add_to(view_menu)
        trade_menu = self.menuBar().addMenu("&Trading")
        trade_menu.addAction(self.kill_action)
        self.hotkeys = Hotkeys(self)  # buy/sell at the touch, cancel on the symbol, close, reverse, flatten
        self.shortcuts_action = trade_menu.addAction("Keyboard shortcuts…")
        self.shortcuts_action.triggered.connect(lambda: self.hotkeys.open_dialog())
        data_menu = self.menuBar().addMenu("&Data")
        self.data_action = data_menu.addAction("Data…")
        self.data_action.setToolTip("the stored history: list, import, export, delete and download bars")
        self.data_action.triggered.connect(lambda: self.open_data_dialog())

    def _start_layout_saver(self) -> None:
        # dock positions: saved when they change, not only at close (a killed terminal kept none of them)
        self._saved_layout: tuple[bytes, bytes] | None = None
        self.layout_saver = QTimer(self)
        self.layout_saver.setInterval(LAYOUT_SAVE_MS)
        self.layout_saver.timeout.connect(self.save_layout_if_changed)
        self.layout_saver.start()

    def _build_safety_bar(self) -> None:
        """The kill button and the trading state, in a tool bar a person cannot move, float or close."""
        bar = self.safety_bar = QToolBar("Kill switch", self)
        bar.setObjectName("toolbar_safety")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.toggleViewAction().setVisible(False)  # not in the tool-bar context menu either
        self.kill_button = QPushButton(f"KILL SWITCH  ({KILL_HOTKEY})")
        self.kill_button.setObjectName("toolbarKillButton")
        self.kill_button.setToolTip(self.risk_panel.kill_button.toolTip())
        self.kill_button.clicked.connect(self.risk_panel.engage_kill_switch)
        self.trading_state = TradingStateIndicator(self.port)
        self.trading_state.reset_button.clicked.connect(lambda: self.risk_panel.ask_reset(self))
        bar.addWidget(self.kill_button)
        bar.addWidget(self.trading_state)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.frames.add(self.trading_state)

    def set_symbol(self, symbol: str) -> None:
        symbol = self.port.instrument_id(symbol)
        self.chart.set_symbol(symbol)
        self.ladder.set_symbol(symbol)
        self.ticket.set_symbol(symbol)

    def open_data_dialog(self) -> DataDialog:
        """The Data dialog (one per window, kept while the window lives: a download it runs outlives its
        closing only when a person chose so)."""
        if self.data_dialog is None:
            self.data_dialog = DataDialog(self.port, self)
        self.data_dialog.refresh_series()
        self.data_dialog.show()
        self.data_dialog.raise_()
        self.data_dialog.activateWindow()
        return self.data_dialog

    def download_history(self, symbol: str) -> None:
        """The watchlist's Download history…: the Data dialog's Download tab with the symbol and its venue."""
        inst = self.port.instruments.get(symbol)
        if inst is None:
            self.open_data_dialog().show_download(symbol, None)
        else:  # the store and the venue know the venue's symbol, on the market whose data it is
            self.open_data_dialog().show_download(inst.symbol, inst.data_venue)

    def _ladder_trade(self, side: Side, price: float) -> None:
        """A ladder click: a limit order at the clicked price with the ticket's quantity, sent by the
        ticket (so the risk gate's answer, a denial too, shows there)."""
        self.ticket.order_type.setCurrentText(OrderType.LIMIT.value)
        self.ticket.set_price(price)
        self.ticket.send(side, actor="ladder")

    def _ladder_stop(self, side: Side, trigger: float) -> None:
        """A ladder Ctrl+click: a stop triggering at the clicked price with the ticket's quantity, sent by the
        ticket (its "Stop on" choices apply; a stop that would trigger at once is refused, and the ticket asks)."""
        t = self.ticket
        if OrderType.STOP.value not in [t.order_type.itemText(i) for i in range(t.order_type.count())]:
            t.status.setText(f"{t.symbol.currentText()}: stops are not offered for this instrument.")
            return
        t.order_type.setCurrentText(OrderType.STOP.value)
        t.trigger.setText(f"{trigger:.{self.port.instruments[t.symbol.currentText()].price_decimals}f}")
        t.send(side, actor="ladder")

    def new_alert(self, symbol: str, level: float | None = None) -> None:
        """The Alerts dock's New… dialog for ``symbol``, at ``level`` (the ladder's row) or its last price; above
        the market it fires on a cross above, below it on a cross below."""
        st = self.port.market.get(symbol)
        last = st.last if st is not None and st.last else None
        level = level if level is not None else last
        kind = "price_below" if level is not None and last is not None and level < last else "price_above"
        self.docks["alerts"].show()
        self.docks["alerts"].raise_()
        self.alerts_panel.open_dialog(symbol=symbol, level=level, kind=kind)

    def refresh(self) -> None:
        if self._alerts:
            alerts, self._alerts = self._alerts, []
            worst = next((a for a in alerts if a.level == "critical"), alerts[-1])
            if worst.level in ("critical", "warning"):
                self.banner.show_alert(worst)
                QApplication.beep()
                self._notify(worst)
                QApplication.alert(self)  # the taskbar entry flashes until the window is looked at

    def _notify(self, alert: Alert) -> None:
        """A desktop notification where the system has a tray; the banner stays until acknowledged anyway."""
        from PySide6.QtWidgets import QSystemTrayIcon

        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        if not hasattr(self, "_tray"):
            self._tray = QSystemTrayIcon(self.windowIcon(), self)
            self._tray.show()
        self._tray.showMessage(f"Kestrel: {alert.title}", alert.message, QSystemTrayIcon.MessageIcon.Critical)

    # ---------------------------------------------------------------------------------------------- layout
    def restore_layout(self) -> None:
        geo = self.port.ui_state("ui.geometry")
        state = self.port.ui_state("ui.window_state")
        if geo:
            self.restoreGeometry(QByteArray(base64.b64decode(geo)))
        if state:
            self.restoreState(QByteArray(base64.b64decode(state)))
            self._bottom_split_due = False  # the trader's own layout

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._bottom_split_due:
            self._bottom_split_due = False
            QTimer.singleShot(0, self._split_bottom)

    def _split_bottom(self) -> None:
        """The default layout's bottom row: the order table, with the most columns, gets 60 % of the width."""
        width = self.docks["blotter"].width() + self.docks["positions"].width()
        self.resizeDocks([self.docks["blotter"], self.docks["positions"]], [width * 6 // 10, width * 4 // 10],
                         Qt.Orientation.Horizontal)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.safety_bar)  # wherever a saved state put it
        self.safety_bar.show()

    def save_layout(self) -> None:
        self.chart_docks.save()
        geometry, state = bytes(self.saveGeometry()), bytes(self.saveState())
        self.port.save_ui_state("ui.geometry", base64.b64encode(geometry).decode())
        self.port.save_ui_state("ui.window_state", base64.b64encode(state).decode())
        self._saved_layout = (geometry, state)

    def save_layout_if_changed(self) -> None:
        """Every few seconds: the window's geometry and dock positions, written only when they moved."""
        try:
            if (bytes(self.saveGeometry()), bytes(self.saveState())) != self._saved_layout:
                self.save_layout()
        except Exception:  # noqa: BLE001 - a failed save is logged; the next tick or the close tries again
            import logging

            logging.getLogger("kestrel.ui").exception("could not save the window layout")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.data_dialog is not None:  # its downloads stop (what arrived is stored; the same one resumes)
            self.data_dialog.stop_downloads()
            self.data_dialog.hide()
        self.frames.stop()
        self.layout_saver.stop()
        try:
            self.save_layout()
        finally:
            self._subs.clear()
            super().closeEvent(event)


def _scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that gives it its full width and scrolls it vertically when the dock
    is shorter than the widget wants."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area
