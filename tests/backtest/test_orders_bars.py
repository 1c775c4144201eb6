"""Stops in backtests (issue 20, docs/STRATEGIES.md "Stops in backtests"): stop, stop-limit and trailing stop
orders on bars small enough to check by hand. Each case writes out its expected fill price, time and fee.

Fixed stops run through the real engine (bus, risk gate, OMS, portfolio, ``BarVenue``): a fixture strategy
publishes the ``SubmitOrder`` itself, since plugin API 1.1 sends only market and limit orders. Trailing stops
are driven on the venue as the backtest loop drives it (open, range, then ``after_bar`` after ``on_bar``)
until the gate takes trailing types; their engine-level twins are marked TODO below.
"""
from __future__ import annotations

import pytest

from app.api import OrderDenied, OrderFilled, Strategy
from app.engine.backtest.bar_venue import BarVenue
from app.engine.backtest.engine import BacktestError, _instrument, run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.core.clock import SimClock
from app.engine.core.messages import OrderCanceled, OrderStatus, OrderType, OrderUpdated, Side, SubmitOrder
from app.engine.venues.base import VenueOrder
from tests.kit.series import MINUTE, T0, toy_bars, toy_trades

FEES = BacktestConfig(fee=0.002, maker_fee=0.0005)  # taker 0.2 %, maker 0.05 %: a fill's fee says which


def at(i: int) -> int:
    """Open time of toy bar i (a fill at the open or in the range is stamped with it)."""
    return T0 + i * MINUTE


def order(side: str, otype: str, qty: float, trigger: float | None = None, limit: float | None = None,
          **extra) -> dict:
    """The fields of a SubmitOrder the fixture strategy sends."""
    return {"side": Side(side.upper()), "order_type": OrderType(otype), "quantity": qty, "price": limit,
            "trigger_price": trigger, **extra}


def sending(on_bar: dict | None = None, on_tick: dict | None = None, cancel_at: int | None = None):
    """A strategy that sends the orders ``on_bar[i]`` from ``on_bar`` of bar i and ``on_tick[i]`` from the
    opening tick of bar i (trade print i with ticks) as SubmitOrders on the engine's bus, cancels every
    order it sent from ``on_bar`` of bar ``cancel_at``, and records fills, denials and cancels."""

    class Sending(Strategy):
        name = "sending"
        seen: dict = {}

        def on_start(self) -> None:
            self.bars = self.ticks = 0
            self.sent: list[str] = []
            Sending.seen = {"denials": [], "canceled": [], "open_at_cancel": []}

        def _send(self, orders) -> None:
            host, actor = self._host, f"strategy:{self.instance}"
            for fields in orders:
                cid = host.new_order_id()
                self.sent.append(cid)
                now = host.clock.now_ms()
                host.bus.publish(SubmitOrder(cid, self.p.symbol, "backtest", actor=actor, ts=now, **fields))

        def on_tick(self, tick) -> None:
            self._send((on_tick or {}).get(self.ticks, ()))
            self.ticks += 1

        def on_bar(self, bar) -> None:
            self._send((on_bar or {}).get(self.bars, ()))
            if self.bars == cancel_at:
                Sending.seen["open_at_cancel"] = [o.client_order_id for o in self.open_orders()]
                for cid in self.sent:
                    self.cancel(cid)
            self.bars += 1

        def on_order(self, event) -> None:
            if isinstance(event, OrderDenied):
                Sending.seen["denials"].append(event.reason)
            elif isinstance(event, OrderUpdated) and event.status is OrderStatus.CANCELED:
                Sending.seen["canceled"].append(event.client_order_id)

    return Sending


def fills(result) -> list[tuple]:
    """(time, side, price, qty, fee) of each fill."""
    return [(f["time"], f["side"], f["price"], f["qty"], f["fee"]) for f in result.fills]


