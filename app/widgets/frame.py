"""Frame-rate repaint: views never repaint per message.

Engine models bump a ``version`` counter as data arrives; one QTimer per window ticks at ``frame_hz`` and
calls ``refresh()`` on every registered view, which redraws only if the model's version moved. A flood of
ticks between two frames costs one redraw.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Protocol

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger("kestrel.ui")


class Refreshable(Protocol):
    def refresh(self) -> None: ...


class FrameScheduler(QObject):
    def __init__(self, frame_hz: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views: list[Refreshable] = []
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / frame_hz)))
        self._timer.timeout.connect(self.tick)
        self.frames = 0
        self.last_frame_ms = 0.0
        self._failed: set[int] = set()

    def add(self, view: Refreshable) -> None:
        self._views.append(view)

    def remove(self, view: Refreshable) -> None:
        if view in self._views:
            self._views.remove(view)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def tick(self) -> None:
        t0 = time.perf_counter()
        for view in list(self._views):
            try:
                view.refresh()
            except Exception:  # noqa: BLE001 - one broken view must not freeze the others
                if id(view) not in self._failed:
                    self._failed.add(id(view))
                    log.exception("view %s failed to refresh", type(view).__name__)
        self.frames += 1
        self.last_frame_ms = (time.perf_counter() - t0) * 1000.0


class BusSubscriptions:
    """Holds a view's bus subscriptions so they can all be dropped when the view goes away."""

    def __init__(self) -> None:
        self._unsubs: list[Callable[[], None]] = []

    def add(self, unsubscribe: Callable[[], None]) -> None:
        self._unsubs.append(unsubscribe)

    def clear(self) -> None:
        for u in self._unsubs:
            u()
        self._unsubs.clear()
