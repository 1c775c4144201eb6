"""Feed failover: several feeds for one instrument's market data, in priority order; one of them serves it.

An instrument is its venue's (``BTC/USDT@binance``): orders for it always go to binance. Its *market data* may
come from another feed when binance's stalls: ``feeds.json`` lists, per instrument, the feeds that may serve
it, best first. Each adapter publishes through ``FeedRouter.publisher(name)``. A feed's own instruments' data
is published as itself (okx's trades are ``BTC/USDT@okx``), and while it is the *active* feed of an instrument
it serves, also as a copy re-tagged with that instrument's id (okx's trades as ``BTC/USDT@binance``); the
instrument's own venue's data is published only while that venue is its active feed, so views, bars and risk
never mix two venues' prices under one id. A feed is healthy for an instrument while its data is younger than
``stale_s`` and its last ``FeedStatus`` for it is not down/stale/reconnecting. ``tick`` (every 0.25 s) hands
over to the best healthy feed when the active one is not, and back to a preferred feed once it has been healthy
for ``recover_s`` (hysteresis: no flapping). Every hand-over is a ``FeedChanged`` event and an ``Alert``,
which the Venues dock shows; the chart says which feed serves it (``VenueBoard.active_feed``).

Config: ``<profile>/venues/feeds.json``; a key is an instrument id, or a bare symbol meaning that symbol on
its first feed::

    {"stale_s": 5, "recover_s": 3, "symbols": {"BTC/USDT@binance": ["binance", "okx"]}}
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

from app.engine.core.instruments import make_id, split_id
from app.engine.core.messages import Alert, Bar, BookSnapshot, TradeTick
from app.engine.venues.events import FeedChanged, FeedStatus

log = logging.getLogger("kestrel.venues.failover")
_MARKET = (TradeTick, BookSnapshot, Bar)
_UNHEALTHY = ("down", "stale", "reconnecting")


def load_feeds(profile: Path) -> dict[str, Any]:
    path = Path(profile) / "venues" / "feeds.json"
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(raw.get("symbols", {}), dict):
        raise ValueError(f"{path}: 'symbols' must map an instrument to a list of feed names")
    return raw


def served_id(key: str, feeds: list[str]) -> str:
    """The instrument a feeds.json key names: an id as written; a bare symbol on its first feed."""
    return key if split_id(key)[1] is not None else make_id(key, feeds[0])


class FeedRouter:
    def __init__(self, publish: Callable[[Any], None], priorities: dict[str, list[str]], *,
                 stale_s: float = 5.0, recover_s: float = 3.0, now_ms: Callable[[], int] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, start_grace_s: float = 15.0) -> None:
        self._publish = publish
        self.priorities = {served_id(s, list(feeds)): list(feeds) for s, feeds in priorities.items() if feeds}
        self.stale_s, self.recover_s = stale_s, recover_s
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._mono = monotonic
        # at start a preferred feed still connecting (a keyed venue reconciles first) is waited for this long
        # before a faster backup takes over: no hand-over alert at every start
        self.start_grace_s, self._born = start_grace_s, monotonic()
        self.active: dict[str, str] = {s: feeds[0] for s, feeds in self.priorities.items()}
        # (venue's symbol, feed) -> the instruments that feed may serve with it
        self._serves: dict[tuple[str, str], list[str]] = {}
        for target, feeds in self.priorities.items():
            native = split_id(target)[0]
            for feed in feeds:
                self._serves.setdefault((native, feed), []).append(target)
        self._seen: dict[tuple[str, str], float] = {}
        self._healthy_since: dict[tuple[str, str], float] = {}
        self._status: dict[tuple[str, str], str] = {}
        self.changes = 0
        self.version = 0

    def targets_of(self, symbol: str, feed: str) -> list[str]:
        """The instruments (ids) that ``feed``'s data for ``symbol`` (its id or the venue's symbol) may serve."""
        return self._serves.get((split_id(symbol)[0], feed), [])

    def publisher(self, feed: str) -> Callable[[Any], None]:
        if not any(f == feed for _, f in self._serves):  # serves nothing of feeds.json: straight to the bus
            return self._publish

        def publish(msg: Any) -> None:
            if isinstance(msg, _MARKET):
                sym = msg.symbol
                targets = self.targets_of(sym, feed)
                if not targets:
                    self._publish(msg)
                    return
                now = self._mono()
                own = sym in self.priorities  # an instrument with feeds: published only from its active one
                for target in targets:
                    key = (target, feed)
                    if self._healthy_since.get(key) is None or now - self._seen.get(key, 0.0) > self.stale_s:
                        self._healthy_since[key] = now
                    self._seen[key] = now
                    if self.active.get(target) == feed:
                        self._publish(msg if target == sym else dataclasses.replace(msg, symbol=target))
                if not own:
                    self._publish(msg)  # the feed's own instrument, as itself
                return
            if isinstance(msg, FeedStatus):
                for target in self.targets_of(msg.symbol, feed):
                    self._status[(target, feed)] = msg.state
                    if msg.state in _UNHEALTHY:
                        self._healthy_since.pop((target, feed), None)
            self._publish(msg)
        return publish

    def healthy(self, symbol: str, feed: str, now: float | None = None) -> bool:
        now = self._mono() if now is None else now
        seen = self._seen.get((symbol, feed))
        if seen is None or now - seen > self.stale_s:
            return False
        return self._status.get((symbol, feed)) not in _UNHEALTHY

    def tick(self) -> None:
        now = self._mono()
        for sym, feeds in self.priorities.items():
            current = self.active.get(sym, feeds[0])
            if (sym, current) not in self._seen and now - self._born < self.start_grace_s:
                continue  # still connecting: not failed yet
            current_ok = self.healthy(sym, current, now)
            rank = feeds.index(current) if current in feeds else len(feeds)
            best = None
            for i, feed in enumerate(feeds):
                if not self.healthy(sym, feed, now):
                    continue
                if i < rank:  # a preferred feed: only after it has been healthy for recover_s
                    since = self._healthy_since.get((sym, feed))
                    if since is None or now - since < self.recover_s:
                        continue
                best = feed
                break
            if best is not None and best != current and (i < rank or not current_ok):
                why = (f"{best} is healthy again (preferred over {current})" if i < rank else
                       f"{current} is {self._why(sym, current, now)}")
                self._switch(sym, current, best, why)

    def _why(self, sym: str, feed: str, now: float) -> str:
        st = self._status.get((sym, feed))
        if st in _UNHEALTHY:
            return st
        seen = self._seen.get((sym, feed))
        return "silent" if seen is None else f"stale (no data for {now - seen:.1f} s)"

    def _switch(self, sym: str, old: str, new: str, why: str) -> None:
        self.active[sym] = new
        self.changes += 1
        self.version += 1
        ts = self._now_ms()
        log.warning("feed failover %s: %s -> %s (%s)", sym, old, new, why)
        self._publish(FeedChanged(sym, new, old, why, ts))
        self._publish(Alert("warning" if self.priorities[sym].index(new) > 0 else "info",
                            f"{sym} market data from {new}", f"Switched from {old}: {why}.", ts))
