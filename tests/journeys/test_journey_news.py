"""Journey: a trader adds a news feed in the News dock's Sources… dialog, sees its items arrive (newest first,
new ones bold, scored and coloured), narrows them to the chart's symbol, opens one by double click, hovers the
news mark on the chart's time axis and reads its title; a feed that cannot be read marks the dock stale and the
stored items stay on show; the Fundamentals tab shows an A-share's figures with their report dates (issue 22)."""
from __future__ import annotations

import asyncio
import math

import numpy as np
import pandas as pd
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox

from tests.kit.ui import choose, pump, table_column, type_into

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>crypto desk</title>
<item><title>Bitcoin gains as ETF inflows beat forecasts</title><link>https://news.example/1</link>
<guid>n1</guid><pubDate>Tue, 14 Nov 2023 09:00:00 +0000</pubDate></item>
<item><title>ETH exchange hacked, losses mount</title><link>https://news.example/2</link><guid>n2</guid></item>
<item><title>&lt;b&gt;Markets&lt;/b&gt; wait for the Fed</title><link>https://news.example/3</link><guid>n3</guid></item>
</channel></rss>"""


def drive(run_async, kernel, window, qtbot, until, seconds: float = 10.0) -> None:
    """The news service's own polling task on the app's loop, the UI ticking, until ``until()``."""
    async def go():
        kernel.news.start()
        try:
            for _ in range(int(seconds / 0.05)):
                await asyncio.sleep(0.05)
                window.frames.tick()
                if until():
                    return
            raise AssertionError("the news did not arrive")
        finally:
            await kernel.news.stop()
    run_async(go())


def test_a_feed_added_in_the_dock_shows_its_news_in_the_dock_and_on_the_chart(qtbot, window_factory, run_async,
                                                                             tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_text(FEED, encoding="utf-8")
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    panel = window.news_panel
    window.docks["news"].raise_()
    pump(qtbot, kernel, window, 50)
    assert "No news sources" in panel.status.text()

    # News → Sources…: an RSS feed, named, its URL typed, Add
    qtbot.mouseClick(panel.sources_button, Qt.MouseButton.LeftButton)
    dialog = panel.sources_dialog
    qtbot.waitExposed(dialog)
    choose(dialog.kind, "RSS/Atom feed (URL)")
    type_into(dialog.name, "desk")
    type_into(dialog.target, "ftp://wrong")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert "a feed is an http(s) URL" in dialog.message.text()  # refused in the dialog, with the reason
    type_into(dialog.target, feed.as_uri())
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert "Added desk" in dialog.message.text()
    assert table_column(dialog.table, 0) == ["desk"]
    dialog.close()

    choose(panel.filter, "All")
    drive(run_async, kernel, window, qtbot, lambda: panel.model.rowCount() == 3)
    titles = panel.column(4)
    assert set(titles) == {"Bitcoin gains as ETF inflows beat forecasts", "ETH exchange hacked, losses mount",
                           "Markets wait for the Fed"}  # the markup is gone
    assert panel.new_rows() == [] or len(panel.new_rows()) == 3  # the first fill is not "new"; later ones are
    scores = dict(zip(titles, panel.column(2)))
    assert float(scores["Bitcoin gains as ETF inflows beat forecasts"]) > 0
    assert float(scores["ETH exchange hacked, losses mount"]) < 0
    assert "desk ok" in panel.status.text()

    # the chart's symbol only: BTC/USDT@sim shows the Bitcoin item
    choose(panel.filter, "This symbol")
    pump(qtbot, kernel, window, 300)
    assert panel.column(4) == ["Bitcoin gains as ETF inflows beat forecasts"]
    assert panel.column(3) == ["BTC"]
    opened = []
    panel.open_url = lambda url: opened.append(url.toString())
    rect = panel.row_rect(0)
    QTest.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # press, release,
    QTest.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # the double click
    assert opened == ["https://news.example/1"]

    # the chart: a mark at the bar it arrived in, its title on hover
    chart = window.chart
    qtbot.waitUntil(lambda: pump(qtbot, kernel, window, 50) or bool(chart.news_titles), timeout=3000)  # within 0.5 s
    (i,) = chart.news_titles
    m = chart.price.mapper()
    x = int(round(float(m.px(np.array([float(i)]))[0]) + chart.price.rect.left()))
    y = int(chart.price.rect.bottom() - 9)
    QTest.mouseMove(chart.view, QPoint(x, y))
    qtbot.waitUntil(lambda: "Bitcoin gains" in chart.news_tip)
    QTest.mouseMove(chart.view, QPoint(x, int(chart.price.rect.top() + 40)))
    qtbot.waitUntil(lambda: chart.news_tip == "")

    # Alerts → New…: "News mentions a word" (miners), on the chart's symbol
    window.docks["alerts"].raise_()
    qtbot.mouseClick(window.alerts_panel.new_button, Qt.MouseButton.LeftButton)
    dialog = window.alerts_panel.dialog
    qtbot.waitExposed(dialog)
    choose(dialog.kind, "News mentions a word")
    assert dialog.expr.isVisible() and not dialog.level.isVisible() and "comma-separated" in \
        dialog.expr.placeholderText()
    type_into(dialog.expr, "miners, halving")
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    pump(qtbot, kernel, window, 50)
    assert "news about BTC/USDT@sim mentions 'miners' or 'halving'" in table_column(window.alerts_panel.rules, 2)
    window.docks["news"].raise_()

    # a second item arrives: bold as new, and the keyword alert fires (the banner says so)
    feed.write_text(FEED.replace("</channel>", "<item><title>Bitcoin miners expand capacity</title>"
                                 "<link>https://news.example/4</link></item></channel>"), encoding="utf-8")
    window.news_panel.refresh(force=True)
    kernel.news.sources["desk"].next_due = 0.0
    drive(run_async, kernel, window, qtbot, lambda: panel.model.rowCount() == 2)
    assert panel.column(4)[0] == "Bitcoin miners expand capacity" and panel.new_rows() == [0]
    pump(qtbot, kernel, window, 100)
    assert window.banner.isVisible() and "News: Bitcoin miners expand capacity" in window.banner.label.text()

    # the feed goes away: the dock says stale since when, and the stored items stay
    feed.unlink()
    kernel.news.sources["desk"].next_due = 0.0
    drive(run_async, kernel, window, qtbot, lambda: "Stale" in panel.status.text())
    assert "desk: cannot read" in panel.status.text() and "stale since" in panel.status.text()
    assert panel.model.rowCount() == 2
    qtbot.mouseClick(panel.sources_button, Qt.MouseButton.LeftButton)  # the source's counts and its error
    dialog = panel.sources_dialog
    qtbot.waitExposed(dialog)
    (row,) = [i for i, name in enumerate(table_column(dialog.table, 0)) if name == "desk"]
    assert table_column(dialog.table, 2)[row].startswith("paused ") and table_column(dialog.table, 3)[row] == "4"
    assert table_column(dialog.table, 6)[row].startswith("cannot read")
    dialog.close()


class FakeAkshare:
    """stock_value_em and stock_financial_abstract as akshare 1.19.5 shapes them (no network)."""

    def stock_value_em(self, symbol):
        return pd.DataFrame({"数据日期": [pd.Timestamp("2023-11-13").date(), pd.Timestamp("2023-11-14").date()],
                             "当日收盘价": [1800.0, 1805.0], "当日涨跌幅": [0.1, 0.28], "总市值": [2.26e12, 2.27e12],
                             "流通市值": [2.26e12, 2.27e12], "总股本": [1.256e9, 1.256e9],
                             "流通股本": [1.256e9, 1.256e9], "PE(TTM)": [30.1, 30.4], "PE(静)": [33.0, 33.2],
                             "市净率": [9.1, 9.2], "PEG值": [1.5, 1.5], "市现率": [40.0, 40.1], "市销率": [15.0, 15.1]})

    def stock_financial_abstract(self, symbol):
        return pd.DataFrame({"选项": ["常用指标", "常用指标", "常用指标", "成长能力", "成长能力"],
                             "指标": ["归母净利润", "营业总收入", "净资产收益率(ROE)", "营业总收入增长率",
                                      "归属母公司净利润增长率"],
                             "20230930": [1.0e11, 1.0e11, 25.0, 16.0, 19.0],
                             "20221231": [6.3e10, 1.2e11, 30.0, 16.5, 19.5]})


def test_the_fundamentals_tab_shows_an_a_shares_figures_with_their_dates(qtbot, window_factory, run_async,
                                                                        monkeypatch):
    import app.engine.news.fundamentals as fundamentals

    monkeypatch.setattr(fundamentals, "AkshareFundamentals", FakeAkshare)
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 200)
    window.set_symbol("600519.SH@sim")
    panel = window.news_panel
    window.docks["news"].raise_()
    panel.tabs.setCurrentWidget(panel.fundamentals)
    pump(qtbot, kernel, window, 300)
    tab = panel.fundamentals
    assert tab.header.text().startswith("600519.SH")

    async def refresh():
        qtbot.mouseClick(tab.refresh, Qt.MouseButton.LeftButton)
        for _ in range(200):
            await asyncio.sleep(0.02)
            if tab.refresh.isEnabled() and tab.table.rowCount():
                return
    run_async(refresh())
    figures = dict(zip(table_column(tab.table, 0), zip(table_column(tab.table, 1), table_column(tab.table, 2))))
    pe = next(v for k, v in figures.items() if "PE TTM" in k)
    assert pe == ("30.40", "2023-11-14")
    roe = next(v for k, v in figures.items() if "ROE" in k)
    assert roe[1] == "2023-09-30" and not math.isnan(float(roe[0].split()[0].replace("%", "")))

    qtbot.mouseClick(tab.refresh, Qt.MouseButton.LeftButton)  # again at once: not sent, said why
    assert tab.errors.text().startswith("Fetched 0 s ago; Refresh again in 60 s")

    window.set_symbol("BTC/USDT@sim")  # not an A-share: said so
    panel.tabs.setCurrentWidget(panel.news_tab if hasattr(panel, "news_tab") else panel.tabs.widget(0))
    panel.tabs.setCurrentWidget(panel.fundamentals)
    pump(qtbot, kernel, window, 300)
    assert "available for A-shares" in tab.message.text()
