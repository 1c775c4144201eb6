"""China A-share rules where a trader meets them: on the sim's A-shares through the real Kernel (SQLite
profile, risk gate, sim venue), and in backtests. Each rule is refused with its stable code and a sentence a
trader understands; each fee and the stamp duty are charged (the numbers worked out by hand in comments).
akshare paper trading: tests/venues/test_ashare_paper.py (with the check that all three share one module)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.api import Strategy
from app.config import RiskSettings, Settings, SimSettings
from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.core import ashare_rules as rules
from app.engine.core.clock import SimClock
from app.engine.core.instruments import ashare_instrument, default_instruments
from app.engine.core.messages import (
    OrderDenied,
    OrderRejected,
    OrderStatus,
    OrderType,
    OrderUpdated,
    Side,
    TradeTick,
)
from app.engine.data.bars import Bars
from app.engine.kernel import Kernel
from app.engine.venues.base import VenueOrder
from app.engine.venues.events import FeedStatus
from tests.kit.kernel import advance
from tests.kit.ids import sid

SH = dt.timezone(dt.timedelta(hours=8))
MOUTAI = "600519.SH"
S = OrderStatus
LOOSE = RiskSettings(max_notional_manual=1e9, max_notional_strategy=1e9, max_order_qty={}, max_position={},
                     max_gross_exposure_x_equity=1e6, duplicate_window_s=0.0, price_collar_pct=50.0)


def at(y: int, m: int, d: int, hh: int, mm: int, ss: int = 0) -> int:
    return int(dt.datetime(y, m, d, hh, mm, ss, tzinfo=SH).timestamp() * 1000)


MON_10 = at(2025, 6, 16, 10, 0)  # a Monday in session; the shared SimClock (1_750_000_000_000) is Sunday 23:06


@pytest.fixture
def kernel_at(profile):
    """``make(ts, extra_instruments=())``: a real kernel (profile SQLite, sim venue) on a SimClock at ``ts``,
    recording every bus message in ``kernel.seen``; the same profile again after ``close()``."""
    made = []

    def make(ts: int, extra=()):
        k = Kernel(profile, Settings(sim=SimSettings(latency_ms=0), risk=LOOSE), clock=SimClock(ts),
                   instruments=default_instruments() + list(extra))
        k.seen = []
        k.bus.subscribe(object, k.seen.append)
        k.start()
        made.append(k)
        advance(k, 500)
        return k

    yield make
    for k in made:
        k.close()


def submit(k, side: Side, qty: float, price: float | None = None, symbol: str = MOUTAI):
    cid = k.submit(symbol, side, OrderType.LIMIT if price else OrderType.MARKET, qty, price)
    denied = [e for e in k.seen if isinstance(e, OrderDenied) and e.client_order_id == cid]
    return k.execution.orders[cid], (denied[0] if denied else None)


def fills(k, cid: str) -> list[dict]:
    return [f for f in k.store.fills() if f["client_order_id"] == cid]


def buy_fee(value: float) -> float:
    """Commission 0.025% (at least 5 CNY) + transfer fee 0.001%, each rounded to the fen, as a broker bills."""
    return round(max(5.0, round(value * 0.00025 + 1e-9, 2)) + round(value * 0.00001 + 1e-9, 2), 2)


# ------------------------------------------------------------------------------------------- sessions
def test_the_sim_refuses_a_share_orders_outside_sessions_with_the_reason(kernel_at):
    k = kernel_at(at(2025, 6, 16, 21, 0))  # Monday night, Beijing time
    order, denial = submit(k, Side.BUY, 100)
    assert order.status is S.DENIED and denial.reason == "ASHARE_CLOSED"
    assert denial.message == ("market closed: trading ended at 15:00; the next session opens Tue 2025-06-17 09:30 "
                              "(now 21:00 Beijing time).")
    btc, none = submit(k, Side.BUY, 0.01, symbol="BTC/USDT")  # crypto trades round the clock
    assert none is None and btc.status is S.FILLED

    k.clock.set_time(at(2025, 6, 17, 9, 20))
    k.step()
    _, denial = submit(k, Side.BUY, 100)
    assert denial.reason == "ASHARE_CLOSED" and "opening call auction (09:15-09:25) is not simulated" in denial.message
    k.clock.set_time(at(2025, 6, 17, 12, 0))
    k.step()
    _, denial = submit(k, Side.BUY, 100)
    assert denial.message == "market closed: lunch break; trading resumes at 13:00 (now 12:00 Beijing time)."
    k.clock.set_time(at(2025, 10, 1, 10, 0))  # National Day: a Wednesday, but the exchanges are closed
    k.step()
    _, denial = submit(k, Side.BUY, 100)
    assert denial.reason == "ASHARE_HOLIDAY" and denial.message.startswith(
        "not a trading day: Wed 2025-10-01 the Shanghai and Shenzhen exchanges are closed; trading resumes "
        "Thu 2025-10-09 09:30")


def test_the_sim_venue_itself_refuses_a_closed_market(kernel_at):
    """A second line behind the pre-trade check: the sim exchange refuses what a real one would."""
    k = kernel_at(at(2025, 6, 14, 10, 0))  # a Saturday
    got = []
    k.sim._on_report = got.append
    k.sim.submit(VenueOrder("direct-1", MOUTAI, Side.BUY, OrderType.MARKET, 100, None))
    assert isinstance(got[0], OrderRejected) and got[0].reason.startswith("not a trading day: Sat 2025-06-14")


def test_a_closed_a_share_market_is_quiet_with_a_closed_status_and_live_again_at_the_open(kernel_at):
    k = kernel_at(at(2025, 6, 16, 11, 29, 30))
    advance(k, 60_000)  # over the 11:30 close
    noon = at(2025, 6, 16, 11, 30)
    prints = [t for t in k.seen if isinstance(t, TradeTick)]
    assert [t for t in prints if t.symbol == sid(MOUTAI) and t.ts < noon]  # lively before the break ...
    assert not [t for t in prints if t.symbol == sid(MOUTAI) and t.ts >= noon]  # ... nothing printed after it
    assert [t for t in prints if t.symbol == sid("BTC/USDT") and t.ts >= noon]
    status = [f for f in k.seen if isinstance(f, FeedStatus) and f.symbol == sid(MOUTAI)]
    assert (status[-1].venue, status[-1].state) == ("sim", "closed")
    assert status[-1].message.startswith("market closed: lunch break") and k.sim.session_status(MOUTAI) == status[-1]

    k.clock.set_time(at(2025, 6, 16, 12, 59, 50))
    k.step()
    advance(k, 20_000)
    assert [t for t in k.seen if isinstance(t, TradeTick) and t.symbol == sid(MOUTAI) and t.ts >= noon]
    live = [f for f in k.seen if isinstance(f, FeedStatus) and f.symbol == sid(MOUTAI)][-1]
    assert live.state == "live" and live.message == "continuous trading until 15:00 Beijing time"


def test_resting_a_share_orders_expire_at_the_close(kernel_at):
    k = kernel_at(at(2025, 6, 16, 14, 59, 0))
    bid = k.market.get(MOUTAI).book.best_bid
    order, denial = submit(k, Side.BUY, 100, round(bid - 5.0, 2))
    assert denial is None and order.status is S.ACCEPTED
    advance(k, 70_000)
    assert order.status is S.CANCELED and order.reason == "expired at the 15:00 close (day order)"


# ------------------------------------------------------------------------------------ T+1, lots, limits
def test_t_plus_one_refuses_selling_todays_shares_until_the_next_trading_day(kernel_at):
    k = kernel_at(MON_10)
    buy, _ = submit(k, Side.BUY, 200)
    assert buy.status is S.FILLED
    sell, denial = submit(k, Side.SELL, 100)
    assert sell.status is S.DENIED and denial.reason == "ASHARE_T1"
    assert denial.message == ("T+1: 200 of the 200 shares were bought today and can be sold from the next "
                              "trading day (Tue 2025-06-17); 0 can be sold now.")
    assert (denial.limit, denial.observed) == ("0", "100")
    k.close()  # a restart the same day: today's buys come back from the journal

    k = kernel_at(at(2025, 6, 16, 10, 5))
    _, denial = submit(k, Side.SELL, 100)
    assert denial.reason == "ASHARE_T1"
    k.clock.set_time(at(2025, 6, 17, 10, 0))
    k.step()
    advance(k, 500)
    sell, denial = submit(k, Side.SELL, 100)
    assert denial is None and sell.status is S.FILLED
    _, short = submit(k, Side.SELL, 200)  # 100 left: no short selling
    assert short.reason == "ASHARE_NO_SHORT"
    assert short.message == "no short selling: A-shares are sold only from a holding; 200 to sell, 100 held."


def test_lots_by_board_on_the_sim(kernel_at):
    star, chinext, bse = (ashare_instrument(s, "sim") for s in ("688981.SH", "300750.SZ", "830799.BJ"))
    k = kernel_at(MON_10, (star, chinext, bse))
    _, denial = submit(k, Side.BUY, 150)
    assert denial.reason == "ASHARE_LOT"
    assert denial.message == "lot size: buy in lots of 100 shares; 150 is not one (buy 100 or 200)."
    _, denial = submit(k, Side.BUY, 100, symbol="688981.SH")
    assert denial.message == "lot size: STAR Market buys are at least 200 shares, in whole shares (got 100)."
    order, denial = submit(k, Side.BUY, 201, symbol="688981.SH")  # then any share
    assert denial is None and order.status is S.FILLED
    order, denial = submit(k, Side.BUY, 150, symbol="830799.BJ")  # Beijing: at least 100, then any share
    assert denial is None and order.status is S.FILLED
    _, denial = submit(k, Side.BUY, 250, symbol="300750.SZ")  # ChiNext: lots of 100
    assert denial.reason == "ASHARE_LOT"


def test_price_limits_by_board_from_the_previous_close_roll_each_day(kernel_at):
    star, chinext, bse = (ashare_instrument(s, "sim") for s in ("688981.SH", "300750.SZ", "830799.BJ"))
    k = kernel_at(MON_10, (star, chinext, bse))
    limits = {m.symbol: m for m in k.seen if isinstance(m, rules.DailyLimits)}
    # previous close: the sim's reference price (1500 for 600519; 100.00 for the others)
    assert (limits[MOUTAI].lower, limits[MOUTAI].upper, limits[MOUTAI].day) == (1350.0, 1650.0, "2025-06-16")
    assert (limits["688981.SH"].lower, limits["688981.SH"].upper) == (80.0, 120.0)  # STAR +-20%
    assert (limits["300750.SZ"].lower, limits["300750.SZ"].upper) == (80.0, 120.0)  # ChiNext +-20%
    assert (limits["830799.BJ"].lower, limits["830799.BJ"].upper) == (70.0, 130.0)  # Beijing +-30%
    order, denial = submit(k, Side.BUY, 100, 1650.01)
    assert order.status is S.DENIED and denial.reason == "ASHARE_PRICE_LIMIT"
    assert denial.message == ("price limit: 1650.01 is above the upper limit of 2025-06-16 (range 1350.00-1650.00, "
                              "previous close 1500.00); price the order inside the range.")
    _, denial = submit(k, Side.BUY, 200, 120.01, symbol="300750.SZ")
    assert denial.reason == "ASHARE_PRICE_LIMIT"

    last = [t.price for t in k.seen if isinstance(t, TradeTick) and t.symbol == sid(MOUTAI)][-1]
    k.clock.set_time(at(2025, 6, 17, 9, 35))  # the next day: its limits from Monday's last print
    k.step()
    new = [m for m in k.seen if isinstance(m, rules.DailyLimits) and m.symbol == MOUTAI][-1]
    assert (new.day, new.prev_close) == ("2025-06-17", last)
    assert (new.lower, new.upper) == rules.price_limits(last, "600519")
    assert k.sim.price_limits(MOUTAI) == (new.lower, new.upper)


# ------------------------------------------------------------------------------------------------ fees
def test_sim_fills_pay_commission_transfer_fee_and_stamp_duty_on_sells(kernel_at):
    icbc = ashare_instrument("601398.SH", "sim")  # the sim quotes it near 100.00
    k = kernel_at(MON_10, (icbc,))
    buy, _ = submit(k, Side.BUY, 100)
    (f,) = fills(k, buy.client_order_id)
    value = f["price"] * 100  # ~150,000 CNY: commission 0.025% = ~37.50, transfer 0.001% = ~1.50
    assert f["fee"] == buy_fee(value) and 38.0 < f["fee"] < 41.0
    small, _ = submit(k, Side.BUY, 100, symbol="601398.SH")
    (g,) = fills(k, small.client_order_id)
    # ~10,000 CNY: commission 0.025% = ~2.50, below the minimum: 5.00; transfer ~0.10: 5.10
    assert g["fee"] == round(5.0 + round(g["price"] * 100 * 0.00001 + 1e-9, 2), 2) and 5.05 <= g["fee"] <= 5.15

    k.clock.set_time(at(2025, 6, 17, 10, 0))
    k.step()
    advance(k, 500)
    sell, _ = submit(k, Side.SELL, 100)
    (h,) = fills(k, sell.client_order_id)
    value = h["price"] * 100  # ~150,000 CNY: ~37.50 + ~1.50 + stamp duty 0.05% ~75.00 = ~114.00
    assert h["fee"] == round(buy_fee(value) + round(value * 0.0005 + 1e-9, 2), 2) and 110 < h["fee"] < 120


# ------------------------------------------------------------------------------------------- backtests
class Script(Strategy):
    """Sends the orders of ``plan`` (bar index -> [(side, qty, price, "bar"|"open")]) and records what came
    back: denials (code, message) and cancels (the bar index they happened at)."""

    name = "script"
    plan: dict = {}

    def on_start(self) -> None:
        self.state.update(i=0, denied=[], canceled=[])

    def _send(self, when: str) -> None:
        for side, qty, price, moment in self.plan.get(self.state["i"], ()):
            if moment == when:
                (self.buy if side == "BUY" else self.sell)(qty, price)

    def on_tick(self, tick) -> None:  # noqa: ANN001
        self._send("open")

    def on_bar(self, bar) -> None:  # noqa: ANN001
        self._send("bar")
        self.state["i"] += 1

    def on_order(self, event) -> None:  # noqa: ANN001
        if isinstance(event, OrderDenied):
            self.state["denied"].append((event.reason, event.message))
        elif isinstance(event, OrderUpdated) and event.status is S.CANCELED:
            self.state["canceled"].append(self.state["i"])


def daily_bars(days: list[dt.date], opens: list[float], symbol: str = MOUTAI) -> Bars:
    ts = np.array([at(d.year, d.month, d.day, 0, 0) for d in days], dtype=np.int64)  # akshare's daily stamps
    o = np.array(opens, dtype=float)
    return Bars.from_arrays(ts, o, o + 10, o - 10, o + 5, np.full(len(o), 1e6), 86_400_000, symbol)


def backtest(plan: dict, data: Bars, cash: float = 1_000_000.0):
    strategy = type("Plan", (Script,), {"plan": plan})
    seen: dict = {}

    def grab(self) -> None:  # the strategy object's records, read when it stops
        seen.update(self.state)
    strategy.on_stop = grab
    result = run_backtest(strategy, {"symbol": data.symbol}, data, BacktestConfig(cash=cash, rules="ashare"))
    return result, seen


AUG = [dt.date(2023, 8, d) for d in (21, 22, 23, 24, 25, 28, 29)]  # trading days; 26-27 a weekend


def test_a_share_backtest_applies_every_rule_and_charges_fees_and_the_stamp_duty_by_date():
    data = daily_bars(AUG, [1800, 1810, 1820, 1830, 1840, 1850, 1860])  # closes: open + 5
    plan = {
        0: [("BUY", 150, None, "bar"), ("BUY", 300, None, "bar")],  # odd lot; 300 fill at bar 1's open
        1: [("SELL", 100, None, "open"),  # the same day as the buy: T+1
            ("SELL", 100, 2000.0, "bar"),  # for Aug 23: previous close 1815 -> 1633.50-1996.50
            ("SELL", 400, None, "bar")],  # 300 held: no short selling
        2: [("SELL", 100, 1900.0, "bar")],  # a day order for Aug 24 that never fills: expires
        3: [("SELL", 100, None, "bar")],  # fills Fri Aug 25 at 1840: stamp duty 0.1%
        4: [("SELL", 100, None, "bar")],  # fills Mon Aug 28 at 1850: stamp duty 0.05% from that day
    }
    result, seen = backtest(plan, data)
    assert [code for code, _ in seen["denied"]] == ["ASHARE_LOT", "ASHARE_T1", "ASHARE_PRICE_LIMIT",
                                                   "ASHARE_NO_SHORT"]
    messages = dict(seen["denied"])
    assert messages["ASHARE_T1"] == ("T+1: 300 of the 300 shares were bought today and can be sold from the next "
                                     "trading day (Wed 2023-08-23); 0 can be sold now.")
    assert messages["ASHARE_PRICE_LIMIT"].startswith("price limit: 2000 is above the upper limit of 2023-08-23 "
                                                     "(range 1633.50-1996.50, previous close 1815.00)")
    assert seen["canceled"] == [4]  # at the next day's open (Aug 25)
    assert [(f["side"], f["price"], f["qty"], f["fee"]) for f in result.fills] == [
        ("BUY", 1810.0, 300.0, 141.18),  # 543,000: commission 135.75 + transfer 5.43
        ("SELL", 1840.0, 100.0, 231.84),  # 184,000: 46.00 + 1.84 + stamp duty 0.1% 184.00
        ("SELL", 1850.0, 100.0, 140.60),  # 185,000: 46.25 + 1.85 + stamp duty 0.05% 92.50
    ]


def test_a_share_backtest_commission_minimum():
    data = daily_bars(AUG[:3], [5.0, 5.1, 5.2], symbol="601398.SH")
    result, _ = backtest({0: [("BUY", 1000, None, "bar")]}, data, cash=100_000.0)
    # 1,000 x 5.10 = 5,100 CNY: commission 1.275 -> the 5.00 minimum; transfer 0.051 -> 0.05
    assert [(f["price"], f["fee"]) for f in result.fills] == [(5.1, 5.05)]


def test_a_share_backtest_refuses_orders_that_would_meet_a_closed_market():
    """Intraday data with bars outside a session (08:00, 09:00): an order sent at 09:00 would meet the market
    at the 09:00 bar's open, before trading starts; one sent at 10:00 meets the 10:00 open."""
    ts = np.array([at(2023, 8, 21, h, 0) for h in (8, 9, 10, 11)], dtype=np.int64)
    o = np.array([1800.0, 1801.0, 1802.0, 1803.0])
    data = Bars.from_arrays(ts, o, o + 1, o - 1, o, np.full(4, 1e6), 3_600_000, MOUTAI)
    result, seen = backtest({0: [("BUY", 100, None, "bar")], 1: [("BUY", 100, None, "bar")]}, data)
    assert [code for code, _ in seen["denied"]] == ["ASHARE_CLOSED"]
    assert seen["denied"][0][1] == ("market closed: A-shares trade 09:30-11:30 and 13:00-15:00 Beijing time; the "
                                    "market opens Mon 2023-08-21 09:30 (now 09:00 Beijing time).")
    assert [(f["price"], f["qty"]) for f in result.fills] == [(1802.0, 100.0)]


def test_a_backtest_without_rules_is_unchanged():
    """Not an A-share run: any quantity, no sessions, the flat fee."""
    data = daily_bars(AUG[:3], [1800, 1810, 1820])
    strategy = type("Plan", (Script,), {"plan": {0: [("BUY", 150, None, "bar")], 1: [("SELL", 150, None, "open")]}})
    result = run_backtest(strategy, {"symbol": MOUTAI}, data, BacktestConfig(cash=1e6, fee=0.001))
    assert [(f["side"], f["qty"], f["fee"]) for f in result.fills] == [("BUY", 150.0, pytest.approx(271.5)),
                                                                       ("SELL", 150.0, pytest.approx(271.5))]
