"""Parameter sweeps and walk-forward analysis.

GRID        ``parse_grid("fast=5:50:5,slow=20:200:5")``: start:stop:step (stop included) or a|b|c lists
PATHS       a strategy that declares a vectorised form (``signals(data, **params)`` -> entry and exit
            arrays at each bar's close, long-only, all-in) is swept by a compiled simulator of the
            backtester's conventions; the tests prove it gives the event-driven backtest's trades and final
            equity for the bundled strategies. Any other strategy runs the event-driven backtest per
            combination
WHERE       in this process (vectorised sweeps: they are faster than starting workers), a local process
            pool (``workers``), or a Dask cluster (``cluster="tcp://HOST:8786"``, dask.distributed)
WALK-FWD    rolling windows: optimise on ``in_sample`` bars, test the best parameters on the next
            ``out_of_sample`` bars, step by ``out_of_sample``; the report puts in-sample and out-of-sample
            results side by side, which is what exposes an overfit strategy
"""
from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from app.engine.backtest.engine import run_backtest

from app.engine.backtest.options import BacktestConfig
from app.engine.backtest.stats import compute_stats
from app.engine.data.bars import Bars
from app.engine.strategy.params import declared_params, validate_params

Progress = Callable[[int, int], None]


def parse_grid(text: str) -> dict[str, list[Any]]:
    """``"fast=5:50:5,slow=20|50|100"`` -> ``{"fast": [5, 10, ..., 50], "slow": [20, 50, 100]}``."""
    grid: dict[str, list[Any]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, spec = part.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise ValueError(f"grid item {part!r}: write name=start:stop:step or name=a|b|c")
        name, spec = name.strip(), spec.strip()
        if name in grid:
            raise ValueError(f"grid item {part!r}: {name} is already in the grid; give each parameter once")
        if ":" in spec:
            bits = spec.split(":")
            if len(bits) not in (2, 3):
                raise ValueError(f"grid item {part!r}: a range is start:stop or start:stop:step")
            try:
                nums = [float(b) for b in bits]
            except ValueError:
                raise ValueError(f"grid item {part!r}: range bounds must be numbers") from None
            start, stop = nums[0], nums[1]
            step = nums[2] if len(nums) == 3 else 1.0
            if step <= 0 or stop < start:
                raise ValueError(f"grid item {part!r}: need step > 0 and stop >= start")
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + i * step, 12) for i in range(count)]  # 0.1:0.3:0.1 -> 0.3, not 0.30..04
            if all(float(v).is_integer() for v in values + [step]):
                values = [int(v) for v in values]
        else:
            values = [_scalar(v) for v in spec.split("|")]
        grid[name] = values
    if not grid:
        raise ValueError("empty grid")
    return grid


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


# ------------------------------------------------------------------------------------- compiled path
_SIM = None


def _simulator():
    global _SIM
    if _SIM is None:
        from app.engine.indicators import _numba_setup  # noqa: F401 - cache folder before numba loads
        from numba import njit

        @njit(cache=True, nogil=True)
        def all_in_long(open_, close, entries, exits, fee, cash0, equity, position, pnls):
            """Signal at bar i's close -> fill at bar i+1's open; buy qty = cash / (open * (1 + fee))."""
            cash = cash0
            qty = 0.0
            pending = 0
            n_trades = 0
            entry_cost = 0.0
            for i in range(open_.shape[0]):
                px = open_[i]
                if pending == 1 and qty == 0.0:
                    q = cash / (px * (1.0 + fee))
                    notional = px * q
                    f = notional * fee
                    cash = cash - notional - f
                    qty = q
                    entry_cost = notional + f
                elif pending == -1 and qty > 0.0:
                    notional = px * qty
                    f = notional * fee
                    cash = cash + notional - f
                    pnls[n_trades] = notional - f - entry_cost
                    n_trades += 1
                    qty = 0.0
                pending = 0
                if entries[i]:
                    pending = 1
                elif exits[i]:
                    pending = -1
                equity[i] = cash + qty * close[i]
                position[i] = qty
            return n_trades

        _SIM = all_in_long
    return _SIM


