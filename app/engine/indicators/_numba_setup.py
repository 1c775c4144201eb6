"""Numba configuration for the indicator kernels.

Why: a fresh process pays 0.4-2.8 s per kernel to compile.  Kernels are compiled with
``cache=True`` into a per-user cache directory so only the very first start on a machine
pays that cost, and :func:`app.engine.indicators.warmup` lets the app do it off the UI thread.

This module must be imported before numba is imported by the package: it sets
``NUMBA_CACHE_DIR`` unless the environment already chose one.  If numba was imported earlier
by someone else, the setting is applied to ``numba.config`` directly (the cache locator reads it
when a kernel is defined).
"""
from __future__ import annotations

import os
import sys

from ._cache_dir import cache_dir

CACHE_DIR: str = cache_dir()
if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = CACHE_DIR
try:
    os.makedirs(CACHE_DIR, exist_ok=True)
except OSError:  # read-only home: numba falls back to compiling in memory
    pass

if "numba" in sys.modules:  # imported before us: patch the live config
    import numba

    if not numba.config.CACHE_DIR:
        numba.config.CACHE_DIR = CACHE_DIR

from numba import njit  # noqa: E402  (must come after the env var is set)

#: Decorator for every kernel: cached on disk, no GIL, numpy error model (x/0 -> inf/nan like C,
#: never a Python ZeroDivisionError), no fastmath (bit-exact IEEE order as in TA-Lib's C).
jit = njit(cache=True, nogil=True, error_model="numpy")

__all__ = ["jit", "step", "shared", "CACHE_DIR"]

#: For small step helpers called from kernels: inlined at Numba-IR level so the hot loops keep
#: their state in registers (LLVM does not inline across separately cached functions).
step = njit(cache=True, nogil=True, error_model="numpy", inline="always")

#: For LARGE step functions that several kernels share (rolling-window scans, multi-stage state
#: machines): compiled once as an ordinary cached function and called, instead of being copied
#: into every caller at Numba-IR level (which multiplied the compile cost per caller).  Numba
#: links the callee's LLVM IR into each caller's module (linkonce_odr) and optimises after
#: linking, so LLVM can still inline it where that pays off.
shared = njit(cache=True, nogil=True, error_model="numpy")
