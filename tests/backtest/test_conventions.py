"""The backtester's documented conventions on series small enough to check by hand (the real engine: bus,
risk gate, OMS on a scratch SQLite file, portfolio, strategy host), and its answers to bad input."""
from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from app.api import OrderDenied, OrderFilled, Strategy
from app.engine.backtest.engine import BacktestError, run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.data.bar_files import DataError, load_bars
from tests.kit.series import MINUTE, T0, toy_bars, toy_trades

OPENS = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
CLOSES = [10.5, 11.5, 12.5, 13.5, 14.5, 15.5]


def scripted(on_bar: dict | None = None, on_tick: dict | None = None):
    """A strategy class that sends ``(side, qty, limit price or None)`` orders from ``on_bar`` of bar i
    (``on_bar[i]``) or from the opening tick of bar i / trade print i (``on_tick[i]``), and records what
    it is told."""

    class Scripted(Strategy):
        name = "scripted"
        seen: dict = {}

        def on_start(self) -> None:
            self.bars = self.ticks = 0
            Scripted.seen = {"fills": [], "denials": [], "cash_after_fill": [], "tick_times": []}

        def _send(self, orders) -> None:
            for side, qty, price in orders:
                (self.buy if side == "buy" else self.sell)(qty, price)

        def on_tick(self, tick) -> None:
            Scripted.seen["tick_times"].append(tick.ts)
            self._send((on_tick or {}).get(self.ticks, ()))
            self.ticks += 1

        def on_bar(self, bar) -> None:
            self._send((on_bar or {}).get(self.bars, ()))
            self.bars += 1

        def on_fill(self, fill: OrderFilled) -> None:
            Scripted.seen["fills"].append(fill)
            Scripted.seen["cash_after_fill"].append(self.cash)

        def on_order(self, event) -> None:
            if isinstance(event, OrderDenied):
                Scripted.seen["denials"].append(event)

    return Scripted


def fills(result) -> list[tuple]:
    return [(f["time"], f["side"], f["price"], f["qty"]) for f in result.fills]


def at(i: int) -> int:
    """Open time of toy bar i."""
    return T0 + i * MINUTE


# ------------------------------------------------------------------------------------------- market orders
def test_market_order_sent_in_on_bar_fills_at_the_next_open():
    data = toy_bars(OPENS, closes=CLOSES)
    res = run_backtest(scripted(on_bar={1: [("buy", 2.0, None)]}), {}, data, BacktestConfig(fee=0.001))
    assert fills(res) == [(at(2), "BUY", 12.0, 2.0)]  # bar 1 closes at 11.5; bar 2 opens at 12
    assert res.fills[0]["fee"] == pytest.approx(0.001 * 12.0 * 2.0, abs=1e-15)
    assert res.orders[0]["time"] == at(2) and res.orders[0]["step"] == 3  # sent at bar 1's close


def test_market_order_from_the_opening_tick_fills_at_that_open():
    data = toy_bars(OPENS, closes=CLOSES)
    res = run_backtest(scripted(on_tick={3: [("buy", 1.0, None)]}), {}, data)
    assert fills(res) == [(at(3), "BUY", 13.0, 1.0)]
    assert res.orders[0]["step"] == 6  # bar 3's opening print


# -------------------------------------------------------------------------------------------- limit orders
def test_buy_limit_fills_at_its_price_when_a_later_range_reaches_it_with_the_maker_fee():
    data = toy_bars([10, 10, 10, 10], highs=[10.2] * 4, lows=[9.9, 9.9, 9.5, 9.9], closes=[10, 10, 10, 10])
    res = run_backtest(scripted(on_bar={0: [("buy", 1.0, 9.6)]}), {}, data,
                       BacktestConfig(fee=0.002, maker_fee=0.0005))
    assert fills(res) == [(at(2), "BUY", 9.6, 1.0)]  # bar 1's low 9.9 does not reach it; bar 2's 9.5 does
    assert res.fills[0]["fee"] == pytest.approx(9.6 * 0.0005, abs=1e-15)


