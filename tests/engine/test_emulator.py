"""Stops kept by Kestrel (issue 20, item 3): the real kernel, its SQLite journal and the sim venue, with the stop
asked for as emulated (the sim keeps plain stops itself, so ``emulation=EMULATED`` is how a test gets the engine's
path on the default venue; trailing stops and bid/ask triggers are emulated on it anyway).

An emulated stop is journaled ARMED before its trigger can fire, never reaches the venue before it fires, fires on
the first print through its trigger as the order it becomes (one id from arming to the venue), passes the gate again
when it fires (HALTED refuses it with a critical alarm; REDUCING lets a protective one through), is disarmed by a
cancel, the kill switch and a flatten, and is armed again after a restart from the journal."""
from __future__ import annotations

import sqlite3

import pytest

from app.config import RiskSettings
from app.engine.core.messages import (
    Alert, ClosePosition, CommandRefused, Emulation, Halt, ModifyOrder, OrderDenied, OrderStatus, OrderType, Reset,
    Side, SubmitOrder, TradeTick, TriggerSource,
)
from tests.kit.kernel import LOOSE_LIMITS, advance, kernel_with, last, push_price

S = OrderStatus
BTC = "BTC/USDT@sim"
EMU = Emulation.EMULATED


def submit(k, side, otype, qty, trigger=None, price=None, **kw) -> str:
    cid = f"emu-{len(k.execution.orders) + 1}"
    kw.setdefault("emulation", EMU)
    k.bus.publish(SubmitOrder(cid, BTC, "sim", side, otype, qty, price, "manual", trigger_price=trigger, **kw))
    advance(k, 20)
    return cid


def journal_status(k, cid) -> str:
    k.execution.commit_states()
    con = sqlite3.connect(k.profile / "kestrel.db")
    try:
        return con.execute("SELECT status FROM orders WHERE client_order_id=?", (cid,)).fetchone()[0]
    finally:
        con.close()


def long_with_stop(k, qty=0.05, ticks=3, **kw):
    """A long position and an emulated sell stop ``ticks`` below the touch."""
    k.bus.publish(SubmitOrder("entry", BTC, "sim", Side.BUY, OrderType.MARKET, qty, None, "manual"))
    advance(k, 20)
    inst = k.instruments[BTC]
    trigger = inst.round_price(min(last(k), k.market.get(BTC).book.best_bid) - ticks * inst.tick_size)
    return submit(k, Side.SELL, OrderType.STOP, qty, trigger, **kw), trigger


def test_an_emulated_stop_is_journaled_armed_stays_off_the_venue_and_fires_once_as_a_market_order(make_kernel):
    k = kernel_with(make_kernel)
    sent = []
    submit_to_sim = k.sim.submit
    k.sim.submit = lambda o: (sent.append(o), submit_to_sim(o))[1]
    cid, trigger = long_with_stop(k)
    stop = k.execution.orders[cid]
    assert stop.status is S.ARMED and stop.emulated
    assert journal_status(k, cid) == "ARMED"
    assert cid not in [o.client_order_id for o in k.sim.open_orders()]  # the venue knows nothing of it
    assert not [o for o in sent if o.client_order_id == cid]
    push_price(k, Side.SELL, lambda p: p <= trigger)
    advance(k, 50)
    assert stop.status is S.FILLED, stop.reason
    to_venue = [o for o in sent if o.client_order_id == cid]
    assert len(to_venue) == 1 and to_venue[0].order_type is OrderType.MARKET  # the same id, once
    assert stop.triggered_ts is not None and stop.trigger_print <= trigger
    assert stop.reason.startswith("fired at") or stop.status is S.FILLED
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)
    assert journal_status(k, cid) == "FILLED"


def test_a_stop_firing_while_halted_is_refused_with_a_critical_alarm_and_nothing_is_sent(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k)
    alerts, denials = [], []
    k.bus.subscribe(Alert, alerts.append)
    k.bus.subscribe(OrderDenied, denials.append)
    # HALTED without the kill's disarm: a trigger armed by a race, or restored from a journal after a crash
    k.risk.state, k.risk.state_reason = k.risk.state.HALTED, "test"
    push_price(k, Side.SELL, lambda p: p <= trigger)
    stop = k.execution.orders[cid]
    assert stop.status is S.DENIED and "TRADING_HALTED" in stop.reason
    assert [d.reason for d in denials if d.client_order_id == cid] == ["TRADING_HALTED"]
    crit = [a for a in alerts if a.level == "critical" and cid in a.title]
    assert crit and "not protected" in crit[0].message
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.05)  # nothing sold


def test_in_reducing_a_protective_stop_fires_and_an_entry_stop_is_refused(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k)
    inst = k.instruments[BTC]
    entry = submit(k, Side.SELL, OrderType.STOP, 0.5, inst.round_price(trigger - 2 * inst.tick_size))
    k.risk.state = k.risk.state.REDUCING
    push_price(k, Side.SELL, lambda p: p <= trigger - 2 * inst.tick_size)
    advance(k, 50)
    assert k.execution.orders[cid].status is S.FILLED  # it reduces the long: allowed
    assert k.execution.orders[entry].status is S.DENIED and "REDUCING_ONLY" in k.execution.orders[entry].reason