# ------------------------------------------------------------------------------------------------- stops
def test_a_bar_opening_through_a_sell_stop_fills_it_at_the_open_not_the_trigger():
    """Sell stop 2 at 9.5 sent at bar 0's close (10). Bar 1 opens at 9.2, below it: filled at 9.2, taker
    0.002 x 9.2 x 2 = 0.0368."""
    data = toy_bars([10, 9.2, 9.0], highs=[10.2, 9.4, 9.1], lows=[9.9, 9.0, 8.9], closes=[10, 9.1, 9.0])
    res = run_backtest(sending(on_bar={0: [order("sell", "STOP", 2.0, 9.5)]}), {}, data, FEES)
    assert fills(res) == [(at(1), "SELL", 9.2, 2.0, pytest.approx(0.0368, abs=1e-12))]


def test_a_sell_stop_the_range_touches_fills_at_its_trigger_with_the_taker_fee():
    """Bar 1 opens at 9.8 and trades down to 9.4: the stop at 9.5 fills at 9.5; 0.002 x 9.5 x 2 = 0.038."""
    data = toy_bars([10, 9.8, 9.6], highs=[10.2, 9.9, 9.7], lows=[9.9, 9.4, 9.5], closes=[10, 9.6, 9.6])
    res = run_backtest(sending(on_bar={0: [order("sell", "STOP", 2.0, 9.5)]}), {}, data, FEES)
    assert fills(res) == [(at(1), "SELL", 9.5, 2.0, pytest.approx(0.038, abs=1e-12))]


def test_a_buy_stop_waits_until_a_high_reaches_its_trigger():
    """Buy stop 1 at 10.5 (above the close 10): bar 1's high 10.4 misses it, bar 2's 10.7 reaches it."""
    data = toy_bars([10, 10.1, 10.2, 10.6], highs=[10.2, 10.4, 10.7, 10.8], lows=[9.9, 10.0, 10.1, 10.5],
                    closes=[10, 10.2, 10.6, 10.7])
    res = run_backtest(sending(on_bar={0: [order("buy", "STOP", 1.0, 10.5)]}), {}, data, FEES)
    assert fills(res) == [(at(2), "BUY", 10.5, 1.0, pytest.approx(0.021, abs=1e-12))]


@pytest.mark.parametrize("bar1,side,trigger,price", [
    ((10.1, 10.8, 10.0, 10.6), "buy", 10.5, 10.5525),  # a touch: 10.5 x 1.005
    ((9.2, 9.4, 9.0, 9.1), "sell", 9.5, 9.154),  # a gap: the open 9.2 x 0.995
])
def test_slippage_moves_a_stop_fill_against_the_order(bar1, side, trigger, price):
    o, h, lo, c = bar1
    data = toy_bars([10, o, c], highs=[10.2, h, c], lows=[9.9, lo, c], closes=[10, c, c])
    res = run_backtest(sending(on_bar={0: [order(side, "STOP", 1.0, trigger)]}), {}, data,
                       BacktestConfig(fee=0.002, maker_fee=0.0005, slippage_bps=50))
    ((ts, got_side, got, qty, fee),) = fills(res)
    assert (ts, got_side, qty) == (at(1), side.upper(), 1.0)
    assert got == pytest.approx(price, rel=1e-12) and fee == pytest.approx(0.002 * price, rel=1e-12)


@pytest.mark.parametrize("latency_ms,fill_at", [(0, at(1)), (30_000, at(2))])
def test_a_stop_sees_only_the_range_of_bars_it_was_there_for_from_the_open(latency_ms, fill_at):
    """Sell stop at 9.5 sent from bar 1's opening tick (9.8). Without latency it is there from bar 1's open
    and its low 9.4 fills it; 30 s late, it arrives inside bar 1 (its low may have come before) and fills on
    bar 2's touch (low 9.45)."""
    data = toy_bars([10, 9.8, 9.6, 9.6], highs=[10.2, 9.9, 9.7, 9.7], lows=[9.9, 9.4, 9.45, 9.55],
                    closes=[10, 9.6, 9.6, 9.6])
    res = run_backtest(sending(on_tick={1: [order("sell", "STOP", 1.0, 9.5)]}), {}, data,
                       BacktestConfig(fee=0.002, latency_ms=latency_ms))
    assert fills(res) == [(fill_at, "SELL", 9.5, 1.0, pytest.approx(0.019, abs=1e-12))]


