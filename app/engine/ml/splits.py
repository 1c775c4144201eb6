"""Time-ordered splits without look-ahead, and the checks that catch leaks.

Rows are bars in time order. Row ``t``'s features use bars ``<= t``; its label uses bars ``t+1 .. t+h``
(``h`` = horizon). A training row leaks into a test block ``[a, b)`` when its label window reaches into
the block (``t < a <= t + h``: *purge* such rows) or when it sits right after the block, where serial
correlation carries test information (*embargo*: drop rows ``b .. b + embargo - 1`` from training).

- ``walk_forward_splits``: expanding window, train strictly before each test block (purged). The default.
- ``purged_kfold``: contiguous blocks, training on both sides (purged and embargoed).
- ``holdout``: the last ``test_frac`` of the rows, purged.

Checks (each raises ``LeakError`` saying what leaked):

- ``check_split``: a split with training rows between its test rows (a shuffled split), or a
  training row whose label window overlaps the test block or falls in the embargo.
- ``check_feature_lookahead``: recomputes the features on data cut at several bars and compares with the full
  computation: a feature whose past values change when the future is removed reads the future.
- ``check_news_lookahead``: the same for news: recomputes the features with only the items known at a bar's
  close (arrived by then) and compares that bar and the ones before it with the computation on all items.
- ``suspicious_features``: a single feature that alone predicts the out-of-sample label almost perfectly
  (a label copied into the features by mistake).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


class LeakError(ValueError):
    """Training would see the future. The message names the rows or feature."""


Split = tuple[np.ndarray, np.ndarray]


def _purge(train: np.ndarray, a: int, b: int, horizon: int, embargo: int) -> np.ndarray:
    keep = ~((train < a) & (train + horizon >= a))  # label window reaches into the test block
    keep &= ~((train >= b) & (train < b + embargo))  # just after the block
    keep &= ~((train >= a) & (train < b))
    return train[keep]


def walk_forward_splits(n: int, n_splits: int, horizon: int, min_train: int | None = None,
                        embargo: int = 0) -> list[Split]:
    """``n_splits`` test blocks at the end of the data; each trains on every earlier row, purged."""
    if n_splits < 1:
        raise ValueError("n_splits must be >= 1")
    min_train = min_train if min_train is not None else max(n // (n_splits + 1), horizon + 2)
    test_len = (n - min_train) // n_splits
    if test_len < 1:
        raise ValueError(f"{n} rows are too few for {n_splits} walk-forward splits after {min_train} training rows")
    out = []
    for k in range(n_splits):
        a = min_train + k * test_len
        b = n if k == n_splits - 1 else a + test_len
        train = _purge(np.arange(0, a), a, b, horizon, embargo)
        out.append((train, np.arange(a, b)))
    return out


def purged_kfold(n: int, n_splits: int, horizon: int, embargo: int = 0) -> list[Split]:
    """Contiguous k-fold; training rows on both sides of the test block, purged and embargoed."""
    if n_splits < 2:
        raise ValueError("n_splits must be >= 2")
    bounds = np.linspace(0, n, n_splits + 1).astype(int)
    idx = np.arange(n)
    return [(_purge(idx, int(a), int(b), horizon, embargo), np.arange(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]


def holdout(n: int, test_frac: float, horizon: int) -> Split:
    """Train on the first rows, test on the last ``test_frac``; the ``horizon`` rows before the test are purged."""
    if not 0.0 < test_frac < 1.0:
        raise ValueError("test_frac must be between 0 and 1")
    a = int(round(n * (1.0 - test_frac)))
    if a <= horizon + 1 or a >= n:
        raise ValueError(f"{n} rows are too few for a {test_frac:.0%} holdout with horizon {horizon}")
    return _purge(np.arange(0, a), a, n, horizon, 0), np.arange(a, n)


# ------------------------------------------------------------------------------------------------- checks
def check_split(train: np.ndarray, test: np.ndarray, horizon: int, embargo: int = 0) -> None:
    """Raise ``LeakError`` unless ``test`` is one block in time (no training row between its first and last
    row) and no training row's label window overlaps it (nor sits within ``embargo`` rows after it). Row
    numbers are bar positions (rows dropped for NaN features may leave gaps)."""
    train = np.sort(np.asarray(train))
    test = np.sort(np.asarray(test))
    if test.size == 0:
        raise LeakError("the test set is empty")
    a, b = int(test[0]), int(test[-1]) + 1
    inside = train[(train >= a) & (train < b)]
    if inside.size:
        raise LeakError(f"the test rows are not one block in time: {inside.size} training row(s) (first "
                        f"{int(inside[0])}) lie between test rows {a} and {b - 1}. A shuffled split lets the model "
                        f"train on the bars right next to the ones it is tested on")
    reach = train[(train < a) & (train + horizon >= a)]
    if reach.size:
        raise LeakError(f"{reach.size} training row(s) (first {int(reach[0])}) have label windows reaching into "
                        f"the test block starting at row {a} (horizon {horizon}): purge them")
    emb = train[(train >= b) & (train < b + embargo)]
    if emb.size:
        raise LeakError(f"{emb.size} training row(s) (first {int(emb[0])}) fall in the {embargo}-row embargo "
                        f"after the test block ending at row {b - 1}")


def check_feature_lookahead(compute: Callable[[dict[str, np.ndarray]], np.ndarray], bars: dict[str, np.ndarray],
                            names: Sequence[str], cuts: Sequence[int] | None = None) -> None:
    """Recompute features on the data truncated after each bar in ``cuts`` and compare with the full run.

    A causal feature's value at bar ``t`` depends only on bars ``<= t``, so truncating after ``t`` must not
    change rows ``<= t`` (NaN equals NaN). Any change means the feature reads later bars: ``LeakError``
    names it and the first bar where it differs.
    """
    n = len(bars["close"])
    full = compute(bars)
    if cuts is None:
        cuts = sorted({max(2, n // 4), max(2, n // 2), max(2, (3 * n) // 4), n - 2})
    for cut in cuts:
        part = {k: np.asarray(v)[: cut + 1] for k, v in bars.items()}
        got = compute(part)
        want = full[: cut + 1]
        if (diff := _first_difference(got, want)) is not None:
            row, j = diff
            raise LeakError(f"feature {names[j]!r} looks ahead: its value at bar {row} changes when the bars "
                            f"after bar {cut} are removed ({want[row, j]!r} with them, {got[row, j]!r} without)")


def _first_difference(got: np.ndarray, want: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first column's first cell that differs (NaN equals NaN), or None."""
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    bad_cols = np.flatnonzero(~same.all(axis=0))
    if not bad_cols.size:
        return None
    j = int(bad_cols[0])
    return int(np.flatnonzero(~same[:, j])[0]), j


