"""Journey: cancel the selected order while new orders arrive (issue 16, defect 7).

The trader picks a working order in the blotter; new orders push the rows down before the click; "Cancel
selected" must cancel exactly the order picked, and the highlight must have moved with it. The Source
column says who sent each order."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.engine.core.messages import OrderStatus, OrderType, Side
from app.widgets.trading.blotter import ORDER_HEADERS
from tests.kit.ui import pump, table_column

SYMBOL = "BTC/USDT@sim"
ID, STATUS, SOURCE = (ORDER_HEADERS.index(h) for h in ("Id", "Status", "Source"))


def type_into(field, text: str) -> None:
    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(field, text)


def ticket_limit_buy(qtbot, kernel, window, price: float) -> str:
    t = window.ticket
    before = set(kernel.execution.orders)
    type_into(t.quantity, "0.01")
    type_into(t.price, f"{price:.1f}")
    qtbot.mouseClick(t.buy_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 10, step=10)
    (cid,) = set(kernel.execution.orders) - before
    return cid


def click_row_of(qtbot, table, client_order_id: str) -> None:
    row = table_column(table, ID).index(client_order_id)
    rect = table.visualRect(table.model().index(row, ORDER_HEADERS.index("Symbol")))  # where a person clicks
    assert table.viewport().rect().contains(rect.center()), "the row is not on screen"
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def highlighted(table) -> list[str]:
    """The order ids of the rows a person sees highlighted."""
    return [table.item(i.row(), ID).text() for i in table.selectionModel().selectedRows()]


def test_cancel_selected_cancels_the_order_picked_after_new_orders_arrive(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    table = window.blotter.orders
    bids = [p for p, _s in kernel.market.get(SYMBOL).book.bids]
    ours = [ticket_limit_buy(qtbot, kernel, window, bids[i]) for i in (3, 4, 5)]
    assert [kernel.execution.orders[c].status for c in ours] == [OrderStatus.ACCEPTED] * 3

    picked = ours[1]
    click_row_of(qtbot, table, picked)
    assert highlighted(table) == [picked]
    row_before = table_column(table, ID).index(picked)

    # new orders arrive between the pick and the click: a strategy's and another from the ticket
    kernel.submit(SYMBOL, Side.BUY, OrderType.LIMIT, 0.01, bids[6], actor="strategy:grid_1")
    newest = ticket_limit_buy(qtbot, kernel, window, bids[7])
    pump(qtbot, kernel, window, 50)
    assert table_column(table, ID).index(picked) > row_before  # the rows moved
    assert highlighted(table) == [picked]  # and the highlight moved with the order

    qtbot.mouseClick(window.blotter.cancel_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 100)
    status = dict(zip(table_column(table, ID), table_column(table, STATUS)))
    assert status[picked] == "CANCELED"
    others = [c for c in kernel.execution.orders if c != picked]
    assert len(others) == 4 and all(status[c] == "ACCEPTED" for c in others)
    assert [o.client_order_id for o in kernel.execution.orders.values()
            if o.status is OrderStatus.CANCELED] == [picked]

    source = dict(zip(table_column(table, ID), table_column(table, SOURCE)))
    assert source[newest] == "ticket"
    assert "grid_1" in source.values()


def test_cancel_selected_is_off_until_a_working_order_is_picked(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    button, table = window.blotter.cancel_button, window.blotter.orders
    assert not button.isEnabled()
    bid = kernel.market.get(SYMBOL).book.bids[3][0]
    cid = ticket_limit_buy(qtbot, kernel, window, bid)
    pump(qtbot, kernel, window, 50)
    click_row_of(qtbot, table, cid)
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 100)
    assert kernel.execution.orders[cid].status is OrderStatus.CANCELED
    assert highlighted(table) == [cid] and not button.isEnabled()  # nothing left to cancel there


def answer_yes_to_the_next_question(qtbot) -> list[str]:
    """Click Yes on the next modal question box once it is shown; returns (later) its text."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.text())
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, answer)
    return seen