def test_sell_limit_fills_at_its_price_when_the_high_reaches_it():
    data = toy_bars([10, 10, 10, 10], highs=[10.1, 10.3, 10.5, 10.1], lows=[9.9] * 4, closes=[10] * 4)
    res = run_backtest(scripted(on_bar={0: [("buy", 1.0, None), ("sell", 1.0, 10.4)]}), {}, data,
                       BacktestConfig(fee=0.0))
    assert fills(res) == [(at(1), "BUY", 10.0, 1.0), (at(2), "SELL", 10.4, 1.0)]


def test_a_bar_opening_through_a_buy_limit_fills_it_at_the_open():
    data = toy_bars([10, 9.5, 10], closes=[10, 10, 10])  # a gap down through 9.8
    res = run_backtest(scripted(on_bar={0: [("buy", 1.0, 9.8)]}), {}, data, BacktestConfig(fee=0.0))
    assert fills(res) == [(at(1), "BUY", 9.5, 1.0)]  # the open, better than the limit


def test_a_bar_opening_through_a_sell_limit_fills_it_at_the_open():
    data = toy_bars([10, 10, 10.6, 10], closes=[10, 10, 10, 10])  # a gap up through 10.2
    res = run_backtest(scripted(on_bar={0: [("buy", 1.0, None)], 1: [("sell", 1.0, 10.2)]}), {}, data,
                       BacktestConfig(fee=0.0))
    assert fills(res) == [(at(1), "BUY", 10.0, 1.0), (at(2), "SELL", 10.6, 1.0)]


# --------------------------------------------------------------------------------- latency and slippage
@pytest.mark.parametrize("latency_ms,fill_bar", [(0, 1), (30_000, 2), (60_000, 2), (90_000, 3)])
def test_latency_delays_a_fill_to_the_first_bar_opening_at_or_after_arrival(latency_ms, fill_bar):
    """Sent at bar 0's close (T0 + 60 s); bar k opens at T0 + 60k s."""
    data = toy_bars(OPENS, closes=CLOSES)
    res = run_backtest(scripted(on_bar={0: [("buy", 1.0, None)]}), {}, data,
                       BacktestConfig(latency_ms=latency_ms))
    assert fills(res) == [(at(fill_bar), "BUY", OPENS[fill_bar], 1.0)]


def test_slippage_moves_market_fills_against_the_order_and_fees_follow_the_fill_price():
    data = toy_bars(OPENS, closes=CLOSES)
    res = run_backtest(scripted(on_bar={1: [("buy", 2.0, None)], 3: [("sell", 2.0, None)]}), {}, data,
                       BacktestConfig(fee=0.001, slippage_bps=50))
    assert [f[:3] for f in fills(res)] == [(at(2), "BUY", pytest.approx(12.0 * 1.005, rel=1e-15)),
                                           (at(4), "SELL", pytest.approx(14.0 * 0.995, rel=1e-15))]
    assert res.fills[0]["fee"] == pytest.approx(12.06 * 2 * 0.001, rel=1e-12)
    assert res.trades[0]["pnl"] == pytest.approx((13.93 - 12.06) * 2 - (12.06 + 13.93) * 2 * 0.001, rel=1e-12)


# ---------------------------------------------------------------------------------------- cash and equity
def test_fees_come_out_of_cash_and_equity_marks_the_position_at_each_close():
    data = toy_bars(OPENS, closes=CLOSES)
    strategy = scripted(on_bar={1: [("buy", 2.0, None)]})
    res = run_backtest(strategy, {}, data, BacktestConfig(cash=10_000.0, fee=0.001))
    cash = 10_000.0 - 2 * 12.0 - 0.024
    assert strategy.seen["cash_after_fill"] == [pytest.approx(cash, abs=1e-9)]
    want = [10_000.0, 10_000.0] + [cash + 2 * c for c in CLOSES[2:]]
    assert res.equity.tolist() == pytest.approx(want, abs=1e-9)
    assert res.equity_final == pytest.approx(cash + 2 * 15.5, abs=1e-9)  # still long: the last close
    assert res.trades == []  # nothing closed


