import pytest

from app.engine.core.ids import ClientOrderIdFactory
from app.engine.core.messages import OrderStatus as S
from app.engine.core.messages import OrderType, Side
from app.engine.oms.orders import InvalidTransition, Order
from app.engine.oms.portfolio import Position


def order(qty=2.0):
    return Order("c1", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, qty, 100.0, "manual")


def test_order_lifecycle_with_partial_fills():
    o = order()
    o.transition(S.SUBMITTED)
    o.transition(S.ACCEPTED)
    o.apply_fill(100.0, 0.5, 0.01)
    assert o.status is S.PARTIALLY_FILLED and o.leaves_qty == 1.5
    o.apply_fill(101.0, 1.5, 0.01)
    assert o.status is S.FILLED
    assert o.avg_price == pytest.approx((100 * 0.5 + 101 * 1.5) / 2)


@pytest.mark.parametrize("terminal", [S.FILLED, S.CANCELED, S.REJECTED, S.DENIED])
def test_terminal_states_cannot_be_left(terminal):
    o = order()
    o.status = terminal
    for target in S:
        with pytest.raises(InvalidTransition):
            o.transition(target)


def test_cancel_rejected_returns_to_previous_state_and_fill_during_cancel():
    o = order()
    o.transition(S.SUBMITTED)
    o.transition(S.ACCEPTED)
    o.transition(S.PENDING_CANCEL)
    assert o.status_before_cancel is S.ACCEPTED
    o.apply_fill(100.0, 1.0, 0.0)
    assert o.status is S.PENDING_CANCEL  # still canceling the rest
    o.transition(S.CANCELED)
    assert o.status.is_terminal and o.filled_qty == 1.0


def test_unknown_order_cannot_be_resent_but_can_be_reconciled():
    o = order()
    o.transition(S.SUBMITTED)
    o.transition(S.UNKNOWN)
    assert o.is_working  # counts toward exposure until resolved
    with pytest.raises(InvalidTransition):
        o.transition(S.SUBMITTED)
    o.transition(S.FILLED)


def test_client_order_ids_are_unique_across_factories():
    a, b = ClientOrderIdFactory("s1"), ClientOrderIdFactory("s2")
    ids = {a() for _ in range(100)} | {b() for _ in range(100)}
    assert len(ids) == 200


def test_position_average_cost_realized_and_flip():
    p = Position("X")
    p.apply(Side.BUY, 100.0, 2.0)
    p.apply(Side.BUY, 110.0, 2.0)
    assert p.quantity == 4.0 and p.avg_price == 105.0
    p.apply(Side.SELL, 120.0, 1.0)
    assert p.realized_pnl == pytest.approx(15.0) and p.avg_price == 105.0
    p.apply(Side.SELL, 90.0, 5.0)  # close 3 at a loss, open 2 short at 90
    assert p.realized_pnl == pytest.approx(15.0 - 45.0)
    assert p.quantity == -2.0 and p.avg_price == 90.0
    p.mark = 80.0
    assert p.unrealized_pnl == pytest.approx(20.0)
    p.apply(Side.BUY, 85.0, 2.0)
    assert p.quantity == 0.0 and p.realized_pnl == pytest.approx(-30.0 + 10.0)


def test_a_paper_venue_account_is_its_starting_balances_plus_its_own_fills_and_survives_a_restart(make_kernel,
                                                                                                    profile):
    """The cash pool moves with every fill; a paper venue's account only with its own, and it is rebuilt from
    the journal's fills after a restart."""
    from app.engine.core.instruments import Instrument
    from app.engine.core.messages import OrderFilled
    from app.engine.oms.execution import _fill_row
    from app.engine.oms.portfolio import Portfolio

    paper = Instrument("BTC/USDT", "binance-paper", "BTC", "USDT", 0.01, 0.00001, 0.00001, 9000.0,
                       market="binance")
    k = make_kernel()
    k.instruments.add(paper)
    pf = k.portfolio
    pool = pf.cash["USDT"]
    pf.open_paper_account("binance-paper", {"USDT": 10_000.0})
    pv, sim = paper.venue, "BTC/USDT@sim"
    fills = [OrderFilled("p1", "v1", "t1", paper.id, pv, Side.BUY, 60_000.0, 0.1, 6.0, "USDT", "MAKER"),
             OrderFilled("s1", "v2", "t2", sim, "sim", Side.BUY, 65_000.0, 0.01, 0.3, "USDT", "TAKER"),
             OrderFilled("p2", "v3", "t3", paper.id, pv, Side.SELL, 61_000.0, 0.04, 2.44, "USDT", "TAKER")]
    k.store.commit([_fill_row(f) for f in fills])
    for f in fills:
        k.bus.publish(f)
    want = {"USDT": pytest.approx(10_000.0 - 6_000.0 - 6.0 + 2_440.0 - 2.44), "BTC": pytest.approx(0.06)}
    assert pf.paper_balances() == {"binance-paper": want}
    assert pf.cash["USDT"] == pytest.approx(pool - 6_006.0 - 650.3 + 2_437.56)  # one pool: every venue's

    again = Portfolio(k.bus, k.store, k.instruments, {"USDT": 0.0}, {}, "USDT")  # a restart: from the journal
    assert again.paper_balances() == {}  # not a paper venue until one says so
    again.open_paper_account("binance-paper", {"USDT": 10_000.0})
    assert again.paper_balances() == {"binance-paper": want}
