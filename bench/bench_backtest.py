"""Backtester benchmarks, side by side in one run: Kestrel's event-driven backtest against backtrader, and
Kestrel's sweep against vectorbt's equivalent ``Portfolio.from_signals`` sweep.

    python bench/bench_backtest.py [--bars 1e6] [--bt-bars 2e5] [--sweep-bars 1e5] [--repeat 3] [--profile]

Data: a seeded random walk of one-minute bars (open = previous close, high/low around them).

(a) Event-driven SMA cross (the bundled plugin, the whole engine: bus, risk gate, OMS journaling to a
    scratch SQLite file, portfolio) on ``--bars`` bars, against the same rule in backtrader
    (tests/backtest/oracles.py, cheat-on-open so it fills at the next open like ours) on the first
    ``--bt-bars`` bars (backtrader is too slow for 1e6 in a benchmark; bars/s is what is compared). Two
    parameter sets: 50/200 (few trades: the per-bar cost) and the plugin's 10/30 (many trades: per-order
    cost shows). On the backtrader slice both make the same trades (checked). The two sides alternate
    (ABBA); the ratio is the median of the per-repetition ratios, each repetition's runs adjacent in time.
(b) The sweep fast 5..50 x slow 20..200, step 5 (370 combinations) on ``--sweep-bars`` bars: ours is
    ``run_sweep`` in-process on the vectorised path (the plugin's ``signals`` + the compiled simulator +
    every statistic per combination); vectorbt's is ``vbt.MA.run`` over the fast and the slow windows, the
    cross of every pair (the product), signals shifted one bar, ``Portfolio.from_signals(close, entries,
    exits, price=open, size=inf, fees=0.001)`` and ``final_value()``. Both warmed up first (Numba).
    The final equities of the two are compared combination by combination.
(c) Where the event-driven time goes: per-bar cost (the plugin with its orders switched off), per-order
    cost (the difference, over the orders sent), and with ``--profile`` a cProfile of one order per bar,
    grouped by engine module.

The machine is shared: read the ratios (same run, adjacent timings), not the absolute numbers.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from collections import defaultdict

import numpy as np
from _common import ROOT, median, table

from app.api import Strategy
from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.backtest.sweep import parse_grid, run_sweep
from app.engine.data.bar_files import bars_from_arrays
from app.engine.data.bars import Bars
from plugins.sma_cross import SmaCross
from tests.backtest import oracles

FEE, CASH = 0.001, 10_000.0
SWEEP_GRID = "fast=5:50:5,slow=20:200:5"


def random_walk(n: int, seed: int = 20240601) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 5e-4, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 5e-4, n)))
    ts = 1_600_000_020_000 + 60_000 * np.arange(n, dtype=np.int64)
    return bars_from_arrays(ts, open_, high, low, close, rng.uniform(1.0, 10.0, n), symbol="WALK")


def timed(fn):
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out
    finally:
        if gc_was:
            gc.enable()


# ------------------------------------------------------------------------------------- (a) event-driven
def event_driven(data: Bars, bt_bars: int, params: tuple[int, int], repeat: int) -> dict:
    fast, slow = params
    cfg = BacktestConfig(cash=CASH, fee=FEE)
    head = data.slice(0, bt_bars)
    ours_head = run_backtest(SmaCross, {"fast": fast, "slow": slow}, head, cfg)
    bt_trades, _ = oracles.backtrader_sma_cross(head, fast, slow, FEE, CASH)  # also warms backtrader up
    same = [(t["entry_time"], t["exit_time"]) for t in ours_head.trades] == \
        [(t["entry_time"], t["exit_time"]) for t in bt_trades]
    ours_rate, bt_rate, ratios, trades = [], [], [], 0
    for r in range(repeat):
        def ours():
            return run_backtest(SmaCross, {"fast": fast, "slow": slow}, data, cfg)

        def theirs():
            return oracles.backtrader_sma_cross(head, fast, slow, FEE, CASH)

        got = {}
        for name, fn in (("ours", ours), ("bt", theirs)) if r % 2 == 0 else (("bt", theirs), ("ours", ours)):
            got[name] = timed(fn)
        res = got["ours"][1]
        trades = len(res.trades)
        ours_rate.append(len(data) / got["ours"][0])
        bt_rate.append(bt_bars / got["bt"][0])
        ratios.append(ours_rate[-1] / bt_rate[-1])
    return {"ours": median(ours_rate), "bt": median(bt_rate), "ratio": median(ratios), "lo": min(ratios),
            "hi": max(ratios), "trades": trades, "bt_trades": len(bt_trades),
            "head_trades": len(ours_head.trades), "same": same}


# -------------------------------------------------------------------------------------------- (b) sweep
def vectorbt_sweep(data: Bars, grid: dict) -> np.ndarray:
    import pandas as pd
    import vectorbt as vbt

    idx = pd.to_datetime(data.ts, unit="ms")
    close = pd.Series(data.close, index=idx)
    fasts, slows = grid["fast"], grid["slow"]
    f = vbt.MA.run(close, window=fasts, short_name="fast").ma.to_numpy()
    s = vbt.MA.run(close, window=slows, short_name="slow").ma.to_numpy()
    f1, s1 = np.repeat(f, len(slows), axis=1), np.tile(s, (1, len(fasts)))  # every (fast, slow) pair
    nan_row = np.full((1, f1.shape[1]), np.nan)
    f0, s0 = np.vstack([nan_row, f1[:-1]]), np.vstack([nan_row, s1[:-1]])
    with np.errstate(invalid="ignore"):
        entries, exits = (f0 <= s0) & (f1 > s1), (f0 >= s0) & (f1 < s1)
    no = np.zeros((1, f1.shape[1]), dtype=bool)
    cols = pd.MultiIndex.from_product([fasts, slows], names=["fast", "slow"])
    shift = lambda a: pd.DataFrame(np.vstack([no, a[:-1]]), index=idx, columns=cols)  # noqa: E731 - next open
    pf = vbt.Portfolio.from_signals(close, shift(entries), shift(exits),
                                    price=pd.Series(data.open, index=idx), size=np.inf, fees=FEE,
                                    init_cash=CASH, freq="60s")
    return pf.final_value().to_numpy()


def sweeps(data: Bars, repeat: int) -> dict:
    grid = parse_grid(SWEEP_GRID)
    cfg = BacktestConfig(cash=CASH, fee=FEE)
    run_sweep(SmaCross, data.slice(0, 2000), grid, cfg)  # compile / load the Numba kernels
    vectorbt_sweep(data.slice(0, 2000), grid)
    ours_t, vbt_t, ratios = [], [], []
    for r in range(repeat):
        got = {}
        pair = (("ours", lambda: run_sweep(SmaCross, data, grid, cfg)),
                ("vbt", lambda: vectorbt_sweep(data, grid)))
        for name, fn in pair if r % 2 == 0 else pair[::-1]:
            got[name] = timed(fn)
        ours_t.append(got["ours"][0])
        vbt_t.append(got["vbt"][0])
        ratios.append(vbt_t[-1] / ours_t[-1])
    res, final = got["ours"][1], got["vbt"][1]
    ours_final = np.array([row["stats"]["equity_final"] for row in res.rows])
    return {"ours": median(ours_t), "vbt": median(vbt_t), "ratio": median(ratios), "lo": min(ratios),
            "hi": max(ratios), "combos": len(res.rows), "mode": res.mode, "where": res.where,
            "max_rel_diff": float(np.max(np.abs(ours_final - final) / np.abs(final)))}


# ------------------------------------------------------------------------------------------ (c) costs
class SmaCrossNoOrders(SmaCross):
    """The plugin's per-bar work (indicators, on_bar, on_tick) without ever sending an order."""

    name = "sma_cross_no_orders"

    def on_tick(self, tick) -> None:
        self.state["pending"] = ""


