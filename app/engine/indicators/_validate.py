"""Input validation shared by every vectorised indicator and streaming factory.

Contract: a wrong input raises ``ValueError`` naming the argument, before any kernel runs, so
a caller never sees a Numba typing traceback.  Real numeric array-likes (ints, bools, float32,
lists, pandas Series) are converted to contiguous float64; complex, object, string, datetime
and 2-D inputs are rejected.  Empty inputs return empty outputs (TA-Lib does the same).
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

MAX_PERIOD = 100_000  # TA-Lib's upper bound for every period parameter
_F8 = np.dtype(np.float64)
_isnan = math.isnan


def as_series(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a 1-D contiguous float64 array or raise ``ValueError`` naming ``name``."""
    if type(x) is np.ndarray and x.dtype is _F8 and x.ndim == 1 and x.flags.c_contiguous:
        return x  # the common case, checked cheaply (every call pays this)
    if isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 1 and x.flags.c_contiguous:
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists etc.
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise ValueError(
            f"{name}: expected a real numeric array, got dtype {arr.dtype} "
            "(complex, object, string and datetime inputs are not accepted)"
        )
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def series(name_values: dict[str, Any]) -> tuple[list[np.ndarray], int]:
    """Validate several inputs that must share one length; return (arrays, length)."""
    arrays = [as_series(v, k) for k, v in name_values.items()]
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            names = list(name_values)
            raise ValueError(f"{names[i]}: length {len(a)} does not match {names[0]} length {n}")
    return arrays, n


def period(value: Any, name: str, minimum: int = 2, maximum: int = MAX_PERIOD) -> int:
    """Validate an integer period (TA-Lib bounds by default: 2..100000)."""
    if type(value) is int and minimum <= value <= maximum:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if value < minimum or value > maximum:
        raise ValueError(f"{name}: must be between {minimum} and {maximum}, got {value}")
    return value


def real(value: Any, name: str, minimum: float = -math.inf, maximum: float = math.inf) -> float:
    """Validate a finite real parameter (e.g. nbdev, acceleration)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < minimum or v > maximum:
        raise ValueError(f"{name}: must be a finite number in [{minimum}, {maximum}], got {value!r}")
    return v


SUPPORTED_MATYPES = {0: "SMA", 1: "EMA"}


def matype(value: Any, name: str) -> int:
    """Validate a TA-Lib MA type.  Supported: 0 (SMA) and 1 (EMA)."""
    v = period(value, name, minimum=0, maximum=8)
    if v not in SUPPORTED_MATYPES:
        raise ValueError(f"{name}: MA type {v} is not supported; supported: 0 (SMA), 1 (EMA)")
    return v


def first_valid(*arrays: np.ndarray) -> int:
    """Index of the first bar where every input is non-NaN (TA-Lib wrapper semantics).

    Returns ``len`` when every bar has a NaN somewhere: the whole output is then NaN.  (TA-Lib's
    wrapper would run its C code on the last bar alone; see the package docstring.)
    """
    n = len(arrays[0])
    if n == 0:
        return 0
    for a in arrays:
        if _isnan(a[0]):
            break
    else:
        return 0
    ok = ~np.isnan(arrays[0])
    for a in arrays[1:]:
        ok &= ~np.isnan(a)
    idx = int(np.argmax(ok))
    return idx if ok[idx] else n
