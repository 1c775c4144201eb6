"""Journey: a trader sets a price alert from the chart's right-click menu, sees its line, drags it to another price,
and is told when the market crosses it (banner, history in the Alerts dock); then sets one from the Alerts dock's
New… dialog (a bad level is refused in the dialog), disables, arms and deletes it (issue 21, items 1 and 4)."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QMessageBox

from app.engine.core.messages import SetAlert, Side
from tests.kit.ui import choose, pump, table_column, type_into
from tests.widgets.test_chart_orders import line_y

SYMBOL = "BTC/USDT@sim"


def alert_lines(chart) -> list:
    return [ln for ln in chart.lines.lines if (ln.order_id or "").startswith("alert:")]


def move_market(qtbot, kernel, window, side: Side, until) -> None:
    for _ in range(300):
        if until(kernel.market.get(SYMBOL).last):
            return
        kernel.sim.external_order(SYMBOL, side, 2.0)
        pump(qtbot, kernel, window, 20, step=10)
    raise AssertionError(f"the market did not get there: {kernel.market.get(SYMBOL).last}")


def test_an_alert_from_the_chart_is_drawn_dragged_and_fires_and_the_dock_manages_rules(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    chart, panel = window.chart, window.alerts_panel
    window.docks["alerts"].raise_()
    chart.zoom(0.01)  # (the trader zooms in with the wheel: the last bars, a few ticks per pixel)
    pump(qtbot, kernel, window, 50)
    last = kernel.market.get(SYMBOL).last

    # right click in the price pane, 40 px above the market: "Alert when BTC/USDT crosses ..."
    clicked = line_y(chart, last) - 40
    QTest.mouseClick(chart.view, Qt.MouseButton.RightButton, pos=QPoint(300, clicked))
    qtbot.waitUntil(lambda: chart.price_menu.isVisible())
    (action,) = chart.price_menu.actions()
    assert action.text().startswith("Alert when BTC/USDT crosses ")
    qtbot.mouseClick(chart.price_menu, Qt.MouseButton.LeftButton,
                     pos=chart.price_menu.actionGeometry(action).center())
    pump(qtbot, kernel, window, 50)
    (rule,) = kernel.alerts.rules.values()
    assert rule.kind == "price_above" and rule.level > last and abs(line_y(chart, rule.level) - clicked) <= 1
    assert "Alert 1: when BTC/USDT@sim crosses above" in chart.status.text()
    (line,) = alert_lines(chart)
    assert line.style == Qt.PenStyle.DashDotDotLine and line.label == "alert 1 ↑"
    assert table_column(panel.rules, 0) == ["1"] and table_column(panel.rules, 1) == ["armed"]

    # drag its line down to 6 px above the market: the same alert, at the new level
    y, to = line_y(chart, rule.level), line_y(chart, last) - 6
    QTest.mousePress(chart.view, Qt.MouseButton.LeftButton, pos=QPoint(300, y))
    QTest.mouseMove(chart.view, QPoint(300, to))
    QTest.mouseRelease(chart.view, Qt.MouseButton.LeftButton, pos=QPoint(300, to))
    pump(qtbot, kernel, window, 50)
    moved = kernel.alerts.rules["1"]
    assert abs(line_y(chart, moved.level) - to) <= 1 and moved.level < rule.level and moved.state == "armed"
    assert "Alert 1 moved to" in chart.status.text()

    # the market rises through it: the banner says so, the dock's history has it, the line is gone
    move_market(qtbot, kernel, window, Side.BUY, lambda p: p >= moved.level)
    pump(qtbot, kernel, window, 100)
    assert window.banner.isVisible() and "Alert 1: BTC/USDT@sim above" in window.banner.label.text()
    assert table_column(panel.rules, 1) == ["fired"]
    assert table_column(panel.history, 1)[0].startswith("1: BTC/USDT@sim above")
    assert not alert_lines(chart)

    # New… in the dock: a move of 0.5 % within 10 minutes; a level that is not a number is refused in the dialog
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    assert dialog.isVisible()
    choose(dialog.kind, "Price moves %")
    assert dialog.window_min.isVisible() and not dialog.expr.isVisible()
    type_into(dialog.level, "half")
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "is not a number" in dialog.findChild(QLabel, "alertError").text()
    type_into(dialog.level, "150")  # a move of 150 %: the engine refuses it, the dialog says why
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "below 100" in dialog.error.text()
    type_into(dialog.level, "0.5")
    type_into(dialog.window_min, "10")
    type_into(dialog.note, "breakout?")
    type_into(dialog.expires, "8")  # ends unfired in 8 hours
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    assert not dialog.isVisible()
    assert kernel.alerts.rules["2"].kind == "pct_move" and kernel.alerts.rules["2"].window_s == 600
    assert abs(kernel.alerts.rules["2"].expires_ts - kernel.clock.now_ms() - 8 * 3_600_000) < 1_000
    assert "until" in table_column(panel.rules, 3)[1]
    assert table_column(panel.rules, 0) == ["1", "2"] and "moves 0.5 % within 10 min" in table_column(
        panel.rules, 2)[1]

    # Disable, Arm, Delete (asked first) on the selected rule
    panel.rules.selectRow(1)
    qtbot.mouseClick(panel.toggle_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    assert kernel.alerts.rules["2"].state == "disabled" and table_column(panel.rules, 1)[1] == "disabled"
    assert panel.toggle_button.text() == "Arm"
    qtbot.mouseClick(panel.toggle_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    assert kernel.alerts.rules["2"].state == "armed"

    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    box = panel.confirm
    assert box.isVisible() and "Delete alert 2" in box.text() and "2" in kernel.alerts.rules  # asked first
    qtbot.mouseClick(next(b for b in box.buttons() if b.text() == "Delete"), Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    assert "2" not in kernel.alerts.rules and table_column(panel.rules, 0) == ["1"]
    assert isinstance(panel.confirm, QMessageBox)


def test_alert_from_the_watchlist_and_the_ladder_opens_the_dialog_there(qtbot, window_factory):
    from tests.journeys.test_journey_data import click_menu_item, right_click_row

    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    panel = window.alerts_panel
    # the watchlist's row menu: Alert… on BTC/USDT opens the dialog for it, at its last price
    menu = right_click_row(qtbot, window.watchlist.table, "BTC/USDT")
    click_menu_item(qtbot, menu, "Alert…")
    dialog = panel.dialog
    assert dialog.isVisible() and dialog.symbol.currentText() == SYMBOL
    assert float(dialog.level.text()) == kernel.market.get(SYMBOL).last
    dialog.reject()
    # the ladder: right click a row three above its middle; the dialog opens at that price, "crosses above"
    ladder = window.ladder
    ladder.set_symbol(SYMBOL)
    pump(qtbot, kernel, window, 50)
    view = ladder.view
    row = view.rows // 2 - 3
    price = view.model.price(view.row_ticks(row))
    QTest.mouseClick(view, Qt.MouseButton.RightButton, pos=QPoint(20, int(view.ROW_H * (row + 1.5))))
    dialog = panel.dialog
    assert dialog.isVisible() and float(dialog.level.text()) == price
    assert dialog.kind.currentData() == ("price_above" if price >= kernel.market.get(SYMBOL).last else "price_below")
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    (rule,) = kernel.alerts.rules.values()
    assert rule.symbol == SYMBOL and rule.level == price


def test_an_alert_set_with_the_price_already_across_says_so_in_the_dock(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    panel = window.alerts_panel
    window.docks["alerts"].raise_()
    window.chart.set_symbol(SYMBOL)
    pump(qtbot, kernel, window, 20)
    last = kernel.market.get(SYMBOL).last
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    assert dialog.symbol.currentText() == SYMBOL  # New… starts on the chart's symbol, at its last price
    choose(dialog.kind, "Price crosses above")
    type_into(dialog.level, f"{last - 50:.1f}")  # the market is above it already
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    assert not dialog.isVisible()
    text = panel.message.text()
    assert text.startswith("Alert 1 set.") and "is already above" in text and "comes back" in text


def test_channels_are_added_tested_and_an_alert_reaches_one(qtbot, window_factory, memory_keyring):
    from tests.kit.webhook import WebhookReceiver

    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    panel = window.alerts_panel
    window.docks["alerts"].raise_()
    with WebhookReceiver() as hook:
        qtbot.mouseClick(panel.channels_button, Qt.MouseButton.LeftButton)
        dialog = panel.channels_dialog
        assert dialog.isVisible()
        qtbot.waitUntil(lambda: dialog.busy == 0)
        assert "No channels yet" in dialog.status.text()
        # a URL apprise does not take is refused, saying so
        type_into(dialog.name, "desk")
        type_into(dialog.url, "nonsense://what")
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.busy == 0, timeout=10_000)
        assert dialog.status.text().startswith("Not added")
        type_into(dialog.url, hook.url("alerts"))
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.busy == 0 and dialog.table.rowCount() == 1, timeout=10_000)
        assert table_column(dialog.table, 0) == ["desk"] and "/alerts" not in table_column(dialog.table, 1)[0]
        assert dialog.url.text() == ""  # the URL (a token) is not left on screen
        dialog.table.selectRow(0)
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.busy == 0, timeout=15_000)
        assert len(hook.requests) == 1 and "Kestrel test notification" in str(hook.requests[0].body)
        dialog.reject()
        # an alert on the channel: set in the dialog, fired by the market, posted to the receiver
        last = kernel.market.get(SYMBOL).last
        rid = kernel.port.send(SetAlert({"kind": "price_above", "symbol": SYMBOL, "level": last + 0.6,
                                         "channels": ["desk"]}, "manual")).detail
        move_market(qtbot, kernel, window, Side.BUY, lambda p: p >= last + 0.6)
        qtbot.waitUntil(lambda: (pump(qtbot, kernel, window, 20) or True) and len(hook.requests) == 2,
                        timeout=15_000)
        assert "above" in str(hook.requests[1].body) and rid == "1"
        qtbot.waitUntil(lambda: (pump(qtbot, kernel, window, 20) or True)
                        and table_column(panel.history, 3)[:1] != [] and "desk: delivered" in
                        table_column(panel.history, 3)[0], timeout=15_000)


def test_an_indicator_condition_is_checked_in_the_dialog(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    panel = window.alerts_panel
    window.docks["alerts"].raise_()
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    choose(dialog.kind, "Indicator condition")
    assert dialog.expr.isVisible() and dialog.timeframe.isVisible() and not dialog.level.isVisible()
    type_into(dialog.expr, "close > rsi(14)")
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and " at 6" in dialog.error.text(), dialog.error.text()  # where the error is
    type_into(dialog.expr, "RSI(14)>70")
    choose(dialog.timeframe, "5m")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20)
    assert not dialog.isVisible()
    (rule,) = kernel.alerts.rules.values()
    assert (rule.kind, rule.expr, rule.timeframe) == ("indicator", "rsi(14) > 70", "5m")
    assert "5m: rsi(14) > 70" in table_column(panel.rules, 2)[0]
