"""Backtest and sweep work that runs outside the GUI's event loop, in worker processes.

Functions here are top-level and take only picklable arguments (a ``PluginRef`` instead of a class, a
file path or a ``StoredRange`` of the bar store instead of data) so a ``spawn`` process pool can run them and
the bars are read in the worker, never on the GUI thread. Results come back through futures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from app.engine.backtest.engine import run_backtest

from app.engine.backtest.options import BacktestConfig
from app.engine.backtest.sweep import PluginRef, run_chunk
from app.engine.data.bar_files import load_bars
from app.engine.data.bars import Bars
from app.engine.data.stored_range import StoredRange

_DATA: dict[str, Bars] = {}


def _bars(source: str | StoredRange) -> Bars:
    """A file's bars (kept for the worker's next job on it), or a stored range's, read afresh each time: the
    store reads fast, and a download between two runs is then seen."""
    if isinstance(source, StoredRange):
        return source.read()[0]
    data = _DATA.get(source)
    if data is None:
        data = _DATA[source] = load_bars(Path(source))
    return data


def backtest_job(ref: PluginRef, params: dict[str, Any], data: str | StoredRange, cfg: BacktestConfig):
    return run_backtest(ref.load(), params, _bars(data), cfg)


def sweep_chunk_job(ref: PluginRef, data: str | StoredRange, combos: list[dict[str, Any]], cfg: BacktestConfig,
                    vectorise: bool) -> list[dict[str, Any]]:
    return run_chunk(ref, _bars(data), combos, cfg, vectorise)
