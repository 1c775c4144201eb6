"""Models dock: the active model, its live drift and inference time, permutation importances, metrics, and
training in a worker process with a progress bar, on a bar file or a series of the bar store (read in that
process). A thin view over ``app.engine.ml.overview`` (what to show) and ``app.engine.ml.jobs`` (the training
process); it repaints at frame rate when they move."""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QTabWidget, QVBoxLayout,
    QWidget,
)

from app.engine.core.messages import CommandRefused, RegisterModel
from app.engine.ml import MODELS
from app.engine.ml.drift import status as drift_status
from app.engine.ml.overview import ModelEntry
from app.engine.port import Port
from app.widgets.common import make_table, set_cell
from app.widgets.panels.bar_source import BarSourcePicker
from app.widgets.theme import DOWN, MUTED, UP, css_color

DRIFT_COLOR = {"stable": UP, "moderate": MUTED, "DRIFT": DOWN, "collecting": MUTED}


def _f(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        return f"{v:,.{digits}g}" if math.isfinite(v) else "—"
    return "—" if v is None else str(v)


def _day(ms: Any) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000)) if ms else "—"


class MlPanel(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(140)  # explicit, so this tabbed dock does not set the window's minimum height
        self._port = port
        self.overview = port.models
        self._seen = -1
        self._keys: list[str] = []
        self._entries: dict[str, ModelEntry] = {}
        self._shown = ""
        self._last_live = 0.0
        self._live_due = False  # a live view was skipped by the 0.5 s limit and is still to be shown
        self.job = None
        self._job_dir: str | None = None

        self.model_box = QComboBox()
        self.model_box.currentIndexChanged.connect(self._select)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.live = QLabel("")
        self.live.setWordWrap(True)  # a sentence: wrapped, not the dock's minimum width
        self.drift = make_table(["Feature", "PSI", "Drift"])
        self.importances = make_table(["Feature", "Importance", "±", ""])
        self.metrics = make_table(["Metric", "Value"])
        self.tabs = QTabWidget()
        dbox = QWidget()
        dl = QVBoxLayout(dbox)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.live)
        dl.addWidget(self.drift, 1)
        self.tabs.addTab(dbox, "Drift")
        self.tabs.addTab(self.importances, "Importances")
        self.tabs.addTab(self.metrics, "Metrics")

        self.data_source = BarSourcePicker(port.bar_store)  # a file, or a stored series
        # narrower than in the Backtest dialog: this dock shares the bottom row with the order table (longer
        # times and names elide, their whole text is in the tooltip)
        self.data_source.series_box.setMinimumContentsLength(12)
        for field in (self.data_source.since, self.data_source.until):
            field.setMinimumWidth(field.fontMetrics().horizontalAdvance("2024-01-31 09:30"))
        self.data_path = self.data_source.path
        self.kind = QComboBox()
        self.kind.addItems(list(MODELS))
        self.horizon = QSpinBox(minimum=1, maximum=1000, value=5)
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        top = QFormLayout()
        top.addRow("Model", self.model_box)
        controls = QWidget()
        row = QHBoxLayout(controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Model"))
        row.addWidget(self.kind)
        row.addWidget(QLabel("Horizon"))
        row.addWidget(self.horizon)
        row.addWidget(self.train_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(self.tabs, 1)
        # the training controls on their own row, under the data they train on: beside the data rows they
        # made the dock ~1,000 px wide at least, and the order table beside it a third of the window
        layout.addWidget(self.data_source)
        layout.addWidget(controls)
        layout.addWidget(self.status)

    # ------------------------------------------------------------------------------------------ refresh
    def refresh(self) -> None:
        if self.job is not None:
            self._poll_job()
        self.overview.poll()
        version = self.overview.version
        if version == self._seen:
            if self._live_due:  # a change came within 0.5 s of the last live view: show it now
                self._show_selected()
            return
        self._seen = version
        entries = self.overview.entries()
        keys = [e.key for e in entries]
        self._entries = {e.key: e for e in entries}
        if keys != self._keys:
            current = self._keys[self.model_box.currentIndex()] if 0 <= self.model_box.currentIndex() < len(
                self._keys) else ""
            started = [k for k in keys if k.startswith("live:") and k not in self._keys]
            self._keys = keys
            self.model_box.blockSignals(True)
            self.model_box.clear()
            self.model_box.addItems([e.label for e in entries])
            # follow a model a strategy just started using; otherwise keep the trader's choice
            index = keys.index(started[0]) if started else (keys.index(current) if current in keys else 0)
            self.model_box.setCurrentIndex(index)
            self.model_box.blockSignals(False)
            self._shown = ""
        self._show_selected()

    def selected(self) -> ModelEntry | None:
        i = self.model_box.currentIndex()
        return self._entries.get(self._keys[i]) if 0 <= i < len(self._keys) else None

    def _select(self, _index: int) -> None:
        self._shown = ""
        self._show_selected()

    def _show_selected(self) -> None:
        entry = self.selected()
        if entry is None:
            self.info.setText("No model yet: train one below, or start the bundled ml_signal strategy.")
            return
        if entry.key != self._shown:
            self._shown = entry.key
            self._show_static(entry)
        now = time.monotonic()
        self._live_due = now - self._last_live < 0.5  # drift moves once per bar: twice a second is plenty
        if not self._live_due:
            self._last_live = now
            self._show_live(entry)

    def _show_static(self, entry: ModelEntry) -> None:
        m = entry.manifest
        hold = (m.get("metrics") or {}).get("holdout") or {}
        bt = (m.get("metrics") or {}).get("backtest") or {}
        score = f"AUC {_f(hold.get('roc_auc'), 3)}" if "roc_auc" in hold else f"R² {_f(hold.get('r2'), 3)}"
        span = m.get("train_span") or {}
        sha = (entry.handle.loaded.sha256 if entry.handle else (entry.record.sha256 if entry.record else
                                                                 (m.get("onnx") or {}).get("sha256", "")))
        self.info.setText(
            f"<b>{m.get('name')} v{m.get('version', 1)}</b> — {m.get('model')} ({m.get('task')}), horizon "
            f"{m.get('horizon')} bars, {len(m.get('features') or [])} features; trained on {span.get('rows')} rows "
            f"{_day(span.get('start_ts'))} – {_day(span.get('end_ts'))}; holdout {score}; backtest return "
            f"{_f(bt.get('total_return'), 3)} (buy and hold {_f(bt.get('buy_and_hold_return'), 3)}); "
            f"sha256 {sha[:12]}…" + (" verified, in use by " + ", ".join(entry.used_by) if entry.used_by else ""))
        imps = m.get("importances") or []
        self.importances.setRowCount(len(imps))
        top = max((d["mean"] for d in imps), default=0.0) or 1.0
        for r, d in enumerate(imps):
            set_cell(self.importances, r, 0, d["feature"], align_right=False)
            set_cell(self.importances, r, 1, f"{d['mean']:+.4f}")
            set_cell(self.importances, r, 2, f"{d['std']:.4f}")
            set_cell(self.importances, r, 3, "█" * max(0, int(round(12 * d["mean"] / top))), UP, align_right=False)
        rows = []
        for part in ("holdout", "cv", "backtest", "agreement"):
            for k, v in ((m.get("metrics") or {}).get(part) or {}).items():
                rows.append((f"{part}.{k}", _f(v) if isinstance(v, float) else str(v)))
        self.metrics.setRowCount(len(rows))
        for r, (k, v) in enumerate(rows):
            set_cell(self.metrics, r, 0, k, align_right=False)
            set_cell(self.metrics, r, 1, v)

    def _show_live(self, entry: ModelEntry) -> None:
        h = entry.handle
        if h is None or h.drift is None:
            self.live.setText("Not in use: start a strategy with this model to see live drift "
                              "(PSI of each feature, last 500 closed bars, against training).")
            self.drift.setRowCount(0)
            return
        report = h.drift.report()
        worst = h.drift.worst()
        self.live.setText(
            f"score {_f(h.score, 3)} · drift window {h.drift.rows} bars · worst PSI {_f(worst, 3)} "
            f"({drift_status(worst)}) · inference p50 {h.inference.percentile_us(0.5):.0f} µs, "
            f"p99 {h.inference.percentile_us(0.99):.0f} µs")
        self.drift.setRowCount(len(report))
        for r, (name, value, state) in enumerate(report):
            set_cell(self.drift, r, 0, name, align_right=False)
            set_cell(self.drift, r, 1, _f(value, 3))
            set_cell(self.drift, r, 2, state, DRIFT_COLOR.get(state), align_right=False)

    # ----------------------------------------------------------------------------------------- training
    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(css_color(DOWN if error else None))

    def start_training(self) -> None:
        from app.engine.data.bar_files import DataError, load_bars
        from app.engine.data.bar_store import BarStoreError
        from app.engine.ml.jobs import TrainingJob

        if self.job is not None and self.job.running:
            return
        try:
            data = self.data_source.source()  # a stored range is checked against the index; the child reads it
            if isinstance(data, str):
                what = f"{len(load_bars(Path(data))):,} bars"  # the file's problem is shown now, not from the worker
            else:
                what = data.description
        except (DataError, ValueError, BarStoreError) as exc:
            self._say(str(exc), error=True)
            return
        self._job_dir = tempfile.mkdtemp(prefix="kestrel-ml-")
        config = {"model": self.kind.currentText(), "horizon": self.horizon.value()}
        self.job = TrainingJob(data, config, str(Path(self._job_dir) / "artifact")).start()
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self._say(f"training {config['model']} (horizon {config['horizon']}) on {what} in a worker process…")

    def cancel_training(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._poll_job()

    def _poll_job(self) -> None:
        st = self.job.poll()
        self.progress.setValue(int(round(100 * st.fraction)))
        if st.state == "running":
            self.status.setText(st.message)
            return
        job, self.job = self.job, None
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        try:
            if st.state == "done":
                self._register(job)
            else:
                self._say(f"training {st.state}: {st.message}", error=st.state == "failed")
        finally:
            if self._job_dir:
                shutil.rmtree(self._job_dir, ignore_errors=True)
                self._job_dir = None

    def _register(self, job) -> None:
        answer = self._port.send(RegisterModel(str(job.out_dir), job.data_path or "", ts=self._port.now_ms()))
        if isinstance(answer, CommandRefused):
            self._say(answer.reason, error=True)
            return
        self.overview.reload()
        rec = self.overview.record(int(answer.detail))
        self.refresh()
        key = f"reg:{rec.id}"
        if key in self._keys:
            self.model_box.setCurrentIndex(self._keys.index(key))
        hold = rec.metrics.get("holdout") or {}
        self._say(f"registered {rec.name}@{rec.version} (#{rec.id}); holdout AUC {_f(hold.get('roc_auc'), 3)}. "
                  f"Use it with the ml_signal strategy: model_ref = {rec.name}")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.job is not None:
            self.job.cancel()
        super().closeEvent(event)
