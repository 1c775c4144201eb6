"""AuditRecorder: puts every command, risk decision, order event, fill, kill, reset and limit change on the
audit trail.

It subscribes to the bus *before* any engine does, so a command is recorded before the decisions and events
it causes. Records are buffered and committed in one transaction per kernel step (``AuditLog.append_events``:
one JSON encode and one sha256 per record, one ``executemany`` for all): the hot path pays a list append.
Kills, resets, limit changes and alarms are flushed at once. What a hard crash can lose is the last step's
(<= ``sim.step_ms``) audit records; orders and fills are journaled by the ExecutionEngine's own commits
(before an order is sent, before a fill is applied: see execution.py).
"""
from __future__ import annotations

import logging
from typing import Any

from app.engine.audit.log import AuditLog
from app.engine.core.bus import MessageBus
from app.engine.core.messages import (
    Alert, AlertFired, AlertRuleChanged, CancelAllOrders, CancelOrder, CancelRejected, ClosePosition, CommandDone,
    CommandRefused, Flatten, Halt, HaltStrategy, LoadStrategy, ModifyOrder, OrderAccepted, OrderCanceled,
    OrderDenied, OrderFilled, OrderRejected, OrderSubmitted, RegisterModel, ReloadPlugin, RemoveAlert, RemoveStrategy,
    RescanPlugins, Reset, RiskLimitsChanged, SetAlert, SetStrategyParams, StartStrategy, StopStrategy, SubmitOrder,
    TradingStateChanged, VenueStatus,
)

log = logging.getLogger("kestrel.audit")

RECORDED = (SubmitOrder, CancelOrder, CancelAllOrders, ModifyOrder, OrderDenied, OrderSubmitted, OrderAccepted,
            OrderRejected, OrderFilled, OrderCanceled, CancelRejected, VenueStatus, CommandRefused, CommandDone,
            LoadStrategy, StartStrategy, StopStrategy, RemoveStrategy, SetStrategyParams, ReloadPlugin,
            RescanPlugins, RegisterModel, SetAlert, RemoveAlert, AlertRuleChanged, AlertFired)
URGENT = (TradingStateChanged, RiskLimitsChanged, Alert, Halt, HaltStrategy, Reset, Flatten, ClosePosition)


class AuditRecorder:
    def __init__(self, bus: MessageBus, audit: AuditLog) -> None:
        self.audit = audit
        self._pending: list[Any] = []
        self.failures = 0
        for kind in RECORDED:
            bus.subscribe(kind, self._pending.append)
        for kind in URGENT:
            bus.subscribe(kind, self._urgent)

    def _urgent(self, msg: Any) -> None:
        self._pending.append(msg)
        self.flush()

    def flush(self) -> int:
        """Commit what is buffered in one transaction. Never raises into the trading path: a failure is
        logged loudly and the records are kept for the next attempt."""
        if not self._pending:
            return 0
        pending = self._pending[:]  # the bus holds self._pending.append: keep the same list object
        self._pending.clear()
        conn = self.audit.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.audit.append_events(pending)
            conn.execute("COMMIT")
        except Exception:  # noqa: BLE001
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._pending[:0] = pending
            self.failures += 1
            log.exception("could not write %d audit record(s); will retry", len(pending))
            return 0
        return len(pending)
