"""Identifiers Kestrel makes: client order ids (ours, unique across restarts of a profile) and the session
token every simulated venue puts in its trade and venue order ids."""
from __future__ import annotations

import itertools
import secrets
import time


class ClientOrderIdFactory:
    """Client order ids are ours: ``K<session>-<n>``, unique across restarts of one profile."""

    def __init__(self, session: str | None = None) -> None:
        self.session = session or _base36(time.time_ns() // 1_000_000)
        self._seq = itertools.count(1)

    def __call__(self) -> str:
        return f"K{self.session}-{next(self._seq)}"


def session_token() -> str:
    """A token naming one run of a simulated venue: the wall clock's ms and 20 random bits, in base 36.

    Fills are de-duplicated on (venue, trade id) in the profile's journal, so a venue that numbered its trades
    from 1 in every process would have its fills after a restart dropped as duplicates of the last session's.
    Every simulated venue (sim, replay, akshare paper, backtest) puts this token in its trade and venue order
    ids. The random part keeps ids apart when the clock steps back or two runs start in the same ms."""
    return _base36(time.time_ns() // 1_000_000) + _base36(secrets.randbits(20)).rjust(4, "0")


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"
