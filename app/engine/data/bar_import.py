"""Reading a bar file as traders have it: which file it is, and which of its columns are the bar's.

Files: CSV (comma, tab or semicolon separated; optionally .gz, or .zip holding one file) and Parquet (with
pyarrow). Layouts recognised by their columns (``Layout``):

- Kestrel / freqtrade: ``timestamp`` (epoch ms), open, high, low, close, volume
- Yahoo Finance: ``Date,Open,High,Low,Close,Adj Close,Volume``; Close is used, Adj Close is not; also
  yfinance's ``download(...).to_csv()`` with its ``Price``/``Ticker``/``Date`` header lines (one ticker)
- Binance kline dumps: 12 columns without a header (open time, o, h, l, c, volume, close time, ...), or
  the same with a header (``open_time,...``); ms, or µs in spot dumps since 2025
- TradingView: ``time,open,high,low,close,Volume`` (and any indicator columns after)
- MetaTrader 5: tab-separated ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL> <SPREAD>``;
  volume is VOL, or TICKVOL when VOL is all zero
- any file whose columns are named open, high, low, close, volume in any case, with a time column named
  open_time, timestamp, datetime, date_time, time or date (or a date and a time column)

How the time column's values are read is bar_times.py's part.
"""
from __future__ import annotations

import gzip
import importlib.util
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from app.engine.data.errors import DataError

#: time column names, most specific first: the first one a file has is its time
TIME_NAMES = ("open_time", "timestamp", "datetime", "date_time", "time", "date")
PRICES = ("open", "high", "low", "close")
PARQUET_SUFFIXES = (".parquet", ".pq")
BINANCE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                   "taker_buy_volume", "taker_buy_quote_volume", "ignore")


@dataclass
class Layout:
    """Which file this is and where its bar columns are: ``columns`` maps time/open/high/low/close/volume to
    the frame's column; ``labels`` names each as the file does (for messages); ``notes`` say the choices
    made (which close, which volume)."""

    frame: object
    name: str
    columns: dict[str, object]
    labels: dict[str, str]
    notes: list[str] = field(default_factory=list)
    date_and_time: tuple[object, object] | None = None
    hint: str = ""


