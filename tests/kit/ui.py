"""Driving the real window as a person and the live loop do: frames, tables, typing, drop-downs, and
answering the modal dialogs (file dialogs, message boxes) it opens."""
from __future__ import annotations

from pathlib import Path


def pump(qtbot, kernel, window, ms: int = 200, step: int = 50) -> None:
    """Advance the market and let the UI run one frame per step, as the live loop does."""
    for _ in range(max(ms // step, 1)):
        kernel.clock.advance(step)
        kernel.step()
        window.frames.tick()
    qtbot.wait(1)


def table_column(table, col: int) -> list[str]:
    """The texts of one column of a QTableWidget, top to bottom ("" for an empty cell)."""
    return [table.item(r, col).text() if table.item(r, col) else "" for r in range(table.rowCount())]


def type_into(field, text: str) -> None:
    """Replace a field's text as a person does: select all, type (or delete, for no text)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    if text:
        QTest.keyClicks(field, text)
    else:
        QTest.keyClick(field, Qt.Key.Key_Delete)


def choose(combo, text: str) -> None:
    """Pick an entry of a drop-down with the arrow keys."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.keyClick(combo, Qt.Key.Key_Home)
    for _ in range(combo.count()):
        if combo.currentText() == text:
            return
        QTest.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == text, f"{text!r} is not in the drop-down"


def answer_modal(qtbot, respond, seen: list) -> None:
    """When the next modal dialog is up (a static ``getOpenFileName`` and friends block in their own event
    loop), hand it to ``respond``; what it was is appended to ``seen``."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible():
            QTimer.singleShot(20, poll)
            return
        seen.append((type(dialog).__name__, dialog.windowTitle(), dialog.grab().isNull()))
        try:
            respond(dialog)
        finally:
            if dialog.isVisible():  # the answer did not close it: never leave the test blocked in exec()
                seen.append("left open")
                dialog.reject()
    QTimer.singleShot(20, poll)


def type_file_name(qtbot, path: Path):
    from PySide6.QtWidgets import QLineEdit

    def respond(dialog) -> None:
        edit = dialog.findChild(QLineEdit, "fileNameEdit")
        edit.setText(str(path))  # pasted: typing it would open the completer's popup over the dialog
        dialog.accept()  # the Open/Save button
    return respond


def watch_ids(window) -> list[str]:
    """The instrument id of each watchlist row as a person reads it (its Symbol and Venue columns), top to
    bottom: ``["BTC/USDT@sim", ...]``."""
    from app.widgets.trading.watchlist import SYMBOL, VENUE

    table = window.watchlist.table
    return [f"{table.item(r, SYMBOL).text()}@{table.item(r, VENUE).text()}" for r in range(table.rowCount())]


def watch_row(window, instrument_id: str) -> int:
    """The watchlist row showing ``instrument_id`` (its Symbol and Venue)."""
    (row,) = [r for r, shown in enumerate(watch_ids(window)) if shown == instrument_id]
    return row
