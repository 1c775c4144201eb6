"""News features at a bar's close, computed from arrival times only (issue 22, docs/design/issue22-news.md 5).

The arrival rule: at a bar's **close time** ``c`` (``Bar.ts``, the open time, plus ``timeframe_ms``: the
moment the terminal hands the finished bar over), the items visible are those with ``arrived_ms <= c``,
where ``arrived_ms`` is our clock when the item reached us. A source's ``published_ms`` is never used:
feeds back-date, and an item "published" before the close that reached us after it was not known then.
``NewsSeries`` has no published time at all, so no kernel can read it.

Kernels (``close_ms`` int64[n] bar close times; ``window_ms`` > 0; each returns float64[n]):

- ``news_count``: items with ``c - window < arrived <= c``, scored or not (news volume);
- ``news_sentiment``: the mean score of the *scored* items in that window (NaN scores are "could not score"
  and are left out of the mean, but still counted by ``news_count``); NaN when the window holds none;
- ``news_surprise``: ``news_sentiment`` minus the mean of ``news_sentiment`` over the ``base`` bars before
  this one (bars whose sentiment is NaN are left out of that mean); NaN when this bar's sentiment is NaN,
  when fewer than ``base`` bars precede it, or when none of those ``base`` bars has a sentiment.

Window bounds come from ``np.searchsorted(..., side="right")``. Scores are summed left to right within each
window (not as differences of a cumulative sum, which drift with the length of the history), so a window's
sum depends only on the items in it, in arrival order. The streaming form (``FeatureStream`` in
features.py) calls these same functions on the last bar's close (and, for surprise, the ``base`` closes
before it) over the items it has been given, which makes it equal to the vectorised form bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

_NAN = np.nan


class NewsSeriesError(ValueError):
    """The arrays given as a news series are unusable; the message says which and why."""


@dataclass(frozen=True, eq=False)
class NewsSeries:
    """One symbol's news as two arrays in arrival order: ``arrived_ms`` int64[m], ``score`` float64[m].

    Validation (construction): the arrays must be one-dimensional and of the same length; ``arrived_ms``
    whole numbers; each score NaN (unscored) or within [-1, 1] (an infinity or a score outside is refused:
    a scorer bug, not news). Unsorted input is put in arrival order with a *stable* sort, so items that
    arrived in the same millisecond keep the order given (which fixes the order their scores are summed
    in, and so the last bit of a mean). The stored arrays are read-only copies.
    """

    arrived_ms: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        a = np.asarray(self.arrived_ms)
        s = np.asarray(self.score, dtype=np.float64)
        if a.ndim != 1 or s.ndim != 1:
            raise NewsSeriesError(f"news arrays must be one-dimensional, got shapes {a.shape} and {s.shape}")
        if len(a) != len(s):
            raise NewsSeriesError(f"news arrays differ in length: {len(a)} arrival times, {len(s)} scores")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or np.any(a != np.floor(a)):
                raise NewsSeriesError("arrival times must be whole milliseconds")
        elif a.dtype.kind not in "iu" and len(a):
            raise NewsSeriesError(f"arrival times must be integers (ms), got dtype {a.dtype}")
        a = a.astype(np.int64)
        bad = np.flatnonzero(~np.isnan(s) & ~((s >= -1.0) & (s <= 1.0)))
        if bad.size:
            i = int(bad[0])
            raise NewsSeriesError(f"news score {s[i]!r} (item {i}) is outside [-1, 1]; NaN marks an unscored item")
        if len(a) > 1 and np.any(a[1:] < a[:-1]):
            order = np.argsort(a, kind="stable")
            a, s = a[order], s[order]
        else:
            a, s = a.copy(), s.copy()
        a.flags.writeable = False
        s.flags.writeable = False
        object.__setattr__(self, "arrived_ms", a)
        object.__setattr__(self, "score", s)

    @classmethod
    def empty(cls) -> "NewsSeries":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], score_key: str = "score") -> "NewsSeries":
        """From stored item rows (mappings with ``arrived_ms`` and a score; ``published_ms`` is ignored)."""
        rows = list(rows)
        return cls(np.array([int(r["arrived_ms"]) for r in rows], dtype=np.int64),
                   np.array([np.nan if r[score_key] is None else float(r[score_key]) for r in rows],
                            dtype=np.float64))

    def __len__(self) -> int:
        return len(self.arrived_ms)

    def until(self, t_ms: int) -> "NewsSeries":
        """The items that had arrived by ``t_ms`` (inclusive): what the terminal knew at that moment."""
        k = int(np.searchsorted(self.arrived_ms, t_ms, side="right"))
        return NewsSeries(self.arrived_ms[:k], self.score[:k])


# ------------------------------------------------------------------------------------------------ kernels
def window_bounds(close_ms: np.ndarray, arrived_ms: np.ndarray, window_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: the items of each bar's window are ``arrived_ms[lo:hi]``, i.e. ``c - w < arrived <= c``."""
    c = np.asarray(close_ms, dtype=np.int64)
    hi = np.searchsorted(arrived_ms, c, side="right")
    lo = np.searchsorted(arrived_ms, c - np.int64(window_ms), side="right")
    return lo, hi