def check_news_lookahead(compute: Callable[[Any], np.ndarray], close_ms: np.ndarray,
                         known_at: Callable[[int], Any], names: Sequence[str],
                         cuts: Sequence[int] | None = None) -> None:
    """News features at bar ``t`` may use only the items that had reached us by bar ``t``'s close.

    ``compute(news)`` gives the feature matrix for a news series; ``known_at(ms)`` the series of the items
    that had arrived by ``ms`` (for a stored series, ``series.until``). For each cut bar ``t``, the rows
    ``<= t`` computed from ``known_at(close_ms[t])`` must equal those computed from every item
    (``known_at`` of the last close); any difference is ``LeakError`` naming the feature and the bar.
    """
    close_ms = np.asarray(close_ms, dtype=np.int64)
    n = len(close_ms)
    full = compute(known_at(int(close_ms[-1])))
    if cuts is None:
        cuts = sorted({max(0, n // 4), max(0, n // 2), max(0, (3 * n) // 4), max(0, n - 2)})
    for cut in cuts:
        got = compute(known_at(int(close_ms[cut])))[: cut + 1]
        want = full[: cut + 1]
        if (diff := _first_difference(got, want)) is not None:
            row, j = diff
            raise LeakError(f"feature {names[j]!r} looks ahead: its value at bar {row} changes when the news that "
                            f"arrived after bar {cut} closed is removed ({want[row, j]!r} with it, "
                            f"{got[row, j]!r} without)")


def suspicious_features(X: np.ndarray, y: np.ndarray, names: Sequence[str], splits: Sequence[Split],
                        max_auc: float = 0.9) -> list[str]:
    """Features that alone rank the test labels with ROC AUC above ``max_auc`` (or below 1 - max_auc) in
    every split: almost certainly a leak, since single market features are weak predictors."""
    from sklearn.metrics import roc_auc_score

    labels = np.unique(y[np.isfinite(y)])
    if len(labels) != 2:
        return []
    flagged = []
    for j, name in enumerate(names):
        aucs = []
        for _train, test in splits:
            yt, xt = y[test], X[test, j]
            ok = np.isfinite(xt) & np.isfinite(yt)
            if ok.sum() < 10 or len(np.unique(yt[ok])) < 2:
                continue
            aucs.append(roc_auc_score(yt[ok], xt[ok]))
        if aucs and all(max(a, 1.0 - a) > max_auc for a in aucs):
            flagged.append(f"{name} (AUC {np.mean(aucs):.3f} on its own)")
    return flagged

