"""Brackets on trade prints (issue 20, item 6: "the stop-loss is assumed first unless tick data says otherwise"):
with ``--ticks`` every print is checked in turn, so the leg the market reached first fills, where the same prints
as one-minute bars leave the bar conventions to assume the stop-loss. Hand-made prints; taker 0.2 %, maker 0.05 %."""
from __future__ import annotations

import numpy as np
import pytest

from app.api import Strategy
from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.data.bar_files import TradeData, trades_to_bars
from tests.kit.series import MINUTE, T0

FEES = BacktestConfig(fee=0.002, maker_fee=0.0005)


class Bracketing(Strategy):
    """Buys 2 with a stop-loss at 9.5 and a take-profit at 11.0 at the first bar's close (a market order)."""

    name = "bracketing"
    api_version = "1.2"

    def on_start(self) -> None:
        self.sent = False

    def on_bar(self, bar) -> None:
        if not self.sent:
            self.buy(2.0, stop_loss=9.5, take_profit=11.0)
            self.sent = True


def prints(minute_prices: list[list[float]]) -> TradeData:
    """Prints, each minute's a second apart from its start."""
    ts, px = [], []
    for m, prices in enumerate(minute_prices):
        for k, p in enumerate(prices):
            ts.append(T0 + m * MINUTE + k * 1_000)
            px.append(p)
    return TradeData(np.asarray(ts, dtype=np.int64), np.asarray(px, dtype=float), np.ones(len(px)), "TOY")


def sells(result) -> list[tuple]:
    return [(f["time"], f["price"], f["qty"], f["fee"]) for f in result.fills if f["side"] == "SELL"]


def test_the_leg_the_prints_reach_first_fills_where_bars_assume_the_stop_loss():
    """Minute 1: the entry fills at 10.0, the market trades up to the take-profit 11.0 (filled, maker 0.0005 x 11 x
    2 = 0.011), then down through the stop-loss 9.5 (canceled by then). The same prints as a one-minute bar reach
    both legs, and the bar conventions assume the stop-loss (9.5, taker 0.038)."""
    t = prints([[10.0, 10.0], [10.0, 10.6, 11.0, 10.2, 9.3, 9.8], [9.8]])
    on_prints = run_backtest(Bracketing, {}, t, FEES, MINUTE)
    assert sells(on_prints) == [(T0 + MINUTE + 2_000, 11.0, 2.0, pytest.approx(0.011))]
    on_bars = run_backtest(Bracketing, {}, trades_to_bars(t, MINUTE), FEES)
    assert sells(on_bars) == [(T0 + MINUTE, 9.5, 2.0, pytest.approx(0.038))]


def test_when_the_prints_reach_the_stop_loss_first_it_fills_and_the_take_profit_does_not():
    t = prints([[10.0, 10.0], [10.0, 9.7, 9.5, 10.4, 11.2], [11.2]])
    assert sells(run_backtest(Bracketing, {}, t, FEES, MINUTE)) == [(T0 + MINUTE + 2_000, 9.5, 2.0, pytest.approx(0.038))]
