"""Table-driven wrappers for the indicators whose only parameter is an integer ``timeperiod``.

Half of the library has this shape: check the inputs and the period, allocate the outputs, call
the kernel ``kernel(*inputs, begin, period, *extra, *outputs)`` (rerunning the reference kernel
when the fast one reports input it cannot take, e.g. a NaN inside a window), and a streaming
factory that checks the period and builds the state.  :func:`period_indicator` writes both from
one table row, so each module only states what differs: kernels, default, minimum, state layout.

The generated functions keep TA-Lib's argument names (``real``; ``high, low``; ``high, low,
close``; ``high, low, close, volume``) and ``timeperiod`` keyword, so they read and introspect
like the hand-written ones.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._stream import Stream, make_stream
from ._validate import as_series, first_valid, period, series

#: stream input names for 1..4 inputs (vectorised argument names: ``real`` instead of close)
STREAM_INPUTS = {1: ("close",), 2: ("high", "low"), 3: ("high", "low", "close"),
                 4: ("high", "low", "close", "volume")}


def period_indicator(name: str, module: str, *, inputs: int, kernel: Any, upd: Any,
                     state: Callable[[int], list[float]], default: int, minimum: int, doc: str,
                     extra: tuple = (), ref: Any = None,
                     outputs: tuple[str, ...] = ("real",)) -> tuple[Callable[..., Any], Callable[..., Stream]]:
    """(vectorised function, streaming factory) for indicator ``name``.

    ``kernel``/``ref`` take ``(*inputs, begin, period, *extra, *outputs)``; with ``ref`` the
    kernel returns True when the reference kernel must produce the result instead.
    ``state(period)`` is the stream's initial state for ``upd``.
    """
    n_out = len(outputs)

    def run(arrays: list[np.ndarray], n: int, timeperiod: Any) -> Any:
        p = period(timeperiod, "timeperiod", minimum)
        begin = first_valid(*arrays)
        if n_out == 1:  # the common case, without building lists (every call pays this)
            out = np.empty(n)
            if kernel(*arrays, begin, p, *extra, out) and ref is not None:
                ref(*arrays, begin, p, *extra, out)
            return out
        outs = [np.empty(n) for _ in range(n_out)]
        if kernel(*arrays, begin, p, *extra, *outs) and ref is not None:
            ref(*arrays, begin, p, *extra, *outs)
        return tuple(outs)

    if inputs == 1:
        def vectorised(real: np.ndarray, timeperiod: int = default) -> Any:
            x = as_series(real, "real")
            return run([x], len(x), timeperiod)
    elif inputs == 2:
        def vectorised(high: np.ndarray, low: np.ndarray, timeperiod: int = default) -> Any:
            arrays, n = series({"high": high, "low": low})
            return run(arrays, n, timeperiod)
    elif inputs == 3:
        def vectorised(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = default) -> Any:
            arrays, n = series({"high": high, "low": low, "close": close})
            return run(arrays, n, timeperiod)
    elif inputs == 4:
        def vectorised(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                       timeperiod: int = default) -> Any:
            arrays, n = series({"high": high, "low": low, "close": close, "volume": volume})
            return run(arrays, n, timeperiod)
    else:  # pragma: no cover - table error
        raise ValueError(f"{name}: unsupported number of inputs {inputs}")

    def stream(timeperiod: int = default) -> Stream:
        p = period(timeperiod, "timeperiod", minimum)
        return make_stream(name, STREAM_INPUTS[inputs], upd, state(p), {"timeperiod": p}, outputs)

    for f, fname, fdoc in ((vectorised, name, doc),
                           (stream, name + "_stream", f"Streaming {name.upper()}: see :func:`{name}`.")):
        f.__name__ = f.__qualname__ = fname
        f.__module__ = module
        f.__doc__ = fdoc
    return vectorised, stream
