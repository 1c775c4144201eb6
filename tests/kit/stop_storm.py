"""One life of the terminal in the emulated-stop restart storm (tests/adversarial/test_restart_storm_stops.py).

    python tests/kit/stop_storm.py PROFILE LOGDIR LIFE SEED PLAN NTH

A real Kernel (SQLite profile, sim venue, ``SimClock``) starts on PROFILE, arms emulated stops, fixed and trailing,
drives the market through their triggers and is killed with SIGKILL by itself at the ``NTH`` time it reaches the
point PLAN names (``KILL_POINTS``), or at the end of its steps if it never does. PLAN ``close`` runs a short life and
closes cleanly instead. Nothing here asserts: what the parent test needs is written, one JSON object a line, to
``LOGDIR/life-LIFE.jsonl``, each line flushed and fsync'd before the program goes on, so it survives the kill:

restored   right after the Kernel is built, before any print: the stops it armed again from the journal, with
           their trigger (fixed) or water mark (trailing), and the trading state.
staged / armed / release
           a stop approved and its ARMED row staged; its trigger put in the emulator's book; a fire approved.
send       written to ``LOGDIR/sends.log`` (one line per send, every life) *before* the venue's ``submit`` runs;
           ``sent`` in the life's own log once it returned.
marks      the water marks of the armed trailing stops when ``persist_trails`` is called; ``marks-committed``
           when the next journal commit has returned (those marks are durable).
alert      every Alert published (subscribed before ``Kernel.start``, which reconciles).
violation  a send whose journal row a second connection cannot read as committed and fired, or a trigger put
           in a book before its ARMED row was committed.
kill       where it dies, just before ``os.kill(os.getpid(), SIGKILL)``.
at-close   (PLAN ``close``) the stops armed when the last life closes.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
BTC = "BTC/USDT@sim"
T0 = 1_750_000_000_000
LIFE_MS = 3_600_000  # each life starts an hour after the last one: the clock never runs back over the journal
STEP_MS = 20
STEPS = 160  # 3.2 s of market per life
PERSIST_EVERY = 12  # steps: the kernel's 0.25 s water-mark cadence, on the simulated clock

#: where a life can be made to die, in the order a stop lives through them
KILL_POINTS = (
    "staged",  # its ARMED row staged, not committed: never armed
    "arm-commit",  # right after the commit that holds an ARMED row, before the trigger is in its book
    "armed",  # right after the trigger is in its book
    "release",  # a fire approved by the gate, before its row is touched
    "fire-commit",  # right after the commit that holds a fired row, before the send
    "send",  # a fired stop's send written to sends.log, before the venue's submit
    "sent",  # right after the venue's submit returned, its answer not committed
    "persist",  # water marks staged, not committed
    "commit",  # right after any journal commit
    "reconcile",  # inside Kernel.start, right after reconcile (its closes staged, its alarms published)
    "step",  # at a random step
)


class Recorder:
    """Append-only JSON lines, each flushed and fsync'd before the caller goes on."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "a", encoding="utf-8")

    def __call__(self, kind: str, **fields: Any) -> None:
        self._f.write(json.dumps({"kind": kind, **fields}) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())


