"""The zone the chart's time scale shows: the instrument's exchange time, the computer's local time, or UTC.

Bars are carried in UTC ms everywhere; only the chart turns them into wall-clock times, here. A zone gives
each timestamp its UTC offset, vectorised (``wall``), so ticks fall on the zone's own hour, day and month
boundaries (a daily tick at midnight in Shanghai, not at midnight UTC), and it names itself for the label
at the end of the time scale ("UTC+8 (exchange)", "local UTC+1", "UTC").

The exchange zone comes from the instrument's rules: A-shares (``rules == "ashare"``) trade on Shanghai
time (``ashare_rules.SHANGHAI``, the zone their sessions and session bars are defined in, so the chart's
days are the resampler's days); crypto venues have no exchange zone and trade on UTC. The local zone is the
operating system's (``time.localtime``: daylight saving time included, no zone database needed).
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Callable

import numpy as np

from app.engine.core import ashare_rules

CHOICES = ("exchange", "local", "UTC")  # a trader's picks (settings ``ui.chart_time_zone``, the chart's menu)
EXCHANGE_ZONES: dict[str, dt.tzinfo] = {ashare_rules.RULES: ashare_rules.SHANGHAI}  # by ``Instrument.rules``


def offset_text(offset_s: int) -> str:
    """"UTC", "UTC+8", "UTC-5", "UTC+5:30"."""
    if offset_s == 0:
        return "UTC"
    sign, s = ("+" if offset_s > 0 else "-"), abs(offset_s)
    h, m = divmod(s // 60, 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


class TimeZone:
    """A zone: UTC offsets of timestamps (ms, numpy), and its name on the axis.

    A fixed zone (UTC, Shanghai) adds one number. A zone with daylight saving time (often the local one)
    learns its offset changes year by year, once, as the chart shows those years (a day-by-day scan, the
    change found to the second), then maps timestamps through them with one ``searchsorted``.
    """

    def __init__(self, choice: str, offset_of: Callable[[int], int], fixed: int | None = None) -> None:
        self.choice = choice
        self._offset_of = offset_of  # seconds since 1970 -> UTC offset in seconds
        self.fixed = fixed  # the offset (s) of a zone without changes, else None
        self._years: set[int] = set()
        self._edges = np.empty(0, dtype=np.int64)  # ms where an offset starts
        self._offsets = np.empty(0, dtype=np.int64)  # that offset, ms
        self._found: dict[int, int] = {}  # edge ms -> offset ms

    # ---------------------------------------------------------------------------------------- offsets
    def offsets_ms(self, ts: np.ndarray) -> np.ndarray:
        """The UTC offset (ms) at each timestamp of ``ts`` (ms since 1970, int64)."""
        ts = np.asarray(ts, dtype=np.int64)
        if self.fixed is not None:
            return np.full(ts.shape, self.fixed * 1000, dtype=np.int64)
        if ts.size == 0:
            return np.empty(0, dtype=np.int64)
        self._learn(int(ts.min()), int(ts.max()))
        i = np.searchsorted(self._edges, ts, side="right") - 1
        return self._offsets[np.maximum(i, 0)]

    def wall(self, ts: np.ndarray) -> np.ndarray:
        """``ts`` as the zone's wall-clock times, still int64 ms (read them as if they were UTC)."""
        ts = np.asarray(ts, dtype=np.int64)
        return ts + self.offsets_ms(ts) if self.fixed is None else ts + self.fixed * 1000

    def offset_s(self, ms: int) -> int:
        return self.fixed if self.fixed is not None else int(self.offsets_ms(np.array([ms]))[0]) // 1000

    def label(self, at_ms: int) -> str:
        """The axis' label: "UTC+8 (exchange)", "local UTC+1", "UTC" (a zone that changes its offset is
        named by its offset at ``at_ms``, the newest bar in view)."""
        if self.choice == "UTC":
            return "UTC"
        text = offset_text(self.offset_s(at_ms))
        return f"{text} (exchange)" if self.choice == "exchange" else f"local {text}"

    def _learn(self, lo_ms: int, hi_ms: int) -> None:
        years = set(range(_year(lo_ms), _year(hi_ms) + 1)) - self._years
        if not years:
            return
        for y in sorted(years):
            start = int(dt.datetime(y, 1, 1, tzinfo=dt.timezone.utc).timestamp())
            end = int(dt.datetime(y + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp())
            prev_s, prev = start, self._offset_of(start)
            self._found[start * 1000] = prev * 1000
            for s in range(start + 86_400, end + 86_400, 86_400):
                s = min(s, end)
                off = self._offset_of(s)
                if off != prev:
                    self._found[self._change_between(prev_s, s, prev) * 1000] = off * 1000
                prev_s, prev = s, off
        self._years |= years
        edges = sorted(self._found)
        self._edges = np.array(edges, dtype=np.int64)
        self._offsets = np.array([self._found[e] for e in edges], dtype=np.int64)

    def _change_between(self, a: int, b: int, before: int) -> int:
        """The first second in ``(a, b]`` whose offset is not ``before``."""
        while b - a > 1:
            mid = (a + b) // 2
            if self._offset_of(mid) == before:
                a = mid
            else:
                b = mid
        return b

    def __repr__(self) -> str:
        return f"TimeZone({self.choice!r}, fixed={self.fixed})"


def _year(ms: int) -> int:
    return dt.datetime.fromtimestamp(max(ms, 0) / 1000.0, dt.timezone.utc).year


def _local_offset(s: int) -> int:
    return int(time.localtime(max(s, 86_400)).tm_gmtoff)  # (Windows refuses times before 1970)


def _tz_offset(tz: dt.tzinfo) -> Callable[[int], int]:
    return lambda s: int(dt.datetime.fromtimestamp(s, tz).utcoffset().total_seconds())


UTC = TimeZone("UTC", lambda s: 0, fixed=0)
_EXCHANGE: dict[str, TimeZone] = {}
_LOCAL: list[TimeZone] = []


def zone_for(choice: str, rules: str = "") -> TimeZone:
    """The zone for a trader's ``choice`` ("exchange", "local", "UTC") on an instrument with ``rules``
    (``Instrument.rules``; "" for crypto venues and standalone charts: their exchange time is UTC)."""
    if choice == "local":
        if not _LOCAL:
            _LOCAL.append(TimeZone("local", _local_offset))
        return _LOCAL[0]
    if choice != "exchange":
        return UTC
    zone = _EXCHANGE.get(rules)
    if zone is None:
        tz = EXCHANGE_ZONES.get(rules, dt.timezone.utc)
        fixed = tz.utcoffset(None) if isinstance(tz, dt.timezone) else None
        zone = _EXCHANGE[rules] = TimeZone("exchange", _tz_offset(tz),
                                           None if fixed is None else int(fixed.total_seconds()))
    return zone


def local_zone_changed() -> None:
    """Forget the local zone's learned offsets (after ``time.tzset()``: the computer's zone was changed)."""
    _LOCAL.clear()
