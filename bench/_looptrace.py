"""What kept the window's loop busy, and what was running when a wake-up came late (``--breakdown``).

Every top-level Qt event on the loop thread is timed (a ``QApplication`` whose ``notify`` times the call: it
must be made before ``create_app``), and an asyncio callback run inside one names it (qasync runs each
callback as a Qt timer event). Each event falls in a category; the report gives each category's share of the
measured wall time, and, for every ``LoopMonitor`` sample later than ``late_ms``, which categories ran between
its due time and its wake-up. Gen-2 garbage collections are timed too. The timing adds ~2 us an event.
"""
from __future__ import annotations

import asyncio
import collections
import gc
import sys
import time

CATEGORIES = [  # (category, substrings of the event's name), first match wins
    ("paint", ("UpdateRequest", "/Paint")),
    ("frame tick and other Qt timers", ("QTimer/Timer",)),
    ("kernel step", ("Kernel.run",)),
    ("websocket: read, ccxt.pro, feed -> bus", ("receive_loop", "_watch_", "Future.race", "ClientWebSocket",
                                                "after_interrupt", "notifier", "SockAct", "_read_ready",
                                                "Client.")),
    ("other asyncio callbacks", ("cb ",)),
]


def category(name: str) -> str:
    for cat, keys in CATEGORIES:
        if any(k in name for k in keys):
            return cat
    return "other Qt events"


class LoopTrace:
    def __init__(self) -> None:
        self.events: list[tuple[float, float, str]] = []  # (end, seconds, name) of top-level events
        self.wakeups: list[tuple[float, float]] = []  # (time, lag ms) of LoopMonitor samples
        self.collections: list[tuple[float, float]] = []  # (end, seconds) of gen-2 collections
        self._depth: list[str | None] = []

    def install(self) -> None:
        from PySide6.QtWidgets import QApplication

        from app.engine import kernel

        trace = self

        class TimedApp(QApplication):
            def notify(self, obj, event):  # noqa: N802 - Qt API
                t = time.perf_counter()
                trace._depth.append(None)
                try:
                    return super().notify(obj, event)
                finally:
                    name = trace._depth.pop()
                    if not trace._depth:
                        name = name or f"{type(obj).__name__}/{event.type().name}"
                        end = time.perf_counter()
                        trace.events.append((end, end - t, name))

        self.app = TimedApp(sys.argv[:1])
        run = asyncio.events.Handle._run

        def timed_run(handle):
            try:
                return run(handle)
            finally:
                if trace._depth:
                    cb = handle._callback
                    coro = getattr(getattr(cb, "__self__", None), "get_coro", lambda: None)()
                    what = (getattr(coro, "__qualname__", None) or getattr(cb, "__qualname__", None)
                            or repr(cb))
                    trace._depth[-1] = f"cb {what}"

        asyncio.events.Handle._run = timed_run
        record = kernel.LoopMonitor.record

        def timed_record(monitor, lag_ms: float) -> None:
            trace.wakeups.append((time.perf_counter(), lag_ms))
            record(monitor, lag_ms)

        kernel.LoopMonitor.record = timed_record
        started = [0.0]

        def on_gc(phase: str, info: dict) -> None:
            if info["generation"] != 2:
                return
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                self.collections.append((time.perf_counter(), time.perf_counter() - started[0]))

        gc.callbacks.append(on_gc)

    def report(self, t0: float, t1: float, late_ms: float = 16.0) -> str:
        wall = t1 - t0
        events = [e for e in self.events if t0 < e[0] <= t1]
        busy: collections.Counter[str] = collections.Counter()
        count: collections.Counter[str] = collections.Counter()
        for _, dt, name in events:
            busy[category(name)] += dt
            count[category(name)] += 1
        total = sum(busy.values())
        lines = [f"loop busy {100 * total / wall:.0f}% of {wall:.0f} s ({len(events):,} top-level events):"]
        for cat, t in busy.most_common():
            each = 1000 * t / count[cat]
            lines.append(f"  {100 * t / wall:5.1f}% of wall, {count[cat]:7,} events, {each:6.3f} ms each: "
                         f"{cat}")
        wakeups = [(t, lag) for t, lag in self.wakeups if t0 < t <= t1]
        late = [(t, lag) for t, lag in wakeups if lag > late_ms]
        blame: collections.Counter[str] = collections.Counter()
        for t, lag in late:
            due = t - lag / 1000
            for end, dt, name in events:
                overlap = min(end, t) - max(end - dt, due)
                if overlap > 0:
                    blame[category(name)] += overlap
        if late:
            share = sum(blame.values())
            lines.append(f"LoopMonitor wake-ups later than {late_ms:g} ms: {len(late)} of {len(wakeups)}; "
                         f"between their due time and wake-up ran: " +
                         ", ".join(f"{cat} {100 * v / share:.0f}%" for cat, v in blame.most_common()))
        gcs = [dt * 1000 for end, dt in self.collections if t0 < end <= t1]
        if gcs:
            lines.append(f"gen-2 garbage collections: {len(gcs)}, {', '.join(f'{x:.0f}' for x in gcs)} ms "
                         f"({len(gc.get_objects()):,} objects tracked now)")
        return "\n".join(lines)