class Hooks:
    """Wraps one kernel's venue submit, journal commit, arming, firing and water-mark persistence: records each
    (a send before the venue gets it) and dies with SIGKILL at the ``nth`` time ``plan`` is reached."""

    def __init__(self, k: Any, record: Recorder, sends: Path, life: int, plan: str | None = None,
                 nth: int = 1) -> None:
        self.k, self.record, self.life = k, record, life
        self.plan, self.left = plan, nth
        self._sends = open(sends, "a", encoding="utf-8")
        self._reader = sqlite3.connect(k.profile / "kestrel.db")  # sees only what is committed
        self._staged_armed: set[str] = set()
        self._staged_fired: set[str] = set()
        self._marks_pending = False
        self.persists = 0
        store, ex, em = k.store, k.execution, k.emulator
        self._wrap(store, "stage_order", self._on_stage_order)
        self._wrap(store, "stage_order_update", self._on_stage_update)
        self._wrap(store, "commit", self._on_commit)
        self._wrap(ex, "execute", self._on_execute)
        self._wrap(ex, "release", self._on_release)
        self._wrap(ex, "reconcile", self._on_reconcile)
        self._wrap(em, "persist_trails", self._on_persist)
        self._wrap(k.sim, "submit", self._on_submit)
        real_arm = ex.on_armed
        ex.on_armed = lambda order: self._on_armed(real_arm, order)

    @staticmethod
    def _wrap(obj: Any, name: str, hook: Callable) -> None:
        real = getattr(obj, name)
        setattr(obj, name, lambda *a, **kw: hook(real, *a, **kw))

    def die_at(self, point: str, **fields: Any) -> None:
        if point != self.plan:
            return
        self.left -= 1
        if self.left <= 0:
            die(self.record, point, **fields)

    # ------------------------------------------------------------------------------------------ journal
    def _on_stage_order(self, real, row: tuple) -> None:
        if row[8] == "ARMED":  # ORDER_COLUMNS: status is the ninth
            self._staged_armed.add(row[0])
        real(row)

    def _on_stage_update(self, real, cid: str, status: str, *args, **kw) -> None:
        trigger = kw.get("trigger", args[7] if len(args) > 7 else None)
        if status == "SUBMITTED" and trigger is not None and trigger[3] is not None:  # triggered_ts: fired
            self._staged_fired.add(cid)
        real(cid, status, *args, **kw)

    def _on_commit(self, real, *args, **kw):
        armed, self._staged_armed = self._staged_armed, set()
        fired, self._staged_fired = self._staged_fired, set()
        try:
            fresh = real(*args, **kw)
        except BaseException:
            self._staged_armed |= armed
            self._staged_fired |= fired
            raise
        if self._marks_pending:
            self._marks_pending = False
            self.record("marks-committed", persist=self.persists)
        if armed:
            self.die_at("arm-commit", cids=sorted(armed))
        if fired:
            self.die_at("fire-commit", cids=sorted(fired))
        self.die_at("commit")
        return fresh

    def _committed(self, cid: str) -> tuple | None:
        return self._reader.execute("SELECT status, emulated, triggered_ts FROM orders WHERE client_order_id=?",
                                    (cid,)).fetchone()

    # ------------------------------------------------------------------------------------------ stops
    def _on_execute(self, real, cmd, emulated: bool = False):
        order = real(cmd, emulated)
        if emulated:
            self.record("staged", cid=cmd.client_order_id)
            self.die_at("staged", cid=cmd.client_order_id)
        return order

    def _on_armed(self, real, order) -> None:
        cid = order.client_order_id
        row = self._committed(cid)
        if row is None or row[0] != "ARMED":
            self.record("violation", cid=cid, what=f"armed before its ARMED row was committed (journal: {row})")
        real(order)
        self.record("armed", cid=cid, **self.where(order))
        self.die_at("armed", cid=cid)

    def _on_release(self, real, order, *args, **kw) -> None:
        self.record("release", cid=order.client_order_id)
        self.die_at("release", cid=order.client_order_id)
        real(order, *args, **kw)

    def _on_reconcile(self, real, venue: str):
        notes = real(venue)
        self.die_at("reconcile")
        return notes

    def _on_persist(self, real) -> int:
        marks = {}
        for cid, order in self.k.execution.armed.items():
            book = self.k.emulator._where.get(cid)
            if order.order_type.is_trailing and book is not None and book.water_mark(cid) is not None:
                marks[cid] = book.water_mark(cid)
        self.persists += 1
        self.record("marks", persist=self.persists, marks=marks)
        n = real()
        self._marks_pending = True
        self.die_at("persist")
        return n

    def where(self, order) -> dict:
        """Where an armed stop is in the emulator now: in a book, its trigger, its water mark."""
        book = self.k.emulator._where.get(order.client_order_id)
        mark = None if book is None or not order.order_type.is_trailing else book.water_mark(order.client_order_id)
        return {"in_book": book is not None, "trigger": self.k.emulator.trigger_of(order), "mark": mark,
                "trailing": order.order_type.is_trailing, "side": order.side.value}

    # ------------------------------------------------------------------------------------------ venue
    def _on_submit(self, real, sent) -> None:
        cid = sent.client_order_id
        order = self.k.execution.orders.get(cid)
        fired = order is not None and order.fired
        row = self._committed(cid)
        if row is None or row[0] in ("ARMED", "PENDING_REPLACE") or (row[1] and row[2] is None):
            self.record("violation", cid=cid, what=f"sent before it was committed as fired (journal: {row})")
        self._sends.write(f"{cid} {self.life} {'fired' if fired else 'plain'}\n")
        self._sends.flush()
        os.fsync(self._sends.fileno())
        if fired:
            self.die_at("send", cid=cid)
        real(sent)
        if fired:
            self.record("sent", cid=cid)
            self.die_at("sent", cid=cid)


