"""The Fundamentals tab, shown: what a person reads (figures, their dates, when fetched, the stale mark, the
message for a symbol that is not an A-share) and the Refresh button's request."""
from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import Qt

from app.engine.news.fundamentals import ABSTRACT_FN, VALUE_FN, Figure
from app.widgets.news.fundamentals import FundamentalsTab

FETCHED = int(dt.datetime(2024, 10, 12, 15, 3).timestamp() * 1000)  # local time, as the tab shows it
FIGURES = {
    "pe_ttm": Figure("pe_ttm", 24.08, "2024-10-11", VALUE_FN, FETCHED),
    "market_cap": Figure("market_cap", 1.93579e12, "2024-10-11", VALUE_FN, FETCHED),
    "roe": Figure("roe", 24.64, "2024-09-30", f"{ABSTRACT_FN} 净资产收益率(ROE)", FETCHED),
    "revenue_yoy": Figure("revenue_yoy", 15.04, "2024-09-30", f"{ABSTRACT_FN} 营业总收入增长率", FETCHED),
}


@pytest.fixture
def tab(qtbot):
    t = FundamentalsTab()
    qtbot.addWidget(t)
    t.resize(700, 420)
    t.show()
    qtbot.waitExposed(t)
    return t


def rows(tab) -> dict[str, tuple[str, str]]:
    """Figure label -> (value, date), as the visible table shows them."""
    table = tab.table
    assert table.isVisible()
    return {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}


def test_figures_with_their_dates_and_when_they_were_fetched(tab):
    tab.show_figures("600519.SH", FIGURES, FETCHED, False, [])
    assert tab.header.text() == "600519.SH · as of 2024-10-12 15:03"
    shown = rows(tab)
    assert shown["PE TTM (PE(TTM))"] == ("24.08", "2024-10-11")
    assert shown["Market cap (总市值)"] == ("1.94 万亿 元", "2024-10-11")
    assert shown["ROE % (净资产收益率)"] == ("24.64 %", "2024-09-30")
    assert shown["Revenue YoY % (营业总收入增长率)"] == ("+15.04 %", "2024-09-30")
    assert next(iter(shown)) == "Market cap (总市值)"  # valuation first, in FIELDS order
    assert tab.stale.text() == "" and not tab.message.isVisible()


def test_stale_figures_are_marked_and_the_errors_said(tab):
    errors = ["stock_value_em: hung: no answer within 20 s", "stock_financial_abstract: OSError: offline"]
    tab.show_figures("600519.SH", FIGURES, FETCHED, True, errors)
    assert tab.stale.isVisible() and tab.stale.text().startswith("⚠ stale")
    assert tab.errors.isVisible() and tab.errors.text() == "\n".join(errors)
    assert rows(tab)["PE TTM (PE(TTM))"] == ("24.08", "2024-10-11")
    tab.show_figures("600519.SH", FIGURES, FETCHED, False, [])
    assert tab.stale.text() == "" and tab.errors.text() == ""


def test_a_symbol_that_is_not_an_a_share_gets_the_message(tab):
    tab.show_figures("600519.SH", FIGURES, FETCHED, False, [])
    tab.set_symbol("BTC/USDT@sim")
    assert tab.message.isVisible()
    assert tab.message.text() == "Fundamentals are available for A-shares (akshare)"
    assert not tab.table.isVisible() and tab.table.rowCount() == 0
    assert not tab.refresh.isEnabled()


def test_an_a_share_with_nothing_stored_says_so(tab):
    tab.set_symbol("000001.SZ")
    assert tab.header.text() == "000001.SZ · as of never"
    assert tab.message.isVisible() and "press Refresh" in tab.message.text()


def test_refresh_asks_for_the_shown_symbol(tab, qtbot):
    tab.show_figures("000001.SZ", FIGURES, FETCHED, False, [])
    with qtbot.waitSignal(tab.refresh_requested, timeout=1000) as got:
        qtbot.mouseClick(tab.refresh, Qt.MouseButton.LeftButton)
    assert got.args == ["000001.SZ"]
