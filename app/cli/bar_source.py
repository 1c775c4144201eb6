"""Where the bars of ``backtest``, ``sweep`` and ``ml train`` come from: a file, or the profile's bar store.

    --data FILE                                        a bar file (data_files.py: how its time is read)
    --venue NAME --symbol S --timeframe TF [--since DATE] [--until DATE]    a series of the bar store

Exactly one of the two. TF is a number and a unit (1m, 4h, 1d) or, as ``backtest --ticks`` always took it, a
plain number of seconds (60). DATE is ISO 8601 (UTC when it has no offset) or epoch ms, as ``kestrel data``
reads it. What was read (the series, its first and last bar, the count, the holes inside) goes to stderr.
Building the parser imports nothing heavy; reading does.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cli.data_files import DATA_HELP, add_time_options, time_options_given

TIMEFRAME_HELP = ("the bar length, a number and a unit (1m, 15m, 4h, 1d) or a plain number of seconds (60): "
                  "with --venue, the stored series' timeframe")


def add_source_options(p: argparse.ArgumentParser, data_help: str = DATA_HELP,
                       timeframe_help: str = TIMEFRAME_HELP) -> None:
    p.add_argument("--data", type=Path, default=None, metavar="FILE", help=data_help + "; or give a stored series with --venue")
    add_time_options(p)
    p.add_argument("--venue", default=None, metavar="NAME",
                   help="instead of --data: a series of the profile's bar store (kestrel data list), of this "
                        "venue; with --symbol and --timeframe")
    p.add_argument("--symbol", default=None, metavar="S", help="with --venue: the stored series' symbol, e.g. "
                                                              "BTC/USDT; or an instrument id, BTC/USDT@binance, "
                                                              "which names the venue too")
    p.add_argument("--timeframe", default=None, metavar="TF", help=timeframe_help)
    p.add_argument("--since", default=None, metavar="DATE", help="with --venue: the first bar's time, ISO 8601 (UTC unless it "
                                                 "says) or ms (default: the series' first bar)")
    p.add_argument("--until", default=None, metavar="DATE", help="with --venue: bars before this time (default: to the last)")


def timeframe_ms(text: str) -> int:
    """ "60" or "0.5" (seconds) or "1m", "4h", "1d" -> ms; ``ValueError`` saying both forms otherwise."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or seconds < 0.001:
            raise ValueError(f"--timeframe {text!r}: a number of seconds must be at least 0.001")
        return int(round(seconds * 1000))
    if not re.fullmatch(r"\s*\d+\s*[smhdw]\s*", text):
        raise ValueError(f"--timeframe {text!r}: write seconds (60) or a number and a unit (1m, 15m, 4h, 1d; "
                         f"units s m h d w)")
    from app.engine.data.resample import parse_timeframe

    return parse_timeframe(text)


def check_source(args: argparse.Namespace) -> None:
    """The source options make sense together, before anything is read: exactly one of --data and
    --venue, --venue with --symbol and --timeframe, each option with the source it belongs to. A --symbol
    that is an instrument id (BTC/USDT@binance) names the venue: ``args`` gets venue and symbol apart."""
    from app.engine.core.instruments import split_id

    native, venue = split_id(args.symbol) if args.symbol else (None, None)
    if venue is not None:
        if args.venue not in (None, venue):
            raise ValueError(f"--symbol {args.symbol} is on {venue}, --venue says {args.venue}: give one venue")
        args.venue, args.symbol = venue, native
    stored = [flag for flag, value in (("--symbol", args.symbol), ("--since", args.since),
                                       ("--until", args.until)) if value is not None]
    if args.data is not None and args.venue is not None:
        raise ValueError("--data FILE and --venue NAME are two sources of bars: give one")
    if args.data is None and args.venue is None:
        raise ValueError("no bars given: --data FILE, or a stored series with --venue NAME --symbol S "
                         "--timeframe TF [--since DATE] [--until DATE] (kestrel data list shows what is stored)")
    if args.venue is None:
        if stored:
            raise ValueError(f"{', '.join(stored)} select bars of a stored series: give --venue too (or drop "
                             f"{'it' if len(stored) == 1 else 'them'} with --data)")
        return
    lacking = [flag for flag, value in (("--symbol", args.symbol), ("--timeframe", args.timeframe)) if value is None]
    if lacking:
        raise ValueError(f"--venue {args.venue} needs {' and '.join(lacking)}: a stored series is a venue, a "
                         f"symbol and a timeframe (kestrel data list shows them)")
    given = time_options_given(args)
    if given:
        raise ValueError(f"{', '.join(given)} {'reads' if len(given) == 1 else 'read'} the time of a --data file; "
                         f"stored bars are in UTC already")
    if getattr(args, "ticks", False):
        raise ValueError("--ticks runs a trade file (--data); the bar store holds bars")


@dataclass(frozen=True)
class SourceBars:
    bars: Any  # Bars
    name: str  # what a result's title calls it: the file's name, or "binance BTC/USDT 1m"
    source: str  # what a model's manifest records: the file's path, or the stored range read


def read_source(args: argparse.Namespace, profile: Path) -> SourceBars:
    """The bars of ``args`` (``check_source`` first); what was read is said on stderr. ``DataError`` (a
    ``ValueError``) with the file's problem, or what is stored when the series or range is not."""
    check_source(args)
    if args.venue is None:
        from app.cli.data_files import load_bar_file

        return SourceBars(load_bar_file(args), args.data.name, str(args.data))
    from app.engine.data.time_text import parse_time
    from app.engine.data.stored_range import StoredRange

    span = StoredRange(str(profile), args.venue, args.symbol, timeframe_ms(args.timeframe),
                       parse_time(args.since, "--since"), parse_time(args.until, "--until"))
    bars, report = span.read()
    for line in report.lines():
        print(line, file=sys.stderr)
    return SourceBars(bars, span.label, report.source)
