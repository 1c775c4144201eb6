"""Brackets in backtests (issue 20, item 6; docs/STRATEGIES.md "Brackets in backtests"), through the real
backtest engine and the plugin API 1.2 (``buy(qty, stop_loss=, take_profit=)``), on bars small enough to check by
hand: each case writes out its expected fills (time, side, price, quantity, fee). Taker 0.2 %, maker 0.05 %."""
from __future__ import annotations

import pytest

from app.api import OrderDenied, Strategy
from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from tests.kit.series import MINUTE, T0, toy_bars

FEES = BacktestConfig(fee=0.002, maker_fee=0.0005)


def at(i: int) -> int:
    return T0 + i * MINUTE


def fills(result) -> list[tuple]:
    return [(f["time"], f["side"], f["price"], f["qty"], f["fee"]) for f in result.fills]


def bracket_at_bar0(price=None, **kw):
    """Buys 2 with a bracket from on_bar of bar 0 (a market order: filled at bar 1's open)."""

    class Bracketing(Strategy):
        name = "bracketing"
        api_version = "1.2"
        denials: list = []

        def on_start(self) -> None:
            self.n = 0
            Bracketing.denials = []

        def on_bar(self, bar) -> None:
            if self.n == 0:
                self.buy(2.0, price, **kw)
            self.n += 1

        def on_order(self, event) -> None:
            if isinstance(event, OrderDenied):
                Bracketing.denials.append(event.reason)

    return Bracketing


def test_an_entry_filled_at_the_open_arms_its_stop_loss_for_that_bars_range():
    """Entry 2 at bar 1's open 10.0 (taker 0.04); bar 1 trades down to 9.4: the stop-loss at 9.5 fills at 9.5 in
    bar 1 (taker 0.002 x 9.5 x 2 = 0.038); the take-profit is canceled."""
    data = toy_bars([10, 10.0, 9.6], highs=[10.1, 10.3, 9.8], lows=[9.9, 9.4, 9.5], closes=[10, 9.6, 9.7])
    res = run_backtest(bracket_at_bar0(stop_loss=9.5, take_profit=11.0), {}, data, FEES)
    assert fills(res) == [(at(1), "BUY", 10.0, 2.0, pytest.approx(0.04)),
                          (at(1), "SELL", 9.5, 2.0, pytest.approx(0.038))]
    assert [o["type"] for o in res.orders] == ["MARKET", "STOP", "LIMIT"]


def test_when_one_bar_reaches_both_the_stop_loss_is_assumed_first():
    """Bar 2's range (9.3 to 11.2) reaches the stop-loss 9.5 and the take-profit 11.0: the stop-loss fills (9.5,
    taker 0.038), the take-profit does not."""
    data = toy_bars([10, 10.0, 10.0, 10.0], highs=[10.1, 10.2, 11.2, 10.1], lows=[9.9, 9.8, 9.3, 9.9],
                    closes=[10, 10.0, 10.0, 10.0])
    res = run_backtest(bracket_at_bar0(stop_loss=9.5, take_profit=11.0), {}, data, FEES)
    assert fills(res)[1:] == [(at(2), "SELL", 9.5, 2.0, pytest.approx(0.038))]


def test_the_take_profit_fills_at_its_price_as_a_maker_and_cancels_the_stop_loss():
    """Bar 2 trades up to 11.1: the take-profit at 11.0 fills at 11.0 (maker 0.0005 x 11 x 2 = 0.011); bar 3 falls
    to 9.0 and nothing more fills (the stop-loss was canceled)."""
    data = toy_bars([10, 10.0, 10.5, 9.5], highs=[10.1, 10.2, 11.1, 9.6], lows=[9.9, 9.8, 10.4, 9.0],
                    closes=[10, 10.0, 10.9, 9.2])
    res = run_backtest(bracket_at_bar0(stop_loss=9.5, take_profit=11.0), {}, data, FEES)
    assert fills(res)[1:] == [(at(2), "SELL", 11.0, 2.0, pytest.approx(0.011))]


def test_a_gap_through_the_take_profit_fills_it_at_the_open():
    """Bar 2 opens at 11.5, above the take-profit 11.0: filled at the open 11.5 (a limit the open trades through;
    maker 0.0005 x 11.5 x 2 = 0.0115)."""
    data = toy_bars([10, 10.0, 11.5], highs=[10.1, 10.2, 11.6], lows=[9.9, 9.8, 11.4], closes=[10, 10.0, 11.5])
    res = run_backtest(bracket_at_bar0(stop_loss=9.5, take_profit=11.0), {}, data, FEES)
    assert fills(res)[1:] == [(at(2), "SELL", 11.5, 2.0, pytest.approx(0.0115))]


