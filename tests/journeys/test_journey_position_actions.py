"""Journey: position actions in the Positions dock (issue 20, item 5). A trader holds a position protected by a
stop, selects the row and clicks Close: the dialog says what will be sent and that the stop is canceled first;
on Close the stop ends and the position is closed at market. Reverse: the dialog says the size it ends at; the
position flips in one order. Cancel sends nothing."""
from __future__ import annotations

from PySide6.QtCore import Qt

from app.engine.core.messages import OrderStatus, OrderType, Side, SubmitOrder
from tests.kit.ui import pump, table_column

SYMBOL = "BTC/USDT@sim"


def select_position(qtbot, window) -> None:
    table = window.positions.table
    row = table_column(table, 0).index(SYMBOL)
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def answer(qtbot, kernel, window, text: str) -> str:
    box = window.positions.confirm_box
    assert box is not None and box.isVisible()
    said = box.text()
    (button,) = [b for b in box.buttons() if b.text() == text]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 100)
    return said


def test_close_and_reverse_a_position_from_the_positions_dock(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    kernel.submit(SYMBOL, Side.BUY, OrderType.MARKET, 0.05)
    pump(qtbot, kernel, window, 100)
    inst = kernel.instruments[SYMBOL]
    trigger = inst.round_price(kernel.market.get(SYMBOL).last - 30 * inst.tick_size)
    kernel.bus.publish(SubmitOrder("sl-1", SYMBOL, "sim", Side.SELL, OrderType.STOP, 0.05, None, "ticket",
                                   trigger_price=trigger))
    pump(qtbot, kernel, window, 100)
    assert kernel.execution.orders["sl-1"].status is OrderStatus.ACCEPTED
    window.positions.refresh()
    pos = window.positions
    assert not pos.close_button.isEnabled()  # nothing selected
    select_position(qtbot, window)
    assert pos.close_button.isEnabled() and pos.reverse_button.isEnabled()

    # Cancel sends nothing
    qtbot.mouseClick(pos.close_button, Qt.MouseButton.LeftButton)
    answer(qtbot, kernel, window, "Cancel")
    assert abs(kernel.portfolio.positions[SYMBOL].quantity - 0.05) < 1e-9
    assert kernel.execution.orders["sl-1"].status is OrderStatus.ACCEPTED

    # Close: the stop goes first, then the position is closed at market
    qtbot.mouseClick(pos.close_button, Qt.MouseButton.LeftButton)
    said = answer(qtbot, kernel, window, "Close")
    assert said.startswith(f"Close {SYMBOL}: sell 0.05 at market.") and "1 stop order(s) are canceled first" in said
    assert kernel.execution.orders["sl-1"].status is OrderStatus.CANCELED
    assert abs(kernel.portfolio.positions[SYMBOL].quantity) < 1e-9
    window.positions.refresh()
    assert not pos.close_button.isEnabled()  # the row's position is gone
    closes = [o for o in kernel.execution.orders.values() if o.actor == "positions"]
    assert len(closes) == 1 and closes[0].status is OrderStatus.FILLED and closes[0].side is Side.SELL

    # Reverse: a long of 0.03 ends a short of 0.03, in one order
    kernel.submit(SYMBOL, Side.BUY, OrderType.MARKET, 0.03)
    pump(qtbot, kernel, window, 100)
    window.positions.refresh()
    select_position(qtbot, window)
    qtbot.mouseClick(pos.reverse_button, Qt.MouseButton.LeftButton)
    said = answer(qtbot, kernel, window, "Reverse")
    assert said == f"Reverse {SYMBOL}: sell 0.06 at market, ending -0.03."
    assert abs(kernel.portfolio.positions[SYMBOL].quantity + 0.03) < 1e-9
    kernel.audit_recorder.flush()
    kinds = [k for (k,) in kernel.store.conn.execute("SELECT kind FROM audit")]
    assert kinds.count("ClosePosition") == 2  # both on the audit trail
