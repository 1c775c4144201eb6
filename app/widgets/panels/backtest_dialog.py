"""Backtest and sweep from the strategy manager: runs in worker processes (never on the GUI loop), shows
the stats, the equity and drawdown plots, and for sweeps a progress bar and a heatmap. The bars are a file's
or a stored series' (bar_source.py); a stored series is read by the workers, never on the GUI thread."""
from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QTabWidget, QVBoxLayout, QWidget)

from app.widgets.common import make_table, set_cell
from app.widgets.panels.bar_source import BarSourcePicker
from app.widgets.theme import DOWN, css_color

_POOL: ProcessPoolExecutor | None = None


def pool() -> ProcessPoolExecutor:
    """One spawn-based pool for the session (fork is unsafe in a process with Qt threads)."""
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(max_workers=max(1, (os.cpu_count() or 2)),
                                    mp_context=multiprocessing.get_context("spawn"))
    return _POOL


def shutdown_pool(finished: bool) -> None:
    """End the session's worker processes now, not at interpreter exit; after a failure one may still be
    working, so they are terminated and the exit is prompt."""
    global _POOL
    executor, _POOL = _POOL, None
    if executor is None:
        return
    if not finished:
        for proc in list(getattr(executor, "_processes", {}).values()):  # no public way to stop a worker
            proc.terminate()
    executor.shutdown(wait=finished, cancel_futures=True)


