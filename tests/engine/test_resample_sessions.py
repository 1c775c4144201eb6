"""A-share bars resampled on the exchange's sessions: no bar spans the lunch break, an hour is 09:30-10:30,
a day opens at 00:00 exchange time (as akshare's daily bars do); 24-hour markets stay UTC-aligned."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.engine.core.ashare_rules import SHANGHAI
from app.engine.data.bars import Bars
from app.engine.data.resample import bucket_start, resample
from app.widgets.chart.data import Resampler

MIN = 60_000


def at(y, m, d, hh, mm) -> int:
    return int(dt.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).timestamp() * 1000)


def one_day_of_minutes(day=(2024, 1, 4)) -> np.ndarray:
    """Bar open times of a trading day's 1-minute bars: 09:30-11:29 and 13:00-14:59, exchange time."""
    morning = at(*day, 9, 30) + MIN * np.arange(120)
    afternoon = at(*day, 13, 0) + MIN * np.arange(120)
    return np.concatenate([morning, afternoon]).astype(np.int64)


def resampled(ts: np.ndarray, tf_ms: int, sessions: str = "ashare"):
    price = np.arange(len(ts), dtype=np.float64) + 100.0
    return resample(ts, price, price + 0.5, price - 0.5, price, np.ones(len(ts)), tf_ms, sessions)


def local(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime("%m-%d %H:%M")


@pytest.mark.parametrize("tf_min, opens, sizes", [
    (60, ["01-04 09:30", "01-04 10:30", "01-04 13:00", "01-04 14:00"], [60, 60, 60, 60]),
    (30, ["01-04 09:30", "01-04 10:00", "01-04 10:30", "01-04 11:00",
          "01-04 13:00", "01-04 13:30", "01-04 14:00", "01-04 14:30"], [30] * 8),
    (240, ["01-04 09:30", "01-04 13:00"], [120, 120]),  # longer than a session: the session
    (1440, ["01-04 00:00"], [240]),  # one bar per trading day, at 00:00 exchange time
])
def test_ashare_bars_follow_the_sessions(tf_min, opens, sizes):
    ts = one_day_of_minutes()
    out_ts, o, h, lo, c, v = resampled(ts, tf_min * MIN)
    assert [local(t) for t in out_ts] == opens
    assert list(v) == sizes  # every minute bar in exactly one resampled bar
    assert o[0] == 100.0 and c[-1] == 100.0 + len(ts) - 1


def test_no_ashare_bar_spans_the_lunch_break_but_a_utc_aligned_one_would():
    ts = one_day_of_minutes()
    utc = resampled(ts, 60 * MIN, sessions="")[0]
    assert "01-04 11:00" in [local(t) for t in utc]  # 11:00-11:29 alone: the UTC-aligned hour
    assert "01-04 11:00" not in [local(t) for t in resampled(ts, 60 * MIN)[0]]


def test_auction_and_closing_minutes_join_the_session_bars():
    ts = np.array([at(2024, 1, 4, 9, 25), at(2024, 1, 4, 9, 30), at(2024, 1, 4, 14, 59),
                   at(2024, 1, 4, 15, 0)], dtype=np.int64)
    assert [local(t) for t in bucket_start(ts, 60 * MIN, "ashare")] == ["01-04 09:30"] * 2 + ["01-04 14:00"] * 2


def test_the_chart_keeps_session_bars_in_step_with_live_minutes():
    """The chart's Resampler (live updates touch only the last resampled bar) agrees with a full resample."""
    ts = one_day_of_minutes()
    price = np.linspace(100, 110, len(ts))
    base = Bars.from_arrays(ts[:100], price[:100], price[:100] + 1, price[:100] - 1, price[:100],
                            np.ones(100), timeframe_ms=MIN)
    r = Resampler(base, 60 * MIN, "ashare")
    for i in range(100, len(ts)):
        base.update({"ts": int(ts[i]), "open": price[i], "high": price[i] + 1, "low": price[i] - 1,
                     "close": price[i], "volume": 1.0})
        r.base_changed(i)
    full = resample(ts, price, price + 1, price - 1, price, np.ones(len(ts)), 60 * MIN, "ashare")
    assert np.array_equal(r.bars.ts, full[0]) and np.allclose(r.bars.column("volume"), full[5])
    assert np.allclose(r.bars.column("close"), full[4]) and np.allclose(r.bars.column("open"), full[1])


def test_unknown_sessions_are_refused():
    with pytest.raises(ValueError, match="unknown sessions"):
        bucket_start(np.array([0]), MIN, "nyse")
