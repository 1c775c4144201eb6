"""Emulated stops through the engine (issue 20, design note section 11): trigger latency, and the cost of armed
triggers per tick, on a real Kernel.

    python bench/bench_emulator.py [--fires 5000] [--every 10] [--ticks 40000] [--repeat 5] [--naive] [--quick]

Kernel    ``app.engine.kernel.Kernel`` on a temporary profile (its SQLite journal: WAL, synchronous=NORMAL), a
          ``SimClock``, 20 instruments SYM00..SYM19/USDT on the sim venue (price ~100, tick 0.01, zero latency),
          the AuditRecorder on and the app's logging (``logring.setup_logging``: INFO to the profile's log file
          and the log pane's ring), as a running terminal has them. Risk limits loose (tests/kit/kernel.py
          ``LOOSE_LIMITS``, 20,000 armed triggers, no loss halts): the gate admits every stop and every fire,
          and still runs every check.
Latency   1,000 emulated sell stops armed through the gate (``SubmitOrder(..., emulation=EMULATED)``), 50 per
          symbol: 30 fixed stops 0.1-5 % under the market and 20 trailing stops 0.1-5 % away (in price and in
          percent, alternately), 0.1 lot each, not reduce-only. The nearest is a fixed stop on even symbols and a
          trailing stop on odd ones (the other kind starts at 0.25 %). Trade prints are published on
          ``kernel.bus``: most are quiet (at the sim's bid or ask), every ``--every``-th is exactly the nearest
          trigger of a random symbol and fires it. A fire is timed from just before ``bus.publish(tick)`` to the
          call of the sim venue's ``submit``, replaced by a wrapper that takes ``perf_counter_ns`` (and this
          thread's CPU time) and then calls the real one: the order fills, as in the product, after the
          timestamp. The fired stop is armed again (after a quiet print of its symbol), so 1,000 stay armed.
          Every 100 prints the clock moves 50 ms and ``kernel.step()`` runs, untimed (the sim's market, trail
          marks, order-state commits, the audit trail), as the live loop does between prints. Variants,
          alternated within each repetition (the order reversed every other one):
            alone
            strategy present   a TradeTick subscriber added after the kernel was built, busy 200 µs per print.
                               The emulator is subscribed before it and ``ExecutionEngine.release`` flushes at
                               once, so no stop should be sent after it ran (counted)
            busy off the bus   the same 200 µs per print spent by the driver between prints: the control, which
                               says how much of a difference to "alone" is the machine's (caches gone cold when
                               fires are further apart), not the engine's
            probes             timers around ``RiskEngine.check_fire``, the log handlers and ``Store.commit``,
                               and this thread's context switches (``getrusage``): what a fire is made of
          After each repetition: prints through n stops armed at one level (n = 1, 10, 50), timed to the first
          and the last submit.
Cost      ticks/s of ``kernel.bus.publish(TradeTick)`` (MarketState, BarAggregator, Portfolio and the emulator
          subscribed) with 0, 1,000 and 10,000 armed on the 20 ticking symbols, half fixed and half trailing, or
          fixed only. A rising series, each symbol one tick up per print: every print is a new high for its
          trailers (the worst case for their cohorts); nothing crosses. The clock is frozen, so the sim prints
          nothing of its own (its market stays at ~100, where the series' stops are). Ticks are built before the
          timing. ``--naive`` adds the vn.py shape: the 0-armed kernel with a TradeTick subscriber that scans a
          list of the same triggers on every print (``bench_triggers.NaiveScan``). Configurations alternate
          within each repetition; medians of the repetitions. After each run, untimed for the rate: the moved
          water marks written as the loop does every 0.25 s (``persist_trails`` and the commit).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import random
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import median, pct, table

from app.config import RiskSettings, Settings, SimSettings
from app.engine.core import logring
from app.engine.core.clock import SimClock
from app.engine.core.instruments import Instrument
from app.engine.core.messages import Emulation, OrderDenied, OrderStatus, OrderType, Side, SubmitOrder, TradeTick
from app.engine.kernel import Kernel
from bench_triggers import NaiveScan
from tests.kit.kernel import LOOSE_LIMITS

SYMBOLS = 20
QTY = 0.1
GOAL_P99_US = 1_000.0
STRATEGY_BUSY_NS = 200_000
STEP_EVERY = 100  # prints between kernel steps (50 ms of simulated time) in the latency runs
LIMITS = {**LOOSE_LIMITS, "max_armed_triggers_total": 20_000, "max_armed_triggers_strategy": 20_000,
          "daily_loss_halt_pct": 100.0, "daily_loss_strategy_pct": 100.0, "max_drawdown_pct": 100.0}
ARMED = Emulation.EMULATED
ARMED_STATUS = OrderStatus.ARMED
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)  # Linux: this thread's switches


def instruments(n: int = SYMBOLS) -> list[Instrument]:
    """``n`` sim instruments at ~100 (the sim's generic model: 10,000 ticks), 0.1 lot."""
    return [Instrument(f"SYM{i:02d}/USDT", "sim", f"SYM{i:02d}", "USDT", tick_size=0.01, lot_size=0.1, min_qty=0.1,
                       max_qty=1e6, min_notional=1.0, maker_fee=0.0002, taker_fee=0.0005) for i in range(n)]


def make_kernel(profile: Path, symbols: int = SYMBOLS) -> Kernel:
    """A started kernel with books and prices (half a simulated second of market)."""
    settings = Settings(sim=SimSettings(latency_ms=0), risk=RiskSettings(**LIMITS))
    k = Kernel(profile, settings, clock=SimClock(1_750_000_000_000), instruments=instruments(symbols))
    k.start()
    for _ in range(10):
        k.clock.advance(50)
        k.step()
    return k


@contextlib.contextmanager
def product_logging(profile: Path):
    """The app's logging (``logring.setup_logging``: INFO to <profile>/logs/kestrel.log and the log pane's ring),
    as a running terminal has it (a fire logs a line), undone afterwards."""
    logger = logging.getLogger("kestrel")
    saved = logger.level, logger.propagate, list(logger.handlers), logring._ring
    logring.setup_logging(profile)
    try:
        yield
    finally:
        for h in logger.handlers:
            if h not in saved[2]:
                h.close()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]
        logring._ring = saved[3]


