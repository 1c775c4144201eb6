"""``NewsService``: polls the profile's news sources, stores what is new, scores it, and publishes it.

SOURCES       rows of ``news_sources``: ``rss`` (a URL), ``akshare-flash`` (market-wide flash news), ``akshare-news``
              and ``akshare-notices`` (per A-share, round-robin over the watched ones). Added by the News dock or
              ``kestrel news``; a fresh profile has none (the simulated exchange needs no network).
A POLL        fetch, parse and score run on the news executor's worker (``DeadlineExecutor``: a hung call is
              abandoned at its deadline, never waited for); the loop stores the finished items in chunks of
              ``CHUNK`` (a short transaction each, the loop yields between them) and publishes ``NewsArrived``
              per chunk.
FAILURES      a source that fails (an error, a hang, HTTP 4xx/5xx, an executor full of hung calls) is paused:
              ``min(cap, base * 2**(n-1))`` with equal jitter, or what its Retry-After said. Stored items stay
              on show, marked stale since the last good poll. Every count is in the source's status (the dock).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from app.engine.core.messages import NewsArrived
from app.engine.news.sources import AKSHARE, Counts, SourceRefused, fetch_url, parse_feed
from app.engine.news.store import NewsItem, NewsStore
from app.engine.news.text import SymbolMatcher
from app.engine.venues.backoff import ban_pause

log = logging.getLogger("kestrel.news")
KINDS = ("rss", "akshare-flash", "akshare-news", "akshare-notices")
PER_SYMBOL = ("akshare-news", "akshare-notices")  # polled one A-share at a time
DEFAULT_POLL_S = {"rss": 300.0, "akshare-flash": 60.0, "akshare-news": 300.0, "akshare-notices": 900.0}
MIN_POLL_S = 15.0
CHUNK = 50
MATCHER_TTL_S = 600.0


@dataclass
class SourceState:
    name: str
    kind: str
    target: str
    poll_s: float
    enabled: bool = True
    failures: int = 0
    paused_until: float = 0.0  # time.monotonic()
    next_due: float = 0.0
    last_error: str = ""
    last_problem: str = ""  # the last malformed-feed complaint
    last_ok_ms: int = 0
    polls: int = 0
    stored: int = 0
    duplicates: int = 0
    future: int = 0
    counts: Counts = field(default_factory=Counts)
    busy: bool = False
    cursor: int = 0  # per-symbol kinds: the next watched symbol

    @property
    def paused_s(self) -> float:
        return max(0.0, self.paused_until - time.monotonic())

    @property
    def state(self) -> str:
        if not self.enabled:
            return "off"
        if self.failures:
            return "paused" if self.paused_s > 0 else "retrying"
        return "ok" if self.last_ok_ms else "waiting"

    def status(self) -> dict:
        return {"state": self.state, "failures": self.failures, "paused_s": round(self.paused_s, 1),
                "last_error": self.last_error, "last_problem": self.last_problem, "last_ok_ms": self.last_ok_ms,
                "polls": self.polls, "stored": self.stored, "duplicates": self.duplicates, "future": self.future,
                **self.counts.as_dict()}


def check_source(kind: str, target: str) -> str:
    """The reason a source cannot be added, or ""."""
    if kind not in KINDS:
        return f"unknown news source kind {kind!r} (one of {', '.join(KINDS)})"
    if kind == "rss" and not target.lower().startswith(("http://", "https://", "file://")):
        return f"a feed is an http(s) URL, not {target!r}"
    return ""


class NewsService:
    def __init__(self, store: NewsStore, bus: Any, now_ms: Callable[[], int], *,
                 watched: Callable[[], Sequence[str]] = lambda: (), matcher: Callable[[], SymbolMatcher] | None = None,
                 scorers: Callable[[], tuple[Sequence[Any], list[str]]] | None = None, executor: Any = None,
                 fetchers: dict[str, Callable[..., Any]] | None = None, deadline_s: float = 20.0,
                 ban_base_s: float = 30.0, ban_cap_s: float = 1800.0, rng: random.Random | None = None,
                 process: Any = None) -> None:
        self.store = store
        self.bus = bus
        self.now_ms = now_ms
        self.watched = watched  # news keys of the A-shares the trader has open (per-stock sources poll these)
        self._matcher_fn = matcher or (lambda: SymbolMatcher())
        self._matcher: SymbolMatcher | None = None
        self._matcher_at = 0.0
        self._scorers_fn = scorers
        self.scorers: list[Any] = []
        self.scorer_errors: list[str] = []
        self._scorer_lock = threading.Lock()
        self.executor = executor
        self.fetchers = dict(fetchers or {})  # tests: kind -> fetch(target or symbol)
        self.process = process  # a worker.NewsProcess (the window): parsing and scoring there; None: on the thread
        self.deadline_s = deadline_s
        self.ban_base_s, self.ban_cap_s = ban_base_s, ban_cap_s
        self.rng = rng or random.Random()
        self.sources: dict[str, SourceState] = {}
        self.sources_every_s = 5.0  # how often the running service re-reads news_sources
        self.version = 0  # bumped on any change the dock shows
        self._task: asyncio.Task | None = None
        self.reload_sources()

    # ----------------------------------------------------------------------------------------------- sources
    def reload_sources(self) -> None:
        """The sources as the database has them now (another process may have changed them)."""
        rows = {r["name"]: r for r in self.store.sources()}
        changed = False
        for name in list(self.sources):
            if name not in rows:
                del self.sources[name]
                changed = True
        for name, r in rows.items():
            st = self.sources.get(name)
            poll_s = max(MIN_POLL_S, float(r["poll_s"]))
            if st is None or (st.kind, st.target) != (r["kind"], r["target"]):
                st = SourceState(name, r["kind"], r["target"], poll_s)
                self.sources[name] = st
                changed = True
            if (st.poll_s, st.enabled) != (poll_s, r["enabled"]):
                st.poll_s, st.enabled = poll_s, r["enabled"]
                changed = True
        if changed:
            self.version += 1

    def add_source(self, name: str, kind: str, target: str = "", poll_s: float | None = None) -> None:
        why = check_source(kind, target)
        if why:
            raise ValueError(why)
        self.store.set_source(name, kind, target, max(MIN_POLL_S, poll_s or DEFAULT_POLL_S[kind]))
        self.reload_sources()

    def remove_source(self, name: str) -> None:
        self.store.remove_source(name)
        self.reload_sources()

    # ------------------------------------------------------------------------------------------------- loop
    def start(self) -> None:
        if self._task is None:
            if self.process is not None and any(st.enabled for st in self.sources.values()):
                self.process.warm()  # the worker and its scorers, before the first poll needs them
            self._task = asyncio.get_running_loop().create_task(self._run(), name="news")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
            self._task = None

    async def _run(self) -> None:
        reloaded = time.monotonic()
        while True:
            now = time.monotonic()
            if now - reloaded >= self.sources_every_s:  # sources added or removed by `kestrel news sources` elsewhere
                reloaded = now
                try:
                    self.reload_sources()
                except Exception as exc:  # noqa: BLE001 - a busy database: the next round reads them
                    log.warning("news sources not re-read: %s", exc)
            for st in list(self.sources.values()):
                if st.enabled and not st.busy and now >= st.next_due and now >= st.paused_until:
                    st.busy = True
                    asyncio.get_running_loop().create_task(self._poll_guarded(st), name=f"news:{st.name}")
            await asyncio.sleep(1.0)

    async def _poll_guarded(self, st: SourceState) -> None:
        try:
            await self.poll(st)
        except Exception:  # noqa: BLE001 - a poll never takes the loop down
            log.exception("news source %s: poll failed unexpectedly", st.name)
        finally:
            st.busy = False

    async def poll(self, st: SourceState) -> list[Any]:
        """One poll of ``st``: the records stored. Failures pause the source and return []."""
        st.polls += 1
        symbol = ""
        keys = self.symbols_of(st)
        if st.kind in PER_SYMBOL:
            if not keys:
                st.next_due = time.monotonic() + st.poll_s
                return []
            symbol = keys[st.cursor % len(keys)]
            st.cursor += 1
        try:
            items, counts, problem = await self._call(st, symbol)
        except Exception as exc:  # noqa: BLE001 - a ban looks like anything
            self._failed(st, exc)
            return []
        arrived = self.now_ms()
        st.counts.add(counts)
        st.last_problem = problem
        if problem:
            log.warning("news source %s: %s (%d items recovered)", st.name, problem, len(items))
        records = await self.store_items(items, arrived, st)
        if st.failures:
            log.info("news source %s answers again", st.name)
        st.failures, st.last_error, st.last_ok_ms = 0, "", arrived
        st.next_due = time.monotonic() + st.poll_s / (len(keys) or 1)
        self._save_status(st)
        return records

    def symbols_of(self, st: SourceState) -> list[str]:
        """The A-shares a per-stock source polls in turn (its own list, else the watched ones); [] for the others."""
        if st.kind not in PER_SYMBOL:
            return []
        if st.target:
            return [k.strip() for k in st.target.split(",") if k.strip()]
        return [k for k in self.watched() if k[:1].isdigit()]

    async def _call(self, st: SourceState, symbol: str) -> tuple[list[NewsItem], Counts, str]:
        matcher = self.matcher()
        fetch = self.fetchers.get(st.kind)

        t0 = time.monotonic()

        def work() -> tuple[list[NewsItem], Counts, str]:
            if st.kind == "rss":
                payload = fetch(st.target) if fetch else fetch_url(st.target, self.deadline_s)
            else:
                ak_fetch, _parse, per_symbol = AKSHARE[st.kind.split("-", 1)[1]]
                fn = fetch or ak_fetch
                payload = fn(symbol[:6]) if per_symbol else fn()
            if self.process is not None:  # parse and score off this process: the loop keeps the GIL
                left = self.deadline_s - (time.monotonic() - t0)
                items, counts, problem = self.process.run(st.kind, payload, st.name, matcher, symbol, left)
                self.scorer_errors = list(self.process.refused)
                return items, counts, problem
            items, counts, problem = parse_payload(st.kind, payload, st.name, matcher, symbol)
            return score_items(items, self._scorer_list()), counts, problem

        if self.executor is None:  # made on a thread: its first use imports requests (~0.1 s), not on the loop
            self.executor = await asyncio.to_thread(_make_executor)
        return await self.executor.call(work, deadline_s=self.deadline_s)

    async def store_items(self, items: Sequence[NewsItem], arrived_ms: int, st: SourceState | None = None) -> list:
        """Store in chunks (the loop runs between them) and publish each chunk's new records."""
        out: list[Any] = []
        for i in range(0, len(items), CHUNK):
            if i:
                await asyncio.sleep(0)
            added = self.store.add(items[i:i + CHUNK], arrived_ms)
            if st is not None:
                st.stored += len(added.records)
                st.duplicates += added.duplicates
                st.future += added.future
            if added.records:
                out.extend(added.records)
                self.bus.publish(NewsArrived(tuple(added.records), st.name if st else "", arrived_ms))
        self.version += 1
        return out

    def _failed(self, st: SourceState, exc: BaseException) -> None:
        from app.engine.venues.executor import CallTimedOut, ExecutorSaturated

        st.failures += 1
        if isinstance(exc, CallTimedOut):
            why = f"hung: {exc}"
        elif isinstance(exc, ExecutorSaturated):
            why = f"busy: {exc}"
        else:
            why = str(exc) or type(exc).__name__
        pause = ban_pause(st.failures, self.ban_base_s, self.ban_cap_s, self.rng)
        if isinstance(exc, SourceRefused) and exc.retry_after_s is not None:
            pause = max(pause, exc.retry_after_s)
        st.paused_until = time.monotonic() + pause
        st.next_due = st.paused_until
        st.last_error = why[:300]
        self.version += 1
        log.warning("news source %s failed (%s); paused %.0f s (failure %d)", st.name, st.last_error, pause,
                    st.failures)
        self._save_status(st)

    def _save_status(self, st: SourceState) -> None:
        try:
            self.store.put_status(st.name, st.status())
        except Exception as exc:  # noqa: BLE001 - a busy database must not end the poll
            log.warning("news source %s: status not saved (%s)", st.name, exc)

    # ------------------------------------------------------------------------------------------- matching
    def matcher(self) -> SymbolMatcher:
        """What items are about: rebuilt every ``MATCHER_TTL_S`` (akshare's name list may arrive after start)."""
        now = time.monotonic()
        if self._matcher is None or now - self._matcher_at >= MATCHER_TTL_S:
            self._matcher, self._matcher_at = self._matcher_fn(), now
        return self._matcher

    def refresh_matcher(self) -> None:
        self._matcher = None

    def _scorer_list(self) -> list[Any]:
        """The scorers, loaded on first use on a worker (a model's session takes a while to open)."""
        with self._scorer_lock:
            return self._load_scorers()

    def _load_scorers(self) -> list[Any]:
        if not self.scorers and not self.scorer_errors and self._scorers_fn is not None:
            try:
                self.scorers, self.scorer_errors = self._scorers_fn()
                self.scorers = list(self.scorers)
                for why in self.scorer_errors:
                    log.warning("news scorer refused: %s", why)
            except Exception as exc:  # noqa: BLE001 - scoring is optional: items are stored unscored
                self.scorer_errors = [str(exc)]
                log.warning("news scorers unavailable: %s", exc)
        return self.scorers


