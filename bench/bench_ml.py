"""ML on the hot path: single-row inference (onnxruntime beside scikit-learn), and tick -> venue ack with
ten symbols streaming through ML strategies.

    python bench/bench_ml.py [--runs 5] [--calls 20000] [--ticks 20000] [--part all|inference|e2e]

Inference: each model is called with one feature row at a time, as the strategy path does: Kestrel's
``OnnxModel.predict_row`` (row written into a preallocated float32 input bound once, ``run_with_iobinding``)
beside ``session.run`` with a prebuilt feed and scikit-learn's ``predict_proba`` on a (1, k) array. Models:
the bundled default (gradient boosting, 150 trees of depth 3) and, trained here on generated bars at the
sizes ``kestrel ml train`` uses, a random forest, a logistic regression and the soft-voting ensemble.

End to end: a real Kernel (SQLite profile on disk, bus, risk with all 12 pre-trade checks, OMS journaling
each order before sending, portfolio, audit recorder) with ten instruments on the sim venue (zero latency,
so it acknowledges inside ``submit``) and ten ``ml_signal`` strategies (bundled model, one per symbol,
``intrabar`` on, so every trade print computes the features and runs the model). The bench publishes
trade prints for the ten symbols round-robin on the bus, as a feed adapter does, and times each from just
before ``publish`` to (a) the moment an ``OrderAccepted`` comes back for an order that print caused:
tick -> indicators -> features -> ONNX -> strategy -> risk -> journal -> sim venue ack; (b) the end of its
dispatch for every print: tick -> features -> ONNX -> decision. Every 50 prints the sim market advances
one step (not timed) so books refill and prices move. Limits are loosened so orders are not throttled
(bench_risk.py measures the gate itself). GC stays on: these are the numbers a trader gets.
"""
from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from _common import median, pct, table

import app.engine.ml  # noqa: F401  - sets the onnxruntime telemetry opt-out before onnxruntime loads


# ------------------------------------------------------------------------------------------------ inference
def _models() -> dict[str, tuple[object, object]]:
    """name -> (sklearn estimator, OnnxModel), with a test row source."""
    import numpy as np

    from app.engine.ml.export import to_onnx
    from app.engine.ml.features import default_spec, finite_rows
    from app.engine.ml.labels import direction
    from app.engine.ml.serve import ModelSource, OnnxModel
    from app.engine.ml.synthetic import generated_bars
    from app.engine.ml.train import make_estimator

    b = generated_bars(6000, seed=21)
    X = default_spec().compute(b.as_dict())
    y = direction(b.close, 5)
    ok = finite_rows(X) & np.isfinite(y)
    X32 = X[ok].astype(np.float32).astype(np.float64)
    y = y[ok]
    out = {}
    default = ModelSource().load("default")
    for kind in ("gbm", "rf", "logistic", "ensemble"):
        est = make_estimator(kind, seed=0).fit(X32, y)
        onnx = default.onnx if kind == "gbm" else OnnxModel(to_onnx(est, X32.shape[1], True), X32.shape[1], "classify")
        out[kind] = (est, onnx)
    return out, X32


def _time_calls(fn, rows, n: int) -> list[float]:
    ts = []
    k = len(rows)
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for i in range(n):
            r = rows[i % k]
            t0 = clock()
            fn(r)
            ts.append((clock() - t0) / 1000.0)
    finally:
        gc.enable()
    return ts


