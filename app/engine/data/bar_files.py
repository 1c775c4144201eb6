"""Loading bar and trade data for backtests, with clear errors for malformed files.

Bars: the files traders have (bar_import.py says which layouts: Kestrel's own ``timestamp`` ms CSV, Yahoo
Finance, Binance kline dumps, TradingView, MetaTrader 5, any named columns; CSV, .gz, .zip, Parquet), their
time read by bar_times.py (epoch units by magnitude, ISO 8601, dates; naive times in a given zone). What was
detected is returned with the bars (``ImportReport``) so a command can say it. Bars are stored as ``Bars``
(data/bars.py): ``ts`` ms UTC, with their ``symbol`` and ``timeframe_ms``.
Trades: CSV with timestamp (ms), price, and amount (or size/quantity); side optional.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.engine.data.bar_import import read_layout
from app.engine.data.bar_times import read_times, time_zone
from app.engine.data.bars import Bars
from app.engine.data.errors import DataError, cell, rows

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
__all__ = ["DataError", "ImportReport", "TradeData", "bars_from_arrays", "import_bars", "load_bars", "load_trades",
           "trades_to_bars"]


@dataclass
class TradeData:
    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    symbol: str = "DATA"

    def __len__(self) -> int:
        return len(self.ts)


def _read_csv(path: Path):
    import pandas as pd

    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: is a folder, not a data file")
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty (not even a header line)")
        return pd.read_csv(path)
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file (byte {exc.object[exc.start]:#04x} at offset {exc.start} is not "
                        f"UTF-8): a binary file, or a compressed one without its .gz name?") from None
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds
        raise DataError(f"{path}: not a readable CSV file ({type(exc).__name__}: {exc})") from None


def _column(df, name, path: Path, dtype=np.float64, label: str | None = None) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{path}: column {label or name!r} has a missing or non-numeric value at data row "
                        f"{row + 1} ({cell(df[name].iloc[row])}); {rows(bad.size)}. Clean the file and retry.")
    return values.astype(dtype)


def _timestamps(df, path: Path) -> np.ndarray:
    """Whole milliseconds, exactly. A fractional value is refused, not truncated: truncating would move rows
    in time silently and could make two rows share a millisecond (the engine's clock, bars and fills are
    integer ms throughout, so a sub-millisecond time cannot be carried exactly)."""
    ts = _column(df, "timestamp", path)
    if ts.size and (ts.min() < 1e11 or ts.max() > 1e14):
        raise DataError(f"{path}: timestamps must be milliseconds since 1970 (got {ts.min():.0f}..{ts.max():.0f})")
    frac = np.flatnonzero(ts != np.floor(ts))
    if frac.size:
        row = int(frac[0])
        raise DataError(f"{path}: the timestamp at data row {row + 1} ({cell(df['timestamp'].iloc[row])}) is not a whole "
                        f"number of milliseconds ({rows(frac.size)}). Timestamps are integer ms since "
                        f"1970: round or floor them in the file (then check no two rows share a millisecond).")
    return ts.astype(np.int64)


def bars_from_arrays(ts, open_, high, low, close, volume, symbol: str = "DATA", where: str = "bars") -> Bars:
    ts = np.asarray(ts, dtype=np.int64)
    cols = [np.ascontiguousarray(c, dtype=np.float64) for c in (open_, high, low, close, volume)]
    if len(ts) < 2:
        raise DataError(f"{where}: at least 2 bars are needed, got {len(ts)}")
    _check_order(ts, where)
    _check_values(*cols, where=where)
    timeframe = int(np.median(np.diff(ts)))
    return Bars.from_arrays(ts, *cols, timeframe, symbol)


def _check_order(ts: np.ndarray, where: str) -> None:
    back = np.flatnonzero(np.diff(ts) <= 0)
    if back.size:
        i = int(back[0]) + 1
        what = "the same time as" if ts[i] == ts[i - 1] else "not after"
        fix = "remove the duplicate bar" if ts[i] == ts[i - 1] else "sort the file by time"
        raise DataError(f"{where}: timestamps must strictly increase; data row {i + 1} ({_when(ts[i])}) is {what} "
                        f"row {i} ({_when(ts[i - 1])}). Sort the file and remove duplicates ({fix}).")


def _check_values(o, h, l, c, v, where: str) -> None:
    bad = np.flatnonzero((h < np.maximum(o, c)) | (l > np.minimum(o, c)) | (l <= 0) | (v < 0))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{where}: data row {i + 1} is not a valid bar (open {o[i]}, high {h[i]}, low {l[i]}, "
                        f"close {c[i]}, volume {v[i]}): high must be >= open/close >= low > 0, volume >= 0")


def _when(ms: int) -> str:
    return f"{ms}, {utc_text(ms)}"


def utc_text(ms: int) -> str:
    """ms since 1970 as UTC text, to the minute (to the second when it has seconds)."""
    fmt = "%Y-%m-%d %H:%M:%S" if ms % 60_000 else "%Y-%m-%d %H:%M"
    return time.strftime(fmt, time.gmtime(ms // 1000)) + " UTC"


@dataclass(frozen=True)
class ImportReport:
    """What a bar file was read as, for the person who gave it: the layout, how its time was read (the unit
    detected or given, the zone) and the choices made (which close, which volume, order reversed)."""

    path: str
    layout: str
    time_column: str
    time: str
    notes: tuple[str, ...]
    bars: int
    first_ts: int
    last_ts: int

    def lines(self) -> list[str]:
        head = (f"data {Path(self.path).name}: {self.layout}, {self.bars} bars, {utc_text(self.first_ts)} .. "
                f"{utc_text(self.last_ts)}")
        return [head, f"  time: column {self.time_column!r}, {self.time}", *(f"  {n}" for n in self.notes)]


@dataclass(frozen=True)
class ImportedBars:
    bars: Bars
    report: ImportReport


def load_bars(path: str | Path, symbol: str | None = None, *, time_unit: str | None = None,
              tz: str | None = None, time_format: str | None = None) -> Bars:
    """The bars of the file at ``path`` (see ``import_bars`` for the options)."""
    return import_bars(path, symbol, time_unit=time_unit, tz=tz, time_format=time_format).bars


def import_bars(path: str | Path, symbol: str | None = None, *, time_unit: str | None = None,
                tz: str | None = None, time_format: str | None = None) -> ImportedBars:
    """The bars of the file at ``path`` and what it was read as. ``time_unit`` (s, ms, us, ns or iso) and
    ``time_format`` (strptime codes) say how the time is written instead of detecting it; ``tz`` (an IANA
    zone, default UTC) is where times without an offset are. Anything that cannot be told is a
    ``DataError`` saying which option settles it; nothing is guessed."""
    path = Path(path)
    time_zone(tz)
    layout = read_layout(path)
    df, cols, labels = layout.frame, layout.columns, layout.labels
    reading = read_times(df[cols["time"]], labels["time"], str(path), time_unit, tz, time_format)
    prices = [_column(df, cols[c], path, label=labels[c]) for c in ("open", "high", "low", "close", "volume")]
    ts, notes = reading.ms, list(layout.notes)
    if len(ts) >= 2 and (np.diff(ts) < 0).all():
        _check_values(*prices, where=str(path))  # rows numbered as in the file, before the reversal
        ts, prices = ts[::-1].copy(), [p[::-1].copy() for p in prices]
        notes.append("order: the file is newest first (as Yahoo and MetaTrader exports can be): read in reverse")
    bars = bars_from_arrays(ts, *prices, symbol=symbol or _symbol_of(path), where=str(path))
    if layout.hint and tz is None and "no offset" in reading.zone:
        notes.append(layout.hint)
    report = ImportReport(str(path), layout.name, labels["time"], reading.describe(), tuple(notes), len(bars),
                          int(bars.ts[0]), int(bars.ts[-1]))
    return ImportedBars(bars, report)


def load_trades(path: str | Path, symbol: str | None = None) -> TradeData:
    path = Path(path)
    df = _read_csv(path)
    size_col = next((c for c in ("amount", "size", "quantity", "qty") if c in df.columns), None)
    if "timestamp" not in df.columns or "price" not in df.columns or size_col is None:
        raise DataError(f"{path}: a trade file needs timestamp (ms), price and amount columns")
    if len(df) == 0:
        raise DataError(f"{path}: no trades (the file has a header and no data rows)")
    ts = _timestamps(df, path)
    back = np.flatnonzero(np.diff(ts) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(f"{path}: trade timestamps go backwards at data row {i + 1} ({ts[i]} is before row {i}'s "
                        f"{ts[i - 1]}); sort the file by timestamp")
    price = _column(df, "price", path)
    _positive(price, "price", path)
    size = _column(df, size_col, path)
    _positive(size, size_col, path)
    return TradeData(ts, price, size, symbol or _symbol_of(path))


def _positive(values: np.ndarray, name: str, path: Path) -> None:
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{path}: {name} must be > 0; data row {row + 1} has {values[row]:g} ({rows(bad.size)}). "
                        f"Clean the file and retry.")


def _symbol_of(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".zip", ".csv", ".tsv", ".txt", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or "DATA"


def trades_to_bars(trades: TradeData, timeframe_ms: int) -> Bars:
    """Resample trade prints into OHLCV bars (bars with no trades are skipped)."""
    bucket = trades.ts - trades.ts % timeframe_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(bucket)]
    p = trades.price
    high = np.maximum.reduceat(p, starts)
    low = np.minimum.reduceat(p, starts)
    vol = np.add.reduceat(trades.size, starts)
    return Bars.from_arrays(bucket[starts], p[starts], high, low, p[ends - 1], vol, timeframe_ms, trades.symbol)
