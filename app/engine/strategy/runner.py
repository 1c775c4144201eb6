"""A strategy instance as the host runs it (``Runner``: plugin object, parameters, status, its own book,
orders and log lines), its statuses, and the two interruptions of a plugin call: the watchdog's
``StrategyFault`` and ``StrategyStopped`` (an order from a strategy stopped during the call)."""
from __future__ import annotations

import collections
import enum
from dataclasses import dataclass, field
from typing import Any, Callable

from app.engine.oms.portfolio import Position
from app.engine.strategy.base import Strategy


ACTOR_PREFIX = "strategy:"


class StrategyStatus(str, enum.Enum):
    STOPPED = "STOPPED"
    RUNNING = "RUNNING"
    FAULTED = "FAULTED"


class StrategyFault(BaseException):
    """Raised inside a plugin call by the watchdog when the call runs too long. A ``BaseException``, so the
    ``except Exception`` a plugin wraps its loop in does not swallow it."""


class StrategyStopped(RuntimeError):
    """An order from a strategy that is no longer running: stopped or halted during the very call that sends
    it (a kill switch tripped by its previous order). It ends that call; it is not a new fault."""


@dataclass(eq=False)
class Runner:
    instance: str
    plugin: str  # the strategy class's ``name``
    cls: type
    params: dict[str, Any]
    strategy: Strategy | None = None
    status: StrategyStatus = StrategyStatus.STOPPED
    reason: str = ""
    books: dict[str, Position] = field(default_factory=dict)
    symbols: set[str] = field(default_factory=set)
    timer_s: float | None = None
    next_timer_ms: int = 0
    log_lines: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))
    orders_sent: int = 0
    denials: int = 0
    fills: int = 0
    version: int = 0
    models: list = field(default_factory=list)  # ModelHandles the strategy loaded (ML panel)

    @property
    def actor(self) -> str:
        return ACTOR_PREFIX + self.instance

    @property
    def symbol(self) -> str:
        return str(self.params.get("symbol", ""))

    def pnl(self, mark: Callable[[str], float]) -> float:
        total = 0.0
        for sym, pos in self.books.items():
            total += pos.realized_pnl
            if pos.quantity:
                price = mark(sym) or pos.avg_price
                total += (price - pos.avg_price) * pos.quantity
        return total
