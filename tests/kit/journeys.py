"""What the journeys showed in this session (filled by tests/journeys/conftest.py, read by
test_zz_every_dialog_is_shown.py): one module object, so both see the same sets."""
from __future__ import annotations

#: (class name, window title) of every dialog shown during this session's journeys
SHOWN: set[tuple[str, str]] = set()
#: the journey modules that ran in this session
RAN: set[str] = set()


def pick_in_combo(combo, text: str) -> None:
    """Arrow keys on the combo box until it shows ``text``."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    target = combo.findText(text)
    assert target >= 0, text
    combo.setFocus()
    key = Qt.Key.Key_Down if target > combo.currentIndex() else Qt.Key.Key_Up
    for _ in range(combo.count()):
        if combo.currentIndex() == target:
            break
        QTest.keyClick(combo, key)
    assert combo.currentText() == text
