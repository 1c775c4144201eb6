"""The commands a window (or any client) sends on the bus, handled in the engine: the kill switch, a
strategy's kill switch, reset, flatten and moving an order. Each is on the audit trail before what it caused,
and a command the engine will not carry out comes back as ``CommandRefused`` with the reason."""
from __future__ import annotations

import pytest

from app.engine.core.messages import (
    CommandRefused,
    Flatten,
    Halt,
    HaltStrategy,
    ModifyOrder,
    OrderDenied,
    OrderStatus,
    OrderType,
    Reset,
    Side,
    TradingState,
)
from tests.kit.kernel import advance


def refusals(k) -> list[CommandRefused]:
    got: list[CommandRefused] = []
    k.bus.subscribe(CommandRefused, got.append)
    return got


def audit_kinds(k) -> list[str]:
    k.audit_recorder.flush()
    return [kind for (kind,) in k.store.conn.execute("SELECT kind FROM audit ORDER BY seq")]


def test_halt_reset_and_a_refused_reset_as_commands(make_kernel):
    k = make_kernel()
    advance(k, 500)
    inst = k.instruments["BTC/USDT"]
    resting = k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01,
                       inst.round_price(k.market.get("BTC/USDT").book.best_bid * 0.99))
    advance(k, 100)
    refused = refusals(k)
    k.bus.publish(Halt("desk", "manual", ts=k.clock.now_ms()))
    advance(k, 100)
    assert k.risk.state is TradingState.HALTED and k.store.load_risk_state().state == "HALTED"
    assert k.execution.orders[resting].status is OrderStatus.CANCELED
    k.bus.publish(Reset("", "manual", ts=k.clock.now_ms()))  # no reason: refused, said why
    assert k.risk.state is TradingState.HALTED
    assert [r.command for r in refused] == ["Reset"] and "reason" in refused[0].reason
    k.bus.publish(Reset("checked", "strategy:x", ts=k.clock.now_ms()))  # not a person
    assert k.risk.state is TradingState.HALTED and len(refused) == 2
    k.bus.publish(Reset("checked with the desk", "manual", ts=k.clock.now_ms()))
    assert k.risk.state is TradingState.ACTIVE and len(refused) == 2
    kinds = audit_kinds(k)
    assert kinds.index("Halt") < kinds.index("TradingStateChanged")  # the command before what it caused
    assert kinds.count("Reset") == 3 and kinds.count("CommandRefused") == 2


def test_a_strategy_kill_switch_and_flatten_as_commands(make_kernel):
    k = make_kernel()
    advance(k, 500)
    k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.02)
    advance(k, 200)
    assert k.portfolio.position("BTC/USDT").quantity == pytest.approx(0.02)
    k.bus.publish(HaltStrategy("mm", "too many rejects", "manual", ts=k.clock.now_ms()))
    assert k.risk.strategy_states["mm"][0] is TradingState.HALTED
    k.bus.publish(Flatten("manual", ts=k.clock.now_ms()))
    advance(k, 200)
    assert k.portfolio.position("BTC/USDT").quantity == pytest.approx(0.0)
    assert {"HaltStrategy", "Flatten"} <= set(audit_kinds(k))


