"""Every pre-trade control at and just over its limit, on the real kernel (SQLite, sim venue, sim clock)."""
from __future__ import annotations

import pytest

from app.config import RiskSettings, StrategyPermissions
from app.engine.core.messages import OrderDenied, OrderStatus, OrderType, RiskLimitsChanged, Side, SubmitOrder
from tests.kit.kernel import LOOSE_LIMITS, advance, kernel_with, mid, send


def test_max_order_qty(make_kernel):
    k = kernel_with(make_kernel, max_order_qty={"BTC/USDT": 0.05})
    assert send(k, 0.05) is None
    assert send(k, 0.0501) == "MAX_ORDER_QTY"


def test_max_notional_manual_and_strategy_market_valued_at_best_opposite(make_kernel):
    k = kernel_with(make_kernel, max_notional_manual=5_000.0, max_notional_strategy=2_500.0)
    ask = k.market.get("BTC/USDT").book.best_ask
    at = int(5_000.0 / ask / 0.0001) * 0.0001
    assert send(k, round(at, 4)) is None
    assert send(k, round(at + 0.0002, 4)) == "MAX_NOTIONAL"
    at_s = int(2_500.0 / k.market.get("BTC/USDT").book.best_ask / 0.0001) * 0.0001
    assert send(k, round(at_s, 4), actor="strategy:s") is None
    assert send(k, round(at_s + 0.0002, 4), actor="strategy:s") == "MAX_NOTIONAL"


