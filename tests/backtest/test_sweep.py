"""Parameter sweeps: the grid syntax, the vectorised fast path against the event-driven backtest, the same
rows from a local process pool and from a Dask cluster, and walk-forward folds."""
from __future__ import annotations

import math

import numpy as np
import pytest

from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.backtest.sweep import (
    PluginRef,
    parse_grid,
    run_sweep,
    summarize_folds,
    vectorised_run,
    walk_forward,
)
from plugins.sma_cross import SmaCross
from tests.kit.data import BAR_FILES
from tests.kit.series import toy_bars

REL = 1e-9


# ------------------------------------------------------------------------------------------------ grid
@pytest.mark.parametrize("text,grid", [
    ("fast=5:15:5,slow=20:40:10", {"fast": [5, 10, 15], "slow": [20, 30, 40]}),
    (" fast = 5:50:5 ", {"fast": list(range(5, 51, 5))}),
    ("k=1:4", {"k": [1, 2, 3, 4]}),
    ("n=3:3", {"n": [3]}),
    ("fast=5:16:5", {"fast": [5, 10, 15]}),  # the stop is included only when the steps land on it
    ("width=0.5:1.5:0.5", {"width": [0.5, 1.0, 1.5]}),
    ("x=0.1:0.3:0.1", {"x": [0.1, 0.2, 0.3]}),  # 0.3, not 0.30000000000000004
    ("fast=5|8|13,mode=fast|slow", {"fast": [5, 8, 13], "mode": ["fast", "slow"]}),
    ("lower=20.5|30", {"lower": [20.5, 30]}),
])
def test_parse_grid(text, grid):
    assert parse_grid(text) == grid


@pytest.mark.parametrize("text,message", [
    ("", "empty grid"),
    (" , ", "empty grid"),
    ("fast", "write name=start:stop:step"),
    ("fast=", "write name=start:stop:step"),
    ("=5:10", "write name=start:stop:step"),
    ("fast=10:5", "need step > 0 and stop >= start"),
    ("fast=1:5:0", "need step > 0"),
    ("fast=1:5:-1", "need step > 0"),
    ("fast=a:b", "range bounds must be numbers"),
    ("fast=1:2:3:4", "a range is start:stop or start:stop:step"),
    ("fast=1|2,fast=3", "fast is already in the grid"),
])
def test_parse_grid_refuses_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        parse_grid(text)


def test_a_grid_naming_an_unknown_parameter_is_refused(recorded_bars):
    with pytest.raises(ValueError, match="unknown parameter"):
        run_sweep(SmaCross, recorded_bars["XRP-ETH-1m.csv.gz"], parse_grid("fast=5|10,speed=1|2"))


# ---------------------------------------------------------------------------- vectorised vs event-driven
COMBOS = [(name, fast, slow) for name in BAR_FILES for fast, slow in [(10, 30), (5, 20), (3, 10), (20, 60)]]


@pytest.mark.parametrize("name,fast,slow", COMBOS, ids=[f"{n.split('.')[0]}-{f}-{s}" for n, f, s in COMBOS])
def test_vectorised_path_equals_the_event_driven_backtest(recorded_bars, name, fast, slow):
    data = recorded_bars[name]
    cfg = BacktestConfig(cash=10_000.0, fee=0.001)
    fast_stats = vectorised_run(SmaCross, data, {"fast": fast, "slow": slow}, cfg)
    res = run_backtest(SmaCross, {"fast": fast, "slow": slow}, data, cfg)
    s = res.stats
    assert fast_stats["trades"] == s["trades"] > 0
    for key in ("equity_final", "total_return", "max_drawdown", "exposure", "win_rate", "expectancy"):
        assert math.isclose(fast_stats[key], s[key], rel_tol=REL, abs_tol=1e-12), (key, fast_stats[key],
                                                                                   s[key])
    assert fast_stats["equity_final"] == pytest.approx(res.equity_final, rel=REL)


