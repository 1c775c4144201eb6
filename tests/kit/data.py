"""The recorded market data the repository holds (tests/data; its README.md says what each file is and where
it came from). Every test finds it here: ``DATA`` is the folder, ``recorded(name)`` one file of it (a clear
failure if it is missing), ``load_recorded_bars(name)`` that file's candles as ``Bars``. Nothing reads data
from outside the repository (tests/test_repo_data.py checks)."""
from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
#: the recorded candle files (ms timestamps, OHLCV); XRP-ETH-trades.csv.gz holds trade prints
BAR_FILES = ("ETH-BTC-5m.csv.gz", "LTC-BTC-5m.csv.gz", "UNITTEST-BTC-1m.csv.gz", "XRP-ETH-1m.csv.gz")
TRADES_FILE = "XRP-ETH-trades.csv.gz"


def recorded(name: str) -> Path:
    """The recorded file ``name`` in tests/data."""
    path = DATA / name
    if not path.exists():
        pytest.fail(f"the recorded data file {name} is missing from {DATA} (see its README.md)")
    return path


def load_recorded_bars(name: str):
    """The candles of recorded file ``name`` as the backtester and the ML code read them (``Bars``)."""
    from app.engine.data.bar_files import load_bars

    return load_bars(recorded(name))
