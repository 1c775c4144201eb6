"""The chart's time scale in a chosen zone: ticks on that zone's boundaries, labels and the readout in its
wall-clock time, the zone named at the end of the scale (a shown standalone chart; the zones themselves)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from PySide6.QtGui import QImage

from app.widgets.chart.widget import ChartWidget
from app.widgets.chart.zones import offset_text, zone_for
from tests.kit.zones import local_zone_fixture, needs_tzset  # noqa: F401 (the fixture local_zone)

BEIJING = dt.timezone(dt.timedelta(hours=8))


def daily_bars_stamped_in_beijing() -> pd.DataFrame:
    """A year of weekdays from Mon 1 Jan 2024, each stamped at midnight Beijing time (16:00 UTC the day
    before), as akshare stamps A-share daily bars."""
    days = [d for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(366)) if d.weekday() < 5]
    ts = np.array([int(dt.datetime(d.year, d.month, d.day, tzinfo=BEIJING).timestamp() * 1000) for d in days])
    close = np.linspace(1700.0, 1750.0, len(ts))
    return pd.DataFrame({"ts": ts, "open": close, "high": close + 5, "low": close - 5, "close": close,
                         "volume": np.full(len(ts), 1e6)})


@pytest.fixture
def chart(qtbot):
    c = ChartWidget(time_zone="UTC")
    qtbot.addWidget(c)
    c.resize(1200, 600)
    c.show()
    qtbot.waitExposed(c)
    return c


def shown(qtbot, chart) -> tuple[list[str], str]:
    """The time scale's tick labels and zone name as painted now."""
    chart.view.repaint()
    qtbot.wait(1)
    return chart.view.time_ticks.last[1], chart.view.time_ticks.zone_label


@needs_tzset
def test_month_ticks_and_the_readout_follow_the_zone_s_calendar(qtbot, chart, local_zone):
    """The 1 Apr bar opens at 31 Mar 16:00 UTC: in UTC the month changes one bar later (2 Apr's bar), and the
    bar reads as Sunday 31 Mar. In Shanghai time the April tick is on the 1 Apr bar, which reads Monday."""
    local_zone("Asia/Shanghai")
    df = daily_bars_stamped_in_beijing()
    chart.set_bars(df)
    chart.set_x_range(0, len(df) - 1)
    first_april = int(np.searchsorted(df["ts"], dt.datetime(2024, 4, 1, tzinfo=BEIJING).timestamp() * 1000))

    labels, zone = shown(qtbot, chart)
    assert zone == "UTC"
    xs = chart.view.time_ticks.last[0]
    assert "Apr 2024" in labels and xs[labels.index("Apr 2024")] == first_april + 1
    chart._set_hover(first_april, None)
    assert chart.view.time_scale.tags[0].text == "Sun 31 Mar 2024"
    assert chart.readout().startswith("Sun 31 Mar 2024")

    chart.set_time_zone("local")
    labels, zone = shown(qtbot, chart)
    assert zone == "local UTC+8"
    xs = chart.view.time_ticks.last[0]
    assert "Apr 2024" in labels and xs[labels.index("Apr 2024")] == first_april
    assert chart.view.time_scale.tags[0].text == "Mon 01 Apr 2024"  # the crosshair's tag follows at once
    assert chart.readout().startswith("Mon 01 Apr 2024")


def test_intraday_ticks_of_a_day_change_on_the_zone_s_midnight(qtbot, chart, local_zone):
    """24-hour bars across 16:00 UTC: a date tick there in Shanghai time (its midnight), an hour in UTC."""
    t0 = int(dt.datetime(2025, 6, 15, 13, 0, tzinfo=dt.UTC).timestamp() * 1000)
    n = 6 * 60
    ts = t0 + 60_000 * np.arange(n)
    c = np.linspace(100, 101, n)
    chart.set_bars({"ts": ts, "open": c, "high": c, "low": c, "close": c, "volume": np.ones(n)})
    chart.set_x_range(0, n - 1)
    labels, zone = shown(qtbot, chart)
    assert zone == "UTC"
    assert labels == ["13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30", "17:00", "17:30", "18:00",
                      "18:30"]
    assert chart.view.time_ticks.last[0][labels.index("16:00")] == 180  # 16:00 UTC: the 180th minute
    if hasattr(__import__("time"), "tzset"):
        local_zone("Asia/Shanghai")
        chart.set_time_zone("local")
        labels, zone = shown(qtbot, chart)
        assert zone == "local UTC+8"
        assert labels == ["21:30", "22:00", "22:30", "23:00", "23:30", "16 Jun", "00:30", "01:00", "01:30",
                          "02:00", "02:30"]
        assert chart.view.time_ticks.last[0][labels.index("16 Jun")] == 180  # midnight in Shanghai


def test_the_zone_is_named_at_the_end_of_the_time_scale(qtbot, chart):
    """The name is painted in text pixels at the scale's right end, and repainted when the zone changes."""
    chart.set_bars({"ts": 1_750_000_000_000 + 60_000 * np.arange(300), "open": np.ones(300), "high": np.ones(300),
                    "low": np.ones(300), "close": np.ones(300), "volume": np.ones(300)})

    def right_end() -> np.ndarray:
        """The pixels (rows x columns x BGRA) of the zone's name as painted now."""
        chart.view.repaint()
        r = chart.view.time_scale.zone_rect(chart.view.time_rect).toAlignedRect()
        img = chart.view.grab(r).toImage().convertToFormat(QImage.Format.Format_RGB32)
        rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
        return rows[:, : 4 * img.width()].reshape(img.height(), img.width(), 4).copy()  # (img owns the bytes)

    def text_pixels(px: np.ndarray) -> int:
        return int((px[..., :3].max(axis=2) > 90).sum())  # the background and the separator are darker

    utc = right_end()
    assert 20 < utc.shape[1] < 140 and text_pixels(utc) > 15
    chart.set_time_zone("exchange")
    exchange = right_end()
    assert chart.view.time_ticks.zone_label == "UTC (exchange)"  # a standalone chart: no exchange zone
    assert exchange.shape[1] > utc.shape[1] + 20 and text_pixels(exchange) > 2 * text_pixels(utc)


@needs_tzset
def test_a_zone_with_daylight_saving_time_changes_its_offset_to_the_second(local_zone):
    local_zone("Europe/Berlin")
    zone = zone_for("local")
    change = int(dt.datetime(2024, 3, 31, 1, 0, tzinfo=dt.UTC).timestamp() * 1000)  # 02:00 -> 03:00
    ts = np.array([change - 1000, change, change + 3_600_000, change + 220 * 86_400_000])
    assert (zone.offsets_ms(ts) // 3_600_000).tolist() == [1, 2, 2, 1]
    assert zone.label(change - 1000) == "local UTC+1" and zone.label(change) == "local UTC+2"


def test_zones_by_choice_and_rules():
    assert zone_for("exchange", "ashare").label(0) == "UTC+8 (exchange)"
    assert zone_for("exchange", "").label(0) == "UTC (exchange)"  # crypto venues have no exchange zone
    assert zone_for("UTC", "ashare").label(0) == "UTC"
    assert [offset_text(s) for s in (0, 28_800, -18_000, 19_800)] == ["UTC", "UTC+8", "UTC-5", "UTC+5:30"]
    with pytest.raises(ValueError, match="exchange, local, UTC"):
        ChartWidget.set_time_zone(object(), "Tokyo")
