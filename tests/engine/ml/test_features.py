"""One feature spec, two computations: the vectorised matrix used for training equals, bit for bit, the rows
the streaming pipeline produces one bar at a time (live and in backtests)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.engine.ml.features import (
    Feature,
    FeatureError,
    FeatureSpec,
    book,
    default_spec,
    finite_rows,
    ind,
    lags,
    warmup_bars,
)
from tests.kit.ml import same


def wide_spec() -> FeatureSpec:
    """Every kind of feature: multi-output, each norm, a fed-by-volume indicator, session input, book, lags."""
    return FeatureSpec(tuple([
        *lags(ind("roc", timeperiod=1), 0, 1, 3),
        ind("bbands", timeperiod=10, output="lowerband", norm="rel"),
        ind("bbands", timeperiod=10, output="upperband", norm="rel", lag=2),
        ind("macd", output="macdsignal", norm="scale"),
        ind("sma", timeperiod=5, input="volume", norm="ratio"),
        ind("ema", timeperiod=8, input="high", norm="rel"),
        ind("stoch"), ind("stoch", output="slowd"),
        ind("vwap", norm="rel"), ind("mfi"), ind("kama", timeperiod=10, norm="rel"),
        ind("ichimoku", output="senkou_b", norm="rel"),
        book("spread_bps"), book("imbalance"), book("imbalance", lag=1),
    ]))


def book_arrays(b, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(b.close)
    half = b.close * 1e-4 * (1 + rng.random(n))
    return {"bid": b.close - half, "ask": b.close + half, "bid_size": rng.gamma(2, 1, n),
            "ask_size": rng.gamma(2, 1, n)}


def test_default_spec_streaming_equals_vectorised_bit_for_bit_on_real_bars(eth_btc_5m):
    spec = default_spec()
    b = eth_btc_5m.slice(0, 2500)
    X = spec.compute(b.as_dict())
    S = spec.stream().run(b.as_dict())
    assert X.shape == (2500, len(spec.names))
    assert same(X, S)
    assert finite_rows(X)[warmup_bars(spec):].all()  # past the warm-up every feature is defined


def test_every_feature_kind_streams_identically_with_books(eth_btc_5m):
    spec = wide_spec()
    b = eth_btc_5m.slice(1000, 2200)
    bk = book_arrays(b)
    X = spec.compute(b.as_dict(), bk)
    S = spec.stream().run(b.as_dict(), bk)
    assert same(X, S)
    assert np.isfinite(X[-1]).all()


def test_forming_bar_preview_is_the_row_the_bar_would_get_and_commits_nothing(eth_btc_5m):
    spec = default_spec()
    b = eth_btc_5m.slice(0, 400)
    full = spec.compute(b.as_dict())
    s = spec.stream()
    cols = [b.ts, b.open, b.high, b.low, b.close, b.volume]
    for i in range(400):
        args = [c[i].item() for c in cols]
        if i % 7 == 0:
            # a few ticks of the forming bar: each preview equals the vectorised row as if bar i closed now
            for scale in (0.999, 1.002):
                hi = max(args[2], args[4] * scale)
                lo = min(args[3], args[4] * scale)
                partial = {k: np.r_[v[:i], x] for (k, v), x in zip(b.as_dict().items(),
                                                                  [args[0], args[1], hi, lo, args[4] * scale, args[5] / 2])}
                got = np.array(s.update(args[0], args[1], hi, lo, args[4] * scale, args[5] / 2, final=False))
                assert same(got, spec.compute(partial)[i]), f"preview differs at bar {i}"
        row = np.array(s.update(*args))
        assert same(row, full[i]), f"closed bar {i} differs after previews"


def test_spec_round_trips_through_json_with_the_same_digest():
    spec = wide_spec()
    again = FeatureSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec and again.digest == spec.digest and again.names == spec.names
    shuffled = {**spec.to_json()}
    shuffled["features"] = [{**f, "params": dict(reversed(list(f["params"].items())))} for f in shuffled["features"]]
    assert FeatureSpec.from_json(shuffled).digest == spec.digest  # parameter order does not matter
    other = FeatureSpec(spec.features[:-1])
    assert other.digest != spec.digest


@pytest.mark.parametrize("make, words", [
    (lambda: ind("roc", timeperiod=1, lag=-1), "future"),
    (lambda: ind("no_such_indicator"), "no such indicator"),
    (lambda: ind("macd", output="nope"), "outputs"),
    (lambda: ind("adx", input="volume"), "single-input"),
    (lambda: ind("sma", norm="zscore"), "norm"),
    (lambda: book("depth"), "book features"),
    (lambda: FeatureSpec((ind("rsi"), ind("rsi"))), "duplicate"),
    (lambda: FeatureSpec(()), "at least one"),
])
def test_bad_declarations_are_refused_with_the_reason(make, words):
    with pytest.raises(FeatureError, match=words):
        make()


def test_book_features_need_book_data(eth_btc_5m):
    spec = FeatureSpec((ind("rsi"), book("spread_bps")))
    with pytest.raises(FeatureError, match="needs order-book data"):
        spec.compute(eth_btc_5m.slice(0, 100).as_dict())


def test_zero_denominators_give_nan_in_both_forms():
    n = 60
    c = np.linspace(100, 110, n)
    v = np.ones(n)
    v[10:40] = 0.0  # 30 bars without volume: the 5-bar volume average is 0 in the middle
    bars = {"ts": np.arange(n) * 60_000, "open": c, "high": c + 1, "low": c - 1, "close": c, "volume": v}
    spec = FeatureSpec((ind("sma", timeperiod=5, input="volume", norm="ratio"),))
    X = spec.compute(bars)
    assert np.isnan(X[20, 0]) and np.isfinite(X[50, 0])
    assert same(X, spec.stream().run(bars))


def test_feature_dataclass_json_keeps_every_field():
    f = ind("bbands", timeperiod=10, output="upperband", norm="rel", lag=2)
    assert Feature.from_json(f.to_json()) == f
    assert f.column == "bbands(10,2.0,2.0,0).upperband/close-1@lag2"