_FEW_WINDOWS = 64  # at most this many windows: one accumulate per window; more: one pass per position


def _window_sums(lo: np.ndarray, hi: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window ``score[lo:hi]``: the sum of its scored items, added left to right from 0.0, and how many.

    Either way of computing it (one ``np.add.accumulate`` per window when there are few, as in the stream;
    one vectorised pass per position inside the windows when there are many, as in training, where the
    work is the total number of items over all windows) performs the same IEEE additions in the same
    order, so a window's sum depends only on its items and their order. Unscored items add 0.0; a -0.0
    score is read as 0.0, so that starting from 0.0 or from the first item gives the same bits.
    """
    n = len(lo)
    total = np.zeros(n, dtype=np.float64)
    if n == 0:
        return total, np.zeros(0, dtype=np.int64)
    a, b = int(lo.min()), int(hi.max())  # lo <= hi: every window is inside score[a:b]
    seg = score[a:b]
    ok = ~np.isnan(seg)
    s0 = np.where(ok, seg, 0.0) + 0.0
    prefix = np.zeros(len(seg) + 1, dtype=np.int64)
    np.cumsum(ok, out=prefix[1:])
    i0, i1 = lo - a, hi - a
    scored = prefix[i1] - prefix[i0]  # whole numbers: exact
    size = i1 - i0
    if n <= _FEW_WINDOWS:
        for i in np.flatnonzero(size > 0).tolist():
            total[i] = np.add.accumulate(s0[i0[i]:i1[i]])[-1]
        return total, scored
    idx = np.flatnonzero(size > 0)
    k = 0
    while idx.size:
        total[idx] += s0[i0[idx] + k]
        k += 1
        idx = idx[size[idx] > k]
    return total, scored


def count_kernel(close_ms: np.ndarray, arrived_ms: np.ndarray, window_ms: int) -> np.ndarray:
    lo, hi = window_bounds(close_ms, arrived_ms, window_ms)
    return (hi - lo).astype(np.float64)


def sentiment_kernel(close_ms: np.ndarray, arrived_ms: np.ndarray, score: np.ndarray, window_ms: int) -> np.ndarray:
    lo, hi = window_bounds(close_ms, arrived_ms, window_ms)
    total, scored = _window_sums(lo, hi, score)
    out = np.full(len(total), _NAN)
    has = scored > 0
    out[has] = total[has] / scored[has]
    return out


def surprise_kernel(close_ms: np.ndarray, arrived_ms: np.ndarray, score: np.ndarray, window_ms: int,
                    base: int) -> np.ndarray:
    sent = sentiment_kernel(close_ms, arrived_ms, score, window_ms)
    n = len(sent)
    total = np.zeros(n, dtype=np.float64)
    have = np.zeros(n, dtype=np.int64)
    for k in range(base, 0, -1):  # oldest first: bar i - base, ..., i - 1
        prev = np.full(n, _NAN)
        if k < n:
            prev[k:] = sent[: n - k]
        ok = ~np.isnan(prev)
        total += np.where(ok, prev, 0.0)
        have += ok
    out = np.full(n, _NAN)
    use = (np.arange(n) >= base) & (have > 0) & ~np.isnan(sent)
    out[use] = sent[use] - total[use] / have[use]
    return out


def _checked(close_ms: Any, window_ms: int) -> np.ndarray:
    if int(window_ms) <= 0:
        raise ValueError(f"a news window must be at least 1 ms, got {window_ms}")
    return np.atleast_1d(np.asarray(close_ms, dtype=np.int64))


def news_count(close_ms: Any, series: NewsSeries, window_ms: int) -> np.ndarray:
    """Items with ``c - window_ms < arrived_ms <= c`` at each bar close ``c`` (float64, scored or not)."""
    return count_kernel(_checked(close_ms, window_ms), series.arrived_ms, int(window_ms))


def news_sentiment(close_ms: Any, series: NewsSeries, window_ms: int) -> np.ndarray:
    """Mean score of the scored items in each bar's window; NaN when it holds none."""
    return sentiment_kernel(_checked(close_ms, window_ms), series.arrived_ms, series.score, int(window_ms))


def news_surprise(close_ms: Any, series: NewsSeries, window_ms: int, base: int) -> np.ndarray:
    """``news_sentiment`` minus its mean over the ``base`` bars before (see the module docstring for NaN)."""
    if int(base) < 1:
        raise ValueError(f"a news surprise needs a base of at least 1 bar, got {base}")
    return surprise_kernel(_checked(close_ms, window_ms), series.arrived_ms, series.score, int(window_ms),
                           int(base))


__all__ = ["NewsSeries", "NewsSeriesError", "news_count", "news_sentiment", "news_surprise", "window_bounds"]
