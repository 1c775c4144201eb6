"""Messages of the venue layer (frozen, like every bus message; see app/engine/core/messages.py for naming).

Adapters hand these to ``on_data`` (published on the bus as is); ``OrderStatusUnknown`` and ``OrderNote``
are *reports* (``on_report``), applied to the order by the ExecutionEngine like an ack or a fill.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OrderStatusUnknown:
    """The venue's answer to a create did not arrive (timeout, 5xx, unreadable): the order may or may not
    exist. It is UNKNOWN (still counting toward limits) until found, or proven absent, by client order id.
    It is never re-sent."""

    client_order_id: str
    symbol: str
    reason: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderNote:
    """A *report*: the venue's word on one of our working orders that changes nothing of its state (a paper
    order whose feed went stale, or came back). The ExecutionEngine makes it the order's reason (the blotter
    shows it) and publishes it."""

    client_order_id: str
    symbol: str
    note: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class VenueError:
    """A venue-side problem, mapped from the ccxt error class (``kind``: see ccxt_errors.py)."""

    venue: str
    kind: str
    operation: str  # "connect", "create", "cancel", "poll", "trades:BTC/USDT", ...
    message: str  # redacted, says what happened and what Kestrel/the trader does about it
    retry_in_s: float | None = None
    ts: int = 0


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One market-data stream of one symbol: ``state`` is "live", "polling", "reconnecting", "snapshot"
    (rebuilding a book after a sequence gap), "stale" or "down"."""

    venue: str
    symbol: str
    channel: str  # "trades", "book", "quotes", "bars"
    state: str
    message: str = ""
    ts: int = 0


@dataclass(frozen=True, slots=True)
class FeedChanged:
    """Feed failover: ``symbol``'s market data now comes from ``feed`` (was ``previous``)."""

    symbol: str
    feed: str
    previous: str
    reason: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class ReconcileItem:
    """One difference between our journal and the venue. ``reports`` are what approving it applies."""

    kind: str  # "missed_fill", "closed_at_venue", "unknown_to_us", "confirmed", "not_at_venue"
    client_order_id: str
    symbol: str
    text: str
    reports: tuple = ()


@dataclass(frozen=True, slots=True)
class ReconciliationProposed:
    """On (re)connect the venue disagrees with the journal: trading on ``venue`` waits for a person."""

    venue: str
    items: tuple[ReconcileItem, ...]
    ts: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def lines(self) -> list[str]:
        return [item.text for item in self.items]


@dataclass(frozen=True, slots=True)
class ApproveReconciliation:
    """Command: a person approved the proposed reconciliation of ``venue``; trading resumes there."""

    venue: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class ReconciliationApplied:
    venue: str
    applied: int
    actor: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class ConnectVenue:
    """Connect (or re-connect) a saved venue with ``config``; ``credentials`` None keeps the keys it has.
    Connecting takes a while: a failure comes back later as a ``CommandRefused``. Never on the audit trail
    (it holds keys); the venue's ``VenueStatus`` changes are."""

    config: Any
    credentials: Any = field(default=None, repr=False)
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class DisconnectVenue:
    """Close a venue and stop running it (disable, remove). Its working orders stay at the venue."""

    name: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class SubscribeMarket:
    """Command: stream and trade ``symbol`` (the venue's own, e.g. "SOL/USDT", "000858.SZ") on the running
    venue ``venue`` from now on, and keep it in the venue's saved symbols (the Find symbol dialog). Answered
    at once: ``CommandDone`` with the instrument id, or ``CommandRefused`` saying why."""

    venue: str
    symbol: str
    actor: str = "manual"
    ts: int = 0
