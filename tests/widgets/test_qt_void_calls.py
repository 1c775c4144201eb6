"""Regression: PySide6 6.12.0 on CPython 3.11 aborts (none_dealloc) after a few thousand void C++ calls.

pyproject pins 6.11.3 on 3.11; this test would crash the interpreter (not just fail) on a bad combination.
"""
from PySide6.QtWidgets import QLabel


def test_100k_void_qt_calls(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    for i in range(100_000):
        label.setText("x")  # returns void
        label.update()  # returns void
    assert label.text() == "x"
