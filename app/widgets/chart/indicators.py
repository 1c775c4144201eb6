"""Indicators on the chart: any registry indicator, overlay or sub-pane, kept in step with live bars.

The full history is computed once with the vectorised kernel (in a worker thread in the app, so a first
Numba compilation never blocks the UI). A live update recomputes only a tail of ``tail`` bars ending at the
last bar and splices it in, re-anchored on the last unchanged value: exact for window indicators, exact
for cumulative ones (OBV, A/D: a constant shift), and for recursive ones (EMA, RSI, ...) the tail is long
enough (>= 40x the longest period) for the cold start to have decayed below float noise. Session VWAP's
tail starts at the session start. Either way a live update costs O(tail), not O(history).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from app.engine.data.bars import Bars
from app.engine.indicators import registry
from app.engine.indicators.registry import IndicatorSpec
from app.widgets.chart.lod import LodColumn
from app.widgets.theme import INDICATOR_PALETTE

DAY_MS = 86_400_000


def compute(spec: IndicatorSpec, params: dict[str, Any], bars: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Vectorised outputs of ``spec`` over ``bars`` (columns by name; ``ts`` for sessions)."""
    args = [bars[i] for i in spec.inputs if i != "session"]
    kw = dict(params)
    if "session" in spec.inputs:
        kw["session"] = (bars["ts"] // DAY_MS).astype(np.float64)
    out = spec.fn(*args, **kw)
    outs = list(out) if isinstance(out, tuple) else [out]
    return [np.asarray(o, dtype=np.float64) for o in outs]


def snapshot(bars: Bars, start: int = 0, end: int | None = None) -> dict[str, np.ndarray]:
    """Writable copies of the columns (a worker thread must not read arrays the UI thread mutates)."""
    return {name: np.array(col) for name, col in bars.slice(start, end).as_dict().items()}


def views(bars: Bars, start: int, end: int) -> dict[str, np.ndarray]:
    return bars.slice(start, end).as_dict()


def headroom(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` in a buffer with room to append (as the bar store has): the first live bar must not copy the
    whole history (~3 ms per output at 1M bars)."""
    buf = np.empty(n + max(n // 8, 1024))
    buf[:n] = values
    return buf


class ChartIndicator:
    """One indicator instance on the chart (name + validated parameters) and its output columns."""

    def __init__(self, name: str, params: dict[str, Any] | None = None, color_index: int = 0) -> None:
        self.spec = registry[name]
        self.params = self.spec.validate_params(**(params or {}))
        self.name = self.spec.name
        self.kind = self.spec.kind
        shown = [str(v) for v in self.params.values()]
        self.label = f"{self.name.upper()}({', '.join(shown)})" if shown else self.name.upper()
        self.colors = [INDICATOR_PALETTE[(color_index + j) % len(INDICATOR_PALETTE)] for j in range(len(self.spec.outputs))]
        periods = [int(v) for p, v in zip(self.spec.params, self.params.values()) if p.type is int]
        self.tail = max(512, 40 * max(periods, default=1))
        self.values: list[np.ndarray] = []
        self.n = 0
        self.maxes: list[LodColumn] = []
        self.mins: list[LodColumn] = []
        self.ready = False
        self.generation = -1  # which data generation ``values`` belong to

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.spec.outputs

    def install(self, values: list[np.ndarray], generation: int) -> None:
        """Adopt full-history outputs (from ``compute``)."""
        n = len(values[0]) if values else 0
        self.values = [headroom(v, n) for v in values]
        self.n = n
        self.maxes = [LodColumn(np.fmax, lambda j=j: self.column(j)) for j in range(len(values))]
        self.mins = [LodColumn(np.fmin, lambda j=j: self.column(j)) for j in range(len(values))]
        self.generation = generation
        self.ready = True

    def column(self, j: int) -> np.ndarray:
        return self.values[j][: self.n]

    def update(self, bars: Bars, start: int) -> None:
        """Bars from ``start`` on changed or were appended: recompute a tail and splice it in."""
        if not self.ready:
            return
        n = bars.n
        start = min(start, self.n)
        if n - start > self.tail:  # a long gap (e.g. a worker result caught up late): compute it all
            self.install(compute(self.spec, self.params, views(bars, 0, n)), self.generation)
            return
        s = max(0, start - self.tail)
        if "session" in self.spec.inputs and s > 0:
            day0 = (int(bars.ts[start if start < n else n - 1]) // DAY_MS) * DAY_MS
            s = min(s, int(np.searchsorted(bars.ts, day0)))
        tail = compute(self.spec, self.params, views(bars, s, n))
        for j, vals in enumerate(tail):
            buf = self.values[j]
            if n > len(buf):
                grown = np.empty(2 * n)
                grown[: self.n] = buf[: self.n]
                self.values[j] = buf = grown
            offset = 0.0
            if s > 0 and start > 0:
                full, cold = buf[start - 1], vals[start - 1 - s]
                if full == full and cold == cold:
                    offset = full - cold
            buf[start:n] = vals[start - s :] + offset if offset else vals[start - s :]
        self.n = n
        for j in range(len(tail)):
            col = self.values[j][:n]
            self.maxes[j].update(col, start)
            self.mins[j].update(col, start)

    def at(self, i: int) -> list[float]:
        if not self.ready or not 0 <= i < self.n:
            return []
        return [float(v[i]) for v in self.values]

    def buckets(self, j: int, i0: int, i1: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(min, max) of output ``j`` per bucket of the window."""
        i1 = min(i1, self.n - 1)
        if i1 < i0:
            return np.empty(0), np.empty(0)
        col = self.column(j)
        return self.mins[j].buckets(col, i0, i1, k), self.maxes[j].buckets(col, i0, i1, k)
