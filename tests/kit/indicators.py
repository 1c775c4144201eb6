"""Data for the indicator tests: real recorded candles and adversarial synthetic series.

``REAL``: every recorded candle file (tests.kit.data) as arrays; ``SYNTH``: series built to break indicators."""
from __future__ import annotations

import gzip

import numpy as np

from tests.kit.data import BAR_FILES, recorded


def load_candles(name: str) -> dict[str, np.ndarray]:
    with gzip.open(recorded(name), "rt") as f:
        header = f.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", dtype=np.float64)
    cols = {h: data[:, i].copy() for i, h in enumerate(header)}
    return {k: cols[k] for k in ("open", "high", "low", "close", "volume")}


REAL = {name: load_candles(name) for name in BAR_FILES}


def _ohlcv(close: np.ndarray, rng: np.random.Generator, spread: float) -> dict[str, np.ndarray]:
    n = len(close)
    high = close + np.abs(rng.standard_normal(n)) * spread
    low = close - np.abs(rng.standard_normal(n)) * spread
    open_ = low + (high - low) * rng.random(n)
    vol = rng.integers(0, 1000, n).astype(float)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": vol}


def synthetic() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(42)
    n = 600
    out: dict[str, dict[str, np.ndarray]] = {}
    walk = 100 + np.cumsum(rng.standard_normal(n))
    out["walk"] = _ohlcv(walk.copy(), rng, 0.5)
    gap = walk.copy()
    gap[300:] += 40.0  # price gap
    gap[150:] -= 25.0
    out["gaps"] = _ohlcv(gap, rng, 0.5)
    const = np.full(n, 42.0)
    out["constant"] = {"open": const.copy(), "high": const.copy(), "low": const.copy(), "close": const.copy(),
                       "volume": np.full(n, 5.0)}
    part = _ohlcv(walk.copy(), rng, 0.5)
    for k in ("high", "low", "close", "open"):
        part[k][200:260] = 77.0  # flat stretch inside a moving series
    out["flat_stretch"] = part
    out["huge"] = _ohlcv(1e12 + np.cumsum(rng.standard_normal(n)) * 1e9, rng, 5e8)
    out["tiny"] = _ohlcv(1e-8 * (1 + 0.01 * np.cumsum(rng.standard_normal(n)) / 10), rng, 1e-11)
    lead = _ohlcv(walk.copy(), rng, 0.5)
    for k in lead:
        lead[k][:17] = np.nan  # leading NaNs (TA-Lib skips them)
    out["leading_nan"] = lead
    out["short"] = {k: v[:7].copy() for k, v in _ohlcv(walk.copy(), rng, 0.5).items()}
    bad = _ohlcv(walk.copy(), rng, 0.5)
    bad["close"][100:140] = bad["high"][100:140] + 3.0  # close outside [low, high]
    bad["close"][300:340] = bad["low"][300:340] - 3.0
    out["close_outside_range"] = bad
    inv = _ohlcv(walk.copy(), rng, 0.5)
    swap = rng.random(n) < 0.05  # bad ticks: high below low on some bars
    inv["high"][swap], inv["low"][swap] = inv["low"][swap] - 0.1, inv["high"][swap] + 0.1
    out["high_below_low"] = inv
    out["sub_epsilon"] = _ohlcv(1e-15 * (1 + 0.01 * np.cumsum(rng.standard_normal(n)) / 10), rng, 1e-18)
    return out


SYNTH = synthetic()


def with_inner_nans() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    d = _ohlcv(100 + np.cumsum(rng.standard_normal(400)), rng, 0.5)
    for k in d:
        d[k] = d[k].copy()
        d[k][[120, 121, 250]] = np.nan
    return d
