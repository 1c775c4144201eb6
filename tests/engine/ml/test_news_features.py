"""News features: counts and means checked by hand, the arrival-time rule (an item is seen by the first bar
that closes at or after it reached us, never earlier, whatever the source says it was published), the
streaming form equal to the vectorised one bit for bit, the spec's JSON, training and serving with news."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from app.engine.ml.features import (
    Feature,
    FeatureError,
    FeatureSpec,
    default_spec,
    ind,
    news_feature,
    parse_news_features,
    warmup_bars,
)
from app.engine.ml.news_kernels import (
    NewsSeries,
    NewsSeriesError,
    news_count,
    news_sentiment,
    news_surprise,
)
from tests.kit.series import MINUTE, T0, toy_bars

NAN = math.nan


def bit_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape and the same bytes (NaN payloads included): stricter than ``array_equal``."""
    a, b = np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


# ------------------------------------------------------------------------------------------- by hand
def test_counts_and_means_by_hand_with_items_at_the_close_and_one_ms_after():
    # bars close at 1000, 2000, 3000, 4000; a 1500 ms window is (c - 1500, c]
    close = np.array([1000, 2000, 3000, 4000])
    s = NewsSeries(np.array([500, 1000, 1001, 1999, 2000, 2000, 2500, 4001]),
                   np.array([0.5, -1.0, 0.25, NAN, 0.75, 0.5, -0.25, 1.0]))
    # at 1000: 500, 1000 (at the close: seen); 1001 is 1 ms late
    # at 2000: (500, 2000] -> 1000, 1001, 1999 (unscored), 2000, 2000
    # at 3000: (1500, 3000] -> 1999, 2000, 2000, 2500;  at 4000: (2500, 4000] -> none (2500 is the edge, 4001 late)
    assert news_count(close, s, 1500).tolist() == [2.0, 5.0, 4.0, 0.0]
    sent = news_sentiment(close, s, 1500)
    assert sent[0] == (0.5 + -1.0) / 2
    assert sent[1] == (-1.0 + 0.25 + 0.75 + 0.5) / 4  # the unscored item is counted, not averaged
    assert sent[2] == (0.75 + 0.5 + -0.25) / 3
    assert math.isnan(sent[3])
    # surprise, base 2: this bar's sentiment minus the mean of the two before (NaN ones left out)
    sur = news_surprise(close, s, 1500, 2)
    assert math.isnan(sur[0]) and math.isnan(sur[1])  # fewer than 2 bars before
    assert sur[2] == sent[2] - (sent[0] + sent[1]) / 2
    assert math.isnan(sur[3])  # no sentiment at bar 3
    close5 = np.array([1000, 2000, 3000, 4000, 5000])
    assert news_sentiment(close5, s, 1500)[4] == 1.0  # (3500, 5000] holds the item at 4001
    assert news_surprise(close5, s, 1500, 2)[4] == 1.0 - sent[2]  # bar 3's NaN is left out of the base
    assert news_surprise(close5, s, 1500, 3)[4] == 1.0 - (sent[1] + sent[2]) / 2


def test_a_news_series_is_put_in_arrival_order_stably_and_refuses_bad_arrays():
    s = NewsSeries([30, 10, 20, 10], [0.1, 0.2, 0.3, 0.4])
    assert s.arrived_ms.tolist() == [10, 10, 20, 30] and s.score.tolist() == [0.2, 0.4, 0.3, 0.1]
    assert s.arrived_ms.dtype == np.int64 and not s.arrived_ms.flags.writeable
    assert len(NewsSeries.empty()) == 0
    with pytest.raises(NewsSeriesError, match="differ in length"):
        NewsSeries([1, 2], [0.0])
    with pytest.raises(NewsSeriesError, match=r"outside \[-1, 1\]"):
        NewsSeries([1, 2], [0.0, 1.5])
    with pytest.raises(NewsSeriesError, match="outside"):
        NewsSeries([1], [math.inf])
    with pytest.raises(NewsSeriesError, match="whole milliseconds"):
        NewsSeries([1.5], [0.0])
    assert s.until(10).arrived_ms.tolist() == [10, 10] and len(s.until(9)) == 0


# ---------------------------------------------------------------------------------------- look-ahead
def one_minute_bars(n: int = 6):
    return toy_bars(np.linspace(100, 101, n))  # ts = T0 + i min; bar i closes at T0 + (i + 1) min


NEWS_SPEC = FeatureSpec(tuple(parse_news_features("news.sentiment:2m,news.count:2m,news.surprise:2m:2")))