def test_cancel_kill_and_flatten_disarm_emulated_stops_and_a_print_through_them_sends_nothing(make_kernel):
    k = kernel_with(make_kernel)
    a, trigger = long_with_stop(k)
    inst = k.instruments[BTC]
    b = submit(k, Side.SELL, OrderType.STOP, 0.01, inst.round_price(trigger - inst.tick_size))
    k.bus.publish(Halt("test kill"))
    advance(k, 20)
    for cid in (a, b):
        assert k.execution.orders[cid].status is S.CANCELED
        assert journal_status(k, cid) == "CANCELED"
    assert not k.execution.armed
    k.bus.publish(Reset("after the test kill", "manual"))
    c = submit(k, Side.SELL, OrderType.STOP, 0.05, inst.round_price(trigger - inst.tick_size))
    assert k.execution.orders[c].status is S.ARMED
    k.bus.publish(ClosePosition(BTC))  # the flatten of one position: its stop goes first
    advance(k, 50)
    assert k.execution.orders[c].status is S.CANCELED
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)
    before = len(k.execution.orders)
    push_price(k, Side.SELL, lambda p: p <= trigger - 3 * inst.tick_size)
    assert len(k.execution.orders) == before and all(
        o.status is not S.SUBMITTED for o in k.execution.orders.values())


def test_a_reduce_only_stop_fires_for_no_more_than_the_position_left(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k, qty=0.05, reduce_only=True)
    k.bus.publish(SubmitOrder("part", BTC, "sim", Side.SELL, OrderType.MARKET, 0.02, None, "manual"))
    advance(k, 20)
    push_price(k, Side.SELL, lambda p: p <= trigger)
    advance(k, 50)
    stop = k.execution.orders[cid]
    assert stop.status is S.FILLED and stop.filled_qty == pytest.approx(0.03)
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)  # not short


def test_armed_stops_survive_a_restart_and_fire_after_it(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k, ticks=40)
    profile = k.profile
    k.close()
    k2 = make_kernel(profile, risk=RiskSettings(**LOOSE_LIMITS))
    advance(k2, 200)
    stop = k2.execution.orders[cid]
    assert stop.status is S.ARMED and cid in k2.execution.armed
    push_price(k2, Side.SELL, lambda p: p <= trigger)
    advance(k2, 50)
    assert stop.status is S.FILLED


def test_armed_stops_are_disarmed_not_armed_when_the_terminal_starts_halted(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k)
    k.risk.latch.write("global", k.risk.state.HALTED, "halted from the CLI", "manual")  # as ``kestrel risk halt``
    profile = k.profile
    k.close()
    k2 = make_kernel(profile, risk=RiskSettings(**LOOSE_LIMITS))
    stop = k2.execution.orders[cid]
    assert stop.status is S.CANCELED and "HALTED" in stop.reason
    assert not k2.execution.armed and journal_status(k2, cid) == "CANCELED"


def test_a_trailing_stop_follows_the_high_and_fires_its_distance_below_it(make_kernel):
    k = kernel_with(make_kernel)
    k.bus.publish(SubmitOrder("entry", BTC, "sim", Side.BUY, OrderType.MARKET, 0.05, None, "manual"))
    advance(k, 20)
    inst = k.instruments[BTC]
    d = 60 * inst.tick_size
    cid = submit(k, Side.SELL, OrderType.TRAILING_STOP, 0.05, trail_amount=d, emulation=Emulation.AUTO)
    stop = k.execution.orders[cid]
    assert stop.status is S.ARMED and stop.emulated  # the sim keeps no trailing stops: Kestrel does
    prints = [last(k)]
    k.bus.subscribe(TradeTick, lambda t: prints.append(t.price) if t.symbol == BTC else None)
    start = last(k)
    push_price(k, Side.BUY, lambda p: p >= start + 30 * inst.tick_size)
    assert stop.status is S.ARMED, stop.reason
    high = k.emulator._where[cid].water_mark(cid)
    assert high >= start + 30 * inst.tick_size - 1e-9
    assert k.emulator.trigger_of(stop) == pytest.approx(high - d)
    k.emulator.persist_trails()
    k.execution.commit_states()
    assert stop.trail_ref == high  # journaled: a restart resumes from it
    push_price(k, Side.SELL, lambda p: p <= high - d)
    advance(k, 50)
    assert stop.status is S.FILLED
    # it fired on the first print at or below (the highest print since it was armed) - d, not before
    fired = next(i for i, p in enumerate(prints) if p <= max(prints[:i + 1]) - d + 1e-9)
    assert stop.trigger_print == prints[fired]
    assert f"trigger {max(prints[:fired + 1]) - d:g}" in stop.reason


