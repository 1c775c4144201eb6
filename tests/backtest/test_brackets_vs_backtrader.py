"""Brackets on the recorded candles: Kestrel's event-driven backtest (a plugin sending ``buy(qty, stop_loss=,
take_profit=)`` and ``close_position()``, the real engine) against backtrader's ``buy_bracket``
(tests/backtest/oracles.py), trading the same SMA cross.

The rule: on a cross-up at bar t's close, when flat, buy a fixed quantity at bar t+1's open with a stop-loss at
close_t x (1 - s) and a take-profit at close_t x (1 + p); on a cross-down, when long, close at bar t+1's open (the
children end). With a fixed quantity the two runs stay in step after a difference: each entry needs a new cross-up,
and each cross-down leaves both flat. So every trade's entry is the same, and every exit is the same except where
the documented conventions (docs/STRATEGIES.md, "Brackets in backtests") differ from backtrader's:

(a) Kestrel closed the trade inside its entry bar, at the child that bar's range reached (the stop-loss when the low
    reached it, else the take-profit): Kestrel arms a market entry's children for the bar it filled at the open of,
    backtrader from the next bar, so backtrader's exit is later (or the trade is still open at the end). Some of
    these ("a open" in the printed counts) entered at an open already through a child (a gap from the signal bar's
    close): Kestrel fills that child at that open, as any stop or limit the open trades through, never at its own
    price, which the bar may not have traded. Every exit is inside its bar's range.
(b) A later bar opened through the take-profit and its range also reached the stop-loss: Kestrel fills the
    take-profit at the open, backtrader (which tries the stop child first, over the whole bar) the stop-loss at its
    trigger; same bar, and the pnl differs by qty x (open - stop-loss) x (1 - fee).

Any other disagreement fails. ``EXPECTED`` records how many trades fell where, per file and setting.

Tolerances: entry time, exit time and quantity exact; prices 1e-12 relative; pnl 1e-9 of the entry's notional.
"""
from __future__ import annotations

import collections

import pytest

from app.api import Param, Strategy
from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from plugins.sma_cross import SmaCross
from tests.backtest import oracles

FEE, CASH = 0.001, 10_000.0
FAST, SLOW = 5, 20  # crosses the float SMAs of backtrader and Kestrel's exact tie-break agree on (test_vs_oracles)


class SmaBracket(SmaCross):
    """The bundled SMA cross's crosses, traded with a bracket of a fixed quantity, acting at the bar's close."""

    name = "sma_bracket"
    qty = Param(1.0, lo=0.0, doc="the quantity of every entry")
    stop = Param(0.005, lo=0.0, hi=1.0, doc="the stop-loss this fraction below the signal bar's close")
    take = Param(0.005, lo=0.0, doc="the take-profit this fraction above the signal bar's close")
    on_tick = Strategy.on_tick  # nothing to do at the open: every order goes from on_bar

    def on_bar(self, bar) -> None:  # noqa: ANN001
        super().on_bar(bar)
        signal, self.state["pending"] = self.state["pending"], ""
        if signal == "buy" and not self.position():
            self.buy(self.p.qty, stop_loss=bar.close * (1.0 - self.p.stop),
                     take_profit=bar.close * (1.0 + self.p.take))
        elif signal == "sell" and self.position():
            self.close_position()


# (file, stop, take) -> (trades compared, agreed, (a), (b)); the narrower settings are where (b) happens
EXPECTED = {
    ("ETH-BTC-5m.csv.gz", 0.005, 0.005): (206, 139, 67, 0),
    ("ETH-BTC-5m.csv.gz", 0.002, 0.002): (206, 39, 166, 1),
    ("UNITTEST-BTC-1m.csv.gz", 0.005, 0.005): (479, 313, 166, 0),
    ("UNITTEST-BTC-1m.csv.gz", 0.001, 0.001): (479, 118, 359, 2),
}


def close_rel(a: float, b: float, rel: float = 1e-12) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


def exits_by_kind(res) -> list[str]:
    """How Kestrel closed each closed trade: "stop", "limit" (the take-profit) or "close" (the signal)."""
    types = {o["client_order_id"]: o["type"] for o in res.orders}
    kind = {"STOP": "stop", "LIMIT": "limit", "MARKET": "close"}
    sells = [f for f in res.fills if f["side"] == "SELL"]
    return [kind[types[f["client_order_id"]]] for f in sells]