def test_round_trips_and_statistics_by_hand():
    """cash 1000, no fees. Buy 50 at 10, sell at 11 (+50); buy 100 at 10, sell at 9 (-100); buy 50 at 10 and
    hold to the end (last close 12)."""
    opens = [10, 10, 12, 11, 10, 9, 10, 11]
    closes = [10, 11, 12, 10, 9, 10, 11, 12]
    data = toy_bars(opens, closes=closes)
    script = {0: [("buy", 50.0, None)], 2: [("sell", 50.0, None)], 3: [("buy", 100.0, None)],
              4: [("sell", 100.0, None)], 5: [("buy", 50.0, None)]}
    res = run_backtest(scripted(on_bar=script), {}, data, BacktestConfig(cash=1000.0, fee=0.0))

    assert res.trades == [
        {"entry_time": at(1), "exit_time": at(3), "side": "long", "qty": 50.0, "entry_price": 10.0,
         "exit_price": 11.0, "pnl": 50.0, "fees": 0.0},
        {"entry_time": at(4), "exit_time": at(5), "side": "long", "qty": 100.0, "entry_price": 10.0,
         "exit_price": 9.0, "pnl": -100.0, "fees": 0.0},
    ]
    # equity at each close: flat 1000; long 50 from 10 (cash 500); flat 1050; long 100 (cash 50); flat 950;
    # long 50 (cash 450)
    equity = [1000, 500 + 50 * 11, 500 + 50 * 12, 1050, 50 + 100 * 9, 950, 450 + 50 * 11, 450 + 50 * 12]
    assert res.equity.tolist() == equity
    s = res.stats
    assert res.equity_final == 1050.0 and s["total_return"] == pytest.approx(0.05, abs=1e-15)
    assert s["max_drawdown"] == pytest.approx(150 / 1100, abs=1e-15)  # peak 1100 (bar 2) -> 950
    assert s["max_drawdown_bars"] == 5  # bars 3..7 under the 1100 peak
    assert s["max_drawdown_duration_ms"] == 5 * MINUTE
    assert s["trades"] == 2 and s["win_rate"] == 0.5
    assert s["profit_factor"] == pytest.approx(50 / 100, abs=1e-15)
    assert s["expectancy"] == pytest.approx(-25.0, abs=1e-12)
    assert s["exposure"] == 5 / 8  # bars 1, 2, 4, 6, 7 end long
    rets = np.array(equity, dtype=float) / np.r_[1000.0, equity[:-1]] - 1
    per_year = 365 * 24 * 60  # one-minute bars
    assert s["sharpe"] == pytest.approx(rets.mean() / rets.std(ddof=1) * math.sqrt(per_year), rel=1e-12)
    assert s["sortino"] == pytest.approx(rets.mean() / math.sqrt(np.mean(np.minimum(rets, 0) ** 2))
                                         * math.sqrt(per_year), rel=1e-12)
    # +5% in 8 minutes compounds past a float: reported as infinite, not a crash (OverflowError before)
    assert s["annual_return"] == math.inf and s["calmar"] == math.inf


def test_pnl_is_net_of_both_legs_fees():
    data = toy_bars(OPENS, closes=CLOSES)
    res = run_backtest(scripted(on_bar={0: [("buy", 3.0, None)], 2: [("sell", 3.0, None)]}), {}, data,
                       BacktestConfig(cash=1000.0, fee=0.001))
    (t,) = res.trades
    fees = 0.001 * 3 * (11.0 + 13.0)
    assert t["fees"] == pytest.approx(fees, rel=1e-12)
    assert t["pnl"] == pytest.approx(3 * (13.0 - 11.0) - fees, rel=1e-12)
    assert res.equity_final == pytest.approx(1000.0 + t["pnl"], rel=1e-12)
    assert res.stats["fees"] == pytest.approx(fees, rel=1e-12)


