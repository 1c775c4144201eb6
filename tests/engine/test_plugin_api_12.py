"""Plugin API 1.2 (issue 20, item 7) on the real kernel and the sim: ``buy(..., stop_loss=, take_profit=)`` is a
bracket, ``stop()`` a stop (trailing with ``trail=``), ``modify()`` moves it, ``close_position()`` closes the
strategy's own position reduce-only; a 1.1 plugin (no new arguments) places exactly the plain orders it did."""
from __future__ import annotations

import pytest

from app.api import Strategy
from app.engine.core.messages import OrderStatus, OrderType
from tests.kit.kernel import advance, kernel_with

S = OrderStatus
BTC = "BTC/USDT@sim"


class Scripted(Strategy):
    """Runs ``self.script(self)`` once, at its first tick."""

    name = "scripted"
    api_version = "1.2"
    script = None

    def on_start(self) -> None:
        self.done = False
        self.ids: dict[str, str] = {}

    def on_tick(self, tick) -> None:  # noqa: ANN001
        if not self.done:
            self.done = True
            type(self).script(self)


def start(k, script, api="1.2"):
    cls = type("S", (Scripted,), {"script": staticmethod(script), "api_version": api})
    host = k.strategies.host
    runner = host.add("s1", cls, {"symbol": BTC})
    host.start("s1")
    advance(k, 200)
    return runner.strategy


def test_a_bracket_from_a_plugin_is_protected_then_modified_and_closed(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]

    def script(s):
        p = s.last_price()
        s.ids["entry"] = s.buy(0.05, stop_loss=inst.round_price(p - 400 * inst.tick_size),
                               take_profit=inst.round_price(p + 400 * inst.tick_size))

    strat = start(k, script)
    entry = k.execution.orders[strat.ids["entry"]]
    assert entry.status is S.FILLED and entry.list_id is not None
    kids = {o.role: o for o in k.execution.orders.values() if o.list_id == entry.list_id and o.role != "ENTRY"}
    assert kids["SL"].status is S.ARMED and kids["TP"].status is S.ARMED and kids["SL"].actor == "strategy:s1"
    # the plugin moves its stop-loss up, in place (Kestrel keeps it)
    new = inst.round_price(kids["SL"].trigger_price + 100 * inst.tick_size)
    same = strat.modify(kids["SL"].client_order_id, trigger=new)
    advance(k, 20)
    assert same == kids["SL"].client_order_id and kids["SL"].trigger_price == new
    closed = strat.close_position()
    advance(k, 50)
    assert k.execution.orders[closed].reduce_only and k.execution.orders[closed].status is S.FILLED
    assert strat.position() == pytest.approx(0.0)
    assert kids["SL"].status is S.CANCELED and kids["TP"].status is S.CANCELED  # nothing left to protect
    assert strat.close_position() is None  # flat


def test_stop_and_trailing_stop_from_a_plugin(make_kernel):
    k = kernel_with(make_kernel)
    inst = k.instruments[BTC]

    def script(s):
        p = s.last_price()
        s.ids["stop"] = s.stop("sell", 0.01, trigger=inst.round_price(p - 300 * inst.tick_size))
        s.ids["trail"] = s.stop("sell", 0.01, trail=50 * inst.tick_size)
        s.ids["pct"] = s.stop("buy", 0.01, trail_pct=1.0)

    strat = start(k, script)
    stop, trail, pct = (k.execution.orders[strat.ids[n]] for n in ("stop", "trail", "pct"))
    assert stop.order_type is OrderType.STOP and stop.status is S.ACCEPTED and not stop.emulated  # the sim keeps it
    assert trail.order_type is OrderType.TRAILING_STOP and trail.status is S.ARMED and trail.emulated
    assert pct.trail_pct == 1.0 and pct.status is S.ARMED
    with pytest.raises(ValueError, match="not both"):
        strat.stop("sell", 0.01, trail=1.0, trail_pct=1.0)


def test_a_1_1_plugin_sends_the_plain_orders_it_always_did(make_kernel):
    k = kernel_with(make_kernel)

    def script(s):
        s.ids["m"] = s.buy(0.01)
        s.ids["l"] = s.sell(0.01, price=s.last_price() * 1.01)

    strat = start(k, script, api="1.1")
    m, lim = k.execution.orders[strat.ids["m"]], k.execution.orders[strat.ids["l"]]
    assert (m.order_type, m.list_id, m.tif.value, m.reduce_only) == (OrderType.MARKET, None, "GTC", False)
    assert (lim.order_type, lim.list_id, lim.post_only) == (OrderType.LIMIT, None, False)
