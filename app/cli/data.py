"""``kestrel data``: the profile's bar store (app/engine/data/bar_store.py) from the command line.

    kestrel data download --venue NAME [--venue-config FILE] --symbols S1,S2 --timeframe TF [--since D] [--until D]
    kestrel data list [--venue NAME]                                  each series: first, last, bars, gaps
    kestrel data import FILE --venue NAME --symbol S --timeframe TF [--tz ZONE] [--time-unit U] [--time-format F]
    kestrel data export --venue NAME --symbol S --timeframe TF [--since D] [--until D] --out FILE.csv
    kestrel data delete --venue NAME --symbol S --timeframe TF [--since D] [--until D]

TF is 1m, 5m, 15m, 1h, 4h, 1d ... (a number and s, m, h, d or w); D is ISO 8601 (UTC when it has no offset)
or epoch milliseconds. ``download`` fetches what the store lacks in [since, until) from a ccxt venue (paged,
within its rate limits; without --since it fills the stored series' holes and tops it up to now), storing each
page as it comes: an interrupted download loses nothing and the same command resumes it. ``export`` writes
the backtester's CSV (timestamp in ms, open, high, low, close, volume), so ``kestrel backtest --data`` reads
it back as it was stored. Exit 2 with the reason on bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.data_files import add_time_options
from app.engine.data.time_text import parse_time


def add_data_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    data = sub.add_parser("data", parents=[common], help="market data in the profile's bar store")
    dsub = data.add_subparsers(dest="data_command", required=True)
    down = dsub.add_parser("download", parents=[common], help="fetch history from a venue into the bar store")
    down.add_argument("--venue", required=True, help="a ccxt exchange id, a venue saved in the profile, or "
                      "akshare (China A-shares, daily bars)")
    down.add_argument("--venue-config", type=Path, default=None, help="venue config JSON (ccxt options, urls)")
    down.add_argument("--symbols", required=True, help="comma-separated, e.g. BTC/USDT,ETH/USDT")
    down.add_argument("--timeframe", required=True, help="bar length: 1m, 5m, 1h, 1d ...")
    down.add_argument("--since", default=None, help="from this time (ISO 8601 or ms); default: the stored "
                      "series' first bar (its holes are filled, then it is topped up)")
    down.add_argument("--until", default=None, help="bars before this time (default: now)")
    listing = dsub.add_parser("list", parents=[common], help="every stored series: first, last, bars, gaps")
    listing.add_argument("--venue", default=None, help="only this venue's series")

    def series(p: argparse.ArgumentParser, span: bool) -> None:
        p.add_argument("--venue", required=True, help="the venue the bars are of, e.g. binance, akshare, sim")
        p.add_argument("--symbol", required=True, help="e.g. BTC/USDT or 600519.SH")
        p.add_argument("--timeframe", required=True, help="bar length: 1m, 5m, 1h, 1d ...")
        if span:
            p.add_argument("--since", default=None, help="first bar time: ISO 8601 (UTC unless it says) or ms")
            p.add_argument("--until", default=None, help="bars before this time: ISO 8601 or ms")

    imp = dsub.add_parser("import", parents=[common], help="store the bars of a file (CSV, gz, zip, Parquet)")
    imp.add_argument("file", type=Path, help="a bar file: Kestrel CSV, Yahoo, Binance dump, TradingView, MT5 ...")
    series(imp, span=False)
    add_time_options(imp)
    exp = dsub.add_parser("export", parents=[common], help="write stored bars as the backtester's CSV")
    series(exp, span=True)
    exp.add_argument("--out", required=True, type=Path, help="the CSV file to write (.csv or .csv.gz)")
    dele = dsub.add_parser("delete", parents=[common], help="remove stored bars (a range, or the whole series)")
    series(dele, span=True)


def main_data_command(args: argparse.Namespace, profile: Path) -> int:
    from app.engine.data.bar_files import DataError
    from app.engine.data.bar_store import BarStore, BarStoreError

    try:
        store = BarStore(profile)
        if args.data_command == "download":
            return _download(store, args, profile)
        return _COMMANDS[args.data_command](store, args)
    except (ValueError, DataError, BarStoreError, OSError) as exc:
        print(f"kestrel data {args.data_command}: {exc}", file=sys.stderr)
        return 2


def _list(store, args: argparse.Namespace) -> int:
    from app.engine.data.bar_files import utc_text
    from app.engine.data.resample import timeframe_label

    rows = [s for s in store.series() if args.venue is None or s.venue == args.venue]
    if not rows:
        where = f" for venue {args.venue}" if args.venue else ""
        print(f"no stored bars{where} (kestrel data import FILE ... stores a file's bars)")
        return 0
    print(f"{'venue':<12} {'symbol':<14} {'tf':>4}  {'first':<20} {'last':<20} {'bars':>10} {'gaps':>5}")
    for s in rows:
        print(f"{s.venue:<12} {s.symbol:<14} {timeframe_label(s.timeframe_ms):>4}  {utc_text(s.first):<20} "
              f"{utc_text(s.last):<20} {s.bars:>10,} {len(s.gaps):>5}")
    return 0


def _import(store, args: argparse.Namespace) -> int:
    from app.engine.data.resample import parse_timeframe
    from app.engine.data.store_files import import_file

    stored = import_file(store, args.file, args.venue, args.symbol, parse_timeframe(args.timeframe),
                         time_unit=args.time_unit, tz=args.tz, time_format=args.time_format,
                         timeframe_field="--timeframe")
    for line in stored.report.lines():
        print(line, file=sys.stderr)
    print(stored.summary())
    return 0


def _export(store, args: argparse.Namespace) -> int:
    from app.engine.data.resample import parse_timeframe
    from app.engine.data.store_files import export_csv

    print(export_csv(store, args.venue, args.symbol, parse_timeframe(args.timeframe),
                     parse_time(args.since, "--since"), parse_time(args.until, "--until"), args.out))
    return 0


def _delete(store, args: argparse.Namespace) -> int:
    from app.engine.data.resample import parse_timeframe, timeframe_label

    tf = parse_timeframe(args.timeframe)
    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    removed = store.delete(args.venue, args.symbol, tf, since, until)
    what = "the whole series" if since is None and until is None else "that range"
    print(f"deleted {removed:,} bars of {args.symbol} {timeframe_label(tf)} on {args.venue} ({what})")
    return 0


def _download(store, args: argparse.Namespace, profile: Path) -> int:
    import asyncio
    import time

    from app.engine.data.resample import parse_timeframe
    from app.engine.venues.download import download_starts
    from app.engine.venues.market_history import AkshareSource, CcxtSource
    from app.engine.venues.venue_config import resolve_config

    tf = parse_timeframe(args.timeframe)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if args.venue == "akshare" and tf != 86_400_000:
        raise ValueError("akshare downloads are daily bars (--timeframe 1d): its minute history reaches back "
                         "only a few days")
    cfg = None if args.venue == "akshare" else resolve_config(profile, args.venue, args.venue_config)
    name = "akshare" if cfg is None else cfg.name
    since, until = parse_time(args.since, "--since"), parse_time(args.until, "--until")
    until = until if until is not None else int(time.time() * 1000)
    starts = download_starts(store, name, symbols, tf, since, how="with --since (e.g. --since 2024-01-01)")
    source = AkshareSource() if cfg is None else CcxtSource(cfg)  # the window's Data dialog downloads the same way
    return asyncio.run(_download_all(store, source, symbols, tf, starts, until))


def _say_report(report, venue: str, tf_label: str) -> None:
    for note in report.notes:
        print(f"{report.symbol}: {note}", file=sys.stderr)
    empty = f"; {len(report.empty)} range(s) {venue} has no bars for, marked" if report.empty else ""
    if report.complete:
        print(f"{report.symbol} {tf_label} on {venue}: {report.bars:,} bars stored "
              f"({len(report.requested)} missing range(s) asked for{empty})")
    else:
        print(f"{report.symbol} {tf_label} on {venue}: stopped after {report.bars:,} bars: {report.stopped}. "
              f"What arrived is stored; run the same command again to resume.", file=sys.stderr)


async def _download_all(store, source, symbols: list[str], tf: int, starts: dict[str, int], until: int) -> int:
    from tqdm import tqdm

    from app.engine.data.resample import timeframe_label

    failed = 0
    try:
        for sym in symbols:
            with tqdm(total=0, unit="bar", desc=f"{sym} {timeframe_label(tf)}", file=sys.stderr,
                      disable=None, leave=False) as bar:
                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()
                report = await source.fill(store, sym, tf, starts[sym], until, progress=progress)
            _say_report(report, source.name, timeframe_label(tf))
            failed += not report.complete
    finally:
        await source.close()
    return 1 if failed else 0


_COMMANDS = {"list": _list, "import": _import, "export": _export, "delete": _delete}
