"""Fixtures for the backtester tests."""
from __future__ import annotations

import pytest

from tests.kit.data import BAR_FILES, load_recorded_bars


@pytest.fixture(scope="session")
def recorded_bars():
    """file name -> Bars for every recorded candle file (tests/data)."""
    return {name: load_recorded_bars(name) for name in BAR_FILES}
