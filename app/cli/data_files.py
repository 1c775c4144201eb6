"""``--data FILE`` and how its time is read, shared by ``backtest``, ``sweep`` and ``ml train``.

    --data FILE          a bar file: CSV (.gz, .zip) or Parquet; Kestrel, Yahoo Finance, Binance kline dump,
                         TradingView, MetaTrader 5, or any file with open/high/low/close/volume columns
    --time-unit UNIT     s, ms, us, ns (epoch numbers) or iso (text): instead of detecting it
    --time-format FMT    strptime codes, e.g. '%d/%m/%Y %H:%M', for times no rule can read unaided
    --tz ZONE            the IANA zone of times written without an offset (default UTC)

What was read (layout, time unit detected, zone, which close and volume) goes to stderr before the run, so
a person sees it and stdout keeps only the result.
"""
from __future__ import annotations

import argparse
import sys

DATA_HELP = ("bar file: CSV (or .csv.gz, .zip) or Parquet; Kestrel's timestamp (ms) CSV, Yahoo Finance, a "
             "Binance kline dump, TradingView, MetaTrader 5, or any file with time, open, high, low, close, "
             "volume columns (any case); the layout and the time's unit are detected and said on stderr")


#: app.engine.data.bar_times.TIME_UNITS (not imported here: building the parser stays cheap)
TIME_UNITS = ("s", "ms", "us", "ns", "iso")


def add_time_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-unit", choices=TIME_UNITS, default=None,
                   help="the time column's unit: epoch s, ms, us or ns, or iso (text); default: detected from "
                        "the values (and said)")
    p.add_argument("--time-format", default=None, metavar="FMT",
                   help="the time column's form in strptime codes, e.g. '%%d/%%m/%%Y' where day and month "
                        "cannot be told apart")
    p.add_argument("--tz", default=None, metavar="ZONE",
                   help="IANA time zone of times written without an offset, e.g. Asia/Shanghai (default UTC); "
                        "times with an offset are converted to UTC")


def time_options_given(args: argparse.Namespace) -> list[str]:
    return [flag for flag, value in (("--time-unit", args.time_unit), ("--time-format", args.time_format),
                                     ("--tz", args.tz)) if value is not None]


def load_bar_file(args: argparse.Namespace, symbol: str | None = None):
    """The bars of ``args.data`` read with the time options given; what was detected is said on stderr.
    Raises ``DataError`` (a ``ValueError``) with the file's problem."""
    from app.engine.data.bar_files import import_bars

    imported = import_bars(args.data, symbol, time_unit=args.time_unit, tz=args.tz, time_format=args.time_format)
    for line in imported.report.lines():
        print(line, file=sys.stderr)
    return imported.bars