def test_a_limit_entry_filled_inside_a_bar_arms_its_children_from_the_next_bar():
    """Buy limit 9.8 (bar 1 reaches it: maker 0.0005 x 9.8 x 2 = 0.0098). Bar 1 also reaches 9.5, but the stop-loss
    is armed from bar 2, whose low 9.4 fills it at 9.5."""
    data = toy_bars([10, 10.0, 9.7], highs=[10.1, 10.1, 9.8], lows=[9.9, 9.45, 9.4], closes=[10, 9.7, 9.6])
    res = run_backtest(bracket_at_bar0(9.8, stop_loss=9.5, take_profit=11.0), {}, data, FEES)
    assert fills(res) == [(at(1), "BUY", 9.8, 2.0, pytest.approx(0.0098)),
                          (at(2), "SELL", 9.5, 2.0, pytest.approx(0.038))]


@pytest.mark.parametrize("kw", [dict(stop_loss=10.5, take_profit=11.0), dict(stop_loss=9.5, take_profit=9.8)])
def test_a_bracket_on_the_wrong_side_is_refused_whole(kw):
    data = toy_bars([10, 10.0, 9.0], highs=[10.1, 10.2, 9.1], lows=[9.9, 9.8, 8.9], closes=[10, 10.0, 9.0])
    strategy = bracket_at_bar0(**kw)
    res = run_backtest(strategy, {}, data, FEES)
    assert fills(res) == [] and strategy.denials == ["BRACKET_SIDES"]


def test_a_trailing_stop_loss_bracket_trails_on_closes():
    """trail=1.0: the stop-loss starts at bar 1's close 10.5 (trigger 9.5), bar 2 closes 11.0 (trigger 10.0), bar
    3 trades down to 9.9: filled at 10.0 (taker 0.002 x 10 x 2 = 0.04)."""
    data = toy_bars([10, 10.0, 10.6, 10.4], highs=[10.1, 10.6, 11.1, 10.5], lows=[9.9, 9.9, 10.5, 9.9],
                    closes=[10, 10.5, 11.0, 10.0])
    res = run_backtest(bracket_at_bar0(trail=1.0), {}, data, FEES)
    assert fills(res)[1:] == [(at(3), "SELL", 10.0, 2.0, pytest.approx(0.04))]


def closing_at_bar1(close: str, **kw):
    """Buys 2 with a bracket from on_bar of bar 0 (filled at bar 1's open), then closes the position from on_bar of
    bar 1 (filled at bar 2's open): ``close`` "close_position" (reduce-only) or "sell" (a plain sell of it)."""

    class Closing(Strategy):
        name = "closing"
        api_version = "1.2"
        denials: list = []

        def on_start(self) -> None:
            self.n = 0
            Closing.denials = []

        def on_bar(self, bar) -> None:
            if self.n == 0:
                self.buy(2.0, **kw)
            elif self.n == 1:
                self.close_position() if close == "close_position" else self.sell(self.position())
            self.n += 1

        def on_order(self, event) -> None:
            if isinstance(event, OrderDenied):
                Closing.denials.append(event.reason)

    return Closing


@pytest.mark.parametrize("close", ["close_position", "sell"])
@pytest.mark.parametrize("kw", [dict(stop_loss=9.5, take_profit=11.0), dict(stop_loss=9.5), dict(take_profit=11.0)],
                         ids=["both", "stop-loss", "take-profit"])
def test_closing_the_position_ends_the_brackets_children(close, kw):
    """Entry 2 at bar 1's open 10.0 (taker 0.04), closed at bar 2's open 10.0 (0.04); bar 3 falls through the
    stop-loss 9.5 and bar 4 rises through the take-profit 11.0: neither fills, the position stays flat. (A
    reduce-only close used to be refused while the take-profit rested (REDUCING_ONLY), and a child left working
    after a close fired later on the flat position, opening a short.)"""
    data = toy_bars([10, 10.0, 10.0, 9.6, 10.0], highs=[10.1, 10.2, 10.2, 9.7, 11.5],
                    lows=[9.9, 9.8, 9.8, 9.0, 9.9], closes=[10, 10.0, 10.0, 9.2, 11.2])
    strategy = closing_at_bar1(close, **kw)
    res = run_backtest(strategy, {}, data, FEES)
    assert strategy.denials == []
    assert fills(res) == [(at(1), "BUY", 10.0, 2.0, pytest.approx(0.04)),
                          (at(2), "SELL", 10.0, 2.0, pytest.approx(0.04))]


def test_an_entry_whose_open_is_already_through_its_stop_loss_is_stopped_at_that_open():
    """The signal's close is 10.0; bar 1 gaps down to open at 9.4, under the stop-loss 9.5, and never trades above
    9.45. The entry fills at 9.4 and its stop-loss at the same open 9.4 (taker 0.002 x 9.4 x 2 = 0.0376): never at
    9.5, a price bar 1 did not trade (which would be a stop-loss that made money)."""
    data = toy_bars([10, 9.4, 9.4], highs=[10.1, 9.45, 9.5], lows=[9.9, 9.3, 9.3], closes=[10, 9.4, 9.4])
    res = run_backtest(bracket_at_bar0(stop_loss=9.5, take_profit=11.0), {}, data, FEES)
    assert fills(res) == [(at(1), "BUY", 9.4, 2.0, pytest.approx(0.0376)),
                          (at(1), "SELL", 9.4, 2.0, pytest.approx(0.0376))]
