"""The risk gate: cost of the full pre-trade check, and orders per second through the gate into the sim venue,
beside vn.py's risk manager (vnpy_riskmanager 2.0, its default rules) in the same run.

    python bench/bench_risk.py [--orders 20000] [--repeat 5] [--breakdown] [--sync FULL] [--json FILE]

check       ``RiskEngine.check`` alone, an order that passes all 12 checks (the worst case: every check runs),
            with no working orders and with 100 resting (the default overall working-order limit).
            vn.py: ``check_allowed`` of its RiskEngine with its default rules (all its gate does before the
            order goes to a gateway).
through     ``SubmitOrder`` published on the bus of a real Kernel (real SQLite profile, sim venue with zero
            latency, strategy manager, audit recorder), until the venue has answered and everything is
            journaled:
            (a) passive: limit orders 3% below the mid, accepted by the venue (risk, journal commit, send,
                venue ack applied; ack rows ride with the next commit);
            (b) marketable: market orders, alternately buy and sell, filled (risk, journal commit, matching,
                fills committed before positions move, order states).
            Orders come 50 per simulated kernel step (50 ms). "burst 50": the 50 are caused by one message
            (one tick to a strategy) and share a journal commit, as group commit intends; "burst 1": each is
            its own dispatch (a click), so each pays its own commits. "+ audit" adds the step's audit-trail
            write (``AuditRecorder.flush``: one hash-chained row per command/decision/order event/fill), which
            the kernel does once per step. Between steps, untimed: one simulated second of market (the book
            refills) and, in (a), a cancel of the step's orders.
breakdown   (--breakdown) µs per order by part, burst 50, from timers wrapped around each part (the wrappers
            add their own cost: read the shares, not the sum).

Kestrel's limits are loosened so every order passes (throttle 10/s and 50/s would otherwise stop a burst at
the 11th order, by design). Each figure is the median over ``--repeat`` runs; the machine is shared.
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import tempfile
import time
from pathlib import Path

from _common import median, pct, table, vendor

LOOSE = dict(max_msgs_per_s_strategy=10**9, max_msgs_per_s_total=10**9, duplicate_window_s=1.0,
             max_fills_per_min_strategy=10**9, max_rejects_per_min_strategy=10**9, max_notional_manual=1e12,
             max_notional_strategy=1e12, max_working_orders_total=10**9, max_working_orders_strategy=10**9,
             max_gross_exposure_x_equity=1e9, quote_max_age_s=1e9, daily_loss_halt_pct=100.0,
             daily_loss_strategy_pct=100.0, max_drawdown_pct=100.0)
STEP = 50  # orders per simulated kernel step
SYNC = "NORMAL"  # the profile's setting; --sync FULL prices an fsync per commit (power-loss durable)
ACTOR = "strategy:bench"


class Go:
    """The one message a burst of orders reacts to (a tick reaching a strategy)."""


def make_kernel(d: str):
    from app.config import RiskSettings, Settings, SimSettings
    from app.engine.core.clock import SimClock
    from app.engine.kernel import Kernel

    clock = SimClock(1_750_000_000_000)
    k = Kernel(Path(d), Settings(sim=SimSettings(latency_ms=0), risk=RiskSettings(**LOOSE)), clock=clock)
    k.store.conn.execute(f"PRAGMA synchronous={SYNC}")
    k.start()
    for _ in range(10):
        clock.advance(50)
        k.step()
    return k


def market_second(k) -> None:
    """A little over a second of market: the book refills, and the 1 s duplicate-order window has passed."""
    for _ in range(21):
        k.clock.advance(50)
        k.step()


# ------------------------------------------------------------------------------------------------- check
def check_costs(n: int, resting: int) -> list[float]:
    from app.engine.core.messages import OrderType, Side, SubmitOrder

    with tempfile.TemporaryDirectory() as d:
        k = make_kernel(d)
        inst = k.instruments["BTC/USDT"]
        mid = k.market.get("BTC/USDT").book.mid
        for i in range(resting):  # working orders that every check must account for
            k.bus.publish(SubmitOrder(f"w{i}", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, 0.001,
                                      inst.round_price(mid * 0.97) - i * inst.tick_size, ACTOR))
        assert len(k.execution.working) == resting
        risk, clock = k.risk, time.perf_counter_ns
        price = inst.round_price(mid * 0.99)
        costs = []
        for i in range(n):
            cmd = SubmitOrder(f"c{i}", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, round(0.0001 * (10 + i), 4),
                              price, ACTOR)
            t0 = clock()
            denial = risk.check(cmd)
            costs.append((clock() - t0) / 1000.0)
            assert denial is None, denial
        k.close()
        return costs


def vnpy_check(n: int) -> list[float]:
    vendor("vnpy_riskmanager", "vnpy_riskmanager")
    for dep in ("tzlocal", "loguru"):
        vendor(dep, dep)
    home = tempfile.mkdtemp()
    os.environ["HOME"] = home
    os.chdir(home)
    from vnpy.event import EventEngine
    from vnpy.trader.constant import Direction, Exchange, OrderType, Product
    from vnpy.trader.engine import MainEngine
    from vnpy.trader.object import ContractData, OrderRequest
    from vnpy_riskmanager.engine import RiskEngine

    ee = EventEngine(interval=1)
    main = MainEngine(ee)
    risk = RiskEngine(main, ee)
    contract = ContractData(gateway_name="SIM", symbol="BTCUSDT", exchange=Exchange.GLOBAL, name="BTCUSDT",
                            product=Product.SPOT, size=1, pricetick=0.1, min_volume=1)
    main.get_engine("oms").contracts[contract.vt_symbol] = contract  # what its OMS holds after a gateway connects
    costs = []
    for i in range(n):
        req = OrderRequest(symbol="BTCUSDT", exchange=Exchange.GLOBAL, direction=Direction.LONG, type=OrderType.LIMIT,
                           volume=1 + i // 10_000, price=round(60_000.0 + (i % 10_000) * 0.1, 1))  # all distinct
        t0 = time.perf_counter_ns()
        ok = risk.check_allowed(req, "SIM")
        costs.append((time.perf_counter_ns() - t0) / 1000.0)
        assert ok
    main.close()
    return costs


# ---------------------------------------------------------------------------------------------- through
def throughput(mode: str, n: int, burst: int, parts: dict[str, float] | None = None) -> tuple[float, float]:
    """(orders/s through the gate, orders/s including the audit-trail write) for ``n`` orders."""
    from app.engine.core.messages import CancelAllOrders, OrderStatus, OrderType, Side, SubmitOrder

    with tempfile.TemporaryDirectory() as d:
        k = make_kernel(d)
        bus, inst = k.bus, k.instruments["BTC/USDT"]
        feed: list = []

        def strategy(_go: Go) -> None:
            for cmd in feed:
                bus.publish(cmd)

        bus.subscribe(Go, strategy)
        if parts is not None:
            instrument(k, parts)
        gate = audit = 0.0
        perf = time.perf_counter
        for step in range(0, n, STEP):
            mid = k.market.get("BTC/USDT").book.mid
            far = inst.round_price(mid * 0.97)
            cmds = []
            for i in range(step, min(step + STEP, n)):
                if mode == "passive":
                    cmds.append(SubmitOrder(f"p{i}", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT,
                                            round(0.001 + 0.0001 * (i % 97), 4), far - (i % STEP) * inst.tick_size,
                                            ACTOR))
                else:
                    cmds.append(SubmitOrder(f"m{i}", "BTC/USDT", "sim", Side.BUY if i % 2 == 0 else Side.SELL,
                                            OrderType.MARKET, round(0.001 + 0.0001 * ((i // 2) % 40), 4), None,
                                            ACTOR))
            if parts is not None:
                parts["on"] = 1.0
            t0 = perf()
            for j in range(0, len(cmds), burst):
                feed[:] = cmds[j:j + burst]
                bus.publish(Go())
            t1 = perf()
            k.audit_recorder.flush()
            t2 = perf()
            if parts is not None:
                parts["on"] = 0.0
            gate += t1 - t0
            audit += t2 - t1
            want = OrderStatus.ACCEPTED if mode == "passive" else OrderStatus.FILLED
            got = sum(k.execution.orders[c.client_order_id].status is want for c in cmds)
            assert got >= len(cmds) * 0.98, f"{mode}: only {got} of {len(cmds)} orders {want.value}"
            if mode == "passive":
                bus.publish(CancelAllOrders("manual"))
            market_second(k)
        k.close()
        return n / gate, n / (gate + audit)


def instrument(k, acc: dict[str, float]) -> None:
    """Wrap each part of the path in a timer that counts only while ``acc["on"]`` (the timed window)."""
    perf = time.perf_counter

    def wrap(obj, name: str, part: str) -> None:
        fn = getattr(obj, name)

        def timed(*a, **kw):
            if not acc["on"]:
                return fn(*a, **kw)
            t = perf()
            try:
                return fn(*a, **kw)
            finally:
                acc[part] += perf() - t
        setattr(obj, name, timed)

    for obj, name, part in ((k.risk, "check", PARTS[0]), (k.execution, "execute", PARTS[1]),
                            (k.store, "commit", PARTS[2]), (k.execution, "_send", PARTS[3]),
                            (k.sim, "_on_data", PARTS[4]), (k.execution, "_apply", PARTS[5]),
                            (k.audit_recorder, "flush", PARTS[6])):
        wrap(obj, name, part)


PARTS = ("risk check (12 checks + states)", "order intake (book it, stage its journal row)",
         "SQLite commits (journal rows, fills, order states)", "sim venue (matching, reports, TradeTick fan-out)",
         "  of which TradeTick fan-out (market, bars, portfolio, strategies)",
         "apply reports (order states, positions, risk books, events)",
         "audit trail (JSON, sha256 chain, insert, commit)")


def breakdown(mode: str, n: int) -> dict[str, float]:
    acc: dict[str, float] = collections.defaultdict(float)
    _, all_rate = throughput(mode, n, STEP, acc)
    per = {part: sec / n * 1e6 for part, sec in acc.items() if part != "on"}
    total = 1e6 / all_rate
    order = [p for p in PARTS if p in per]
    out = {p: per[p] for p in order}
    out["everything else (bus dispatch, OrderSubmitted/OrderUpdated, flush loop)"] = (
        total - sum(v for p, v in out.items() if not p.startswith(" ")))
    out["total per order"] = total
    return out


def sqlite_rows(batches: int = 60) -> dict[str, float]:
    """µs per row of each journal write, staged 50 at a time and committed (what group commit pays per
    order before any Python runs); median over ``batches``."""
    from app.engine.core.store import Store

    out: dict[str, list[float]] = {"journal insert (new order)": [], "fill insert": [],
                                   "order-state update": []}
    perf = time.perf_counter
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "kestrel.db")
        store.conn.execute(f"PRAGMA synchronous={SYNC}")
        n = 0
        for _ in range(batches):
            ids = []
            for _ in range(STEP):
                n += 1
                ids.append(f"Kbench-{n}")
                store.stage_order((ids[-1], "BTC/USDT", "sim", "BUY", "MARKET", 0.001, None, ACTOR, "SUBMITTED", 0.0,
                                   0.0, None, "", 1_750_000_000_000, 1_750_000_000_000))
            t = perf()
            store.commit()
            out["journal insert (new order)"].append((perf() - t) / STEP * 1e6)
            fills = [("sim", f"T-{c}", c, "BTC/USDT", "BUY", 60_000.0, 0.001, 0.03, "USDT", "TAKER", 1) for c in ids]
            t = perf()
            store.commit(fills)
            out["fill insert"].append((perf() - t) / STEP * 1e6)
            for c in ids:
                store.stage_order_update(c, "FILLED", 0.001, 60_000.0, "S-1", "", 1_750_000_000_001)
            t = perf()
            store.commit()
            out["order-state update"].append((perf() - t) / STEP * 1e6)
        store.close()
    return {k: median(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--json", help="also write every run's raw figures to this file")
    ap.add_argument("--sync", choices=("NORMAL", "FULL"), default="NORMAL",
                    help="SQLite synchronous for the journal (the profile uses NORMAL)")
    a = ap.parse_args()
    global SYNC
    SYNC = a.sync
    logging.disable(logging.WARNING)  # a denial would log; none is expected, the asserts say so
    n_check = min(a.orders, 20_000)
    rows = {}
    for _ in range(a.repeat):  # interleaved, so a noisy neighbour hits every configuration alike
        for resting in (0, 100):
            c = check_costs(n_check, resting)
            rows.setdefault(("check", resting), []).append((pct(c, 0.5), pct(c, 0.99)))
        for mode in ("passive", "market"):
            for burst in (STEP, 1):
                rows.setdefault((mode, burst), []).append(throughput(mode, a.orders, burst))
    here = os.getcwd()
    v = [vnpy_check(n_check) for _ in range(a.repeat)]
    os.chdir(here)
    v50, v99 = median([pct(c, 0.5) for c in v]), median([pct(c, 0.99) for c in v])

    if a.json:
        import json
        raw = {f"{k[0]}:{k[1]}": v for k, v in rows.items()}
        raw["vnpy"] = [(pct(c, 0.5), pct(c, 0.99)) for c in v]
        Path(a.json).write_text(json.dumps(raw))

    def chk(resting: int, q: int) -> float:
        return median([r[q] for r in rows[("check", resting)]])

    def rate(mode: str, burst: int, q: int) -> str:
        return f"{median([r[q] for r in rows[(mode, burst)]]):,.0f}"

    print(f"risk benchmark: {a.orders:,} orders per run, medians of {a.repeat} runs, synchronous={SYNC}")
    print(table(["pre-trade check [µs]", "Kestrel, 0 working", "Kestrel, 100 working", "vn.py RiskEngine", "goal"], [
        ["p50", f"{chk(0, 0):.1f}", f"{chk(100, 0):.1f}", f"{v50:.1f}", ""],
        ["p99", f"{chk(0, 1):.1f}", f"{chk(100, 1):.1f}", f"{v99:.1f}", "<= 50"],
        ["Kestrel p50 / vn.py p50", f"{chk(0, 0) / v50:.2f}", f"{chk(100, 0) / v50:.2f}", "1.00", ""],
    ]))
    print()
    print(table(["orders/s into the sim venue", "burst 50", "burst 50 + audit", "burst 1", "burst 1 + audit",
                 "goal"], [
        ["(a) passive limit, accepted", rate("passive", STEP, 0), rate("passive", STEP, 1), rate("passive", 1, 0),
         rate("passive", 1, 1), ">= 50,000"],
        ["(b) marketable, filled", rate("market", STEP, 0), rate("market", STEP, 1), rate("market", 1, 0),
         rate("market", 1, 1), ">= 50,000"],
    ]))
    if a.breakdown:
        rows_cost = [sqlite_rows() for _ in range(a.repeat)]
        print()
        print(f"SQLite journal rows alone (batches of {STEP} per commit, synchronous={SYNC}), median of {a.repeat}")
        print(table(["row", "µs/row"], [[k, f"{median([r[k] for r in rows_cost]):.1f}"] for k in rows_cost[0]]))
        for mode in ("passive", "market"):
            runs = [breakdown(mode, a.orders) for _ in range(a.repeat)]
            print()
            print(f"{mode}: µs per order by part (burst 50, timers wrapped around each part), median of {a.repeat}")
            print(table(["part", "µs/order"], [[p, f"{median([r[p] for r in runs]):.1f}"] for p in runs[0]]))


if __name__ == "__main__":
    main()
