"""Retry pacing for venue connections: exponential backoff with full jitter, and the venue's own "wait".

Full jitter (a uniform draw in [0, min(cap, base * 2**n)]) spreads the reconnects of many clients after an
outage instead of synchronising them; a floor keeps a broken endpoint from being hammered. A venue's
``Retry-After`` (429/418) overrides our schedule: ``RateGate`` closes until then and every REST call waits
or refuses, so we never send while the venue told us to stop.
"""
from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    floor_s: float = 0.05
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempts: int = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; each call doubles the ceiling up to ``cap_s``."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return max(self.floor_s, self.rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        self.attempts = 0


def ban_pause(failures: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to leave a source alone after its ``failures``-th failure in a row: ``base_s`` doubling up to
    ``cap_s``, with equal jitter (half fixed, half random): never hammer a source that bans us, and never all
    clients back at once."""
    ceiling = min(cap_s, base_s * 2 ** min(failures - 1, 20))
    return ceiling * (0.5 + 0.5 * rng.random())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date. None if absent/bad."""
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class RateGate:
    """Closed while the venue asked us to wait (Retry-After, a ban); ``wait`` sleeps until it opens."""

    def __init__(self) -> None:
        self._until = 0.0  # time.monotonic()
        self.reason = ""

    def close_for(self, seconds: float, reason: str) -> None:
        until = time.monotonic() + max(0.0, seconds)
        if until > self._until:
            self._until, self.reason = until, reason

    @property
    def remaining(self) -> float:
        return max(0.0, self._until - time.monotonic())

    @property
    def is_open(self) -> bool:
        return self.remaining <= 0.0

    async def wait(self) -> None:
        while (left := self.remaining) > 0:
            await asyncio.sleep(left)
