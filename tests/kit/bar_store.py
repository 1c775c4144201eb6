"""For the bar store's tests and benchmark: generated bar series, and child processes that write to a store
(to be killed mid-write, or to race another writer)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def random_bars(n: int, timeframe_ms: int = MINUTE, start: int = T0, seed: int = 0, symbol: str = "BTC/USDT"):
    """``n`` consecutive bars from ``start``: a random walk with awkward floats (not round, some tiny)."""
    from app.engine.data.bars import Bars

    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    open_ = close * np.exp(rng.normal(0, 5e-4, n))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 1e-3)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 1e-3)
    volume = rng.gamma(2.0, 1.0, n) * 1e-7
    ts = start + timeframe_ms * np.arange(n, dtype=np.int64)
    return Bars.from_arrays(ts, open_, high, low, close, volume, timeframe_ms=timeframe_ms, symbol=symbol)


def batch_bars(k: int, size: int):
    """Batch ``k`` of the kill test: bars [k*size/2, k*size/2 + size) from T0 (each half-overlaps the one
    before), closes shifted by ``k`` so the batch that wrote a bar can be told from the bar."""
    from app.engine.data.bars import Bars

    first = k * size // 2
    idx = np.arange(first, first + size, dtype=np.int64)
    close = 100.0 + (idx % 1000) * 0.01 + k
    return Bars.from_arrays(T0 + MINUTE * idx, close, close + 1, close - 1, close, np.full(size, float(k)),
                            timeframe_ms=MINUTE, symbol="BTC/USDT")


_BATCH_WRITER = """
import sys
sys.path.insert(0, {root!r})
from app.engine.data.bar_store import BarStore
from tests.kit.bar_store import batch_bars
store = BarStore({profile!r})
k = {first}
while True:
    store.write("binance", "BTC/USDT", 60_000, batch_bars(k, {size}), "test")
    print(k, flush=True)
    k += 1
"""

_RACER = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from app.engine.data.bar_store import BarStore
from tests.kit.bar_store import random_bars, T0, MINUTE
store = BarStore({profile!r})
for k in range({parity}, {batches}, 2):
    bars = random_bars({size}, start=T0 + k * {size} * MINUTE, seed=k)
    if {append}:
        for i in range(len(bars)):
            r = bars.row(i)
            store.append_bar("binance", {symbol!r}, MINUTE, r["ts"], r["open"], r["high"], r["low"], r["close"],
                             r["volume"])
    else:
        store.write("binance", {symbol!r}, MINUTE, bars, "test")
print("done", flush=True)
"""


def start_batch_writer(profile: Path, first: int, size: int) -> subprocess.Popen:
    """A child writing ``batch_bars(first)``, ``batch_bars(first + 1)``, ... for ever, printing each k once
    its write returned."""
    code = _BATCH_WRITER.format(root=str(ROOT), profile=str(profile), first=first, size=size)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def start_racer(profile: Path, symbol: str, parity: int, batches: int, size: int, append: bool) -> subprocess.Popen:
    """A child writing batches ``parity, parity + 2, ...`` of ``size`` bars (batch k: ``random_bars(size,
    start=T0 + k*size minutes, seed=k)``) to binance ``symbol``, by ``write`` or bar by bar by ``append_bar``."""
    code = _RACER.format(root=str(ROOT), profile=str(profile), symbol=symbol, parity=parity, batches=batches,
                         size=size, append=append)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
