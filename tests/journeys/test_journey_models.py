"""Journey: the Models dock in the shown window: a file that cannot train gets a clear message; a short
training runs in its worker process (the window stays live, the progress bar moves) to the result shown:
the registered model selected, its metrics and importances."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.kit.series import write_generated_bars as write_bars
from tests.kit.ui import pump, table_column


def type_into(qtbot, field, text: str) -> None:
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    QTest.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(field, text)


def test_train_a_model_from_the_models_dock(qtbot, window_factory, tmp_path):
    kernel, window = window_factory()
    window.docks["ml"].raise_()
    panel = window.ml_panel
    pump(qtbot, kernel, window, 100)
    assert panel.isVisible() and panel.model_box.currentText() == "default (bundled)"

    header_only = tmp_path / "empty.csv"
    header_only.write_text("timestamp,open,high,low,close,volume\n")
    type_into(qtbot, panel.data_path, str(header_only))
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.job is None and panel.train_button.isEnabled()
    assert panel.status.text() == f"{header_only}: no bars (the file has a header and no data rows)"

    type_into(qtbot, panel.data_path, str(write_bars(tmp_path / "GEN-1m.csv")))
    panel.kind.setFocus()
    QTest.keyClicks(panel.kind, "logistic")
    assert panel.kind.currentText() == "logistic"
    type_into(qtbot, panel.horizon.lineEdit(), "3")
    assert panel.horizon.value() == 3
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.job is not None and not panel.train_button.isEnabled() and panel.cancel_button.isEnabled()
    assert "in a worker process" in panel.status.text()

    progress, frames = set(), 0
    end = time.monotonic() + 180
    while panel.job is not None and time.monotonic() < end:
        pump(qtbot, kernel, window, 100)  # the market and the window keep running meanwhile
        frames += 1
        progress.add(panel.progress.value())
    assert panel.job is None, "training did not finish within 180 s"
    assert frames >= 2 and len(progress) >= 2  # the loop kept turning; the bar moved

    assert panel.status.text().startswith("registered logistic-h3@1 (#1); holdout AUC "), panel.status.text()
    assert panel.progress.value() == 100
    assert panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.model_box.currentText() == "logistic-h3 v1 (#1)"
    assert "logistic-h3 v1" in panel.info.text() and "horizon 3 bars" in panel.info.text()
    assert panel.importances.rowCount() > 0 and all(table_column(panel.importances, 0))
    metrics = dict(zip(table_column(panel.metrics, 0), table_column(panel.metrics, 1)))
    assert "holdout.roc_auc" in metrics and metrics["holdout.roc_auc"] != "—"
    assert (kernel.profile / "models" / "logistic-h3-v1.onnx").exists()
