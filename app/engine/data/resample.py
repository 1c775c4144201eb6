"""Resampling bars to a longer timeframe (1m -> 5m ... 1d), vectorised, from the base bars alone.

A resampled bar holds the base bars whose open time falls in its bucket: first open, max high, min low, last
close, summed volume. Buckets (``bucket_start``):

- 24-hour markets (``sessions=""``): ``ts - ts % timeframe_ms``, UTC-aligned; days start at 00:00 UTC;
- China A-shares (``sessions="ashare"``, an instrument whose ``rules`` is "ashare"): anchored on each session's
  open in exchange time (09:30 and 13:00 Asia/Shanghai), so no bar spans the lunch break: 60 minutes is
  09:30, 10:30, 13:00, 14:00; a timeframe longer than a session (120 minutes) is the session; a day opens at
  00:00 exchange time (as akshare's daily bars do), so there is one bar per trading day, on the exchange's
  calendar because only trading days have bars. Auction minutes before an open join the first bar.

The chart uses it for its timeframe menu; strategies and history downloads for timeframes a venue does not
serve. Pure numpy, no Qt.
"""
from __future__ import annotations

import re

import numpy as np

from app.engine.core.ashare_rules import SESSIONS

_DAY = 86_400_000
_MIN = 60_000
_ASHARE_UTC_OFFSET = 8 * 3_600_000  # Asia/Shanghai, no DST
_MORNING, _AFTERNOON = (SESSIONS[0][0].hour * 60 + SESSIONS[0][0].minute,
                        SESSIONS[1][0].hour * 60 + SESSIONS[1][0].minute)  # session opens, minute of day
_SESSION_MIN = 120  # both sessions are two hours

TIMEFRAMES_MS: dict[str, int] = {
    "1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "4h": 14_400_000,
    "1d": 86_400_000,
}


_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000}  # largest first


def timeframe_label(ms: int) -> str:
    """5 minutes -> "5m", 2 hours -> "2h", a week -> "1w": the largest whole unit (ccxt's notation too)."""
    for unit, size in _UNIT_MS.items():
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_timeframe(text: str) -> int:
    """ "1m", "15m", "4h", "1d", "1w" (a number and s, m, h, d or w) -> ms; a clear ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"timeframe {text!r}: write a number and a unit, e.g. 1m, 15m, 4h, 1d (units s m h d w)")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def bucket_start(ts: np.ndarray | int, timeframe_ms: int, sessions: str = ""):
    """Open time of the ``timeframe_ms`` bar containing ``ts`` (ms); ``sessions``: "" or "ashare"."""
    if sessions == "ashare":
        return _ashare_bucket(np.asarray(ts, dtype=np.int64), timeframe_ms)
    if sessions:
        raise ValueError(f"unknown sessions {sessions!r}: '' (24-hour) or 'ashare'")
    return ts - ts % timeframe_ms


def _ashare_bucket(ts: np.ndarray, timeframe_ms: int) -> np.ndarray:
    local = ts + _ASHARE_UTC_OFFSET
    day = local - local % _DAY
    if timeframe_ms >= _DAY:
        return day - _ASHARE_UTC_OFFSET
    minute = (local - day) // _MIN
    opens = np.where(minute < (_MORNING + _AFTERNOON + _SESSION_MIN) // 2, _MORNING, _AFTERNOON)  # 12:00
    into = np.clip(minute - opens, 0, _SESSION_MIN - 1)  # auction minutes join the first bar, 15:00 the last
    step = min(timeframe_ms // _MIN, _SESSION_MIN)
    return day + (opens + into // step * step) * _MIN - _ASHARE_UTC_OFFSET


def resample(ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
             volume: np.ndarray, timeframe_ms: int, sessions: str = "") -> tuple[np.ndarray, ...]:
    """Base bars (time-ordered) -> (ts, open, high, low, close, volume) at ``timeframe_ms``."""
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) == 0:
        return ts.copy(), *(np.empty(0) for _ in range(5))
    keys = bucket_start(ts, timeframe_ms, sessions)
    starts = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], starts))
    ends = np.append(starts[1:], len(ts)) - 1
    return (keys[starts], np.asarray(open_, dtype=np.float64)[starts],
            np.maximum.reduceat(np.asarray(high, dtype=np.float64), starts),
            np.minimum.reduceat(np.asarray(low, dtype=np.float64), starts),
            np.asarray(close, dtype=np.float64)[ends], np.add.reduceat(np.asarray(volume, dtype=np.float64), starts))


def base_timeframe_ms(ts: np.ndarray) -> int:
    """The bar spacing of ``ts`` (the smallest gap among the first bars), e.g. 60_000 for 1m bars."""
    ts = np.asarray(ts[:2000], dtype=np.int64)
    gaps = np.diff(ts)
    gaps = gaps[gaps > 0]
    return int(gaps.min()) if len(gaps) else 60_000