class OrderEveryBar(Strategy):
    name = "order_every_bar"

    def on_bar(self, bar) -> None:
        pos = self.position()
        if pos:
            self.sell(pos)
        else:
            self.buy(1.0)


class NoOrders(Strategy):
    name = "no_orders"

    def on_bar(self, bar) -> None:
        self.position()


def costs(data: Bars, repeat: int) -> list[list[object]]:
    """Per bar: the plugin with its orders switched off (50/200 and 10/30 cost the same per bar). Per order:
    one order every bar, less the same loop sending none, over the orders sent."""
    bar_t, order_t = [], []
    orders = 0
    small = data.slice(0, min(len(data), 20_000))
    for _ in range(repeat):
        quiet, _res = timed(lambda: run_backtest(SmaCrossNoOrders, {"fast": 10, "slow": 30}, data))
        bar_t.append(quiet / len(data))
        base, _res = timed(lambda: run_backtest(NoOrders, {}, small))
        busy, res = timed(lambda: run_backtest(OrderEveryBar, {}, small))
        orders = len(res.orders)
        order_t.append((busy - base) / orders)
    return [["SMA cross, per bar (orders off)", f"{median(bar_t) * 1e6:.2f}", f"{len(data):,} bars"],
            ["one market order, sent to filled", f"{median(order_t) * 1e6:.0f}", f"{orders:,} orders"]]


