"""China A-share trading rules for paper trading on akshare data.

- Sessions (Asia/Shanghai): continuous trading 09:30-11:30 and 13:00-15:00 on exchange trading days.
- Calendar: the trading days akshare ships (``akshare/file_fold/calendar.json``, the SSE calendar it
  updates each release), read from the installed package without a network call.
- Lots: buys in multiples of 100 shares (STAR Market 688xxx: at least 200, then any share); a sell may
  end in an odd lot only when it sells the whole holding.
- T+1: shares bought today cannot be sold before the next trading day.
- Daily price limits from the previous close: +-10% main boards, +-20% ChiNext (300/301) and STAR (688/689),
  +-30% Beijing (8xxxxx/4xxxxx/92xxxx), +-5% for ST names; limit prices rounded to the 0.01 tick.
Every refusal reason starts with a stable phrase: "market closed", "not a trading day", "lot size",
"T+1", "price limit".
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SHANGHAI = dt.timezone(dt.timedelta(hours=8))  # no DST in China
SESSIONS = ((dt.time(9, 30), dt.time(11, 30)), (dt.time(13, 0), dt.time(15, 0)))


@functools.lru_cache(maxsize=1)
def trading_days() -> frozenset[dt.date]:
    """The exchange calendar shipped with akshare (no network)."""
    import importlib.util

    spec = importlib.util.find_spec("akshare")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("akshare is not installed: no exchange calendar")
    path = Path(list(spec.submodule_search_locations)[0]) / "file_fold" / "calendar.json"
    days = json.loads(path.read_text())
    return frozenset(dt.date(int(d[:4]), int(d[4:6]), int(d[6:8])) for d in days)


def calendar_range() -> tuple[dt.date, dt.date]:
    days = trading_days()
    return min(days), max(days)


def local(ts_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000.0, SHANGHAI)


def is_trading_day(day: dt.date) -> bool:
    lo, hi = calendar_range()
    if lo <= day <= hi:
        return day in trading_days()
    return day.weekday() < 5  # beyond the shipped calendar: weekdays (holidays unknown)


def in_session(ts_ms: int) -> bool:
    t = local(ts_ms)
    if not is_trading_day(t.date()):
        return False
    now = t.time()
    return any(start <= now < end for start, end in SESSIONS)


def session_state(ts_ms: int) -> str:
    """"open", "lunch break", "closed" (before/after hours) or "holiday"."""
    t = local(ts_ms)
    if not is_trading_day(t.date()):
        return "holiday"
    now = t.time()
    if any(start <= now < end for start, end in SESSIONS):
        return "open"
    if SESSIONS[0][1] <= now < SESSIONS[1][0]:
        return "lunch break"
    return "closed"


def previous_trading_day(day: dt.date) -> dt.date:
    d = day - dt.timedelta(days=1)
    while not is_trading_day(d):
        d -= dt.timedelta(days=1)
    return d


def limit_pct(code: str, name: str = "") -> float:
    """The daily limit in percent for a stock code like "600519" or "300750" (name for ST detection)."""
    if "ST" in name.upper():
        return 5.0
    if code.startswith(("300", "301", "688", "689")):
        return 20.0
    if code.startswith(("8", "4", "92")):
        return 30.0
    return 10.0


def round_tick(price: float) -> float:
    return float(Decimal(str(price)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def price_limits(prev_close: float, code: str, name: str = "") -> tuple[float, float]:
    pct = limit_pct(code, name) / 100.0
    return round_tick(prev_close * (1 - pct)), round_tick(prev_close * (1 + pct))


def code_of(symbol: str) -> str:
    """"600519.SH" -> "600519"."""
    return symbol.split(".")[0]


@dataclass(frozen=True)
class Holding:
    quantity: float  # shares held now
    bought_today: float  # of which bought today (not sellable: T+1)

    @property
    def sellable(self) -> float:
        return max(0.0, self.quantity - self.bought_today)


def check_order(symbol: str, side: str, quantity: float, price: float | None, ts_ms: int,
                prev_close: float | None, holding: Holding, name: str = "") -> str | None:
    """None if the order is allowed now, else the refusal reason."""
    state = session_state(ts_ms)
    if state == "holiday":
        return f"not a trading day: {local(ts_ms).date()} is not on the exchange calendar"
    if state != "open":
        return (f"market closed: A-shares trade 09:30-11:30 and 13:00-15:00 Beijing time "
                f"(now {local(ts_ms):%H:%M}, {state})")
    code = code_of(symbol)
    star = code.startswith(("688", "689"))
    if side == "BUY":
        if star:
            if quantity < 200 or quantity != int(quantity):
                return f"lot size: STAR Market buys are at least 200 shares, whole shares (got {quantity:g})"
        elif quantity % 100 != 0:
            return f"lot size: buys are in multiples of 100 shares (got {quantity:g})"
    else:
        if quantity > holding.sellable + 1e-9:
            if quantity <= holding.quantity + 1e-9:
                return (f"T+1: only {holding.sellable:g} of {holding.quantity:g} shares can be sold today; "
                        f"{holding.bought_today:g} were bought today")
            return f"T+1: cannot sell {quantity:g}, holding {holding.quantity:g} (no short selling)"
        if quantity % 100 != 0 and abs(quantity - holding.sellable) > 1e-9 and not star:
            return (f"lot size: sells are in multiples of 100 shares unless selling the whole holding "
                    f"(got {quantity:g})")
    if price is not None and prev_close:
        lo, hi = price_limits(prev_close, code, name)
        if not lo - 1e-9 <= price <= hi + 1e-9:
            return (f"price limit: {price:g} outside today's range [{lo:g}, {hi:g}] "
                    f"(previous close {prev_close:g})")
    return None
