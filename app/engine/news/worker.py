"""Parsing and scoring news in a worker *process*, so the window's loop never waits for them.

A burst of 1,000 items is ~0.2 s of pure-Python parsing (feedparser), symbol matching and scoring (jieba, the
lexicons, a model). On a thread of the window's process that holds the GIL, and every Qt call the loop makes
releases and re-takes it: the window stalled 0.4-0.6 s per burst (bench/bench_news_burst.py). In a process it
costs the window nothing. The fetch itself (network I/O, no GIL) stays on the news executor's thread, which
waits for the process's answer within the poll's deadline.

``NewsProcess`` owns one spawned worker (scorers loaded there once, ``warm`` at start). If it dies (killed, out
of memory), the poll fails with a clear error, the pool is replaced and the next poll uses a fresh one.
"""
from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("kestrel.news")

_scorers: list[Any] | None = None
_refused: list[str] = []
_profile: Path | None = None


def _init(profile: str) -> None:
    global _profile
    _profile = Path(profile)


def _child_scorers() -> tuple[list[Any], list[str]]:
    global _scorers, _refused
    if _scorers is None:
        from app.engine.news.sentiment import load_scorers

        try:
            _scorers, _refused = load_scorers(_profile or Path("."))
            _scorers = list(_scorers)
        except Exception as exc:  # noqa: BLE001 - items are stored unscored; the dock says why
            _scorers, _refused = [], [str(exc)]
        for s in _scorers:
            warm = getattr(s, "warm", None)
            if warm is not None:
                warm()
    return _scorers, _refused


def _warm() -> list[str]:
    _child_scorers()
    import feedparser  # noqa: F401 - imported once, here

    return list(_refused)


def _process(kind: str, payload: Any, source: str, matcher: Any, symbol: str) -> tuple:
    """In the child: parse ``payload`` (feed bytes and content type, or an akshare frame), score the items."""
    from app.engine.news.service import parse_payload, score_items

    items, counts, problem = parse_payload(kind, payload, source, matcher, symbol)
    scorers, refused = _child_scorers()
    return score_items(items, scorers), counts, problem, list(refused)


class NewsProcess:
    def __init__(self, profile: Path) -> None:
        self.profile = Path(profile)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.refused: list[str] = []

    def _get(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_init,
                    initargs=(str(self.profile),))
            return self._pool

    def warm(self) -> concurrent.futures.Future:
        """Start the worker and load the scorers there now (the first poll then finds them ready)."""
        fut = self._get().submit(_warm)
        fut.add_done_callback(self._warmed)
        return fut

    def _warmed(self, fut: concurrent.futures.Future) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.refused = fut.result()

    def run(self, kind: str, payload: Any, source: str, matcher: Any, symbol: str, timeout_s: float) -> tuple:
        """Parse and score in the worker (blocks the calling thread, not the GIL); raises on a dead worker or
        the timeout."""
        pool = self._get()
        try:
            fut = pool.submit(_process, kind, payload, source, matcher, symbol)
            items, counts, problem, refused = fut.result(timeout=max(0.1, timeout_s))
        except concurrent.futures.process.BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError("the news worker process died; a new one takes the next poll") from None
        self.refused = refused
        return items, counts, problem

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
