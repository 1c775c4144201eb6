"""The kernel's audit recorder: what reaches the trail, in what order, and when."""
from app.engine.audit.verify import verify
from app.engine.core.messages import OrderType, Side
from tests.kit.kernel import advance


def kinds(k):
    return [r[0] for r in k.store.conn.execute("SELECT kind FROM audit ORDER BY seq")]


def test_orders_decisions_and_fills_are_recorded_in_causal_order(make_kernel):
    k = make_kernel()
    advance(k, 300)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, -1.0)
    advance(k, 100)
    got = kinds(k)
    i = got.index("SubmitOrder")
    assert got[i:i + 2] == ["SubmitOrder", "OrderSubmitted"]
    assert got.index("OrderSubmitted") < got.index("OrderFilled")
    assert "OrderDenied" in got
    denied = k.store.conn.execute("SELECT payload FROM audit WHERE kind='OrderDenied'").fetchone()[0]
    assert "INVALID_QUANTITY" in denied
    assert verify(k.store.path).ok


def test_a_kill_is_on_the_trail_at_once_not_at_the_next_step(make_kernel):
    k = make_kernel()
    advance(k, 300)
    k.risk.halt("test", actor="manual")  # no step afterwards
    rows = k.store.conn.execute("SELECT kind, actor FROM audit WHERE kind='TradingStateChanged'").fetchall()
    assert rows == [("TradingStateChanged", "manual")]
    k.risk.update_limits({"max_notional_manual": 10.0}, actor="manual", reason="test")
    assert "RiskLimitsChanged" in kinds(k)


def test_a_batch_chains_onto_records_another_process_appended_meanwhile(make_kernel):
    import sqlite3

    from app.engine.audit.log import AuditLog
    from app.engine.core.clock import SimClock

    k = make_kernel()
    advance(k, 300)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)  # buffered for the step's batch
    cli = AuditLog(sqlite3.connect(k.store.path, isolation_level=None), SimClock())
    cli.append("Command", "cli", {"command": "risk status"})  # `kestrel risk ...` from another terminal
    assert k.audit_recorder.flush() >= 3 and k.audit_recorder.failures == 0  # head was stale: re-chained
    got = kinds(k)
    assert got.index("Command") < got.index("SubmitOrder")
    assert verify(k.store.path).ok
