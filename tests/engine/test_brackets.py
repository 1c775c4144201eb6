"""Brackets and a position's protection (issue 20, item 2), through the real kernel, its journal and the sim:
children wait for the entry, are armed for what it filled and grow with its fills; an entry canceled after a partial
fill leaves the protection for what filled; one side filling shrinks (or ends) the other; a stop that fires while
the take-profit's limit rests at the venue waits for that limit's cancel, so the position is never closed twice;
the gate refuses a bracket whole; the kill disarms it; a restart resumes it."""
from __future__ import annotations

import pytest

from app.config import RiskSettings
from app.engine.core.messages import (
    CommandRefused, Halt, OrderDenied, OrderStatus, OrderType, ProtectPosition, Side, SubmitBracket, SubmitOrder,
    TradeTick,
)
from tests.kit.kernel import LOOSE_LIMITS, advance, kernel_with, last, push_price

S = OrderStatus
BTC = "BTC/USDT@sim"


def ticks(k, n: int) -> float:
    return n * k.instruments[BTC].tick_size


def bracket(k, lid, side, qty, otype=OrderType.MARKET, price=None, tp=None, sl=None):
    entry = SubmitOrder(f"{lid}-e", BTC, "sim", side, otype, qty, price, "manual")
    k.bus.publish(SubmitBracket(lid, entry, tp, sl))
    advance(k, 20)
    o = k.execution.orders
    return o[f"{lid}-e"], o.get(f"{lid}-tp"), o.get(f"{lid}-sl")