def test_price_collar_and_quote_age(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments["BTC/USDT"]
    m = mid(k)
    inside = int(m * 1.05 / 0.1) * 0.1
    assert send(k, 0.001, Side.SELL, OrderType.LIMIT, round(inside, 1)) is None
    assert send(k, 0.001, Side.SELL, OrderType.LIMIT, inst.round_price(m * 1.0502)) == "PRICE_COLLAR"
    k.clock.advance(5_000 - (k.clock.now_ms() - k.market.get("BTC/USDT").book_ts))  # quote exactly 5 s old
    assert send(k, 0.001, Side.SELL, OrderType.LIMIT, inst.round_price(m * 1.01)) is None
    k.clock.advance(1)
    assert send(k, 0.001, Side.SELL, OrderType.LIMIT, inst.round_price(m * 1.011)) == "STALE_QUOTE"


def test_position_limit_counts_working_orders(make_kernel):
    k = kernel_with(make_kernel, max_position={"BTC/USDT": 0.05})
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    assert send(k, 0.03, Side.BUY, OrderType.LIMIT, far) is None  # working, not filled
    assert send(k, 0.02) is None  # 0 + 0.03 working + 0.02 = 0.05: at the limit
    advance(k, 100)
    assert send(k, 0.0001) == "POSITION_LIMIT"  # 0.02 filled + 0.03 working + 0.0001
    bid = k.market.get("BTC/USDT").book.best_bid  # a marketable sell above our own working bid
    assert send(k, 0.02, Side.SELL, OrderType.LIMIT, bid) is None  # reducing is always allowed


def test_gross_exposure_vs_equity(make_kernel):
    k = kernel_with(make_kernel, max_gross_exposure_x_equity=0.01)
    cap = 0.01 * k.portfolio.equity()
    ask = k.market.get("BTC/USDT").book.best_ask
    assert send(k, round(int(cap * 0.95 / ask / 0.0001) * 0.0001, 4)) is None
    advance(k, 100)
    assert send(k, round(int(cap * 0.1 / ask / 0.0001) * 0.0001, 4)) == "GROSS_EXPOSURE"


def test_message_throttle_per_strategy_and_overall(make_kernel):
    k = kernel_with(make_kernel, max_msgs_per_s_strategy=10, max_msgs_per_s_total=15,
                    max_throttle_trips_per_10s=100)
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    results = [send(k, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far, "strategy:a") for i in range(11)]
    assert results == [None] * 10 + ["THROTTLE"]
    results = [send(k, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far, "strategy:b") for i in range(6)]
    assert results == [None] * 5 + ["THROTTLE"]  # overall 15/s
    cancels = [o.client_order_id for o in k.execution.working.values()]
    from app.engine.core.messages import CancelOrder

    for cid in cancels:
        k.bus.publish(CancelOrder(cid))  # cancels are never blocked
    assert all(k.execution.orders[c].status is OrderStatus.CANCELED for c in cancels)
    k.clock.advance(1001)
    assert send(k, 0.002, Side.BUY, OrderType.LIMIT, far, "strategy:a") is None


def test_duplicate_order_within_one_second(make_kernel):
    k = kernel_with(make_kernel, duplicate_window_s=1.0)
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    assert send(k, 0.001, Side.BUY, OrderType.LIMIT, far) is None
    assert send(k, 0.001, Side.BUY, OrderType.LIMIT, far) == "DUPLICATE_ORDER"
    assert send(k, 0.002, Side.BUY, OrderType.LIMIT, far) is None  # not identical
    k.clock.advance(1001)
    assert send(k, 0.001, Side.BUY, OrderType.LIMIT, far) is None


def test_working_orders_per_strategy_and_overall(make_kernel):
    k = kernel_with(make_kernel, max_working_orders_strategy=20, max_working_orders_total=25)
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    r = [send(k, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far, "strategy:a") for i in range(21)]
    assert r == [None] * 20 + ["MAX_WORKING_ORDERS_STRATEGY"]
    r = [send(k, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far) for i in range(6)]
    assert r == [None] * 5 + ["MAX_WORKING_ORDERS"]


def test_a_burst_of_2000_against_50_working_lets_exactly_50_through(make_kernel):
    k = kernel_with(make_kernel, latency_ms=20, max_working_orders_total=50)  # all still in flight
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    results = [send(k, 0.001, Side.BUY, OrderType.LIMIT, far) for _ in range(2000)]
    assert results.count(None) == 50
    assert set(results) == {None, "MAX_WORKING_ORDERS"}
    advance(k, 100)
    assert len(k.sim.open_orders()) == 50


def test_self_match_prevention(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments["BTC/USDT"]
    ask_side = inst.round_price(mid(k) * 1.01)
    assert send(k, 0.001, Side.SELL, OrderType.LIMIT, ask_side) is None
    assert send(k, 0.001, Side.BUY, OrderType.LIMIT, ask_side) == "SELF_MATCH"
    assert send(k, 0.001, Side.BUY, OrderType.MARKET) == "SELF_MATCH"
    assert send(k, 0.001, Side.BUY, OrderType.LIMIT, inst.round_price(ask_side - 1)) is None


def test_strategy_permissions(make_kernel):
    k = kernel_with(make_kernel, permissions={"eth_only": StrategyPermissions(symbols=["ETH/USDT"],
                                                                               order_types=["LIMIT"])})
    assert send(k, 0.001, actor="strategy:eth_only") == "NOT_PERMITTED"
    assert send(k, 0.01, symbol="ETH/USDT", actor="strategy:eth_only") == "NOT_PERMITTED"  # market
    price = k.instruments["ETH/USDT"].round_price(mid(k, "ETH/USDT") * 0.99)
    assert send(k, 0.01, Side.BUY, OrderType.LIMIT, price, "strategy:eth_only", "ETH/USDT") is None
    assert send(k, 0.001, actor="strategy:other") is None


def test_limits_change_only_by_a_person_logged_old_and_new_and_persisted(make_kernel, profile):
    k = kernel_with(make_kernel)
    with pytest.raises(PermissionError):
        k.risk.update_limits({"max_notional_manual": 1e12}, actor="strategy:greedy", reason="more")
    with pytest.raises(ValueError):
        k.risk.update_limits({"max_notional_manual": 1000.0}, actor="manual", reason=" ")
    events = []
    k.bus.subscribe(RiskLimitsChanged, events.append)
    k.risk.update_limits({"max_notional_manual": 1000.0}, actor="manual", reason="smaller tickets today")
    assert [(e.name, e.old, e.new, e.actor) for e in events] == [("max_notional_manual", "1000000000.0", "1000.0",
                                                                  "manual")]
    assert send(k, 0.02) == "MAX_NOTIONAL"
    k.close()
    k2 = make_kernel(profile)
    assert k2.risk.limits.max_notional_manual == 1000.0


def test_notional_limit_is_in_the_base_currency_across_quote_currencies(make_kernel, sim_clock):
    sim_clock.set_time(1_750_039_200_000)  # Mon 2025-06-16 10:00 Beijing time: the A-share market is open
    k = kernel_with(make_kernel, max_notional_manual=50_000.0)  # USDT; CNY converts at fx_to_base 0.14
    price = k.market.get("600519.SH").book.best_ask
    assert price * 200 * 0.14 < 50_000 < price * 300 * 0.14
    assert send(k, 200.0, symbol="600519.SH") is None  # ~300k CNY = ~42k USDT
    assert send(k, 300.0, symbol="600519.SH") == "MAX_NOTIONAL"


def test_duplicate_memory_stays_cheap_under_a_burst_of_distinct_orders():
    """50k distinct orders inside one window: pruning must not turn each check into a scan of the map."""
    from app.engine.risk.rates import NS, RateBook

    rates = RateBook()
    rebuilds = 0
    for i in range(50_000):
        before = rates._recent
        assert not rates.seen_within(("manual", "X", i), 5, NS)
        rebuilds += rates._recent is not before
    assert rebuilds <= 3  # the threshold doubles after each prune: not a rebuild of the map on every call
    assert rates.seen_within(("manual", "X", 7), 6, NS)  # still remembered within the window
    assert not rates.seen_within(("manual", "X", 7), 6 + 2 * NS, NS)  # forgotten after it


def test_per_strategy_overrides_take_precedence_over_the_global_strategy_limits(make_kernel):
    from app.config import StrategyLimits

    k = kernel_with(make_kernel, max_working_orders_strategy=3, max_notional_strategy=1e9,
                    strategy_limits={"big": StrategyLimits(max_working_orders=5),
                                     "tiny": StrategyLimits(max_notional=100.0)})
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    small = [send(k, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far, "strategy:small") for i in range(4)]
    big = [send(k, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far, "strategy:big") for i in range(6)]
    assert small == [None] * 3 + ["MAX_WORKING_ORDERS_STRATEGY"]  # the global per-strategy limit
    assert big == [None] * 5 + ["MAX_WORKING_ORDERS_STRATEGY"]  # its own override
    assert send(k, 0.002, actor="strategy:tiny") == "MAX_NOTIONAL"  # ~130 USDT > its 100
    assert k.risk.limits.for_strategy("tiny", "max_working_orders") == 3  # fields left out fall back


class Go:
    """One message a strategy reacts to with a whole burst of orders (one dispatch, one journal commit)."""


def test_a_burst_inside_one_dispatch_counts_orders_waiting_to_be_sent(make_kernel):
    k = kernel_with(make_kernel, max_working_orders_total=50)
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    cmds = [SubmitOrder(f"x{i}", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, 0.001, far) for i in range(2000)]
    denied: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, denied.append)
    k.bus.subscribe(Go, lambda _g: [k.bus.publish(c) for c in cmds])
    k.bus.publish(Go())  # nothing is sent until the dispatch ends: the first 50 must still count
    assert len(denied) == 1950 and {d.reason for d in denied} == {"MAX_WORKING_ORDERS"}
    assert len(k.sim.open_orders()) == 50


def test_exposure_totals_match_a_scan_of_the_working_orders():
    """The running totals the checks read (instead of scanning) agree with a scan after any history."""
    import random

    from app.engine.core.messages import OrderStatus as S
    from app.engine.oms.exposure import WorkingExposure
    from app.engine.oms.orders import Order

    rng = random.Random(7)
    ex, orders = WorkingExposure(), []
    for step in range(1500):
        roll = rng.random()
        if roll < 0.45 or not orders:
            o = Order(f"c{step}", rng.choice("AB"), "sim", rng.choice([Side.BUY, Side.SELL]), OrderType.LIMIT,
                      rng.randint(1, 9) * 0.1, rng.choice([None, 100.0 + rng.randint(-5, 5)]),
                      rng.choice(["manual", "strategy:x"]), status=S.SUBMITTED)
            orders.append(o)
        else:
            o = rng.choice(orders)
            if not o.status.is_working:
                continue
            if roll < 0.75:
                o.filled_qty = min(o.quantity, o.filled_qty + 0.1)
                o.status = S.FILLED if o.filled_qty >= o.quantity - 1e-12 else S.PARTIALLY_FILLED
            else:
                o.status = rng.choice([S.CANCELED, S.ACCEPTED, S.REJECTED])
        ex.book(o)
        working = [o for o in orders if o.status.is_working]
        for sym in "AB":
            mine = [o for o in working if o.symbol == sym]
            for side in (Side.BUY, Side.SELL):
                same = [o for o in mine if o.side is side]
                assert ex.side_leaves.get((sym, side), 0.0) == pytest.approx(sum(o.leaves_qty for o in same))
                assert ex.prices.get((sym, side), []) == sorted(o.price for o in same if o.price is not None)
            assert ex.net_leaves.get(sym, 0.0) == pytest.approx(sum(o.leaves_qty * o.side.sign for o in mine))
            assert ex.priced_notional.get(sym, 0.0) == pytest.approx(
                sum(o.leaves_qty * o.price for o in mine if o.price is not None))
            assert ex.unpriced_leaves.get(sym, 0.0) == pytest.approx(
                sum(o.leaves_qty for o in mine if o.price is None))
        assert ex.by_actor == {a: n for a in ("manual", "strategy:x")
                               if (n := sum(o.actor == a for o in working))}
    for o in orders:
        o.status = S.CANCELED
        ex.book(o)
    assert not (ex.side_leaves or ex.net_leaves or ex.priced_notional or ex.unpriced_leaves or ex.prices
                or ex.by_actor)  # emptied buckets are gone: exactly 0, no float residue


def test_an_a_share_odd_lot_may_be_sold_only_as_the_whole_holding(profile, sim_clock):
    """China A-shares trade in lots of 100, but a holding that ended odd (bonus shares, a split) is sold in
    one go: the gate lets exactly the whole holding through and still refuses any other odd quantity."""
    from app.config import Settings, SimSettings
    from app.engine.core.instruments import Instrument
    from app.engine.core.messages import OrderFilled
    from app.engine.core.store import Store
    from app.engine.kernel import Kernel
    from app.engine.oms.execution import _fill_row

    inst = Instrument("600519.SH", "sim", "600519", "USDT", tick_size=0.01, lot_size=100.0, min_qty=100.0,
                      max_qty=1e6, asset_class="equity", odd_lot_sell_whole=True)
    store = Store(profile / "kestrel.db")  # 150 shares held from before (a bonus issue)
    store.commit([_fill_row(OrderFilled("old-1", "v-1", "T-1", "600519.SH", "sim", Side.BUY, 100.0, 150.0, 0.0,
                                        "USDT", "TAKER", 1))])
    store.close()
    k = Kernel(profile, Settings(sim=SimSettings(latency_ms=0), risk=RiskSettings(**LOOSE_LIMITS)), clock=sim_clock,
               instruments=[inst])
    k.start()
    try:
        advance(k, 500)
        assert k.portfolio.positions["600519.SH"].quantity == 150.0
        assert send(k, 150.0, Side.BUY, symbol="600519.SH") == "QTY_NOT_ON_LOT"  # buys: whole lots only
        assert send(k, 50.0, Side.SELL, symbol="600519.SH") == "QTY_NOT_ON_LOT"  # part of the odd lot
        assert send(k, 150.0, Side.SELL, symbol="600519.SH") is None  # the whole holding
    finally:
        k.close()


def test_orders_the_venue_cannot_place_are_refused_whole_saying_so(make_kernel):
    """A DAY order at a venue that does not take DAY (the sim does: tests/engine/sim/test_day_orders.py) is refused
    with what the venue takes, never sent as the plain order it would look like; a post-only market order is
    refused. (Native STOP and STOP_LIMIT on the sim: tests/engine/sim/test_stops.py; emulated and trailing stops:
    tests/engine/test_emulator.py.)"""
    from app.engine.core.messages import TimeInForce

    k = kernel_with(make_kernel)
    k.risk.checks.venue_features = lambda venue: frozenset({"IOC", "FOK", "post_only"})  # a venue without DAY
    seen: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, seen.append)
    bid = k.market.get("BTC/USDT").book.best_bid
    for i, extra in enumerate([{"order_type": OrderType.LIMIT, "price": bid, "tif": TimeInForce.DAY},
                               {"order_type": OrderType.MARKET, "post_only": True}]):
        cmd = SubmitOrder(f"shape-{i}", "BTC/USDT", "sim", Side.SELL, extra.pop("order_type"), 0.01,
                          extra.pop("price", None), "manual", **extra)
        k.bus.publish(cmd)
        assert seen[-1].client_order_id == cmd.client_order_id and seen[-1].reason == "ORDER_SHAPE"
        said = seen[-1].message
        assert any(x in said for x in ("does not take time in force DAY", "must be a limit"))
        assert k.execution.orders[cmd.client_order_id].status is OrderStatus.DENIED
    assert len(seen) == 2 and not [o for o in k.execution.orders.values() if o.is_working]
