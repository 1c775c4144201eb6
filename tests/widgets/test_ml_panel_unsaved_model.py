"""The Models dock says when a model it trained cannot be saved in the profile (its models folder is a file,
read-only, or the disk is full). It used to fail inside the window's refresh: the dock kept showing the last
progress message ("backtesting the signal on the holdout bars") as if training went on, and nothing said
why no model appeared. Found by the self-test on a profile whose ``models`` was a file."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.cli.selftest.checks import write_bars
from tests.kit.ui import pump


def test_a_trained_model_that_cannot_be_saved_is_reported_in_the_dock(qtbot, window_factory, profile, tmp_path):
    (profile / "models").write_text("a file where the models folder goes")
    kernel, window = window_factory()
    window.docks["ml"].raise_()
    panel = window.ml_panel
    pump(qtbot, kernel, window, 100)
    data = write_bars(tmp_path / "bars.csv", 600)
    qtbot.mouseClick(panel.data_path, Qt.MouseButton.LeftButton)
    QTest.keyClicks(panel.data_path, str(data))
    panel.kind.setFocus()
    QTest.keyClicks(panel.kind, "linear")
    assert panel.kind.currentText() == "linear"
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.job is not None

    end = time.monotonic() + 120
    while panel.job is not None and time.monotonic() < end:
        pump(qtbot, kernel, window, 100)
    assert panel.job is None, "training did not finish within 120 s"

    assert panel.status.text() == (f"trained, but not saved: {profile / 'models'} cannot hold models (it is a "
                                   f"file, not a folder). Make it a writable folder and train again.")
    assert "f87171" in panel.status.styleSheet()  # shown as an error
    assert panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.model_box.currentText() == "default (bundled)"  # nothing registered
    assert panel.overview.registry.list() == []
