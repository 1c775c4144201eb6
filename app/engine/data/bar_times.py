"""A data file's time column read into int64 milliseconds since 1970, UTC, and a sentence saying how.

What traders' files hold, and how each is told apart (never by guessing: what cannot be told is a
``DataError`` that says which option settles it):

- epoch numbers: the unit is read from the magnitude. Each unit has a band of 1973-03..2286-11 in it
  (``BANDS``); the bands are a factor of ten apart, so a value fits at most one. A value in no band, or a
  column whose first and last values fit different bands, is refused: ``--time-unit`` says the unit.
- ISO 8601 text, with an offset (``Z``, ``+08:00``: converted to UTC) or without (read in the zone given,
  UTC by default). A column mixing the two is refused.
- dates: ``YYYY-MM-DD``, ``YYYY.MM.DD`` (MetaTrader), ``YYYYMMDD`` numbers, ``YYYY/MM/DD``; and
  ``DD/MM/YYYY`` or ``MM/DD/YYYY`` (also with ``.`` or ``-``) when a row with a field above 12 tells which;
  otherwise ``--time-format`` says (strptime codes).
- datetime columns (Parquet): aware ones converted to UTC, naive ones read in the zone given.

A time that is not a whole millisecond is refused, not rounded: the engine's clock is integer ms, and
rounding could move a bar or make two share a millisecond.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from app.engine.data.errors import DataError, cell, rows

TIME_UNITS = ("s", "ms", "us", "ns", "iso")
UNIT_NAMES = {"s": "epoch seconds", "ms": "epoch milliseconds", "us": "epoch microseconds",
              "ns": "epoch nanoseconds"}
#: milliseconds per unit, as (numerator, denominator)
_PER_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}
#: each unit's magnitudes: 1973-03-03 .. 2286-11-20 in that unit
BANDS = {"s": (1e8, 1e10), "ms": (1e11, 1e13), "us": (1e14, 1e16), "ns": (1e17, 1e19)}
_LATEST_MS = 10 ** 13  # 2286-11-20: later (or before 1970) is a wrong unit, not data

_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_YMD = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DOTTED_YMD = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})")
_SLASHED_YMD = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})")
_DMY_OR_MDY = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(.*)$")


@dataclass(frozen=True)
class TimeReading:
    """The times as ms (file order) and how they were read: ``how`` names the form ("epoch milliseconds",
    "dates YYYY-MM-DD"), ``detected`` is False when an option said it, ``zone`` how local times were placed."""

    ms: np.ndarray
    how: str
    detected: bool
    zone: str

    def describe(self) -> str:
        return f"{self.how} ({'detected' if self.detected else 'as given'}); {self.zone}"


def time_zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name`` (None: UTC); a ``DataError`` naming ``--tz`` for an unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise DataError(f"--tz {name}: unknown time zone; give an IANA name such as UTC, Asia/Shanghai, "
                        f"America/New_York or Europe/London") from None


def read_times(values, label: str, where: str, unit: str | None = None, tz: str | None = None,
               time_format: str | None = None) -> TimeReading:
    """``values`` (a pandas Series, file order) as ms UTC. ``unit`` (one of ``TIME_UNITS``) and
    ``time_format`` override detection; ``tz`` is the zone of times without an offset."""
    import pandas as pd

    if unit is not None and unit not in TIME_UNITS:
        raise DataError(f"--time-unit {unit}: choose one of {', '.join(TIME_UNITS)}")
    zone = time_zone(tz)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _datetimes(values, label, where, zone, "datetimes", True)
    text = time_format is not None or unit == "iso" or not pd.api.types.is_numeric_dtype(values)
    if text and unit is None and time_format is None and _mostly_numbers(values):
        text = False  # epoch numbers with a bad cell: _numbers names it
    if text:
        if unit in UNIT_NAMES:
            raise DataError(f"{where}: --time-unit {unit} needs epoch numbers, but column {label!r} holds text "
                            f"({cell(values.iloc[0])}); leave --time-unit out, or say --time-unit iso")
        return _text(values, label, where, zone, time_format, detected=unit is None and time_format is None)
    reading = _numbers(values, label, where, unit, zone)
    if zone.key != "UTC" and reading.how in UNIT_NAMES.values():
        return TimeReading(reading.ms, reading.how, reading.detected, f"UTC (epoch time; --tz {tz} not used)")
    return reading


# ------------------------------------------------------------------------------------------- epoch numbers
def _mostly_numbers(values) -> bool:
    import pandas as pd

    return bool(pd.to_numeric(values, errors="coerce").notna().mean() > 0.5)


def _numbers(values, label: str, where: str, unit: str | None, zone: ZoneInfo) -> TimeReading:
    import pandas as pd

    raw = values.to_numpy()
    as_float = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(as_float))
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{where}: column {label!r} has a missing or non-numeric value at data row {row + 1} "
                        f"({cell(values.iloc[row])}); {rows(bad.size)}. Clean the file and retry.")
    if unit is None and _all_yyyymmdd(raw):
        text = pd.Series(raw.astype(np.int64).astype(str), index=values.index)
        return _text(text, label, where, zone, "%Y%m%d", detected=True, how="dates YYYYMMDD")
    if unit is None:
        unit = _unit_of(as_float, values, label, where)
        detected = True
    else:
        detected = False
    ms = _to_ms(raw, as_float, unit, values, label, where)
    out = np.flatnonzero((ms < 0) | (ms >= _LATEST_MS))
    if out.size:
        row = int(out[0])
        raise DataError(f"{where}: read as {UNIT_NAMES[unit]}, the time at data row {row + 1} "
                        f"({cell(values.iloc[row])}) is not between 1970 and 2286 ({rows(out.size)}); "
                        f"check --time-unit (the magnitude suggests {_band_name(as_float[row])})")
    return TimeReading(ms, UNIT_NAMES[unit], detected, "UTC")


def _all_yyyymmdd(raw: np.ndarray) -> bool:
    if raw.dtype.kind not in "iu" or not raw.size or raw.min() < 19000101 or raw.max() > 21001231:
        return False
    month, day = raw // 100 % 100, raw % 100
    return bool(((month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)).all())


def _band(value: float) -> str | None:
    return next((u for u, (lo, hi) in BANDS.items() if lo <= value < hi), None)


def _band_name(value: float) -> str:
    unit = _band(value)
    return UNIT_NAMES[unit] if unit else "no epoch unit"


def _bands_text() -> str:
    return ", ".join(f"{u} {lo:.0e}..{hi:.0e}" for u, (lo, hi) in BANDS.items()).replace("e+", "e")


def _unit_of(as_float: np.ndarray, values, label: str, where: str) -> str:
    names = list(BANDS)
    code = np.full(as_float.shape, -1)
    for i, (lo, hi) in enumerate(BANDS.values()):
        code[(as_float >= lo) & (as_float < hi)] = i
    lost = np.flatnonzero(code < 0)
    if lost.size:
        row = int(lost[0])
        raise DataError(f"{where}: the time in column {label!r} at data row {row + 1} ({cell(values.iloc[row])}) "
                        f"fits no epoch unit ({_bands_text()}: each is 1973..2286; {rows(lost.size)}). "
                        f"If it is epoch time, say its unit with --time-unit s, ms, us or ns; otherwise fix the row")
    first = names[code[0]]
    other = np.flatnonzero(code != code[0])
    if other.size:
        row = int(other[0])
        raise DataError(f"{where}: the times in column {label!r} mix units: data row 1 "
                        f"({cell(values.iloc[0])}) reads as {UNIT_NAMES[first]}, data row {row + 1} "
                        f"({cell(values.iloc[row])}) as {UNIT_NAMES[names[code[row]]]}. "
                        f"Fix the file (one unit throughout), or say the unit with --time-unit")
    return first


def _to_ms(raw: np.ndarray, as_float: np.ndarray, unit: str, values, label: str, where: str) -> np.ndarray:
    num, den = _PER_MS[unit]
    if raw.dtype.kind in "iu":  # exact integer arithmetic: ns times do not fit a float's 53 bits
        ints = raw.astype(np.int64)
        if abs(int(ints.max(initial=0))) * num >= 2 ** 63 or abs(int(ints.min(initial=0))) * num >= 2 ** 63:
            raise DataError(f"{where}: read as {UNIT_NAMES[unit]}, the times in column {label!r} are too large; "
                            f"check --time-unit")
        frac = np.flatnonzero(ints % den != 0)
        ms = ints * num // den
    else:
        scaled = as_float * num / den
        ms_f = np.floor(scaled) if unit == "ms" else np.round(scaled)
        frac = np.flatnonzero(scaled != ms_f if unit == "ms" else np.abs(scaled - ms_f) > 1e-3)
        ms = ms_f.astype(np.int64)
    if frac.size:
        row = int(frac[0])
        raise DataError(f"{where}: the time at data row {row + 1} ({cell(values.iloc[row])}) is not a whole "
                        f"number of milliseconds ({rows(frac.size)}). Times are read as integer ms since 1970 "
                        f"({UNIT_NAMES[unit]} here): round or floor them in the file (then check no two rows "
                        f"share a millisecond).")
    return ms


# ----------------------------------------------------------------------------------------------------- text
def _text(values, label: str, where: str, zone: ZoneInfo, time_format: str | None, detected: bool,
          how: str | None = None) -> TimeReading:
    import pandas as pd

    text = values.astype(str).str.strip()
    empty = np.flatnonzero(values.isna().to_numpy() | (text == "").to_numpy())
    if empty.size:
        row = int(empty[0])
        raise DataError(f"{where}: column {label!r} has no time at data row {row + 1} ({rows(empty.size)}). "
                        f"Clean the file and retry.")
    if time_format is not None:
        aware = "%z" in time_format or "%Z" in time_format
        parsed = pd.to_datetime(text, format=time_format, errors="coerce", utc=aware)
        how = how or f"times in the format {time_format!r}"
        _refuse_unparsed(parsed, values, label, where, f"does not match --time-format {time_format!r}")
        return _datetimes(parsed, label, where, zone, how, detected)
    text, how = _normalised(text, label, where, how)
    offsets = text.str.contains(_OFFSET).to_numpy()
    if offsets.any() and not offsets.all():
        bare, marked = int(np.flatnonzero(~offsets)[0]), int(np.flatnonzero(offsets)[0])
        raise DataError(f"{where}: some times in column {label!r} carry a UTC offset and some do not (data row "
                        f"{marked + 1} {cell(values.iloc[marked])} has one, data row {bare + 1} "
                        f"{cell(values.iloc[bare])} has none), so they cannot be placed in time alike. "
                        f"Export the file with offsets (or in UTC) throughout")
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=bool(offsets.all()))
    _refuse_unparsed(parsed, values, label, where, "is not ISO 8601 (e.g. 2024-01-02 13:45:00 or "
                     "2024-01-02T13:45:00+08:00)")
    return _datetimes(parsed, label, where, zone, how, detected)


def _normalised(text, label: str, where: str, how: str | None):
    """``text`` rewritten as ISO 8601 where the form is known (dotted and slashed dates), and its name."""
    if text.str.match(_DOTTED_YMD).all():
        return text.str.replace(_DOTTED_YMD, r"\1-\2-\3", regex=True), how or "dates YYYY.MM.DD with times"
    if text.str.match(_SLASHED_YMD).all():
        parts = text.str.extract(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$")
        iso = parts[0] + "-" + parts[1].str.zfill(2) + "-" + parts[2].str.zfill(2) + parts[3]
        return iso, how or "dates YYYY/MM/DD"
    parts = text.str.extract(_DMY_OR_MDY)
    if parts[0].notna().all():
        first, second = parts[0].astype(int).to_numpy(), parts[2].astype(int).to_numpy()
        sep = parts[1].iloc[0]
        day_first, month_first = first > 12, second > 12
        if day_first.any() and month_first.any():
            a, b = int(np.flatnonzero(day_first)[0]), int(np.flatnonzero(month_first)[0])
            raise DataError(f"{where}: the dates in column {label!r} fit neither day/month nor month/day order "
                            f"(data row {a + 1} {cell(text.iloc[a])} starts with a day, data row {b + 1} "
                            f"{cell(text.iloc[b])} with a month). Fix the file")
        if not day_first.any() and not month_first.any():
            raise DataError(f"{where}: the dates in column {label!r} ({cell(text.iloc[0])}, ...) can be read as "
                            f"day{sep}month{sep}year or as month{sep}day{sep}year: no row has a field above 12 to "
                            f"tell which. Say which with --time-format '%d{sep}%m{sep}%Y' or "
                            f"--time-format '%m{sep}%d{sep}%Y' (add the time part if the cells have one, "
                            f"e.g. ' %H:%M:%S')")
        day, month = (parts[0], parts[2]) if day_first.any() else (parts[2], parts[0])
        iso = parts[3] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts[4]
        order = "DD{0}MM{0}YYYY" if day_first.any() else "MM{0}DD{0}YYYY"
        return iso, how or f"dates {order.format(sep)} (the order told by a field above 12)"
    if text.str.match(_YMD).all():
        return text, how or "dates YYYY-MM-DD"
    return text, how or "ISO 8601 times"


def _refuse_unparsed(parsed, values, label: str, where: str, why: str) -> None:
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{where}: the time in column {label!r} at data row {row + 1} ({cell(values.iloc[row])}) "
                        f"{why} ({rows(bad.size)}). Say the form with --time-format "
                        f"(strptime codes, e.g. '%Y-%m-%d %H:%M'), or fix the file")


def _datetimes(parsed, label: str, where: str, zone: ZoneInfo, how: str, detected: bool) -> TimeReading:
    """Datetimes (a pandas Series) to ms UTC: aware ones converted, naive ones placed in ``zone``."""
    if parsed.dt.tz is not None:
        placed, where_said = parsed.dt.tz_convert("UTC"), "offsets in the file, converted to UTC"
    else:
        placed = _localised(parsed, label, where, zone)
        where_said = ("no offset in the file: read as UTC (--tz to change)" if zone.key == "UTC"
                      else f"no offset in the file: read in {zone.key} (--tz), stored as UTC")
    ns = placed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    frac = np.flatnonzero(ns % 1_000_000 != 0)
    if frac.size:
        row = int(frac[0])
        raise DataError(f"{where}: the time in column {label!r} at data row {row + 1} is not a whole number of "
                        f"milliseconds ({rows(frac.size)}); times are read as integer ms: cut them to ms in the "
                        f"file (then check no two rows share a millisecond).")
    return TimeReading(ns // 1_000_000, how, detected, where_said)


def _localised(parsed, label: str, where: str, zone: ZoneInfo):
    if zone.key == "UTC":
        return parsed.dt.tz_localize("UTC")
    try:
        return parsed.dt.tz_localize(zone, ambiguous="infer", nonexistent="raise")
    except Exception:  # noqa: BLE001, S110 - pandas' ambiguous/nonexistent time errors differ between versions
        pass  # the row is found below
    marked = parsed.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    row = int(np.flatnonzero(marked.isna().to_numpy())[0])
    raise DataError(f"{where}: the time in column {label!r} at data row {row + 1} ({parsed.iloc[row]}) happens "
                    f"twice or not at all in {zone.key} (a daylight-saving change), and the rows around it do not "
                    f"say which. Export the file in UTC or with offsets, or give a --tz without daylight saving")
