"""Journey: a trader buys with a stop-loss and a take-profit attached on the ticket, sees the position protected,
changes the protection from the Positions dock (a wrong-side price refused in the form), restarts the terminal
and finds it still armed, and the market falling through the stop-loss closes the position once and ends the
take-profit (issue 20, items 2, 3 and 5)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QLineEdit

from app.engine.core.messages import OrderStatus, Side
from app.widgets.trading.positions import HEADERS, PROTECTION
from tests.journeys.test_journey_stops import row
from tests.kit.ui import choose, pump, table_column, type_into

SYMBOL = "BTC/USDT@sim"
S = OrderStatus


def protection_cell(window) -> str:
    window.frames.tick()
    table = window.positions.table
    r = table_column(table, HEADERS.index("Symbol")).index(SYMBOL)
    return table.item(r, PROTECTION).text()


def select_position(qtbot, window) -> None:
    table = window.positions.table
    r = table_column(table, 0).index(SYMBOL)
    rect = table.visualRect(table.model().index(r, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def protect(qtbot, kernel, window, stop: str, take: str) -> str:
    """Open Protect…, type the prices, press OK; what the form says after (empty when it closed)."""
    select_position(qtbot, window)
    qtbot.mouseClick(window.positions.protect_button, Qt.MouseButton.LeftButton)
    dialog = window.positions.protect_dialog
    assert dialog is not None and dialog.isVisible()
    type_into(dialog.findChild(QLineEdit, "stopLoss"), stop)
    type_into(dialog.findChild(QLineEdit, "takeProfit"), take)
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    return dialog.findChild(QLabel, "protectError").text() if dialog.isVisible() else ""


def test_buy_with_protection_change_it_restart_and_the_stop_loss_closes_the_position(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    t = window.ticket
    t.set_symbol(SYMBOL)
    inst = kernel.instruments[SYMBOL]
    last = kernel.market.get(SYMBOL).last
    sl, tp = inst.round_price(last - 300 * inst.tick_size), inst.round_price(last + 300 * inst.tick_size)
    choose(t.order_type, "MARKET")
    type_into(t.quantity, "0.05")
    type_into(t.stop_loss, f"{sl:.1f}")
    type_into(t.take_profit, f"{tp:.1f}")
    qtbot.mouseClick(t.buy_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    assert abs(kernel.portfolio.positions[SYMBOL].quantity - 0.05) < 1e-9
    children = [o for o in kernel.execution.orders.values() if o.role in ("SL", "TP")]
    assert sorted((o.role, o.status) for o in children) == [("SL", S.ARMED), ("TP", S.ARMED)]
    by_role = {o.role: o for o in children}
    shown = row(window, by_role["SL"].client_order_id)
    assert (shown["Type"], shown["Exec"], shown["Status"], shown["Qty"]) == ("STOP (SL)", "emulated", "ARMED", "0.05")
    assert row(window, by_role["TP"].client_order_id)["Type"] == "LIMIT (TP)"
    assert protection_cell(window) == f"SL {sl:,.1f} · TP {tp:,.1f}"

    # a stop-loss above the market is refused in the form, which stays open saying why
    said = protect(qtbot, kernel, window, f"{inst.round_price(last + 50 * inst.tick_size):.1f}", "")
    assert "BRACKET_SIDES" in said and "must be below" in said
    window.positions.protect_dialog.reject()
    assert protection_cell(window) == f"SL {sl:,.1f} · TP {tp:,.1f}"  # unchanged

    # a tighter stop-loss and no take-profit: it replaces what protected the position
    new_sl = inst.round_price(kernel.market.get(SYMBOL).last - 100 * inst.tick_size)
    assert protect(qtbot, kernel, window, f"{new_sl:.1f}", "") == ""
    assert protection_cell(window) == f"SL {new_sl:,.1f}"
    assert all(o.status is S.CANCELED for o in children)

    # a restart: the protection is armed again from the journal and shown
    kernel, window = window_factory.restart(kernel, window)
    pump(qtbot, kernel, window, 300)
    assert protection_cell(window) == f"SL {new_sl:,.1f}"
    (armed,) = kernel.execution.armed.values()
    assert armed.role == "SL" and kernel.emulator.trigger_of(armed) == new_sl

    # tightened again after the restart (the sim's market makers hold it near its start price), and the market
    # falls through it: the position is closed, once
    near = inst.round_price(kernel.market.get(SYMBOL).last - 30 * inst.tick_size)
    assert protect(qtbot, kernel, window, f"{near:.1f}", "") == ""
    assert armed.status is S.CANCELED
    (armed,) = kernel.execution.armed.values()
    assert armed.trigger_price == near
    for _ in range(400):
        if armed.status is S.FILLED:
            break
        kernel.sim.external_order(SYMBOL, Side.SELL, 5.0)
        pump(qtbot, kernel, window, 20, step=10)
    assert armed.status is S.FILLED, (kernel.market.get(SYMBOL).last, new_sl)
    assert abs(kernel.portfolio.positions[SYMBOL].quantity) < 1e-9
    assert row(window, armed.client_order_id)["Reason"].startswith("fired at")


def test_an_open_position_without_protection_reads_unprotected(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    t = window.ticket
    t.set_symbol(SYMBOL)
    choose(t.order_type, "MARKET")
    type_into(t.quantity, "0.05")
    qtbot.mouseClick(t.buy_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    assert protection_cell(window) == "unprotected"
