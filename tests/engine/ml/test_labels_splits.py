"""Labels over a horizon, purged/embargoed time-ordered splits, and the checks that catch a leaking
feature or a shuffled split."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold, TimeSeriesSplit

from app.engine.ml.features import FeatureSpec, default_spec, ind
from app.engine.ml.labels import direction, forward_return
from app.engine.ml.splits import (
    LeakError,
    check_feature_lookahead,
    check_split,
    holdout,
    purged_kfold,
    suspicious_features,
    walk_forward_splits,
)
from app.engine.ml.train import TrainConfig, train


def test_forward_return_and_direction():
    c = np.array([100.0, 101.0, 99.0, 102.0, 102.0])
    r = forward_return(c, 2)
    np.testing.assert_allclose(r[:3], [99 / 100 - 1, 102 / 101 - 1, 102 / 99 - 1])
    assert np.isnan(r[3:]).all()
    d = direction(c, 1, threshold=0.005)
    np.testing.assert_array_equal(d[:4], [1.0, 0.0, 1.0, 0.0])
    assert np.isnan(d[4])
    with pytest.raises(ValueError, match="horizon"):
        forward_return(c, 0)


@pytest.mark.parametrize("horizon, embargo", [(1, 0), (5, 5), (20, 3)])
def test_our_splits_pass_the_check(horizon, embargo):
    n = 1000
    for tr, te in walk_forward_splits(n, 4, horizon, embargo=embargo):
        check_split(tr, te, horizon, embargo)
        assert tr.max() + horizon < te.min()  # strictly before, label windows included
    folds = purged_kfold(n, 5, horizon, embargo)
    for tr, te in folds:
        check_split(tr, te, horizon, embargo)
    middle_train, middle_test = folds[2]
    assert (middle_train < middle_test.min()).any() and (middle_train > middle_test.max()).any()  # both sides
    tr, te = holdout(n, 0.25, horizon)
    check_split(tr, te, horizon)
    assert te[0] == 750 and tr[-1] == 750 - horizon - 1


def test_a_shuffled_split_is_detected():
    n, h = 600, 5
    tr, te = next(iter(KFold(5, shuffle=True, random_state=0).split(np.arange(n))))
    with pytest.raises(LeakError, match="shuffled"):
        check_split(tr, te, h)


@pytest.mark.parametrize("splitter", [KFold(5), TimeSeriesSplit(4)])
def test_unpurged_time_splits_are_detected(splitter):
    """Contiguous but not purged: the rows just before the test block have labels inside it."""
    h = 5
    leaks = 0
    for tr, te in splitter.split(np.arange(500)):
        if te.min() == 0:
            continue
        with pytest.raises(LeakError, match="label windows reaching into the test block"):
            check_split(tr, te, h)
        leaks += 1
    assert leaks >= 3


def test_an_embargo_violation_is_detected():
    tr, te = purged_kfold(500, 5, 3, embargo=0)[1]
    with pytest.raises(LeakError, match="embargo"):
        check_split(tr, te, 3, embargo=10)


def test_the_default_features_do_not_look_ahead(eth_btc_5m):
    spec = default_spec()
    check_feature_lookahead(spec.compute, eth_btc_5m.slice(0, 1500).as_dict(), spec.names)


def test_a_feature_reading_the_next_bar_is_detected(eth_btc_5m):
    spec = default_spec()
    bars = eth_btc_5m.slice(0, 1500).as_dict()

    def leaky(b):
        c = b["close"]
        nxt = np.r_[c[1:] / c[:-1] - 1.0, np.nan]  # tomorrow's return, a classic slip
        return np.c_[spec.compute(b), nxt]

    with pytest.raises(LeakError, match="'next_return' looks ahead"):
        check_feature_lookahead(leaky, bars, spec.names + ["next_return"])


def test_a_feature_scaled_with_full_sample_statistics_is_detected(eth_btc_5m):
    bars = eth_btc_5m.slice(0, 1500).as_dict()
    spec = FeatureSpec((ind("rsi"),))

    def zscored(b):
        x = spec.compute(b)
        return (x - np.nanmean(x, axis=0)) / np.nanstd(x, axis=0)  # uses the whole sample's mean and std

    with pytest.raises(LeakError, match="rsi"):
        check_feature_lookahead(zscored, bars, spec.names)


def test_a_label_copied_into_the_features_is_flagged(eth_btc_5m):
    b = eth_btc_5m.slice(0, 2000)
    spec = default_spec()
    X = spec.compute(b.as_dict())
    y = direction(b.close, 3)
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    rng = np.random.default_rng(0)
    leak = np.where(ok, y + 0.3 * rng.standard_normal(len(y)), np.nan)
    X2 = np.c_[X, leak]
    pos = np.flatnonzero(ok)
    splits = [(np.intersect1d(tr, pos), np.intersect1d(te, pos)) for tr, te in walk_forward_splits(len(y), 3, 3)]
    flagged = suspicious_features(X2, y, spec.names + ["copy_of_label"], splits)
    assert len(flagged) == 1 and flagged[0].startswith("copy_of_label")


def test_training_runs_the_look_ahead_check(tmp_path, gen_bars):
    """A spec whose computation peeks at the future cannot be trained."""

    class PeekingSpec(FeatureSpec):
        def compute(self, bars, book_data=None):
            x = super().compute(bars, book_data)
            c = np.asarray(bars["close"])
            x[:-1, 0] = c[1:] / c[:-1] - 1.0
            return x

    spec = PeekingSpec(default_spec().features)
    with pytest.raises(LeakError, match="looks ahead"):
        train(gen_bars, TrainConfig(model="logistic", horizon=2, small=True, backtest=False, spec=spec), tmp_path)