def test_a_canceled_stop_never_fills_and_was_open_until_then():
    """Sell stop at 9.5, canceled at bar 1's close; bar 2 gaps to 9.0, through where it was."""
    data = toy_bars([10, 9.8, 9.0], highs=[10.2, 9.9, 9.1], lows=[9.9, 9.6, 8.8], closes=[10, 9.7, 9.0])
    strategy = sending(on_bar={0: [order("sell", "STOP", 1.0, 9.5)]}, cancel_at=1)
    res = run_backtest(strategy, {}, data, FEES)
    assert res.fills == []
    assert len(strategy.seen["open_at_cancel"]) == 1
    assert strategy.seen["canceled"] == strategy.seen["open_at_cancel"]


def test_the_gate_checks_a_stop_against_the_price_its_sender_saw():
    """From ``on_bar`` that is the bar's close, 10: a sell stop at 9.9 is placed; one at 10.1 (above the
    market) would trigger at once and is refused as STOP_MARKETABLE, as live."""
    data = toy_bars([10, 10.0, 9.8], highs=[10.2, 10.3, 9.9], lows=[9.9, 9.95, 9.7], closes=[10, 10.0, 9.8])
    strategy = sending(on_bar={0: [order("sell", "STOP", 1.0, 9.9), order("sell", "STOP", 2.0, 10.1)]})
    res = run_backtest(strategy, {}, data, FEES)
    assert strategy.seen["denials"] == ["STOP_MARKETABLE"]
    # the one placed: bar 1's low 9.95 misses it, bar 2 opens below it at 9.8
    assert fills(res) == [(at(2), "SELL", 9.8, 1.0, pytest.approx(0.0196, abs=1e-12))]


def test_a_stop_in_tick_mode_fills_at_the_first_print_at_or_through_its_trigger():
    """Prints 10, 10.1, 9.7, 9.4, 9.6: a sell stop at 9.5 sent on the first print fills at 9.4, the print
    that went through it (prints have no range between them)."""
    data = toy_trades([0, 1_000, 2_000, 3_000, 4_000], [10, 10.1, 9.7, 9.4, 9.6])
    res = run_backtest(sending(on_tick={0: [order("sell", "STOP", 1.0, 9.5)]}), {}, data, FEES)
    assert fills(res) == [(T0 + 3_000, "SELL", 9.4, 1.0, pytest.approx(0.0188, abs=1e-12))]


# ------------------------------------------------------------------------------------------- stop-limits
def test_a_stop_limit_triggered_in_the_range_fills_at_its_trigger_when_within_its_limit():
    """Buy stop-limit 1, trigger 10.5, limit 10.6: bar 1 (open 10.1, high 10.8) triggers it at 10.5, within
    the limit: 10.5 at once, taker (it took liquidity when it triggered): 0.002 x 10.5."""
    data = toy_bars([10, 10.1, 10.7], highs=[10.2, 10.8, 10.8], lows=[9.9, 10.0, 10.6],
                    closes=[10, 10.7, 10.7])
    res = run_backtest(sending(on_bar={0: [order("buy", "STOP_LIMIT", 1.0, 10.5, 10.6)]}), {}, data, FEES)
    assert fills(res) == [(at(1), "BUY", 10.5, 1.0, pytest.approx(0.021, abs=1e-12))]


def test_a_stop_limit_the_open_gaps_through_within_its_limit_fills_at_the_open():
    """Trigger 10.5, limit 10.8; bar 1 opens at 10.6: filled at 10.6, taker."""
    data = toy_bars([10, 10.6, 10.7], highs=[10.2, 10.9, 10.8], lows=[9.9, 10.55, 10.6],
                    closes=[10, 10.7, 10.7])
    res = run_backtest(sending(on_bar={0: [order("buy", "STOP_LIMIT", 1.0, 10.5, 10.8)]}), {}, data, FEES)
    assert fills(res) == [(at(1), "BUY", 10.6, 1.0, pytest.approx(0.0212, abs=1e-12))]


