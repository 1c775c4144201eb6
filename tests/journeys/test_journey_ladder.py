"""Journey: trade from the ladder in the shown window, and cancel at a level.

A click on a bid buys there (through the ticket's quantity and the risk gate), a click on an ask sells
there; our orders show on our side of the ladder and in the blotter as the ladder's; a click on our
orders' cell cancels what rests at that level, and only that."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.engine.core.messages import OrderStatus, OrderType, Side
from app.widgets.trading.blotter import ORDER_HEADERS
from tests.kit.ui import pump, table_column

SYMBOL = "BTC/USDT@sim"


def cell(ladder, column: str, price: float) -> QPoint:
    """The middle of the ladder cell a person clicks: ``column`` at ``price`` (it must be on screen)."""
    v = ladder.view
    row = v.row_of(v.model.ticks(price))
    assert row is not None, f"{price} is not on screen"
    xs = [x for x in range(v.width()) if v.column_at(x) == column]
    return QPoint((xs[0] + xs[-1]) // 2, v.ROW_H + row * v.ROW_H + v.ROW_H // 2)


def click(ladder, column: str, price: float) -> None:
    QTest.mouseClick(ladder.view, Qt.MouseButton.LeftButton, pos=cell(ladder, column, price))


def ladder_row(ladder, price: float) -> dict:
    return next(r for r in ladder.rows() if r["price"] == price)


def test_click_to_trade_and_cancel_at_a_level(qtbot, window_factory):
    kernel, window = window_factory()
    window.resize(1600, 1050)  # a tall screen: the levels these tests click, up to 8 ticks off the touch, on it
    pump(qtbot, kernel, window, 500)
    ladder, ticket = window.ladder, window.ticket
    QTest.keyClick(ticket.quantity, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(ticket.quantity, "0.02")
    book = kernel.market.get(SYMBOL).book
    bid, ask = book.bids[7][0], book.asks[8][0]  # off the touch: they rest

    click(ladder, "Bid", bid)
    pump(qtbot, kernel, window, 10, step=10)
    QTest.keyClick(ticket.quantity, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(ticket.quantity, "0.03")
    click(ladder, "Bid", bid)  # a second order at the same level (the same one twice is a duplicate)
    pump(qtbot, kernel, window, 10, step=10)
    click(ladder, "Ask", ask)
    pump(qtbot, kernel, window, 10, step=10)
    orders = list(kernel.execution.orders.values())
    assert sorted((o.side, o.order_type, o.price, o.quantity) for o in orders) == sorted(
        [(Side.BUY, OrderType.LIMIT, bid, 0.02), (Side.BUY, OrderType.LIMIT, bid, 0.03),
         (Side.SELL, OrderType.LIMIT, ask, 0.03)])
    assert [o.status for o in orders] == [OrderStatus.ACCEPTED] * 3, [(o.status, o.reason) for o in orders]
    assert ladder_row(ladder, bid)["buy"] == 0.05 and ladder_row(ladder, ask)["sell"] == 0.03
    assert "ACCEPTED" in ticket.status.text()
    blotter = window.blotter.orders
    assert table_column(blotter, ORDER_HEADERS.index("Source")) == ["ladder"] * 3

    click(ladder, "Buy", bid)  # our orders' cell at the bid: cancel what rests there
    pump(qtbot, kernel, window, 100)
    buys = [o for o in orders if o.side is Side.BUY]
    sell = next(o for o in orders if o.side is Side.SELL)
    assert all(o.status is OrderStatus.CANCELED for o in buys)
    assert sell.status is OrderStatus.ACCEPTED
    # the ladder shows none of ours at the bid (its row, if the ladder has not followed the market past it)
    shown = [r for r in ladder.rows() if r["price"] == bid]
    assert all(r["buy"] == 0 for r in shown) and not [k for k in ladder.view.model.mine if k[0] is Side.BUY]
    assert ladder_row(ladder, ask)["sell"] == 0.03
    status = dict(zip(table_column(blotter, ORDER_HEADERS.index("Id")),
                      table_column(blotter, ORDER_HEADERS.index("Status"))))
    assert [status[o.client_order_id] for o in buys] == ["CANCELED"] * 2
    assert status[sell.client_order_id] == "ACCEPTED"


def test_a_ladder_click_while_halted_is_refused_in_the_ticket(qtbot, window_factory):
    kernel, window = window_factory()
    window.resize(1600, 1050)  # a tall screen: the levels these tests click, up to 8 ticks off the touch, on it
    pump(qtbot, kernel, window, 500)
    qtbot.mouseClick(window.kill_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    click(window.ladder, "Bid", kernel.market.get(SYMBOL).book.bids[2][0])
    pump(qtbot, kernel, window, 50)
    assert "TRADING_HALTED" in window.ticket.status.text()
    assert not kernel.execution.working


def test_dragging_our_order_to_another_level_moves_it(qtbot, window_factory):
    """Item 4 of issue 20: a drag in the ladder sends ModifyOrder (the sim amends in place: the same order at the new
    level, behind the orders already there); a click without moving still cancels."""
    kernel, window = window_factory()
    window.resize(1600, 1050)  # a tall screen: the levels these tests click, up to 8 ticks off the touch, on it
    pump(qtbot, kernel, window, 500)
    ladder = window.ladder
    book = kernel.market.get(SYMBOL).book
    bid = book.bids[3][0]  # (three rows below stays inside the ladder's rows, above its edge row)
    click(ladder, "Bid", bid)
    pump(qtbot, kernel, window, 10, step=10)
    (old,) = kernel.execution.orders.values()
    assert old.status is OrderStatus.ACCEPTED and old.price == bid
    to = kernel.instruments[SYMBOL].round_price(bid - 3 * kernel.instruments[SYMBOL].tick_size)
    start, end = cell(ladder, "Buy", bid), cell(ladder, "Buy", to)
    QTest.mousePress(ladder.view, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(ladder.view, end)
    QTest.mouseRelease(ladder.view, Qt.MouseButton.LeftButton, pos=end)
    pump(qtbot, kernel, window, 20, step=10)
    assert ladder.moved == [old.client_order_id]
    assert old.status is OrderStatus.ACCEPTED and (old.side, old.price, old.quantity) == (Side.BUY, to, 0.01)
    assert ladder_row(ladder, to)["buy"] == old.quantity and ladder_row(ladder, bid)["buy"] == 0


def test_our_stops_show_at_their_trigger_and_a_drag_moves_one(qtbot, window_factory):
    """Issue 20, item 1 (stops in the ladder): a stop waits at its trigger's row on our side, marked ◇ when Kestrel
    keeps it (◆ when the venue does); dragging it to another row moves its trigger (the same order, armed)."""
    from app.engine.core.messages import Emulation, SubmitOrder

    kernel, window = window_factory()
    window.resize(1600, 1050)  # a tall screen: the levels these tests click, up to 8 ticks off the touch, on it
    pump(qtbot, kernel, window, 500)
    ladder = window.ladder
    inst = kernel.instruments[SYMBOL]
    bid = kernel.market.get(SYMBOL).book.bids[2][0]
    trigger = inst.round_price(bid - 2 * inst.tick_size)
    kernel.bus.publish(SubmitOrder("stop-l", SYMBOL, "sim", Side.SELL, OrderType.STOP, 0.03, None, "manual",
                                   trigger_price=trigger, emulation=Emulation.EMULATED))
    kernel.bus.publish(SubmitOrder("stop-n", SYMBOL, "sim", Side.SELL, OrderType.STOP, 0.02, None, "manual",
                                   trigger_price=inst.round_price(trigger - inst.tick_size)))
    pump(qtbot, kernel, window, 20, step=10)
    assert kernel.execution.orders["stop-l"].status is OrderStatus.ARMED
    assert kernel.execution.orders["stop-n"].status is OrderStatus.ACCEPTED
    assert ladder_row(ladder, trigger)["sell"] == 0.03 and ladder.view.model.stops == {"stop-l": True, "stop-n": False}
    to = inst.round_price(trigger - 3 * inst.tick_size)
    start, end = cell(ladder, "Sell", trigger), cell(ladder, "Sell", to)
    QTest.mousePress(ladder.view, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(ladder.view, end)
    QTest.mouseRelease(ladder.view, Qt.MouseButton.LeftButton, pos=end)
    pump(qtbot, kernel, window, 20, step=10)
    stop = kernel.execution.orders["stop-l"]
    assert ladder.moved == ["stop-l"] and stop.status is OrderStatus.ARMED and stop.trigger_price == to
    assert ladder_row(ladder, to)["sell"] == 0.03 and ladder_row(ladder, trigger)["sell"] == 0


def test_ctrl_click_places_a_stop_at_that_level(qtbot, window_factory):
    """Ctrl+click in the ask column below the market: a sell stop triggering there, with the ticket's quantity;
    in the bid column above the market: a buy stop. Both wait at their row, marked ◆ (the sim keeps them)."""
    kernel, window = window_factory()
    window.resize(1600, 1050)
    pump(qtbot, kernel, window, 500)
    ladder, ticket = window.ladder, window.ticket
    QTest.keyClick(ticket.quantity, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(ticket.quantity, "0.04")
    inst = kernel.instruments[SYMBOL]
    book = kernel.market.get(SYMBOL).book
    below = inst.round_price(min(book.best_bid, kernel.market.get(SYMBOL).last) - 4 * inst.tick_size)
    above = inst.round_price(max(book.best_ask, kernel.market.get(SYMBOL).last) + 4 * inst.tick_size)
    ctrl = Qt.KeyboardModifier.ControlModifier
    QTest.mouseClick(ladder.view, Qt.MouseButton.LeftButton, ctrl, cell(ladder, "Ask", below))
    QTest.mouseClick(ladder.view, Qt.MouseButton.LeftButton, ctrl, cell(ladder, "Bid", above))
    pump(qtbot, kernel, window, 20, step=10)
    stops = sorted(((o.side, o.order_type, o.trigger_price, o.quantity, o.status, o.actor)
                    for o in kernel.execution.orders.values()), key=lambda r: r[2])
    assert stops == [(Side.SELL, OrderType.STOP, below, 0.04, OrderStatus.ACCEPTED, "ladder"),
                     (Side.BUY, OrderType.STOP, above, 0.04, OrderStatus.ACCEPTED, "ladder")]
    assert ladder_row(ladder, below)["sell"] == 0.04 and ladder_row(ladder, above)["buy"] == 0.04
    assert sorted(ladder.view.model.stops.values()) == [False, False]  # ◆: the venue keeps them
    # a plain click at the same cells still trades a limit (no Ctrl held over)
    click(ladder, "Bid", below)
    pump(qtbot, kernel, window, 20, step=10)
    assert any(o.order_type is OrderType.LIMIT and o.price == below for o in kernel.execution.orders.values())
