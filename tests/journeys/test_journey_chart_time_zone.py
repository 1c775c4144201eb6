"""Journey: a trader reads the chart's times in the zone they think in. The A-share chart shows Shanghai time and
says so at the end of its time scale; a crypto chart shows UTC, its venues' time. The trader switches a chart to
UTC from the time scale's right-click menu and to local time from the Time button; the choice survives a
restart; the profile's settings file sets the zone a chart starts in (issue 18, item 7)."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMenu

from tests.kit.journeys import click_entry, pick_from_button_menu
from tests.kit.ui import pump
from tests.kit.zones import local_zone_fixture, needs_tzset  # noqa: F401 (the fixture local_zone)

SHANGHAI_MIDNIGHT = 1_750_003_200_000  # 2025-06-16 00:00 in Shanghai = 2025-06-15 16:00 UTC


@pytest.fixture
def sim_clock():
    """00:45 in Shanghai: the last hours of bars cross its midnight (16:00 UTC)."""
    from app.engine.core.clock import SimClock

    return SimClock(SHANGHAI_MIDNIGHT + 45 * 60_000)


def time_scale(qtbot, chart) -> tuple[list[str], str]:
    """The tick labels and the zone's name on the chart's time scale, as painted now."""
    chart.view.repaint()
    qtbot.wait(1)
    return chart.view.time_ticks.last[1], chart.view.time_ticks.zone_label


def right_click_time_scale(qtbot, chart) -> QMenu:
    r = chart.view.time_rect
    qtbot.mouseClick(chart.view, Qt.MouseButton.RightButton, pos=QPoint(int(r.center().x()), int(r.center().y())))
    qtbot.waitUntil(lambda: chart.zone_menu.isVisible())
    return chart.zone_menu


def pick_from_time_button(qtbot, chart, starts: str) -> None:
    """Click the tool bar's Time button; in the menu it opens (a modal popup), click ``starts``."""
    return pick_from_button_menu(qtbot, chart.zone_button, starts)


def test_each_chart_shows_its_exchange_time_and_says_so_and_the_trader_switches_it(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    chart = window.chart

    chart.set_symbol("600519.SH@sim")
    pump(qtbot, kernel, window, 100)
    labels, zone = time_scale(qtbot, chart)
    assert zone == "UTC+8 (exchange)" and chart.zone_button.text() == "Exchange time"
    assert labels[-4:] == ["23:00", "23:30", "16 Jun", "00:30"]  # the date at its midnight
    assert chart.readout().startswith("16 Jun 00:")  # the last bar, in Shanghai time

    menu = right_click_time_scale(qtbot, chart)
    assert [a.text() for a in menu.actions()] == ["Exchange time (UTC+8)", "Local time (UTC)", "UTC"]
    click_entry(qtbot, menu, "UTC")
    labels, zone = time_scale(qtbot, chart)
    assert zone == "UTC" and chart.zone_button.text() == "UTC"
    assert labels[-4:] == ["15:00", "15:30", "16:00", "16:30"]
    assert chart.readout().startswith("15 Jun 16:")

    chart.set_symbol("BTC/USDT@sim")  # a crypto venue: its exchange time is UTC
    pump(qtbot, kernel, window, 100)
    pick_from_time_button(qtbot, chart, "Exchange time")
    labels, zone = time_scale(qtbot, chart)
    assert zone == "UTC (exchange)"
    assert labels[-4:] == ["15:00", "15:30", "16:00", "16:30"]

    kernel, window = window_factory.restart(kernel, window)
    chart = window.chart
    assert chart.symbol == "BTC/USDT@sim" and chart.zone_button.text() == "Exchange time"
    chart.set_symbol("600519.SH@sim")
    pump(qtbot, kernel, window, 100)
    assert time_scale(qtbot, window.chart)[1] == "UTC+8 (exchange)"


@needs_tzset
def test_local_time_from_the_settings_file_and_the_choice_survives_a_restart(qtbot, window_factory, profile,
                                                                            local_zone):
    local_zone("Europe/Berlin")  # UTC+2 in June
    (profile / "settings.json").write_text(json.dumps({"ui": {"chart_time_zone": "local"}}))
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    chart = window.chart
    labels, zone = time_scale(qtbot, chart)
    assert zone == "local UTC+2" and chart.zone_button.text() == "Local time"
    assert labels[-2:] == ["18:00", "18:30"]  # 16:00 and 16:30 UTC

    items = pick_from_time_button(qtbot, chart, "Exchange time")
    assert items == ["Exchange time (UTC)", "Local time (UTC+2)", "UTC"]
    assert time_scale(qtbot, chart)[1] == "UTC (exchange)"
    extra = window.chart_docks.add()  # a new chart starts in the settings file's zone
    pump(qtbot, kernel, window, 100)
    assert time_scale(qtbot, extra)[1] == "local UTC+2"

    kernel, window = window_factory.restart(kernel, window)
    assert window.chart.zone_button.text() == "Exchange time"  # chosen on this chart: kept
    (extra,) = window.chart_docks.charts.values()
    assert extra.zone_button.text() == "Local time"  # left on the default: follows the settings file
    pump(qtbot, kernel, window, 100)
    assert time_scale(qtbot, window.chart)[1] == "UTC (exchange)"
