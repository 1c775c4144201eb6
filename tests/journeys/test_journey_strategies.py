"""Journey: the Strategies dock, driven by clicks and keys in the shown window: load a plugin from the
profile's plugins folder, edit its parameters (a bad value gets a clear message), start, stop, edit the file
and reload it (the new code runs), kill it with a reason, remove it."""
from __future__ import annotations

import os
import time

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QInputDialog, QLineEdit, QMessageBox

from tests.kit.ui import pump, table_column

PLUGIN = '''from app.api import Param, Strategy


class Journey(Strategy):
    name = "journey"
    api_version = "1.1"
    every = Param(5, lo=1, hi=100, doc="log every N trades")
    side = Param("buy", choices=("buy", "sell"))

    def on_start(self):
        self.n = 0
        self.log.info("journey VERSION started: every=%d side=%s", self.p.every, self.p.side)

    def on_tick(self, tick):
        self.n += 1
        if self.n % self.p.every == 0:
            self.log.info("journey VERSION saw %d trades", self.n)
'''


def write_plugin(profile, version: str) -> None:
    path = profile / "plugins" / "journey.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(PLUGIN.replace("VERSION", version))
    later = time.time() + (2 if version != "v1" else 0)
    os.utime(path, (later, later))  # an edit a moment later (mtime resolution is coarse on some disks)


def click(qtbot, widget) -> None:
    assert widget.isVisible() and widget.isEnabled(), widget.text()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def click_row(qtbot, table, text: str) -> None:
    (item,) = table.findItems(text, Qt.MatchFlag.MatchExactly)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center())


def edit_param(qtbot, dock, name: str, text: str) -> None:
    """Double-click the parameter's value, type over it, Enter."""
    table = dock.params
    qtbot.waitUntil(table.isVisible)
    qtbot.wait(1)  # laid out
    (key,) = table.findItems(name, Qt.MatchFlag.MatchExactly)
    cell = table.visualItemRect(table.item(key.row(), 1)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)  # a double click: press, release,
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)  # then the double-click
    editor = QApplication.focusWidget()
    QTest.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(editor, text)
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.wait(1)  # the delegate commits on the next turn of the event loop
    assert table.item(key.row(), 1).text() == text


def shown(cls):
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, cls) and w.isVisible()]


def status(dock) -> str:
    return table_column(dock.table, 3)[0]


def test_load_edit_start_stop_reload_kill_remove(qtbot, window_factory, profile):
    write_plugin(profile, "v1")
    kernel, window = window_factory()
    window.docks["strategies"].raise_()
    dock = window.strategies
    pump(qtbot, kernel, window, 100)

    # load: pick the plugin with the keyboard, click Load
    combo = dock.plugin_box
    combo.setFocus()
    QTest.keyClicks(combo, "journey")
    assert combo.currentText() == "journey"
    click(qtbot, dock.load_button)
    assert table_column(dock.table, 0) == ["journey-1"] and status(dock) == "STOPPED"
    assert "Loaded journey-1" in dock.message.text()

    # parameters: bad values are refused with a message that says which and why; a good one is saved
    click_row(qtbot, dock.table, "journey-1")
    dock.details.setCurrentIndex(1)
    edit_param(qtbot, dock, "every", "0")
    click(qtbot, dock.apply_button)
    assert dock.message.text() == "parameter 'every': 0 is below its minimum 1"
    edit_param(qtbot, dock, "every", "lots")
    click(qtbot, dock.apply_button)
    assert dock.message.text() == "parameter 'every': 'lots' is not a valid int"
    edit_param(qtbot, dock, "side", "short")
    edit_param(qtbot, dock, "every", "3")
    click(qtbot, dock.apply_button)
    assert dock.message.text() == "parameter 'side': 'short' is not one of ['buy', 'sell']"
    assert kernel.strategies.runners["journey-1"].params["every"] == 5  # nothing applied from a bad form
    edit_param(qtbot, dock, "side", "sell")
    click(qtbot, dock.apply_button)
    assert dock.message.text() == "journey-1: parameters saved"
    assert kernel.strategies.runners["journey-1"].params == {"every": 3, "side": "sell",
                                                            "symbol": window.chart.symbol}

    # start: it runs with the parameters; its log shows in the Log tab
    dock.details.setCurrentIndex(0)
    click(qtbot, dock.start_button)
    assert status(dock) == "RUNNING" and dock.message.text() == "journey-1 started"
    dock.details.setCurrentIndex(2)
    qtbot.waitUntil(lambda: (pump(qtbot, kernel, window, 500) or True)
                    and "journey v1 saw 3 trades" in dock.log_view.toPlainText(), timeout=10_000)
    assert "journey v1 started: every=3 side=sell" in dock.log_view.toPlainText()
    assert "journey v1 saw 3 trades" in dock.log_view.toPlainText()

    # stop
    dock.details.setCurrentIndex(0)
    click(qtbot, dock.stop_button)
    pump(qtbot, kernel, window, 100)
    assert status(dock) == "STOPPED" and dock.message.text() == "journey-1 stopped"

    # start again, edit the file on disk: the dock says so; Reload runs the new code, still running
    click(qtbot, dock.start_button)
    write_plugin(profile, "v2")
    pump(qtbot, kernel, window, 1_200)
    qtbot.waitUntil(lambda: (pump(qtbot, kernel, window, 100) or True)
                    and "file changed on disk: Reload" in table_column(dock.table, 9)[0], timeout=5_000)
    click(qtbot, dock.reload_button)
    pump(qtbot, kernel, window, 500)
    assert dock.message.text() == "journey reloaded; instances journey-1 now run the new code"
    assert status(dock) == "RUNNING" and "file changed" not in table_column(dock.table, 9)[0]
    assert "journey v2 started: every=3 side=sell" in dock.log_view.toPlainText()  # parameters carried over

    # kill, asked for a reason: an empty one kills nothing and says why; a reason halts it
    click(qtbot, dock.kill_button)
    (ask,) = shown(QInputDialog)
    click(qtbot, ask.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    assert status(dock) == "RUNNING" and "not killed: give a reason" in dock.message.text()
    click(qtbot, dock.kill_button)
    (ask,) = shown(QInputDialog)
    reason = ask.findChild(QLineEdit)
    QTest.keyClicks(reason, "journey kill")
    QTest.keyClick(reason, Qt.Key.Key_Return)
    pump(qtbot, kernel, window, 200)
    assert status(dock) == "STOPPED" and "risk: HALTED" in table_column(dock.table, 9)[0]
    assert dock.message.text() == "journey-1 HALTED: journey kill"
    assert kernel.risk.strategy_states["journey-1"][0].value == "HALTED"

    # remove, after a confirmation
    click(qtbot, dock.remove_button)
    (box,) = shown(QMessageBox)
    assert "Remove journey-1?" in box.text()
    click(qtbot, box.button(QMessageBox.StandardButton.Yes))
    pump(qtbot, kernel, window, 100)
    assert dock.table.rowCount() == 0 and dock.message.text() == "journey-1 removed"