def test_a_sweep_takes_the_vectorised_path_only_when_it_models_the_run(recorded_bars):
    data = recorded_bars["XRP-ETH-1m.csv.gz"]
    grid = parse_grid("fast=5|10,slow=20|30")
    assert run_sweep(SmaCross, data, grid).mode == "vectorised"
    assert run_sweep(SmaCross, data, grid, BacktestConfig(slippage_bps=1.0), workers=1).mode == "event-driven"


# ------------------------------------------------------------------------------------- where it runs
GRID = "fast=5:15:5,slow=20:40:10"


def rows_by_params(result) -> dict:
    return {tuple(sorted(r["params"].items())): r for r in result.rows}


def assert_same_rows(a, b) -> None:
    ra, rb = rows_by_params(a), rows_by_params(b)
    assert ra.keys() == rb.keys() and len(ra) == 9
    for key, row in ra.items():
        assert row["error"] == rb[key]["error"] == ""
        for stat in ("trades", "equity_final", "total_return", "sharpe"):
            x, y = row["stats"][stat], rb[key]["stats"][stat]
            assert x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)), (key, stat, x, y)
    assert [r["params"] for r in a.rows] == [r["params"] for r in b.rows]  # same order: the grid's
    assert a.best["params"] == b.best["params"]


@pytest.fixture(scope="module")
def xrp_in_process(recorded_bars):
    return run_sweep(SmaCross, recorded_bars["XRP-ETH-1m.csv.gz"], parse_grid(GRID), metric="total_return")


def test_in_process_sweep_rows_and_best(xrp_in_process, recorded_bars):
    res = xrp_in_process
    assert (res.mode, res.where) == ("vectorised", "in-process")
    off = {"stop_loss_pct": 0.0, "take_profit_pct": 0.0}  # its protection, off: the vectorised form's rule
    assert [r["params"] for r in res.rows][:2] == [{"fast": 5, "slow": 20, **off}, {"fast": 5, "slow": 30, **off}]
    best = max(res.rows, key=lambda r: r["stats"]["total_return"])
    assert res.best["params"] == best["params"]
    one = run_backtest(SmaCross, best["params"], recorded_bars["XRP-ETH-1m.csv.gz"])
    assert res.best["stats"]["equity_final"] == pytest.approx(one.equity_final, rel=REL)
    xs, ys, z = res.heatmap("fast", "slow")
    assert xs == [5, 10, 15] and ys == [20, 30, 40]
    cell = rows_by_params(res)[(("fast", 10), ("slow", 30), ("stop_loss_pct", 0.0), ("take_profit_pct", 0.0))][
        "stats"]["total_return"]
    assert z[ys.index(30), xs.index(10)] == cell


def test_a_process_pool_sweep_matches_the_in_process_one(xrp_in_process, recorded_bars):
    pooled = run_sweep(SmaCross, recorded_bars["XRP-ETH-1m.csv.gz"], parse_grid(GRID), metric="total_return",
                       workers=2, ref=plugin_ref("sma_cross"))
    assert pooled.where == "processes:2" and pooled.mode == "vectorised"
    assert_same_rows(pooled, xrp_in_process)


def test_an_event_driven_sweep_in_a_process_pool_matches_in_process(recorded_bars):
    """Latency rules out the vectorised form: every combination is a full event-driven backtest."""
    data = recorded_bars["XRP-ETH-1m.csv.gz"]
    cfg = BacktestConfig(latency_ms=1)
    grid = parse_grid(GRID)
    here = run_sweep(SmaCross, data, grid, cfg, metric="total_return", workers=1)
    pooled = run_sweep(SmaCross, data, grid, cfg, metric="total_return", workers=2,
                       ref=plugin_ref("sma_cross"))
    assert here.mode == pooled.mode == "event-driven" and pooled.where == "processes:2"
    assert_same_rows(pooled, here)