def _make_executor() -> Any:
    from app.engine.venues.executor import DeadlineExecutor

    return DeadlineExecutor(workers=1, max_stuck=2, name="news")


def parse_payload(kind: str, payload: Any, source: str, matcher: SymbolMatcher | None,
                  symbol: str = "") -> tuple[list[NewsItem], Counts, str]:
    """A source's answer as items: ``payload`` is (bytes, content type) for a feed, a frame for akshare."""
    if kind == "rss":
        data, ctype = payload
        items, counts, problem = parse_feed(data, ctype, source, matcher)
        if not items and problem and counts.entries == 0:
            raise ValueError(f"not a readable feed: {problem}")
        return items, counts, problem
    _fetch, parse, per_symbol = AKSHARE[kind.split("-", 1)[1]]
    items, counts = parse(payload, symbol, matcher) if per_symbol else parse(payload, matcher)
    return items, counts, ""


def score_items(items: Sequence[NewsItem], scorers: Sequence[Any]) -> list[NewsItem]:
    """The items with ``scores`` filled by every scorer (on the calling thread: a worker)."""
    if not items or not scorers:
        return list(items)
    texts = [f"{it.title}. {it.summary}" if it.summary else it.title for it in items]
    per: list[Any] = []
    for s in scorers:
        try:
            per.append((s.name, s.score(texts)))
        except Exception as exc:  # noqa: BLE001 - one scorer failing leaves the others
            log.warning("news scorer %s failed: %s", getattr(s, "name", s), exc)
    return [dataclasses.replace(it, scores=tuple((name, float(v[i])) for name, v in per))
            for i, it in enumerate(items)]


__all__ = ["NewsService", "SourceState", "score_items", "check_source", "KINDS"]
