"""Driving a real kernel (SQLite store, bus, risk, execution, sim venue) on its simulated clock."""
from __future__ import annotations

from app.config import RiskSettings
from app.engine.core.messages import OrderDenied, OrderType, SetAlert, Side, SubmitOrder

BTC = "BTC/USDT@sim"


def advance(kernel, ms: int, step: int = 50) -> None:
    """Move the simulated clock forward, stepping the venue as the live loop would."""
    for _ in range(max(ms // step, 1)):
        kernel.clock.advance(step)
        kernel.step()


#: risk limits loose enough that only the limit a test sets can refuse an order
LOOSE_LIMITS = dict(max_msgs_per_s_strategy=100_000, max_msgs_per_s_total=100_000, duplicate_window_s=0.0,
                    max_fills_per_min_strategy=100_000, max_rejects_per_min_strategy=100_000,
                    max_notional_manual=1e9, max_notional_strategy=1e9, max_order_qty={}, max_position={},
                    max_working_orders_total=100_000, max_working_orders_strategy=100_000,
                    max_gross_exposure_x_equity=1e6)


def kernel_with(make_kernel, latency_ms=0, **risk):
    """A kernel (from the ``make_kernel`` fixture) whose risk limits are loose but for ``risk``, with a book."""
    k = make_kernel(latency_ms=latency_ms, risk=RiskSettings(**{**LOOSE_LIMITS, **risk}))
    advance(k, 500)
    return k


def send(k, qty, side=Side.BUY, otype=OrderType.MARKET, price=None, actor="manual", symbol="BTC/USDT"):
    """Publish a SubmitOrder on the bus; the denial's reason, or None if the order was not denied."""
    seen: list[OrderDenied] = []
    unsub = k.bus.subscribe(OrderDenied, seen.append)
    cid = f"t{len(k.execution.orders) + 1}-{k.clock.now_ms()}"
    k.bus.publish(SubmitOrder(cid, symbol, "sim", side, otype, qty, price, actor))
    unsub()
    return seen[0].reason if seen else None


def mid(k, symbol="BTC/USDT"):
    return k.market.get(symbol).book.mid


def last(kernel, symbol: str = BTC) -> float:
    """The last trade of ``symbol``."""
    return kernel.market.get(symbol).last


def push_price(kernel, side: Side, until, size: float = 2.0, symbol: str = BTC, tries: int = 300) -> None:
    """Other participants trade the sim's market in one direction (market orders of ``size``, which sweep
    several levels) until ``until(last)`` holds."""
    for _ in range(tries):
        if until(last(kernel, symbol)):
            return
        kernel.sim.external_order(symbol, side, size)
        advance(kernel, 20)
    raise AssertionError(f"the market did not get there: last {last(kernel, symbol)}")


def cannot_amend(kernel) -> None:
    """The sim's venue, as one that cannot amend an order in place (the gate and ModifyOrder then move orders by
    cancel-then-replace, as on venues without an amend): for tests of that path."""
    features = kernel.risk.checks.venue_features
    kernel.risk.checks.venue_features = lambda venue: features(venue) - {"amend"}


def set_rule(k, **rule) -> str:
    """Set an alert rule as the window does (a ``SetAlert`` on the bus); its id."""
    before = set(k.alerts.rules)
    k.bus.publish(SetAlert(rule, "manual", k.clock.now_ms()))
    (rid,) = set(k.alerts.rules) - before
    return rid
