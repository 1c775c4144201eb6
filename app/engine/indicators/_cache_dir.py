"""Where the indicator kernels' Numba cache lives (no numba import here).

Shared by :mod:`._numba_setup` (which points numba at it) and :mod:`.background` (which checks
whether it is warm without loading numba).  ``NUMBA_CACHE_DIR`` in the environment wins.
"""
from __future__ import annotations

import os


def default_cache_dir() -> str:
    try:
        from platformdirs import user_cache_dir

        base = user_cache_dir("kestrel")
    except Exception:  # platformdirs missing or broken: documented fallback
        base = os.path.join(os.path.expanduser("~"), ".cache", "kestrel")
    return os.path.join(base, "numba")


def cache_dir() -> str:
    return os.environ.get("NUMBA_CACHE_DIR") or default_cache_dir()
