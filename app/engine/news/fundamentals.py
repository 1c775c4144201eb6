"""A-share fundamentals from akshare: valuation (eastmoney ``stock_value_em``) and key report figures (sina
``stock_financial_abstract``), each figure with the date it describes, stored in the profile's ``kestrel.db``.

The akshare module is a parameter (``ak``: any object with those two functions), so tests pass fakes and the
caller decides when the slow ``import akshare`` happens (``AkshareFundamentals`` imports on the worker).

Shapes, read in akshare 1.19.5's source (no call was made, there is no network here):

- ``stock_value_em(symbol="600519")`` (``akshare/stock_feature/stock_value_em.py``): one row per trading day,
  sorted oldest first, columns 数据日期 (a ``datetime.date``), 当日收盘价, 当日涨跌幅, 总市值, 流通市值, 总股本,
  流通股本, PE(TTM), PE(静), 市净率, PEG值, 市现率, 市销率; numbers via ``pd.to_numeric(errors="coerce")``.
  Market values are in yuan, share counts in shares.
- ``stock_financial_abstract(symbol="600519")`` (``akshare/stock_fundamental/stock_finance_sina.py``): columns
  选项 (the section: 常用指标, 每股指标, 盈利能力, 成长能力, 收益质量, 财务风险, 营运能力), 指标 (the row's name),
  then one column per report date as text ``"20240930"``; a name can appear in more than one section. The row
  names come from sina, not from the akshare source: the ones matched here (``ABSTRACT_ROWS``) are those that
  published code using this function reads; the first name that has a number wins.

Parsing never crashes on what a source sends: a table that is not one, empty, or without the columns this reads
is a ``FundamentalsError`` naming the function and what was wrong; a cell that is not a number ("--", "", None,
NaN) is skipped, so a figure falls back to the latest date that has one.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.engine.venues.executor import CallTimedOut, DeadlineExecutor, ExecutorSaturated

NOT_A_SHARE = "Fundamentals are available for A-shares (akshare)"
VALUE_FN = "stock_value_em"
ABSTRACT_FN = "stock_financial_abstract"

#: field -> (label, stock_value_em column)
VALUE_COLUMNS: dict[str, tuple[str, str]] = {
    "close": ("Close (当日收盘价)", "当日收盘价"),
    "change_pct": ("Change (当日涨跌幅)", "当日涨跌幅"),
    "market_cap": ("Market cap (总市值)", "总市值"),
    "float_cap": ("Float market cap (流通市值)", "流通市值"),
    "total_shares": ("Total shares (总股本)", "总股本"),
    "float_shares": ("Float shares (流通股本)", "流通股本"),
    "pe_ttm": ("PE TTM (PE(TTM))", "PE(TTM)"),
    "pe_static": ("PE static (PE(静))", "PE(静)"),
    "pb": ("PB (市净率)", "市净率"),
    "peg": ("PEG (PEG值)", "PEG值"),
    "pcf": ("P/CF (市现率)", "市现率"),
    "ps": ("P/S (市销率)", "市销率"),
}
#: field -> (label, row names to try in order: (选项 or "" for any section, 指标))
ABSTRACT_ROWS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "revenue": ("Revenue (营业总收入)", (("常用指标", "营业总收入"), ("", "营业总收入"), ("", "营业收入"))),
    "net_profit": ("Net profit to parent (归母净利润)",
                   (("常用指标", "归母净利润"), ("", "归母净利润"), ("", "归属母公司净利润"),
                    ("", "归属于母公司所有者的净利润"))),
    "revenue_yoy": ("Revenue YoY % (营业总收入增长率)",
                    (("成长能力", "营业总收入增长率"), ("", "营业总收入增长率"), ("", "营业总收入同比增长率"),
                     ("", "营业收入增长率"))),
    "net_profit_yoy": ("Net profit YoY % (归属母公司净利润增长率)",
                       (("成长能力", "归属母公司净利润增长率"), ("", "归属母公司净利润增长率"),
                        ("", "归母净利润增长率"), ("", "归属母公司净利润同比增长率"), ("", "归母净利润同比增长率"))),
    "roe": ("ROE % (净资产收益率)", (("常用指标", "净资产收益率(ROE)"), ("", "净资产收益率(ROE)"),
                                     ("", "净资产收益率"), ("", "加权净资产收益率"), ("", "摊薄净资产收益率"))),
    "gross_margin": ("Gross margin % (毛利率)", (("常用指标", "毛利率"), ("", "毛利率"), ("", "销售毛利率"))),
}
#: growth field -> the level it is computed from when the abstract has no growth row
GROWTH_OF = {"revenue_yoy": "revenue", "net_profit_yoy": "net_profit"}
LABELS = {f: label for f, (label, _) in (VALUE_COLUMNS | ABSTRACT_ROWS).items()}
#: the order a view lists them in
FIELDS = tuple(LABELS)
MONEY = frozenset({"market_cap", "float_cap", "revenue", "net_profit"})
SHARES = frozenset({"total_shares", "float_shares"})
PERCENT = frozenset({"change_pct", "revenue_yoy", "net_profit_yoy", "roe", "gross_margin"})
_A_SHARE = re.compile(r"^(\d{6})\.(SH|SZ|BJ)$")
_REPORT_DATE = re.compile(r"^\d{8}$")


class FundamentalsError(ValueError):
    """A source's answer could not be read; the message names the function and what was wrong."""


