"""The look-ahead check (``check_strategy_lookahead``): a strategy that uses bars it has not been shown yet acts
differently when the data is cut short, and is reported; SMA cross, which only looks back, is clean."""
from __future__ import annotations

import numpy as np
import pytest

from app.api import Strategy
from app.engine.backtest.lookahead import check_strategy_lookahead
from app.engine.data.bar_files import load_trades
from plugins.sma_cross import SmaCross
from tests.kit.data import recorded

FUTURE: dict[str, np.ndarray] = {}  # the peeking strategies' copy of the closes (prices for ticks)


class PeeksAtNextClose(Strategy):
    """Long while the *next* close is higher: reads its own module-level copy of the closes at t + 1."""

    name = "peeks_next_close"

    def on_start(self) -> None:
        self.t = -1

    def on_bar(self, bar) -> None:
        self.t += 1
        closes = FUTURE["close"]
        if self.t + 1 >= len(closes):  # no next bar: does nothing (a careful cheat never crashes)
            return
        up = closes[self.t + 1] > bar.close
        pos = self.position()
        if up and pos == 0.0:
            self.buy(self.cash / (bar.close * 1.01))
        elif not up and pos > 0.0:
            self.sell(pos)


class PeeksAtNextPrint(Strategy):
    """The same cheat on trade prints: at each bar's close, long while the next print is higher."""

    name = "peeks_next_print"

    def on_start(self) -> None:
        self.i = -1  # the last print seen

    def on_tick(self, tick) -> None:
        self.i += 1

    def on_bar(self, bar) -> None:
        prices = FUTURE["close"]
        if self.i + 1 >= len(prices):
            return
        up = prices[self.i + 1] > bar.close
        pos = self.position()
        if up and pos == 0.0:
            self.buy(1000.0)
        elif not up and pos > 0.0:
            self.sell(pos)


class BarMomentum(Strategy):
    """Honest: long after a bar that closed above its open, flat after one that closed below. It acts in
    on_bar, so a cut through the middle of a bar (a different, shorter last bar) would look like a peek."""

    name = "bar_momentum"

    def on_bar(self, bar) -> None:
        pos = self.position()
        if bar.close > bar.open and pos == 0.0:
            self.buy(1000.0)
        elif bar.close < bar.open and pos > 0.0:
            self.sell(pos)


class PeekingSignals(SmaCross):
    """SMA cross whose vectorised form (what sweeps run) compares each close with the next one."""

    name = "peeking_signals"

    @classmethod
    def signals(cls, data, fast, slow, **_):
        close = data["close"]
        nxt = np.r_[close[1:], np.nan]
        with np.errstate(invalid="ignore"):
            return nxt > close, nxt < close


def point_at(data) -> None:
    FUTURE["close"] = data.close if hasattr(data, "close") else data.price


@pytest.fixture(scope="module")
def xrp(recorded_bars):
    return recorded_bars["XRP-ETH-1m.csv.gz"]


@pytest.mark.parametrize("params", [{"fast": 10, "slow": 30}, {"fast": 3, "slow": 10}])
def test_sma_cross_is_clean(xrp, params):
    assert check_strategy_lookahead(SmaCross, params, xrp) == []


def test_a_strategy_reading_the_next_close_is_caught(xrp):
    problems = check_strategy_lookahead(PeeksAtNextClose, {}, xrp, prepare=point_at)
    assert len(problems) >= 3, problems  # 6 cuts: it acts at the last bar before most of them
    assert all(p.startswith("cut after bar ") for p in problems)
    assert "orders before the cut" in problems[0] or "differs" in problems[0]


def test_peeking_is_only_visible_through_the_runs_data(xrp):
    """Without ``prepare`` the cheat reads the full copy in every run and no replay can tell: the
    documented limit (the check sees future data that reaches the strategy through the run's data)."""
    point_at(xrp)
    assert check_strategy_lookahead(PeeksAtNextClose, {}, xrp) == []


def test_a_vectorised_signals_form_that_peeks_is_caught(xrp):
    problems = check_strategy_lookahead(PeekingSignals, {"fast": 10, "slow": 30}, xrp)
    assert problems and all("signals() at bar" in p for p in problems), problems
    assert f"differ when the data ends at bar {int(0.2 * len(xrp))}" in problems[0]


def test_tick_data_cuts_fall_between_bars_so_sma_cross_stays_clean_and_a_peek_is_caught():
    trades = load_trades(recorded("XRP-ETH-trades.csv.gz"))
    assert check_strategy_lookahead(SmaCross, {"fast": 5, "slow": 20}, trades, timeframe_ms=60_000) == []
    assert check_strategy_lookahead(BarMomentum, {}, trades, timeframe_ms=60_000) == []
    problems = check_strategy_lookahead(PeeksAtNextPrint, {}, trades, timeframe_ms=60_000, prepare=point_at)
    assert problems and all(p.startswith("cut after print ") for p in problems), problems


def test_cuts_outside_the_data_are_refused(xrp):
    with pytest.raises(ValueError, match="no usable cut"):
        check_strategy_lookahead(SmaCross, {}, xrp, cuts=(0, 1, len(xrp), 10 * len(xrp)))


# ------------------------------------------------------------------------------------------------- news
def test_news_features_use_only_items_that_had_arrived_by_each_close_and_published_times_would_leak(xrp):
    """``check_news_lookahead`` recomputes the features with the items the terminal held at a bar's close
    (arrived by then) and compares with all items. Keyed by arrival time the news features are clean; keyed
    by the sources' published time (back-dated: published before a close, arrived after it) they are caught."""
    from app.engine.ml.features import FeatureSpec, parse_news_features
    from app.engine.ml.news_kernels import NewsSeries
    from app.engine.ml.splits import LeakError, check_news_lookahead

    bars = xrp.slice(0, 400)
    close = bars.ts + bars.timeframe_ms
    rng = np.random.default_rng(3)
    arrived = np.sort(rng.integers(int(bars.ts[0]), int(close[-1]), 300))
    published = arrived - rng.integers(0, 20 * bars.timeframe_ms, 300)  # the feed back-dates by up to 20 bars
    score = np.tanh(rng.standard_normal(300))
    spec = FeatureSpec(tuple(parse_news_features("news.sentiment:30m,news.count:30m,news.surprise:30m:4")))

    def stored(t_ms: int) -> dict[str, np.ndarray]:
        known = arrived <= t_ms  # what the news store held at t
        return {"arrived_ms": arrived[known], "published_ms": published[known], "score": score[known]}

    def compute(items: NewsSeries):
        return spec.compute(bars, news=items)

    def by_arrival(t_ms: int) -> NewsSeries:
        return NewsSeries(stored(t_ms)["arrived_ms"], stored(t_ms)["score"])

    def by_published(t_ms: int) -> NewsSeries:
        return NewsSeries(stored(t_ms)["published_ms"], stored(t_ms)["score"])

    check_news_lookahead(compute, close, by_arrival, spec.names)  # clean
    with pytest.raises(LeakError, match="looks ahead: its value at bar .* news that arrived after bar"):
        check_news_lookahead(compute, close, by_published, spec.names)
