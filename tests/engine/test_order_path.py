"""The one order path, end to end on the real kernel: SubmitOrder -> RiskEngine -> ExecutionEngine -> sim."""
import math

import pytest

from app.engine.core.messages import (
    OrderDenied,
    OrderFilled,
    OrderStatus,
    OrderType,
    Side,
    SubmitOrder,
    TradingState,
)
from app.engine.core.store import Store
from tests.kit.kernel import advance


def denials(kernel):
    got = []
    kernel.bus.subscribe(OrderDenied, got.append)
    return got


def mid(kernel, symbol="BTC/USDT"):
    return kernel.market.get(symbol).book.mid


def test_market_order_fills_and_moves_position_cash_and_fees(make_kernel):
    k = make_kernel()
    advance(k, 500)
    cash0 = k.portfolio.cash["USDT"]
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.05)
    advance(k, 100)
    o = k.execution.orders[cid]
    assert o.status is OrderStatus.FILLED and o.filled_qty == pytest.approx(0.05)
    pos = k.portfolio.position("BTC/USDT")
    assert pos.quantity == pytest.approx(0.05) and pos.avg_price == pytest.approx(o.avg_price)
    fee = o.avg_price * 0.05 * k.instruments["BTC/USDT"].taker_fee
    assert o.fees == pytest.approx(fee)
    assert k.portfolio.cash["USDT"] == pytest.approx(cash0 - o.avg_price * 0.05 - fee)
    stored = {r["client_order_id"]: r for r in k.store.orders()}[cid]
    assert stored["status"] == "FILLED" and stored["filled_qty"] == pytest.approx(0.05)


def test_order_is_journaled_before_the_venue_sees_it(make_kernel):
    k = make_kernel(latency_ms=20)
    advance(k, 500)
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)
    row = {r["client_order_id"]: r for r in k.store.orders()}[cid]
    assert row["status"] == "SUBMITTED"  # durable in SQLite...
    assert k.execution.orders[cid].venue_order_id is None  # ...while the venue has not answered yet
    other = Store(k.store.path)  # a second connection (another process would see the same)
    assert any(r["client_order_id"] == cid for r in other.orders())
    other.close()
    advance(k, 100)
    assert k.execution.orders[cid].status is OrderStatus.FILLED


def test_limit_order_rests_and_cancels(make_kernel):
    k = make_kernel()
    advance(k, 500)
    inst = k.instruments["BTC/USDT"]
    price = inst.round_price(mid(k) * 0.98)
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, price)
    advance(k, 100)
    assert k.execution.orders[cid].status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in k.sim.open_orders()] == [cid]
    from app.engine.core.messages import CancelOrder

    k.bus.publish(CancelOrder(cid))
    advance(k, 100)
    assert k.execution.orders[cid].status is OrderStatus.CANCELED
    assert k.sim.open_orders() == []


@pytest.mark.parametrize("qty,price,otype,code", [
    (0.0, None, OrderType.MARKET, "INVALID_QUANTITY"),
    (-1.0, None, OrderType.MARKET, "INVALID_QUANTITY"),
    (math.nan, None, OrderType.MARKET, "INVALID_QUANTITY"),
    (math.inf, None, OrderType.MARKET, "INVALID_QUANTITY"),
    (0.01, math.nan, OrderType.LIMIT, "INVALID_PRICE"),
    (0.01, -5.0, OrderType.LIMIT, "INVALID_PRICE"),
    (0.01, 0.0, OrderType.LIMIT, "INVALID_PRICE"),
    (0.01, None, OrderType.LIMIT, "INVALID_PRICE"),
    (0.01, "tick", OrderType.LIMIT, "PRICE_NOT_ON_TICK"),
    (0.00015, None, OrderType.MARKET, "QTY_NOT_ON_LOT"),
    (6.0, None, OrderType.MARKET, "MAX_ORDER_QTY"),
    (0.9, None, OrderType.MARKET, "MAX_NOTIONAL"),
    (0.01, "collar", OrderType.LIMIT, "PRICE_COLLAR"),
])
def test_bad_orders_are_denied_with_a_reason_and_never_sent(make_kernel, qty, price, otype, code):
    k = make_kernel()
    advance(k, 500)
    seen = denials(k)
    m = mid(k)
    if price == "tick":
        price = round(m, 1) + 0.05
    elif price == "collar":
        price = k.instruments["BTC/USDT"].round_price(m * 1.07)
    cid = k.submit("BTC/USDT", Side.BUY, otype, qty, price)
    advance(k, 100)
    assert [d.reason for d in seen] == [code]
    assert seen[0].client_order_id == cid and seen[0].message and seen[0].actor == "manual"
    assert k.execution.orders[cid].status is OrderStatus.DENIED
    assert k.sim.open_orders() == [] and k.portfolio.position("BTC/USDT").quantity == 0