def bench_inference(runs: int, calls: int) -> list[list[str]]:
    import numpy as np

    models, X = _models()
    rows_list = X[:2000].tolist()
    rows_np = [np.asarray(r, dtype=np.float64).reshape(1, -1) for r in rows_list]
    feeds = [np.asarray(r, dtype=np.float32).reshape(1, -1) for r in rows_list]
    out = []
    for name, (est, onnx) in models.items():
        res = {"ours": [], "run": [], "sk": []}
        sess, outs, in_name = onnx.session, [onnx.output_name], onnx.input_name
        for _ in range(runs):
            for key, fn, n, rows in (
                ("ours", onnx.predict_row, calls, rows_list),
                ("run", lambda x: sess.run(outs, {in_name: x}), calls, feeds),
                ("sk", lambda x: est.predict_proba(x), max(calls // 20, 300), rows_np),
            ):
                ts = _time_calls(fn, rows, n)
                res[key].append((pct(ts, 0.5), pct(ts, 0.99)))
        row = [name]
        for key in ("ours", "run", "sk"):
            row += [f"{median([a for a, _ in res[key]]):.1f}", f"{median([b for _, b in res[key]]):.1f}"]
        ratio = median([s[1] for s in res["sk"]]) / median([o[1] for o in res["ours"]])
        out.append(row + [f"{ratio:,.0f}x"])
    return out


# ------------------------------------------------------------------------------------------------ end to end
LOOSE = dict(max_msgs_per_s_strategy=10**9, max_msgs_per_s_total=10**9, max_fills_per_min_strategy=10**9,
             max_rejects_per_min_strategy=10**9, max_notional_manual=1e12, max_notional_strategy=1e12,
             max_working_orders_total=10**9, max_working_orders_strategy=10**9, max_gross_exposure_x_equity=1e9,
             quote_max_age_s=1e9, daily_loss_halt_pct=100.0, daily_loss_strategy_pct=100.0,
             max_drawdown_pct=100.0, stale_data_s=1e9, max_throttle_trips_per_10s=10**9, max_order_qty={},
             max_position={}, duplicate_window_s=0.0)


def _instruments(n: int):
    from app.engine.core.instruments import Instrument

    # price ~100 (the sim's generic model), makers quote 20 lots = 2 units (~200 USDT) at the touch
    return [Instrument(f"SYM{i}/USDT", "sim", f"SYM{i}", "USDT", tick_size=0.01, lot_size=0.1, min_qty=0.1,
                       max_qty=1e6, min_notional=1.0, maker_fee=0.0002, taker_fee=0.0005) for i in range(n)]


def e2e_run(ticks: int, symbols: int = 10, seed: int = 0) -> dict[str, object]:
    import random

    from app.config import RiskSettings, Settings, SimSettings, UiSettings
    from app.engine.core.clock import SimClock
    from app.engine.core.messages import OrderAccepted, OrderSubmitted, Side, TradeTick
    from app.engine.kernel import Kernel

    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        clock = SimClock(1_750_000_000_000)
        settings = Settings(sim=SimSettings(latency_ms=0, starting_cash={"USDT": 100_000.0}),
                            risk=RiskSettings(**LOOSE), ui=UiSettings(chart_timeframe_s=1))
        k = Kernel(Path(d), settings, clock=clock, instruments=_instruments(symbols))
        k.start()
        for _ in range(40):  # two simulated seconds: books and prices
            clock.advance(50)
            k.step()
        names = list(k.instruments)
        for i, sym in enumerate(names):
            k.strategies.load("ml_signal", f"ml{i}", {"symbol": sym, "enter": 0.5, "exit": 0.5, "intrabar": True,
                                                      "fraction": 0.001})  # ~1 unit: one or two fills
            assert k.strategies.start(f"ml{i}"), k.strategies.runners[f"ml{i}"].reason
        prices = {s: k.market.get(s).last or 100.0 for s in names}
        state = {"t0": 0, "c0": 0, "acked": False}
        to_ack: list[float] = []
        cpu_to_ack: list[float] = []
        decide: list[float] = []
        cpu_decide: list[float] = []
        clock_ns = time.perf_counter_ns
        cpu_ns = time.thread_time_ns  # CPU time of this thread: the path's cost without the box's scheduling

        def on_ack(_ev) -> None:
            if state["t0"] and not state["acked"]:
                to_ack.append((clock_ns() - state["t0"]) / 1000.0)
                cpu_to_ack.append((cpu_ns() - state["c0"]) / 1000.0)
                state["acked"] = True

        k.bus.subscribe(OrderAccepted, on_ack)
        publish = k.bus.publish
        host = k.strategies.host
        # where the ack path's CPU goes: tick -> strategy sends (ML + strategy), -> journaled (risk, audit,
        # SQLite journal), -> acknowledged (sim venue, report, order state persisted)
        stages: dict[str, list[float]] = {"ml": [], "gate": [], "venue": []}
        marks: dict[str, int] = {}
        real_submit = host.submit

        def submit(*args):
            if state["t0"] and not marks:
                marks["submit"] = cpu_ns()
            return real_submit(*args)

        def on_submitted(_ev) -> None:
            if "submit" in marks and "journaled" not in marks:
                marks["journaled"] = cpu_ns()

        def on_accepted(_ev) -> None:
            if "journaled" in marks and "acked" not in marks:
                marks["acked"] = cpu_ns()
                stages["ml"].append((marks["submit"] - state["c0"]) / 1000.0)
                stages["gate"].append((marks["journaled"] - marks["submit"]) / 1000.0)
                stages["venue"].append((marks["acked"] - marks["journaled"]) / 1000.0)

        host.submit = submit
        k.bus.subscribe(OrderSubmitted, on_submitted)
        k.bus.subscribe(OrderAccepted, on_accepted)
        host.order_latency.clear()
        n_trade = 0
        for i in range(ticks):
            sym = names[i % symbols]
            if i % symbols == 0:
                clock.advance(50)  # 20 prints/s per symbol: a 1 s bar closes every 20 prints
            if i % 50 == 49:
                state["t0"] = 0
                k.step()  # the sim market moves and refills (not timed)
            p = prices[sym] = max(0.01, round(prices[sym] * (1.0 + 0.0008 * rnd.gauss(0.0, 1.0)), 2))
            tick = TradeTick(sym, p, 0.01, Side.BUY if rnd.random() < 0.5 else Side.SELL, f"b{i}", clock.now_ms())
            state["acked"] = False
            marks.clear()
            state["c0"] = cpu_ns()
            t0 = state["t0"] = clock_ns()
            publish(tick)
            dt = (clock_ns() - t0) / 1000.0
            dc = (cpu_ns() - state["c0"]) / 1000.0
            state["t0"] = 0
            if state["acked"]:
                n_trade += 1
            else:
                decide.append(dt)
                cpu_decide.append(dc)
        handles = [h for r in host.runners.values() for h in r.models]
        inf = [x / 1000.0 for h in handles for x in h.inference.samples]
        host_lat = [x / 1000.0 for x in host.order_latency.samples]
        faulted = [r.reason for r in host.runners.values() if r.status.value != "RUNNING"]
        denied = sum(r.denials for r in host.runners.values())
        k.close()
    assert not faulted, faulted
    return {"to_ack": to_ack, "decide": decide, "cpu_to_ack": cpu_to_ack, "cpu_decide": cpu_decide,
            "inference": inf, "host": host_lat, "orders": n_trade, "denied": denied, **stages}


def bench_e2e(runs: int, ticks: int) -> tuple[list[list[str]], dict[str, float]]:
    res = [e2e_run(ticks, seed=r) for r in range(runs)]

    def agg(key: str, q: float) -> float:
        return median([pct(r[key], q) for r in res if r[key]])

    rows = [
        ["tick -> ... -> sim venue ack (prints that sent an order)", f"{agg('to_ack', 0.5):.0f}",
         f"{agg('to_ack', 0.99):.0f}", f"{median([r['orders'] for r in res]):,.0f}", "<= 250 p99"],
        ["  same, CPU time of the thread (scheduling excluded)", f"{agg('cpu_to_ack', 0.5):.0f}",
         f"{agg('cpu_to_ack', 0.99):.0f}", "", ""],
        ["  CPU: tick -> strategy sends (features, ONNX, strategy)", f"{agg('ml', 0.5):.0f}", f"{agg('ml', 0.99):.0f}",
         "", ""],
        ["  CPU: -> journaled (risk gate, audit, SQLite journal)", f"{agg('gate', 0.5):.0f}", f"{agg('gate', 0.99):.0f}",
         "", ""],
        ["  CPU: -> acknowledged (sim venue, report, state persisted)", f"{agg('venue', 0.5):.0f}",
         f"{agg('venue', 0.99):.0f}", "", ""],
        ["tick -> features -> ONNX -> decision (every other print)", f"{agg('decide', 0.5):.0f}",
         f"{agg('decide', 0.99):.0f}", f"{median([len(r['decide']) for r in res]):,.0f}", ""],
        ["  same, CPU time of the thread", f"{agg('cpu_decide', 0.5):.0f}", f"{agg('cpu_decide', 0.99):.0f}", "", ""],
        ["  of which model inference (single row, in the strategy)", f"{agg('inference', 0.5):.1f}",
         f"{agg('inference', 0.99):.1f}", f"{median([len(r['inference']) for r in res]):,.0f}", ""],
        ["status-bar figure: host entry -> order past risk at the venue", f"{agg('host', 0.5):.0f}",
         f"{agg('host', 0.99):.0f}", f"{median([len(r['host']) for r in res]):,.0f}", ""],
    ]
    spread = {"to_ack_p99_min": min(pct(r["to_ack"], 0.99) for r in res),
              "to_ack_p99_max": max(pct(r["to_ack"], 0.99) for r in res),
              "denied": sum(r["denied"] for r in res)}
    return rows, spread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--ticks", type=int, default=20_000)
    ap.add_argument("--part", choices=("all", "inference", "e2e"), default="all")
    a = ap.parse_args()
    if a.part in ("all", "inference"):
        rows = bench_inference(a.runs, a.calls)
        print(f"single-row inference [µs], medians of {a.runs} runs ({a.calls:,} calls per run; sklearn "
              f"{max(a.calls // 20, 300):,})")
        print(table(["model", "Kestrel p50", "Kestrel p99", "session.run p50", "session.run p99",
                     "sklearn p50", "sklearn p99", "sklearn/Kestrel p99"], rows))
        print()
    if a.part in ("all", "e2e"):
        rows, spread = bench_e2e(a.runs, a.ticks)
        print(f"end to end, 10 symbols, {a.ticks:,} prints per run, medians of {a.runs} runs [µs]")
        print(table(["path", "p50", "p99", "samples/run", "goal"], rows))
        print(f"tick->ack p99 across runs: {spread['to_ack_p99_min']:.0f}..{spread['to_ack_p99_max']:.0f} µs; "
              f"orders denied in all runs: {spread['denied']}")


if __name__ == "__main__":
    main()
