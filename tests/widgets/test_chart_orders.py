"""The chart in the real window on a real kernel: live bars, fill markers, order and position lines,
dragging a working order's line (cancel + replace through the risk gate), several chart docks."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.engine.core.messages import OrderStatus, OrderType, Side
from tests.kit.ui import pump

SYMBOL = "BTC/USDT@sim"


def limit_via_ticket(window, side: Side, price: float, qty: str = "0.01"):
    t = window.ticket
    t.set_symbol(SYMBOL)
    t.order_type.setCurrentText(OrderType.LIMIT.value)
    t.quantity.setText(qty)
    t.set_price(price)
    return t.send(side)


def market_via_ticket(window, side: Side, qty: str = "0.02") -> str:
    t = window.ticket
    t.set_symbol(SYMBOL)
    t.order_type.setCurrentText(OrderType.MARKET.value)
    t.quantity.setText(qty)
    return t.send(side)


def line_y(chart, price: float) -> int:
    pane = chart.price
    return int(round(pane.rect.top() + float(pane.mapper().py(np.float64(price)))))


def test_the_chart_follows_live_bars(qtbot, window_factory):
    kernel, window = window_factory()
    chart = window.chart
    pump(qtbot, kernel, window, 300)
    feed = kernel.bars.get(SYMBOL)
    assert chart.series.n == feed.n
    pump(qtbot, kernel, window, 65_000, step=1_000)  # a minute of trading: a new 1m bar
    assert chart.series.n == feed.n
    np.testing.assert_allclose(chart.series.bars.column("close"), feed.column("close"))
    np.testing.assert_allclose(chart.series.bars.column("high"), feed.column("high"))
    assert chart.visible_span()[1] == feed.n - 1  # following the last bar
    last_tag = [t for t in chart.price.scale.tags if not t.crosshair][-1]
    assert last_tag.value == feed.column("close")[-1]  # the last-price line's tag


def test_fill_markers_appear_at_the_fill(qtbot, window_factory):
    kernel, window = window_factory()
    chart = window.chart
    pump(qtbot, kernel, window, 500)
    cid = market_via_ticket(window, Side.BUY)
    pump(qtbot, kernel, window, 200)
    order = kernel.execution.orders[cid]
    assert order.status is OrderStatus.FILLED
    fills = [f for f in kernel.store.fills() if f["client_order_id"] == cid]
    idx, price, kind = chart.markers.idx, chart.markers.price, chart.markers.kind
    bar = int(chart.series.index_of(fills[0]["ts"]))
    assert any(k == 0 and i == bar and p == fills[0]["price"] for i, p, k in zip(idx, price, kind))
    shown_idx, shown_price, shown_kind = chart.markers.shown()
    assert 0 in shown_kind.tolist()  # drawn in the current view
    # the position line (and its tag on the price scale)
    assert any(ln.label.startswith("POS +0.02") for ln in chart.lines.lines)
    assert any(abs(t.value - order.avg_price) < 1e-9 for t in chart.price.scale.tags)


def test_dragging_a_working_order_line_moves_the_order_through_the_risk_gate(qtbot, window_factory):
    kernel, window = window_factory()
    chart = window.chart
    pump(qtbot, kernel, window, 500)
    book = kernel.market.get(SYMBOL).book
    price = book.bids[5][0]
    cid = limit_via_ticket(window, Side.BUY, price)
    pump(qtbot, kernel, window, 10, step=10)
    assert kernel.execution.orders[cid].status is OrderStatus.ACCEPTED
    (line,) = [ln for ln in chart.lines.lines if ln.order_id == cid]
    assert "BUY 0.01" in line.label

    y = line_y(chart, price)
    view = chart.view
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(300, y))
    QTest.mouseMove(view, QPoint(300, y + 25))  # down: a lower price
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(300, y + 25))
    pump(qtbot, kernel, window, 20, step=10)

    # the sim amends in place: the same order, at the new price (a venue that cannot amend: test_modify_order.py)
    (new,) = [o for o in kernel.execution.working_orders(SYMBOL)]
    inst = kernel.instruments[SYMBOL]
    assert new.client_order_id == cid and new.status is OrderStatus.ACCEPTED
    assert new.side is Side.BUY and new.quantity == 0.01 and new.price < price
    assert inst.is_on_tick(new.price) and new.reason.startswith("amended:")
    expected = inst.round_price(float(chart.price.mapper().to_y(y + 25 - chart.price.rect.top())))
    assert abs(new.price - expected) <= 2 * inst.tick_size
    assert [ln.order_id for ln in chart.lines.lines if ln.order_id] == [cid]
    assert [o.price for o in kernel.sim.open_orders() if o.client_order_id == cid] == [new.price]
    assert "Moved BUY" in chart.status.text()



def test_a_denied_modify_shows_on_the_chart(qtbot, window_factory):
    kernel, window = window_factory()
    chart = window.chart
    pump(qtbot, kernel, window, 500)
    price = kernel.market.get(SYMBOL).book.bids[5][0]
    cid = limit_via_ticket(window, Side.BUY, price)
    pump(qtbot, kernel, window, 10, step=10)
    limits = kernel.risk.limits.model_copy(update={"max_notional_manual": 1.0})  # any new order is too big
    kernel.risk.limits = limits
    chart._on_line_dragged(cid, price - 5.0)  # what a finished drag calls
    pump(qtbot, kernel, window, 20, step=10)
    assert "was not moved: MAX_NOTIONAL" in chart.status.text()
    # the move was checked before anything was canceled: the order still works where it was (never none,
    # never two)
    assert kernel.execution.orders[cid].status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in kernel.execution.working_orders(SYMBOL)] == [cid]


def test_symbol_switch_and_several_chart_docks_survive_a_restart(qtbot, window_factory, profile):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    extra = window.chart_docks.add()
    extra.set_symbol("ETH/USDT@sim")
    extra.set_timeframe("5m")
    extra.add_indicator("rsi", block=True)
    window.chart.add_indicator("sma", {"timeperiod": 20}, block=True)
    pump(qtbot, kernel, window, 200)
    assert extra.symbol == "ETH/USDT@sim" and 3000 < extra.bar(extra.series.n - 1)["close"] < 4000
    assert window.chart.symbol == SYMBOL
    window.close()
    kernel.close()
    kernel2, window2 = window_factory(profile)
    (again,) = window2.chart_docks.charts.values()
    assert again.symbol == "ETH/USDT@sim" and again.tf == 300_000
    assert [i.label for i in again.indicators] == ["RSI(14)"]
    assert [i.label for i in window2.chart.indicators] == ["SMA(20)"]
    assert again.wait_indicators()