def test_a_stop_limit_gapped_beyond_its_limit_rests_and_fills_on_a_later_bars_range():
    """Trigger 10.5, limit 10.6; bar 1 opens at 10.9, beyond the limit: triggered, it rests as a buy limit at
    10.6 from bar 2 on. Bar 1's low 10.55 does not fill it (the convention: a later bar); bar 2's low 10.5
    does, at 10.6, maker (it rested): 0.0005 x 10.6 = 0.0053."""
    data = toy_bars([10, 10.9, 10.8, 10.8], highs=[10.2, 11.0, 10.9, 10.9], lows=[9.9, 10.55, 10.5, 10.7],
                    closes=[10, 10.8, 10.8, 10.8])
    res = run_backtest(sending(on_bar={0: [order("buy", "STOP_LIMIT", 1.0, 10.5, 10.6)]}), {}, data, FEES)
    assert fills(res) == [(at(2), "BUY", 10.6, 1.0, pytest.approx(0.0053, abs=1e-12))]


def test_a_stop_limit_the_range_triggers_beyond_its_limit_rests_to_the_next_bar():
    """Sell stop-limit, trigger 9.5, limit 9.6 (above it): bar 1 (9.8 -> low 9.4) triggers it at 9.5, not
    within the limit, so it rests as a sell limit at 9.6; bar 1's high 9.9 came before or after, unknown, so
    not bar 1. Bar 2 opens at 9.4 (below the limit) and its high 9.7 fills it at 9.6, maker."""
    data = toy_bars([10, 9.8, 9.4, 9.5], highs=[10.2, 9.9, 9.7, 9.55], lows=[9.9, 9.4, 9.3, 9.45],
                    closes=[10, 9.5, 9.5, 9.5])
    res = run_backtest(sending(on_bar={0: [order("sell", "STOP_LIMIT", 1.0, 9.5, 9.6)]}), {}, data, FEES)
    assert fills(res) == [(at(2), "SELL", 9.6, 1.0, pytest.approx(0.0048, abs=1e-12))]


# ------------------------------------------------------------------------------- trailing, on the venue
class Bars:
    """``BarVenue`` driven as ``Backtest._loop_bars`` drives it: bar i's open, its range, then ``on_bar``
    (where ``send`` puts orders) and ``after_bar``. Reports are kept in ``reports``."""

    def __init__(self, cfg: BacktestConfig = FEES) -> None:
        self.clock = SimClock(T0)
        self.reports: list = []
        self.venue = BarVenue(_instrument("TOY", cfg), self.reports.append, cfg, self.clock)
        self.i = 0

    def bar(self, o: float, h: float, lo: float, c: float, send: tuple[VenueOrder, ...] = ()) -> None:
        ts = at(self.i)
        self.clock.ms = ts
        self.venue.at_open(o, ts)
        self.venue.in_range(h, lo, ts, ts)
        self.clock.ms = ts + MINUTE
        for vo in send:
            self.venue.submit(vo)
        self.venue.after_bar(o, h, lo, c, ts, ts + MINUTE)
        self.i += 1

    def fills(self) -> list[tuple]:
        return [(f.ts, f.side.value, f.price, f.quantity, f.fee, f.liquidity) for f in self.reports
                if isinstance(f, OrderFilled)]


def trailing(side: str, qty: float = 1.0, *, amount: float | None = None, pct: float | None = None,
             activation: float | None = None, offset: float | None = None, cid: str = "t1") -> VenueOrder:
    otype = OrderType.TRAILING_STOP if offset is None else OrderType.TRAILING_STOP_LIMIT
    return VenueOrder(cid, "TOY", Side(side.upper()), otype, qty, None, trigger_price=activation,
                      trail_amount=amount, trail_pct=pct, limit_offset=offset)