def test_modify_moves_a_working_order_through_the_risk_gate(make_kernel):
    """At a venue that cannot amend (the sim's amend in place: tests/engine/test_amend.py)."""
    from tests.kit.kernel import cannot_amend

    k = make_kernel()
    advance(k, 500)
    cannot_amend(k)
    inst = k.instruments["BTC/USDT"]
    bid = k.market.get("BTC/USDT").book.best_bid
    old = k.submit("BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, inst.round_price(bid * 0.99))
    advance(k, 100)
    refused = refusals(k)
    new_price = inst.round_price(bid * 0.985)
    k.bus.publish(ModifyOrder(old, new_price, "moved-1", "manual", ts=k.clock.now_ms()))
    advance(k, 100)
    assert k.execution.orders[old].status is OrderStatus.CANCELED
    moved = k.execution.orders["moved-1"]
    assert moved.status is OrderStatus.ACCEPTED and moved.price == new_price and moved.quantity == 0.01
    # far outside the collar: the new order is denied by the gate like any other (the old one is gone)
    denied: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, denied.append)
    k.bus.publish(ModifyOrder("moved-1", inst.round_price(bid * 0.5), "moved-2", "manual", ts=k.clock.now_ms()))
    assert [d.reason for d in denied] == ["PRICE_COLLAR"]
    # an order no longer working: refused, with the reason
    k.bus.publish(ModifyOrder(old, new_price, "moved-3", "manual", ts=k.clock.now_ms()))
    assert [r.command for r in refused] == ["ModifyOrder"] and "no longer working" in refused[0].reason
    assert "moved-3" not in k.execution.orders


# ---------------------------------------------------------------------------- the strategy manager's commands
def test_a_strategy_is_loaded_configured_started_stopped_and_removed_by_commands(make_kernel):
    from app.engine.core.messages import (
        CommandDone, LoadStrategy, RemoveStrategy, RescanPlugins, SetStrategyParams, StartStrategy, StopStrategy,
    )
    from app.engine.strategy.runner import StrategyStatus

    k = make_kernel()
    port = k.port
    answer = port.send(LoadStrategy("sma_cross", {"symbol": "BTC/USDT"}))
    assert isinstance(answer, CommandDone) and answer.detail == "sma_cross-1"
    assert k.strategies.runners["sma_cross-1"].status is StrategyStatus.STOPPED
    refused = port.send(SetStrategyParams("sma_cross-1", {"fast": "-3"}))  # out of bounds: said why
    assert isinstance(refused, CommandRefused) and "fast" in refused.reason
    assert port.send(SetStrategyParams("sma_cross-1", {"fast": "7"})) is None
    assert k.strategies.runners["sma_cross-1"].params["fast"] == 7
    assert port.send(StartStrategy("sma_cross-1")) is None
    assert k.strategies.runners["sma_cross-1"].status is StrategyStatus.RUNNING
    assert port.send(StopStrategy("sma_cross-1")) is None
    assert k.strategies.runners["sma_cross-1"].status is StrategyStatus.STOPPED
    assert port.send(RemoveStrategy("sma_cross-1")) is None and "sma_cross-1" not in k.strategies.runners
    unknown = port.send(StartStrategy("nope"))
    assert isinstance(unknown, CommandRefused) and "nope" in unknown.reason
    missing = port.send(LoadStrategy("no_such_plugin"))
    assert isinstance(missing, CommandRefused) and "no plugin named 'no_such_plugin'" in missing.reason
    assert "plugins available" in port.send(RescanPlugins()).detail
    kinds = audit_kinds(k)
    for kind in ("LoadStrategy", "SetStrategyParams", "StartStrategy", "StopStrategy", "RemoveStrategy",
                 "CommandDone", "CommandRefused"):
        assert kind in kinds, kind


def test_a_venue_connect_that_fails_comes_back_as_a_refusal(make_kernel):
    """Connecting runs on the loop after ``send`` returned: its failure is a CommandRefused the dock shows."""
    import asyncio

    from app.engine.venues.events import ConnectVenue, DisconnectVenue
    from app.engine.venues.venue_config import CcxtVenueConfig

    k = make_kernel()
    refused = refusals(k)

    async def go():
        k.port.send(ConnectVenue(CcxtVenueConfig(name="sim", exchange="binance")))  # the sim's name is taken
        k.port.send(DisconnectVenue("never-connected"))  # nothing to do: not an error
        for _ in range(50):
            await asyncio.sleep(0.01)
            if refused:
                break

    asyncio.run(go())
    assert [r.command for r in refused] == ["ConnectVenue"]
    assert "connecting sim failed" in refused[0].reason and "simulated exchange" in refused[0].reason
