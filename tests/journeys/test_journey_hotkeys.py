"""Journey: trading hotkeys in the shown window (issue 20, item 5). Keys pressed on the window buy at the ask and
sell at the bid with the ticket's quantity (a limit IOC at the touch, never an unbounded market order), cancel the
symbol's orders (its armed stops too), and close the position after asking. The shortcuts dialog shows them,
refuses a key the kill switch has, saves a changed key for the profile, and a restart keeps it."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QKeySequenceEdit, QLabel

from app.engine.core.messages import Emulation, OrderStatus, OrderType, Side, SubmitOrder, TimeInForce
from app.widgets.hotkeys import ACTIONS
from tests.kit.ui import pump, type_into

SYMBOL = "BTC/USDT@sim"
S = OrderStatus
CTRL_ALT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


def press(qtbot, kernel, window, key, mods=CTRL_ALT) -> list[str]:
    before = set(kernel.execution.orders)
    window.activateWindow()
    QApplication.setActiveWindow(window)  # (offscreen: no window manager makes it active)
    QTest.keyClick(window, key, mods)
    pump(qtbot, kernel, window, 20, step=10)
    return sorted(set(kernel.execution.orders) - before)


def save_dialog(qtbot, kernel, window, dialog) -> None:
    save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)


def test_hotkeys_trade_cancel_and_close_and_the_dialog_changes_them_for_the_profile(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    window.set_symbol(SYMBOL)
    type_into(window.ticket.quantity, "0.02")

    # buy at the ask: a limit IOC at the touch, the ticket's quantity; it fills
    ask = kernel.market.get(SYMBOL).book.best_ask
    (buy,) = press(qtbot, kernel, window, Qt.Key.Key_B)
    o = kernel.execution.orders[buy]
    assert (o.side, o.order_type, o.tif, o.quantity, o.price, o.actor) == \
        (Side.BUY, OrderType.LIMIT, TimeInForce.IOC, 0.02, ask, "hotkey")
    assert o.status is S.FILLED and abs(kernel.portfolio.positions[SYMBOL].quantity - 0.02) < 1e-9
    assert buy in window.ticket.status.text() or "FILLED" in window.ticket.status.text()

    # cancel all on the symbol: a resting limit and a stop Kestrel keeps
    inst = kernel.instruments[SYMBOL]
    bid = kernel.market.get(SYMBOL).book.best_bid
    kernel.bus.publish(SubmitOrder("rest-1", SYMBOL, "sim", Side.BUY, OrderType.LIMIT, 0.01,
                                   inst.round_price(bid - 50 * inst.tick_size), "manual"))
    kernel.bus.publish(SubmitOrder("stop-1", SYMBOL, "sim", Side.SELL, OrderType.STOP, 0.02, None, "manual",
                                   trigger_price=inst.round_price(bid - 80 * inst.tick_size),
                                   emulation=Emulation.EMULATED))
    pump(qtbot, kernel, window, 20)
    assert kernel.execution.orders["stop-1"].status is S.ARMED
    press(qtbot, kernel, window, Qt.Key.Key_C)
    assert kernel.execution.orders["rest-1"].status is S.CANCELED
    assert kernel.execution.orders["stop-1"].status is S.CANCELED

    # close: asks first (the Positions dock's question), then closes
    press(qtbot, kernel, window, Qt.Key.Key_X)
    box = window.positions.confirm_box
    assert box is not None and box.isVisible() and box.text().startswith(f"Close {SYMBOL}: sell 0.02")
    (close,) = [b for b in box.buttons() if b.text() == "Close"]
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    assert abs(kernel.portfolio.positions[SYMBOL].quantity) < 1e-9

    # the dialog: every hotkey and the fixed ones; the kill switch's key is refused; a new key is saved
    window.shortcuts_action.trigger()
    dialog = window.hotkeys.dialog
    assert dialog.isVisible()
    labels = [w.text() for w in dialog.findChildren(QLabel)]
    assert all(any(what in t for t in labels) for what, _ in ACTIONS.values())
    assert any("Kill switch (fixed)" in t for t in labels)
    edit = dialog.findChild(QKeySequenceEdit, "hotkey_sell_bid")
    edit.setKeySequence(QKeySequence("Ctrl+Shift+K"))
    save_dialog(qtbot, kernel, window, dialog)
    assert dialog.isVisible() and "Ctrl+Shift+K is already Kill switch" in \
        dialog.findChild(QLabel, "hotkeysError").text()
    edit.setKeySequence(QKeySequence("Ctrl+Alt+N"))
    save_dialog(qtbot, kernel, window, dialog)
    assert not dialog.isVisible()
    bid = kernel.market.get(SYMBOL).book.best_bid
    (sell,) = press(qtbot, kernel, window, Qt.Key.Key_N)
    o = kernel.execution.orders[sell]
    assert (o.side, o.price, o.tif) == (Side.SELL, bid, TimeInForce.IOC)
    assert press(qtbot, kernel, window, Qt.Key.Key_S) == []  # the old key does nothing now

    # a restart keeps the profile's keys
    kernel, window = window_factory.restart(kernel, window)
    pump(qtbot, kernel, window, 300)
    window.set_symbol(SYMBOL)
    assert window.hotkeys.actions["sell_bid"].shortcut().toString() == "Ctrl+Alt+N"