def test_bid_ask_triggers_fire_on_the_book_not_on_trades(make_kernel):
    k = kernel_with(make_kernel)
    k.bus.publish(SubmitOrder("entry", BTC, "sim", Side.BUY, OrderType.MARKET, 0.05, None, "manual"))
    advance(k, 20)
    inst = k.instruments[BTC]
    bid = k.market.get(BTC).book.best_bid
    trigger = inst.round_price(bid - 2 * inst.tick_size)
    cid = submit(k, Side.SELL, OrderType.STOP, 0.05, trigger, trigger_source=TriggerSource.BID_ASK,
                 emulation=Emulation.AUTO)
    stop = k.execution.orders[cid]
    assert stop.status is S.ARMED and stop.emulated  # the sim's own stops watch trades only
    for _ in range(300):
        if stop.status is not S.ARMED:
            break
        k.sim.external_order(BTC, Side.SELL, 2.0)
        advance(k, 20)
    assert stop.trigger_print <= trigger


@pytest.mark.parametrize("kw, code", [
    (dict(trail_amount=0.0), "INVALID_TRAIL"),
    (dict(trail_amount=-5.0), "INVALID_TRAIL"),
    (dict(trail_pct=0.0), "INVALID_TRAIL"),
    (dict(trail_pct=150.0), "INVALID_TRAIL"),
    (dict(trail_amount=5.0, trail_pct=1.0), "INVALID_TRAIL"),
    (dict(), "INVALID_TRAIL"),
])
def test_bad_trailing_distances_are_refused_and_nothing_is_armed(make_kernel, kw, code):
    k = kernel_with(make_kernel)
    seen = []
    k.bus.subscribe(OrderDenied, seen.append)
    cid = submit(k, Side.SELL, OrderType.TRAILING_STOP, 0.01, **kw)
    assert [d.reason for d in seen] == [code]
    assert k.execution.orders[cid].status is S.DENIED and not k.execution.armed


def test_a_marketable_emulated_stop_is_refused_unless_confirmed(make_kernel):
    k = kernel_with(make_kernel)
    seen = []
    k.bus.subscribe(OrderDenied, seen.append)
    inst = k.instruments[BTC]
    above = inst.round_price(last(k) + 5 * inst.tick_size)
    submit(k, Side.SELL, OrderType.STOP, 0.01, above)
    assert [d.reason for d in seen] == ["STOP_MARKETABLE"] and not k.execution.armed


def test_the_armed_limit_counts_emulated_stops_not_venue_orders(make_kernel):
    k = kernel_with(make_kernel, max_armed_triggers_total=2)
    seen = []
    k.bus.subscribe(OrderDenied, seen.append)
    inst = k.instruments[BTC]
    for i in range(3):
        submit(k, Side.SELL, OrderType.STOP, 0.01, inst.round_price(last(k) - (20 + i) * inst.tick_size))
    assert len(k.execution.armed) == 2 and [d.reason for d in seen] == ["MAX_ARMED_TRIGGERS"]


def test_an_armed_stop_moves_in_place_journaled_and_fires_at_its_new_trigger_only(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k, ticks=40)
    inst = k.instruments[BTC]
    new = inst.round_price(trigger + 30 * inst.tick_size)  # tighter: 10 ticks under the touch
    refused = []
    k.bus.subscribe(CommandRefused, refused.append)
    k.bus.publish(ModifyOrder(cid, None, "unused", trigger_price=new))
    stop = k.execution.orders[cid]
    assert not refused and stop.status is S.ARMED and stop.trigger_price == new
    con = sqlite3.connect(k.profile / "kestrel.db")  # committed before it was re-keyed
    assert con.execute("SELECT trigger_price FROM orders WHERE client_order_id=?", (cid,)).fetchone()[0] == new
    con.close()
    push_price(k, Side.SELL, lambda p: p <= new)
    advance(k, 50)
    assert stop.status is S.FILLED and stop.trigger_print <= new and stop.trigger_print > trigger
    assert "unused" not in k.execution.orders  # the same id throughout


def test_a_move_that_would_fire_at_once_is_refused_and_the_stop_stays_where_it_was(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k)
    inst = k.instruments[BTC]
    refused = []
    k.bus.subscribe(CommandRefused, refused.append)
    k.bus.publish(ModifyOrder(cid, None, "unused", trigger_price=inst.round_price(last(k) + 5 * inst.tick_size)))
    assert refused and "STOP_MARKETABLE" in refused[0].reason
    assert k.execution.orders[cid].trigger_price == trigger and k.execution.orders[cid].status is S.ARMED


def test_a_native_stop_on_the_sim_moves_by_cancel_then_replace(make_kernel):
    k = kernel_with(make_kernel)
    cid, trigger = long_with_stop(k, ticks=40, emulation=Emulation.AUTO)
    old = k.execution.orders[cid]
    assert not old.emulated and old.status is S.ACCEPTED
    inst = k.instruments[BTC]
    new = inst.round_price(trigger + 20 * inst.tick_size)
    k.bus.publish(ModifyOrder(cid, None, "moved-1", trigger_price=new))
    advance(k, 50)
    moved = k.execution.orders["moved-1"]
    assert old.status is S.CANCELED and moved.status is S.ACCEPTED
    assert moved.order_type is OrderType.STOP and moved.trigger_price == new and moved.quantity == old.quantity
    assert "moved-1" in [o.client_order_id for o in k.sim.open_orders()]
