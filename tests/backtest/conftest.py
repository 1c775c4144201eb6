"""Fixtures for the backtester tests."""
from __future__ import annotations

import pytest

from tests.backtest.series import BAR_FILES, real_dir


@pytest.fixture(scope="session")
def real_bars():
    """name -> Bars for the four recorded candle files."""
    from app.engine.data.bar_files import load_bars

    folder = real_dir()
    return {name: load_bars(folder / name) for name in BAR_FILES}
