"""K1-K5, flatten, restart and outside halts, with fault injection in the sim venue."""
from __future__ import annotations

import time

import pytest

from app.config import Settings, SimSettings
from app.engine.core.clock import SimClock
from app.engine.core.messages import (
    Alert,
    OrderStatus,
    OrderType,
    OrderUpdated,
    Side,
    SubmitOrder,
    TradeTick,
    TradingState,
    TradingStateChanged,
)
from app.engine.core.store import RiskStateRecord, Store
from app.engine.kernel import Kernel
from tests.kit.kernel import advance, kernel_with, mid, send


def rest_orders(k, n, actor="manual"):
    inst = k.instruments["BTC/USDT"]
    ids = [send_id(k, 0.001 + i * 0.0001, inst.round_price(mid(k) * 0.97), actor) for i in range(n)]
    advance(k, 100)
    assert all(k.execution.orders[c].status is OrderStatus.ACCEPTED for c in ids)
    return ids


def send_id(k, qty, price, actor="manual"):
    cid = f"r{len(k.execution.orders)}"
    k.bus.publish(SubmitOrder(cid, "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, qty, price, actor))
    return cid


def test_k1_with_100_working_orders_and_a_cpu_hog(make_kernel):
    k = kernel_with(make_kernel)
    ids = rest_orders(k, 100)
    cancel_times, events = [], []
    real_cancel = k.sim.cancel
    k.sim.cancel = lambda cid: (cancel_times.append(time.perf_counter()), real_cancel(cid))

    def hog(msg):  # a plugin burning 5 ms on every message it sees
        t = time.perf_counter()
        while time.perf_counter() - t < 0.005:
            pass

    def eager_strategy(msg):  # a plugin that keeps trying to trade on every update of the manual orders
        if k.execution.orders[msg.client_order_id].actor != "manual":
            return
        events.append((time.perf_counter(), k.store.load_risk_state().state))
        k.bus.publish(SubmitOrder(f"s{len(events)}", "BTC/USDT", "sim", Side.BUY, OrderType.MARKET, 0.001,
                                  None, "strategy:eager"))

    k.bus.subscribe(TradeTick, hog)
    k.bus.subscribe(TradingStateChanged, hog)
    k.bus.subscribe(OrderUpdated, hog)
    k.bus.subscribe(OrderUpdated, eager_strategy)
    t0 = time.perf_counter()
    k.risk.halt("test", actor="manual")
    assert len(cancel_times) == 100 and max(cancel_times) - t0 < 1.0
    assert all(k.execution.orders[c].status is OrderStatus.CANCELED for c in ids)
    eager = [o for o in k.execution.orders.values() if o.actor == "strategy:eager"]
    assert eager and all(o.status is OrderStatus.DENIED for o in eager)  # nothing accepted after HALTED
    assert all(state == "HALTED" for _, state in events)


def test_venue_rejecting_cancels_is_retried_alarmed_and_stays_halted(make_kernel):
    k = kernel_with(make_kernel)
    (cid,) = rest_orders(k, 1)
    alerts = []
    k.bus.subscribe(Alert, alerts.append)
    k.sim.reject_next_cancel(10_000)
    k.risk.halt("test")
    for _ in range(24):  # 6 s
        advance(k, 250)
        k.risk.tick()
    assert k.execution.orders[cid].status.is_working
    assert any(a.title == "Cancel failed" and cid in a.message for a in alerts)
    assert k.risk.state is TradingState.HALTED
    k.sim.reject_next_cancel(0)
    advance(k, 600)
    k.risk.tick()
    advance(k, 100)
    assert k.execution.orders[cid].status is OrderStatus.CANCELED


def test_disconnect_during_kill_is_reconciled_and_canceled_after_reconnect(make_kernel):
    k = kernel_with(make_kernel)
    ids = rest_orders(k, 3)
    k.sim.set_connected(False)
    assert k.risk.venue_states["sim"][0] is TradingState.REDUCING  # K5
    k.risk.halt("test")
    advance(k, 200)
    assert all(k.execution.orders[c].status.is_working for c in ids)
    k.sim.set_connected(True)
    advance(k, 200)
    assert all(k.execution.orders[c].status is OrderStatus.CANCELED for c in ids)
    assert k.risk.venue_states["sim"][0] is TradingState.ACTIVE and k.risk.state is TradingState.HALTED


def test_crash_between_journal_and_send_is_never_resent(profile):
    clock = SimClock(1_750_000_000_000)
    settings = Settings(sim=SimSettings(latency_ms=0))
    k = Kernel(profile, settings, clock=clock)
    k.start()
    advance(k, 500)

    class Crash(BaseException):
        pass

    def crash(order):
        raise Crash  # the process dies after the journal write, before the venue hears of it

    k.sim.submit = crash
    with pytest.raises(Crash):
        k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)
    (cid,) = k.execution.orders
    k.store.close()
    k.lock.release()  # the dead process's lock goes with it
    k2 = Kernel(profile, settings, clock=clock)  # restart; the venue is unreachable at first
    sent = []
    real = k2.sim.submit
    k2.sim.submit = lambda o: (sent.append(o.client_order_id), real(o))
    k2.sim.set_connected(False)
    k2.start()
    order = k2.execution.orders[cid]
    assert order.status is OrderStatus.UNKNOWN and cid in k2.execution.working  # counts until resolved
    assert not k2.risk.reduces(SubmitOrder("x", "BTC/USDT", "sim", Side.BUY, OrderType.MARKET, 0.005))
    k2.sim.set_connected(True)
    advance(k2, 200)
    assert order.status is OrderStatus.CANCELED and cid not in sent and k2.sim.open_orders() == []
    assert k2.portfolio.position("BTC/USDT").quantity == 0
    k2.close()


def test_wall_clock_jump_does_not_open_the_throttle(make_kernel, sim_clock):
    k = kernel_with(make_kernel, max_msgs_per_s_strategy=5, quote_max_age_s=10_000, max_throttle_trips_per_10s=99)
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    r = [send(k, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far, "strategy:a") for i in range(6)]
    assert r[-1] == "THROTTLE"
    frozen = sim_clock.monotonic_ns()
    sim_clock.monotonic_ns = lambda: frozen  # the monotonic clock does not move...
    sim_clock.advance(3_600_000)  # the wall clock jumps an hour (NTP, DST, a user)
    assert send(k, 0.01, Side.BUY, OrderType.LIMIT, far, "strategy:a") == "THROTTLE"


def test_k2_per_strategy_kill_leaves_others_trading(make_kernel):
    k = kernel_with(make_kernel)
    mine = rest_orders(k, 2, actor="strategy:a")
    other = rest_orders(k, 1, actor="strategy:b")
    k.risk.halt_strategy("a", "misbehaving")
    advance(k, 100)
    assert all(k.execution.orders[c].status is OrderStatus.CANCELED for c in mine)
    assert k.execution.orders[other[0]].status is OrderStatus.ACCEPTED
    assert send(k, 0.001, actor="strategy:a") == "STRATEGY_HALTED"
    assert send(k, 0.001, actor="strategy:b") is None
    assert k.store.load_risk_state("strategy:a").state == "HALTED"


def test_k3_daily_loss_halts_strategy_then_global(make_kernel):
    k = kernel_with(make_kernel, daily_loss_strategy_pct=0.0001, daily_loss_halt_pct=0.0002)
    for _ in range(3):  # round trips: fees and the spread make a loss
        send(k, 0.2, Side.BUY, actor="strategy:loser")
        advance(k, 60)
        send(k, 0.2, Side.SELL, actor="strategy:loser")
        advance(k, 60)
        k.risk.tick()
    assert k.risk.strategy_states["loser"][0] is TradingState.HALTED
    while k.risk.state is not TradingState.HALTED and len(k.execution.orders) < 60:
        send(k, 0.2, Side.BUY)
        advance(k, 60)
        send(k, 0.2, Side.SELL)
        advance(k, 60)
        k.risk.tick()
    assert k.risk.state is TradingState.HALTED and "daily loss" in k.risk.state_reason


def test_k4_reject_storm_and_throttle_trips_kill_the_strategy(make_kernel):
    k = kernel_with(make_kernel, max_rejects_per_min_strategy=20)
    for i in range(20):
        send(k, -1.0, actor="strategy:spammer")
    assert "spammer" not in k.risk.strategy_states  # 20 rejects a minute: at the limit
    send(k, -1.0, actor="strategy:spammer")
    assert k.risk.strategy_states["spammer"][0] is TradingState.HALTED
    k.close()
    k2 = kernel_with(make_kernel, max_msgs_per_s_strategy=1, max_throttle_trips_per_10s=3)
    far = k2.instruments["BTC/USDT"].round_price(mid(k2) * 0.97)
    for i in range(3):  # 1 accepted, 2 throttle trips
        send(k2, 0.001 + i * 0.0001, Side.BUY, OrderType.LIMIT, far, "strategy:fast")
    assert "fast" not in k2.risk.strategy_states
    send(k2, 0.0015, Side.BUY, OrderType.LIMIT, far, "strategy:fast")  # the third trip
    assert k2.risk.strategy_states["fast"][0] is TradingState.HALTED


def test_k5_stale_data_puts_the_venue_in_reducing_until_fresh(make_kernel):
    k = kernel_with(make_kernel)
    send(k, 0.01)
    advance(k, 100)
    k.clock.advance(5_100)  # no data for 5.1 s
    k.risk.tick()
    assert k.risk.venue_states["sim"][0] is TradingState.REDUCING
    k.clock.advance(1)
    k.sim.advance_to(k.clock.now_ms())  # data flows again
    k.risk.tick()
    assert k.risk.venue_states["sim"][0] is TradingState.ACTIVE


def test_flatten_needs_confirmation_and_works_while_halted(make_kernel):
    k = kernel_with(make_kernel)
    send(k, 0.05)
    send(k, 0.5, Side.SELL, symbol="ETH/USDT")
    advance(k, 100)
    k.risk.halt("end of day")
    with pytest.raises(PermissionError):
        k.risk.flatten()
    assert send(k, 0.01, Side.SELL) == "TRADING_HALTED"  # a normal order is still refused
    k.risk.flatten(confirmed=True)
    advance(k, 200)
    assert k.portfolio.position("BTC/USDT").quantity == pytest.approx(0)
    assert k.portfolio.position("ETH/USDT").quantity == pytest.approx(0)
    assert k.risk.state is TradingState.HALTED


def test_reset_is_a_persons_action_with_a_reason(make_kernel):
    k = kernel_with(make_kernel)
    k.risk.halt("x")
    with pytest.raises(PermissionError):
        k.risk.reset("I am a strategy", actor="strategy:a")
    with pytest.raises(ValueError):
        k.risk.reset("", actor="manual")
    k.risk.reset("checked", actor="manual")
    assert k.risk.state is TradingState.ACTIVE


def test_reset_from_outside_reaches_the_running_kernel(make_kernel):
    k = kernel_with(make_kernel)
    k.risk.halt("x")
    other = Store(k.store.path)
    other.save_risk_state(RiskStateRecord("global", "ACTIVE", "desk ok", "cli", 1))
    other.close()
    k.risk.tick()
    assert k.risk.state is TradingState.ACTIVE and k.risk.state_reason == "desk ok"


def test_corrupt_risk_record_starts_halted(make_kernel, profile):
    k = kernel_with(make_kernel)
    k.store.conn.execute("UPDATE risk_state SET state='??' WHERE scope='global'")
    k.close()
    k2 = make_kernel(profile)
    assert k2.risk.state is TradingState.HALTED and "corrupt" in k2.risk.state_reason


class Go:
    """One message a strategy reacts to with several orders."""


def test_orders_still_waiting_for_their_journal_commit_are_never_sent_after_a_kill(make_kernel):
    k = kernel_with(make_kernel)
    sent = []
    real = k.sim.submit
    k.sim.submit = lambda o: (sent.append(o.client_order_id), real(o))
    far = k.instruments["BTC/USDT"].round_price(mid(k) * 0.97)
    cmds = [SubmitOrder(f"q{i}", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, 0.001 + i * 0.0001, far,
                        "strategy:eager") for i in range(5)]
    k.bus.subscribe(Go, lambda _g: [k.bus.publish(c) for c in cmds])  # approved, waiting in the burst
    k.bus.subscribe(Go, lambda _g: k.risk.halt("desk call", actor="manual"))  # the kill lands meanwhile
    k.bus.publish(Go())
    assert sent == []
    for c in cmds:
        o = k.execution.orders[c.client_order_id]
        assert o.status is OrderStatus.CANCELED and o.reason == "canceled before it was sent"
    rows = {r["client_order_id"]: r["status"] for r in k.store.orders()}
    assert all(rows[c.client_order_id] == "CANCELED" for c in cmds)
    assert k.execution.working == {} and k.risk.state is TradingState.HALTED


@pytest.mark.parametrize("scope", ["global", "strategy:mm"])
def test_a_halt_from_outside_is_one_transition_one_alert_and_a_few_audit_rows(make_kernel, scope):
    """``kestrel risk halt`` re-fired itself on every poll (~4 per second) until restart: one CRITICAL line,
    one alert, two audit rows and a synchronous=FULL write each time, because the terminal re-persisted the
    record as its own and then saw it as yet another outside change."""
    k = kernel_with(make_kernel)
    changes, alerts = [], []
    k.bus.subscribe(TradingStateChanged, changes.append)
    k.bus.subscribe(Alert, alerts.append)
    audit0 = k.store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    other = Store(k.store.path)
    other.save_risk_state(RiskStateRecord(scope, "HALTED", "risk desk", "cli", 123))
    for _ in range(32):  # 8 s of the terminal's 0.25 s polls
        advance(k, 50)
        k.risk.tick()
        k.audit_recorder.flush()
    halted = [c for c in changes if c.state is TradingState.HALTED and c.scope == scope]
    assert len(halted) == 1 and halted[0].actor == "cli" and halted[0].reason == "risk desk"
    assert len([a for a in alerts if "HALTED" in a.title]) == 1
    assert k.store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] - audit0 <= 4
    rec = {r.scope: r for r in k.store.risk_states()}[scope]
    assert (rec.state, rec.actor, rec.reason, rec.ts) == ("HALTED", "cli", "risk desk", 123)  # not rewritten
    # a second outside halt while HALTED: adopted (its reason shown), no second transition or alert
    other.save_risk_state(RiskStateRecord(scope, "HALTED", "still halted: venue down", "cli", 124))
    other.close()
    k.risk.tick()
    k.risk.tick()
    assert len([c for c in changes if c.state is TradingState.HALTED]) == 1
    assert len([a for a in alerts if "HALTED" in a.title]) == 1
    reason = k.risk.state_reason if scope == "global" else k.risk.strategy_states["mm"][1]
    assert reason == "still halted: venue down"


def test_stored_limits_an_older_kestrel_accepted_are_replaced_and_said(make_kernel, profile):
    """An older Kestrel stored inf/nan limits; the engine must still start (with the default for those
    limits and a critical alarm), and ``kestrel risk set`` must be able to repair them."""
    import json

    k = make_kernel()
    limits = k.risk.limits.model_dump(mode="json")
    k.store.conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('risk.limits', ?)",
                         (json.dumps({**limits, "max_drawdown_pct": float("inf"), "max_notional_manual": 1234.0}),))
    k.close()
    k2 = make_kernel(profile)
    assert k2.risk.limits.max_drawdown_pct == Settings().risk.max_drawdown_pct  # the default, not inf
    assert k2.risk.limits.max_notional_manual == 1234.0  # the valid ones a person set are kept
    assert any("max_drawdown_pct" in a.message and a.level == "critical" for a in k2.risk.alarms)
    k2.risk.update_limits({"max_drawdown_pct": 15.0}, "manual", "repair")
    k2.risk.tick()
    assert k2.risk.limits.max_drawdown_pct == 15.0
