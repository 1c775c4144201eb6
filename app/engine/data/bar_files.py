"""Loading bar and trade data for backtests, with clear errors for malformed files.

Bars: CSV (optionally .gz) with columns timestamp (ms since epoch, UTC), open, high, low, close, volume.
Trades: CSV with timestamp (ms), price, and amount (or size/quantity); side optional.
``timestamp`` is the files' name for the time; it is read here into ``ts``, the program's name for it.
Bars are loaded as ``Bars`` (data/bars.py) with their ``symbol`` and ``timeframe_ms``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.engine.data.bars import Bars

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class DataError(ValueError):
    """The data file cannot be used; the message says what is wrong and where."""


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


def _column(df, name: str, path: Path, dtype=np.float64) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{path}: column {name!r} has a missing or non-numeric value at data row "
                        f"{row + 1} ({_cell(df[name].iloc[row])}); {_rows(bad.size)}. Clean the file and retry.")
    return values.astype(dtype)


def _cell(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _rows(n: int) -> str:
    return "the only such row" if n == 1 else f"{n} such rows in all"


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
        raise DataError(f"{path}: the timestamp at data row {row + 1} ({_cell(df['timestamp'].iloc[row])}) is not a whole "
                        f"number of milliseconds ({_rows(frac.size)}). Timestamps are integer ms since "
                        f"1970: round or floor them in the file (then check no two rows share a millisecond).")
    return ts.astype(np.int64)


def bars_from_arrays(ts, open_, high, low, close, volume, symbol: str = "DATA", where: str = "bars") -> Bars:
    ts = np.asarray(ts, dtype=np.int64)
    cols = [np.ascontiguousarray(c, dtype=np.float64) for c in (open_, high, low, close, volume)]
    if len(ts) < 2:
        raise DataError(f"{where}: at least 2 bars are needed, got {len(ts)}")
    back = np.flatnonzero(np.diff(ts) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(f"{where}: timestamps must strictly increase; data row {i + 1} ({ts[i]}) is not after "
                        f"row {i} ({ts[i - 1]}). Sort the file and remove duplicates.")
    o, h, l, c, v = cols
    bad = np.flatnonzero((h < np.maximum(o, c)) | (l > np.minimum(o, c)) | (l <= 0) | (v < 0))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{where}: data row {i + 1} is not a valid bar (open {o[i]}, high {h[i]}, low {l[i]}, "
                        f"close {c[i]}, volume {v[i]}): high must be >= open/close >= low > 0, volume >= 0")
    timeframe = int(np.median(np.diff(ts)))
    return Bars.from_arrays(ts, o, h, l, c, v, timeframe, symbol)


def load_bars(path: str | Path, symbol: str | None = None) -> Bars:
    path = Path(path)
    df = _read_csv(path)
    missing = [c for c in BAR_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; a bar file needs "
                        f"{', '.join(BAR_COLUMNS)} (timestamp in ms)")
    cols = [_timestamps(df, path)] + [_column(df, c, path) for c in BAR_COLUMNS[1:]]
    return bars_from_arrays(*cols, symbol=symbol or _symbol_of(path), where=str(path))


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
        raise DataError(f"{path}: {name} must be > 0; data row {row + 1} has {values[row]:g} ({_rows(bad.size)}). "
                        f"Clean the file and retry.")


def _symbol_of(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv"):
        if name.endswith(suffix):
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