def test_a_short_round_trip_and_a_flip():
    data = toy_bars([10, 10, 8, 9, 12, 12], closes=[10, 10, 8, 9, 12, 12])
    script = {0: [("sell", 2.0, None)], 2: [("buy", 3.0, None)], 3: [("sell", 1.0, None)]}
    res = run_backtest(scripted(on_bar=script), {}, data, BacktestConfig(cash=1000.0, fee=0.0))
    # short 2 at 10, buy 3 at 9: closes the short (+2) and opens a long of 1 at 9, sold at 12 (+3)
    assert [(t["side"], t["qty"], t["entry_price"], t["exit_price"], t["pnl"]) for t in res.trades] == [
        ("short", 2.0, 10.0, 9.0, 2.0), ("long", 1.0, 9.0, 12.0, 3.0)]
    assert res.equity_final == 1005.0


# --------------------------------------------------------------------------------------------- tick mode
def test_tick_mode_fills_a_market_order_at_the_next_print():
    # prints at 0, 10, 20 s (bar 0), 70, 80 s (bar 1), 130 s (bar 2)
    data = toy_trades([0, 10_000, 20_000, 70_000, 80_000, 130_000], [10, 11, 12, 13, 14, 15])
    strategy = scripted(on_tick={1: [("buy", 1.0, None)]}, on_bar={0: [("sell", 1.0, None)]})
    res = run_backtest(strategy, {}, data, BacktestConfig(fee=0.0), timeframe_ms=MINUTE)
    # bought at print 1 (11) -> filled at print 2 (12); bar 0 closes when print 3 arrives, its sell fills at
    # print 3 (13)
    assert fills(res) == [(T0 + 20_000, "BUY", 12.0, 1.0), (T0 + 70_000, "SELL", 13.0, 1.0)]
    assert strategy.seen["tick_times"] == [T0 + t for t in (0, 10_000, 20_000, 70_000, 80_000, 130_000)]
    assert res.stats["bars"] == 3 and res.trades[0]["pnl"] == 1.0


def test_tick_mode_limit_fills_at_its_price_when_a_later_print_reaches_it():
    data = toy_trades([0, 10_000, 20_000, 30_000], [10.0, 10.2, 9.7, 9.9])
    res = run_backtest(scripted(on_tick={0: [("buy", 1.0, 9.8)]}), {}, data, BacktestConfig(fee=0.0),
                       timeframe_ms=MINUTE)
    assert fills(res) == [(T0 + 20_000, "BUY", 9.7, 1.0)]  # a print through the limit: that print's price


# ---------------------------------------------------------------------------------------------- risk gate
def test_the_risk_gate_denies_a_buy_larger_than_equity():
    data = toy_bars(OPENS, closes=CLOSES)
    strategy = scripted(on_bar={1: [("buy", 2000.0, None)]})  # 2000 x 11.5 = 23,000 against 10,000 equity
    res = run_backtest(strategy, {}, data, BacktestConfig(cash=10_000.0))
    assert res.fills == [] and res.stats["orders_denied"] == 1
    assert [d["reason"] for d in res.denials] == ["GROSS_EXPOSURE"]
    assert [d.reason for d in strategy.seen["denials"]] == ["GROSS_EXPOSURE"]  # the strategy is told
    assert res.equity_final == 10_000.0


def test_a_risk_halt_stops_the_strategy_and_the_result_says_so():
    """The fill-rate kill (K4, 50 fills a minute by default) trips on one-second bars; the backtest ends the
    strategy there instead of faulting it."""
    data = toy_bars([100.0] * 120, step_ms=1000)
    flip = {i: [("buy" if i % 2 == 0 else "sell", 1.0, None)] for i in range(120)}
    res = run_backtest(scripted(on_bar=flip), {}, data, BacktestConfig(fee=0.0))
    assert len(res.fills) == 51
    assert "51 fills in 60 s" in res.stats["stopped_early"]


