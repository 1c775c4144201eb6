"""Every simulated venue names its trades uniquely across restarts, so a restarted terminal keeps its fills.

Fills are de-duplicated on (venue, trade id) in the profile's journal. When the sim numbered its trades from
``T-1`` in every process, the fills of a restarted terminal were dropped as duplicates of the previous
session's: the order stayed working and the position was wrong (found by running the self-test twice)."""
from __future__ import annotations

import pytest

from app.engine.backtest.bar_venue import BarVenue
from app.engine.backtest.options import BacktestConfig
from app.engine.core.clock import SimClock
from app.engine.core.messages import OrderFilled, OrderStatus, OrderType, Side
from app.engine.venues.base import VenueOrder
from tests.kit.kernel import advance


def buy_and_fill(kernel, qty: float = 0.01) -> str:
    advance(kernel, 500)
    cid = kernel.submit("BTC/USDT", Side.BUY, OrderType.MARKET, qty)
    advance(kernel, 200)
    return cid


def test_fills_after_a_restart_are_kept_and_move_the_position(make_kernel, profile):
    first = make_kernel()
    cid1 = buy_and_fill(first)
    assert first.execution.orders[cid1].status is OrderStatus.FILLED
    first.close()
    for restart in range(3):  # the sim's market replays the same seed, so its trades repeat each session
        k = make_kernel(profile)
        cid = buy_and_fill(k)
        order = k.execution.orders[cid]
        assert order.status is OrderStatus.FILLED, f"restart {restart + 1}: {order.status} {order.reason}"
        assert k.portfolio.position("BTC/USDT").quantity == pytest.approx(0.01 * (restart + 2))
        k.close()


def test_trade_ids_differ_between_two_runs_of_each_simulated_venue(make_kernel, tmp_path):
    a = make_kernel(tmp_path / "a")
    b = make_kernel(tmp_path / "b")
    ticks = {a: [], b: []}
    from app.engine.core.messages import TradeTick

    for k in (a, b):
        k.bus.subscribe(TradeTick, ticks[k].append)
        advance(k, 1000)
    assert ticks[a] and ticks[b]
    assert not {t.trade_id for t in ticks[a]} & {t.trade_id for t in ticks[b]}

    fills: list[OrderFilled] = []
    from app.engine.core.instruments import default_instruments

    inst = default_instruments()[0]
    for _ in range(2):  # two backtests: each run's BarVenue names its trades apart from the other's
        clock = SimClock(0)
        venue = BarVenue(inst, fills.append, BacktestConfig(), clock)
        venue.submit(VenueOrder("c1", inst.symbol, Side.BUY, OrderType.MARKET, 1.0, None))
        venue.at_open(100.0, 10_000)
    trade_ids = [f.trade_id for f in fills if isinstance(f, OrderFilled)]
    assert len(trade_ids) == 2 and trade_ids[0] != trade_ids[1]
