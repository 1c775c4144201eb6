"""The real window: what a trader sees and clicks."""
from __future__ import annotations

import logging

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest

from app.engine.core.messages import OrderStatus, Side
from app.widgets.trading.blotter import ORDER_HEADERS
from tests.kit.ui import pump, table_column, watch_ids


def ticket_market(window, side: Side, qty: str, symbol: str = "BTC/USDT@sim"):
    t = window.ticket
    t.set_symbol(symbol)
    t.order_type.setCurrentText("MARKET")
    t.quantity.setText(qty)
    (t.buy_button if side is Side.BUY else t.sell_button).click()


def test_ticket_order_fills_shows_in_blotter_and_moves_position(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    ticket_market(window, Side.BUY, "0.02")
    pump(qtbot, kernel, window, 200)
    orders = list(kernel.execution.orders.values())
    assert len(orders) == 1 and orders[0].status is OrderStatus.FILLED
    cid = orders[0].client_order_id
    assert cid in table_column(window.blotter.orders, ORDER_HEADERS.index("Id"))
    assert "FILLED" in table_column(window.blotter.orders, ORDER_HEADERS.index("Status"))
    assert cid in table_column(window.blotter.fills, 1)
    assert "BTC/USDT@sim" in table_column(window.positions.table, 0)
    assert "0.02" in table_column(window.positions.table, 1)
    assert "FILLED" in window.ticket.status.text()


def test_every_order_status_reads_whole_in_the_blotter(qtbot, window_factory):
    """The Status column used to share the width evenly and cut "ACCEPTED" to "ACCEPT..."; the symbol must
    read whole too."""
    kernel, window = window_factory()
    window.resize(1600, 900)
    pump(qtbot, kernel, window, 100)
    table = window.blotter.orders
    metrics = table.fontMetrics()
    width = table.columnWidth(ORDER_HEADERS.index("Status"))
    assert all(metrics.horizontalAdvance(s.value) < width - 6 for s in OrderStatus)
    assert metrics.horizontalAdvance("BTC/USDT@sim") < table.columnWidth(ORDER_HEADERS.index("Symbol")) - 6


def test_bad_ticket_input_gets_a_clear_message_never_a_traceback(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    for text, expected in [("abc", "not a number"), ("0", "INVALID_QUANTITY"), ("-1", "INVALID_QUANTITY"),
                           ("nan", "INVALID_QUANTITY"), ("0.00015", "QTY_NOT_ON_LOT")]:
        ticket_market(window, Side.BUY, text)
        pump(qtbot, kernel, window, 50)
        assert expected in window.ticket.status.text(), text
        assert window.ticket.status.property("ok") == "false"
    window.ticket.order_type.setCurrentText("LIMIT")
    window.ticket.quantity.setText("0.01")
    window.ticket.price.setText("65000.05")
    window.ticket.buy_button.click()
    pump(qtbot, kernel, window, 50)
    assert "PRICE_NOT_ON_TICK" in window.ticket.status.text()
    assert kernel.portfolio.position("BTC/USDT@sim").quantity == 0
    assert "PRICE_NOT_ON_TICK" in table_column(window.risk_panel.denials, 3)


def test_kill_switch_button_blocks_the_ticket_and_shows_halted(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    window.risk_panel.kill_button.click()
    pump(qtbot, kernel, window, 50)
    assert kernel.store.load_risk_state().state == "HALTED"
    assert window.risk_panel.state_label.text() == "HALTED"
    assert "HALTED" in window.status.state.text()
    assert window.banner.isVisible() and "HALTED" in window.banner.label.text()
    ticket_market(window, Side.BUY, "0.01")
    pump(qtbot, kernel, window, 50)
    assert "TRADING_HALTED" in window.ticket.status.text()
    assert kernel.portfolio.position("BTC/USDT@sim").quantity == 0
    window.banner.ack.click()
    assert not window.banner.isVisible()


def test_kill_hotkey_engages_the_kill_switch(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    window.activateWindow()
    QTest.keySequence(window, QKeySequence("Ctrl+Shift+K"))
    assert kernel.risk.state.value == "HALTED"


def test_cancel_from_the_blotter(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    t = window.ticket
    t.order_type.setCurrentText("LIMIT")
    t.quantity.setText("0.01")
    t.set_price(kernel.market.get("BTC/USDT@sim").book.bids[2][0])  # a level the ladder shows, off the touch
    t.buy_button.click()
    pump(qtbot, kernel, window, 10, step=10)  # acknowledged (5 ms latency) before the book drifts away
    (order,) = kernel.execution.orders.values()
    assert order.status is OrderStatus.ACCEPTED
    assert 0.01 in [r["buy"] for r in window.ladder.rows()]  # our working order shows on the ladder
    window.blotter.orders.selectRow(0)
    window.blotter.cancel_button.click()
    pump(qtbot, kernel, window, 100)
    assert order.status is OrderStatus.CANCELED
    assert "CANCELED" in table_column(window.blotter.orders, ORDER_HEADERS.index("Status"))


def test_watchlist_selection_points_chart_ladder_and_ticket(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    window.watchlist.select("ETH/USDT@sim")
    pump(qtbot, kernel, window, 100)
    assert window.chart.symbol == "ETH/USDT@sim" and window.ladder.symbol == "ETH/USDT@sim"
    assert window.ticket.symbol.currentText() == "ETH/USDT@sim"
    assert "ETH/USDT@sim" in window.chart.title.text()
    prices = [r["price"] for r in window.ladder.rows()]
    assert len(prices) >= 20 and all(3000 < p < 4000 for p in prices)


def test_views_repaint_at_frame_rate_not_per_message(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    calls = []
    original = window.watchlist.table.item(0, 1).setText
    item = window.watchlist.table.item(0, 1)
    item.setText = lambda text: (calls.append(text), original(text))  # noqa: B023
    for _ in range(40):  # 40 market steps (hundreds of messages) with no frame in between
        kernel.clock.advance(50)
        kernel.step()
    assert calls == []  # nothing redrawn without a frame
    window.frames.tick()
    assert len(calls) <= 1


def test_layout_is_saved_and_restored(qtbot, window_factory, profile):
    kernel, window = window_factory()
    window.docks["log"].hide()
    window.docks["ladder"].setFloating(True)
    window.close()
    kernel.close()
    kernel2, window2 = window_factory(profile)
    assert window2.docks["log"].isHidden()
    assert window2.docks["ladder"].isFloating()


def test_a_failing_chart_paint_is_contained(qtbot, window_factory, caplog):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 200)

    class Broken:  # a window whose columns cannot be read
        def __getattr__(self, name):
            raise RuntimeError("corrupt bar data")

    window.chart.candles.set_window(Broken())
    kestrel_log = logging.getLogger("kestrel")
    kestrel_log.addHandler(caplog.handler)  # the app's logger does not propagate to the root
    try:
        window.chart.glw.grab()  # forces a paint
    finally:
        kestrel_log.removeHandler(caplog.handler)
    assert "chart paint failed" in caplog.text
    window.chart.set_symbol("BTC/USDT@sim")  # the chart recovers on new data
    assert not window.chart.glw.grab().isNull()


def test_risk_panel_shows_utilization_and_states(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    ticket_market(window, Side.BUY, "0.5")
    pump(qtbot, kernel, window, 200)
    window.risk_panel._frames = 0
    window.risk_panel.refresh()
    names = table_column(window.risk_panel.limits, 0)
    used = dict(zip(names, table_column(window.risk_panel.limits, 1)))
    pct = dict(zip(names, table_column(window.risk_panel.limits, 3)))
    assert used["Position BTC/USDT"] == "0.5" and pct["Position BTC/USDT"] == "5%"  # of 10 BTC
    assert float(used["Gross exposure"].replace(",", "")) > 30_000
    kernel.sim.set_connected(False)
    pump(qtbot, kernel, window, 50)
    assert "venue sim: REDUCING" in window.risk_panel.scopes_label.text()


def test_the_watchlist_says_when_a_market_is_closed_and_shows_its_last_close_not_zero(qtbot, window_factory):
    """Outside the A-share sessions the sim's 600519.SH prints nothing: the watchlist showed "0.00 +0.00%",
    a price that never was. It shows the last close it knows, greyed, and says the market is closed."""
    kernel, window = window_factory()  # the tests' clock: a Sunday evening in Beijing
    pump(qtbot, kernel, window, 300)
    table = window.watchlist.table
    row = list(kernel.instruments).index("600519.SH@sim")
    assert watch_ids(window)[row] == "600519.SH@sim" and table.item(row, 2).text() == "closed"
    assert table.item(row, 2).toolTip()  # why: the session rule, in Beijing time
    last = float(table.item(row, 1).text().replace(",", ""))
    assert last == pytest.approx(float(kernel.bars.get("600519.SH@sim").column("close")[-1]))
    btc = list(kernel.instruments).index("BTC/USDT@sim")
    assert watch_ids(window)[btc] == "BTC/USDT@sim" and float(table.item(btc, 1).text().replace(",", "")) > 0
