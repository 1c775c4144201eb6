"""Journey: a trader sets up the charts (symbol, timeframe, indicators from the Chart menu's dialog, an extra
chart window), restarts the terminal, and finds them as they left them, drawn. Defect 9: indicators were
lost on restart (they were saved only when the window closed: a terminal that was killed lost them; and one
saved indicator the registry no longer had dropped every one after it)."""
from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.widgets.chart.dialogs import IndicatorDialog
from tests.kit.journeys import pick_in_combo
from tests.kit.ui import pump, watch_row


def click_row(qtbot, table, text: str) -> None:
    (item,) = table.findItems(text, Qt.MatchFlag.MatchExactly)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center())


def menu_action(window, menu_title: str, text: str):
    (menu,) = [a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == menu_title]
    (action,) = [a for a in menu.actions() if a.text() == text]
    return action


def the_dialog(qtbot) -> IndicatorDialog:
    def shown() -> list[IndicatorDialog]:
        return [w for w in QApplication.topLevelWidgets() if isinstance(w, IndicatorDialog) and w.isVisible()]

    qtbot.waitUntil(lambda: len(shown()) == 1)
    return shown()[0]


def choose_indicator(qtbot, dlg: IndicatorDialog, name: str, param: str, value: str) -> None:
    """Click the indicator in the list, type a parameter, click OK (what a person does in the dialog)."""
    (item,) = [dlg.list.item(r) for r in range(dlg.list.count())
               if dlg.list.item(r).data(Qt.ItemDataRole.UserRole) == name]
    dlg.list.scrollToItem(item)
    where = dlg.list.visualItemRect(item).center()
    qtbot.mouseClick(dlg.list.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert dlg.name == name
    editor = dlg.editors[param]
    editor.setFocus()
    QTest.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(editor, value)
    ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible())


def legend_text(pane) -> str:
    return "  ".join(t for row in pane.legend.rows for t, _c in row)


def drawn_pixels(chart, color: str) -> int:
    """Pixels of ``color`` in the chart as painted now (an indicator's line)."""
    chart.view.repaint()
    img = chart.view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    bgra = rows[:, : 4 * img.width()].reshape(img.height(), img.width(), 4).astype(int)
    want = QColor(color)
    diff = abs(bgra[..., 2] - want.red()) + abs(bgra[..., 1] - want.green()) + abs(bgra[..., 0] - want.blue())
    return int((diff < 30).sum())


def assert_drawn(qtbot, kernel, window, chart, label: str) -> None:
    assert chart.wait_indicators()
    pump(qtbot, kernel, window, 200)
    (ind,) = [i for i in chart.indicators if i.label == label]
    legend = legend_text(ind.pane)
    assert f"{label} " in legend and "…" not in legend.split(label)[1][:3], legend
    value = float(legend.split(f"{label} ")[1].split()[0].replace(",", ""))
    assert np.isfinite(value)
    assert drawn_pixels(chart, ind.colors[0]) > 20


def test_indicators_timeframe_and_symbol_of_every_chart_survive_a_restart(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    chart = window.chart

    table = window.watchlist.table
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualItemRect(table.item(watch_row(window, "ETH/USDT@sim"), 0)).center())
    assert chart.symbol == "ETH/USDT@sim" and chart.symbol_box.currentText() == "ETH/USDT@sim"
    menu_action(window, "Chart", "Add indicator…").trigger()
    choose_indicator(qtbot, the_dialog(qtbot), "ema", "timeperiod", "8")
    pick_in_combo(chart.tf_box, "15m")
    assert [i.label for i in chart.indicators] == ["EMA(8)"] and chart.tf == 900_000
    assert_drawn(qtbot, kernel, window, chart, "EMA(8)")

    window.activateWindow()
    menu_action(window, "Chart", "New chart window").trigger()
    (extra,) = window.chart_docks.charts.values()
    pick_in_combo(extra.symbol_box, "BTC/USDT@sim")
    pick_in_combo(extra.tf_box, "5m")
    extra._fill_indicator_menu()  # the chart's own Indicators menu
    (add,) = [a for a in extra.ind_menu.actions() if a.text() == "Add indicator…"]
    add.trigger()
    choose_indicator(qtbot, the_dialog(qtbot), "rsi", "timeperiod", "9")
    assert [i.label for i in extra.indicators] == ["RSI(9)"]
    pump(qtbot, kernel, window, 200)

    kernel, window = window_factory.restart(kernel, window)
    chart = window.chart
    assert chart.symbol_box.currentText() == "ETH/USDT@sim" and chart.tf_box.currentText() == "15m"
    assert "ETH/USDT@sim · 15m" in chart.title.text()
    assert [i.label for i in chart.indicators] == ["EMA(8)"]
    assert_drawn(qtbot, kernel, window, chart, "EMA(8)")
    (extra,) = window.chart_docks.charts.values()
    assert extra.isVisible()
    assert extra.symbol_box.currentText() == "BTC/USDT@sim" and extra.tf_box.currentText() == "5m"
    assert [i.label for i in extra.indicators] == ["RSI(9)"]
    assert_drawn(qtbot, kernel, window, extra, "RSI(9)")
    assert window.ticket.symbol.currentText() == "ETH/USDT@sim"  # the window follows the restored chart