MODULES = {"bus.py": "bus (dispatch)", "risk.py": "risk engine", "risk_checks.py": "risk checks",
           "risk_monitor.py": "risk checks", "config.py": "risk checks", "execution.py": "execution (OMS)",
           "orders.py": "execution (OMS)", "store.py": "execution (OMS)", "portfolio.py": "portfolio",
           "market.py": "market state", "strategy_host.py": "strategy host", "api.py": "strategy host",
           "backtest.py": "backtester (venue, loop)", "messages.py": "messages (construction)"}


def profile_orders(n: int) -> list[list[object]]:
    data = random_walk(n, seed=7)
    run_backtest(OrderEveryBar, {}, data.slice(0, 500))
    prof = cProfile.Profile()
    prof.enable()
    run_backtest(OrderEveryBar, {}, data)
    prof.disable()
    by: dict[str, float] = defaultdict(float)
    total = 0.0
    for (path, _line, func), (_cc, _nc, tt, _ct, _callers) in pstats.Stats(prof).stats.items():
        total += tt
        name = path.rsplit("/", 1)[-1]
        if func == "<method 'execute' of 'sqlite3.Connection' objects>":
            key = "sqlite (journal, fills)"
        elif name == "<string>":
            key = "messages (construction)"
        else:
            key = MODULES.get(name, "other (enum, dict, datetime, ...)")
        by[key] += tt
    rows = sorted(by.items(), key=lambda kv: -kv[1])
    return [[k, f"{v / n * 1e6:.1f}", f"{v / total:.0%}"] for k, v in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=float, default=1e6)
    ap.add_argument("--bt-bars", type=float, default=2e5)
    ap.add_argument("--sweep-bars", type=float, default=1e5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one order per bar, by engine module")
    a = ap.parse_args()
    n, n_bt, n_sweep = int(a.bars), int(a.bt_bars), int(a.sweep_bars)
    data = random_walk(n)
    run_backtest(SmaCross, {}, data.slice(0, 2000))  # indicator kernels loaded before timing

    rows = []
    for params in ((50, 200), (10, 30)):
        r = event_driven(data, n_bt, params, a.repeat)
        rows.append([f"SMA cross {params[0]}/{params[1]}", f"{r['trades']:,}", f"{r['ours']:,.0f}",
                     f"{r['bt']:,.0f} ({r['bt_trades']:,} trades)",
                     f"{r['ratio']:.1f}x ({r['lo']:.1f}-{r['hi']:.1f})",
                     "yes" if r["same"] else f"NO ({r['head_trades']} vs {r['bt_trades']})"])
    print(f"(a) event-driven backtest: ours on {n:,} bars, backtrader on the first {n_bt:,}; bars/s, medians "
          f"of {a.repeat} runs (ABBA); ratio = median of per-run ratios (min-max)")
    print(table(["strategy", "our trades", "ours [bars/s]", "backtrader [bars/s]", "ratio",
                 f"same trades on {n_bt:,} bars"], rows))
    print("goal: >= 20x backtrader's bars/s\n")

    sweep_data = data.slice(0, n_sweep)
    s = sweeps(sweep_data, a.repeat)
    print(f"(b) sweep {SWEEP_GRID} ({s['combos']} combinations) on {n_sweep:,} bars; wall time, medians of "
          f"{a.repeat} runs (ABBA)")
    print(table(["", "ours", "vectorbt", "ratio (vectorbt / ours)"],
                [["time [s]", f"{s['ours']:.2f} ({s['mode']}, {s['where']})", f"{s['vbt']:.2f}",
                  f"{s['ratio']:.1f}x ({s['lo']:.1f}-{s['hi']:.1f})"]]))
    print(f"final equity, ours vs vectorbt, all combinations: max relative difference "
          f"{s['max_rel_diff']:.1e}")
    print("goal: faster than vectorbt\n")

    cost_data = data.slice(0, min(n, 200_000))
    print(f"(c) where the event-driven time goes (medians of {a.repeat}): the per-bar path and the per-order "
          f"path")
    print(table(["cost", "µs", "measured on"], costs(cost_data, a.repeat)))
    if a.profile:
        print("\nwhere an order's time goes (cProfile, one order per bar, 20,000 bars; µs per order, "
              "profiler overhead included)")
        print(table(["module", "µs/order", "share"], profile_orders(20_000)))
    print(f"\n(run from {ROOT})")


if __name__ == "__main__":
    main()
