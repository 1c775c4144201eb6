"""Targets: what happens over the ``horizon`` bars after a bar closes.

The label of bar ``t`` uses closes ``t`` and ``t + horizon`` only, so it is known at the close of bar
``t + horizon``: training on row ``t`` is only honest if bars ``t+1 .. t+horizon`` are not in a test set
(see ``splits``). The last ``horizon`` rows have no label (NaN).
"""
from __future__ import annotations

import numpy as np


def forward_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """close[t + horizon] / close[t] - 1, NaN where the future is not in the data."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon}")
    c = np.asarray(close, dtype=np.float64)
    out = np.full(len(c), np.nan)
    if len(c) > horizon:
        out[:-horizon] = c[horizon:] / c[:-horizon] - 1.0
    return out


def direction(close: np.ndarray, horizon: int, threshold: float = 0.0) -> np.ndarray:
    """1.0 when the forward return exceeds ``threshold`` (e.g. the round-trip cost), else 0.0; NaN unknown."""
    r = forward_return(close, horizon)
    out = np.where(r > threshold, 1.0, 0.0)
    out[np.isnan(r)] = np.nan
    return out


def label_end(index: np.ndarray, horizon: int) -> np.ndarray:
    """The last bar each row's label looks at (its label window is (t, t + horizon])."""
    return np.asarray(index) + horizon
