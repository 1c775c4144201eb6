"""Feed failover: several feeds for one instrument in priority order; one of them reaches the bus.

Each feed's adapter publishes through ``FeedRouter.publisher(name)`` instead of ``bus.publish``. For a
symbol with a priority list, only the *active* feed's market data (trades, books, bars) is published; the
others are watched but dropped, so views, bars and risk never mix two venues' prices. A feed is healthy
for a symbol while its data is younger than ``stale_s`` and its last ``FeedStatus`` for it is not
down/stale/reconnecting. ``tick`` (every 0.25 s) hands over to the best healthy feed when the active one
is not, and back to a preferred feed once it has been healthy for ``recover_s`` (hysteresis: no
flapping). Every hand-over is a ``FeedChanged`` event and an ``Alert``, which the Venues dock shows.

Config: ``<profile>/venues/feeds.json``::

    {"stale_s": 5, "recover_s": 3, "symbols": {"BTC/USDT": ["binance", "okx"]}}
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

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
        raise ValueError(f"{path}: 'symbols' must map a symbol to a list of feed names")
    return raw


class FeedRouter:
    def __init__(self, publish: Callable[[Any], None], priorities: dict[str, list[str]], *,
                 stale_s: float = 5.0, recover_s: float = 3.0, now_ms: Callable[[], int] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._publish = publish
        self.priorities = {s: list(feeds) for s, feeds in priorities.items() if feeds}
        self.stale_s, self.recover_s = stale_s, recover_s
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._mono = monotonic
        self.active: dict[str, str] = {s: feeds[0] for s, feeds in self.priorities.items()}
        self._seen: dict[tuple[str, str], float] = {}
        self._healthy_since: dict[tuple[str, str], float] = {}
        self._status: dict[tuple[str, str], str] = {}
        self.changes = 0
        self.version = 0

    def primary(self, symbol: str) -> str | None:
        feeds = self.priorities.get(symbol)
        return feeds[0] if feeds else None

    def publisher(self, feed: str) -> Callable[[Any], None]:
        def publish(msg: Any) -> None:
            if isinstance(msg, _MARKET):
                sym = msg.symbol
                feeds = self.priorities.get(sym)
                if feeds is None or feed not in feeds:
                    self._publish(msg)
                    return
                key = (sym, feed)
                now = self._mono()
                if self._healthy_since.get(key) is None or now - self._seen.get(key, 0.0) > self.stale_s:
                    self._healthy_since[key] = now
                self._seen[key] = now
                if self.active.get(sym) == feed:
                    self._publish(msg)
                return
            if isinstance(msg, FeedStatus):
                self._status[(msg.symbol, feed)] = msg.state
                if msg.state in _UNHEALTHY:
                    self._healthy_since.pop((msg.symbol, feed), None)
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
