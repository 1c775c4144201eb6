"""Journey: a trader protects a position with stops Kestrel keeps (issue 20, item 3), in the shown window.

On the ticket a trailing stop (which the sim does not keep) says "emulated" before it is sent; the blotter shows it
ARMED, emulated, with its distance and its live trigger, which follows the market up; the chart draws it dash-dot.
A fixed stop asked for as emulated is dragged on the chart to a new trigger and keeps its id. The market falls: the
trailing stop fires as a market order under its own id and closes the position, the blotter saying at what it
fired. The other stop, armed, is disarmed by the kill switch button. A stop that would trigger at once is refused,
and the ticket's "Send anyway" sends it for the next trade."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.engine.core.messages import OrderStatus, Side
from tests.journeys.test_journey_stops import click, row
from tests.kit.ui import choose, pump, type_into
from tests.widgets.test_chart_orders import line_y

SYMBOL = "BTC/USDT@sim"
S = OrderStatus


def buy_position(qtbot, kernel, window, qty: str = "0.05") -> None:
    t = window.ticket
    t.set_symbol(SYMBOL)
    choose(t.order_type, "MARKET")
    type_into(t.quantity, qty)
    click(qtbot, kernel, window, t.buy_button)
    assert abs(kernel.portfolio.positions[SYMBOL].quantity - float(qty)) < 1e-9


def test_trailing_and_emulated_stops_from_the_ticket_follow_fire_move_and_are_disarmed(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    buy_position(qtbot, kernel, window)
    t = window.ticket
    inst = kernel.instruments[SYMBOL]

    # a trailing stop 60 ticks behind: the sim does not keep one, so Kestrel will, and the ticket says so first
    choose(t.order_type, "TRAILING_STOP")
    assert t.trail.isEnabled() and t.trigger.isEnabled() and not t.price.isEnabled()
    assert t.exec_line.text() == "emulated" and t.exec_line.toolTip().startswith("emulated: Kestrel keeps it")
    assert t.trail.isVisible() and not t.price.isVisible() and not t.tif.isVisible()  # the rows it uses
    type_into(t.trigger, "")
    type_into(t.trail, f"{60 * inst.tick_size:g}")
    trail = click(qtbot, kernel, window, t.sell_button)
    stop = kernel.execution.orders[trail]
    assert stop.status is S.ARMED and stop.emulated
    shown = row(window, trail)
    assert (shown["Type"], shown["Exec"], shown["Status"], shown["Price"]) == \
        ("TRAIL STOP", "emulated", "ARMED", f"trail {60 * inst.tick_size:,.1f}")
    first = float(shown["Trigger"].replace(",", ""))

    # the market rises: its trigger follows, in the blotter and on the chart (dash-dot: Kestrel's)
    start = kernel.market.get(SYMBOL).last
    for _ in range(200):
        if kernel.market.get(SYMBOL).last >= start + 25 * inst.tick_size:
            break
        kernel.sim.external_order(SYMBOL, Side.BUY, 2.0)
        pump(qtbot, kernel, window, 20, step=10)
    pump(qtbot, kernel, window, 300)  # the water mark is journaled every 0.25 s; the blotter follows it
    risen = float(row(window, trail)["Trigger"].replace(",", ""))
    assert risen > first and stop.status is S.ARMED
    (line,) = [ln for ln in window.chart.lines.lines if ln.order_id == trail]
    assert line.style == Qt.PenStyle.DashDotLine and line.label.endswith("· emulated") and "TRAIL" in line.label

    # a fixed stop, asked for as emulated, well below; then dragged up on the chart: same id, new trigger
    choose(t.order_type, "STOP")
    choose(t.exec, "emulated")
    assert t.exec_line.text() == "emulated"
    low = inst.round_price(kernel.market.get(SYMBOL).book.best_bid - 2000 * inst.tick_size)
    type_into(t.trigger, f"{low:.1f}")
    fixed = click(qtbot, kernel, window, t.sell_button)
    assert kernel.execution.orders[fixed].status is S.ARMED, kernel.execution.orders[fixed].reason
    pump(qtbot, kernel, window, 50)
    chart = window.chart
    y, to = line_y(chart, low), line_y(chart, low + 1200 * inst.tick_size)  # up: a higher trigger, below the market
    assert to < y - 5, (y, to)
    QTest.mousePress(chart.view, Qt.MouseButton.LeftButton, pos=QPoint(300, y))
    QTest.mouseMove(chart.view, QPoint(300, to))
    QTest.mouseRelease(chart.view, Qt.MouseButton.LeftButton, pos=QPoint(300, to))
    pump(qtbot, kernel, window, 50)
    moved = kernel.execution.orders[fixed]
    assert moved.status is S.ARMED and moved.trigger_price > low  # the same order, armed at its new trigger
    assert fixed in kernel.execution.armed
    assert row(window, fixed)["Trigger"] == f"{moved.trigger_price:,.1f}"
    assert "armed in Kestrel" in chart.status.text()

    # the market falls: the trailing stop fires first (it is nearer), under its own id, and closes the position
    for _ in range(300):
        if stop.status is S.FILLED:
            break
        kernel.sim.external_order(SYMBOL, Side.SELL, 2.0)
        pump(qtbot, kernel, window, 20, step=10)
    assert stop.status is S.FILLED
    shown = row(window, trail)
    assert shown["Status"] == "FILLED" and shown["Reason"].startswith("fired at")
    assert abs(kernel.portfolio.positions[SYMBOL].quantity) < 1e-9

    # the kill switch button disarms the fixed one, at once
    assert kernel.execution.orders[fixed].status is S.ARMED, kernel.execution.orders[fixed].reason
    qtbot.mouseClick(window.kill_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 50)
    assert kernel.execution.orders[fixed].status is S.CANCELED
    assert row(window, fixed)["Status"] == "CANCELED"
    assert not [ln for ln in window.chart.lines.lines if ln.order_id == fixed]


def test_a_stop_that_would_trigger_at_once_is_sent_when_the_trader_confirms(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    buy_position(qtbot, kernel, window)
    t = window.ticket
    inst = kernel.instruments[SYMBOL]
    choose(t.order_type, "STOP")
    type_into(t.trigger, f"{inst.round_price(kernel.market.get(SYMBOL).last + 20 * inst.tick_size):.1f}")
    bad = click(qtbot, kernel, window, t.sell_button)
    assert kernel.execution.orders[bad].status is S.DENIED
    box = t.confirm_box
    assert box is not None and box.isVisible() and "would trigger at once" in box.text()
    before = set(kernel.execution.orders)
    (send,) = [b for b in box.buttons() if b.text() == "Send anyway"]
    qtbot.mouseClick(send, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    pump(qtbot, kernel, window, 300)
    (again,) = set(kernel.execution.orders) - before
    order = kernel.execution.orders[again]
    assert order.status is S.FILLED  # it triggered at the next trade and sold
    assert abs(kernel.portfolio.positions[SYMBOL].quantity) < 1e-9
