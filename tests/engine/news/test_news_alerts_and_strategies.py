"""News for alerts and strategies: a keyword alert fires on a new item that mentions it, a sentiment alert when the
mean of a symbol's news crosses its level (and one set already across waits); Strategy.news()/sentiment() see
only what had arrived by the strategy's clock (issue 22, must-have 5)."""
from __future__ import annotations

import asyncio
import math

from app.engine.core.messages import AlertFired
from app.engine.news.reader import NewsReader
from app.engine.news.store import NewsItem
from tests.kit.kernel import BTC, kernel_with, set_rule


def arrive(k, *items: tuple[str, float, tuple]) -> None:
    """Items (title, score, symbols) arriving now, through the service's own storing path."""
    made = [NewsItem("desk", "news", t, url=f"https://n/{k.news_store.max_id() + i}", symbols=syms,
                     scores=(("lexicon", s),)) for i, (t, s, syms) in enumerate(items, 1)]
    asyncio.run(k.news.store_items(made, k.clock.now_ms()))


def test_a_keyword_alert_fires_on_an_item_that_mentions_it_about_its_symbol(make_kernel):
    k = kernel_with(make_kernel)
    fired: list[AlertFired] = []
    k.bus.subscribe(AlertFired, fired.append)
    set_rule(k, kind="news_keyword", symbol=BTC, expr="hack, Exploit", repeat=True, cooldown_s=1)
    arrive(k, ("ETH bridge hacked", -0.8, (("ETH", "ticker"),)))  # another symbol: no
    arrive(k, ("Bitcoin steady", 0.0, (("BTC", "name"),)))  # no keyword: no
    assert fired == []
    arrive(k, ("Bitcoin exchange EXPLOIT drains wallets", -0.9, (("BTC", "name"),)))
    assert len(fired) == 1 and "exploit" in fired[0].message and "EXPLOIT drains" in fired[0].title


def test_a_sentiment_alert_fires_when_the_mean_crosses_and_one_set_across_waits(make_kernel):
    k = kernel_with(make_kernel)
    fired: list[AlertFired] = []
    k.bus.subscribe(AlertFired, fired.append)
    btc = (("BTC", "ticker"),)
    arrive(k, ("a", 0.2, btc))
    rid = set_rule(k, kind="sentiment_below", symbol=BTC, level=-0.3, window_s=3600)
    arrive(k, ("b", -0.6, btc))  # mean (0.2 - 0.6) / 2 = -0.2: not below -0.3
    assert fired == []
    arrive(k, ("c", -0.9, btc))  # mean -1.3 / 3 = -0.433
    assert len(fired) == 1 and fired[0].rule_id == rid and math.isclose(fired[0].value, -1.3 / 3)
    assert k.alerts.rules[rid].state == "fired"

    other = set_rule(k, kind="sentiment_below", symbol=BTC, level=-0.3, window_s=3600)
    assert "already -0.43" in k.alerts.notes[other]  # set while across: waits for it to come back
    arrive(k, ("d", -0.5, btc))
    assert len(fired) == 1
    arrive(k, ("e", 1.0, btc), ("f", 1.0, btc))  # back above
    arrive(k, ("g", -1.0, btc), ("h", -1.0, btc), ("i", -1.0, btc))  # and below again
    assert [f.rule_id for f in fired] == [rid, other]


def test_strategies_see_only_the_news_that_had_arrived(make_kernel):
    k = kernel_with(make_kernel)
    btc = (("BTC", "ticker"),)
    reader = k.strategies.host.news
    t0 = k.clock.now_ms()
    arrive(k, ("early", 0.5, btc))
    k.clock.advance(60_000)
    arrive(k, ("late", -1.0, btc))
    assert [r.title for r in reader.news(BTC)] == ["late", "early"]
    assert reader.sentiment(BTC, 3600) == (0.5 - 1.0) / 2
    assert reader.sentiment(BTC, 30) == -1.0  # the last 30 s only
    reader = NewsReader(k.news_store, lambda: t0 + 1)  # a backtest's clock at an earlier bar: no "late" yet
    assert [r.title for r in reader.news(BTC)] == ["early"] and reader.sentiment(BTC, 3600) == 0.5
    assert [r.title for r in reader.news(BTC, since=t0 + 2)] == []


class ReadsNews(__import__("app.api", fromlist=["Strategy"]).Strategy):
    """Records, at each bar, the titles of the news it can see and the hour's sentiment."""

    name = "reads_news"
    seen: list = []

    def on_bar(self, bar) -> None:
        ReadsNews.seen.append((bar.ts, [r.title for r in self.news()], self.sentiment(window=3600)))


