"""Logging for the profile: a rotating file, plus an in-memory ring of the same records for the log pane."""
from __future__ import annotations

import collections
import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class RingHandler(logging.Handler):
    """Keeps the last ``capacity`` formatted records; the log pane reads them at frame rate."""

    def __init__(self, capacity: int = 2000) -> None:
        super().__init__(logging.INFO)
        self.records: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=capacity)
        self.total = 0
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.total += 1
            self.records.append((self.total, record.levelname, self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


_ring: RingHandler | None = None


def setup_logging(profile: Path, level: int = logging.INFO) -> RingHandler:
    """Idempotent: the file handler follows the latest profile; the ring is shared."""
    global _ring
    logger = logging.getLogger("kestrel")
    logger.setLevel(level)
    logger.propagate = False
    for h in list(logger.handlers):
        if isinstance(h, logging.handlers.RotatingFileHandler):
            logger.removeHandler(h)
            h.close()
    logs = profile / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    fh = logging.handlers.RotatingFileHandler(logs / "kestrel.log", maxBytes=5_000_000, backupCount=5,
                                              encoding="utf-8")
    fh.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(fh)
    if _ring is None:
        _ring = RingHandler()
        logger.addHandler(_ring)
    return _ring
