"""Latency samples kept in a ring: percentiles of the recent past for the status bar and benchmarks."""
from __future__ import annotations

import collections


class LatencyStats:
    """Durations in nanoseconds; the last ``size`` samples are kept."""

    __slots__ = ("samples", "count", "version")

    def __init__(self, size: int = 2000) -> None:
        self.samples: collections.deque[int] = collections.deque(maxlen=size)
        self.count = 0
        self.version = 0

    def record(self, ns: int) -> None:
        self.samples.append(ns)
        self.count += 1
        self.version += 1

    def percentile_us(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the kept samples in microseconds; 0.0 with no samples."""
        if not self.samples:
            return 0.0
        xs = sorted(self.samples)
        return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000.0

    def clear(self) -> None:
        self.samples.clear()
        self.version += 1
