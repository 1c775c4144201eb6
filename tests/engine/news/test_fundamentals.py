"""A-share fundamentals: akshare's two tables (fakes shaped as akshare 1.19.5 builds them) parsed into dated
figures, garbage refused with the function's name, hangs cut at the deadline, and stored figures served when a
source fails."""
from __future__ import annotations

import datetime as dt
import math
import sqlite3
import threading
import time

import pandas as pd
import pytest

from app.engine.news.fundamentals import (
    ABSTRACT_FN,
    NOT_A_SHARE,
    VALUE_FN,
    Figure,
    FundamentalsError,
    FundamentalsStore,
    NotAShare,
    a_share_code,
    fetch_fundamentals,
    format_value,
    parse_abstract,
    parse_value,
)
from app.engine.venues.executor import DeadlineExecutor
from tests.kit.venues import run

NAN = math.nan


def value_frame() -> pd.DataFrame:
    """``stock_value_em``: one row per day, oldest first, 数据日期 a ``datetime.date`` (``.dt.date``)."""
    return pd.DataFrame({
        "数据日期": [dt.date(2024, 10, 9), dt.date(2024, 10, 10), dt.date(2024, 10, 11)],
        "当日收盘价": [1530.0, 1545.5, 1541.0],
        "当日涨跌幅": [-2.1, 1.01, -0.29],
        "总市值": [1.9219e12, 1.9414e12, 1.93579e12],
        "流通市值": [1.9219e12, 1.9414e12, 1.93579e12],
        "总股本": [1.25619e9] * 3,
        "流通股本": [1.25619e9] * 3,
        "PE(TTM)": [23.9, 24.15, 24.08],
        "PE(静)": [25.7, 25.96, 25.89],
        "市净率": [8.1, 8.18, 8.16],
        "PEG值": [1.71, 1.73, NAN],  # the latest day has none: yesterday's, with yesterday's date
        "市现率": [29.4, 29.7, 29.6],
        "市销率": [11.9, 12.0, 11.98],
    })


DATES = ["20240930", "20240630", "20231231", "20230930"]  # sina's order: newest first


def abstract_frame(growth_rows: bool = True) -> pd.DataFrame:
    """``stock_financial_abstract``: 选项 (section), 指标 (row name), one column per report date."""
    rows = [
        ("常用指标", "归母净利润", [6.0827e10, 4.1696e10, 7.4734e10, 5.2876e10]),
        ("常用指标", "营业总收入", [1.2112e11, 8.3451e10, 1.5056e11, 1.0532e11]),
        ("常用指标", "营业成本", [9.6e9, 6.7e9, 1.1e10, 8.3e9]),
        ("常用指标", "净利润", [6.3e10, 4.3e10, 7.8e10, 5.5e10]),
        ("常用指标", "扣非净利润", [6.08e10, 4.17e10, 7.47e10, 5.28e10]),
        ("常用指标", "净资产收益率(ROE)", [24.64, 16.87, 34.19, 23.2]),
        ("常用指标", "毛利率", [NAN, 91.76, 91.96, 91.6]),  # no number yet for 20240930
        ("每股指标", "基本每股收益", [48.42, 33.19, 59.49, 42.09]),
        ("盈利能力", "毛利率", [91.53, 91.76, 91.96, 91.6]),  # the same name in another section
        ("成长能力", "营业总收入增长率", [15.04, 17.56, 18.04, 16.47]),
        ("成长能力", "归属母公司净利润增长率", [15.04, 15.88, 19.16, 15.86]),
        ("财务风险", "资产负债率", [13.9, 14.2, 17.98, 12.1]),
    ]
    if not growth_rows:
        rows = [r for r in rows if r[0] != "成长能力"]
    data = {"选项": [r[0] for r in rows], "指标": [r[1] for r in rows]}
    for i, d in enumerate(DATES):
        data[d] = [r[2][i] for r in rows]
    return pd.DataFrame(data)