def test_a_terminal_that_was_killed_keeps_its_chart_setup(qtbot, window_factory, profile, sim_clock):
    """kill -9, a crash, a power cut: the window never closes, so nothing is saved then. What the trader
    set up must already be in the profile."""
    from app.bootstrap import build

    kernel, window = build(profile, clock=sim_clock)
    window.show()
    pump(qtbot, kernel, window, 200)
    menu_action(window, "Chart", "Add indicator…").trigger()
    choose_indicator(qtbot, the_dialog(qtbot), "sma", "timeperiod", "33")
    pick_in_combo(window.chart.tf_box, "5m")
    extra = window.chart_docks.add()
    pick_in_combo(extra.symbol_box, "ETH/USDT@sim")
    kernel.close()  # the process dies: no closeEvent, no save
    window.frames.stop()
    window.deleteLater()
    qtbot.wait(10)

    kernel, window = window_factory()
    assert [i.label for i in window.chart.indicators] == ["SMA(33)"]
    assert window.chart.tf_box.currentText() == "5m"
    assert [c.symbol for c in window.chart_docks.charts.values()] == ["ETH/USDT@sim"]
    assert_drawn(qtbot, kernel, window, window.chart, "SMA(33)")


def test_a_saved_chart_entry_that_no_longer_fits_is_skipped_with_a_log_line(qtbot, window_factory, profile,
                                                                            caplog):
    """An indicator removed from the registry, parameters it now refuses, a symbol no longer configured, an
    unknown timeframe: each is skipped and logged; everything else is restored; the terminal starts."""
    from app.engine.core.store import Store

    store = Store(profile / "kestrel.db")
    store.set_setting("ui.charts", {
        "main": {"symbol": "ETH/USDT@sim", "timeframe": "15m", "log": False, "indicators": [
            {"name": "gone_from_registry", "params": {}},
            {"name": "sma", "params": {"timeperiod": -4}},
            {"name": "ema", "params": {"timeperiod": 12}},
            "not an entry",
        ]},
        "docks": [
            {"symbol": "DOGE/USDT", "timeframe": "7m",
             "indicators": [{"name": "rsi", "params": {"timeperiod": 5}}]},
            42,
        ],
    })
    store.close()
    with caplog.at_level(logging.WARNING, logger="kestrel.ui.chart"):
        kernel, window = window_factory()
    chart = window.chart
    assert chart.symbol == "ETH/USDT@sim" and chart.tf_box.currentText() == "15m"
    assert [i.label for i in chart.indicators] == ["EMA(12)"]
    (extra,) = window.chart_docks.charts.values()
    assert extra.symbol == "ETH/USDT@sim"  # DOGE/USDT is not configured: the main chart's symbol instead
    assert [i.label for i in extra.indicators] == ["RSI(5)"]
    logged = caplog.text
    for expected in ("gone_from_registry", "timeperiod", "'not an entry'", "DOGE/USDT", "'7m'", "42"):
        assert expected in logged, expected
    assert_drawn(qtbot, kernel, window, chart, "EMA(12)")


def test_a_terminal_that_was_killed_keeps_its_dock_layout(qtbot, window_factory, profile, sim_clock):
    """Dock positions were saved only when the window closed: after a kill the docks came back at their
    defaults. They are saved within seconds of being moved."""
    from PySide6.QtCore import Qt

    from app.bootstrap import build

    kernel, window = build(profile, clock=sim_clock)
    window.show()
    pump(qtbot, kernel, window, 100)
    window.docks["ladder"].setFloating(True)  # the trader tears the order book off
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.docks["watchlist"])
    qtbot.waitUntil(lambda: kernel.store.get_setting("ui.window_state") is not None
                    and window._saved_layout == (bytes(window.saveGeometry()), bytes(window.saveState())),
                    timeout=10_000)  # the window's own timer, every few seconds
    kernel.close()  # the process dies: no closeEvent, no save
    window.frames.stop()
    window.layout_saver.stop()
    window.deleteLater()
    qtbot.wait(10)

    kernel, window = window_factory()
    assert window.docks["ladder"].isFloating()
    assert window.dockWidgetArea(window.docks["watchlist"]) == Qt.DockWidgetArea.BottomDockWidgetArea
