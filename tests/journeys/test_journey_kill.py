"""Journey: the kill switch (issue 16, defects 11 and 2).

Kill by hotkey and by the tool bar's button, whatever the layout (the Risk dock closed, docks floated and
moved, a chart window added); the HALTED state stays across a restart until a person resets it in the reset
dialog, which says why nothing happened without a reason. A halt and a reset from the command line reach
the window: its trading-state indicator follows the engine, apart from the alarm a person acknowledges."""
from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.engine.core.messages import OrderStatus
from app.widgets.trading.blotter import ORDER_HEADERS
from tests.kit.ui import pump, table_column

SYMBOL = "BTC/USDT@sim"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALL_ACTIVE = "All venues and strategies ACTIVE"


def type_into(field, text: str) -> None:
    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(field, text)


def ticket_limit_buy(qtbot, kernel, window, price: float) -> None:
    t = window.ticket
    t.order_type.setCurrentText("LIMIT")
    type_into(t.quantity, "0.01")
    type_into(t.price, f"{price:.1f}")
    qtbot.mouseClick(t.buy_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 10, step=10)


def on_top(window, widget) -> bool:
    """Is ``widget`` shown, and is it what a click at its middle reaches (nothing covers it)?"""
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    return window.childAt(widget.mapTo(window, widget.rect().center())) is widget


def sees_halted(window) -> bool:
    ind = window.trading_state
    return ind.shown() and "HALTED" in ind.label.text() and window.status.state.text().strip() == "HALTED"


def reset_in_dialog(qtbot, kernel, window, reason: str) -> None:
    qtbot.mouseClick(window.trading_state.reset_button, Qt.MouseButton.LeftButton)
    dialog = window.risk_panel.reset_dialog
    qtbot.waitExposed(dialog)
    type_into(dialog.reason, reason)
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    pump(qtbot, kernel, window, 50)