class FakeAkshare:
    """The two functions, answering frames, raising, or hanging until released."""

    def __init__(self, value=None, abstract=None) -> None:
        self.value = value_frame() if value is None else value
        self.abstract = abstract_frame() if abstract is None else abstract
        self.release = threading.Event()
        self.calls: list[tuple[str, str]] = []

    def _answer(self, what, name, symbol):
        self.calls.append((name, symbol))
        if isinstance(what, str) and what == "hang":
            self.release.wait(10)
            raise RuntimeError("released")
        if isinstance(what, BaseException):
            raise what
        return what

    def stock_value_em(self, symbol: str):
        return self._answer(self.value, VALUE_FN, symbol)

    def stock_financial_abstract(self, symbol: str):
        return self._answer(self.abstract, ABSTRACT_FN, symbol)


@pytest.fixture
def executor():
    ex = DeadlineExecutor(workers=2, max_stuck=2, name="test-fund")
    yield ex
    ex.shutdown()


# ------------------------------------------------------------------------------------------------ parsing
def test_valuation_takes_the_latest_day_and_each_figure_keeps_its_date():
    figs = parse_value(value_frame(), "600519")
    assert figs["pe_ttm"] == Figure("pe_ttm", 24.08, "2024-10-11", VALUE_FN)
    assert figs["pe_static"].value == 25.89 and figs["pb"].value == 8.16
    assert figs["market_cap"].value == 1.93579e12  # yuan, as eastmoney gives it
    assert (figs["peg"].value, figs["peg"].report_date) == (1.73, "2024-10-10")
    assert set(figs) == {"close", "change_pct", "market_cap", "float_cap", "total_shares", "float_shares",
                         "pe_ttm", "pe_static", "pb", "peg", "pcf", "ps"}


def test_valuation_text_cells_and_unordered_rows():
    df = value_frame().iloc[::-1].reset_index(drop=True)  # newest first: the date decides, not the position
    df["PE(TTM)"] = ["--", "", None]  # the newest (row 0) is "--": the day before has ""; the oldest None
    df["市净率"] = df["市净率"].astype(object)
    df.loc[0, "市净率"] = "8.16"
    df["数据日期"] = ["2024-10-11", "2024-10-10", "not a date"]
    figs = parse_value(df, "600519")
    assert "pe_ttm" not in figs
    assert figs["pb"] == Figure("pb", 8.16, "2024-10-11", VALUE_FN)
    assert figs["close"].report_date == "2024-10-11"


def test_abstract_takes_the_latest_report_date_that_has_each_figure():
    figs = parse_abstract(abstract_frame(), "600519")
    assert figs["revenue"] == Figure("revenue", 1.2112e11, "2024-09-30", f"{ABSTRACT_FN} 营业总收入")
    assert figs["net_profit"].value == 6.0827e10 and figs["net_profit"].source.endswith("归母净利润")
    assert (figs["roe"].value, figs["roe"].report_date) == (24.64, "2024-09-30")
    # 常用指标's 毛利率 has no number for 20240930: its latest is 20240630 (the section asked for first wins)
    assert (figs["gross_margin"].value, figs["gross_margin"].report_date) == (91.76, "2024-06-30")
    assert (figs["revenue_yoy"].value, figs["revenue_yoy"].report_date) == (15.04, "2024-09-30")
    assert figs["net_profit_yoy"].source == f"{ABSTRACT_FN} 归属母公司净利润增长率"


def test_abstract_prefers_the_named_section_whatever_the_row_order():
    figs = parse_abstract(abstract_frame().iloc[::-1].reset_index(drop=True), "600519")
    assert (figs["gross_margin"].value, figs["gross_margin"].report_date) == (91.76, "2024-06-30")


def test_abstract_without_growth_rows_computes_yoy_from_a_year_earlier_and_says_so():
    figs = parse_abstract(abstract_frame(growth_rows=False), "600519")
    yoy = figs["revenue_yoy"]
    assert yoy.report_date == "2024-09-30"
    assert yoy.value == pytest.approx((1.2112e11 - 1.0532e11) / 1.0532e11 * 100)
    assert yoy.source == f"computed from {ABSTRACT_FN} 营业总收入 20240930 vs 20230930"
    assert figs["net_profit_yoy"].value == pytest.approx((6.0827e10 - 5.2876e10) / 5.2876e10 * 100)


