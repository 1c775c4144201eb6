"""Look-ahead check of a strategy (the features' twin is ``ml.splits.check_feature_lookahead``: the same idea,
a result at bar i must not change when the data after i is cut): run a backtest on all the data and on the data cut short at several points, and compare
what each run did before its cut. A strategy that peeks at bars it has not been shown acts differently when
they do not exist."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from app.engine.backtest.engine import BacktestConfig, BacktestError, run_backtest
from app.engine.backtest.stats import BacktestResult
from app.engine.data.bar_files import TradeData
from app.engine.data.bars import Bars

DEFAULT_CUTS = (0.2, 0.35, 0.5, 0.65, 0.8, 0.95)


def check_strategy_lookahead(cls: type, params: dict[str, Any], data: Bars | TradeData,
                             cuts: Sequence[float | int] = DEFAULT_CUTS, config: BacktestConfig | None = None,
                             timeframe_ms: int | None = None,
                             prepare: Callable[[Bars | TradeData], None] | None = None) -> list[str]:
    """Look for look-ahead: run the backtest on all of ``data`` and on ``data`` cut short at each of ``cuts``
    (fractions of its length, or bar/print counts), and compare what each run did before its cut — orders
    sent (side, type, quantity, price, in order) and fills (time, side, price, quantity, fee). A strategy
    that uses bars it has not been shown yet acts differently when they do not exist. Returns the
    differences found, one line each; an empty list means no look-ahead was seen.

    For a strategy with a vectorised ``signals`` form (what sweeps run), the signals computed on each cut
    are also compared with those computed on all the data.

    What it can see: future data that reaches the strategy through the run's data. A peek shows up when it
    changes a decision at the last bar before a cut, so more cuts find more. A strategy that reads data of
    its own (a file, a module-level array) is invisible to any replay unless ``prepare`` points it at each
    run's data: ``prepare(d)`` is called with the data of every run just before it starts.
    """
    config = config or BacktestConfig()
    n = len(data)
    tf = timeframe_ms or 60_000
    ks = sorted({k for k in (_cut_index(c, n, data, tf) for c in cuts) if 2 <= k < n})
    if not ks:
        raise ValueError(f"no usable cut among {list(cuts)} for {n} bars: use fractions in (0, 1) or counts "
                         f"between 2 and {n - 1}")

    def run(d: Bars | TradeData) -> BacktestResult:
        if prepare is not None:
            prepare(d)
        return run_backtest(cls, params, d, config, timeframe_ms)

    full = run(data)  # a strategy that cannot run on all the data is an error, not a finding
    problems: list[str] = []
    what = "print" if isinstance(data, TradeData) else "bar"
    for k in ks:
        where = f"cut after {what} {k} of {n} (ts {int(data.ts[k - 1])})"
        try:
            part = run(_truncate(data, k))
        except BacktestError as exc:
            problems.append(f"{where}: the run on the cut data failed but the full run did not: {exc}")
            continue
        for kind, keys in (("order", _order_key), ("fill", _fill_key)):
            before = [keys(r) for r in (full.orders if kind == "order" else full.fills) if r["step"] < 2 * k]
            got = [keys(r) for r in (part.orders if kind == "order" else part.fills)]
            if before != got:
                problems.append(f"{where}: {_first_difference(kind, before, got)}")
    if prepare is not None:
        prepare(data)
    if isinstance(data, Bars) and callable(getattr(cls, "signals", None)):
        problems += _check_signals(cls, params, data, ks)
    return problems


def _cut_index(cut: float | int, n: int, data: Bars | TradeData, tf: int) -> int:
    k = int(cut * n) if isinstance(cut, float) and 0.0 < cut < 1.0 else int(cut)
    if isinstance(data, TradeData) and 0 < k < n:  # cut where a bar starts: half a bar is another bar
        bucket = data.ts - data.ts % tf
        starts = np.flatnonzero(bucket[1:] != bucket[:-1]) + 1
        j = int(np.searchsorted(starts, k))
        k = int(starts[j]) if j < len(starts) else n
    return k


def _truncate(data: Bars | TradeData, k: int) -> Bars | TradeData:
    if isinstance(data, TradeData):
        return TradeData(data.ts[:k], data.price[:k], data.size[:k], data.symbol)
    return data.slice(0, k)


def _order_key(o: dict[str, Any]) -> tuple:
    return o["step"], o["side"], o["type"], o["qty"], o["price"]


def _fill_key(f: dict[str, Any]) -> tuple:
    return f["step"], f["time"], f["side"], f["price"], f["qty"], f["fee"]


def _first_difference(kind: str, full: list[tuple], cut: list[tuple]) -> str:
    for j, (a, b) in enumerate(zip(full, cut)):
        if a != b:
            return f"{kind} #{j + 1} differs: {a} with all the data, {b} with the data cut (step, side, ...)"
    if len(full) > len(cut):
        return (f"with all the data the strategy made {len(full)} {kind}s before the cut, with the data cut "
                f"{len(cut)}; the next was {full[len(cut)]}")
    return (f"with the data cut the strategy made {len(cut)} {kind}s, with all the data {len(full)} before "
            f"the cut; the extra one was {cut[len(full)]}")


def _check_signals(cls: type, params: dict[str, Any], data: Bars, ks: list[int]) -> list[str]:
    from app.engine.strategy.params import validate_params

    p = validate_params(cls, params)
    p.pop("symbol", None)
    entries, exits = (np.asarray(a, dtype=bool) for a in cls.signals(data.as_dict(), **p))
    problems = []
    for k in ks:
        try:
            e, x = (np.asarray(a, dtype=bool) for a in cls.signals(data.slice(0, k).as_dict(), **p))
        except Exception as exc:  # noqa: BLE001 - plugin code
            problems.append(f"signals() on the first {k} bars raised {type(exc).__name__}: {exc}")
            continue
        bad = np.flatnonzero((e[:k] != entries[:k]) | (x[:k] != exits[:k])) if len(e) == k == len(x) else [0]
        if len(bad):
            problems.append(f"signals() at bar {int(bad[0])} differ when the data ends at bar {k}: the "
                            f"vectorised form reads later bars")
    return problems
