"""The ``kestrel`` command line. Heavy libraries (Qt, sklearn, ccxt, akshare) load only when a command needs them.

    kestrel [--profile DIR]                   open the terminal window
    kestrel --self-test [--profile DIR]       drive the real window offscreen; exit 0 only if every step works
    kestrel run --headless [--duration S]     the same engine, no Qt imported
        [--venue ID [--venue-config F] [--symbols A,B] [--record] [--approve-reconcile]]   a real venue
        [--venue ID --paper [--symbols A,B]]  paper trading on that exchange's live market, no keys
        [--replay DB [--session N] [--speed X|max]]   recorded market data through the sim venue
        [--strategy NAME[:k=v,...]] ...       start strategies (saved instances or plugins) headless
    kestrel keys set|delete|list [VENUE]       API keys in the OS keyring (secret read from stdin)
    kestrel risk status|halt|reset|limits|set the kill switch and limits, from any terminal
    kestrel alerts add|list|remove|test       alert rules (a running terminal arms them within 1 s); channels
    kestrel news fetch|list|score|sources     news: poll once, list what is stored, score a text, the sources
    kestrel audit verify|checkpoint           check the hash-chained audit trail; export a signed checkpoint
    kestrel plugins list                      strategy plugins found, broken ones with their error
    kestrel backtest --strategy N --data F    event-driven backtest of a plugin on a bar file, or on stored bars:
        (or --venue V --symbol S --timeframe TF [--since D] [--until D] instead of --data: backtest, sweep, train)
    kestrel sweep --strategy N --data F --grid parameter sweep / walk-forward (process pool or Dask)
    kestrel ml train|list|show                train a model on bars and register it; list the registry
    kestrel data download|list|import|export|delete   the profile's bar store (app/cli/data.py)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


#: ``app.engine.indicators.background.CHILD_FLAG`` (not imported here: the CLI's start stays cheap).
WARM_INDICATORS_FLAG = "--warm-indicator-cache"


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", type=Path, default=argparse.SUPPRESS,
                        help="profile folder: database, settings, logs (default: the per-user data folder)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="kestrel", parents=[common],
                                     description="Kestrel trading terminal (simulated exchange by default).")
    parser.add_argument("--self-test", action="store_true",
                        help="start the real window offscreen, drive feed -> chart -> order -> fill -> position -> "
                             "kill switch -> reset; exit 0 only if every step worked")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", parents=[common], help="run the engine")
    run.add_argument("--headless", action="store_true", help="no window: Qt is not imported at all")
    run.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    run.add_argument("--venue", default=None, help="also run this venue: a ccxt exchange id (or a name from "
                     "<profile>/venues/), or 'akshare' for China A-shares")
    run.add_argument("--venue-config", type=Path, default=None, help="venue config JSON (ccxt options, urls)")
    run.add_argument("--symbols", default=None, help="comma-separated symbols, e.g. BTC/USDT,ETH/USDT")
    run.add_argument("--paper", action="store_true",
                     help="with --venue (a ccxt exchange): paper trading on its live market, no keys; "
                          "the venue is named ID-paper, its live book and trades fill paper orders "
                          "(docs/VENUES.md)")
    run.add_argument("--record", action="store_true", help="write the feeds' data to the profile's database")
    run.add_argument("--approve-reconcile", action="store_true",
                     help="apply the venue/journal differences found on connect without asking")
    run.add_argument("--replay", type=Path, default=None, help="replay market data recorded in this database")
    run.add_argument("--session", type=int, default=None, help="recording session to replay (default: last)")
    run.add_argument("--speed", default="1", help="replay speed: a factor (1 = real time) or 'max'")
    run.add_argument("--strategy", action="append", default=[], metavar="NAME[:k=v,...]",
                     help="start this strategy (a saved instance's name, or a plugin's: `kestrel plugins list`) "
                          "with these parameters; repeatable, e.g. --strategy sma_cross:fast=5,slow=20")
    from app.cli.alerts import add_alert_commands
    from app.cli.audit import add_audit_commands
    from app.cli.data import add_data_commands
    from app.cli.keys import add_keys_commands
    from app.cli.ml import add_ml_commands
    from app.cli.news import add_news_commands
    from app.cli.profile import add_profile_commands
    from app.cli.risk import add_risk_commands
    from app.cli.strategies import add_strategy_commands

    add_risk_commands(sub, common)
    add_alert_commands(sub, common)
    add_audit_commands(sub, common)
    add_strategy_commands(sub, common)
    add_ml_commands(sub, common)
    add_news_commands(sub, common)
    add_keys_commands(sub, common)
    add_data_commands(sub, common)
    add_profile_commands(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # whoever read our output stopped early (`kestrel plugins list | head -1`): not a failure of ours, and
        # no traceback; stdout goes to /dev/null so the interpreter's last flush does not complain either
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == [WARM_INDICATORS_FLAG]:  # hidden: a frozen build's indicator warm-up child (no ``python -m``)
        from app.engine.indicators.background import main as warm_indicator_cache

        return warm_indicator_cache()
    args = build_parser().parse_args(argv)
    from app.config import default_profile_dir

    profile: Path = getattr(args, "profile", None) or default_profile_dir()
    if args.command == "audit":
        from app.cli.audit import run_audit_command

        return run_audit_command(args, profile)
    if args.command in ("plugins", "backtest", "sweep"):
        from app.cli.strategies import main_strategy_command

        return main_strategy_command(args, profile)
    if args.command == "ml":
        from app.cli.ml import main_ml_command

        return main_ml_command(args, profile)
    if args.command == "data":
        from app.cli.data import main_data_command

        return main_data_command(args, profile)
    if args.command == "keys":
        from app.cli.keys import main_keys

        return main_keys(args, profile)
    if args.command == "profile":
        from app.cli.profile import main_profile

        return main_profile(args, profile)
    if args.command == "news":
        from app.cli.news import main_news

        return main_news(args, profile)
    if args.command == "alerts":
        from app.cli.alerts import main_alerts

        return main_alerts(args, profile)
    if args.command == "risk":
        from app.cli.risk import main_risk

        return main_risk(args, profile)
    if args.command == "run":
        if not args.headless:
            print("kestrel run: only --headless is supported; run `kestrel` for the window.", file=sys.stderr)
            return 2
        from app.cli.run import run_headless

        return run_headless(profile, args.duration, args)
    if args.self_test:
        from app.cli.selftest.runner import run_self_test

        return run_self_test(getattr(args, "profile", None))
    from app.bootstrap import launch_gui

    return launch_gui(profile)


if __name__ == "__main__":
    sys.exit(main())
