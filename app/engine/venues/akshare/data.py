"""akshare calls and their conversion to Kestrel's data, one function per (kind, source).

These run on worker threads (``executor.DeadlineExecutor``), never on the loop: akshare is synchronous,
slow, and hangs when a source stalls. Each returns plain frozen data (``Quote``, ``Bar`` lists), so the
loop receives finished objects. ``SOURCES`` lists, per kind, the sources in fallback order: when
eastmoney refuses or bans (its users report bans after a few rapid calls), sina and tencent take over.
Only the akshare submodules needed are imported (``import akshare`` alone costs ~1.6 s).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable

from app.engine.core.ashare_rules import SHANGHAI, code_of
from app.engine.core.messages import Bar

DAY_MS = 86_400_000
MIN_MS = 60_000
#: the adjustment a trader chooses for A-share history -> akshare's word for it. "forward" (前复权) keeps
#: today's prices and moves older ones for dividends and splits; "backward" (后复权) keeps the listing prices
ADJUSTMENTS = {"none": "", "forward": "qfq", "backward": "hfq"}


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    ts: int
    last: float
    prev_close: float
    bids: tuple[tuple[float, float], ...]  # best first, shares
    asks: tuple[tuple[float, float], ...]
    volume: float  # shares traded today (cumulative)
    limit_up: float | None = None
    limit_down: float | None = None
    source: str = ""


def market_prefix(symbol: str) -> str:
    """"600519.SH" -> "sh600519" (sina/tencent style)."""
    code, _, exch = symbol.partition(".")
    exch = exch.upper() or ("SH" if code.startswith(("6", "9")) else "SZ")
    return {"SH": "sh", "SZ": "sz", "BJ": "bj"}.get(exch, "sh") + code


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if f == f else 0.0  # NaN -> 0


def shanghai_ms(text: str) -> int:
    """Shanghai local time text (seconds, minutes or a date) -> epoch ms; ValueError when it is not one."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else ("%Y-%m-%d %H:%M" if ":" in text else "%Y-%m-%d")
    return int(dt.datetime.strptime(text, fmt).replace(tzinfo=SHANGHAI).timestamp() * 1000)


# ------------------------------------------------------------------------------------------------ quotes
def quote_eastmoney(symbol: str) -> Quote:
    from akshare.stock.stock_ask_bid_em import stock_bid_ask_em

    df = stock_bid_ask_em(symbol=code_of(symbol))
    item = dict(zip(df["item"], df["value"]))
    bids = tuple((_num(item[f"buy_{i}"]), _num(item[f"buy_{i}_vol"])) for i in range(1, 6)
                 if _num(item[f"buy_{i}"]) > 0)
    asks = tuple((_num(item[f"sell_{i}"]), _num(item[f"sell_{i}_vol"])) for i in range(1, 6)
                 if _num(item[f"sell_{i}"]) > 0)
    last = _num(item.get("最新"))
    if last <= 0 and not bids and not asks:
        raise ValueError(f"eastmoney returned an empty quote for {symbol}")
    return Quote(symbol, int(time.time() * 1000), last, _num(item.get("昨收")), bids, asks,
                 _num(item.get("总手")) * 100, _num(item.get("涨停")) or None,
                 _num(item.get("跌停")) or None, "eastmoney")


def quote_sina(symbol: str) -> Quote:
    """Degraded quote from sina's latest 1-minute bar: last price only, no depth."""
    bars = minute_sina(symbol, "1")
    if not bars:
        raise ValueError(f"sina returned no minute bars for {symbol}")
    last = bars[-1]
    day_start = last.ts - (last.ts + 8 * 3_600_000) % DAY_MS
    volume = sum(b.volume for b in bars if b.ts >= day_start)
    prev = [b for b in bars if b.ts < day_start]
    return Quote(symbol, int(time.time() * 1000), last.close, prev[-1].close if prev else 0.0, (), (), volume,
                 source="sina")


# -------------------------------------------------------------------------------------------------- bars
def daily_eastmoney(symbol: str, start: str = "19700101", end: str = "20500101", adjust: str = "none") -> list[Bar]:
    from akshare.stock_feature.stock_hist_em import stock_zh_a_hist

    df = stock_zh_a_hist(symbol=code_of(symbol), period="daily", start_date=start, end_date=end,
                         adjust=ADJUSTMENTS[adjust])
    if df.empty:
        return []
    return [Bar(symbol, DAY_MS, shanghai_ms(str(r["日期"])), _num(r["开盘"]), _num(r["最高"]),
                _num(r["最低"]), _num(r["收盘"]), _num(r["成交量"]) * 100) for _, r in df.iterrows()]


