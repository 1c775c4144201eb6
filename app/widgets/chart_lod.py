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

import math

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


class Pyramid:
    """Block reductions (``np.fmax``, ``np.fmin`` or ``np.add``) of one column at every power-of-two size.

    NaN is ignored by fmax/fmin (an all-NaN block is NaN), so indicator warm-ups need no special case.
    The raw column is not stored here: callers pass it (the bar store may reallocate as it grows).
    """

    def __init__(self, op: np.ufunc) -> None:
        self.op = op
        self._scalar = _SCALAR[op]
        self.levels: list[np.ndarray] = [np.empty(0)]  # levels[k][j] reduces raw[j*2**k : (j+1)*2**k]
        self.sizes: list[int] = [0]

    def build(self, raw: np.ndarray) -> None:
        """Rebuild every level from ``raw`` (O(n))."""
        self.levels, self.sizes = [np.empty(0)], [len(raw)]
        child = raw
        while len(child) > 1:
            m = len(child)
            even = m - (m & 1)
            level = np.empty(max((m + 1) // 2 * 2, 16))  # headroom: appends grow in place
            self.op(child[0:even:2], child[1:even:2], out=level[: even // 2])
            if m & 1:
                level[even // 2] = child[m - 1]
            size = (m + 1) // 2
            self.levels.append(level)
            self.sizes.append(size)
            child = level[:size]

    def update(self, raw: np.ndarray, start: int) -> None:
        """Raw values from index ``start`` on changed or were appended (``len(raw)`` is the new n).

        O(log n) for a change of the last value; O((n - start) + log n) in general.
        """
        n = len(raw)
        self.sizes[0] = n
        if start >= n:
            return
        if start == 0 or n - start > max(n // 4, 4096):
            self.build(raw)
            return
        k, lo, hi, child = 1, start, n - 1, raw
        while True:
            lo >>= 1
            hi >>= 1
            m = len(child) if k == 1 else self.sizes[k - 1]
            size = (m + 1) // 2
            if k >= len(self.levels):
                if m <= 1:
                    break
                self.levels.append(np.empty(16))
                self.sizes.append(0)
            level = self.levels[k]
            if size > len(level):
                grown = np.empty(max(size, 2 * len(level)))
                grown[: self.sizes[k]] = level[: self.sizes[k]]
                self.levels[k] = level = grown
            self.sizes[k] = size
            if hi - lo < 8:
                f = self._scalar
                for j in range(lo, hi + 1):
                    a = child[2 * j]
                    level[j] = f(a, child[2 * j + 1]) if 2 * j + 1 < m else a
            else:
                pairs = min(hi, (m - 2) // 2)  # last block with two children
                self.op(child[2 * lo : 2 * pairs + 1 : 2], child[2 * lo + 1 : 2 * pairs + 2 : 2],
                        out=level[lo : pairs + 1])
                if hi > pairs:
                    level[hi] = child[2 * hi]
            if size <= 1:
                break
            child = level
            k += 1

    @property
    def top(self) -> int:
        """The highest level (blocks of 2**top bars cover the column in one or two blocks)."""
        return len(self.levels) - 1

    def level(self, k: int) -> np.ndarray:
        return self.levels[k][: self.sizes[k]]

    def buckets(self, raw: np.ndarray, i0: int, i1: int, k: int) -> np.ndarray:
        """Reductions of bars ``i0..i1`` (inclusive) in blocks of 2**k aligned to absolute indices.

        The first and last bucket only cover the bars of the span they contain (recomputed from raw)."""
        k = min(k, len(self.levels) - 1)
        if k <= 0 or i1 <= i0:
            return raw[i0 : i1 + 1]
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


def bucket_bounds(i0: int, i1: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last bar index of each bucket of ``Pyramid.buckets`` (edges clipped to the span)."""
    if k == 0:
        idx = np.arange(i0, i1 + 1)
        return idx, idx
    j = np.arange(i0 >> k, (i1 >> k) + 1)
    first = np.maximum(j << k, i0)
    last = np.minimum(((j + 1) << k) - 1, i1)
    return first, last
