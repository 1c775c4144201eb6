"""China A-share rules on akshare paper trading (akshare's HTTP layer faked, its parsing real) through the real
Kernel, and the check that the sim, akshare paper trading and backtests all use the one rules module.
The sim and backtests: tests/engine/sim/test_ashare_rules.py."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.api import Strategy
from app.config import RiskSettings, Settings, SimSettings
from app.engine.core import ashare_rules as rules
from app.engine.core.clock import SimClock
from app.engine.core.instruments import default_instruments
from app.engine.core.messages import OrderDenied, OrderFilled, OrderStatus, OrderType, Side
from app.engine.core.store import Store
from app.engine.kernel import Kernel
from app.engine.oms.execution import _fill_row
from app.engine.venues.akshare.client import AkshareCache, AkshareClient
from app.engine.venues.akshare.venue import AkshareVenue, ashare_instrument
from app.engine.venues.executor import DeadlineExecutor
from tests.kit.venues import run
from tests.venues.fake_akshare import FakeAkshareHTTP

SH = dt.timezone(dt.timedelta(hours=8))
MOUTAI = "600519.SH"
S = OrderStatus
LOOSE = RiskSettings(max_notional_manual=1e9, max_order_qty={}, max_position={}, max_gross_exposure_x_equity=1e6,
                     duplicate_window_s=0.0, price_collar_pct=50.0)


def at(y: int, m: int, d: int, hh: int, mm: int) -> int:
    return int(dt.datetime(y, m, d, hh, mm, tzinfo=SH).timestamp() * 1000)


THU_10 = at(2024, 1, 4, 10, 0)


@pytest.fixture
def http(monkeypatch):
    fake = FakeAkshareHTTP().install(monkeypatch)  # quote: last 1500.00, bid 1499.99, ask 1500.00, prev 1480
    yield fake
    fake.release_hangs()


def paper_kernel(profile, ts: int = THU_10) -> Kernel:
    insts = [i for i in default_instruments() if i.symbol != MOUTAI] + [ashare_instrument(MOUTAI)]
    k = Kernel(profile, Settings(risk=LOOSE), clock=SimClock(ts), instruments=insts)
    k.start()
    k.seen = []
    k.bus.subscribe(object, k.seen.append)
    client = AkshareClient(AkshareCache(k.store.conn), DeadlineExecutor(workers=2, max_stuck=2), deadline_s=2.0)
    k.venue = AkshareVenue([MOUTAI], k.execution.on_report, k.bus.publish, client=client, now_ms=k.clock.now_ms,
                           fills=lambda: list(k.store.fills()))
    k.venues.add(k.venue, cache=False)
    return k


async def quote(k: Kernel) -> None:
    await k.venue.client.warm()
    await k.venue.poll_once(MOUTAI)


def submit(k, side: Side, qty: float, price: float | None = None):
    cid = k.submit(MOUTAI, side, OrderType.LIMIT if price else OrderType.MARKET, qty, price)
    denied = [e for e in k.seen if isinstance(e, OrderDenied) and e.client_order_id == cid]
    return k.execution.orders[cid], (denied[0] if denied else None)


def fee_of(k, cid: str) -> float:
    (f,) = [f for f in k.store.fills() if f["client_order_id"] == cid]
    return f["fee"]


def test_akshare_paper_trading_refuses_each_rule_and_charges_fees_and_stamp_duty(profile, http):
    k = paper_kernel(profile)

    async def go():
        await quote(k)
        limits = [m for m in k.seen if isinstance(m, rules.DailyLimits)]
        assert [(m.venue, m.day, m.prev_close, m.lower, m.upper) for m in limits] == [
            ("akshare", "2024-01-04", 1480.0, 1332.0, 1628.0)]  # 1480 +-10%
        _, lot = submit(k, Side.BUY, 150)
        assert lot.reason == "ASHARE_LOT"
        buy, _ = submit(k, Side.BUY, 200)
        assert buy.status is S.FILLED and buy.avg_price == 1500.0
        # 200 x 1500.00 = 300,000 CNY: commission 0.025% = 75.00, transfer fee 0.001% = 3.00, no stamp duty
        assert fee_of(k, buy.client_order_id) == 78.0
        _, t1 = submit(k, Side.SELL, 100)
        assert t1.reason == "ASHARE_T1" and t1.message == (
            "T+1: 200 of the 200 shares were bought today and can be sold from the next trading day "
            "(Fri 2024-01-05); 0 can be sold now.")
        _, short = submit(k, Side.SELL, 300)
        assert short.reason == "ASHARE_NO_SHORT"
        _, limit = submit(k, Side.BUY, 100, 1628.01)
        assert limit.reason == "ASHARE_PRICE_LIMIT" and "range 1332.00-1628.00" in limit.message
        k.clock.set_time(at(2024, 1, 4, 12, 0))
        _, lunch = submit(k, Side.BUY, 100)
        assert lunch.reason == "ASHARE_CLOSED" and "lunch break" in lunch.message

        k.clock.set_time(at(2024, 1, 5, 10, 0))  # the next trading day
        await k.venue.poll_once(MOUTAI)
        sell, denial = submit(k, Side.SELL, 100)
        assert denial is None and sell.status is S.FILLED and sell.avg_price == 1499.99
        # 100 x 1499.99 = 149,999.00: commission 37.49975 -> 37.50, transfer 1.49999 -> 1.50,
        # stamp duty 0.05% 74.9995 -> 75.00: 114.00
        assert fee_of(k, sell.client_order_id) == 114.0
        k.clock.set_time(at(2024, 2, 12, 10, 0))  # Spring Festival
        _, holiday = submit(k, Side.BUY, 100)
        assert holiday.reason == "ASHARE_HOLIDAY"
        await k.venue.close()
    try:
        run(go())
    finally:
        k.close()


def test_akshare_paper_sells_an_odd_remainder_only_in_one_go(profile, http):
    store = Store(profile / "kestrel.db")  # 150 shares held from before (a bonus issue rounded odd)
    store.commit([_fill_row(OrderFilled("old-1", "AK-0", "AKT-old", MOUTAI, "akshare", Side.BUY, 1400.0, 150.0, 0.0,
                                        "CNY", "TAKER", at(2024, 1, 2, 10, 0)))])
    store.close()
    k = paper_kernel(profile)

    async def go():
        await quote(k)
        _, part = submit(k, Side.SELL, 30)
        assert part.reason == "ASHARE_LOT" and part.message == (
            "lot size: sell in lots of 100 shares, or the odd remainder of 50 shares in one go (e.g. 50 or 150); "
            "30 is neither.")
        odd, denial = submit(k, Side.SELL, 50)
        assert denial is None and odd.status is S.FILLED
        # 50 x 1499.99 = 74,999.50: commission 18.749875 -> 18.75, transfer 0.749995 -> 0.75, stamp duty
        # 37.49975 -> 37.50: 57.00
        assert fee_of(k, odd.client_order_id) == 57.0
        lot, denial = submit(k, Side.SELL, 100)
        assert denial is None and lot.status is S.FILLED
        await k.venue.close()
    try:
        run(go())
    finally:
        k.close()
    assert abs(k.portfolio.positions[MOUTAI].quantity) < 1e-9


def test_the_sim_akshare_paper_and_backtests_share_the_one_rules_module(tmp_path, http, monkeypatch):
    """One module: the venues and the pre-trade check hold the same module object, and changing a rule there
    (here the stamp duty, 1% instead of 0.05%) changes what every venue charges."""
    from app.engine.backtest import engine as backtest
    from app.engine.backtest.engine import run_backtest
    from app.engine.backtest.options import BacktestConfig
    from app.engine.data.bars import Bars
    from app.engine.risk import checks as risk_checks
    from app.engine.venues.akshare import venue as akshare_venue
    from app.engine.venues.sim import rules as sim_rules
    from app.engine.venues.sim import venue as sim_venue
    from tests.kit.kernel import advance

    assert sim_venue.ashare_rules is sim_rules.ashare_rules is akshare_venue.rules is backtest.ashare_rules \
        is risk_checks.ashare_rules is rules
    monkeypatch.setattr(rules, "stamp_duty_rate", lambda day: 0.01)

    def duty(value: float) -> float:  # what a sell costs beyond a buy of the same value
        return round(value * 0.01 + 1e-9, 2)

    def buy_fee(value: float) -> float:
        return round(max(5.0, round(value * 0.00025 + 1e-9, 2)) + round(value * 0.00001 + 1e-9, 2), 2)

    (tmp_path / "sim").mkdir()
    sim = Kernel(tmp_path / "sim", Settings(sim=SimSettings(latency_ms=0), risk=LOOSE), clock=SimClock(THU_10))
    sim.start()
    try:
        advance(sim, 500)
        sim.submit(MOUTAI, Side.BUY, OrderType.MARKET, 100)
        sim.clock.set_time(at(2024, 1, 5, 10, 0))
        sim.step()
        advance(sim, 500)
        cid = sim.submit(MOUTAI, Side.SELL, OrderType.MARKET, 100)
        (f,) = [f for f in sim.store.fills() if f["client_order_id"] == cid]
        assert f["fee"] == round(buy_fee(f["price"] * 100) + duty(f["price"] * 100), 2)
    finally:
        sim.close()

    (tmp_path / "paper").mkdir()
    k = paper_kernel(tmp_path / "paper")

    async def go():
        await quote(k)
        submit(k, Side.BUY, 100)
        k.clock.set_time(at(2024, 1, 5, 10, 0))
        await k.venue.poll_once(MOUTAI)
        sell, _ = submit(k, Side.SELL, 100)
        assert fee_of(k, sell.client_order_id) == round(buy_fee(149_999.0) + duty(149_999.0), 2)  # 1,538.99
        await k.venue.close()
    try:
        run(go())
    finally:
        k.close()

    class RoundTrip(Strategy):  # buys at the first close, sells at the second (T+1: the next day's open)
        name = "roundtrip"

        def on_start(self) -> None:
            self.state["n"] = 0

        def on_bar(self, bar) -> None:  # noqa: ANN001
            self.state["n"] += 1
            if self.state["n"] == 1:
                self.buy(100)
            elif self.state["n"] == 2:
                self.sell(100)

    days = [at(2024, 1, d, 0, 0) for d in (2, 3, 4, 5)]
    o = np.array([1500.0, 1500.0, 1500.0, 1500.0])
    data = Bars.from_arrays(np.array(days, dtype=np.int64), o, o + 1, o - 1, o, np.full(4, 1e6), 86_400_000, MOUTAI)
    result = run_backtest(RoundTrip, {"symbol": MOUTAI}, data, BacktestConfig(cash=1e6, rules="ashare"))
    # 150,000 CNY each way: 37.50 + 1.50 = 39.00 to buy; + 1% = 1,500.00 to sell
    assert [f["fee"] for f in result.fills] == [39.0, 1539.0]