def vectorised_run(cls: type, data: Bars, params: dict[str, Any], cfg: BacktestConfig) -> dict[str, Any]:
    """One combination through the strategy's vectorised form and the compiled simulator."""
    entries, exits = cls.signals(data.as_dict(), **params)
    n = len(data)
    equity, position, pnls = np.empty(n), np.empty(n), np.empty(n // 2 + 1)
    k = _simulator()(data.open, data.close, np.ascontiguousarray(entries, dtype=np.bool_),
                     np.ascontiguousarray(exits, dtype=np.bool_), cfg.fee, cfg.cash, equity, position, pnls)
    trades = [{"pnl": float(p), "fees": 0.0} for p in pnls[:k]]
    stats, _dd = compute_stats(data.ts, equity, position, trades, cfg.cash, data.timeframe_ms)
    stats.pop("fees", None)
    return stats


def can_vectorise(cls: type, cfg: BacktestConfig, combos: list[dict[str, Any]] | None = None) -> bool:
    """The vectorised form gives the same result: no costs or rules it does not model, and (``combos``) no
    parameter it does not take (a strategy's ``signals_params``; e.g. a stop-loss) away from its default."""
    return (callable(getattr(cls, "signals", None)) and cfg.slippage_bps == 0 and cfg.latency_ms == 0
            and (cfg.maker_fee is None or cfg.maker_fee == cfg.fee) and cfg.live_limits is None
            and not cfg.rules  # market rules (A-shares) need the event-driven engine
            and all(_signals_cover(cls, c) for c in combos or ()))


def _signals_cover(cls: type, params: dict[str, Any]) -> bool:
    taken = getattr(cls, "signals_params", None)
    if taken is None:
        return True
    defaults = declared_params(cls)
    return all(k in taken or k == "symbol" or params[k] == defaults[k].default for k in params if k in defaults)


# ------------------------------------------------------------------------------------------- workers
@dataclass(frozen=True)
class PluginRef:
    """How a worker process finds the strategy class: the plugin's file (or entry point) and its name."""

    name: str
    origin: str
    source: str

    def load(self) -> type:
        from app.engine.strategy import plugins

        if self.source == "entry-point":
            found = plugins.load_entry_points()
        else:
            found = plugins.load_path(Path(self.origin), self.source)
        for info in found:
            if info.name == self.name and info.ok:
                return info.cls
        raise RuntimeError(f"worker could not load plugin {self.name!r} from {self.origin}")


_CLASS_CACHE: dict[PluginRef, type] = {}


def run_chunk(ref: PluginRef | type, data: Bars, combos: list[dict[str, Any]], cfg: BacktestConfig,
              vectorise: bool) -> list[dict[str, Any]]:
    """Run ``combos`` (already-validated parameter dicts); one stats row per combination."""
    if isinstance(ref, PluginRef):
        cls = _CLASS_CACHE.get(ref) or _CLASS_CACHE.setdefault(ref, ref.load())
    else:
        cls = ref
    rows = []
    for params in combos:
        try:
            if vectorise:
                stats = vectorised_run(cls, data, params, cfg)
            else:
                res = run_backtest(cls, params, data, cfg)
                stats = {k: v for k, v in res.stats.items() if k not in ("elapsed_s", "events_per_s")}
            rows.append({"params": params, "stats": stats, "error": ""})
        except Exception as exc:  # noqa: BLE001 - one bad combination must not end the sweep
            rows.append({"params": params, "stats": {}, "error": f"{type(exc).__name__}: {exc}"})
    return rows


@dataclass
class SweepResult:
    grid: dict[str, list[Any]]
    rows: list[dict[str, Any]]
    metric: str
    mode: str  # "vectorised" or "event-driven"
    where: str  # "in-process", "processes:N", "dask:ADDRESS"
    elapsed_s: float = 0.0
    best: dict[str, Any] = field(default_factory=dict)

    def heatmap(self, x: str, y: str) -> tuple[list[Any], list[Any], np.ndarray]:
        xs, ys = self.grid[x], self.grid[y]
        z = np.full((len(ys), len(xs)), np.nan)
        for row in self.rows:
            v = row["stats"].get(self.metric, math.nan)
            try:
                z[ys.index(row["params"][y]), xs.index(row["params"][x])] = v
            except (KeyError, ValueError):
                pass
        return xs, ys, z

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "mode": self.mode, "where": self.where, "elapsed_s": self.elapsed_s,
                "best": self.best, "rows": self.rows}


def _score(row: dict[str, Any], metric: str) -> float:
    v = row["stats"].get(metric, math.nan) if not row["error"] else math.nan
    return v if isinstance(v, (int, float)) and math.isfinite(v) else -math.inf


