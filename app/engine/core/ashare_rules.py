"""China A-share trading rules: the one module for every venue that trades A-shares (the sim's A-shares,
akshare paper trading, backtests) and for the pre-trade check that applies them (``risk_checks.ashare``).

SESSIONS  continuous trading 09:30-11:30 and 13:00-15:00 exchange time (Asia/Shanghai, UTC+8, no DST), on
          exchange trading days; orders are taken only then. The call auctions (09:15-09:25 opening,
          14:57-15:00 closing) are not simulated: an order at 09:20 is refused naming the auction, and
          continuous trading runs to 15:00. Resting orders are day orders: they expire at the 15:00 close.
CALENDAR  the SSE trading days akshare ships (``akshare/file_fold/calendar.json``, 1990-12-19 to the end of
          the year after its release; identical to exchange_calendars' XSHG for 2020-2026), read from the
          installed package without importing akshare or a network call. Past its end: weekdays.
LOTS      buys: main board and ChiNext in lots of 100; STAR (688/689) at least 200, then any share; Beijing
          (BSE) at least 100, then any share. Sells in the same steps, except the holding's odd remainder
          (below a lot), which is sold in one go: with 150 held, 50, 100 or 150 (not 30).
T+1       shares bought on a trading day can be sold from the next trading day; no short selling.
LIMITS    daily price limits from the previous close: main board +-10% (ST +-5%), ChiNext (300/301/302)
          and STAR (688/689) +-20%, Beijing +-30%; rounded half up to the 0.01 tick.
FEES      commission (``COMMISSION_RATE``, at least ``COMMISSION_MIN`` per order), transfer fee 0.001% of
          the value (0.002% before 2022-04-29), stamp duty on sells 0.05% (0.1% before 2023-08-28); each in
          CNY, rounded to the fen.

A refusal is a ``Refusal``: a stable code (``ASHARE_*``) and a sentence for the trader that starts with the
rule's name ("market closed:", "not a trading day:", "lot size:", "T+1:", "no short selling:",
"price limit:").
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
OPENING_AUCTION = (dt.time(9, 15), dt.time(9, 30))  # 09:15-09:25 auction, then orders wait for 09:30
RULES = "ashare"  # ``Instrument.rules`` of an instrument these rules apply to

CLOSED, HOLIDAY, LOT = "ASHARE_CLOSED", "ASHARE_HOLIDAY", "ASHARE_LOT"
T1, NO_SHORT, PRICE_LIMIT = "ASHARE_T1", "ASHARE_NO_SHORT", "ASHARE_PRICE_LIMIT"
COMMISSION_RATE = 0.00025  # a typical broker rate: 0.025% of the value
COMMISSION_MIN = 5.0  # CNY per order
STAMP_DUTY_CUT = dt.date(2023, 8, 28)  # sells: 0.1% -> 0.05%
TRANSFER_FEE_CUT = dt.date(2022, 4, 29)  # both sides: 0.002% -> 0.001%


# ------------------------------------------------------------------------------------------- calendar
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


@functools.lru_cache(maxsize=1)
def calendar_range() -> tuple[dt.date, dt.date]:
    days = trading_days()
    return min(days), max(days)


@functools.lru_cache(maxsize=4096)
def is_trading_day(day: dt.date) -> bool:
    lo, hi = calendar_range()
    if lo <= day <= hi:
        return day in trading_days()
    return day.weekday() < 5  # beyond the shipped calendar: weekdays (holidays unknown)


def local(ts_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000.0, SHANGHAI)


def day_of(ts_ms: int) -> dt.date:
    """The calendar day in exchange time: the trading day of a fill or an order at ``ts_ms``."""
    return local(ts_ms).date()


def previous_trading_day(day: dt.date) -> dt.date:
    d = day - dt.timedelta(days=1)
    while not is_trading_day(d):
        d -= dt.timedelta(days=1)
    return d


def next_trading_day(day: dt.date) -> dt.date:
    d = day + dt.timedelta(days=1)
    while not is_trading_day(d):
        d += dt.timedelta(days=1)
    return d


def at(day: dt.date, time: dt.time) -> int:
    """Epoch ms of ``time`` exchange time on ``day``."""
    return int(dt.datetime.combine(day, time, SHANGHAI).timestamp() * 1000)


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


def in_session(ts_ms: int) -> bool:
    return session_state(ts_ms) == "open"


def session_window(ts_ms: int) -> tuple[int, int]:
    """(open, close) in epoch ms of the continuous session that contains ``ts_ms``, or of the next one."""
    day = day_of(ts_ms)
    for _ in range(60):  # the longest exchange holiday is ~10 days
        if is_trading_day(day):
            for start, end in SESSIONS:
                close = at(day, end)
                if ts_ms < close:
                    return at(day, start), close
        day += dt.timedelta(days=1)
    raise RuntimeError(f"no trading session within 60 days after {day_of(ts_ms)}")


def next_open(ts_ms: int) -> int:
    """The next time continuous trading opens, at or after ``ts_ms`` (``ts_ms`` itself when open)."""
    start, _ = session_window(ts_ms)
    return max(start, ts_ms)


def _when(ts_ms: int) -> str:
    t = local(ts_ms)
    return f"{t:%a %Y-%m-%d %H:%M}"


# ---------------------------------------------------------------------------------------------- boards
def code_of(symbol: str) -> str:
    """"600519.SH" -> "600519"."""
    return symbol.split(".")[0]


def board(code: str) -> str:
    """"star", "chinext", "bse" or "main" for a stock code like "600519"."""
    if code.startswith(("688", "689")):
        return "star"
    if code.startswith(("300", "301", "302")):
        return "chinext"
    if code.startswith(("8", "4", "92")):
        return "bse"
    return "main"


BOARD_NAMES = {"main": "main board", "chinext": "ChiNext", "star": "STAR Market",
               "bse": "Beijing Stock Exchange"}


def lot_rule(code: str) -> tuple[float, float]:
    """(minimum, step) of an order's quantity in shares on the code's board."""
    b = board(code)
    if b == "star":
        return 200.0, 1.0
    if b == "bse":
        return 100.0, 1.0
    return 100.0, 100.0


def limit_pct(code: str, name: str = "") -> float:
    """The daily limit in percent; ``name`` marks ST names ("ST", "*ST"), +-5% on the main board only."""
    b = board(code)
    if b in ("chinext", "star"):
        return 20.0
    if b == "bse":
        return 30.0
    return 5.0 if "ST" in name.upper() else 10.0


def round_tick(price: float) -> float:
    return float(Decimal(str(price)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def price_limits(prev_close: float, code: str, name: str = "") -> tuple[float, float]:
    pct = Decimal(str(limit_pct(code, name))) / 100
    prev = Decimal(str(prev_close))
    return round_tick(float(prev * (1 - pct))), round_tick(float(prev * (1 + pct)))


@dataclass(frozen=True, slots=True)
class DailyLimits:
    """Market data from a venue: one A-share's price limits for trading day ``day`` (ISO date), from the
    previous close. The pre-trade check refuses limit prices outside [lower, upper] on that day."""

    venue: str
    symbol: str
    day: str
    prev_close: float
    lower: float
    upper: float
    ts: int = 0

    @staticmethod
    def of(venue: str, symbol: str, day: dt.date, prev_close: float, ts: int, name: str = "",
           lower: float | None = None, upper: float | None = None) -> "DailyLimits":
        """Limits by board from ``prev_close``, unless the venue gave its own (``lower``/``upper``)."""
        lo, hi = price_limits(prev_close, code_of(symbol), name)
        return DailyLimits(venue, symbol, day.isoformat(), prev_close, lower or lo, upper or hi, ts)


# ----------------------------------------------------------------------------------------------- fees
@dataclass(frozen=True, slots=True)
class Fees:
    """What one fill costs, in CNY: commission, transfer fee and stamp duty (sells)."""

    commission: float
    transfer: float
    stamp_duty: float

    @property
    def total(self) -> float:
        return _fen(self.commission + self.transfer + self.stamp_duty)


def _fen(x: float) -> float:
    return float(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def stamp_duty_rate(day: dt.date) -> float:
    return 0.0005 if day >= STAMP_DUTY_CUT else 0.001


def transfer_fee_rate(day: dt.date) -> float:
    return 0.00001 if day >= TRANSFER_FEE_CUT else 0.00002


def fill_fees(side: str, price: float, qty: float, ts_ms: int, order_value_before: float = 0.0,
              commission_rate: float = COMMISSION_RATE, commission_min: float = COMMISSION_MIN) -> Fees:
    """The fees of one fill of an order whose earlier fills traded ``order_value_before`` CNY: the order's
    commission is ``max(rate x value, minimum)`` over all its fills, so its first fill pays at least the
    minimum and later fills the rest."""
    value = price * qty
    day = day_of(ts_ms)
    owed = _fen(max(commission_min, commission_rate * (order_value_before + value)))
    paid = _fen(max(commission_min, commission_rate * order_value_before)) if order_value_before > 0 else 0.0
    duty = _fen(value * stamp_duty_rate(day)) if side == "SELL" else 0.0
    return Fees(_fen(owed - paid), _fen(value * transfer_fee_rate(day)), duty)


# ------------------------------------------------------------------------------------------- refusals
@dataclass(frozen=True, slots=True)
class Refusal:
    code: str  # stable: ASHARE_CLOSED, _HOLIDAY, _LOT, _T1, _NO_SHORT, _PRICE_LIMIT
    message: str  # starts with the rule's name; says what to do
    limit: str = ""
    observed: str = ""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Holding:
    quantity: float  # shares held now
    bought_today: float = 0.0  # of which bought today (not sellable: T+1)
    reserved: float = 0.0  # of which offered in working sell orders

    @property
    def free(self) -> float:
        """Held and not already offered for sale."""
        return max(0.0, self.quantity - self.reserved)

    @property
    def sellable(self) -> float:
        return max(0.0, self.quantity - self.bought_today - self.reserved)


def check_session(ts_ms: int) -> Refusal | None:
    t = local(ts_ms)
    day, now = t.date(), t.time()
    if not is_trading_day(day):
        return Refusal(HOLIDAY, f"not a trading day: {t:%a %Y-%m-%d} the Shanghai and Shenzhen exchanges are "
                       f"closed; trading resumes {_when(next_open(ts_ms))} Beijing time.",
                       observed=day.isoformat())
    if any(start <= now < end for start, end in SESSIONS):
        return None
    opens = _when(next_open(ts_ms))
    if OPENING_AUCTION[0] <= now < OPENING_AUCTION[1]:
        why = "the opening call auction (09:15-09:25) is not simulated; continuous trading opens at 09:30"
    elif SESSIONS[0][1] <= now < SESSIONS[1][0]:
        why = "lunch break; trading resumes at 13:00"
    elif now >= SESSIONS[1][1]:
        why = f"trading ended at 15:00; the next session opens {opens}"
    else:
        why = f"A-shares trade 09:30-11:30 and 13:00-15:00 Beijing time; the market opens {opens}"
    return Refusal(CLOSED, f"market closed: {why} (now {now:%H:%M} Beijing time).",
                   limit="09:30-11:30, 13:00-15:00", observed=f"{now:%H:%M}")


def check_lot(code: str, side: str, qty: float, holding: Holding) -> Refusal | None:
    minimum, step = lot_rule(code)
    name = BOARD_NAMES[board(code)]
    on_step = abs(qty / step - round(qty / step)) <= 1e-9
    if side == "BUY":
        if qty >= minimum - 1e-9 and on_step:
            return None
        if step == 1.0:
            return Refusal(LOT, f"lot size: {name} buys are at least {minimum:g} shares, in whole shares "
                           f"(got {qty:g}).", limit=f">= {minimum:g}", observed=f"{qty:g}")
        lower = max(minimum, qty - qty % step)
        return Refusal(LOT, f"lot size: buy in lots of {step:g} shares; {qty:g} is not one (buy {lower:g} or "
                       f"{lower + step:g}).", limit=f"lot {step:g}", observed=f"{qty:g}")
    free = holding.free
    if abs(qty - free) <= 1e-9 or (qty >= minimum - 1e-9 and on_step):
        return None
    odd = round(free % step, 6) if step > 1.0 else 0.0
    if odd and qty <= free + 1e-9 and abs(qty % step - odd) <= 1e-9:
        return None  # the whole odd remainder, with or without whole lots
    if step == 1.0:
        return Refusal(LOT, f"lot size: {name} sells are at least {minimum:g} shares, unless you sell all "
                       f"{free:g} you hold (got {qty:g}).", limit=f">= {minimum:g}", observed=f"{qty:g}")
    hint = (f"or the odd remainder of {odd:g} shares in one go (e.g. {odd:g} or {odd + step:g})" if odd
            else "your holding has no odd remainder")
    return Refusal(LOT, f"lot size: sell in lots of {step:g} shares, {hint}; {qty:g} is neither.",
                   limit=f"lot {step:g}", observed=f"{qty:g}")


def check_holding(side: str, qty: float, holding: Holding, ts_ms: int) -> Refusal | None:
    """T+1 and no short selling: a sell only from shares held since before today, not already offered."""
    if side != "SELL" or qty <= holding.sellable + 1e-9:
        return None
    h = holding
    offered = f"; {h.reserved:g} are already in working sell orders" if h.reserved > 1e-9 else ""
    if qty <= h.free + 1e-9:
        nxt = next_trading_day(day_of(ts_ms))
        return Refusal(T1, f"T+1: {h.bought_today:g} of the {h.quantity:g} shares were bought today and can "
                       f"be sold from the next trading day ({nxt:%a %Y-%m-%d}); {h.sellable:g} can be sold "
                       f"now{offered}.", limit=f"{h.sellable:g}", observed=f"{qty:g}")
    return Refusal(NO_SHORT, f"no short selling: A-shares are sold only from a holding; {qty:g} to sell, "
                   f"{h.quantity:g} held{offered}.", limit=f"{h.free:g}", observed=f"{qty:g}")


def check_price(price: float, limits: DailyLimits | None) -> Refusal | None:
    if limits is None or limits.lower - 1e-9 <= price <= limits.upper + 1e-9:
        return None
    side = "above the upper" if price > limits.upper else "below the lower"
    return Refusal(PRICE_LIMIT, f"price limit: {price:g} is {side} limit of {limits.day} (range "
                   f"{limits.lower:.2f}-{limits.upper:.2f}, previous close {limits.prev_close:.2f}); "
                   f"price the order inside the range.", limit=f"{limits.lower:.2f}-{limits.upper:.2f}",
                   observed=f"{price:g}")


def check_order(symbol: str, side: str, quantity: float, price: float | None, ts_ms: int, holding: Holding,
                limits: DailyLimits | None = None) -> Refusal | None:
    """None if an order is allowed at ``ts_ms`` (when it reaches the market), else the first rule it breaks:
    session, lots, T+1 / no short selling, price limits (``limits`` of the order's trading day, if known)."""
    side = getattr(side, "value", side)
    return (check_session(ts_ms) or check_lot(code_of(symbol), side, quantity, holding)
            or check_holding(side, quantity, holding, ts_ms)
            or (check_price(price, limits) if price is not None else None))


# ------------------------------------------------------------------------------------------- T+1 book
class BuyLedger:
    """Shares bought per (symbol, trading day), from fills: what T+1 keeps from being sold the same day."""

    def __init__(self) -> None:
        self._bought: dict[tuple[str, dt.date], float] = {}

    def add(self, symbol: str, side: str, qty: float, ts_ms: int) -> None:
        if getattr(side, "value", side) == "BUY":
            key = (symbol, day_of(ts_ms))
            self._bought[key] = self._bought.get(key, 0.0) + qty

    def bought(self, symbol: str, day: dt.date) -> float:
        return self._bought.get((symbol, day), 0.0)