def test_unknown_symbol_and_duplicate_id_are_denied(make_kernel):
    k = make_kernel()
    advance(k, 500)
    seen = denials(k)
    k.bus.publish(SubmitOrder("X1", "DOGE/USDT", "sim", Side.BUY, OrderType.MARKET, 1.0))
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)
    k.bus.publish(SubmitOrder(cid, "BTC/USDT", "sim", Side.BUY, OrderType.MARKET, 0.01))
    advance(k, 100)
    assert [d.reason for d in seen] == ["UNKNOWN_SYMBOL", "DUPLICATE_ORDER_ID"]
    assert k.portfolio.position("BTC/USDT").quantity == pytest.approx(0.01)  # the duplicate did not trade


def test_stale_quote_denies(make_kernel):
    k = make_kernel()
    advance(k, 500)
    k.clock.advance(6_000)  # no market data for 6 s (the venue is not stepped)
    seen = denials(k)
    k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, k.instruments["BTC/USDT"].round_price(mid(k)))
    assert [d.reason for d in seen] == ["STALE_QUOTE"]


def test_a_risk_rule_that_raises_denies_the_order(make_kernel):
    k = make_kernel()
    advance(k, 500)

    def broken(cmd, inst, ctx):
        raise ZeroDivisionError("bug in a rule")

    k.risk.checks.rules.append(broken)
    seen = denials(k)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)
    assert [d.reason for d in seen] == ["RISK_CHECK_ERROR"]
    assert k.sim.open_orders() == [] and k.portfolio.position("BTC/USDT").quantity == 0


def test_duplicate_fill_moves_the_position_once(make_kernel):
    k = make_kernel()
    advance(k, 500)
    fills = []
    k.bus.subscribe(OrderFilled, fills.append)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.02)
    advance(k, 100)
    assert fills
    qty = k.portfolio.position("BTC/USDT").quantity
    for f in fills:
        k.execution.on_report(f)  # the venue delivers the same trades again
    assert k.portfolio.position("BTC/USDT").quantity == qty
    assert len(list(k.store.fills())) == len(fills)


def test_kill_switch_persists_first_cancels_working_and_blocks_everything(make_kernel):
    k = make_kernel()
    advance(k, 500)
    inst = k.instruments["BTC/USDT"]
    resting = [k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, inst.round_price(mid(k) * (0.97 - i / 1000)))
               for i in range(5)]
    advance(k, 100)
    assert all(k.execution.orders[c].status is OrderStatus.ACCEPTED for c in resting)
    order_of_events = []
    k.bus.subscribe(object, lambda m: order_of_events.append(
        (type(m).__name__, k.store.load_risk_state().state)))
    k.risk.halt("test", actor="tester")
    # every event published by the halt already sees HALTED in the database
    assert order_of_events and all(state == "HALTED" for _, state in order_of_events)
    advance(k, 100)
    assert all(k.execution.orders[c].status is OrderStatus.CANCELED for c in resting)
    seen = denials(k)
    k.submit("BTC/USDT", Side.SELL, OrderType.MARKET, 0.01)
    k.bus.publish(SubmitOrder("strat-1", "BTC/USDT", "sim", Side.BUY, OrderType.MARKET, 0.01, actor="strategy:x"))
    assert [d.reason for d in seen] == ["TRADING_HALTED", "TRADING_HALTED"]


