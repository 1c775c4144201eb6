"""Drift: are the live features still distributed like the training features?

Per feature, the training values are cut into ``bins`` quantile bins (edges from the training data); the
reference is the share of training rows in each bin. Live rows (closed bars only: previews of a forming
bar are not the training distribution) go into a sliding window of the last ``window`` rows, and the
Population Stability Index compares the two:

    PSI = sum over bins of (live share - reference share) * ln(live share / reference share)

(shares floored at 1e-4). The usual reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 the model is
seeing data unlike its training set. Rows are binned in batches, off the strategy path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

FLOOR = 1e-4
MODERATE, SIGNIFICANT = 0.1, 0.25


def psi(live: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """PSI per row of two (features, bins) share matrices."""
    a = np.maximum(live, FLOOR)
    e = np.maximum(ref, FLOOR)
    return ((a - e) * np.log(a / e)).sum(axis=-1)


def status(value: float) -> str:
    if not math.isfinite(value):
        return "collecting"
    return "stable" if value < MODERATE else ("moderate" if value < SIGNIFICANT else "DRIFT")


def _bin(X: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per value: the number of a feature's edges strictly below it."""
    return (X[..., None] > edges).sum(axis=-1)


@dataclass(frozen=True)
class DriftReference:
    edges: np.ndarray  # (features, bins - 1)
    shares: np.ndarray  # (features, bins)

    @classmethod
    def from_training(cls, X: np.ndarray, bins: int = 10) -> "DriftReference":
        X = np.asarray(X, dtype=np.float64)
        X = X[np.isfinite(X).all(axis=1)]
        if len(X) < bins:
            raise ValueError(f"{len(X)} rows are too few for a {bins}-bin drift reference")
        qs = np.linspace(0, 1, bins + 1)[1:-1]
        edges = np.quantile(X, qs, axis=0).T.copy()  # (features, bins-1)
        idx = _bin(X, edges)  # (rows, features)
        shares = np.stack([np.bincount(idx[:, j], minlength=bins) for j in range(X.shape[1])]) / len(X)
        return cls(edges, shares)

    def to_json(self) -> dict[str, Any]:
        return {"edges": self.edges.tolist(), "shares": self.shares.tolist()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "DriftReference":
        return cls(np.asarray(d["edges"], dtype=np.float64), np.asarray(d["shares"], dtype=np.float64))


class DriftMonitor:
    """Sliding-window PSI of each feature against a ``DriftReference``.

    ``update`` only queues the row (it runs on the strategy path, before the order); binning happens in
    batches when someone reads (the Models dock, twice a second) or when the queue reaches half a window.
    """

    def __init__(self, reference: DriftReference, names: Sequence[str], window: int = 500,
                 min_rows: int = 50) -> None:
        self.ref = reference
        self.names = list(names)
        k, bins = reference.shares.shape
        if k != len(self.names):
            raise ValueError(f"drift reference has {k} features, the model {len(self.names)}")
        self.window = window
        self.min_rows = min_rows
        self._bins = bins
        self._ring = np.zeros((window, k), dtype=np.int16)
        self._counts = np.zeros((k, bins), dtype=np.int64)
        self._pending: list[Sequence[float]] = []
        self._n = 0  # finite rows seen in all
        self.version = 0

    def update(self, row: Sequence[float]) -> None:
        self._pending.append(row)
        self.version += 1
        if len(self._pending) >= max(self.window // 2, 1):
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        X = np.asarray(self._pending, dtype=np.float64).reshape(len(self._pending), -1)
        self._pending = []
        X = X[np.isfinite(X).all(axis=1)]
        m, w = len(X), self.window
        if m == 0:
            return
        if m > w:  # only the last window's rows stay
            self._n += m - w
            X, m = X[-w:], w
        pos = (self._n + np.arange(m)) % w
        self._ring[pos] = _bin(X, self.ref.edges)
        self._n += m
        filled = self._ring[: min(self._n, w)]
        self._counts = np.stack([np.bincount(filled[:, j], minlength=self._bins) for j in range(filled.shape[1])])

    @property
    def n(self) -> int:
        """Finite rows seen in all."""
        self._flush()
        return self._n

    @property
    def rows(self) -> int:
        return min(self.n, self.window)

    def psi(self) -> np.ndarray:
        """PSI per feature (NaN until ``min_rows`` rows were seen)."""
        rows = self.rows
        if rows < self.min_rows:
            return np.full(len(self.names), np.nan)
        return psi(self._counts / rows, self.ref.shares)

    def report(self) -> list[tuple[str, float, str]]:
        """(feature, psi, status), worst first."""
        values = self.psi()
        out = [(n, float(v), status(float(v))) for n, v in zip(self.names, values)]
        return sorted(out, key=lambda t: -t[1] if math.isfinite(t[1]) else 0.0)

    def worst(self) -> float:
        v = self.psi()
        return float(np.nanmax(v)) if np.isfinite(v).any() else math.nan