def run_sweep(cls: type, data: Bars, grid: dict[str, list[Any]], cfg: BacktestConfig | None = None,
              metric: str = "sharpe", workers: int | None = None, cluster: str | None = None,
              ref: PluginRef | None = None, progress: Progress | None = None,
              fixed: dict[str, Any] | None = None) -> SweepResult:
    import time

    cfg = cfg or BacktestConfig()
    combos = [validate_params(cls, {**(fixed or {}), **c}) for c in combinations(grid)]
    for c in combos:
        c.pop("symbol", None)
    vectorise = can_vectorise(cls, cfg, combos)
    t0 = time.perf_counter()
    total = len(combos)
    done = 0
    rows: list[dict[str, Any]] = []
    if cluster is None and (workers is None or workers <= 1) and (vectorise or workers == 1):
        where = "in-process"
        step = max(1, total // 100)
        for i in range(0, total, step):
            rows += run_chunk(cls, data, combos[i:i + step], cfg, vectorise)
            done = len(rows)
            if progress:
                progress(done, total)
    else:
        target = ref if ref is not None else cls
        n_chunks = max(1, min(total, (workers or os.cpu_count() or 1) * 4))
        chunks = [combos[i::n_chunks] for i in range(n_chunks)]
        if cluster:
            from dask.distributed import Client, as_completed as dask_completed

            where = f"dask:{cluster}"
            with Client(cluster) as client:
                data_f = client.scatter(data, broadcast=True)
                futures = [client.submit(run_chunk, target, data_f, ch, cfg, vectorise, pure=False)
                           for ch in chunks]
                for fut in dask_completed(futures):
                    part = fut.result()
                    rows += part
                    if progress:
                        progress(len(rows), total)
        else:
            n = workers or os.cpu_count() or 1
            where = f"processes:{n}"
            with ProcessPoolExecutor(max_workers=n) as pool:
                futures = [pool.submit(run_chunk, target, data, ch, cfg, vectorise) for ch in chunks]
                for fut in as_completed(futures):
                    rows += fut.result()
                    if progress:
                        progress(len(rows), total)
    order = {tuple(sorted(c.items())): i for i, c in enumerate(combos)}
    rows.sort(key=lambda r: order.get(tuple(sorted(r["params"].items())), 0))
    best = max(rows, key=lambda r: _score(r, metric)) if rows else {}
    return SweepResult(grid, rows, metric, "vectorised" if vectorise else "event-driven", where,
                       time.perf_counter() - t0, best)


@dataclass
class WalkForwardFold:
    in_sample: tuple[int, int]  # bar index range [start, stop)
    out_of_sample: tuple[int, int]
    best_params: dict[str, Any]
    in_sample_stats: dict[str, Any]
    out_of_sample_stats: dict[str, Any]


def walk_forward(cls: type, data: Bars, grid: dict[str, list[Any]], in_sample: int, out_of_sample: int,
                 cfg: BacktestConfig | None = None, metric: str = "sharpe", workers: int | None = None,
                 cluster: str | None = None, ref: PluginRef | None = None,
                 progress: Progress | None = None) -> list[WalkForwardFold]:
    cfg = cfg or BacktestConfig()
    if in_sample < 2 or out_of_sample < 2:
        raise ValueError("in-sample and out-of-sample windows need at least 2 bars each")
    if in_sample + out_of_sample > len(data):
        raise ValueError(f"the data has {len(data)} bars; a fold needs {in_sample} + {out_of_sample}")
    starts = list(range(0, len(data) - in_sample - out_of_sample + 1, out_of_sample))
    folds = []
    for k, start in enumerate(starts):
        is_rng = (start, start + in_sample)
        oos_rng = (start + in_sample, start + in_sample + out_of_sample)
        sweep = run_sweep(cls, data.slice(*is_rng), grid, cfg, metric, workers, cluster, ref)
        best = sweep.best.get("params", {})
        oos = _score_window(cls, data.slice(*oos_rng), best, cfg)
        folds.append(WalkForwardFold(is_rng, oos_rng, best, sweep.best.get("stats", {}), oos))
        if progress:
            progress(k + 1, len(starts))
    return folds


def _score_window(cls: type, data: Bars, params: dict[str, Any], cfg: BacktestConfig) -> dict[str, Any]:
    """The out-of-sample run starts flat, with its indicators warming up inside the window."""
    if can_vectorise(cls, cfg, [params]):
        return vectorised_run(cls, data, params, cfg)
    res = run_backtest(cls, params, data, cfg)
    return {k: v for k, v in res.stats.items() if k not in ("elapsed_s", "events_per_s")}


def summarize_folds(folds: Iterable[WalkForwardFold], metric: str) -> dict[str, Any]:
    folds = list(folds)
    is_m = [f.in_sample_stats.get(metric, math.nan) for f in folds]
    oos_m = [f.out_of_sample_stats.get(metric, math.nan) for f in folds]
    oos_ret = [f.out_of_sample_stats.get("total_return", 0.0) for f in folds]
    compounded = float(np.prod([1.0 + r for r in oos_ret]) - 1.0) if folds else math.nan
    return {"folds": len(folds), f"in_sample_{metric}_mean": float(np.nanmean(is_m)) if folds else math.nan,
            f"out_of_sample_{metric}_mean": float(np.nanmean(oos_m)) if folds else math.nan,
            "out_of_sample_return_compounded": compounded}