def test_a_backtest_strategy_sees_an_item_from_the_bar_its_arrival_falls_in(tmp_path):
    import numpy as np

    from app.engine.backtest.engine import run_backtest
    from app.engine.backtest.options import BacktestConfig
    from app.engine.data.bars import Bars
    from app.engine.news.store import NewsStore

    t0, tf = 1_700_000_000_000 - 1_700_000_000_000 % 60_000, 60_000
    ts = np.arange(t0, t0 + 5 * tf, tf, dtype=np.int64)
    close = np.full(5, 100.0)
    bars = Bars.from_arrays(ts, close, close + 1, close - 1, close, np.full(5, 10.0), timeframe_ms=tf,
                            symbol="BTC/USDT")
    db = tmp_path / "kestrel.db"
    store = NewsStore(db)
    btc = (("BTC", "ticker"),)
    # arrives in bar 1 (before its close); published back-dated to bar 0: seen from bar 1, not bar 0
    store.add([NewsItem("d", "news", "first", url="1", published_ms=t0, symbols=btc, scores=(("lexicon", 0.4),))],
              t0 + tf + 30_000)
    store.add([NewsItem("d", "news", "at close", url="2", symbols=btc, scores=(("lexicon", -0.2),))],
              t0 + 3 * tf)  # exactly at bar 2's close: seen at bar 2
    store.close()
    ReadsNews.seen = []
    run_backtest(ReadsNews, {}, bars, BacktestConfig(model_db=str(db)))
    titles = [t for _ts, t, _s in ReadsNews.seen]
    assert titles == [[], ["first"], ["at close", "first"], ["at close", "first"], ["at close", "first"]]
    assert math.isnan(ReadsNews.seen[0][2]) and ReadsNews.seen[1][2] == 0.4
    assert math.isclose(ReadsNews.seen[2][2], 0.1)


class _NewsModel:
    """A model handle with news features, as ModelHandle presents them (what the host calls)."""

    needs_news, news_scorer = True, "lexicon"

    def __init__(self) -> None:
        self.added, self.live = None, []

    def add_news(self, series) -> None:
        self.added = series

    def on_news(self, arrived_ms: int, score: float) -> None:
        self.live.append((arrived_ms, score))


def test_a_running_strategys_news_model_gets_the_stored_items_then_each_new_one_about_its_symbol(make_kernel):
    from app.engine.strategy.runner import Runner

    k = kernel_with(make_kernel)
    btc, eth = (("BTC", "ticker"),), (("ETH", "ticker"),)
    arrive(k, ("stored", 0.3, btc))
    host = k.strategies.host
    model = _NewsModel()
    host.runners["probe"] = Runner("probe", "probe", object, {"symbol": BTC})
    host.models = type("Source", (), {"handle": staticmethod(lambda ref: model)})()
    host.load_model("probe", "news-model")
    assert model.added.arrived_ms.tolist() == [k.clock.now_ms()] and model.added.score.tolist() == [0.3]
    k.clock.advance(1000)
    arrive(k, ("about ETH", -0.5, eth), ("about BTC", -0.7, btc))
    assert model.live == [(k.clock.now_ms(), -0.7)]


def test_strategy_sentiment_equals_the_news_sentiment_feature_at_the_same_close(tmp_path):
    """Strategy.sentiment() (SQL over the store) and the model feature news.sentiment (the kernel) are two
    implementations of one window rule: they must agree, including items at the window's edges and unscored ones."""
    import numpy as np

    from app.engine.ml.news_kernels import NewsSeries, news_sentiment
    from app.engine.news.store import NewsStore

    rng = np.random.default_rng(7)
    t0, w = 1_700_000_000_000, 3_600_000
    store = NewsStore(tmp_path / "kestrel.db")
    arrived = np.sort(rng.integers(t0, t0 + 6 * w, 300)).astype(np.int64)
    arrived[10] = arrived[9]  # two in one millisecond
    for i, t in enumerate(arrived.tolist()):
        score = float("nan") if i % 7 == 0 else float(np.round(rng.uniform(-1, 1), 6))
        store.add([NewsItem("d", "news", f"n{i}", url=f"u{i}", symbols=(("BTC", "ticker"),),
                            scores=(("lexicon", score),))], t)
    series = NewsSeries(*store.series("BTC"))
    closes = [int(arrived[50]), int(arrived[120]) + w, int(arrived[200]) - 1, t0 + 3 * w]  # an edge, past, inside
    for c in closes:
        want = news_sentiment(np.array([c], dtype=np.int64), series, w)[0]
        got = NewsReader(store, lambda c=c: c).sentiment(BTC, w / 1000)
        assert got == want or (math.isnan(got) and math.isnan(want)), (c, got, want)
    store.close()
