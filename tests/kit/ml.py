"""Small helpers shared by the ML tests."""
from __future__ import annotations

import numpy as np


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and values, NaN equal to NaN (bit-for-bit for finite values)."""
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
