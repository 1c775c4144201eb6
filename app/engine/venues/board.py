"""``VenueBoard``: the engine-side model behind the Venues dock (no Qt).

It keeps, from bus events, each venue's connection state, each feed's state per symbol, the active feed of
symbols that fail over, the latest venue errors and a pending reconciliation, and bumps ``version`` so the
view repaints at frame rate, never per message.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from app.engine.core.messages import VenueStatus
from app.engine.venues.events import (
    FeedChanged,
    FeedStatus,
    ReconciliationApplied,
    ReconciliationProposed,
    VenueError,
)


@dataclass
class VenueRow:
    venue: str
    connected: bool
    message: str
    ts: int


class VenueBoard:
    def __init__(self, bus: Any, router: Any = None) -> None:
        self.router = router
        self.venues: dict[str, VenueRow] = {}
        self.feeds: dict[tuple[str, str, str], FeedStatus] = {}  # (symbol, venue, channel) -> latest
        self.changes: collections.deque[FeedChanged] = collections.deque(maxlen=50)
        self.errors: collections.deque[VenueError] = collections.deque(maxlen=100)
        self.pending: dict[str, ReconciliationProposed] = {}
        self.version = 0
        self._unsubs = [
            bus.subscribe(VenueStatus, self._on_status), bus.subscribe(FeedStatus, self._on_feed),
            bus.subscribe(FeedChanged, self._on_change), bus.subscribe(VenueError, self._on_error),
            bus.subscribe(ReconciliationProposed, self._on_proposal),
            bus.subscribe(ReconciliationApplied, self._on_applied),
        ]

    def close(self) -> None:
        for u in self._unsubs:
            u()

    def active_feed(self, symbol: str) -> str | None:
        """The feed serving instrument ``symbol`` (an id) now, if it has several (feeds.json); else None."""
        if self.router is None:
            return None
        return self.router.active.get(symbol)

    def feed_rows(self) -> list[tuple[str, str, str, str, str, bool]]:
        """(instrument, venue, channel, state, message, active) sorted by instrument then priority: a feed
        that serves another venue's instrument (okx's BTC/USDT for BTC/USDT@binance) is listed under it."""
        rows = []
        router = self.router
        for (sym, venue, channel), st in self.feeds.items():
            targets = router.targets_of(sym, venue) if router is not None else []
            for target in targets or [sym]:
                active = self.active_feed(target)
                rows.append((target, venue, channel, st.state, st.message, active is None or active == venue))
        prio = (router.priorities if router is not None else {})

        def key(r):
            order = prio.get(r[0], [])
            return (r[0], order.index(r[1]) if r[1] in order else 99, r[1], r[2])
        return sorted(set(rows), key=key)

    def _bump(self) -> None:
        self.version += 1

    def _on_status(self, s: VenueStatus) -> None:
        self.venues[s.venue] = VenueRow(s.venue, s.connected, s.message, s.ts)
        self._bump()

    def _on_feed(self, f: FeedStatus) -> None:
        self.feeds[(f.symbol, f.venue, f.channel)] = f
        self._bump()

    def _on_change(self, c: FeedChanged) -> None:
        self.changes.append(c)
        self._bump()

    def _on_error(self, e: VenueError) -> None:
        self.errors.append(e)
        self._bump()

    def _on_proposal(self, p: ReconciliationProposed) -> None:
        self.pending[p.venue] = p
        self._bump()

    def _on_applied(self, a: ReconciliationApplied) -> None:
        self.pending.pop(a.venue, None)
        self._bump()