def daily_tencent(symbol: str, start: str = "19700101", end: str = "20500101", adjust: str = "none") -> list[Bar]:
    from akshare.stock_feature.stock_hist_tx import stock_zh_a_hist_tx

    df = stock_zh_a_hist_tx(symbol=market_prefix(symbol), start_date=start, end_date=end,
                            adjust=ADJUSTMENTS[adjust])
    return [Bar(symbol, DAY_MS, shanghai_ms(str(r["date"])), _num(r["open"]), _num(r["high"]), _num(r["low"]),
                _num(r["close"]), _num(r["volume"])) for _, r in df.iterrows()]


def minute_eastmoney(symbol: str, period: str = "1", adjust: str = "none") -> list[Bar]:
    from akshare.stock_feature.stock_hist_em import stock_zh_a_hist_min_em

    df = stock_zh_a_hist_min_em(symbol=code_of(symbol), period=period, adjust=ADJUSTMENTS[adjust])
    tf = int(period) * MIN_MS
    return [Bar(symbol, tf, shanghai_ms(str(r["时间"])) - tf, _num(r["开盘"]), _num(r["最高"]),
                _num(r["最低"]), _num(r["收盘"]), _num(r["成交量"]) * 100) for _, r in df.iterrows()]


def minute_sina(symbol: str, period: str = "1", adjust: str = "none") -> list[Bar]:
    """Sina's minute bars are unadjusted (akshare's adjusted variant needs a factor file sina no longer
    serves): this source is skipped for adjusted requests (``adjusts``)."""
    from akshare.stock.stock_zh_a_sina import stock_zh_a_minute

    df = stock_zh_a_minute(symbol=market_prefix(symbol), period=period, adjust="")
    tf = int(period) * MIN_MS
    return [Bar(symbol, tf, shanghai_ms(str(r["day"])) - tf, _num(r["open"]), _num(r["high"]), _num(r["low"]),
                _num(r["close"]), _num(r["volume"])) for _, r in df.iterrows()]


minute_sina.adjusts = False  # type: ignore[attr-defined]


def adjusted_history_problem(kind: str, adjust: str, period: str = "1") -> str | None:
    """Why this history request cannot be served as asked (before any source is called), or None."""
    if adjust not in ADJUSTMENTS:
        return f"adjustment {adjust!r}: choose one of {', '.join(ADJUSTMENTS)}"
    if kind == "minute" and adjust != "none" and str(period) == "1":
        return ("1-minute A-share bars come unadjusted from every source; choose adjustment 'none', or "
                "5, 15, 30 or 60-minute bars for forward or backward adjusted prices")
    return None


# ------------------------------------------------------------------------------------------------ names
def ashare_symbol(code: str) -> str | None:
    """"600519" -> "600519.SH" (the exchange by the code's range: Shanghai 6xx and 9xx, Beijing 4xx, 8xx and
    92x, Shenzhen the rest); None for what is not a six-digit code."""
    code = str(code).strip()
    if len(code) != 6 or not code.isdigit():
        return None
    if code.startswith(("4", "8", "92")):
        return f"{code}.BJ"
    return f"{code}.SH" if code.startswith(("6", "9")) else f"{code}.SZ"


def names_eastmoney(_symbol: str = "") -> dict[str, str]:
    """Every listed A-share's code and name ({"600519.SH": "贵州茅台"}) from eastmoney's quote list (akshare's
    ``stock_zh_a_spot_em``: pages of 100, about a second apart, so ~1 minute for the whole market)."""
    from akshare.stock_feature.stock_hist_em import stock_zh_a_spot_em

    df = stock_zh_a_spot_em()
    out = {}
    for code, name in zip(df["代码"], df["名称"]):
        symbol = ashare_symbol(code)
        if symbol is not None and isinstance(name, str) and name.strip():
            out[symbol] = name.strip()
    if not out:
        raise ValueError("eastmoney returned an empty A-share list")
    return out


SOURCES: dict[str, list[tuple[str, Callable]]] = {
    "quote": [("eastmoney", quote_eastmoney), ("sina", quote_sina)],
    "daily": [("eastmoney", daily_eastmoney), ("tencent", daily_tencent)],
    "minute": [("eastmoney", minute_eastmoney), ("sina", minute_sina)],
    # its own source name: a slow list must not pause quotes, nor a banned quote host the list
    "names": [("eastmoney-list", names_eastmoney)],
}


def warm_imports() -> None:
    """Import the akshare modules used above (seconds of CPU): on a worker, before the first deadline."""
    import akshare.stock.stock_ask_bid_em  # noqa: F401
    import akshare.stock.stock_zh_a_sina  # noqa: F401
    import akshare.stock_feature.stock_hist_em  # noqa: F401
    import akshare.stock_feature.stock_hist_tx  # noqa: F401
