"""Python's cycle collector on the GUI thread only, and cheap.

CPython collects cycles in whichever thread happens to allocate when a threshold is crossed. In the window's process
that can be a news, akshare or strategy worker thread freeing a cycle that holds Qt objects of the GUI thread; Qt
then crashes later in its event processing (a segfault in processEvents, seen in the test suite). So automatic
collection is off and a timer on the GUI thread collects the young generations at CPython's own thresholds.

A full collection walks every tracked object: ~50-65 ms for the window's ~100,000 (measured in this module's test
conditions; a stall the trader sees). ``freeze_startup`` moves what start-up built (modules, the window, the
engine: long-lived) out of the collector's sight, after which a full collection takes well under 1 ms; the
oldest generation is then collected at most once a minute.
"""
from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer


class GuiCollector(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 250, full_every_s: float = 60.0) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.full_every_s = full_every_s
        self.last_full = time.monotonic()
        self.collections = [0, 0, 0]
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self.threshold
        if c0 <= t0:
            return
        if c1 > t1 and c2 > t2 and time.monotonic() - self.last_full >= self.full_every_s:
            gc.collect(2)
            self.last_full = time.monotonic()
            self.collections[2] += 1
        elif c1 > t1:
            gc.collect(1)
            self.collections[1] += 1
        else:
            gc.collect(0)
            self.collections[0] += 1


def freeze_startup() -> None:
    """Collect once, then exempt every object alive now from later collections (``gc.freeze``)."""
    gc.collect()
    gc.freeze()
