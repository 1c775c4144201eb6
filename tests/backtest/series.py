"""The data the backtester tests run on: the recorded candles in tests/data, and hand-made bar and
trade series small enough to check by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.kit import REAL_DATA

BAR_FILES = ("ETH-BTC-5m.csv.gz", "LTC-BTC-5m.csv.gz", "UNITTEST-BTC-1m.csv.gz", "XRP-ETH-1m.csv.gz")


def real_dir() -> Path:
    """The recorded data folder the repository holds (tests/data)."""
    missing = [name for name in BAR_FILES if not (REAL_DATA / name).exists()]
    if missing:
        pytest.fail(f"the recorded data is missing from {REAL_DATA}: {', '.join(missing)} (see its README.md)")
    return REAL_DATA

T0 = 1_700_000_040_000  # toy series start (ms), on a minute boundary
MINUTE = 60_000


def toy_bars(opens, highs=None, lows=None, closes=None, step_ms: int = MINUTE, symbol: str = "TOY"):
    """A small hand-made bar series: one bar per ``step_ms`` from ``T0``; high/low default to the
    open/close envelope and close defaults to the open."""
    from app.engine.data.bar_files import bars_from_arrays

    o = np.asarray(opens, dtype=float)
    c = o if closes is None else np.asarray(closes, dtype=float)
    h = np.maximum(o, c) if highs is None else np.asarray(highs, dtype=float)
    low = np.minimum(o, c) if lows is None else np.asarray(lows, dtype=float)
    ts = T0 + step_ms * np.arange(len(o))
    return bars_from_arrays(ts, o, h, low, c, np.ones(len(o)), symbol=symbol)


def toy_trades(times_ms, prices, sizes=None, symbol: str = "TOY"):
    """Trade prints at ``T0 + times_ms``."""
    from app.engine.data.bar_files import TradeData

    p = np.asarray(prices, dtype=float)
    s = np.ones(len(p)) if sizes is None else np.asarray(sizes, dtype=float)
    return TradeData(T0 + np.asarray(times_ms, dtype=np.int64), p, s, symbol)