@pytest.mark.parametrize("garbage, words", [
    (None, "NoneType, not a table"),
    ([{"a": 1}], "list, not a table"),
    (pd.DataFrame(), "no rows"),
    (pd.DataFrame({"code": ["600519"], "msg": ["rate limited"]}), "no 数据日期 column"),
    (pd.DataFrame({"数据日期": ["2024-10-11"], "foo": [1.0]}), "none of the valuation columns"),
    (pd.DataFrame({"数据日期": ["2024-10-11"], "PE(TTM)": ["--"], "市净率": [""]}), "no dated number"),
    (pd.DataFrame([[1, 2]], columns=["数据日期", "数据日期"]), "repeated column names"),
])
def test_garbage_valuation_is_a_clear_error(garbage, words):
    with pytest.raises(FundamentalsError) as info:
        parse_value(garbage, "600519")
    assert VALUE_FN in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("garbage, words", [
    (pd.DataFrame({"选项": ["常用指标"], "20240930": [1.0]}), "no 指标 column"),
    (pd.DataFrame({"选项": ["常用指标"], "指标": ["归母净利润"], "latest": [1.0]}), "no report-date columns"),
    (pd.DataFrame({"选项": ["常用指标"], "指标": ["某个指标"], "20240930": [1.0]}), "none of the rows"),
    (pd.DataFrame({"选项": ["常用指标"], "指标": ["归母净利润"], "20240930": ["--"]}), "none of the rows"),
    ("<html>banned</html>", "str, not a table"),
])
def test_garbage_abstract_is_a_clear_error(garbage, words):
    with pytest.raises(FundamentalsError) as info:
        parse_abstract(garbage, "600519")
    assert ABSTRACT_FN in str(info.value) and words in str(info.value)


def test_only_a_shares():
    assert a_share_code("600519.SH") == "600519" and a_share_code("000001.SZ") == "000001"
    for symbol in ("BTC/USDT@sim", "AAPL", "600519", "60051.SH"):
        with pytest.raises(NotAShare, match=r"available for A-shares"):
            a_share_code(symbol)
    with pytest.raises(NotAShare):
        FundamentalsStore(":memory:").put("BTC/USDT@sim", [])
    with pytest.raises(NotAShare, match=NOT_A_SHARE.replace("(", r"\(").replace(")", r"\)")):
        run(fetch_fundamentals("ETH/USDT@sim", FakeAkshare(), None))


def test_format_value():
    assert format_value("market_cap", 1.93579e12) == "1.94 万亿 元"
    assert format_value("revenue", 2.1305e11) == "2,130.50 亿 元"
    assert format_value("total_shares", 1.25619e9) == "12.56 亿 股"
    assert format_value("pe_ttm", 24.08) == "24.08"
    assert format_value("revenue_yoy", 15.04) == "+15.04 %" and format_value("roe", 24.64) == "24.64 %"


# ------------------------------------------------------------------------------------------------ storage
def test_store_round_trip_and_the_latest_report_date_wins(tmp_path):
    db = tmp_path / "kestrel.db"
    store = FundamentalsStore(db)
    store.put("600519.SH", [Figure("roe", 16.87, "2024-06-30", ABSTRACT_FN)], fetched_ms=1_000)
    store.put("600519.SH", [Figure("roe", 24.64, "2024-09-30", ABSTRACT_FN),
                            Figure("pe_ttm", 24.08, "2024-10-11", VALUE_FN)], fetched_ms=2_000)
    store.put("600519.SH", [Figure("roe", 16.9, "2024-06-30", ABSTRACT_FN)], fetched_ms=3_000)  # an older report
    again = FundamentalsStore(sqlite3.connect(str(db), isolation_level=None))  # the profile's kind of connection
    latest = again.latest("600519.SH")
    assert latest["roe"] == Figure("roe", 24.64, "2024-09-30", ABSTRACT_FN, 2_000)
    assert latest["pe_ttm"].fetched_ms == 2_000
    assert again.fetched_ms("600519.SH") == 3_000
    assert again.latest("000001.SZ") == {} and again.fetched_ms("000001.SZ") is None
    rows = again.conn.execute("SELECT COUNT(*) FROM fundamentals").fetchone()[0]
    assert rows == 3  # (symbol, field, report_date) is the key: the 2024-06-30 ROE was replaced


