"""The Models dock on the real window: the bundled model with its importances and metrics, live drift and
inference time of a running ML strategy, training in a worker process with a progress bar, the status bar's
tick-to-venue latency."""
from __future__ import annotations

from tests.kit.series import write_generated_bars as _write_bars
from tests.kit.ui import pump, table_column


def test_bundled_model_then_live_drift_and_latency(window_factory, qtbot):
    kernel, window = window_factory()
    panel = window.ml_panel
    assert "ml" in window.docks
    pump(qtbot, kernel, window, 100)
    assert panel.model_box.currentText() == "default (bundled)"
    assert "default v1" in panel.info.text() and "AUC" in panel.info.text()
    assert panel.importances.rowCount() == 15 and panel.metrics.rowCount() > 10
    assert "Not in use" in panel.live.text()

    kernel.strategies.load("ml_signal", "ml-1", {"symbol": "BTC/USDT@sim", "enter": 0.0, "fraction": 0.05})
    assert kernel.strategies.start("ml-1"), kernel.strategies.runners["ml-1"].reason
    pump(qtbot, kernel, window, 61_000)  # one 60 s bar closes: the strategy buys through the risk gate
    panel._last_live = 0.0
    pump(qtbot, kernel, window, 100)
    assert panel.model_box.currentText().startswith("default v1 — in use by ml-1")
    assert "drift window" in panel.live.text() and "inference p50" in panel.live.text()
    assert panel.drift.rowCount() == 15
    assert set(table_column(panel.drift, 2)) <= {"stable", "moderate", "DRIFT", "collecting"}
    assert kernel.strategies.host.position("ml-1", "BTC/USDT@sim") > 0
    window.status._last = (0.0, 0)  # let the 1 Hz status refresh run now
    window.status.refresh()
    assert window.status.e2e.text().startswith("tick→venue p50")


def test_training_from_the_panel_runs_in_a_worker_and_registers(window_factory, qtbot, tmp_path):
    kernel, window = window_factory()
    panel = window.ml_panel
    panel.data_path.setText(str(tmp_path / "missing.csv"))
    panel.train_button.click()
    assert "no such file" in panel.status.text() and panel.job is None

    panel.data_path.setText(str(_write_bars(tmp_path / "GEN-1m.csv")))
    panel.kind.setCurrentText("logistic")
    panel.horizon.setValue(3)
    panel.train_button.click()
    assert panel.job is not None and not panel.train_button.isEnabled()
    seen = set()

    def finished() -> bool:
        window.frames.tick()
        seen.add(panel.progress.value())
        return panel.job is None

    qtbot.waitUntil(finished, timeout=180_000)
    assert "registered logistic-h3@1" in panel.status.text(), panel.status.text()
    assert panel.progress.value() == 100 and len(seen) >= 2
    assert panel.model_box.currentText() == "logistic-h3 v1 (#1)"
    rec = panel.overview.registry.resolve("logistic-h3")
    assert (kernel.profile / "models" / "logistic-h3-v1.onnx").exists() and rec.task == "classify"
    assert panel.train_button.isEnabled()