class NotAShare(FundamentalsError):
    pass


@dataclass(frozen=True, slots=True)
class Figure:
    field: str
    value: float
    report_date: str  # ISO "2024-09-30": the trading day (valuation) or the report period it describes
    source: str  # the akshare function, or how it was computed from one
    fetched_ms: int = 0  # when it was fetched (0 until stored or returned by a fetch)


@dataclass(frozen=True)
class FundamentalsResult:
    symbol: str
    figures: dict[str, Figure]
    fetched_ms: int  # the oldest fetch among the figures shown: what "as of" means
    stale: bool  # some figures are stored ones, served because their source failed
    errors: tuple[str, ...]


def a_share_code(symbol: str) -> str:
    """"600519.SH" -> "600519"; anything else is refused with ``NotAShare``."""
    m = _A_SHARE.match(symbol.strip().upper())
    if m is None:
        raise NotAShare(f"{NOT_A_SHARE}; {symbol!r} is not an A-share id like 600519.SH or 000001.SZ")
    return m.group(1)


def is_a_share(symbol: str) -> bool:
    return _A_SHARE.match(symbol.strip().upper()) is not None


# ------------------------------------------------------------------------------------------------ parsing
def _number(v: Any) -> float | None:
    """A finite float from a cell, else None ("--", "", None, NaN, text)."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, str):
        v = v.strip().replace(",", "").removesuffix("%")
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _iso_date(v: Any) -> str | None:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    text = str(v).strip() if v is not None else ""
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d"):
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _table(df: Any, fn: str, code: str) -> Any:
    if not hasattr(df, "columns") or not hasattr(df, "iloc"):
        raise FundamentalsError(f"{fn}({code}) returned {type(df).__name__}, not a table")
    if len(df) == 0:
        raise FundamentalsError(f"{fn}({code}) returned no rows (is {code} listed?)")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise FundamentalsError(f"{fn}({code}) has repeated column names: "
                                f"{sorted({n for n in names if names.count(n) > 1})[:5]}")
    return df


def parse_value(df: Any, code: str = "") -> dict[str, Figure]:
    """The latest valuation figures of a ``stock_value_em`` table: per column, the newest row that has a number
    for it, with that row's 数据日期 (a missing figure today does not hide yesterday's, and says so by its date)."""
    _table(df, VALUE_FN, code)
    columns = [str(c) for c in df.columns]
    if "数据日期" not in columns:
        raise FundamentalsError(f"{VALUE_FN}({code}) has no 数据日期 column; columns: {columns[:15]}")
    present = {f: col for f, (_, col) in VALUE_COLUMNS.items() if col in columns}
    if not present:
        raise FundamentalsError(f"{VALUE_FN}({code}) has none of the valuation columns "
                                f"({', '.join(c for _, c in VALUE_COLUMNS.values())}); columns: {columns[:15]}")
    rows = []
    for date_v, *values in zip(df["数据日期"], *(df[col] for col in present.values())):
        day = _iso_date(date_v)
        if day is not None:
            rows.append((day, values))
    rows.sort(key=lambda r: r[0])
    out: dict[str, Figure] = {}
    for i, field in enumerate(present):
        for day, values in reversed(rows):
            value = _number(values[i])
            if value is not None:
                out[field] = Figure(field, value, day, VALUE_FN)
                break
    if not out:
        raise FundamentalsError(f"{VALUE_FN}({code}) has no dated number in any valuation column")
    return out


def parse_abstract(df: Any, code: str = "") -> dict[str, Figure]:
    """Revenue, net profit, their YoY growth, ROE and gross margin from a ``stock_financial_abstract`` table,
    each from the latest report date that has a number for it. Growth comes from the abstract's own growth rows;
    without them it is computed (in %) from the same report date a year earlier, and its source says so."""
    _table(df, ABSTRACT_FN, code)
    columns = [str(c) for c in df.columns]
    if "指标" not in columns:
        raise FundamentalsError(f"{ABSTRACT_FN}({code}) has no 指标 column; columns: {columns[:15]}")
    dates = sorted((c for c in columns if _REPORT_DATE.match(c)), reverse=True)
    if not dates:
        raise FundamentalsError(f"{ABSTRACT_FN}({code}) has no report-date columns like 20240930; "
                                f"columns: {columns[:15]}")
    by_name = {str(c): c for c in df.columns}
    sections = list(df["选项"]) if "选项" in columns else [""] * len(df)
    cells = {d: list(df[by_name[d]]) for d in dates}
    rows: list[tuple[str, str, dict[str, float]]] = []  # (section, name, {report date: value})
    for i, name in enumerate(df["指标"]):
        values = {}
        for d in dates:
            value = _number(cells[d][i])
            if value is not None:
                values[d] = value
        rows.append((str(sections[i]).strip(), str(name).strip(), values))

    def series(candidates: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, float]] | None:
        for section, name in candidates:
            for sec, row_name, values in rows:
                if row_name == name and (not section or sec == section) and values:
                    return row_name, values
        return None

    out: dict[str, Figure] = {}
    found: dict[str, tuple[str, dict[str, float]]] = {}
    for field, (_, candidates) in ABSTRACT_ROWS.items():
        hit = series(candidates)
        if hit is None:
            continue
        found[field] = hit
        latest = max(hit[1])
        out[field] = Figure(field, hit[1][latest], _iso_date(latest) or latest, f"{ABSTRACT_FN} {hit[0]}")
    for growth, level in GROWTH_OF.items():
        if growth in out or level not in found:
            continue
        name, values = found[level]
        for d in sorted(values, reverse=True):
            before = f"{int(d[:4]) - 1}{d[4:]}"
            if before in values and values[before] != 0:
                pct = (values[d] - values[before]) / abs(values[before]) * 100.0
                out[growth] = Figure(growth, pct, _iso_date(d) or d,
                                     f"computed from {ABSTRACT_FN} {name} {d} vs {before}")
                break
    if not out:
        wanted = sorted({n for _, cands in ABSTRACT_ROWS.values() for _, n in cands})
        raise FundamentalsError(f"{ABSTRACT_FN}({code}) has none of the rows read here ({', '.join(wanted)}) "
                                "with a number")
    return out


def value_figures(ak: Any, code: str) -> dict[str, Figure]:
    """Call and parse (on a worker)."""
    return parse_value(ak.stock_value_em(symbol=code), code)


def abstract_figures(ak: Any, code: str) -> dict[str, Figure]:
    return parse_abstract(ak.stock_financial_abstract(symbol=code), code)


class AkshareFundamentals:
    """The two akshare functions, imported on first use, on the calling (worker) thread: importing akshare costs
    seconds and must not run on the loop."""

    @staticmethod
    def stock_value_em(symbol: str) -> Any:
        from akshare.stock_feature.stock_value_em import stock_value_em

        return stock_value_em(symbol=symbol)

    @staticmethod
    def stock_financial_abstract(symbol: str) -> Any:
        from akshare.stock_fundamental.stock_finance_sina import stock_financial_abstract

        return stock_financial_abstract(symbol=symbol)


# ------------------------------------------------------------------------------------------------ storage
SCHEMA = ("CREATE TABLE IF NOT EXISTS fundamentals(symbol TEXT, field TEXT, report_date TEXT, value REAL, "
          "source TEXT, fetched_ms INTEGER, PRIMARY KEY(symbol, field, report_date))")


class FundamentalsStore:
    """The ``fundamentals`` table of the profile database: every (symbol, field, report date) fetched, so a
    later report adds a row and ``latest`` shows the newest report date of each field."""

    def __init__(self, db: str | Path | sqlite3.Connection) -> None:
        if isinstance(db, sqlite3.Connection):
            self.conn = db
        else:
            self.conn = sqlite3.connect(str(db), timeout=2.0, isolation_level=None)
        self.conn.execute(SCHEMA)

    def put(self, symbol: str, figures: dict[str, Figure] | list[Figure], fetched_ms: int | None = None) -> None:
        a_share_code(symbol)
        """Store ``figures`` in one transaction, fetched at ``fetched_ms`` (default: each figure's own, else now)."""
        items = list(figures.values()) if isinstance(figures, dict) else list(figures)
        now = int(time.time() * 1000)
        rows = [(symbol, f.field, f.report_date, f.value, f.source, fetched_ms or f.fetched_ms or now)
                for f in items]
        sql = "INSERT OR REPLACE INTO fundamentals VALUES (?, ?, ?, ?, ?, ?)"
        if self.conn.in_transaction:  # the caller's transaction
            self.conn.executemany(sql, rows)
            return
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany(sql, rows)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def latest(self, symbol: str) -> dict[str, Figure]:
        """Each field's figure of the newest report date (ISO dates sort as text)."""
        out: dict[str, Figure] = {}
        for field, report_date, value, source, fetched in self.conn.execute(
                "SELECT field, report_date, value, source, fetched_ms FROM fundamentals WHERE symbol=? "
                "ORDER BY field, report_date", (symbol,)):
            out[field] = Figure(field, float(value), report_date, source, int(fetched or 0))
        return out

    def fetched_ms(self, symbol: str) -> int | None:
        """When this symbol's figures were last fetched (None: never)."""
        row = self.conn.execute("SELECT MAX(fetched_ms) FROM fundamentals WHERE symbol=?", (symbol,)).fetchone()
        return int(row[0]) if row and row[0] is not None else None


# ---------------------------------------------------------------------------------------------- fetching
async def fetch_fundamentals(symbol: str, ak: Any, executor: DeadlineExecutor, deadline_s: float = 20.0,
                             store: FundamentalsStore | None = None) -> FundamentalsResult:
    """Both akshare calls at once on ``executor``, each cut at ``deadline_s``. What answers is stored and
    returned; for a call that failed (hung, raised, sent garbage) its stored figures are served and the result
    is ``stale``. ``errors`` says per call what went wrong. Raises ``NotAShare`` for other symbols."""
    code = a_share_code(symbol)
    calls = ((VALUE_FN, value_figures, VALUE_COLUMNS), (ABSTRACT_FN, abstract_figures, ABSTRACT_ROWS))
    answers = await asyncio.gather(*(_guarded(executor, fn, name, ak, code, deadline_s) for name, fn, _ in calls))
    now = int(time.time() * 1000)
    fresh: dict[str, Figure] = {}
    errors: list[str] = []
    failed_fields: set[str] = set()
    for (name, _, fields), (figures, error) in zip(calls, answers):
        if error is not None:
            errors.append(error)
            failed_fields.update(fields)
        else:
            fresh.update({f: replace(fig, fetched_ms=now) for f, fig in figures.items()})
    if store is not None and fresh:
        try:
            store.put(symbol, fresh, now)
        except sqlite3.Error as exc:
            errors.append(f"storing the figures failed: {exc}")
    figures = dict(fresh)
    stale = False
    if store is not None and failed_fields:
        for field, fig in store.latest(symbol).items():
            if field in failed_fields and field not in figures:
                figures[field] = fig
                stale = True
    fetched = min((f.fetched_ms for f in figures.values()), default=0)
    return FundamentalsResult(symbol, figures, fetched, stale, tuple(errors))


async def _guarded(executor: DeadlineExecutor, fn: Any, name: str, ak: Any, code: str,
                   deadline_s: float) -> tuple[dict[str, Figure], str | None]:
    try:
        return await executor.call(fn, ak, code, deadline_s=deadline_s), None
    except CallTimedOut as exc:
        return {}, f"{name}: hung: {exc}"
    except ExecutorSaturated as exc:
        return {}, f"{name}: not started: {exc}"
    except FundamentalsError as exc:
        return {}, str(exc)
    except Exception as exc:  # noqa: BLE001 - a source fails in any way: HTTP errors, bad JSON, KeyError...
        text = " ".join(str(exc).split())[:160]
        return {}, f"{name}: {type(exc).__name__}: {text}" if text else f"{name}: {type(exc).__name__}"


# ---------------------------------------------------------------------------------------------- display
def _scaled(value: float) -> str:
    a = abs(value)
    if a >= 1e12:
        return f"{value / 1e12:,.2f} 万亿"
    if a >= 1e8:
        return f"{value / 1e8:,.2f} 亿"
    if a >= 1e4:
        return f"{value / 1e4:,.2f} 万"
    return f"{value:,.2f}"


def format_value(field: str, value: float) -> str:
    """How a person reads a figure: yuan and shares in 万/亿/万亿, percentages with a sign where it is a change."""
    if field in MONEY:
        return _scaled(value) + " 元"
    if field in SHARES:
        return _scaled(value) + " 股"
    if field in PERCENT:
        return f"{value:+.2f} %" if field in ("change_pct", "revenue_yoy", "net_profit_yoy") else f"{value:.2f} %"
    return f"{value:,.2f}"
