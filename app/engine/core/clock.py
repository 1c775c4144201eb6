"""Clocks: the same engine code runs on wall time (live) and on a simulated clock (backtests, tests)."""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall (or simulated wall) time in ms since the Unix epoch, UTC: for timestamps."""

    def monotonic_ns(self) -> int:
        """A clock that never jumps backwards: for rates, throttles and timeouts."""


class LiveClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()


class SimClock:
    """A clock that moves only when told to; both readings advance together. ``ms`` is the time now; the
    backtester writes it directly in its hot loop (always forward: its data was checked to be increasing)."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.ms = start_ms
        self._start = start_ms

    def now_ms(self) -> int:
        return self.ms

    def monotonic_ns(self) -> int:
        return (self.ms - self._start) * 1_000_000

    def set_time(self, ms: int) -> None:
        if ms < self.ms:
            raise ValueError(f"simulated time cannot go backwards ({ms} < {self.ms})")
        self.ms = ms

    def advance(self, ms: int) -> None:
        self.set_time(self.ms + ms)