def test_kill_latch_survives_restart_until_a_person_resets(make_kernel, profile):
    k = make_kernel()
    advance(k, 500)
    k.risk.halt("test", actor="tester")
    k.close()
    k2 = make_kernel(profile)
    assert k2.risk.state is TradingState.HALTED
    advance(k2, 500)
    seen = denials(k2)
    k2.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)
    assert [d.reason for d in seen] == ["TRADING_HALTED"]
    with pytest.raises(ValueError):
        k2.risk.reset("   ")
    k2.risk.reset("checked the market", actor="manual")
    k2.close()
    k3 = make_kernel(profile)
    assert k3.risk.state is TradingState.ACTIVE


def test_halt_written_by_another_process_reaches_the_running_kernel(make_kernel):
    from app.engine.core.store import RiskStateRecord

    k = make_kernel()
    advance(k, 500)
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, k.instruments["BTC/USDT"].round_price(mid(k) * 0.97))
    advance(k, 100)
    outside = Store(k.store.path)
    outside.save_risk_state(RiskStateRecord("global", "HALTED", "risk desk", "cli", 0))
    outside.close()
    k._last_sync = 0.0
    advance(k, 100)
    assert k.risk.state is TradingState.HALTED
    assert k.execution.orders[cid].status is OrderStatus.CANCELED


def test_restart_rebuilds_positions_from_fills_and_reconciles_orders(make_kernel, profile):
    k = make_kernel()
    advance(k, 500)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.03)
    k.submit("ETH/USDT", Side.SELL, OrderType.MARKET, 0.5)
    resting = k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, k.instruments["BTC/USDT"].round_price(mid(k) * 0.97))
    advance(k, 100)
    before = {s: (p.quantity, p.avg_price, p.realized_pnl) for s, p in k.portfolio.positions.items()}
    cash = dict(k.portfolio.cash)
    k.close()
    k2 = make_kernel(profile)  # a new sim venue: it has never heard of the resting order
    after = {s: (p.quantity, p.avg_price, p.realized_pnl) for s, p in k2.portfolio.positions.items()}
    assert after == before
    assert k2.portfolio.cash == pytest.approx(cash)
    o = k2.execution.orders[resting]
    assert o.status is OrderStatus.CANCELED and "not open at the venue" in o.reason


def test_reducing_accepts_only_exposure_shrinking_orders(make_kernel):
    k = make_kernel()
    advance(k, 500)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.02)
    advance(k, 100)
    k.risk.state = TradingState.REDUCING
    seen = denials(k)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)  # adds
    k.submit("BTC/USDT", Side.SELL, OrderType.MARKET, 0.03)  # flips through zero
    k.submit("ETH/USDT", Side.SELL, OrderType.MARKET, 0.1)  # opens from flat
    ok = k.submit("BTC/USDT", Side.SELL, OrderType.MARKET, 0.01)  # reduces
    advance(k, 100)
    assert [d.reason for d in seen] == ["REDUCING_ONLY"] * 3
    assert k.execution.orders[ok].status is OrderStatus.FILLED
    assert k.portfolio.position("BTC/USDT").quantity == pytest.approx(0.01)


# ------------------------------------------------------------------------------------------ group commit
class Go:
    """A message a strategy reacts to by sending several orders (one dispatch)."""


def _burst(k, n, otype=OrderType.MARKET, actor="strategy:burst"):
    inst = k.instruments["BTC/USDT"]
    price = inst.round_price(mid(k) * 0.97) if otype is OrderType.LIMIT else None
    cmds = [SubmitOrder(f"b{i}", "BTC/USDT", "sim", Side.BUY if i % 2 == 0 else Side.SELL, otype,
                        round(0.001 + 0.0001 * i, 4), price, actor) for i in range(n)]
    unsub = k.bus.subscribe(Go, lambda _g: [k.bus.publish(c) for c in cmds])
    k.bus.publish(Go())
    unsub()
    return [c.client_order_id for c in cmds]