def has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def read_layout(path: Path) -> Layout:
    """The file at ``path`` read and its layout recognised; a ``DataError`` saying what is missing."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: is a folder, not a data file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (not even a header line)")
    if path.suffix.lower() in PARQUET_SUFFIXES or _head_bytes(path) == b"PAR1":
        return _columns(_read_parquet(path), path, headerless=False)
    head = _first_lines(path, 3)
    first = head[0]
    sep = _separator(first)
    cells = [c for c in first.split(sep) if c.strip()]
    headerless = sum(_is_number(c) for c in cells) * 2 > len(cells)  # names are not numbers; a bad cell may be
    if _is_yfinance(head, sep):
        return _yfinance(path, head, sep)
    frame = _read_csv(path, sep, headerless)
    if headerless:
        if frame.shape[1] != len(BINANCE_COLUMNS):
            raise DataError(f"{path}: the first line holds numbers, not column names, and its {frame.shape[1]} "
                            f"columns are not a Binance kline dump's {len(BINANCE_COLUMNS)}: add a header line "
                            f"naming the columns (time, open, high, low, close, volume)")
        frame.columns = list(BINANCE_COLUMNS)
    return _columns(frame, path, headerless)


# ------------------------------------------------------------------------------------------ reading the file
def _head_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def _first_lines(path: Path, n: int) -> list[str]:
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig") as fh:
                return [fh.readline().rstrip("\r\n") for _ in range(n)]
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                names = [m for m in zf.namelist() if not m.endswith("/")]
                if len(names) != 1:
                    raise DataError(f"{path}: a .zip data file must hold exactly one file, this one holds "
                                    f"{len(names)}; unzip it and give the file")
                with zf.open(names[0]) as raw:
                    return [raw.readline().decode("utf-8-sig").rstrip("\r\n") for _ in range(n)]
        with open(path, encoding="utf-8-sig") as fh:
            return [fh.readline().rstrip("\r\n") for _ in range(n)]
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file (byte {exc.object[exc.start]:#04x} at offset {exc.start} is not "
                        f"UTF-8): a binary file, or a compressed one without its .gz name?") from None
    except Exception as exc:  # noqa: BLE001 - gzip and zipfile raise many kinds
        raise DataError(f"{path}: not a readable CSV file ({type(exc).__name__}: {exc})") from None


def _is_yfinance(head: list[str], sep: str) -> bool:
    keys = [[_key(c) for c in line.split(sep)] for line in head]
    return (len(keys) == 3 and keys[0][0] == "price" and keys[1][0] == "ticker" and keys[2][0] in TIME_NAMES
            and not any(keys[2][1:]))


def _yfinance(path: Path, head: list[str], sep: str) -> Layout:
    """yfinance's ``download(...).to_csv()``: a ``Price`` line of field names, a ``Ticker`` line, a ``Date`` line,
    then the rows."""
    tickers = sorted({c.strip() for c in head[1].split(sep)[1:]})
    if len(tickers) != 1:
        raise DataError(f"{path}: a yfinance download of {len(tickers)} tickers ({', '.join(tickers)}); a bar file "
                        f"holds one: download them one at a time")
    frame = _read_csv(path, sep, headerless=False, skiprows=[1, 2])
    frame = frame.rename(columns={frame.columns[0]: head[2].split(sep)[0].strip()})
    layout = _columns(frame, path, headerless=False)
    layout.name = f"Yahoo Finance (yfinance download, {tickers[0]})"
    layout.notes.append("prices: as yfinance wrote them (adjusted for splits and dividends if it was asked to "
                        "auto-adjust, its default since 0.2.54)")
    return layout


def _separator(line: str) -> str:
    counts = {sep: line.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, sep: str, headerless: bool, skiprows: list[int] | None = None):
    import pandas as pd

    try:
        if sep == "," and not headerless and not skiprows:
            return pd.read_csv(path)  # Kestrel's own files: read exactly as they always were
        return pd.read_csv(path, sep=sep, header=None if headerless else 0, skiprows=skiprows)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file (byte {exc.object[exc.start]:#04x} at offset {exc.start} is not "
                        f"UTF-8): a binary file, or a compressed one without its .gz name?") from None
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds
        raise DataError(f"{path}: not a readable CSV file ({type(exc).__name__}: {exc})") from None


def _read_parquet(path: Path):
    import pandas as pd

    if not has_pyarrow():
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow (or save the file as CSV)")
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    if frame.index.name is not None:  # a frame saved with its time as the index (pandas' to_parquet)
        frame = frame.reset_index()
    return frame


# ---------------------------------------------------------------------------------------------- the columns
def _key(name) -> str:
    return str(name).strip().strip("<>").strip().lower().replace(" ", "_")


def _columns(frame, path: Path, headerless: bool) -> Layout:
    by_key: dict[str, object] = {}
    for col in frame.columns:
        by_key.setdefault(_key(col), col)
    columns: dict[str, object] = {}
    notes: list[str] = []
    time_key = next((k for k in TIME_NAMES if k in by_key), None)
    date_and_time = None
    if time_key in ("time", "date") and "date" in by_key and "time" in by_key:
        date_and_time = (by_key["date"], by_key["time"])
        columns["time"] = by_key["date"]
    elif time_key is not None:
        columns["time"] = by_key[time_key]
    for name in PRICES:
        if name in by_key:
            columns[name] = by_key[name]
    volume = _volume(frame, by_key, notes)
    if volume is not None:
        columns["volume"] = volume
    missing = [n for n in ("time", *PRICES, "volume") if n not in columns]
    if missing:
        found = ", ".join(str(c) for c in frame.columns)
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; a bar file needs a time column (named "
                        f"{', '.join(TIME_NAMES)}) and open, high, low, close, volume, in any case (the file "
                        f"has: {found})")
    if "adj_close" in by_key:
        notes.append(f"close: {columns['close']!r} (prices as traded; {by_key['adj_close']!r} is not used, so "
                     f"splits and dividends are not adjusted for)")
    name, hint = _layout_name(frame, by_key, headerless)
    labels = {role: _label(col, role, frame, headerless) for role, col in columns.items()}
    if date_and_time:
        labels["time"] = f"{date_and_time[0]} + {date_and_time[1]}"
        frame = frame.assign(**{str(date_and_time[0]): frame[date_and_time[0]].astype(str).str.strip() + " "
                                + frame[date_and_time[1]].astype(str).str.strip()})
    if len(frame) == 0:
        raise DataError(f"{path}: no bars (the file has a header and no data rows)")
    return Layout(frame, name, columns, labels, notes, date_and_time, hint)


def _volume(frame, by_key: dict[str, object], notes: list[str]):
    """``volume``; else MetaTrader's pair: the real volume unless it is all zero (most CFD and forex brokers
    report none), then the tick volume."""
    import pandas as pd

    if "volume" in by_key:
        return by_key["volume"]
    real = by_key.get("vol", by_key.get("real_volume"))
    ticks = by_key.get("tickvol", by_key.get("tick_volume"))
    if real is not None and ticks is not None:
        if (pd.to_numeric(frame[real], errors="coerce").fillna(0) == 0).all():
            notes.append(f"volume: {ticks!r} (tick count: {real!r} is all zero, the broker reports no traded "
                         f"volume)")
            return ticks
        notes.append(f"volume: {real!r} ({ticks!r}, the tick count, is not used)")
        return real
    return real if real is not None else ticks


def _layout_name(frame, by_key: dict[str, object], headerless: bool) -> tuple[str, str]:
    names = [str(c).strip() for c in frame.columns]
    if headerless:
        return "Binance kline dump (no header)", ""
    if {"open_time", "close_time", "quote_volume"} <= set(by_key):
        return "Binance klines", ""
    if "adj_close" in by_key:
        return "Yahoo Finance", ""
    if any(n.startswith("<") for n in names) or "tickvol" in by_key or "tick_volume" in by_key:
        return "MetaTrader 5", "MetaTrader exports are in the broker's server time: say its zone with --tz"
    if names[:5] == ["time", "open", "high", "low", "close"]:
        return "TradingView", ""
    if names[:6] == ["timestamp", "open", "high", "low", "close", "volume"]:
        return "Kestrel (timestamp, open, high, low, close, volume)", ""
    return "columns by name", ""


def _label(col, role: str, frame, headerless: bool) -> str:
    if headerless:
        return f"{role} (column {list(frame.columns).index(col) + 1})"
    return str(col)