def test_kill_by_hotkey_and_button_in_any_layout_then_restart_and_reset(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    assert not window.trading_state.shown()
    ticket_limit_buy(qtbot, kernel, window, kernel.market.get(SYMBOL).book.bids[5][0])
    (order,) = kernel.execution.orders.values()
    assert order.status is OrderStatus.ACCEPTED

    window.activateWindow()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(window, Qt.Key.Key_K, ctrl_shift)  # the kill hotkey, Ctrl+Shift+K
    pump(qtbot, kernel, window, 100)
    assert sees_halted(window)
    assert window.risk_panel.state_label.text() == "HALTED"
    scopes = window.risk_panel.scopes_label.text()
    assert scopes != ALL_ACTIVE and "HALTED" in scopes
    assert order.status is OrderStatus.CANCELED
    assert "CANCELED" in table_column(window.blotter.orders, ORDER_HEADERS.index("Status"))

    # reset from the Risk dock without a reason: nothing happens, and the dialog says why
    qtbot.mouseClick(window.risk_panel.reset_button, Qt.MouseButton.LeftButton)
    dialog = window.risk_panel.reset_dialog
    qtbot.waitExposed(dialog)
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.error.isVisible()
    assert "Nothing was reset" in dialog.error.text() and "reason" in dialog.error.text()
    assert kernel.risk.state.value == "HALTED"
    type_into(dialog.reason, "test order canceled, desk agrees")
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    assert not dialog.isVisible() and not window.trading_state.shown()
    assert window.risk_panel.state_label.text() == "ACTIVE"
    assert window.risk_panel.scopes_label.text() == ALL_ACTIVE

    # another layout: the Risk dock closed, docks floated and moved, a chart window floating over the window
    window.docks["risk"].close()
    window.docks["ladder"].setFloating(True)
    window.removeDockWidget(window.docks["ticket"])
    window.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, window.docks["ticket"])
    window.docks["ticket"].show()
    window.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, window.docks["blotter"])
    window.chart_docks.add()
    window.resize(1100, 700)
    pump(qtbot, kernel, window, 50)
    assert not window.risk_panel.isVisible()
    assert on_top(window, window.kill_button)
    qtbot.mouseClick(window.kill_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    assert kernel.store.load_risk_state().state == "HALTED"
    assert sees_halted(window)

    kernel, window = window_factory.restart(kernel, window)
    pump(qtbot, kernel, window, 300)
    assert sees_halted(window)  # still halted after the restart
    assert on_top(window, window.kill_button)
    ticket_limit_buy(qtbot, kernel, window, kernel.market.get(SYMBOL).book.bids[5][0])
    assert "TRADING_HALTED" in window.ticket.status.text()

    reset_in_dialog(qtbot, kernel, window, "layout checked after restart")
    assert kernel.risk.state.value == "ACTIVE" and not window.trading_state.shown()
    assert window.status.state.text().strip() == "ACTIVE"
    ticket_limit_buy(qtbot, kernel, window, kernel.market.get(SYMBOL).book.bids[5][0])
    assert "ACCEPTED" in window.ticket.status.text()


def test_a_long_halt_reason_leaves_kill_and_reset_on_top_in_a_small_window(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 200)
    reason = "daily loss -12,345.67 reached -3.0% of start-of-day equity 411,522.33 " * 3  # an automatic trip
    kernel.risk.halt(reason, actor="risk")
    window.resize(700, 450)
    pump(qtbot, kernel, window, 50)
    assert sees_halted(window)
    assert window.trading_state.label.toolTip().count("daily loss") == 3  # whole in the tooltip
    assert on_top(window, window.kill_button) and on_top(window, window.trading_state.reset_button)


def cli(profile, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "app.cli", "risk", *args, "--profile", str(profile)],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def pump_until(qtbot, kernel, window, condition, seconds: float = 10.0) -> None:
    """Pump the market and the frames until ``condition()`` (the engine reads outside writes every 0.25 s
    of wall time)."""
    def step() -> bool:
        pump(qtbot, kernel, window, 50)
        return condition()
    qtbot.waitUntil(step, timeout=int(seconds * 1000))


def test_a_cli_halt_and_reset_reach_the_window(qtbot, window_factory, profile):
    import time

    from app.engine.core.messages import Alert

    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    alerts = []
    kernel.bus.subscribe(Alert, alerts.append)
    said = cli(profile, "halt", "--reason", "desk call")
    pump_until(qtbot, kernel, window, lambda: sees_halted(window))
    assert "desk call" in window.trading_state.label.text()
    assert window.banner.isVisible() and "HALTED" in window.banner.label.text()
    assert window.risk_panel.scopes_label.text() != ALL_ACTIVE
    assert "HALTED (desk call)" in said
    # once: the halt used to re-fire on every 0.25 s poll, a new alarm (banner, beep, audit rows) each time
    qtbot.mouseClick(window.banner.ack, Qt.MouseButton.LeftButton)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        pump(qtbot, kernel, window, 50)
    assert not window.banner.isVisible()  # acknowledged, and no new alarm came
    assert [a.title for a in alerts if "HALTED" in a.title] == ["Trading HALTED"]
    assert sees_halted(window)  # the trading state stays on screen after the alarm is acknowledged

    cli(profile, "reset", "--reason", "desk call over")
    pump_until(qtbot, kernel, window, lambda: not window.trading_state.shown())
    assert kernel.risk.state.value == "ACTIVE"
    assert window.status.state.text().strip() == "ACTIVE"
    assert window.risk_panel.scopes_label.text() == ALL_ACTIVE
    assert not window.trading_state.shown()


def test_a_state_written_by_a_second_store_reaches_the_window(qtbot, window_factory, profile):
    """The same as the CLI, in-process: a second Store on the same file writes the kill latch."""
    from app.engine.core.store import RiskStateRecord, Store

    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    other = Store(profile / "kestrel.db")
    try:
        other.save_risk_state(RiskStateRecord("global", "HALTED", "second terminal", "cli", 1))
        pump_until(qtbot, kernel, window, lambda: sees_halted(window))
        other.save_risk_state(RiskStateRecord("global", "ACTIVE", "all clear", "cli", 2))
        pump_until(qtbot, kernel, window, lambda: not window.trading_state.shown())
    finally:
        other.close()
    assert window.risk_panel.state_label.text() == "ACTIVE"
