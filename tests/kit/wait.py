"""Waiting for something observable, with a deadline: the tests never sleep and hope.

``wait_until`` polls from plain code (a subprocess, a worker, a file); ``until`` polls inside a running asyncio
loop and yields to it between looks. Both return the predicate's first truthy value and fail with what they
waited for when the deadline passes. Qt widgets wait with ``qtbot.waitUntil`` (it runs the Qt event loop)."""
from __future__ import annotations

import asyncio
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition",
               interval: float = 0.02) -> T:
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def until(predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition",
                interval: float = 0.01) -> T:
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