def test_a_market_bracket_arms_both_children_for_the_fill_and_the_stop_closes_it(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    p = last(k)
    entry, tp, sl = bracket(k, "b1", Side.BUY, 0.05, tp=inst.round_price(p + ticks(k, 300)),
                            sl=inst.round_price(p - ticks(k, 40)))
    assert entry.status is S.FILLED and entry.list_id == "b1" and entry.role == "ENTRY"
    assert tp.status is S.ARMED and sl.status is S.ARMED and tp.quantity == sl.quantity == pytest.approx(0.05)
    assert tp.parent_id == sl.parent_id == "b1-e" and tp.reduce_only and sl.reduce_only
    push_price(k, Side.SELL, lambda x: x <= sl.trigger_price)
    advance(k, 50)
    assert sl.status is S.FILLED and tp.status is S.CANCELED and "stop-loss filled" in tp.reason
    assert k.portfolio.positions[BTC].quantity == pytest.approx(0.0)


def test_children_grow_with_partial_fills_and_stay_for_what_filled_when_the_entry_is_canceled(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    bid = k.market.get(BTC).book.best_bid
    price = inst.round_price(bid - ticks(k, 5))
    entry, tp, sl = bracket(k, "b2", Side.BUY, 1.0, OrderType.LIMIT, price, tp=inst.round_price(price + ticks(k, 500)),
                            sl=inst.round_price(price - ticks(k, 200)))
    assert entry.status is S.ACCEPTED and tp.status is S.WAITING and sl.status is S.WAITING
    # other participants sell into our bid a little at a time: the entry fills partly, twice
    sizes = []
    for _ in range(200):
        if entry.filled_qty >= 0.2:
            break
        k.sim.external_order(BTC, Side.SELL, 0.05)
        advance(k, 20)
        if entry.filled_qty and (not sizes or sizes[-1] != entry.filled_qty):
            sizes.append(entry.filled_qty)
            assert sl.status is S.ARMED and sl.quantity == pytest.approx(entry.filled_qty)
            assert tp.quantity == pytest.approx(entry.filled_qty)
    assert len(sizes) >= 2 and 0 < entry.filled_qty < 1.0  # grew with the fills
    filled = entry.filled_qty
    k.bus.publish(__import__("app.engine.core.messages", fromlist=["CancelOrder"]).CancelOrder("b2-e"))
    advance(k, 20)
    assert entry.status is S.CANCELED
    assert sl.status is S.ARMED and sl.quantity == pytest.approx(filled)  # protects what filled
    assert tp.status is S.ARMED and tp.quantity == pytest.approx(filled)


def test_an_entry_that_ends_unfilled_cancels_its_children(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    price = inst.round_price(k.market.get(BTC).book.best_bid - ticks(k, 50))
    entry, tp, sl = bracket(k, "b3", Side.BUY, 0.1, OrderType.LIMIT, price, sl=inst.round_price(price - ticks(k, 50)))
    assert tp is None and sl.status is S.WAITING
    k.bus.publish(__import__("app.engine.core.messages", fromlist=["CancelOrder"]).CancelOrder("b3-e"))
    advance(k, 20)
    assert sl.status is S.CANCELED and "unfilled" in sl.reason


def test_the_take_profit_filling_partly_shrinks_the_stop_by_the_same_amount(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    p = last(k)
    entry, tp, sl = bracket(k, "b4", Side.BUY, 1.0, tp=inst.round_price(p + ticks(k, 20)),
                            sl=inst.round_price(p - ticks(k, 400)))
    assert entry.status is S.FILLED and tp.status is S.ARMED
    # the market rises to the take-profit: its limit goes to the sim and rests; buyers lift part of it
    for _ in range(300):
        if tp.status is not S.ARMED:
            break
        k.sim.external_order(BTC, Side.BUY, 0.1)
        advance(k, 20)
    assert tp.status.is_working and tp.filled_qty < 1.0  # fired: a limit of 1.0 resting at its price
    for _ in range(300):
        if tp.filled_qty:
            break
        k.sim.external_order(BTC, Side.BUY, 0.05)
        advance(k, 20)
    assert 0 < tp.filled_qty < 1.0
    assert sl.status is S.ARMED and sl.quantity == pytest.approx(1.0 - tp.filled_qty)


def test_a_stop_firing_while_the_take_profit_rests_waits_for_its_cancel_and_never_closes_twice(make_kernel):
    """Prints are published on the bus as the venue's trade stream would (a touch of the take-profit with no bid
    at its price, then a print through the stop), so the take-profit's limit rests at the sim when the stop fires."""
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    p = last(k)
    entry, tp, sl = bracket(k, "b5", Side.BUY, 0.5, tp=inst.round_price(p + ticks(k, 40)),
                            sl=inst.round_price(p - ticks(k, 60)))
    sent = []
    real_submit = k.sim.submit
    k.sim.submit = lambda o: (sent.append(o.client_order_id), real_submit(o))[1]
    k.bus.publish(TradeTick(BTC, tp.trigger_price, 0.01, Side.BUY, "touch-1", k.clock.now_ms()))
    advance(k, 20)
    assert tp.status.is_working and tp.filled_qty == 0  # its limit rests at the sim, above the bids
    k.bus.publish(TradeTick(BTC, sl.trigger_price, 0.01, Side.SELL, "through-1", k.clock.now_ms()))
    advance(k, 50)
    assert tp.status is S.CANCELED and sl.status is S.FILLED
    assert sent == ["b5-tp", "b5-sl"]  # the stop went out only after the take-profit's cancel
    assert sl.filled_qty == pytest.approx(0.5) and k.portfolio.positions[BTC].quantity == pytest.approx(0.0)


@pytest.mark.parametrize("tp_ticks, sl_ticks", [(-10, -40), (300, 10), (300, 0)])
def test_a_bracket_on_the_wrong_side_is_refused_whole(make_kernel, tp_ticks, sl_ticks):
    k = kernel_with(make_kernel)
    seen = []
    k.bus.subscribe(OrderDenied, seen.append)
    inst = k.instruments[BTC]
    price = inst.round_price(k.market.get(BTC).book.best_bid - ticks(k, 5))
    entry, tp, sl = bracket(k, "b6", Side.BUY, 0.1, OrderType.LIMIT, price,
                            tp=inst.round_price(price + ticks(k, tp_ticks)),
                            sl=inst.round_price(price + ticks(k, sl_ticks)))
    assert entry.status is S.DENIED and "BRACKET_SIDES" in entry.reason
    assert tp.status is S.DENIED and sl.status is S.DENIED
    assert not k.execution.working and not k.execution.armed and not k.execution.waiting
    assert seen[0].reason == "BRACKET_SIDES"


def test_a_refused_entry_refuses_its_children(make_kernel):
    k = kernel_with(make_kernel, max_notional_manual=10.0)
    inst = k.instruments[BTC]
    p = last(k)
    entry, tp, sl = bracket(k, "b7", Side.BUY, 0.5, tp=inst.round_price(p + ticks(k, 100)),
                            sl=inst.round_price(p - ticks(k, 100)))
    assert entry.status is S.DENIED and "MAX_NOTIONAL" in entry.reason
    assert tp.status is S.DENIED and sl.status is S.DENIED and "MAX_NOTIONAL" in sl.reason


def test_the_kill_switch_disarms_waiting_and_armed_children(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    price = inst.round_price(k.market.get(BTC).book.best_bid - ticks(k, 50))
    _, _, waiting = bracket(k, "b8", Side.BUY, 0.1, OrderType.LIMIT, price, sl=inst.round_price(price - ticks(k, 50)))
    p = last(k)
    _, tp, sl = bracket(k, "b9", Side.BUY, 0.05, tp=inst.round_price(p + ticks(k, 300)),
                        sl=inst.round_price(p - ticks(k, 300)))
    assert waiting.status is S.WAITING and sl.status is S.ARMED
    k.bus.publish(Halt("test"))
    advance(k, 20)
    assert waiting.status is S.CANCELED and sl.status is S.CANCELED and tp.status is S.CANCELED
    assert not k.execution.armed and not k.execution.waiting


def test_a_bracket_resumes_after_a_restart(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]
    p = last(k)
    entry, tp, sl = bracket(k, "b10", Side.BUY, 0.05, tp=inst.round_price(p + ticks(k, 2000)),
                            sl=inst.round_price(p - ticks(k, 2000)))
    profile = k.profile
    k.close()
    k2 = make_kernel(profile, risk=RiskSettings(**LOOSE_LIMITS))
    lst = k2.groups.lists["b10"]
    assert lst.entry == "b10-e" and sorted(lst.children) == ["b10-sl", "b10-tp"]
    sl2 = k2.execution.orders["b10-sl"]
    assert sl2.status is S.ARMED and k2.emulator.trigger_of(sl2) == sl.trigger_price


def test_protecting_an_open_position_arms_an_oco_for_it_and_replacing_it_disarms_the_old(make_kernel):
    k = kernel_with(make_kernel)
    k.bus.publish(SubmitOrder("pos", BTC, "sim", Side.BUY, OrderType.MARKET, 0.05, None, "manual"))
    advance(k, 20)
    inst = k.instruments[BTC]
    p = last(k)
    k.bus.publish(ProtectPosition(BTC, stop_loss=inst.round_price(p - ticks(k, 100)),
                                  take_profit=inst.round_price(p + ticks(k, 100))))
    advance(k, 20)
    sl, tp, qty = k.groups.protection(BTC)
    assert sl.status is S.ARMED and tp.status is S.ARMED and qty == pytest.approx(0.05)
    refused = []
    k.bus.subscribe(CommandRefused, refused.append)
    k.bus.publish(ProtectPosition(BTC, stop_loss=inst.round_price(p + ticks(k, 100))))  # above: refused
    advance(k, 20)
    assert refused and "BRACKET_SIDES" in refused[0].reason
    k.bus.publish(ProtectPosition(BTC, stop_loss=inst.round_price(p - ticks(k, 50))))
    advance(k, 20)
    new_sl, new_tp, _ = k.groups.protection(BTC)
    assert sl.status is S.CANCELED and tp.status is S.CANCELED
    assert new_sl.trigger_price == inst.round_price(p - ticks(k, 50)) and new_tp is None
