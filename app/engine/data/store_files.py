"""Files in and out of the bar store: a bar file stored as a series, a series written as the backtester's CSV.

``kestrel data import|export`` and the window's Data dialog do the same through these, so a file imported in
one reads the same in the other, and an exported CSV is what ``kestrel backtest --data`` reads back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.engine.data.bar_files import ImportReport, import_bars, utc_text
from app.engine.data.bar_store import BarStore, SeriesInfo
from app.engine.data.resample import base_timeframe_ms, timeframe_label


@dataclass(frozen=True)
class StoredFile:
    """A bar file stored: what it was read as, how many bars were written, and the series after."""

    report: ImportReport
    written: int
    series: SeriesInfo

    def summary(self) -> str:
        s = self.series
        tf = timeframe_label(s.timeframe_ms)
        return (f"stored {self.written:,} bars of {s.symbol} {tf} on {s.venue}: the series now holds "
                f"{s.bars:,} bars, {utc_text(s.first)} .. {utc_text(s.last)}, {len(s.gaps)} gap(s)")


def import_file(store: BarStore, path: str | Path, venue: str, symbol: str, timeframe_ms: int, *,
                time_unit: str | None = None, tz: str | None = None, time_format: str | None = None,
                timeframe_field: str = "the timeframe") -> StoredFile:
    """Store the bars of the file at ``path`` as (venue, symbol, timeframe). A file whose bars are another
    timeframe apart is refused before anything is written (``ValueError``, naming ``timeframe_field``); the
    file's own problems are ``DataError``s saying which option settles them."""
    imported = import_bars(path, symbol, time_unit=time_unit, tz=tz, time_format=time_format)
    bars = imported.bars
    spacing = base_timeframe_ms(bars.ts)
    if len(bars) > 1 and spacing != timeframe_ms:
        raise ValueError(f"the file's bars are {timeframe_label(spacing)} apart, {timeframe_field} says "
                         f"{timeframe_label(timeframe_ms)}; nothing was stored (give the file's own "
                         f"timeframe)")
    written = store.write(venue, symbol, timeframe_ms, bars, source=f"import {Path(path).name}")
    return StoredFile(imported.report, written, store.info(venue, symbol, timeframe_ms))


def export_csv(store: BarStore, venue: str, symbol: str, timeframe_ms: int, since: int | None,
               until: int | None, out: str | Path) -> str:
    """Write the stored bars with ``since <= ts < until`` as the backtester's CSV (timestamp in ms, open,
    high, low, close, volume; floats written exactly); returns what was written, in words. No bars there is
    a ``ValueError``."""
    import pandas as pd

    bars = store.read(venue, symbol, timeframe_ms, since, until)
    tf = timeframe_label(timeframe_ms)
    if not len(bars):
        raise ValueError(f"no stored bars of {symbol} {tf} on {venue} in that range (`kestrel data list` and "
                         f"the Data dialog show what is stored)")
    cols = bars.as_dict()
    frame = pd.DataFrame({"timestamp": np.asarray(cols["ts"], dtype=np.int64),
                          **{c: cols[c] for c in ("open", "high", "low", "close", "volume")}})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.17g")
    span = f"{utc_text(int(bars.ts[0]))} .. {utc_text(int(bars.ts[-1]))}"
    return f"wrote {len(bars):,} bars of {symbol} {tf} ({span}) to {out}"