def compare(data, res, theirs: list[dict], stop: float, take: float) -> collections.Counter:
    """Pairs Kestrel's trades with backtrader's and sorts each into agreed, (a) or (b), asserting what each means;
    anything else fails."""
    ours = res.trades
    row = {int(t): i for i, t in enumerate(data.ts)}
    kinds = exits_by_kind(res)
    assert len(kinds) == len(ours)
    if theirs and theirs[-1]["exit_time"] is None and len(ours) == len(theirs) - 1:  # both still long at the end
        last = res.fills[-1]
        assert (last["side"], last["time"], last["qty"]) == ("BUY", theirs[-1]["entry_time"], theirs[-1]["qty"])
        assert close_rel(last["price"], theirs[-1]["entry_price"])
        theirs = theirs[:-1]
    assert len(ours) == len(theirs), f"backtrader made {len(theirs)} trades, Kestrel {len(ours)}"
    seen = collections.Counter(compared=len(ours))
    for k, (a, b) in enumerate(zip(ours, theirs)):
        where = f"trade #{k} entered {a['entry_time']}"
        assert (a["entry_time"], a["qty"]) == (b["entry_time"], b["qty"]), where
        assert close_rel(a["entry_price"], b["entry_price"]), (where, a["entry_price"], b["entry_price"])
        i = row[a["entry_time"]]
        sl, tp = data.close[i - 1] * (1.0 - stop), data.close[i - 1] * (1.0 + take)  # from the signal bar's close
        notional = a["qty"] * a["entry_price"]
        seen[kinds[k]] += 1
        if a["exit_time"] == b["exit_time"] and close_rel(a["exit_price"], b["exit_price"]):
            assert kinds[k] == b["exit"], (where, kinds[k], b["exit"])
            assert abs(a["pnl"] - b["pnl"]) <= 1e-9 * notional, (where, a["pnl"], b["pnl"])
            seen["agreed"] += 1
        elif a["exit_time"] == a["entry_time"]:  # (a): inside the entry bar, at the child its range reached
            assert b["exit_time"] is None or b["exit_time"] > a["exit_time"], where
            low_reached = data.low[i] <= sl
            assert low_reached or data.high[i] >= tp, where
            gapped = data.open[i] <= sl or data.open[i] >= tp  # the entry's open already through a child: it
            by_stop = data.open[i] <= sl if gapped else low_reached  # fills at that open, else the stop-loss first
            assert kinds[k] == ("stop" if by_stop else "limit"), (where, kinds[k])
            want = data.open[i] if gapped else sl if low_reached else tp
            assert close_rel(a["exit_price"], want), (where, a["exit_price"], want, sl, tp)
            assert data.low[i] * (1 - 1e-12) <= a["exit_price"] <= data.high[i] * (1 + 1e-12), where  # traded
            seen["a"] += 1
            seen["a open"] += gapped
        else:  # (b): the same later bar, opened through the take-profit, its range reaching the stop-loss
            j = row[a["exit_time"]]
            assert a["exit_time"] == b["exit_time"] and j > i, (where, a["exit_time"], b["exit_time"])
            assert data.open[j] >= tp and data.low[j] <= sl, (where, data.open[j], data.low[j], sl, tp)
            assert (kinds[k], b["exit"]) == ("limit", "stop"), (where, kinds[k], b["exit"])
            assert close_rel(a["exit_price"], data.open[j]) and close_rel(b["exit_price"], sl), where
            gain = a["qty"] * (data.open[j] - sl) * (1.0 - FEE)
            assert abs(a["pnl"] - b["pnl"] - gain) <= 1e-9 * notional, (where, a["pnl"] - b["pnl"], gain)
            seen["b"] += 1
    return seen


def marked(final: float, trades: list[dict], data, open_trade: dict | None) -> float:
    """``final`` less the closed trades' pnl and an open position's value at the last close (its entry fee paid):
    what is left must be the starting cash."""
    rest = final - sum(t["pnl"] for t in trades)
    if open_trade is not None:
        q, e = open_trade["qty"], open_trade["entry_price"]
        rest -= q * (data.close[-1] - e) - FEE * q * e
    return rest


CASES = list(EXPECTED)


@pytest.mark.parametrize("name,stop,take", CASES, ids=[f"{n.split('.')[0]}-{s}-{p}" for n, s, p in CASES])
def test_brackets_agree_with_backtrader_but_for_the_listed_differences(name, stop, take, recorded_bars):
    pytest.importorskip("backtrader")
    data = recorded_bars[name]
    qty = float(int(CASH / 2 / data.open.max()))  # a fixed quantity the cash always covers
    res = run_backtest(SmaBracket, {"fast": FAST, "slow": SLOW, "qty": qty, "stop": stop, "take": take}, data,
                       BacktestConfig(cash=CASH, fee=FEE))
    assert not res.denials, res.denials[:3]
    theirs, final = oracles.backtrader_sma_bracket(data, FAST, SLOW, qty, stop, take, FEE, CASH)

    seen = compare(data, res, theirs, stop, take)
    print(f"{name} stop {stop} take {take}: {dict(seen)}")
    assert (seen["compared"], seen["agreed"], seen["a"], seen["b"]) == EXPECTED[name, stop, take], dict(seen)
    assert seen["stop"] >= 30 and seen["limit"] >= 30, f"too few exits by a child to compare anything: {seen}"

    open_theirs = theirs[-1] if theirs and theirs[-1]["exit_time"] is None else None
    open_ours = open_theirs if len(res.trades) < len(theirs) else None
    assert close_rel(marked(res.equity_final, res.trades, data, open_ours), CASH, 1e-10)
    assert close_rel(marked(final, [t for t in theirs if t["exit_time"] is not None], data, open_theirs), CASH,
                     1e-10)

