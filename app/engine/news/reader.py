"""What strategies, alerts and the window ask of the stored news, always as of a clock: an item is visible from
its *arrival* (``arrived_ms <= now``), so a backtest's strategy sees what a live one would have seen then.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable

from app.engine.core.messages import NewsRecord
from app.engine.news.store import DEFAULT_SCORER, NewsStore
from app.engine.news.text import NewsKey


def to_ms(since: Any, now_ms: int) -> int | None:
    """``since`` as epoch ms: None, ms (int), seconds before now (a negative number), a datetime or a date,
    or ISO text ("2026-12-01", "2026-12-01T09:30:00+08:00"; naive text is UTC)."""
    if since is None:
        return None
    if isinstance(since, bool):
        raise ValueError("since: a time, not a bool")
    if isinstance(since, (int, float)):
        return int(now_ms + since * 1000) if since < 0 else int(since)
    if isinstance(since, dt.datetime):
        d = since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)
        return int(d.timestamp() * 1000)
    if isinstance(since, dt.date):
        return int(dt.datetime(since.year, since.month, since.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    if isinstance(since, str):
        try:
            return to_ms(dt.datetime.fromisoformat(since.strip()), now_ms)
        except ValueError:
            raise ValueError(f"since: {since!r} is not a date (YYYY-MM-DD or an ISO time)") from None
    raise ValueError(f"since: cannot read {since!r} as a time")


class NewsReader:
    def __init__(self, store: NewsStore, now_ms: Callable[[], int]) -> None:
        self.store = store
        self.now_ms = now_ms

    def news(self, symbol: str, since: Any = None, limit: int = 100) -> list[NewsRecord]:
        """Items about ``symbol`` (an instrument id or a news key) that arrived by now, newest first."""
        now = self.now_ms()
        out = self.store.recent(NewsKey.of(symbol), since_ms=to_ms(since, now), limit=limit + 50)
        return [r for r in out if r.arrived_ms <= now][:limit]

    def sentiment(self, symbol: str, window_s: float = 3600.0, scorer: str = DEFAULT_SCORER) -> float:
        """The mean score of the items about ``symbol`` that arrived within the last ``window_s`` seconds
        (``now - window < arrived <= now``, the ``news_sentiment`` feature's rule); NaN when none is scored."""
        if not window_s > 0:
            raise ValueError(f"window must be a positive number of seconds, not {window_s!r}")
        now = self.now_ms()
        lo = now - int(window_s * 1000)
        rows = self.store.conn.execute(
            "SELECT s.score FROM news_items i JOIN news_symbols n ON n.item_id=i.id JOIN news_scores s ON "
            "s.item_id=i.id AND s.scorer=? WHERE n.symbol=? AND i.arrived_ms > ? AND i.arrived_ms <= ? "
            "AND s.score IS NOT NULL ORDER BY i.arrived_ms, i.id", (scorer, NewsKey.of(symbol), lo, now)).fetchall()
        if not rows:
            return math.nan
        total = 0.0
        for (v,) in rows:
            total += v
        return total / len(rows)