class BacktestDialog(QDialog):
    def __init__(self, strategies: Any, plugin: str, params: dict, parent: QWidget | None = None,
                 bar_store: Any | None = None, profile_db: str | None = None) -> None:
        super().__init__(parent)
        self.profile_db = profile_db  # the profile's database: registered models and stored news, as the CLI's
        self.setWindowTitle(f"Backtest {plugin}")
        self.resize(1000, 700)
        self.strategies = strategies  # the plugins (Port.strategies)
        self.plugin = plugin
        self.data_source = BarSourcePicker(bar_store)  # Port.bar_store: the stored series to choose from
        self.path = self.data_source.path
        self.params = QLineEdit(",".join(f"{k}={v}" for k, v in params.items() if k != "symbol"))
        self.fee = QDoubleSpinBox(decimals=5, maximum=0.5, singleStep=0.0005, value=0.001)
        self.cash = QDoubleSpinBox(decimals=2, maximum=1e12, value=10_000.0)
        self.ashare = QCheckBox("China A-share rules: sessions, T+1, lots, price limits, fees and stamp duty "
                                "(the fee rate is not used)")
        self.ashare.setToolTip("The data is an A-share; its board comes from the file name (e.g. 600519.SH-1d.csv)")
        self.grid = QLineEdit()
        self.grid.setPlaceholderText("e.g. fast=5:50:5,slow=20:200:5")
        self.metric_combo = QComboBox()
        self.metric_combo.addItems(["sharpe", "total_return", "sortino", "calmar", "profit_factor", "expectancy"])
        self.run_button = QPushButton("Run backtest")
        self.sweep_button = QPushButton("Run sweep")
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.stats = make_table(["Statistic", "Value"])
        self.tabs = QTabWidget()
        self.tabs.addTab(self.stats, "Stats")

        form = QFormLayout()
        form.addRow("Data", self.data_source)
        form.addRow("Parameters", self.params)
        form.addRow("Fee rate", self.fee)
        form.addRow("Cash", self.cash)
        form.addRow("Market", self.ashare)
        form.addRow("Sweep grid", self.grid)
        form.addRow("Optimise", self.metric_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.sweep_button)
        buttons.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)
        self.run_button.clicked.connect(self.run_backtest)
        self.sweep_button.clicked.connect(self.run_sweep)
        self._futures: list[Future] = []
        self._rows: list[dict] = []
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll)
        self.backtest_result = None
        self.sweep_result = None

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(css_color(DOWN if error else None))

    def _prepare(self):
        from app.engine.backtest.options import BacktestConfig
        from app.engine.backtest.sweep import PluginRef
        from app.engine.data.bar_files import load_bars
        from app.engine.strategy.params import validate_params
        from app.engine.strategy.params import parse_params

        info = self.strategies.plugin(self.plugin)
        params = parse_params(self.params.text())
        validate_params(info.cls, params)
        data = self.data_source.source()  # a stored range is checked against the store's index; workers read it
        if isinstance(data, str):
            load_bars(Path(data))  # fail here, with the file's problem, not in a worker
        cfg = BacktestConfig(cash=self.cash.value(), fee=self.fee.value(),
                             rules="ashare" if self.ashare.isChecked() else "", model_db=self.profile_db)
        return info, PluginRef(info.name, info.origin, info.source), params, data, cfg

    def run_backtest(self) -> None:
        from app.engine.backtest.workers import backtest_job

        try:
            _info, ref, params, data, cfg = self._prepare()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._say(str(exc), error=True)
            return
        self._mode = "backtest"
        self._futures = [pool().submit(backtest_job, ref, params, data, cfg)]
        self.progress.setRange(0, 0)
        self._say("running in a worker process…")
        self._timer.start(100)

    def run_sweep(self) -> None:
        from app.engine.backtest.sweep import can_vectorise, combinations, parse_grid
        from app.engine.backtest.workers import sweep_chunk_job
        from app.engine.strategy.params import validate_params

        try:
            info, ref, params, data, cfg = self._prepare()
            grid = parse_grid(self.grid.text())
            combos = [validate_params(info.cls, {**params, **c}) for c in combinations(grid)]
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._say(str(exc), error=True)
            return
        for c in combos:
            c.pop("symbol", None)
        vectorise = can_vectorise(info.cls, cfg, combos)
        n_chunks = max(1, min(len(combos), 20))
        self._grid, self._mode, self._rows = grid, "sweep", []
        self._total = len(combos)
        self._futures = [pool().submit(sweep_chunk_job, ref, data, combos[i::n_chunks], cfg, vectorise)
                         for i in range(n_chunks)]
        self.progress.setRange(0, len(combos))
        self.progress.setValue(0)
        self._say(f"sweeping {len(combos)} combinations ({'vectorised' if vectorise else 'event-driven'})…")
        self._timer.start(100)

    def _poll(self) -> None:
        done = [f for f in self._futures if f.done()]
        for f in done:
            self._futures.remove(f)
            try:
                value = f.result()
            except Exception as exc:  # noqa: BLE001 - a worker's failure is shown, not raised
                self._timer.stop()
                self.progress.setRange(0, 1)
                self._say(f"failed: {type(exc).__name__}: {exc}", error=True)
                return
            if self._mode == "backtest":
                self._show_backtest(value)
            else:
                self._rows += value
                self.progress.setValue(len(self._rows))
        if not self._futures:
            self._timer.stop()
            if self._mode == "sweep":
                self._show_sweep()

    def _show_backtest(self, result) -> None:
        from app.widgets.panels.backtest_report import equity_widget

        self.backtest_result = result
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        items = list(result.stats.items())
        self.stats.setRowCount(len(items))
        for row, (k, v) in enumerate(items):
            set_cell(self.stats, row, 0, k, align_right=False)
            set_cell(self.stats, row, 1, f"{v:,.6g}" if isinstance(v, float) and math.isfinite(v) else str(v))
        self._replace_tab("Equity", equity_widget(result, self.plugin))
        self._say(f"{result.stats['trades']} trades, equity {result.equity_final:,.2f}")

    def _show_sweep(self) -> None:
        from app.engine.backtest.sweep import SweepResult, _score
        from app.widgets.panels.backtest_report import heatmap_widget

        metric = self.metric_combo.currentText()
        best = max(self._rows, key=lambda r: _score(r, metric)) if self._rows else {}
        self.sweep_result = SweepResult(self._grid, self._rows, metric, "", "processes", 0.0, best)
        names = list(self._grid)
        if len(names) >= 2:
            self._replace_tab("Heatmap", heatmap_widget(self.sweep_result, names[0], names[1]))
        self._say(f"best {metric} {best.get('stats', {}).get(metric)} at {best.get('params')}")

    def _replace_tab(self, title: str, widget: QWidget) -> None:
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.removeTab(i)
                break
        self.tabs.addTab(widget, title)
        self.tabs.setCurrentWidget(widget)