def plugin_ref(name: str) -> PluginRef:
    """How the CLI hands a plugin to worker processes: by file and name."""
    from app.engine.strategy.plugins import discover

    info = next(i for i in discover(None, entry_points=False) if i.name == name)
    return PluginRef(info.name, info.origin, info.source)


def test_a_dask_cluster_sweep_matches_the_in_process_one(xrp_in_process, recorded_bars):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster:
        res = run_sweep(SmaCross, recorded_bars["XRP-ETH-1m.csv.gz"], parse_grid(GRID), metric="total_return",
                        cluster=cluster.scheduler_address, ref=plugin_ref("sma_cross"))
    assert res.where == f"dask:{cluster.scheduler_address}"
    assert_same_rows(res, xrp_in_process)


# ------------------------------------------------------------------------------------------ walk-forward
def test_walk_forward_folds_and_summary(recorded_bars):
    data = recorded_bars["ETH-BTC-5m.csv.gz"]  # 5760 bars
    grid = parse_grid("fast=5|10|20,slow=30|60")
    folds = walk_forward(SmaCross, data, grid, in_sample=2000, out_of_sample=1000, metric="total_return")
    assert [(f.in_sample, f.out_of_sample) for f in folds] == [
        ((0, 2000), (2000, 3000)), ((1000, 3000), (3000, 4000)), ((2000, 4000), (4000, 5000))]
    cfg = BacktestConfig()
    for f in folds:
        window = data.slice(*f.in_sample)
        scores = {(fa, sl): vectorised_run(SmaCross, window, {"fast": fa, "slow": sl}, cfg)["total_return"]
                  for fa in grid["fast"] for sl in grid["slow"]}
        best = max(scores, key=scores.get)
        assert (f.best_params["fast"], f.best_params["slow"]) == best  # optimised on the in-sample window
        assert f.in_sample_stats["total_return"] == scores[best]
        oos = run_backtest(SmaCross, f.best_params, data.slice(*f.out_of_sample))  # tested after it
        assert f.out_of_sample_stats["total_return"] == pytest.approx(oos.stats["total_return"], rel=REL,
                                                                      abs=1e-12)
    summary = summarize_folds(folds, "total_return")
    assert summary["folds"] == 3
    assert summary["in_sample_total_return_mean"] == pytest.approx(
        np.mean([f.in_sample_stats["total_return"] for f in folds]))
    assert summary["out_of_sample_return_compounded"] == pytest.approx(
        np.prod([1 + f.out_of_sample_stats["total_return"] for f in folds]) - 1)


def test_walk_forward_refuses_windows_that_do_not_fit(recorded_bars):
    data = recorded_bars["XRP-ETH-1m.csv.gz"]
    with pytest.raises(ValueError, match="a fold needs"):
        walk_forward(SmaCross, data, parse_grid("fast=5|10"), in_sample=2000, out_of_sample=1000)
    with pytest.raises(ValueError, match="at least 2 bars"):
        walk_forward(SmaCross, data, parse_grid("fast=5|10"), in_sample=1, out_of_sample=100)


def test_walk_forward_on_short_windows_of_a_strong_trend_does_not_overflow():
    """100 one-minute bars that gain ~140% annualise past a float: the stats say infinity instead of the
    fold failing (OverflowError before). A sawtooth: each 100 bars fall 1% a bar for 10, then rise 1% for
    90."""
    block = np.r_[0.99 ** np.arange(1, 11), 0.99 ** 10 * 1.01 ** np.arange(1, 91)]
    closes = 100.0 * np.concatenate([block] * 5)
    data = toy_bars(np.r_[100.0, closes[:-1]], closes=closes)
    folds = walk_forward(SmaCross, data, parse_grid("fast=2|3,slow=5|8"), in_sample=300, out_of_sample=100,
                         metric="total_return")
    assert len(folds) == 2
    for f in folds:
        assert f.out_of_sample_stats["total_return"] > 1.0
        assert f.out_of_sample_stats["annual_return"] == math.inf
