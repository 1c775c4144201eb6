"""Journey: a trader protects a position with a stop from the order ticket in the shown window (issue 20). The
sim keeps it (native): the ticket offers STOP and STOP_LIMIT with a trigger, the blotter shows the stop waiting
with its trigger, the chart draws it dotted where it triggers; other participants sell the market down through
it and it closes the position, the blotter saying where it triggered. A stop on the wrong side of the market is
refused, and the ticket says why."""
from __future__ import annotations

from PySide6.QtCore import Qt

from app.engine.core.messages import OrderStatus, Side
from app.widgets.trading.blotter import ORDER_HEADERS
from tests.kit.ui import choose, pump, table_column, type_into

SYMBOL = "BTC/USDT@sim"


def row(window, cid: str) -> dict[str, str]:
    window.frames.tick()
    table = window.blotter.orders
    r = table_column(table, ORDER_HEADERS.index("Id")).index(cid)
    return {h: table.item(r, c).text() if table.item(r, c) else "" for c, h in enumerate(ORDER_HEADERS)}


def click(qtbot, kernel, window, button) -> str:
    before = set(kernel.execution.orders)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20, step=10)
    (cid,) = set(kernel.execution.orders) - before
    return cid


def test_a_stop_from_the_ticket_protects_a_position_and_closes_it_when_the_market_falls(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    t = window.ticket
    t.set_symbol(SYMBOL)
    types = [t.order_type.itemText(i) for i in range(t.order_type.count())]
    assert types == ["LIMIT", "MARKET", "STOP", "STOP_LIMIT", "TRAILING_STOP"]
    assert not t.trigger.isEnabled()

    # a position to protect
    choose(t.order_type, "MARKET")
    type_into(t.quantity, "0.05")
    click(qtbot, kernel, window, t.buy_button)
    assert abs(kernel.portfolio.positions[SYMBOL].quantity - 0.05) < 1e-9

    # a sell stop above the market is refused, saying why
    choose(t.order_type, "STOP")
    assert t.trigger.isEnabled() and not t.price.isEnabled()
    inst = kernel.instruments[SYMBOL]
    last = kernel.market.get(SYMBOL).last
    type_into(t.trigger, f"{inst.round_price(last + 50 * inst.tick_size):.1f}")
    bad = click(qtbot, kernel, window, t.sell_button)
    assert kernel.execution.orders[bad].status is OrderStatus.DENIED
    assert "STOP_MARKETABLE" in t.status.text() and "would trigger at once" in t.status.text()
    box = t.confirm_box  # the ticket asks whether to send it anyway; the trader says no
    assert box is not None and box.isVisible() and "Send it anyway?" in box.text()
    (no,) = [b for b in box.buttons() if b.text() == "Cancel"]
    qtbot.mouseClick(no, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    assert not box.isVisible() and len(kernel.execution.orders) == 2

    # below the market: it waits at the sim, shown with its trigger, and on the chart where it triggers
    trigger = inst.round_price(min(last, kernel.market.get(SYMBOL).book.best_bid) - 3 * inst.tick_size)
    type_into(t.trigger, f"{trigger:.1f}")
    assert t.exec_line.text() == "native" and t.exec_line.toolTip().startswith("native: sim keeps it")
    cid = click(qtbot, kernel, window, t.sell_button)
    stop = kernel.execution.orders[cid]
    assert stop.status is OrderStatus.ACCEPTED
    shown = row(window, cid)
    assert (shown["Type"], shown["Side"], shown["Qty"], shown["Trigger"], shown["Exec"], shown["Status"]) == \
        ("STOP", "SELL", "0.05", f"{trigger:,.1f}", "native", "ACCEPTED")
    pump(qtbot, kernel, window, 100)
    lines = [ln for ln in window.chart.lines.lines if ln.order_id == cid]
    assert len(lines) == 1 and lines[0].value == trigger and lines[0].label.startswith("SELL STOP 0.05 @")
    assert lines[0].style == Qt.PenStyle.DotLine

    # the market falls through it: the stop closes the position
    for _ in range(100):
        if stop.status is OrderStatus.FILLED:
            break
        kernel.sim.external_order(SYMBOL, Side.SELL, 2.0)
        pump(qtbot, kernel, window, 20, step=10)
    assert stop.status is OrderStatus.FILLED
    shown = row(window, cid)
    assert shown["Status"] == "FILLED" and shown["Reason"].startswith("triggered: the last trade")
    assert abs(kernel.portfolio.positions[SYMBOL].quantity) < 1e-9
    pump(qtbot, kernel, window, 50)
    assert not [ln for ln in window.chart.lines.lines if ln.order_id == cid]  # no longer waiting
