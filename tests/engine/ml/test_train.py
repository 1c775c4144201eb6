"""Training end to end on real bars and generated bars: honest spans, metrics, importances, the signal
backtest through the event-driven backtester, and clear refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.engine.ml.features import FeatureSpec, book, ind
from app.engine.ml.serve import ModelSource
from app.engine.ml.train import TrainConfig, TrainError, train


def test_train_on_real_bars_produces_a_complete_honest_artifact(tmp_path, eth_btc_5m):
    steps = []
    b = eth_btc_5m.slice(0, 2500)
    result = train(b, TrainConfig(model="logistic", horizon=4, n_splits=2, importance_repeats=2), tmp_path / "a",
                   lambda f, m: steps.append((f, m)), source="ETH-BTC-5m")
    m = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m == json.loads(json.dumps(result.manifest))
    fracs = [f for f, _ in steps]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0 and any("look-ahead" in s for _, s in steps)
    # the test span starts after the last training bar's label window ends (purged)
    tf = b.timeframe_ms
    assert m["train_span"]["end_ts"] + m["horizon"] * tf < m["test_span"]["start_ts"]
    assert m["splits"]["purge"] == 4 and m["splits"]["n_splits"] == 2
    assert set(m["metrics"]) >= {"cv", "cv_folds", "holdout", "agreement", "backtest"}
    hold = m["metrics"]["holdout"]
    assert 0.0 < hold["roc_auc"] < 1.0 and hold["rows"] == m["test_span"]["rows"]
    assert m["metrics"]["agreement"]["max_abs_diff"] <= m["metrics"]["agreement"]["tolerance"]
    bt = m["metrics"]["backtest"]
    assert bt["bars"] == len(b) - int(np.searchsorted(b.ts, m["test_span"]["start_ts"]))
    assert "buy_and_hold_return" in bt and bt["trades"] >= 0
    assert sorted(d["feature"] for d in m["importances"]) == sorted(m["features"])
    assert m["data"]["source"] == "ETH-BTC-5m" and m["warnings"] == []
    loaded = ModelSource().load(str(tmp_path / "a"))  # verifies the hash written into the manifest
    assert loaded.sha256 == m["onnx"]["sha256"]


def test_the_signal_backtest_trades_a_model_that_has_an_edge(tmp_path, gen_bars):
    """On generated bars with structure, a small gbm trades in the holdout through the real backtester."""
    r = train(gen_bars, TrainConfig(model="gbm", horizon=3, small=True, n_splits=2, importance_repeats=2),
              tmp_path / "g")
    bt = r.manifest["metrics"]["backtest"]
    assert bt["trades"] > 5 and bt["exposure"] > 0.0
    assert r.manifest["metrics"]["holdout"]["roc_auc"] > 0.52


def test_regression_model(tmp_path, gen_bars):
    r = train(gen_bars, TrainConfig(model="linear", horizon=3, n_splits=2, importance_repeats=2), tmp_path / "r")
    m = r.manifest
    assert m["task"] == "regress" and {"r2", "ic", "direction_accuracy"} <= set(m["metrics"]["holdout"])
    assert m["importances"][0]["scoring"] == "r2"
    handle = ModelSource().handle(str(tmp_path / "r"))
    assert handle.task == "regress"


@pytest.mark.parametrize("cfg, words", [
    (TrainConfig(model="svm"), "unknown model"),
    (TrainConfig(horizon=0), "horizon"),
    (TrainConfig(test_frac=0.9), "test_frac"),
])
def test_bad_configs_are_refused(tmp_path, gen_bars, cfg, words):
    with pytest.raises(TrainError, match=words):
        train(gen_bars, cfg, tmp_path)


def test_too_little_data_or_no_book_is_refused(tmp_path, gen_bars):
    with pytest.raises(TrainError, match="too few"):
        train(gen_bars.slice(0, 100), TrainConfig(), tmp_path)
    spec = FeatureSpec((ind("rsi"), book("imbalance")))
    with pytest.raises(TrainError, match="order-book data"):
        train(gen_bars, TrainConfig(spec=spec, backtest=False), tmp_path)