def test_the_source_column_names_ticket_strategy_and_flatten(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    t = window.ticket
    t.order_type.setCurrentText("MARKET")
    type_into(t.quantity, "0.02")
    qtbot.mouseClick(t.buy_button, Qt.MouseButton.LeftButton)
    kernel.submit(SYMBOL, Side.BUY, OrderType.MARKET, 0.01, actor="strategy:trend_1")
    pump(qtbot, kernel, window, 100)
    assert kernel.portfolio.position(SYMBOL).quantity == 0.03

    question = answer_yes_to_the_next_question(qtbot)
    qtbot.mouseClick(window.risk_panel.flatten_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 100)
    assert question and "close 1 position" in question[0]
    assert kernel.portfolio.position(SYMBOL).quantity == 0
    sources = table_column(window.blotter.orders, SOURCE)
    assert sorted(sources) == ["flatten", "ticket", "trend_1"]


def test_the_default_window_shows_each_orders_quantity_and_price_whole(qtbot, window_factory):
    """In the default layout at 1600x900 the blotter's columns read whole: quantities and prices are never
    elided to "0..." (they were, with 13 columns sharing a third of the window)."""
    kernel, window = window_factory()
    window.resize(1600, 900)
    pump(qtbot, kernel, window, 500)
    bid = kernel.market.get(SYMBOL).book.bids[3][0]
    ticket_limit_buy(qtbot, kernel, window, bid)
    pump(qtbot, kernel, window, 100)
    table = window.blotter.orders
    metrics = table.fontMetrics()
    for name in ("Time", "Symbol", "Side", "Type", "Qty", "Price", "Filled", "Status", "Mode", "Source"):
        col = ORDER_HEADERS.index(name)
        text = table.item(0, col).text()
        assert metrics.horizontalAdvance(text) + 6 <= table.columnWidth(col), (name, text, table.columnWidth(col))
    # and the columns that matter most are on screen without scrolling
    for name in ("Symbol", "Side", "Qty", "Price", "Filled", "Status"):
        rect = table.visualRect(table.model().index(0, ORDER_HEADERS.index(name)))
        assert table.viewport().rect().contains(rect), f"{name} is off screen"


def test_the_default_window_shows_each_positions_instrument_whole(qtbot, window_factory):
    """The order table takes 60 % of the bottom row; the positions beside it still name their instrument whole."""
    from app.engine.core.messages import Side as _Side
    from app.engine.core.messages import OrderType as _OT
    from app.widgets.trading.positions import HEADERS

    kernel, window = window_factory()
    window.resize(1600, 900)
    pump(qtbot, kernel, window, 500)
    kernel.submit(SYMBOL, _Side.BUY, _OT.MARKET, 0.01)
    pump(qtbot, kernel, window, 100)
    window.positions.refresh()
    table = window.positions.table
    col = HEADERS.index("Symbol")
    text = table.item(0, col).text()
    assert text == SYMBOL and table.fontMetrics().horizontalAdvance(text) + 6 <= table.columnWidth(col)


def test_edit_moves_a_limit_and_an_armed_stop_and_shows_a_refusal_in_the_form(qtbot, window_factory):
    """Issue 20, item 4: the blotter's Edit… sends ModifyOrder, as the chart and ladder drags do."""
    from PySide6.QtWidgets import QDialogButtonBox, QLabel, QLineEdit

    from app.engine.core.messages import Emulation, SubmitOrder

    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    table, blotter = window.blotter.orders, window.blotter
    inst = kernel.instruments[SYMBOL]
    bid = kernel.market.get(SYMBOL).book.bids[5][0]
    cid = ticket_limit_buy(qtbot, kernel, window, bid)
    assert not blotter.edit_button.isEnabled()

    def edit(order_id: str, **fields) -> QLabel:
        click_row_of(qtbot, table, order_id)
        assert blotter.edit_button.isEnabled()
        qtbot.mouseClick(blotter.edit_button, Qt.MouseButton.LeftButton)
        dialog = blotter.edit_dialog
        assert dialog.isVisible()
        for name, text in fields.items():
            type_into(dialog.findChild(QLineEdit, name), text)
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        pump(qtbot, kernel, window, 20, step=10)
        return dialog

    lower = inst.round_price(bid - 5 * inst.tick_size)
    dialog = edit(cid, editPrice=f"{lower:.1f}")
    assert not dialog.isVisible()
    order = kernel.execution.orders[cid]  # the sim amends in place: the same order, at its new price
    assert order.status is OrderStatus.ACCEPTED and order.price == lower and order.reason.startswith("amended")

    # an armed stop: a trigger above the market is refused in the form; one below moves it in place
    kernel.bus.publish(SubmitOrder("stop-e", SYMBOL, "sim", Side.SELL, OrderType.STOP, 0.01, None, "manual",
                                   trigger_price=inst.round_price(bid - 100 * inst.tick_size),
                                   emulation=Emulation.EMULATED))
    pump(qtbot, kernel, window, 20)
    above = inst.round_price(kernel.market.get(SYMBOL).last + 20 * inst.tick_size)
    dialog = edit("stop-e", editTrigger=f"{above:.1f}")
    assert dialog.isVisible() and "STOP_MARKETABLE" in dialog.findChild(QLabel, "editError").text()
    dialog.reject()
    below = inst.round_price(bid - 60 * inst.tick_size)
    dialog = edit("stop-e", editTrigger=f"{below:.1f}")
    assert not dialog.isVisible()
    stop = kernel.execution.orders["stop-e"]
    assert stop.status is OrderStatus.ARMED and stop.trigger_price == below


def test_the_default_window_fits_a_1600x900_screen(qtbot, window_factory):
    """The default layout's minimum height fits a 900-px screen (it was 1,027 px: the status bar and the bottom of
    the order table were below the screen's edge): the risk dock scrolls its limits table instead, and what a
    trader needs at once is inside the window: the kill button, the ticket's Buy/Sell, the blotter, the status."""
    kernel, window = window_factory()
    window.resize(1600, 900)
    pump(qtbot, kernel, window, 300)
    assert window.minimumSizeHint().height() <= 900 and window.height() == 900
    inside = window.rect()
    for w in (window.kill_button, window.ticket.buy_button, window.ticket.sell_button, window.blotter.orders,
              window.status, window.risk_panel.kill_button):
        corner = w.mapTo(window, w.rect().bottomRight())
        assert w.isVisible() and inside.contains(corner), (type(w).__name__, corner, inside)
