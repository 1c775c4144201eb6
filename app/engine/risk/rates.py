"""Rates and counters the risk engine decides on: message throttles, fills, rejects, throttle trips,
duplicate orders. Everything here uses the monotonic clock, so a wall-clock jump cannot open or
close a throttle."""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

NS = 1_000_000_000


class Window:
    """Event times (monotonic ns) in a sliding window of ``span_ns``."""

    __slots__ = ("span", "times")

    def __init__(self, span_ns: int) -> None:
        self.span = span_ns
        self.times: collections.deque[int] = collections.deque()

    def count(self, now: int) -> int:
        times, edge = self.times, now - self.span
        while times and times[0] <= edge:
            times.popleft()
        return len(times)

    def add(self, now: int) -> int:
        self.times.append(now)
        return self.count(now)

    def push(self, now: int) -> None:
        """``add`` without the count (the caller just counted)."""
        self.times.append(now)


@dataclass
class ActorRates:
    msgs: Window = field(default_factory=lambda: Window(NS))
    fills: Window = field(default_factory=lambda: Window(60 * NS))
    rejects: Window = field(default_factory=lambda: Window(60 * NS))
    throttle_trips: Window = field(default_factory=lambda: Window(10 * NS))
    cancels: int = 0


class RateBook:
    def __init__(self) -> None:
        self.total = ActorRates()
        self.actors: dict[str, ActorRates] = {}
        self._recent: dict[tuple, int] = {}
        self._prune_at = 10_000

    def of(self, actor: str) -> ActorRates:
        rates = self.actors.get(actor)
        if rates is None:
            rates = self.actors[actor] = ActorRates()
        return rates

    def seen_within(self, key: tuple, now: int, window_ns: int) -> bool:
        """True if the same order key was seen within the window; records it either way."""
        last = self._recent.get(key)
        self._recent[key] = now
        if len(self._recent) > self._prune_at:  # drop what is older than the window, amortized O(1):
            edge = now - window_ns             # the next prune waits until the map doubles again
            self._recent = {k: t for k, t in self._recent.items() if t > edge}
            self._prune_at = max(10_000, 2 * len(self._recent))
        return last is not None and now - last <= window_ns


def strategy_of(actor: str) -> str | None:
    return actor.split(":", 1)[1] if actor.startswith("strategy:") else None
