"""A span of one stored series as the bars of a backtest, a sweep or a training: the alternative to a file.

``StoredRange`` names the series (venue, symbol, timeframe) of a profile's bar store and a half-open
``[since, until)``. It is a small frozen value, so a worker process is given it and reads the bars itself
(the store reads 1M bars in ~20 ms: no copy crosses the process boundary, and nothing is read on the GUI
thread). ``check`` answers from the store's index alone whether there is anything to read, and says what
is stored instead when not; ``read`` gives the ``Bars`` and a ``RangeReport`` of what was read, the holes
inside it included: a backtest across a hole should say so.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.engine.data.bar_files import utc_text
from app.engine.data.bar_store import BarStore, SeriesInfo
from app.engine.data.bars import Bars
from app.engine.data.errors import DataError
from app.engine.data.resample import timeframe_label

GAPS_LISTED = 5  # a report names the first holes and counts the rest


@dataclass(frozen=True, slots=True)
class StoredRange:
    profile: str  # the profile folder (its bars are in <profile>/bars/)
    venue: str
    symbol: str
    timeframe_ms: int
    since: int | None = None  # ms UTC, the first bar's earliest open; None: from the first stored bar
    until: int | None = None  # ms UTC, bars open before it; None: to the last stored bar

    @classmethod
    def in_store(cls, store: BarStore, venue: str, symbol: str, timeframe_ms: int, since: int | None = None,
                 until: int | None = None) -> StoredRange:
        """The range of a series of ``store`` (its profile is the folder above ``store.root``)."""
        return cls(str(store.root.parent), venue, symbol, int(timeframe_ms), since, until)

    @property
    def label(self) -> str:
        """ "binance BTC/USDT 1m": the series, as a result's title and a model's source name it."""
        return f"{self.venue} {self.symbol} {timeframe_label(self.timeframe_ms)}"

    @property
    def description(self) -> str:
        """ "bar store: binance BTC/USDT 1m from 2024-01-01 00:00 UTC on": what was asked for, before reading."""
        span = "" if self.since is None and self.until is None else f" {self._span_text()}"
        return f"bar store: {self.label}{span}"

    def store(self) -> BarStore:
        return BarStore(self.profile)

    def check(self, store: BarStore | None = None) -> SeriesInfo:
        """The series' info when the range holds bars; ``DataError`` otherwise, naming what is stored for
        this venue and symbol and the command that fetches the series. Reads the index only."""
        store = store or self.store()
        info = store.info(self.venue, self.symbol, self.timeframe_ms)
        if info is None:
            raise DataError(self._missing(store))
        lo = info.first if self.since is None else max(self.since, info.first)
        hi = info.last + info.timeframe_ms if self.until is None else min(self.until, info.last + info.timeframe_ms)
        if lo >= hi or any(start <= lo and hi <= end for start, end in info.gaps):
            raise DataError(f"no stored bars of {self.label} {self._span_text()}: the series holds "
                            f"{utc_text(info.first)} .. {utc_text(info.last)} ({info.bars:,} bars)")
        return info

    def read(self, store: BarStore | None = None) -> tuple[Bars, RangeReport]:
        """The bars of the range and what was read; ``DataError`` when there are none (see ``check``)."""
        store = store or self.store()
        info = self.check(store)
        bars = store.read(self.venue, self.symbol, self.timeframe_ms, self.since, self.until)
        if not len(bars):  # changed since the check (a delete beside us)
            raise DataError(f"no stored bars of {self.label} {self._span_text()}")
        first, last = int(bars.ts[0]), int(bars.ts[-1])
        gaps = store.gaps(self.venue, self.symbol, self.timeframe_ms, first, last + self.timeframe_ms)
        return bars, RangeReport(self, first, last, len(bars), tuple(gaps), info.first, info.last)

    def _span_text(self) -> str:
        if self.since is None and self.until is None:
            return "at all"
        if self.until is None:
            return f"from {utc_text(self.since)} on"
        if self.since is None:
            return f"before {utc_text(self.until)}"
        return f"in [{utc_text(self.since)}, {utc_text(self.until)})"

    def _missing(self, store: BarStore) -> str:
        stored = store.series()
        same = [s for s in stored if s.venue == self.venue and s.symbol == self.symbol]
        if same:
            there = "; ".join(f"{timeframe_label(s.timeframe_ms)} ({utc_text(s.first)} .. {utc_text(s.last)}, "
                              f"{s.bars:,} bars)" for s in same)
            what = f"stored for {self.symbol} on {self.venue}: {there}"
        else:
            on_venue = sorted({s.symbol for s in stored if s.venue == self.venue})
            if on_venue:
                what = f"nothing of {self.symbol} is stored on {self.venue}; it has {', '.join(on_venue)}"
            elif stored:
                what = (f"nothing is stored for {self.venue}; the store has "
                        f"{', '.join(sorted({s.venue for s in stored}))} (kestrel data list)")
            else:
                what = "the bar store is empty"
        since = utc_text(self.since).removesuffix(" UTC").replace(" ", "T") if self.since is not None else "DATE"
        fetch = (f"kestrel data download --venue {self.venue} --symbols {self.symbol} --timeframe "
                 f"{timeframe_label(self.timeframe_ms)} --since {since}")
        return f"no stored bars of {self.label}; {what}. Fetch it with: {fetch}"


@dataclass(frozen=True, slots=True)
class RangeReport:
    """What ``StoredRange.read`` read: the first and last bar, how many, and the holes between them."""
    range: StoredRange
    first: int
    last: int
    bars: int
    gaps: tuple[tuple[int, int], ...]  # [start, end) ms, inside [first, last]
    series_first: int
    series_last: int

    def lines(self) -> list[str]:
        """For the person who asked (the CLI's stderr): the series and span read, then each warning."""
        r = self.range
        out = [f"bars: {r.label} from the bar store, {utc_text(self.first)} .. {utc_text(self.last)}, "
               f"{self.bars:,} bars"]
        if r.since is not None and r.since < self.series_first:
            out.append(f"note: --since is before the series' first stored bar ({utc_text(self.series_first)})")
        if r.until is not None and r.until > self.series_last + r.timeframe_ms:
            out.append(f"note: --until is after the series' last stored bar ({utc_text(self.series_last)})")
        if self.gaps:
            missing = sum((end - start) // r.timeframe_ms for start, end in self.gaps)
            listed = ", ".join(f"{utc_text(s)} .. {utc_text(e)}" for s, e in self.gaps[:GAPS_LISTED])
            more = f" and {len(self.gaps) - GAPS_LISTED} more" if len(self.gaps) > GAPS_LISTED else ""
            out.append(f"WARNING: {len(self.gaps)} gap(s) in the range, {missing:,} bars missing "
                       f"(the run goes straight across them): {listed}{more}. `kestrel data download` fills "
                       f"them if the venue has the bars")
        return out

    @property
    def source(self) -> str:
        """ "bar store: binance BTC/USDT 1m 2024-01-01 00:00 UTC .. 2024-03-01 00:00 UTC": a model's source."""
        return f"bar store: {self.range.label} {utc_text(self.first)} .. {utc_text(self.last)}"
