"""Level of detail for the chart: per-block extremes of a growing column, kept in O(log n) per change.

A ``Pyramid`` holds, for every power-of-two block size 2**k, the max (or min, or sum) of each aligned block
of a column. Zoomed out, the chart draws one bucket per block of the level whose block size puts a few
pixels between buckets; a bucket's high is the max of its bars' highs and its low the min of their lows, so
the highest high and the lowest low of the visible span are always drawn. The two edge buckets that the
visible span cuts are recomputed from the raw bars they actually show, so the extremes are those of the
visible span exactly (never of bars just off screen), and the y-axis can fit to them in O(buckets).

Blocks are aligned to absolute bar indices, so panning never moves bucket boundaries (no shimmer), and
replacing or appending the last bar touches one block per level. No Qt here: this is plain numpy.
"""
from __future__ import annotations

import concurrent.futures
import math
from typing import Callable

import numpy as np

PX_PER_BUCKET = 3.0  # zoomed out, a bucket gets at least this many pixels


def level_for(n_visible: int, pixels: float, px_per_bucket: float = PX_PER_BUCKET) -> int:
    """The pyramid level (block size 2**k) for ``n_visible`` bars on ``pixels`` pixels."""
    max_buckets = max(pixels / px_per_bucket, 8.0)
    if n_visible <= max_buckets:
        return 0
    return max(0, math.ceil(math.log2(n_visible / max_buckets)))


def _fmax(a: float, b: float) -> float:
    if a != a:
        return b
    if b != b:
        return a
    return a if a >= b else b


def _fmin(a: float, b: float) -> float:
    if a != a:
        return b
    if b != b:
        return a
    return a if a <= b else b


def _add(a: float, b: float) -> float:
    return a + b


_SCALAR = {np.fmax: _fmax, np.fmin: _fmin, np.add: _add}


BASE = 3  # the finest stored level: blocks of 8 bars (finer buckets come straight from the bars)


