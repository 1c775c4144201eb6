"""sma_cross with its optional stop-loss and take-profit (plugin API 1.2: ``stop()``, ``sell(price=,
reduce_only=)``), on the recorded candles through the real backtest engine. Off (the default), it makes exactly the
trades it always made (the oracle tests compare those with backtrader and vectorbt); on, every position is closed
by the signal, by the stop at its trigger (at the open when a bar gaps through it), or by the take-profit at its
price, each where the bar conventions say, and sweeps with a stop do not take the vectorised path, which has none."""
from __future__ import annotations

import numpy as np
import pytest

from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.backtest.sweep import can_vectorise
from plugins.sma_cross import SmaCross
from tests.kit.data import BAR_FILES

FEE, CASH = 0.001, 10_000.0
NAME = BAR_FILES[0]


def run(bars, **params):
    return run_backtest(SmaCross, {"fast": 5, "slow": 20, **params}, bars, BacktestConfig(cash=CASH, fee=FEE))


def key(res) -> list[tuple]:
    return [(f["time"], f["side"], f["price"], f["qty"]) for f in res.fills]


def bar_of(bars, t: int) -> int:
    """The bar a fill at ``t`` happened in."""
    return int(np.searchsorted(bars.ts, t, side="right")) - 1


def test_protection_off_changes_nothing(recorded_bars):
    bars = recorded_bars[NAME]
    base = run(bars)
    off = run(bars, stop_loss_pct=0.0, take_profit_pct=0.0)
    assert key(off) == key(base) and off.equity_final == base.equity_final


def test_a_stop_loss_closes_positions_at_its_trigger_or_at_a_gapping_open(recorded_bars):
    bars = recorded_bars[NAME]
    pct = 0.5
    res = run(bars, stop_loss_pct=pct)
    assert not res.denials, res.denials[:3]
    types = {o["client_order_id"]: o["type"] for o in res.orders}
    stopped = 0
    for buy, sell in zip(res.fills[::2], res.fills[1::2]):
        assert buy["side"] == "BUY" and sell["side"] == "SELL" and sell["qty"] == pytest.approx(buy["qty"])
        if types[sell["client_order_id"]] != "STOP":
            continue  # the signal's exit
        stopped += 1
        trigger = buy["price"] * (1 - pct / 100)
        i = bar_of(bars, sell["time"])
        # at its trigger when the bar's range reached it, or at the open when the bar opened through it
        gapped = bars.open[i] <= trigger
        assert sell["price"] == pytest.approx(bars.open[i] if gapped else trigger, rel=1e-12)
        assert bars.low[i] <= trigger
    assert stopped >= 3, "the stop never closed a position: nothing was tested"
    assert res.equity_final != run(bars).equity_final


def test_a_take_profit_closes_positions_at_its_price(recorded_bars):
    bars = recorded_bars[NAME]
    pct = 0.3
    res = run(bars, take_profit_pct=pct)
    assert not res.denials, res.denials[:3]
    types = {o["client_order_id"]: o["type"] for o in res.orders}
    taken = 0
    for buy, sell in zip(res.fills[::2], res.fills[1::2]):
        if types[sell["client_order_id"]] != "LIMIT":
            continue
        taken += 1
        target = buy["price"] * (1 + pct / 100)
        i = bar_of(bars, sell["time"])
        assert sell["price"] == pytest.approx(max(target, bars.open[i]), rel=1e-12) and bars.high[i] >= target
    assert taken >= 3, "the take-profit never closed a position: nothing was tested"


def test_sweeps_with_a_stop_run_event_by_event():
    cfg = BacktestConfig(cash=CASH, fee=FEE)
    assert can_vectorise(SmaCross, cfg, [{"fast": 5, "slow": 20, "stop_loss_pct": 0.0, "take_profit_pct": 0.0}])
    assert not can_vectorise(SmaCross, cfg, [{"fast": 5, "slow": 20, "stop_loss_pct": 1.0, "take_profit_pct": 0.0}])