def test_a_burst_from_one_message_is_journaled_in_one_commit_before_any_order_is_sent(make_kernel):
    k = make_kernel()
    advance(k, 500)
    outside = Store(k.store.path)  # another connection: sees only what is committed
    commits, journal_commits, seen_at_send = [], [], {}
    real_commit, real_submit = k.store.commit, k.sim.submit

    def commit(fills=()):
        commits.append(len(fills))
        if k.store._new_orders:
            journal_commits.append(len(k.store._new_orders))
        return real_commit(fills)

    def submit(order):
        seen_at_send[order.client_order_id] = {r["client_order_id"] for r in outside.orders()}
        return real_submit(order)

    k.store.commit, k.sim.submit = commit, submit
    ids = _burst(k, 10)
    assert journal_commits == [10]  # one commit for the whole burst
    assert list(seen_at_send) == ids  # every order sent...
    assert all(set(ids) <= rows for rows in seen_at_send.values())  # ...after all ten rows were committed
    assert all(k.execution.orders[c].status is OrderStatus.FILLED for c in ids)
    assert len(commits) == 2  # the journal rows, then the fills (before any position moved)
    outside.close()


def test_a_fill_is_durable_before_the_position_moves(make_kernel):
    k = make_kernel()
    advance(k, 500)
    outside = Store(k.store.path)
    checked = []

    def on_fill(fill):  # runs when the position changes (Portfolio handles the same message first)
        durable = {r["trade_id"] for r in outside.fills()}
        checked.append((fill.trade_id in durable, k.portfolio.position("BTC/USDT").quantity))

    k.bus.subscribe(OrderFilled, on_fill)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.02)
    assert checked and all(durable for durable, _ in checked)
    assert checked[-1][1] == pytest.approx(0.02)
    outside.close()


def test_crash_after_a_fill_commit_but_before_the_order_row_restarts_consistent(make_kernel, profile, sim_clock):
    from app.config import Settings, SimSettings
    from app.engine.kernel import Kernel

    k = Kernel(profile, Settings(sim=SimSettings(latency_ms=0)), clock=sim_clock)  # not closed: it "crashes"
    k.start()
    advance(k, 500)
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.02)
    assert k.execution.orders[cid].status is OrderStatus.FILLED
    assert k.store.staged  # the FILLED row waits for the next commit...
    k.store.conn.close()  # ...and the process dies (kill -9: nothing staged is written)
    k.lock.release()
    k2 = make_kernel(profile)
    order = k2.execution.orders[cid]  # the journal said SUBMITTED; the committed fills say FILLED
    assert order.status is OrderStatus.FILLED and order.filled_qty == pytest.approx(0.02)
    assert cid not in k2.execution.working
    assert k2.portfolio.position("BTC/USDT").quantity == pytest.approx(0.02)  # the same fills


def test_a_journal_that_cannot_be_written_refuses_to_send(make_kernel):
    import sqlite3

    from app.engine.core.messages import Alert, OrderRejected

    k = make_kernel()
    advance(k, 500)
    sent, alerts, rejects = [], [], []
    real_submit, real_commit = k.sim.submit, k.store.commit
    k.sim.submit = lambda o: (sent.append(o.client_order_id), real_submit(o))
    k.bus.subscribe(Alert, alerts.append)
    k.bus.subscribe(OrderRejected, rejects.append)

    def full_disk(fills=()):
        raise sqlite3.OperationalError("database or disk is full")

    k.store.commit = full_disk
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)
    o = k.execution.orders[cid]
    assert sent == [] and o.status is OrderStatus.REJECTED and "journal could not be written" in o.reason
    assert [r.client_order_id for r in rejects] == [cid] and alerts[-1].title == "Order journal unavailable"
    assert cid not in k.execution.working
    k.store.commit = real_commit  # the disk recovers: the refusal itself is journaled
    k.risk.tick()
    assert {r["client_order_id"]: r["status"] for r in k.store.orders()}[cid] == "REJECTED"