class Pyramid:
    """Block reductions (``np.fmax``, ``np.fmin`` or ``np.add``) of one column at every power-of-two size.

    Levels from ``BASE`` up are stored (n/4 values in all); a window of buckets finer than that is
    reduced from the bars themselves, which costs no more than the few thousand bars such a window spans.
    NaN is ignored by fmax/fmin (an all-NaN block is NaN), so indicator warm-ups need no special case.
    The raw column is not stored here: callers pass it (the bar store may reallocate as it grows).
    """

    def __init__(self, op: np.ufunc) -> None:
        self.op = op
        self._scalar = _SCALAR[op]
        self.levels: dict[int, np.ndarray] = {}  # levels[k][j] reduces raw[j*2**k : (j+1)*2**k]
        self.sizes: dict[int, int] = {}

    @property
    def top(self) -> int:
        """The coarsest level (its blocks cover the column in one or two blocks); 0 for a short column."""
        return max(self.levels) if self.levels else 0

    def level(self, k: int) -> np.ndarray:
        return self.levels[k][: self.sizes[k]]

    def build(self, raw: np.ndarray) -> None:
        """Rebuild every level from ``raw`` (O(n))."""
        self.levels, self.sizes = {}, {}
        n = len(raw)
        if n <= 1 << BASE:
            return
        op, full = self.op, n >> BASE
        base = np.empty(max(2 * (full + 1), 16))  # headroom: appends grow in place
        x = raw[: full << BASE]
        a = op(op(x[0::8], x[1::8]), op(x[2::8], x[3::8]))
        op(a, op(op(x[4::8], x[5::8]), op(x[6::8], x[7::8])), out=base[:full])
        size = full
        if n & 7:
            base[full] = op.reduce(raw[full << BASE:])
            size += 1
        self.levels[BASE], self.sizes[BASE] = base, size
        k, child = BASE, base[:size]
        while len(child) > 1:
            m = len(child)
            even = m - (m & 1)
            level = np.empty(max((m + 1) // 2 * 2, 16))
            op(child[0:even:2], child[1:even:2], out=level[: even // 2])
            if m & 1:
                level[even // 2] = child[m - 1]
            k += 1
            self.levels[k], self.sizes[k] = level, (m + 1) // 2
            child = level[: self.sizes[k]]

    def update(self, raw: np.ndarray, start: int) -> None:
        """Raw values from index ``start`` on changed or were appended (``len(raw)`` is the new n).

        O(log n) for a change of the last value; O((n - start) + log n) in general.
        """
        n = len(raw)
        if start >= n:
            return
        if start == 0 or not self.levels or n - start > max(n // 4, 4096):
            self.build(raw)
            return
        f = self._scalar
        k, lo, hi = BASE, start >> BASE, (n - 1) >> BASE
        grew = hi + 1 != self.sizes.get(k, 0)
        level = self._ensure(k, hi + 1)
        same = True
        for j in range(lo, hi + 1):  # base blocks straight from the bars (<= 8 each)
            a = raw[j << BASE]
            for i in range((j << BASE) + 1, min((j + 1) << BASE, n)):
                a = f(a, raw[i])
            if same and not (level[j] == a or (a != a and level[j] != level[j])):
                same = False
            level[j] = a
        child, m = level, hi + 1
        while m > 1:
            if same and not grew:  # this level did not change: nor will any above it
                return
            lo >>= 1
            hi >>= 1
            k += 1
            size = (m + 1) // 2
            grew = size != self.sizes.get(k, 0)
            level = self._ensure(k, size)
            same = True
            if hi - lo < 8:
                for j in range(lo, hi + 1):
                    a = child[2 * j]
                    if 2 * j + 1 < m:
                        a = f(a, child[2 * j + 1])
                    if same and not (level[j] == a or (a != a and level[j] != level[j])):
                        same = False
                    level[j] = a
            else:
                same = False
                pairs = min(hi, (m - 2) // 2)  # last block with two children
                self.op(child[2 * lo : 2 * pairs + 1 : 2], child[2 * lo + 1 : 2 * pairs + 2 : 2],
                        out=level[lo : pairs + 1])
                if hi > pairs:
                    level[hi] = child[2 * hi]
            child, m = level, size

    def _ensure(self, k: int, size: int) -> np.ndarray:
        level = self.levels.get(k)
        if level is not None and size <= len(level):
            self.sizes[k] = size
            return level
        if level is None:
            level = self.levels[k] = np.empty(16)
            self.sizes[k] = 0
        if size > len(level):
            grown = np.empty(max(size, 2 * len(level)))
            grown[: self.sizes[k]] = level[: self.sizes[k]]
            self.levels[k] = level = grown
        self.sizes[k] = size
        return level

    def buckets(self, raw: np.ndarray, i0: int, i1: int, k: int) -> np.ndarray:
        """Reductions of bars ``i0..i1`` (inclusive) in blocks of 2**k aligned to absolute indices.

        The first and last bucket only cover the bars of the span they contain."""
        k = min(k, self.top)
        if k < BASE or i1 <= i0:
            return fine_buckets(self.op, raw, i0, i1, k)
        j0, j1 = i0 >> k, i1 >> k
        out = self.level(k)[j0 : j1 + 1].copy()
        if j0 == j1:
            out[0] = self.op.reduce(raw[i0 : i1 + 1])
            return out
        if i0 != j0 << k:
            out[0] = self.op.reduce(raw[i0 : (j0 + 1) << k])
        if i1 + 1 != (j1 + 1) << k:
            out[-1] = self.op.reduce(raw[j1 << k : i1 + 1])
        return out


def top_for(n: int) -> int:
    """The coarsest pyramid level of a column of ``n`` values (``Pyramid.top`` without building it)."""
    if n <= 1 << BASE:
        return 0
    return BASE + math.ceil(math.log2(-(-n // (1 << BASE))))


def fine_buckets(op: np.ufunc, raw: np.ndarray, i0: int, i1: int, k: int) -> np.ndarray:
    """Buckets of 2**k bars straight from the bars (k below the stored levels: a few thousand bars)."""
    if k <= 0 or i1 <= i0:
        return raw[i0 : i1 + 1]
    starts = np.arange(i0 >> k, (i1 >> k) + 1) << k
    starts[0] = i0
    return op.reduceat(raw[i0 : i1 + 1], starts - i0)


_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None
BACKGROUND_MIN = 65_536  # shorter columns are built at once (well under a millisecond)


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kestrel-lod")
    return _EXECUTOR


def _build(op: np.ufunc, raw: np.ndarray) -> Pyramid:
    pyr = Pyramid(op)
    pyr.build(raw)
    return pyr


class LodColumn:
    """A column's pyramid, built off the UI thread.

    A long history is handed to a worker (numpy releases the GIL, so the second core builds it while the
    UI thread draws the first, zoomed-in frame, which needs no pyramid). Changes made meanwhile are
    remembered and applied when the pyramid is first needed; if a zoomed-out window is needed before the
    worker is done, the UI thread waits for it. ``raw`` returns the column as it is now (the bar store
    may reallocate as it grows); the worker reads the first ``n`` values, which only change at the last
    one, and that one is re-read when the pyramid is adopted."""

    def __init__(self, op: np.ufunc, raw: Callable[[], np.ndarray], background: bool = True) -> None:
        self.op = op
        self._raw = raw
        self._pending: int | None = None
        self._pyr: Pyramid | None = None
        self._future: concurrent.futures.Future | None = None
        col = raw()
        if background and len(col) >= BACKGROUND_MIN:
            self._pending = len(col) - 1
            self._future = _executor().submit(_build, op, col)
        else:
            self._pyr = _build(op, col)

    @property
    def ready(self) -> bool:
        return self._pyr is not None or (self._future is not None and self._future.done())

    def pyramid(self) -> Pyramid:
        if self._pyr is None:
            pyr = self._future.result()
            if self._pending is not None:
                pyr.update(self._raw(), self._pending)
            self._pyr, self._future, self._pending = pyr, None, None
        return self._pyr

    def update(self, raw: np.ndarray, start: int) -> None:
        if self._pyr is None:
            self._pending = start if self._pending is None else min(self._pending, start)
        else:
            self._pyr.update(raw, start)

    def buckets(self, raw: np.ndarray, i0: int, i1: int, k: int) -> np.ndarray:
        k = min(k, top_for(len(raw)))
        if k < BASE or i1 <= i0:
            return fine_buckets(self.op, raw, i0, i1, k)
        return self.pyramid().buckets(raw, i0, i1, k)


def bucket_bounds(i0: int, i1: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last bar index of each bucket of ``Pyramid.buckets`` (edges clipped to the span)."""
    if k == 0:
        idx = np.arange(i0, i1 + 1)
        return idx, idx
    j = np.arange(i0 >> k, (i1 >> k) + 1)
    first = np.maximum(j << k, i0)
    last = np.minimum(((j + 1) << k) - 1, i1)
    return first, last