def test_an_item_arriving_one_ms_after_a_close_changes_only_the_next_bar():
    bars = one_minute_bars()
    close2 = T0 + 3 * MINUTE
    before = NewsSeries([T0 + 30_000, close2 - 10_000], [0.5, -0.5])
    late = NewsSeries([T0 + 30_000, close2 - 10_000, close2 + 1], [0.5, -0.5, 1.0])
    at_close = NewsSeries([T0 + 30_000, close2 - 10_000, close2], [0.5, -0.5, 1.0])
    X0 = NEWS_SPEC.compute(bars, news=before)
    X1 = NEWS_SPEC.compute(bars, news=late)
    X2 = NEWS_SPEC.compute(bars, news=at_close)
    assert bit_equal(X1[:3], X0[:3])  # bars 0..2: the item 1 ms after bar 2's close is not seen
    assert X1[3, 1] == X0[3, 1] + 1 and X1[3, 0] != X0[3, 0]  # bar 3 sees it
    assert X2[2, 1] == X0[2, 1] + 1  # an item exactly at the close is seen by that bar


def test_published_time_is_never_used_an_item_published_before_the_close_but_arriving_after_is_not_seen():
    """Through the public path: stored rows (published and arrival times) -> NewsSeries.from_rows -> compute."""
    bars = one_minute_bars()
    close2 = T0 + 3 * MINUTE
    rows = [{"published_ms": T0 + 20_000, "arrived_ms": T0 + 30_000, "score": 0.5},
            {"published_ms": close2 - 50_000, "arrived_ms": close2 + 5_000, "score": -1.0}]  # back-dated
    X = NEWS_SPEC.compute(bars, news=NewsSeries.from_rows(rows))
    X_without = NEWS_SPEC.compute(bars, news=NewsSeries.from_rows(rows[:1]))
    assert bit_equal(X[:3], X_without[:3])
    assert X[3, 1] == X_without[3, 1] + 1
    by_published = NewsSeries([r["published_ms"] for r in rows], [r["score"] for r in rows])
    by_published = NEWS_SPEC.compute(bars, news=by_published)
    assert not bit_equal(by_published[:3], X_without[:3])  # the mistake this guards against would show


def test_the_stream_does_not_see_an_item_before_it_arrives():
    bars = one_minute_bars(4)
    s = NEWS_SPEC.stream(MINUTE)
    s.on_news(T0 + 10_000, 0.5)
    r0 = s.update(*[bars.row(0)[k] for k in ("ts", "open", "high", "low", "close", "volume")])
    assert r0[1] == 1.0
    s.on_news(T0 + 2 * MINUTE + 1, -1.0)  # 1 ms after bar 1's close: fed early by mistake, still not seen
    r1 = s.update(*[bars.row(1)[k] for k in ("ts", "open", "high", "low", "close", "volume")])
    assert r1[1] == 1.0 and r1[0] == 0.5


