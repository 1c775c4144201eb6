"""What the kill switch keeps: the latch (the trading states as stored, HALTED written before anything else
happens, another process's writes found and adopted) and the cancels a kill sent (retried until the order
is terminal, an alarm if one stays live).

The latch is the profile's ``risk_states`` records (``Store.save_risk_state``): the engine reads them at
start (a missing global record starts HALTED) and every tick, so ``kestrel risk halt|reset`` from a second
terminal reaches a running one. ``known`` holds each scope's record as this engine last wrote or read it:
a record that differs was written by someone else.
"""
from __future__ import annotations

from typing import Callable, Iterator

from app.engine.core.clock import Clock
from app.engine.core.messages import TradingState
from app.engine.core.store import RiskStateRecord, Store
from app.engine.oms.execution import ExecutionEngine
from app.engine.risk.rates import NS


class KillLatch:
    """The stored trading states, and which of them this engine has seen."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self.known: dict[str, RiskStateRecord] = {}  # the records as we last wrote or read them

    def write(self, scope: str, state: TradingState, reason: str, actor: str) -> None:
        rec = RiskStateRecord(scope, state.value, reason, actor, self.clock.now_ms())
        self.store.save_risk_state(rec)
        self.known[scope] = rec

    def remember(self, rec: RiskStateRecord) -> None:
        self.known[rec.scope] = rec

    def outside_changes(self) -> Iterator[RiskStateRecord]:
        """The stored records that differ from the ones we know, each checked when it is reached (handling
        one may write another)."""
        for rec in self.store.risk_states():
            if self.known.get(rec.scope) != rec:
                yield rec

    def applied(self, global_state: TradingState) -> dict[str, tuple[str, int]]:
        """scope -> (state, ts of the record it came from), as the engine holds them (the heartbeat)."""
        out = {scope: (rec.state, rec.ts) for scope, rec in self.known.items()}
        out["global"] = (global_state.value, out.get("global", ("", 0))[1])
        return out


class KillCancels:
    """The cancels a kill sent: re-sent every half second until the order is terminal (a disconnected venue's
    as soon as it is back), one alarm per order still live ``alarm_after_s()`` seconds after the kill."""

    def __init__(self, execution: ExecutionEngine, clock: Clock, alarm: Callable[[str, str, str], None],
                 alarm_after_s: Callable[[], float]) -> None:
        self.execution, self.clock, self.alarm, self.alarm_after_s = execution, clock, alarm, alarm_after_s
        self.pending: dict[str, list[int]] = {}  # cid -> [first sent, last sent] (monotonic ns)

    def send(self, predicate: Callable) -> list[str]:
        now = self.clock.monotonic_ns()
        sent = self.execution.cancel_all(predicate)
        for cid in sent:
            self.pending.setdefault(cid, [now, now])
        for order in self.execution.working.values():  # disconnected venues: retried by tick()
            if predicate(order):
                self.pending.setdefault(order.client_order_id, [now, 0])
        return sent

    def retry(self) -> None:
        if not self.pending:
            return
        now = self.clock.monotonic_ns()
        for cid, times in list(self.pending.items()):
            order = self.execution.orders.get(cid)
            if order is None or not order.status.is_working:
                del self.pending[cid]
                continue
            if now - times[1] >= NS // 2:
                times[1] = now
                self.execution.cancel(cid)
            if now - times[0] >= self.alarm_after_s() * NS and len(times) == 2:
                times.append(1)  # alarm once per order
                self.alarm("critical", "Cancel failed", f"Order {cid} ({order.symbol}) is still live "
                           f"{self.alarm_after_s():g} s after the kill switch; retrying. Check the venue.")

    def retry_now(self) -> None:
        for times in self.pending.values():
            times[1] = 0
        self.retry()
