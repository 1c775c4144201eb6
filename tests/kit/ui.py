"""Driving the real window as a person and the live loop do: frames, tables, typing, drop-downs."""
from __future__ import annotations


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
    """Replace a field's text as a person does: select all, type."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(field, text)


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