# --------------------------------------------------------------------------------------- faults and input
class RaisesInOnBar(Strategy):
    name = "raises"

    def on_bar(self, bar) -> None:
        if bar.ts >= T0 + 2 * MINUTE:
            raise ZeroDivisionError("bad math in the plugin")


class RaisesInOnTick(Strategy):
    """Raises at an opening tick; its on_bar would then try to trade."""

    name = "raises_tick"

    def on_tick(self, tick) -> None:
        if tick.ts >= T0 + 2 * MINUTE:
            raise KeyError("missing key")

    def on_bar(self, bar) -> None:
        self.buy(1.0)


def test_a_strategy_raising_in_on_bar_fails_the_backtest_with_the_reason():
    with pytest.raises(BacktestError, match=r"on_bar raised ZeroDivisionError: bad math in the plugin"):
        run_backtest(RaisesInOnBar, {}, toy_bars(OPENS, closes=CLOSES))


def test_a_strategy_raising_in_on_tick_reports_that_reason_not_a_later_one():
    with pytest.raises(BacktestError, match=r"on_tick raised KeyError: 'missing key'"):
        run_backtest(RaisesInOnTick, {}, toy_bars(OPENS, closes=CLOSES))


def test_a_strategy_failing_to_start_fails_the_backtest():
    class NoStart(Strategy):
        name = "nostart"

        def on_start(self) -> None:
            self.indicator("no_such_indicator")

    with pytest.raises(BacktestError, match=r"failed to start: on_start raised ValueError: unknown indic"):
        run_backtest(NoStart, {}, toy_bars(OPENS, closes=CLOSES))


GOOD = ["timestamp,open,high,low,close,volume"] + [
    f"{T0 + i * MINUTE},{10 + i},{11 + i},{9 + i},{10.5 + i},5" for i in range(5)]


def write(tmp_path: Path, lines: list[str], gz: bool = False) -> Path:
    path = tmp_path / ("bars.csv.gz" if gz else "bars.csv")
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path):
    data = load_bars(write(tmp_path, GOOD, gz=True))
    assert len(data) == 5 and data.timeframe_ms == MINUTE
    assert data.close.tolist() == [10.5, 11.5, 12.5, 13.5, 14.5]
    assert data.symbol == "bars"


def edit(row: int, col: str, value: str) -> list[str]:
    lines = list(GOOD)
    cells = lines[row].split(",")
    cells[GOOD[0].split(",").index(col)] = value
    lines[row] = ",".join(cells)
    return lines


@pytest.mark.parametrize("lines,message", [
    ([GOOD[0].replace(",volume", "")] + [ln.rsplit(",", 1)[0] for ln in GOOD[1:]],
     r"missing column\(s\) volume"),
    (edit(3, "close", "abc"), r"column 'close' has a missing or non-numeric value at data row 3 \('abc'\)"),
    (edit(2, "open", ""), r"column 'open' has a missing or non-numeric value at data row 2"),
    (GOOD[:3] + [GOOD[4], GOOD[3]] + GOOD[5:], r"timestamps must strictly increase; data row 4 .* row 3"),
    (GOOD[:3] + [GOOD[2]] + GOOD[3:], r"timestamps must strictly increase; data row 3"),
    (edit(2, "high", "9.5"), r"data row 2 is not a valid bar .*high must be >= open/close >= low > 0"),
    (edit(4, "low", "-1"), r"data row 4 is not a valid bar"),
    (edit(1, "timestamp", "1700000000"), r"column 'timestamp' mix units: data row 1 \(1700000000\) reads as "
                                         r"epoch seconds, data row 2 .* as epoch milliseconds"),
    (GOOD[:2], r"at least 2 bars are needed, got 1"),
])
def test_malformed_files_raise_data_error_naming_the_row_and_column(tmp_path, lines, message):
    with pytest.raises(DataError, match=message):
        load_bars(write(tmp_path, lines))


def test_missing_and_unreadable_files_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_bars(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="not a readable CSV file"):
        load_bars(bad)