def die(record: Recorder, point: str, **fields: Any) -> None:
    record("kill", point=point, **fields)
    os.kill(os.getpid(), signal.SIGKILL)


def armed_now(k: Any, hooks: Hooks) -> dict:
    return {cid: hooks.where(o) for cid, o in k.execution.armed.items()}


def place_stop(k: Any, rng: random.Random, cid: str) -> None:
    """One emulated stop 1 to 15 ticks from the touch: a sell or buy STOP, a sell STOP_LIMIT, or a trailing stop by
    distance or percent (emulated on the sim whatever is asked)."""
    from app.engine.core.messages import Emulation, OrderType, Side, SubmitOrder

    inst = k.instruments[BTC]
    st = k.market.get(BTC)
    tick = inst.tick_size
    bid, ask = st.book.best_bid or st.last, st.book.best_ask or st.last  # a push can empty a side for a moment
    kind = rng.choice(("sell-stop", "sell-stop", "buy-stop", "sell-stop-limit", "sell-trail", "sell-trail",
                       "sell-trail-pct", "buy-trail", "buy-trail-pct"))
    qty = round(rng.choice((0.001, 0.002, 0.005, 0.01)), 4)
    kw: dict = {"emulation": Emulation.EMULATED, "reduce_only": kind.startswith("sell") and rng.random() < 0.5}
    if kind.startswith("sell-stop"):
        trigger = inst.round_price(min(st.last, bid) - rng.randint(1, 15) * tick)
        otype = OrderType.STOP_LIMIT if kind == "sell-stop-limit" else OrderType.STOP
        price = inst.round_price(trigger - 3 * tick) if otype is OrderType.STOP_LIMIT else None
        cmd = SubmitOrder(cid, BTC, "sim", Side.SELL, otype, qty, price, "manual", trigger_price=trigger, **kw)
    elif kind == "buy-stop":
        trigger = inst.round_price(max(st.last, ask) + rng.randint(1, 15) * tick)
        cmd = SubmitOrder(cid, BTC, "sim", Side.BUY, OrderType.STOP, qty, None, "manual", trigger_price=trigger,
                          **kw)
    else:
        side = Side.BUY if kind.startswith("buy") else Side.SELL
        if kind.endswith("pct"):
            kw["trail_pct"] = rng.choice((0.003, 0.01, 0.02, 0.03))  # percent: 2 to 20 ticks at 65,000
        else:
            kw["trail_amount"] = round(rng.randint(2, 25) * tick, 8)
        cmd = SubmitOrder(cid, BTC, "sim", side, OrderType.TRAILING_STOP, qty, None, "manual", **kw)
    k.bus.publish(cmd)


def build(profile: Path, life: int, seed: int, latency_ms: int) -> Any:
    from app.config import RiskSettings, Settings, SimSettings
    from app.engine.core.clock import SimClock
    from app.engine.kernel import Kernel
    from tests.kit.kernel import LOOSE_LIMITS

    settings = Settings(sim=SimSettings(latency_ms=latency_ms, seed=seed % 1000),
                        risk=RiskSettings(**LOOSE_LIMITS))
    return Kernel(profile, settings, clock=SimClock(T0 + life * LIFE_MS))


def step(k: Any, n: int = 1) -> None:
    for _ in range(n):
        k.clock.advance(STEP_MS)
        k.step()