# ------------------------------------------------------------------------------ streaming == vectorised
def random_news(rng: np.random.Generator, t0: int, t1: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times with bursts (many items in the same ms and within a few ms) and ~25 % unscored."""
    a = rng.integers(t0, t1, m)
    burst = rng.random(m) < 0.3
    a[burst] = a[rng.integers(0, m, burst.sum())] + rng.integers(0, 3, burst.sum())
    s = np.round(np.tanh(rng.standard_normal(m)) * 1000) / 1000 + rng.standard_normal(m) * 1e-9
    s = np.clip(s, -1.0, 1.0)
    s[rng.random(m) < 0.25] = NAN
    return a, s


WIDE_NEWS = FeatureSpec((
    ind("roc", timeperiod=1),
    *parse_news_features("news.sentiment:7m,news.count:3m,news.surprise:7m:4,news.surprise:20m,news.count:45m"),
    news_feature("sentiment", "2m", lag=2),
))
# a surprise looking further back (30 bars) than any window (5m): what the stream may forget is set by both
DEEP_BASE = FeatureSpec(tuple(parse_news_features("news.surprise:5m:30,news.count:2m")))


@pytest.mark.parametrize("seed, spec", [(0, WIDE_NEWS), (1, WIDE_NEWS), (2, WIDE_NEWS), (3, DEEP_BASE),
                                        (4, DEEP_BASE)])
def test_streaming_equals_vectorised_bit_for_bit_with_bursts_nan_scores_and_late_items(seed, spec, gen_bars):
    rng = np.random.default_rng(seed)
    bars = gen_bars.slice(0, 600)
    tf = bars.timeframe_ms
    close = bars.ts + tf
    a, sc = random_news(rng, int(bars.ts[0]) - 30 * MINUTE, int(close[-1]) + MINUTE, 1500)
    stream = spec.stream(tf)
    fed_a: list[int] = []
    fed_s: list[float] = []
    order = np.argsort(a, kind="stable")
    a, sc = a[order], sc[order]
    k = 0
    rows = []
    for i in range(len(bars)):
        j = int(np.searchsorted(a, close[i], side="right"))
        group = np.arange(k, j)
        rng.shuffle(group)  # the items of this bar reach the stream out of order
        for g in group:
            stream.on_news(int(a[g]), float(sc[g]))
            fed_a.append(int(a[g]))
            fed_s.append(float(sc[g]))
        k = j
        r = bars.row(i)
        args = (r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
        if i % 5 == 0:
            stream.update(*args, final=False)  # a preview commits nothing
        rows.append(stream.update(*args))
    S = np.array(rows)
    X = spec.compute(bars, news=NewsSeries(np.array(fed_a), np.array(fed_s)))
    assert np.array_equal(X, S, equal_nan=True) and bit_equal(X, S)
    assert np.isfinite(X[-50:]).sum() > 0.8 * X[-50:].size  # the data exercises real values, not only NaN
    assert stream.news_items < len(fed_a)  # items too old for any later bar were dropped on the way


def test_run_feeds_each_bars_news_before_its_close_and_equals_compute(gen_bars):
    rng = np.random.default_rng(7)
    bars = gen_bars.slice(100, 500)
    a, sc = random_news(rng, int(bars.ts[0]), int(bars.ts[-1]) + 2 * MINUTE, 800)
    news = NewsSeries(a, sc)
    X = WIDE_NEWS.compute(bars, news=news)
    assert bit_equal(WIDE_NEWS.stream().run(bars, news=news), X)  # the bar length from the Bars
    assert bit_equal(WIDE_NEWS.stream(bars.timeframe_ms).run(bars.as_dict(), news=news), X)


def test_the_kernel_on_a_single_close_equals_the_vectorised_row_bit_for_bit():
    """Few windows (the stream) and many (training) are summed two ways that must give the same bits."""
    rng = np.random.default_rng(11)
    a, sc = random_news(rng, 0, 10_000_000, 3000)
    sc[::7] = -0.0  # a window starting with -0.0 must not depend on how its sum starts
    s = NewsSeries(a, sc)
    close = np.sort(np.r_[rng.integers(0, 10_000_000, 400), a[::7][:50]])  # many windows: the vectorised pass
    for fn, extra in ((news_count, ()), (news_sentiment, ()), (news_surprise, (6,))):
        full = fn(close, s, 90_000, *extra)
        base = extra[0] if extra else 0
        one = np.array([fn(close[max(0, i - base): i + 1], s, 90_000, *extra)[-1] for i in range(len(close))])
        assert bit_equal(full, one), fn.__name__
    zeros = NewsSeries(np.arange(200), np.full(200, -0.0))  # sums of -0.0 only: the sign of zero must agree
    close = np.arange(100, 200)
    full = news_sentiment(close, zeros, 5)
    assert bit_equal(full, [news_sentiment(close[i:i + 1], zeros, 5)[0] for i in range(len(close))])


# ------------------------------------------------------------------------------------------ the spec
def test_news_columns_json_digest_and_the_refusals():
    spec = FeatureSpec((*default_spec().features, *parse_news_features(
        "news.sentiment:1h, news.count:30m ,news.surprise:1h,news.surprise:90m:24")))
    assert spec.names[-4:] == ["news.sentiment(1h)", "news.count(30m)", "news.surprise(1h,20)",
                               "news.surprise(90m,24)"]
    again = FeatureSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec and again.digest == spec.digest and again.needs_news
    assert spec.digest != default_spec().digest
    assert FeatureSpec(spec.features[:-1]).digest != spec.digest
    shuffled = spec.to_json()
    shuffled["features"][-1]["params"] = {"base": 24, "window": 5_400_000}
    assert FeatureSpec.from_json(shuffled).digest == spec.digest
    assert news_feature("count", 1500).column == "news.count(1500ms)"
    bars = one_minute_bars(40)
    with pytest.raises(FeatureError, match=r"news\.sentiment\(1h\) needs the symbol's news"):
        spec.compute(bars)
    with pytest.raises(FeatureError, match="bar length"):
        spec.compute(bars.as_dict(), news=NewsSeries.empty())  # a mapping does not know its bar length
    assert spec.compute(bars.as_dict(), news=NewsSeries.empty(), timeframe_ms=MINUTE).shape == (40, 19)
    with pytest.raises(FeatureError, match="bar length"):
        spec.stream().update(T0, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("text, words", [
    ("news.mood:1h", "NAME one of sentiment, count, surprise"),
    ("sentiment:1h", "news.NAME:WINDOW"),
    ("news.count", "give a window"),
    ("news.count:1h:5", "give a window"),
    ("news.count:1 hour", "duration '1 hour'"),
    ("news.count:0m", "duration '0m'"),
    ("news.surprise:1h:x", "base 'x'"),
    ("news.surprise:1h:0", "base '0'"),
    ("news.count:1h,news.count:60m", "duplicate"),
])
def test_bad_feature_text_is_refused_naming_the_item(text, words):
    with pytest.raises(FeatureError, match=words):
        FeatureSpec(tuple(parse_news_features(text)))


def test_bad_news_declarations_are_refused():
    with pytest.raises(FeatureError, match="takes the parameters window, got window, base"):
        news_feature("count", "1h", base=3)
    with pytest.raises(FeatureError, match="no norm"):
        FeatureSpec((Feature("news", "count", (("window", 1000),), norm="rel"),))
    with pytest.raises(FeatureError, match="news features are"):
        news_feature("volume", "1h")
    assert parse_news_features("  ") == []


def test_warm_up_of_a_spec_with_news():
    assert warmup_bars(NEWS_SPEC) == 2  # surprise needs 2 bars before it


# ---------------------------------------------------------------------------------- training, serving
NEWS_TEXT = "news.sentiment:30m,news.count:30m,news.surprise:30m:5"


@pytest.fixture(scope="module")
def gen_news(gen_bars) -> NewsSeries:
    """About one item every two minutes over the generated bars, a fifth unscored."""
    rng = np.random.default_rng(5)
    a, sc = random_news(rng, int(gen_bars.ts[0]) - 60 * MINUTE, int(gen_bars.ts[-1]) + 5 * MINUTE, 1000)
    return NewsSeries(a, sc)


@pytest.fixture(scope="module")
def news_model(tmp_path_factory, gen_bars, gen_news):
    from app.engine.ml.train import TrainConfig, train

    out = tmp_path_factory.mktemp("news") / "artifact"
    cfg = TrainConfig(model="gbm", horizon=3, small=True, n_splits=2, importance_repeats=2, name="news",
                      extra_features=NEWS_TEXT)
    return train(gen_bars, cfg, out, news=gen_news), out


def test_training_with_news_features_lists_them_in_the_manifest(news_model, gen_news):
    result, out = news_model
    m = json.loads((out / "manifest.json").read_text())
    cols = ["news.sentiment(30m)", "news.count(30m)", "news.surprise(30m,5)"]
    assert m["features"][-3:] == cols and len(m["features"]) == len(default_spec().names) + 3
    assert m["news"]["features"] == cols and m["news"]["clock"] == "arrived_ms" and m["news"]["scorer"] == "lexicon"
    assert m["news"]["items"] == len(gen_news)
    assert FeatureSpec.from_json(m["spec"]).needs_news
    assert "backtest" not in m["metrics"] and any("backtest was skipped" in w for w in m["warnings"])
    assert {d["feature"] for d in m["importances"]} >= set(cols)


def test_a_served_news_model_fed_items_before_each_close_scores_the_training_rows(news_model, gen_bars, gen_news):
    from app.engine.core.messages import Bar
    from app.engine.ml.serve import ModelSource

    _, out = news_model
    handle = ModelSource().handle(str(out))
    assert handle.needs_news and handle.news_scorer == "lexicon"
    bars = gen_bars.slice(1500, 1700)
    tf = bars.timeframe_ms
    X = handle.loaded.spec.compute(bars, news=gen_news)
    handle.add_news(gen_news.until(int(bars.ts[0])))  # the stored history at load
    k = len(gen_news.until(int(bars.ts[0])))
    a, s = gen_news.arrived_ms, gen_news.score
    for i in range(len(bars)):
        while k < len(a) and a[k] <= bars.ts[i] + tf:
            handle.on_news(int(a[k]), float(s[k]))
            k += 1
        r = bars.row(i)
        handle.update(Bar("GEN", tf, r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"]))
        assert bit_equal(np.array(handle.last_row), X[i]), f"bar {i}"
    assert handle.ready


def test_training_refuses_news_features_without_news_and_catches_a_kernel_that_reads_late_news(
        tmp_path, gen_bars, gen_news, monkeypatch):
    from app.engine.ml import features
    from app.engine.ml.splits import LeakError
    from app.engine.ml.train import TrainConfig, TrainError, train

    cfg = TrainConfig(model="logistic", horizon=3, n_splits=2, backtest=False, importance_repeats=1,
                      extra_features="news.sentiment:30m")
    with pytest.raises(TrainError, match=r"news\.sentiment\(30m\) needs the symbol's news"):
        train(gen_bars, cfg, tmp_path / "a")
    with pytest.raises(TrainError, match="news feature 'news.sentiment:soon'"):
        TrainConfig(extra_features="news.sentiment:soon").check()
    # a kernel that looks one bar further than the close: the news look-ahead check refuses to train
    monkeypatch.setattr(features, "news_sentiment", lambda c, s, w: news_sentiment(c + MINUTE, s, w))
    with pytest.raises(LeakError, match=r"news\.sentiment\(30m\).*news that arrived after bar"):
        train(gen_bars, cfg, tmp_path / "b", news=gen_news)