# ------------------------------------------------------------------------------------------------ fetching
def test_fetch_stores_both_and_is_fresh(tmp_path, executor):
    store = FundamentalsStore(tmp_path / "kestrel.db")
    ak = FakeAkshare()
    before = int(time.time() * 1000)
    res = run(fetch_fundamentals("600519.SH", ak, executor, deadline_s=5, store=store))
    assert sorted(ak.calls) == [(ABSTRACT_FN, "600519"), (VALUE_FN, "600519")]
    assert not res.stale and res.errors == ()
    assert res.figures["pe_ttm"].value == 24.08 and res.figures["roe"].value == 24.64
    assert res.fetched_ms >= before
    assert store.latest("600519.SH")["pe_ttm"].fetched_ms == res.fetched_ms


def test_one_call_failing_still_returns_the_others_figures_and_serves_its_stored_ones(tmp_path, executor):
    store = FundamentalsStore(tmp_path / "kestrel.db")
    store.put("600519.SH", [Figure("pe_ttm", 30.0, "2024-01-05", VALUE_FN)], fetched_ms=1_700_000_000_000)
    ak = FakeAkshare(value=ConnectionError("Remote end closed connection without response"))
    res = run(fetch_fundamentals("600519.SH", ak, executor, deadline_s=5, store=store))
    assert res.figures["roe"].value == 24.64  # the abstract answered
    assert res.figures["pe_ttm"] == Figure("pe_ttm", 30.0, "2024-01-05", VALUE_FN, 1_700_000_000_000)
    assert res.stale and res.fetched_ms == 1_700_000_000_000
    assert res.errors == ("stock_value_em: ConnectionError: Remote end closed connection without response",)


def test_garbage_from_a_source_is_an_error_not_a_crash(executor):
    ak = FakeAkshare(abstract=pd.DataFrame({"error": ["invalid paperCode"]}))
    res = run(fetch_fundamentals("000001.SZ", ak, executor, deadline_s=5))
    assert res.figures["pe_ttm"].value == 24.08 and "roe" not in res.figures
    assert len(res.errors) == 1 and res.errors[0].startswith(f"{ABSTRACT_FN}(000001) has no 指标 column")
    assert not res.stale  # nothing stored to serve


def test_a_hang_is_cut_at_the_deadline(executor):
    ak = FakeAkshare(value="hang")
    try:
        t0 = time.monotonic()
        res = run(fetch_fundamentals("600519.SH", ak, executor, deadline_s=0.3))
        took = time.monotonic() - t0
    finally:
        ak.release.set()
    assert took < 1.0
    assert res.errors == ("stock_value_em: hung: no answer within 0.3 s",)
    assert res.figures["revenue"].value == 1.2112e11


def test_offline_serves_every_stored_figure_marked_stale(tmp_path, executor):
    store = FundamentalsStore(tmp_path / "kestrel.db")
    run(fetch_fundamentals("600519.SH", FakeAkshare(), executor, deadline_s=5, store=store))
    fetched = store.fetched_ms("600519.SH")
    offline = FakeAkshare(value=OSError("Network is unreachable"), abstract=OSError("Network is unreachable"))
    res = run(fetch_fundamentals("600519.SH", offline, executor, deadline_s=5, store=store))
    assert res.stale and res.fetched_ms == fetched
    assert res.figures["pe_ttm"].value == 24.08 and res.figures["revenue_yoy"].value == 15.04
    assert [e.split(":")[0] for e in res.errors] == [VALUE_FN, ABSTRACT_FN]
    assert store.fetched_ms("600519.SH") == fetched  # nothing new written