@pytest.mark.parametrize("trail_on,expected", [
    ("close", (at(3), "SELL", 9.5, 1.0, pytest.approx(0.019, abs=1e-12), "TAKER")),
    ("extremes", (at(2), "SELL", 10.6, 1.0, pytest.approx(0.0212, abs=1e-12), "TAKER")),
])
def test_a_trailing_stop_follows_the_close_or_the_high_from_the_next_bar(trail_on, expected):
    """Sell, trailing by 1.0, sent at bar 0's close 10: trigger 9.0 in bar 1.
    On the close: after bar 1 (close 10.5) 9.5; bar 2 (low 10.0) misses it and its close 10.2 leaves it;
    bar 3 (open 10.1, low 9.4) touches it: 9.5.
    On the high: after bar 1 (high 12.0) 11.0, which bar 1's own low 10.1 is below but must not fill (set
    after the bar); bar 2 opens at 10.6, below 11.0: a gap, filled at the open."""
    b = Bars(BacktestConfig(fee=0.002, maker_fee=0.0005, trail_on=trail_on))
    b.bar(10, 10.5, 9.8, 10, send=(trailing("sell", amount=1.0),))
    b.bar(10.2, 12.0, 10.1, 10.5)
    b.bar(10.6, 10.8, 10.0, 10.2)
    b.bar(10.1, 10.3, 9.4, 9.6)
    assert b.fills() == [expected]
    assert b.venue.pending == [] and b.venue.trailing == []


@pytest.mark.parametrize("trail_on,price", [("close", 10.7), ("extremes", 10.9)])
def test_a_trailing_stop_with_an_activation_price_trails_only_once_a_bar_reaches_it(trail_on, price):
    """Sell, trailing by 0.5, activation 11.0, sent at bar 0's close 10. Bar 1 falls to 9.0 (it would have
    filled a stop trailing from 10) and rises only to 10.8: not active. Bar 2's high 11.4 activates it: the
    water mark is the best of 11.0 and the close 11.2 (trigger 10.7), or of the high 11.4 (10.9). Bar 3
    (open 11.0, low 10.6) touches either."""
    b = Bars(BacktestConfig(fee=0.002, trail_on=trail_on))
    b.bar(10, 10.2, 9.9, 10, send=(trailing("sell", amount=0.5, activation=11.0),))
    b.bar(10.2, 10.8, 9.0, 10.5)
    b.bar(10.6, 11.4, 10.4, 11.2)
    assert b.fills() == []
    b.bar(11.0, 11.1, 10.6, 10.8)
    assert b.fills() == [(at(3), "SELL", price, 1.0, pytest.approx(0.002 * price, abs=1e-12), "TAKER")]


def test_a_trailing_buy_stop_in_percent_follows_the_lowest_close():
    """Buy (covering a short), trailing by 2 %, sent at bar 0's close 100: trigger 102; bar 1's high 101.5
    misses it and its close 98 moves it to 98 x 1.02 = 99.96; bar 2 (open 98.5, high 100.5) fills at 99.96,
    fee 0.002 x 99.96 = 0.19992."""
    b = Bars()
    b.bar(100, 101, 99, 100, send=(trailing("buy", pct=2.0),))
    b.bar(99, 101.5, 97, 98)
    b.bar(98.5, 100.5, 98, 100)
    ((ts, side, px, qty, fee, liq),) = b.fills()
    assert (ts, side, qty, liq) == (at(2), "BUY", 1.0, "TAKER")
    assert px == pytest.approx(99.96, abs=1e-12) and fee == pytest.approx(0.19992, abs=1e-12)


def test_a_trailing_stop_limit_gapped_beyond_its_limit_rests_at_it():
    """Sell, trailing by 1.0 with its limit 0.2 below the trigger, sent at the close 10: trigger 9.0, limit
    8.8. Bar 1 opens at 8.5, beyond the limit: it rests as a sell limit at 8.8 (bar 1's high 8.9 does not
    fill it), no longer trailing; bar 2 (open 8.7, high 8.95) fills it at 8.8, maker: 0.0005 x 8.8."""
    b = Bars()
    b.bar(10, 10.2, 9.9, 10, send=(trailing("sell", amount=1.0, offset=0.2),))
    b.bar(8.5, 8.9, 8.4, 8.6)
    assert b.fills() == [] and b.venue.trailing == []
    assert "rests as a limit at 8.8" in b.reports[-1].note
    b.bar(8.7, 8.95, 8.6, 8.9)
    assert b.fills() == [(at(2), "SELL", 8.8, 1.0, pytest.approx(0.0044, abs=1e-12), "MAKER")]


