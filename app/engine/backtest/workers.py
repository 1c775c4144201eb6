"""Backtest and sweep work that runs outside the GUI's event loop, in worker processes.

Functions here are top-level and take only picklable arguments (a ``PluginRef`` instead of a class, a
file path instead of data) so a ``spawn`` process pool can run them. Results come back through futures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from app.engine.backtest.engine import run_backtest

from app.engine.backtest.options import BacktestConfig
from app.engine.backtest.sweep import PluginRef, run_chunk
from app.engine.data.bar_files import load_bars
from app.engine.data.bars import Bars

_DATA: dict[str, Bars] = {}


def _bars(path: str) -> Bars:
    data = _DATA.get(path)
    if data is None:
        data = _DATA[path] = load_bars(Path(path))
    return data


def backtest_job(ref: PluginRef, params: dict[str, Any], data_path: str, cfg: BacktestConfig):
    return run_backtest(ref.load(), params, _bars(data_path), cfg)


def sweep_chunk_job(ref: PluginRef, data_path: str, combos: list[dict[str, Any]], cfg: BacktestConfig,
                    vectorise: bool) -> list[dict[str, Any]]:
    return run_chunk(ref, _bars(data_path), combos, cfg, vectorise)