# --------------------------------------------------------------------------------------------------- arming
@dataclass(frozen=True)
class Spec:
    """One armed stop's shape: ``fixed`` (trigger ``dist`` under the market when armed), ``amount`` or ``pct``
    (a trailing stop ``dist`` of the market away, in price or in percent)."""

    kind: str
    dist: float


def layout(n: int, nearest: str, trailer_first: str) -> list[Spec]:
    """``n`` stops of one symbol, 60 % fixed and 40 % trailing, 0.1-5 % away; ``nearest`` ("fixed" or
    "trailing") holds the 0.10 % slot and the other starts at 0.25 %."""
    n_fixed = n * 3 // 5
    n_trail = n - n_fixed
    other = "pct" if trailer_first == "amount" else "amount"

    def spread(m: int, lo: float) -> list[float]:
        return [lo + (0.05 - lo) * i / max(m - 1, 1) for i in range(m)]
    f_lo, t_lo = (0.001, 0.0025) if nearest == "fixed" else (0.0025, 0.001)
    out = [Spec("fixed", d) for d in spread(n_fixed, f_lo)]
    out += [Spec(trailer_first if i % 2 == 0 else other, d) for i, d in enumerate(spread(n_trail, t_lo))]
    return out


class Armer:
    """Arms sell stops through the bus (the gate, the journal commit, the emulator's books) and keeps which."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.by_symbol: dict[str, dict[str, Spec]] = {s: {} for s in k.instruments}
        self.kind: dict[str, str] = {}
        self.denied: list[OrderDenied] = []
        self._n = 0
        k.bus.subscribe(OrderDenied, self.denied.append)

    def arm(self, symbol: str, spec: Spec, trigger: float | None = None) -> str:
        """A stop of shape ``spec`` under the market now (a fixed one at ``trigger`` if given); its id."""
        k = self.k
        st = k.market.get(symbol)
        ref = min(st.last or st.book.best_bid, st.book.best_bid)  # under both: a sell stop above either would fire
        self._n += 1
        cid = f"stop-{self._n}"
        kw: dict = {}
        if spec.kind == "fixed":
            otype = OrderType.STOP
            kw["trigger_price"] = trigger or k.instruments[symbol].round_price(ref * (1.0 - spec.dist))
        elif spec.kind == "amount":
            otype, kw["trail_amount"] = OrderType.TRAILING_STOP, round(ref * spec.dist, 2)
        else:
            otype, kw["trail_pct"] = OrderType.TRAILING_STOP, spec.dist * 100.0
        k.bus.publish(SubmitOrder(cid, symbol, "sim", Side.SELL, otype, QTY, None, "manual", emulation=ARMED,
                                  ts=k.clock.now_ms(), **kw))
        order = k.execution.orders.get(cid)
        if order is None or order.status is not ARMED_STATUS:
            raise RuntimeError(f"{cid} {spec} on {symbol} was not armed: {self.denied[-1:] or order}")
        self.by_symbol[symbol][cid] = spec
        self.kind[cid] = "fixed" if spec.kind == "fixed" else "trailing"
        return cid

    def fired(self, symbol: str) -> list[tuple[str, Spec]]:
        """The stops of ``symbol`` that left ARMED since the last look (fired), forgotten here."""
        orders = self.k.execution.orders
        mine = self.by_symbol[symbol]
        gone = [(cid, spec) for cid, spec in mine.items() if orders[cid].status is not ARMED_STATUS]
        for cid, _ in gone:
            del mine[cid]
        return gone

    def count(self) -> int:
        return sum(len(m) for m in self.by_symbol.values())


# -------------------------------------------------------------------------------------------------- latency
@dataclass
class Fires:
    """One latency run: per fire, µs from ``publish`` to the venue's ``submit`` (wall, and CPU time of this
    thread), the kind of stop, and with probes the parts of it."""

    us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    multi: int = 0  # prints that fired more than one stop (equal triggers)
    switches: list[tuple[int, int]] = field(default_factory=list)  # probes: (voluntary, involuntary) per fire
    first_after_strategy: int = 0  # first stops of a print sent after the strategy had the print (must be 0)
    later_after_strategy: int = 0  # further stops of a multi-fire print sent after it (see ``latency``)
    untimed: int = 0  # stops fired by something else (the sim's own prints, a quiet print at a bid that fell)


PARTS = ("gate", "log", "commit")  # timed by probes: RiskEngine.check_fire, the "kestrel" log handlers, Store.commit


class LatencyBench:
    """A kernel with ``per_symbol`` stops armed on each symbol, the sim's ``submit`` wrapped to take the time."""

    def __init__(self, profile: Path, per_symbol: int = 50, symbols: int = SYMBOLS, seed: int = 1) -> None:
        self.k = k = make_kernel(profile, symbols)
        self.rng = random.Random(seed)
        self.armer = Armer(k)
        self.symbols = list(k.instruments)
        for i, s in enumerate(self.symbols):
            for spec in layout(per_symbol, "fixed" if i % 2 == 0 else "trailing",
                               "amount" if (i // 2) % 2 == 0 else "pct"):
                self.armer.arm(s, spec)
        self.armed_total = self.armer.count()
        self.t0 = self.c0 = 0
        # what the timed print sent: (wall µs, CPU µs, client order id, after the strategy had the print)
        self.sent: list[tuple[float, float, str, bool]] = []
        self.probes = False
        self.strategy_had_it = False  # the busy strategy's handler ran for the timed print
        self.acc = dict.fromkeys(PARTS, 0)
        self.ru0 = None  # probes: this thread's context switches when the timed print was published
        self.switches: list[tuple[int, int]] = []
        self.parts: list[dict[str, int]] = []
        self._prints = 0
        self._seen = k.emulator.fires
        real_submit, wall, cpu = k.sim.submit, time.perf_counter_ns, time.thread_time_ns

        def submit(order) -> None:
            if self.t0:
                t, c = wall(), cpu()
                self.sent.append(((t - self.t0) / 1000.0, (c - self.c0) / 1000.0, order.client_order_id,
                                  self.strategy_had_it))
                if self.probes:
                    self.parts.append(self.acc)
                    self.acc = dict.fromkeys(PARTS, 0)
                    ru = resource.getrusage(RUSAGE_THREAD)
                    self.switches.append((ru.ru_nvcsw - self.ru0.ru_nvcsw, ru.ru_nivcsw - self.ru0.ru_nivcsw))
            real_submit(order)
        k.sim.submit = submit
        self._wrap_probes()

    def _wrap_probes(self) -> None:
        """Timers around the gate's fire check, the log handlers and the journal commit, on while ``probes``."""
        k, wall = self.k, time.perf_counter_ns

        def timed(part: str, fn):
            def call(*a, **kw):
                if not (self.probes and self.t0):
                    return fn(*a, **kw)
                t = wall()
                try:
                    return fn(*a, **kw)
                finally:
                    self.acc[part] += wall() - t
            return call
        k.risk.check_fire = timed("gate", k.risk.check_fire)
        k.store.commit = timed("commit", k.store.commit)
        for h in logging.getLogger("kestrel").handlers:
            h.handle = timed("log", h.handle)

    def _quiet(self, symbol: str) -> None:
        k = self.k
        book = k.market.get(symbol).book
        p = book.best_bid if self.rng.random() < 0.5 else book.best_ask
        self._prints += 1
        k.bus.publish(TradeTick(symbol, p, QTY, Side.BUY, f"q{self._prints}", k.clock.now_ms()))

    def _nearest(self, symbol: str) -> float:
        orders, trigger_of = self.k.execution.orders, self.k.emulator.trigger_of
        return max(trigger_of(orders[cid]) for cid in self.armer.by_symbol[symbol])

    def _rearm(self, symbols: list[str]) -> int:
        """Arm again, with the same shape, the stops of ``symbols`` that fired; how many."""
        n = 0
        for s in symbols:
            for _cid, spec in self.armer.fired(s):
                self.armer.arm(s, spec)
                n += 1
        self._seen = self.k.emulator.fires
        return n

    def _cross(self, symbol: str, price: float) -> list[tuple[float, float, str, bool]]:
        """Publish a print at ``price``, timed; what it sent."""
        k = self.k
        self._prints += 1
        tick = TradeTick(symbol, price, QTY, Side.SELL, f"x{self._prints}", k.clock.now_ms())
        self.sent = []
        self.strategy_had_it = False
        self.acc = dict.fromkeys(PARTS, 0)
        self.parts = []
        self.switches = []
        if self.probes:
            self.ru0 = resource.getrusage(RUSAGE_THREAD)
        self.c0 = time.thread_time_ns()
        self.t0 = time.perf_counter_ns()
        k.bus.publish(tick)
        self.t0 = 0
        return self.sent

    def _strategy(self, _tick: TradeTick) -> None:
        """A strategy whose on_tick takes 200 µs, subscribed after the kernel was built."""
        if self.t0:
            self.strategy_had_it = True
        spin()

    def measure(self, fires: int, every: int, busy: str = "", probes: bool = False) -> Fires:
        """Prints until ``fires`` fires were timed; ``busy``: "bus" (the strategy on the bus) or "driver" (the
        same 200 µs per print spent between prints, off the bus). A stop fired by anything but a timed print
        (a quiet print at a bid that moved, the sim's own prints in a step) is armed again too, and counted."""
        k, rng, symbols, emulator = self.k, self.rng, self.symbols, self.k.emulator
        run = Fires()
        self.probes = probes
        unsub = k.bus.subscribe(TradeTick, self._strategy) if busy == "bus" else None
        pause = spin if busy == "driver" else None
        self._seen = emulator.fires
        i = 0
        try:
            while len(run.us) < fires:
                i += 1
                if i % every == 0:
                    s = rng.choice(symbols)
                    sent = self._cross(s, self._nearest(s))
                    for j, (us, cpu_us, cid, late) in enumerate(sent):
                        if j == 0:
                            run.first_after_strategy += late
                        else:
                            run.later_after_strategy += late
                        run.us.append(us)
                        run.cpu_us.append(cpu_us)
                        run.kinds.append(self.armer.kind.get(cid, "?"))
                        if probes:
                            for part in PARTS:
                                run.parts[part].append(self.parts[j][part] / 1000.0)
                            run.switches.append(self.switches[j])
                    run.multi += len(sent) > 1
                    self._quiet(s)  # back above the stops before they are armed again (else: STOP_MARKETABLE)
                    if pause is not None:  # as the strategy would have after each of the two prints
                        pause()
                        pause()
                    fired = emulator.fires - self._seen
                    run.untimed += self._rearm([s] if fired == len(sent) else symbols) - len(sent)
                else:
                    self._quiet(symbols[i % len(symbols)])
                    if pause is not None:
                        pause()
                    if emulator.fires != self._seen:
                        run.untimed += self._rearm(symbols)
                if i % STEP_EVERY == 0:
                    k.clock.advance(50)
                    k.step()
                    if emulator.fires != self._seen:
                        run.untimed += self._rearm(symbols)
        finally:
            self.t0 = 0
            self.probes = False
            if unsub is not None:
                unsub()
        assert self.armer.count() == self.armed_total, (self.armer.count(), self.armed_total)
        assert not self.armer.denied, self.armer.denied[:3]
        return run

    def burst(self, n: int) -> tuple[float, float, int]:
        """One print through ``n`` stops armed at one level, above the symbol's others: (µs to the first
        submit, µs to the last, how many were sent). They are not armed again."""
        k = self.k
        for _ in range(100):
            s = self.rng.choice(self.symbols)
            st, inst = k.market.get(s), k.instruments[s]
            top = min(st.last, st.book.best_bid)
            price = inst.round_price(max(top * 0.9995, self._nearest(s) + inst.tick_size))
            if price < top:
                break
        else:
            raise RuntimeError("no room for a burst above the stops under the market")
        mine = self.armer.by_symbol[s]
        ids = [self.armer.arm(s, Spec("fixed", 0.0005), trigger=price) for _ in range(n)]
        for cid in ids:
            del mine[cid]  # not armed again, not the nearest of the latency runs
        sent = self._cross(s, price)
        self._quiet(s)
        self._rearm(self.symbols)
        return sent[0][0], sent[-1][0], len(sent)

    def close(self) -> None:
        self.k.close()


def spin() -> None:
    """200 µs of CPU."""
    end = time.perf_counter_ns() + STRATEGY_BUSY_NS
    while time.perf_counter_ns() < end:
        pass


def latency(fires: int, every: int, repeat: int, per_symbol: int = 50, symbols: int = SYMBOLS,
            variants: tuple[str, ...] = ("alone", "strategy present", "busy off the bus", "probes"),
            bursts: tuple[int, ...] = (1, 10, 50), burst_repeat: int = 10) -> dict:
    """``repeat`` runs of each variant, alternated (the order reversed every other repetition), on one kernel,
    each followed by ``burst_repeat`` prints through each size of ``bursts``."""
    out: dict[str, list[Fires]] = {v: [] for v in variants}
    burst: dict[int, list[tuple[float, float, int]]] = {n: [] for n in bursts}
    with tempfile.TemporaryDirectory() as d, product_logging(Path(d)):
        b = LatencyBench(Path(d), per_symbol, symbols)
        try:
            b.measure(max(fires // 10, 10), every)  # warm-up: caches, the journal's first pages
            for r in range(repeat):
                for v in variants if r % 2 == 0 else tuple(reversed(variants)):
                    busy = {"strategy present": "bus", "busy off the bus": "driver"}.get(v, "")
                    out[v].append(b.measure(fires, every, busy=busy, probes=v == "probes"))
                for _ in range(burst_repeat):
                    for n in bursts:
                        burst[n].append(b.burst(n))
            armed = b.armed_total
        finally:
            b.close()
    return {"runs": out, "armed": armed, "bursts": burst}


# ----------------------------------------------------------------------------------------------------- cost
class CostKernel:
    """A kernel with ``armed`` stops over its symbols (``fixed_only`` or half trailing) and a rising series."""

    def __init__(self, profile: Path, armed: int, fixed_only: bool = False, symbols: int = SYMBOLS) -> None:
        self.k = k = make_kernel(profile, symbols)
        self.symbols = list(k.instruments)
        self.armer = Armer(k)
        per = armed // len(self.symbols)
        for s in self.symbols:
            for j in range(per):
                d = 0.001 + 0.049 * j / max(per - 1, 1)
                kind = "fixed" if fixed_only or j % 2 == 0 else ("amount" if j % 4 == 1 else "pct")
                self.armer.arm(s, Spec(kind, d))
        self.armed = self.armer.count()
        k.step()  # commit states, write the arming's audit trail
        self.price = {s: k.market.get(s).last for s in self.symbols}
        self.fires0 = k.emulator.fires
        trailers = [cid for m in self.armer.by_symbol.values() for cid, spec in m.items() if spec.kind != "fixed"]
        self.trailer = trailers[0] if trailers else None
        self.trailer_trigger = self._trigger(self.trailer)

    def _trigger(self, cid: str | None) -> float | None:
        return None if cid is None else self.k.emulator.trigger_of(self.k.execution.orders[cid])

    def trailer_moved(self) -> bool:
        return self.trailer is None or self._trigger(self.trailer) > self.trailer_trigger

    def ticks(self, n: int) -> list[TradeTick]:
        """The next ``n`` prints, round-robin over the symbols, each one tick above its symbol's last."""
        out, now, price = [], self.k.clock.now_ms(), self.price
        for i in range(n):
            s = self.symbols[i % len(self.symbols)]
            p = price[s] = round(price[s] + 0.01, 2)
            out.append(TradeTick(s, p, QTY, Side.BUY, f"r{s}{p}", now))
        return out

    def naive(self) -> dict[str, NaiveScan]:
        """The same stops as lists scanned on every print (fixed at their trigger, trailers from the last print)."""
        scans, orders = {}, self.k.execution.orders
        for s, mine in self.armer.by_symbol.items():
            scan = scans[s] = NaiveScan()
            scan.on_price(self.price[s])
            for cid in mine:
                o = orders[cid]
                if o.order_type is OrderType.STOP:
                    scan.arm_fixed(cid, "down", o.trigger_price)
                else:
                    pct_ = None if o.trail_pct is None else o.trail_pct / 100.0
                    scan.arm_trailing(cid, "sell", distance=o.trail_amount, pct=pct_)
        return scans


def run_ticks(k: Kernel, ticks: list[TradeTick], scans: dict | None = None) -> tuple[float, float]:
    """(ticks/s, CPU µs per tick) through ``k.bus.publish`` (with ``scans`` subscribed: the naive scan besides)."""
    unsub = None
    fired: list = []
    if scans is not None:
        def naive(t: TradeTick) -> None:
            scan = scans.get(t.symbol)
            if scan is not None:
                f = scan.on_price(t.price)
                if f:
                    fired.extend(f)
        unsub = k.bus.subscribe(TradeTick, naive)
    publish = k.bus.publish
    try:
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        for t in ticks:
            publish(t)
        dt = time.perf_counter_ns() - t0
        dc = time.thread_time_ns() - c0
    finally:
        if unsub is not None:
            unsub()
    assert not fired, f"the naive scan fired {len(fired)}"
    return len(ticks) / (dt / 1e9), dc / 1000.0 / len(ticks)


def cost(ticks: int, repeat: int, levels: tuple[int, ...] = (0, 1_000, 10_000), naive: bool = False,
         symbols: int = SYMBOLS) -> dict:
    """{config: [(ticks/s, CPU µs per tick) per repetition]}, configs alternated within each repetition in a
    rotating order; and per emulator config the trail marks written after each run: [(rows, ms)]."""
    with tempfile.TemporaryDirectory() as d, product_logging(Path(d)):
        kernels: dict[str, CostKernel] = {}
        try:
            for n in levels:
                kernels[f"{n:,} armed"] = CostKernel(Path(d) / f"k{n}", n, symbols=symbols)
                if n:
                    kernels[f"{n:,} fixed only"] = CostKernel(Path(d) / f"f{n}", n, fixed_only=True, symbols=symbols)
            configs = [(name, ck, None) for name, ck in kernels.items()]
            if naive:
                zero = kernels[f"{levels[0]:,} armed"]
                for n in levels[1:]:
                    configs.append((f"naive {n:,}", zero, kernels[f"{n:,} armed"].naive()))
            out: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in configs}
            trails: dict[str, list[tuple[int, float]]] = {name: [] for name in kernels}
            for _, ck, scans in configs:  # warm-up
                run_ticks(ck.k, ck.ticks(min(ticks, 2_000)), scans)
            for r in range(repeat):
                for name, ck, scans in configs[r % len(configs):] + configs[:r % len(configs)]:
                    out[name].append(run_ticks(ck.k, ck.ticks(ticks), scans))
                    if scans is None:  # what the loop writes every 0.25 s on this trend: the moved water marks
                        t0 = time.perf_counter_ns()
                        rows = ck.k.emulator.persist_trails()
                        ck.k.execution.commit_states()
                        trails[name].append((rows, (time.perf_counter_ns() - t0) / 1e6))
                    ck.k.step()  # as the loop between prints: order states, the audit trail
            for ck in kernels.values():
                assert ck.k.emulator.fires == ck.fires0, "a print crossed a stop"
                assert ck.armer.count() == ck.armed and not ck.armer.denied
                assert ck.trailer_moved(), "the trailers' water marks did not follow the series"
            armed = {name: ck.armed for name, ck in kernels.items()}
        finally:
            for ck in kernels.values():
                ck.k.close()
    return {"rates": out, "armed": armed, "trails": trails}


# ---------------------------------------------------------------------------------------------------- print
def _by_run(runs: list[Fires], get, q: float) -> float:
    """The median over runs of each run's ``q`` quantile of ``get(run)``."""
    return median([pct(get(r) or [0.0], q) for r in runs])


def latency_tables(res: dict, every: int) -> str:
    runs = res["runs"]
    n_runs = len(next(iter(runs.values())))
    rows = []
    for v, rs in runs.items():
        p99 = _by_run(rs, lambda r: r.us, 0.99)
        rows.append([v, f"{median([len(r.us) for r in rs]):,.0f}", f"{_by_run(rs, lambda r: r.us, 0.5):,.0f}",
                     f"{p99:,.0f}", f"{median([max(r.us) for r in rs]):,.0f}",
                     f"{_by_run(rs, lambda r: r.cpu_us, 0.5):,.0f}", f"{_by_run(rs, lambda r: r.cpu_us, 0.99):,.0f}",
                     f"<= {GOAL_P99_US:,.0f}", "met" if p99 <= GOAL_P99_US else "NOT met",
                     f"{sum(r.multi for r in rs)}", f"{sum(r.untimed for r in rs)}",
                     f"{sum(r.first_after_strategy for r in rs)} ({sum(r.later_after_strategy for r in rs)})"
                     if v == "strategy present" else ""])
    out = [f"trigger latency: trade print published -> order handed to the sim venue; {res['armed']:,} armed over "
           f"{SYMBOLS} symbols, one print in {every} fires the nearest stop; median of {n_runs} runs [µs] "
           f"(CPU: this thread's CPU time over the same span)",
           table(["variant", "fires/run", "p50", "p99", "max", "CPU p50", "CPU p99", "goal p99", "",
                  "multi-fire prints", "fired untimed", "sent after the strategy ran: first (later)"], rows)]
    alone = runs.get("alone") or next(iter(runs.values()))
    rows = []
    for kind in ("fixed", "trailing"):
        def of(r: Fires, kind=kind) -> list[float]:
            return [u for u, k in zip(r.us, r.kinds) if k == kind]
        rows.append([kind, f"{median([len(of(r)) for r in alone]):,.0f}", f"{_by_run(alone, of, 0.5):,.0f}",
                     f"{_by_run(alone, of, 0.99):,.0f}"])
    out += ["\nby kind of stop ('alone') [µs]", table(["stop", "fires/run", "p50", "p99"], rows)]
    probes = runs.get("probes")
    if probes and probes[0].parts["gate"]:
        names = {"gate": "gate (RiskEngine.check_fire)", "log": "the fire's log line (file + log pane)",
                 "commit": "journal commit (Store.commit)"}
        gets = {names[p]: (lambda r, p=p: r.parts[p]) for p in PARTS}
        gets["the rest (bus, book, emulator, release, send)"] = \
            lambda r: [u - sum(r.parts[p][i] for p in PARTS) for i, u in enumerate(r.us)]
        gets["total"] = lambda r: r.us
        rows = []
        for name, get in gets.items():
            slow = []
            for r in probes:
                cut = pct(r.us, 0.99)
                xs = [x for x, u in zip(get(r), r.us) if u >= cut]
                slow.append(sum(xs) / max(1, len(xs)))
            rows.append([name, f"{_by_run(probes, get, 0.5):,.1f}", f"{_by_run(probes, get, 0.99):,.1f}",
                         f"{median(slow):,.1f}"])
        out += ["\nwhat a fire is made of ('probes': timers around the parts; wall µs)",
                table(["part", "p50", "p99", "mean over the slowest 1 % of fires"], rows)]
        share = {"all fires": [], "slowest 1 %": []}
        for r in probes:
            cut = pct(r.us, 0.99)
            for name, keep in (("all fires", lambda u: True), ("slowest 1 %", lambda u, cut=cut: u >= cut)):
                sw = [w for w, u in zip(r.switches, r.us) if keep(u)]
                share[name].append((100.0 * sum(v > 0 for v, _ in sw) / max(1, len(sw)),
                                    100.0 * sum(i > 0 for _, i in sw) / max(1, len(sw))))
        out += ["\ncontext switches of this thread between the print and the submit ('probes', getrusage)",
                table(["fires", "% that waited (voluntary: I/O, a lock)", "% preempted (involuntary)"],
                      [[name, f"{median([v for v, _ in xs]):.1f}", f"{median([i for _, i in xs]):.1f}"]
                       for name, xs in share.items()])]
    bursts = res.get("bursts")
    if bursts:
        rows = []
        for n, xs in bursts.items():
            first, last = median([x[0] for x in xs]), median([x[1] for x in xs])
            rows.append([f"{n}", f"{len(xs)}", f"{median([x[2] for x in xs]):.0f}", f"{first:,.0f}", f"{last:,.0f}",
                         f"{(last - first) / max(n - 1, 1):,.0f}" if n > 1 else ""])
        out += ["\none print through n stops at one level: the first is sent at once, the others checked, committed "
                "once and sent together [µs, medians]",
                table(["stops at the level", "prints", "sent", "to the first submit", "to the last submit",
                       "per further stop"], rows)]
    return "\n".join(out)


def cost_table(res: dict, ticks: int) -> str:
    rates, armed, trails = res["rates"], res["armed"], res.get("trails", {})
    base_name = next(iter(rates))
    base = rates[base_name]
    rows = []
    for name, xs in rates.items():
        wall = [x[0] for x in xs]
        n = armed.get(name)
        if n is None:  # "naive n": the 0-armed kernel with a scan of the n-armed kernel's stops
            n = armed[name.replace("naive ", "") + " armed"]
        goal = ""
        if name != base_name and not name.startswith("naive"):
            goal = "within noise of the 0 run" if "fixed" in name else "<= 2x the 0 run"
        tr = trails.get(name) or []
        rows.append([name, f"{n // SYMBOLS:,}", f"{median(wall):,.0f}", f"{1e6 / median(wall):,.2f}",
                     f"{median([b[0] / x for b, x in zip(base, wall)]):.2f}",
                     f"{median([x[1] for x in xs]):,.2f}", f"{median([x[1] / b[1] for b, x in zip(base, xs)]):.2f}",
                     f"{min(wall):,.0f}-{max(wall):,.0f}", goal,
                     f"{median([t[0] for t in tr]):,.0f} in {median([t[1] for t in tr]):,.1f} ms" if tr else ""])
    head = (f"cost per tick: kernel.bus.publish(TradeTick), {SYMBOLS} symbols on a rising series, nothing crosses; "
            f"{ticks:,} ticks per run, median of {len(base)} alternated runs ('x 0': median of the runs' ratios to "
            f"the 0 run of the same repetition; CPU: this thread's CPU time)")
    return head + "\n" + table(["config", "armed per symbol", "ticks/s", "µs/tick", "x 0", "CPU µs/tick", "CPU x 0",
                                "ticks/s range", "goal (design note 11.2)", "trail marks written after a run"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fires", type=int, default=5_000, help="timed fires per latency run")
    ap.add_argument("--every", type=int, default=10, help="one print in this many crosses a stop")
    ap.add_argument("--ticks", type=int, default=40_000, help="ticks per cost run")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--naive", action="store_true", help="add the naive per-tick scan (vn.py's shape)")
    ap.add_argument("--quick", action="store_true", help="1,000 fires and 10,000 ticks per run, 3 runs")
    ap.add_argument("--only", choices=("latency", "cost"))
    a = ap.parse_args()
    if a.quick:
        a.fires, a.ticks, a.repeat = 1_000, 10_000, 3
    if a.only != "cost":
        print(latency_tables(latency(a.fires, a.every, a.repeat), a.every))
        print()
    if a.only != "latency":
        print(cost_table(cost(a.ticks, a.repeat, naive=a.naive), a.ticks))


if __name__ == "__main__":
    main()