def test_a_trailing_stop_sent_at_a_close_starts_there_even_on_extremes():
    """Sent at bar 0's close 10, whose high 11.5 came before it: the water mark is 10 (trigger 9.0), not
    11.5 (10.5, which bar 1's open 9.8 would have gapped through). Bar 1's high 10.0 leaves it at 9.0 and
    its low 9.1 misses it; bar 2's low 8.9 fills it at 9.0."""
    b = Bars(BacktestConfig(fee=0.002, trail_on="extremes"))
    b.bar(10, 11.5, 9.9, 10, send=(trailing("sell", amount=1.0),))
    b.bar(9.8, 10.0, 9.1, 9.5)
    b.bar(9.4, 9.5, 8.9, 9.0)
    assert b.fills() == [(at(2), "SELL", 9.0, 1.0, pytest.approx(0.018, abs=1e-12), "TAKER")]


def test_open_orders_and_cancel_cover_resting_stops():
    b = Bars()
    b.bar(10, 10.2, 9.9, 10, send=(VenueOrder("s1", "TOY", Side.SELL, OrderType.STOP, 1.0, None,
                                              trigger_price=9.5), trailing("sell", amount=1.0, cid="t1")))
    assert [o.client_order_id for o in b.venue.open_orders()] == ["s1", "t1"]
    b.venue.cancel("s1")
    b.venue.cancel("t1")
    assert [e.client_order_id for e in b.reports if isinstance(e, OrderCanceled)] == ["s1", "t1"]
    assert b.venue.open_orders() == [] and b.venue.trailing == []
    b.bar(8.0, 8.1, 7.0, 7.5)  # through both
    assert b.fills() == []


def test_the_backtest_venue_offers_stops_and_an_unknown_trail_on_is_refused():
    assert {"STOP", "STOP_LIMIT", "TRAILING_STOP", "TRAILING_STOP_LIMIT"} <= BarVenue.order_features
    with pytest.raises(BacktestError, match="unknown trail_on 'high'"):
        run_backtest(sending(), {}, toy_bars([10, 10]), BacktestConfig(trail_on="high"))


# ------------------------------------------------------------------------------ trailing, through the engine
@pytest.mark.parametrize("trail_on,expected", [("close", (at(3), "SELL", 9.5)),
                                               ("extremes", (at(2), "SELL", 10.6))])
def test_a_trailing_stop_through_the_engine(trail_on, expected):
    """The venue-level case above (same bars, same fills), sent by a strategy through the gate."""
    data = toy_bars([10, 10.2, 10.6, 10.1], highs=[10.5, 12.0, 10.8, 10.3], lows=[9.8, 10.1, 10.0, 9.4],
                    closes=[10, 10.5, 10.2, 9.6])
    strategy = sending(on_bar={0: [order("sell", "TRAILING_STOP", 1.0, trail_amount=1.0)]})
    res = run_backtest(strategy, {}, data, BacktestConfig(fee=0.002, trail_on=trail_on))
    assert strategy.seen["denials"] == []
    assert [f[:3] for f in fills(res)] == [expected]


def test_a_trailing_stop_in_tick_mode_trails_on_each_print():
    """Prints 10, 10.5, 10.2, 9.3; a sell trailing by 1.0 sent on the first: trigger 9.0, then 9.5 after the
    print at 10.5; 10.2 misses it and 9.3 goes through it: filled at 9.3, fee 0.002 x 9.3 = 0.0186."""
    data = toy_trades([0, 1_000, 2_000, 3_000], [10, 10.5, 10.2, 9.3])
    strategy = sending(on_tick={0: [order("sell", "TRAILING_STOP", 1.0, trail_amount=1.0)]})
    res = run_backtest(strategy, {}, data, BacktestConfig(fee=0.002))
    assert strategy.seen["denials"] == []
    assert fills(res) == [(T0 + 3_000, "SELL", 9.3, 1.0, pytest.approx(0.0186, abs=1e-12))]
