"""A bounded executor with hard deadlines for synchronous, slow, hang-prone calls (akshare).

``DeadlineExecutor.call(fn, *args, deadline_s=...)`` runs ``fn`` on one of ``workers`` threads and returns
to the awaiting coroutine within ``deadline_s`` no matter what: the result, the call's exception, or
``CallTimedOut``. The loop never waits on a thread.

A Python thread cannot be killed, so a call past its deadline is *abandoned*: it keeps its thread until it
returns, and counts as ``stuck``. Two things bound the damage:

- HTTP made with ``requests`` inside a call gets the call's remaining time as its timeout when it set none
  (akshare sets none on most endpoints): a hung socket ends on its own shortly after the deadline.
- While ``max_stuck`` calls are stuck, new calls fail at once with ``ExecutorSaturated`` instead of queueing
  behind them; the caller backs off and serves from its cache.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any, Callable

_local = threading.local()
_patched = False
_patch_lock = threading.Lock()


class CallTimedOut(TimeoutError):
    pass


class ExecutorSaturated(RuntimeError):
    pass


def _install_requests_deadline() -> None:
    """Give requests made inside executor calls a timeout bounded by the call's deadline."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        import requests.sessions

        original = requests.sessions.Session.request

        def request(self, method, url, *args, **kwargs):
            deadline = getattr(_local, "deadline", None)
            if deadline is not None:  # end a little before the deadline, so the call can still answer
                left = max(0.05, (deadline - time.monotonic()) * 0.9 - 0.02)
                current = kwargs.get("timeout")
                if current is None or (isinstance(current, (int, float)) and current > left):
                    kwargs["timeout"] = left
            return original(self, method, url, *args, **kwargs)

        requests.sessions.Session.request = request
        _patched = True


class DeadlineExecutor:
    def __init__(self, workers: int = 2, max_stuck: int = 4, name: str = "akshare") -> None:
        self.workers = workers
        self.max_stuck = max_stuck
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers + max_stuck,
                                                           thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(workers)
        self.stuck = 0
        self.calls = 0
        self.timeouts = 0
        self._lock = threading.Lock()
        _install_requests_deadline()

    async def call(self, fn: Callable[..., Any], *args: Any, deadline_s: float = 5.0) -> Any:
        if self.stuck >= self.max_stuck:
            raise ExecutorSaturated(f"{self.stuck} earlier calls are still hung; not starting another")
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + deadline_s
        state = {"abandoned": False, "finished": False}
        self.calls += 1

        def run() -> Any:
            # at most ``workers`` calls run at once; the extra threads only ever hold abandoned calls
            if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise CallTimedOut("no worker became free before the deadline")
            _local.deadline = deadline
            try:
                return fn(*args)
            finally:
                _local.deadline = None
                self._slots.release()
                with self._lock:
                    state["finished"] = True
                    if state["abandoned"]:
                        self.stuck -= 1

        fut = loop.run_in_executor(self._pool, run)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            with self._lock:
                if not state["finished"]:
                    state["abandoned"] = True
                    self.stuck += 1
            self.timeouts += 1
            fut.add_done_callback(_swallow)
            raise CallTimedOut(f"no answer within {deadline_s:g} s") from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _swallow(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieve it: an abandoned call's late error is not news
