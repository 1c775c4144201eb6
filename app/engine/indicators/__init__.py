"""Kestrel indicator library: TA-Lib-exact, vectorised and streaming from one definition.

Vectorised functions follow TA-Lib's names (lowercase), argument order, defaults, output
tuples and NaN warm-up, taking any real 1-D array-like and returning float64 arrays::

    from app.engine import indicators as ta
    upper, middle, lower = ta.bbands(close, timeperiod=20)

Every indicator also has a streaming form with O(1) state (``ta.stream("rsi", timeperiod=14)``
or ``ta.rsi_stream(14)``); ``update(..., final=False)`` recomputes a still-forming bar without
committing it.  Streaming and vectorised forms call the same ``@njit`` step function.

Conventions shared by all functions:

* NaN handling is TA-Lib's: leading bars with a NaN in any input are skipped (output NaN) and
  the warm-up starts at the first fully valid bar; NaNs after that flow through TA-Lib's own
  arithmetic.  If every bar has a NaN the output is all NaN (TA-Lib's wrapper would instead run
  its C code on the last bar alone, which only matters for OBV).
* Empty inputs return empty outputs; bad inputs raise ``ValueError`` naming the argument.
* MA-type parameters support 0 (SMA) and 1 (EMA).

Importing this package is cheap and compiles nothing: submodules (and numba) load on first
attribute access, and kernels compile (or load from the on-disk cache) on first call.  The GUI
fills the cache off its loop with :mod:`.background` (a low-priority child process running
:func:`warmup`); see ``app.bootstrap.schedule_indicator_warmup``.
"""
from __future__ import annotations

import importlib
import time
from typing import Any, Iterable

from .registry import TALIB_NAMES, IndicatorSpec, Param, register, registry

__all__ = ["registry", "register", "IndicatorSpec", "Param", "stream", "warmup", "TALIB_NAMES"]

_LAZY: dict[str, str] = {}
for _name, _spec in registry.items():
    _mod = str(_spec.vectorised).partition(":")[0]
    _LAZY[_name] = _mod
    _LAZY[_name + "_stream"] = _mod
    __all__ += [_name, _name + "_stream"]


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def stream(name: str, **params: Any) -> Any:
    """Create the streaming form of indicator ``name`` with ``params`` (defaults otherwise)."""
    return registry[name].stream_factory(**params)


def warmup(names: Iterable[str] | None = None) -> dict[str, float]:
    """Compile (or load from the on-disk cache) the kernels of ``names`` (default: all).

    Returns seconds spent per indicator.  Compiling holds the GIL for much of the ~50 s a cold
    cache takes, so the app runs this in a separate process (:mod:`.background`), not in a
    thread.  Safe to call repeatedly (later calls are ~free).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    n = 64
    c = 100.0 + np.cumsum(rng.standard_normal(n))
    data = {"open": c, "high": c + 1.0, "low": c - 1.0, "close": c, "volume": np.full(n, 10.0),
            "session": np.zeros(n)}
    out: dict[str, float] = {}
    for name in (names if names is not None else list(registry)):
        spec = registry[name]
        t0 = time.perf_counter()
        args = [data[i] for i in spec.inputs if i != "session"]
        spec.fn(*args)
        s = spec.stream_factory()
        s.update(*[float(a[0]) for a in args])
        out[name] = time.perf_counter() - t0
    return out
