"""Resampling bars to a longer timeframe (1m -> 5m ... 1d), vectorised, from the base bars alone.

A resampled bar opens at ``ts - ts % timeframe_ms`` (UTC-aligned; days start at 00:00 UTC): first open,
max high, min low, last close, summed volume of the base bars inside it. The chart uses it for its
timeframe menu; strategies can use it for multi-timeframe features. Pure numpy, no Qt.
"""
from __future__ import annotations

import numpy as np

TIMEFRAMES_MS: dict[str, int] = {
    "1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "4h": 14_400_000,
    "1d": 86_400_000,
}


def bucket_start(ts: np.ndarray | int, timeframe_ms: int):
    """Open time of the ``timeframe_ms`` bar containing ``ts`` (ms)."""
    return ts - ts % timeframe_ms


def resample(ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
             volume: np.ndarray, timeframe_ms: int) -> tuple[np.ndarray, ...]:
    """Base bars (time-ordered) -> (ts, open, high, low, close, volume) at ``timeframe_ms``."""
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) == 0:
        return ts.copy(), *(np.empty(0) for _ in range(5))
    keys = bucket_start(ts, timeframe_ms)
    starts = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], starts))
    ends = np.append(starts[1:], len(ts)) - 1
    return (keys[starts], np.asarray(open_, dtype=np.float64)[starts],
            np.maximum.reduceat(np.asarray(high, dtype=np.float64), starts),
            np.minimum.reduceat(np.asarray(low, dtype=np.float64), starts),
            np.asarray(close, dtype=np.float64)[ends], np.add.reduceat(np.asarray(volume, dtype=np.float64), starts))


def base_timeframe_ms(ts: np.ndarray) -> int:
    """The bar spacing of ``ts`` (the smallest gap among the first bars), e.g. 60_000 for 1m bars."""
    ts = np.asarray(ts[:2000], dtype=np.int64)
    gaps = np.diff(ts)
    gaps = gaps[gaps > 0]
    return int(gaps.min()) if len(gaps) else 60_000
