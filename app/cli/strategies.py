"""``kestrel plugins list``, ``kestrel backtest`` and ``kestrel sweep``: strategies from the command line.

    kestrel plugins list [--profile DIR]
    kestrel backtest --strategy NAME BARS [--params k=v,...] [--fee 0.001] [--cash 10000]
                     [--slippage-bps 0] [--latency-ms 0] [--trail-on close|extremes]
                     [--json OUT] [--plot OUT.png] [--check-lookahead]
    kestrel backtest --strategy NAME --data TRADES.csv --ticks [--timeframe 60|1m]   tick by tick, into bars
    kestrel sweep --strategy NAME BARS --grid fast=5:50:5,slow=20:200:5 [--metric sharpe]
                  [--walk-forward IN,OUT] [--workers N] [--cluster tcp://HOST:8786] [--json OUT] [--plot OUT.png]
    BARS: --data FILE.csv [--time-unit s|ms|us|ns|iso] [--time-format FMT] [--tz ZONE] (data_files.py), or a
          series of the profile's bar store: --venue NAME --symbol S --timeframe TF [--since DATE] [--until DATE]
          (bar_source.py; what was read and the gaps inside it are said on stderr)

Exit codes: 0 done, 2 bad input (the message says what to fix), 1 the strategy failed while running (or
``--check-lookahead`` found look-ahead).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def add_strategy_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from app.cli.bar_source import add_source_options
    from app.cli.data_files import DATA_HELP

    plugins = sub.add_parser("plugins", parents=[common], help="strategy plugins")
    psub = plugins.add_subparsers(dest="plugins_command", required=True)
    psub.add_parser("list", parents=[common], help="every plugin found, with its error if it cannot load")

    def shared(p: argparse.ArgumentParser) -> None:
        p.add_argument("--strategy", required=True, help="plugin strategy name (see `kestrel plugins list`)")
        add_source_options(p, DATA_HELP + "; with --ticks: a CSV of timestamp (ms), price, amount",
                           "the bar length: seconds (60, the default with --ticks) or a number and a unit (1m, "
                           "4h, 1d). With --ticks: the size of the bars the trades are put into; with --venue: "
                           "the stored series' timeframe")
        p.add_argument("--params", default="", help="k=v,... strategy parameters (defaults otherwise)")
        p.add_argument("--fee", type=float, default=0.001, help="fee rate per fill, fraction of notional")
        p.add_argument("--cash", type=float, default=10_000.0, help="starting cash, quote currency")
        p.add_argument("--slippage-bps", type=float, default=0.0, help="market fills move this much against you")
        p.add_argument("--latency-ms", type=int, default=0, help="order arrival delay")
        p.add_argument("--trail-on", choices=("close", "extremes"), default="close",
                       help="a trailing stop follows each bar's close (the default) or its high/low "
                            "(tighter), from the next bar on (docs/STRATEGIES.md, 'Stops in backtests')")
        p.add_argument("--ticks", action="store_true", help="--data is a trade file: tick-by-tick backtest")
        p.add_argument("--rules", choices=("none", "ashare"), default="none",
                       help="market rules: 'ashare' = the data is a China A-share (its symbol from the file "
                            "name, e.g. 600519.SH-1d.csv): sessions, T+1, lots, price limits by board, and "
                            "A-share fees with stamp duty instead of --fee")
        p.add_argument("--live-limits", action="store_true",
                       help="apply the profile's risk limits as they are (default: size and loss limits lifted)")
        p.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
        p.add_argument("--plot", type=Path, default=None, help="write a PNG plot here")

    bt = sub.add_parser("backtest", parents=[common], help="event-driven backtest of a strategy plugin")
    shared(bt)
    bt.add_argument("--check-lookahead", action="store_true",
                    help="also rerun on the data cut short at several points and compare: exit 1 if the "
                         "strategy acts differently before a cut (it reads bars it has not been shown yet)")
    sw = sub.add_parser("sweep", parents=[common], help="parameter sweep (and walk-forward) of a strategy")
    shared(sw)
    sw.add_argument("--grid", required=True, help="name=start:stop:step or name=a|b|c, comma-separated")
    sw.add_argument("--metric", default="sharpe", help="what to maximise (a stats key, e.g. sharpe, total_return)")
    sw.add_argument("--walk-forward", default=None, metavar="IN,OUT",
                    help="rolling walk-forward: optimise on IN bars, test on the next OUT bars")
    sw.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores "
                                                               "for event-driven sweeps; in-process otherwise)")
    sw.add_argument("--cluster", default=None, help="dask.distributed scheduler address, e.g. tcp://HOST:8786")


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        return _clean(value.item())
    return value




def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.6g}" if math.isfinite(v) else str(v)
    return str(v)


def check_run_options(args: argparse.Namespace) -> None:
    """Every number and output of a backtest or sweep, before any data is read or any bar is run:
    ``ValueError`` names the option and its allowed range (a NaN cash would run to the end and report NaN;
    a missing ``--json`` folder would fail only once the run finished)."""
    from app.cli.bar_source import timeframe_ms
    from app.cli.output import check_output_file
    from app.config import check_number

    check_number("--fee", args.fee, ge=0, lt=1)
    check_number("--cash", args.cash, gt=0)
    check_number("--slippage-bps", args.slippage_bps, ge=0, le=10_000)
    check_number("--latency-ms", args.latency_ms, int, ge=0)
    if args.timeframe is not None:
        timeframe_ms(args.timeframe)
    if getattr(args, "workers", None) is not None:
        check_number("--workers", args.workers, int, ge=1)
    check_output_file(args.json, "--json")
    check_output_file(args.plot, "--plot")


def main_strategy_command(args: argparse.Namespace, profile: Path) -> int:
    from app.engine.strategy.plugins import discover

    infos = discover(profile)
    if args.command == "plugins":
        return _list(infos)
    by_name = {i.name: i for i in infos if i.ok}
    info = by_name.get(args.strategy)
    if info is None:
        broken = [i for i in infos if i.name == args.strategy]
        why = broken[0].error if broken else f"not found; available: {', '.join(sorted(by_name)) or 'none'}"
        print(f"kestrel {args.command}: strategy {args.strategy!r}: {why}", file=sys.stderr)
        return 2
    from app.cli.bar_source import check_source, read_source, timeframe_ms
    from app.engine.backtest.engine import BacktestError, run_backtest
    from app.engine.backtest.options import BacktestConfig
    from app.engine.data.bar_files import DataError
    from app.engine.data.bar_store import BarStoreError
    from app.engine.strategy.params import ParamError, parse_params, validate_params

    try:
        params = parse_params(args.params)
        validate_params(info.cls, params)
        check_run_options(args)
        check_source(args)
        if args.ticks:
            data, name = _trades(args), args.data.name
            tick_bar_ms = timeframe_ms(args.timeframe or "60")
        else:
            source = read_source(args, profile)
            data, name, tick_bar_ms = source.bars, source.name, None
        limits = None
        if args.live_limits:
            from app.config import load_settings

            limits = load_settings(profile).risk
        cfg = BacktestConfig(cash=args.cash, fee=args.fee, slippage_bps=args.slippage_bps,
                             latency_ms=args.latency_ms, live_limits=limits, model_db=str(profile / "kestrel.db"),
                             rules="" if args.rules == "none" else args.rules, trail_on=args.trail_on)
    except (ParamError, DataError, ValueError, BarStoreError) as exc:
        print(f"kestrel {args.command}: {exc}", file=sys.stderr)
        return 2
    if args.command == "backtest":
        try:
            result = run_backtest(info.cls, params, data, cfg, tick_bar_ms)
        except BacktestError as exc:
            print(f"kestrel backtest: {exc}", file=sys.stderr)
            return 1
        s = result.stats
        print(f"{info.name} on {name}: {s['bars']} bars, {s['trades']} trades, "
              f"{len(data) / s['elapsed_s']:,.0f} events/s")
        for key in ("total_return", "annual_return", "sharpe", "sortino", "calmar", "max_drawdown",
                    "max_drawdown_bars", "win_rate", "profit_factor", "expectancy", "exposure", "fees",
                    "orders_denied"):
            print(f"  {key:<18} {_fmt(s[key])}")
        print(f"  {'equity_final':<18} {_fmt(result.equity_final)}")
        if s.get("stopped_early"):
            print(f"  the strategy stopped before the end of the data: {s['stopped_early']}")
        if args.json:
            args.json.write_text(json.dumps(_clean(result.to_json()), indent=1))
        if args.plot:
            from app.widgets.panels.backtest_report import save_equity_plot

            save_equity_plot(result, args.plot, f"{info.name} {name}")
        if args.check_lookahead:
            return _check_lookahead(info, params, data, cfg, tick_bar_ms)
        return 0
    return _sweep(args, info, data, params, cfg)


def _trades(args: argparse.Namespace):
    from app.cli.data_files import time_options_given
    from app.engine.data.bar_files import load_trades

    given = time_options_given(args)
    if given:
        raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to bar files; a "
                         f"--ticks trade file's timestamp is ms since 1970, UTC")
    return load_trades(args.data)


def _check_lookahead(info, params: dict[str, str], data, cfg, timeframe_ms: int | None) -> int:
    from app.engine.backtest.engine import BacktestError
    from app.engine.backtest.lookahead import DEFAULT_CUTS, check_strategy_lookahead

    try:
        problems = check_strategy_lookahead(info.cls, params, data, config=cfg, timeframe_ms=timeframe_ms)
    except BacktestError as exc:
        print(f"kestrel backtest: look-ahead check: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # too little data to cut
        print(f"kestrel backtest: look-ahead check: {exc}", file=sys.stderr)
        return 2
    cuts = ", ".join(f"{c:.0%}" for c in DEFAULT_CUTS)
    if not problems:
        print(f"look-ahead check: clean (the runs cut at {cuts} of the data did what the full run did before "
              f"each cut)")
        return 0
    print(f"look-ahead check: LOOK-AHEAD FOUND — {info.name} acts differently when later data is missing:")
    for line in problems:
        print(f"  {line}")
    return 1


def _sweep(args: argparse.Namespace, info, data, params: dict[str, str], cfg) -> int:
    from app.engine.backtest.sweep import PluginRef, parse_grid, run_sweep, summarize_folds, walk_forward

    if args.ticks:
        print("kestrel sweep: --ticks is not supported for sweeps; resample to bars first", file=sys.stderr)
        return 2
    try:
        grid = parse_grid(args.grid)
        ref = PluginRef(info.name, info.origin, info.source)
        if args.walk_forward:
            try:
                is_n, oos_n = (int(x) for x in args.walk_forward.split(","))
            except ValueError:
                raise ValueError("--walk-forward takes IN,OUT bar counts, e.g. 5000,1000") from None
            folds = walk_forward(info.cls, data, grid, is_n, oos_n, cfg, args.metric, args.workers, args.cluster,
                                 ref, _progress)
            summary = summarize_folds(folds, args.metric)
            for f in folds:
                print(f"  bars {f.in_sample[0]}-{f.in_sample[1]} -> {f.out_of_sample[0]}-{f.out_of_sample[1]}: "
                      f"best {f.best_params}  in-sample {args.metric} {_fmt(f.in_sample_stats.get(args.metric))}"
                      f"  out-of-sample {_fmt(f.out_of_sample_stats.get(args.metric))}")
            for k, v in summary.items():
                print(f"  {k:<36} {_fmt(v)}")
            if args.json:
                args.json.write_text(json.dumps(_clean({"summary": summary, "folds": [f.__dict__ for f in folds]}),
                                                indent=1))
            return 0
        result = run_sweep(info.cls, data, grid, cfg, args.metric, args.workers, args.cluster, ref, _progress,
                           fixed=params)
    except (ValueError, OSError) as exc:
        print(f"kestrel sweep: {exc}", file=sys.stderr)
        return 2
    errors = [r for r in result.rows if r["error"]]
    print(f"{len(result.rows)} combinations ({result.mode}, {result.where}) in {result.elapsed_s:.2f} s"
          + (f"; {len(errors)} failed, first: {errors[0]['error']}" if errors else ""))
    if result.best:
        print(f"best {args.metric}: {_fmt(result.best['stats'].get(args.metric))} at {result.best['params']}")
    if args.json:
        args.json.write_text(json.dumps(_clean(result.to_json()), indent=1))
    if args.plot:
        names = list(grid)
        if len(names) >= 2:
            from app.widgets.panels.backtest_report import save_heatmap

            save_heatmap(result, names[0], names[1], args.plot)
        else:
            print("kestrel sweep: --plot needs a grid over two parameters", file=sys.stderr)
    return 0


def _list(infos) -> int:
    if not infos:
        print("no plugins found")
        return 0
    for i in infos:
        status = "ok" if i.ok else f"BROKEN: {i.error}"
        print(f"{i.name:<22} {i.source:<12} {status}")
        print(f"    {i.origin}")
        if i.ok:
            from app.engine.strategy.params import declared_params

            decl = declared_params(i.cls)
            print("    params: " + ", ".join(f"{k}={p.default!r}" for k, p in decl.items()))
    return 0
