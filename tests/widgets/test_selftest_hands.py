"""The self-test's hands (``app.cli.selftest.hands``) refuse what a person could not do or would not accept: a
dialog too big for a 1366x768 laptop screen, a button outside its dialog, a button that is disabled or
covered by another widget. Each refusal names what is wrong."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog, QLabel, QLayout, QPushButton, QVBoxLayout, QWidget

from app.cli.selftest.checks import StepFailed
from app.cli.selftest.hands import click, fits_small_screen


def shown_dialog(qtbot, w: int, h: int) -> QDialog:
    dialog = QDialog()
    qtbot.addWidget(dialog)
    QVBoxLayout(dialog).addWidget(QPushButton("OK"))
    dialog.resize(w, h)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_a_dialog_that_fits_a_small_screen_passes(qtbot):
    assert fits_small_screen(shown_dialog(qtbot, 560, 520), "the dialog") == "560x520 px fits 1366x768"


def test_a_dialog_taller_than_a_small_screen_is_refused(qtbot):
    with pytest.raises(StepFailed, match=r"the dialog opens at 9\d\dx7\d\d px: more than a 1366x768 screen has "
                                         r"room for \(1366x688\)"):
        fits_small_screen(shown_dialog(qtbot, 900, 760), "the dialog")


def test_a_dialog_whose_content_needs_more_than_a_small_screen_is_refused(qtbot):
    """Shown small (its layout does not hold it to its content), it still could not show all of it."""
    dialog = QDialog()
    qtbot.addWidget(dialog)
    layout = QVBoxLayout(dialog)
    layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
    tall = QLabel("a tall form")
    tall.setMinimumHeight(700)
    layout.addWidget(tall)
    dialog.resize(600, 400)
    dialog.show()
    qtbot.waitExposed(dialog)
    with pytest.raises(StepFailed, match=r"the dialog cannot shrink below \d+x7\d\d px"):
        fits_small_screen(dialog, "the dialog")


def test_a_button_outside_its_dialog_is_refused(qtbot):
    dialog = shown_dialog(qtbot, 400, 300)
    far = QPushButton("Far away", dialog)
    far.move(380, 10)
    far.show()
    with pytest.raises(StepFailed, match="its 'Far away' button lies outside it"):
        fits_small_screen(dialog, "the dialog")


def test_a_disabled_or_covered_button_cannot_be_clicked(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    host.resize(300, 200)
    button = QPushButton("Resume", host)
    button.setGeometry(10, 10, 120, 30)
    clicks = []
    button.clicked.connect(lambda: clicks.append(1))
    host.show()
    qtbot.waitExposed(host)
    click(button, "Resume")
    assert clicks == [1]

    button.setEnabled(False)
    with pytest.raises(StepFailed, match="Resume is disabled"):
        click(button, "Resume")
    button.setEnabled(True)
    cover = QLabel("over it", host)
    cover.setGeometry(0, 0, 300, 200)
    cover.show()
    cover.raise_()
    with pytest.raises(StepFailed, match="Resume is (covered by another widget|not on screen)"):
        click(button, "Resume")
    assert clicks == [1]