def live(profile: Path, logdir: Path, life: int, seed: int, plan: str, nth: int) -> None:
    from app.engine.core.messages import Alert, CancelOrder, OrderType, Side, SubmitOrder

    rng = random.Random(seed)
    record = Recorder(logdir / f"life-{life}.jsonl")
    k = build(profile, life, seed, rng.choice((0, 0, 20)))
    hooks = Hooks(k, record, logdir / "sends.log", life, None if plan in ("close", "step") else plan, nth)
    record("restored", armed=armed_now(k, hooks), state=k.risk.state.value)
    k.bus.subscribe(Alert, lambda a: record("alert", level=a.level, title=a.title, message=a.message))
    k.start()
    record("started")
    step(k, 10)
    while k.market.get(BTC) is None or not k.market.get(BTC).last or k.market.get(BTC).book is None:
        step(k)  # a first trade and book: stops are placed from the touch
    if plan == "close":  # the last life: let the restored stops see a few prints, then close cleanly
        step(k, 40)
        record("at-close", armed=armed_now(k, hooks), state=k.risk.state.value)
        k.close()
        return
    pos = k.portfolio.positions.get(BTC)
    if pos is None or pos.quantity < 0.03:
        k.bus.publish(SubmitOrder(f"L{life}-entry", BTC, "sim", Side.BUY, OrderType.MARKET, 0.05, None, "manual"))
        step(k, 2)
    kill_step = rng.randrange(STEPS) if plan == "step" else None
    placed, down, phase = 0, rng.random() < 0.5, 0
    for n in range(STEPS):
        if n == kill_step:
            die(record, "step", step=n)
        if n % 20 == 0 and placed < 8:
            for _ in range(rng.randint(1, 2)):
                placed += 1
                place_stop(k, rng, f"L{life}-s{placed}")
        if phase <= 0:
            down, phase = not down, rng.randint(6, 18)
        phase -= 1
        k.sim.external_order(BTC, Side.SELL if down else Side.BUY, rng.uniform(2.0, 20.0))
        if rng.random() < 0.02 and k.execution.armed:
            k.bus.publish(CancelOrder(rng.choice(sorted(k.execution.armed))))
        step(k)
        if n % PERSIST_EVERY == 0:  # what Kernel.step does every 0.25 s of the wall clock
            k.emulator.persist_trails()
            k.risk.tick()
    die(record, "end")


def trail_high(profile: Path, logdir: Path) -> None:
    """One life for the arming-mark test: a print well above the market, a sell trailing stop armed right after it
    (its water mark is that print), then 1 s of the market below that mark and above its trigger, the water marks
    persisted and committed every 0.25 s, and a kill."""
    from app.engine.core.messages import Emulation, OrderType, Side, SubmitOrder

    record = Recorder(logdir / "life-0.jsonl")
    k = build(profile, 0, 7, 0)
    hooks = Hooks(k, record, logdir / "sends.log", 0)
    k.start()
    step(k, 25)
    inst = k.instruments[BTC]
    high = inst.round_price(k.market.get(BTC).last + 100 * inst.tick_size)
    k.sim.external_order(BTC, Side.SELL, 0.002, price=high)  # someone offers far above the market ...
    asks = sum(size for price, size in k.sim.book(BTC).depth(200).asks if price <= high)
    k.sim.external_order(BTC, Side.BUY, round(asks - 0.001, 4), price=high)  # ... and someone buys through it
    k.bus.publish(SubmitOrder("trail", BTC, "sim", Side.SELL, OrderType.TRAILING_STOP, 0.001, None, "manual",
                              trail_amount=200 * inst.tick_size, emulation=Emulation.AUTO))
    record("armed-high", last=k.market.get(BTC).last, **hooks.where(k.execution.orders["trail"]))
    for n in range(50):
        step(k)
        if n % PERSIST_EVERY == 0:
            k.emulator.persist_trails()
            k.risk.tick()
    die(record, "end", last=k.market.get(BTC).last, **hooks.where(k.execution.orders["trail"]))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    prof, logs = Path(sys.argv[1]), Path(sys.argv[2])
    if sys.argv[3] == "trail-high":
        trail_high(prof, logs)
    else:
        live(prof, logs, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
