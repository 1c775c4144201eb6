"""Cost of the full pre-trade check, and orders per second through risk into the sim venue, beside vn.py's
risk manager (vnpy_riskmanager 2.0, its default rules) in the same run.

    python bench/bench_risk.py [--orders 20000] [--repeat 5]

Kestrel's limits are loosened so that every order passes every check (the worst case: all 12 checks run).
"check" times ``RiskEngine.check`` alone; "through the gate" publishes SubmitOrder on the bus and includes
the risk checks, journaling the order to SQLite, the sim venue's matching (zero latency), the fills
(persisted, de-duplicated), positions and the order-state events. vn.py's figure is ``check_allowed`` of
its RiskEngine with its default rules, which is all its gate does before handing the order to a gateway.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import median, pct, table, vendor

LOOSE = dict(max_msgs_per_s_strategy=10**9, max_msgs_per_s_total=10**9, duplicate_window_s=1.0,
             max_fills_per_min_strategy=10**9, max_rejects_per_min_strategy=10**9, max_notional_manual=1e12,
             max_notional_strategy=1e12, max_working_orders_total=10**9, max_working_orders_strategy=10**9,
             max_gross_exposure_x_equity=1e9, quote_max_age_s=1e9, daily_loss_halt_pct=100.0,
             daily_loss_strategy_pct=100.0, max_drawdown_pct=100.0)


def kestrel(n: int) -> tuple[list[float], float]:
    from app.config import RiskSettings, Settings, SimSettings
    from app.engine.clock import SimClock
    from app.engine.kernel import Kernel
    from app.engine.messages import OrderType, Side, SubmitOrder

    with tempfile.TemporaryDirectory() as d:
        clock = SimClock(1_750_000_000_000)
        settings = Settings(sim=SimSettings(latency_ms=0), risk=RiskSettings(**LOOSE))
        k = Kernel(Path(d), settings, clock=clock)
        k.start()
        for _ in range(10):
            clock.advance(50)
            k.step()
        risk = k.risk
        price = k.instruments["BTC/USDT"].round_price(k.market.get("BTC/USDT").book.mid * 0.99)
        costs = []
        for i in range(n):
            cmd = SubmitOrder(f"c{i}", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, round(0.0001 * (10 + i), 4),
                              price, "strategy:bench")
            t0 = time.perf_counter_ns()
            denial = risk.check(cmd)
            costs.append((time.perf_counter_ns() - t0) / 1000.0)
            assert denial is None, denial
        publish = k.bus.publish
        busy = 0.0
        for i in range(n):
            side = Side.BUY if i % 2 == 0 else Side.SELL
            cmd = SubmitOrder(f"g{i}", "BTC/USDT", "sim", side, OrderType.MARKET, round(0.0001 * (10 + (i // 2) % 60), 4),
                              None, "strategy:bench")
            t0 = time.perf_counter()
            publish(cmd)
            busy += time.perf_counter() - t0
            if i % 50 == 49:  # one simulated second of market between batches (not timed): depth refills
                for _ in range(20):
                    clock.advance(50)
                    k.step()
        rate = n / busy
        filled = sum(1 for o in k.execution.orders.values() if o.status.value == "FILLED")
        assert filled >= n * 0.99, f"only {filled} of {n} orders filled"
        k.close()
        return costs, rate


def vnpy_check(n: int) -> list[float]:
    vendor("vnpy_riskmanager", "vnpy_riskmanager")
    for dep in ("tzlocal", "loguru"):
        vendor(dep, dep)
    home = tempfile.mkdtemp()
    os.environ["HOME"] = home
    os.chdir(home)
    from vnpy.event import EventEngine
    from vnpy.trader.constant import Direction, Exchange, OrderType
    from vnpy.trader.engine import MainEngine
    from vnpy.trader.constant import Product
    from vnpy.trader.object import ContractData, OrderRequest
    from vnpy_riskmanager.engine import RiskEngine

    ee = EventEngine(interval=1)
    main = MainEngine(ee)
    risk = RiskEngine(main, ee)
    contract = ContractData(gateway_name="SIM", symbol="BTCUSDT", exchange=Exchange.GLOBAL, name="BTCUSDT",
                            product=Product.SPOT, size=1, pricetick=0.1, min_volume=1)
    main.get_engine("oms").contracts[contract.vt_symbol] = contract  # what its OMS holds after a gateway connects
    costs = []
    for i in range(n):
        req = OrderRequest(symbol="BTCUSDT", exchange=Exchange.GLOBAL, direction=Direction.LONG, type=OrderType.LIMIT,
                           volume=1 + i // 10_000, price=round(60_000.0 + (i % 10_000) * 0.1, 1))  # all distinct
        t0 = time.perf_counter_ns()
        ok = risk.check_allowed(req, "SIM")
        costs.append((time.perf_counter_ns() - t0) / 1000.0)
        assert ok
    main.close()
    return costs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    runs = [kestrel(a.orders) for _ in range(a.repeat)]
    here = os.getcwd()
    v = [vnpy_check(a.orders) for _ in range(a.repeat)]
    os.chdir(here)
    k50 = median([pct(c, 0.5) for c, _ in runs])
    k99 = median([pct(c, 0.99) for c, _ in runs])
    v50 = median([pct(c, 0.5) for c in v])
    v99 = median([pct(c, 0.99) for c in v])
    rate = median([r for _, r in runs])
    print(f"risk benchmark: {a.orders:,} orders, medians of {a.repeat} runs")
    print(table(["measure", "Kestrel", "vn.py RiskEngine", "goal"], [
        ["pre-trade check p50 [µs]", f"{k50:.1f}", f"{v50:.1f}", ""],
        ["pre-trade check p99 [µs]", f"{k99:.1f}", f"{v99:.1f}", "<= 50"],
        ["orders/s through the gate into the sim (journal, match, fills)", f"{rate:,.0f}", "-", ">= 50,000"],
    ]))


if __name__ == "__main__":
    main()
