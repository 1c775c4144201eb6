"""skl2onnx export of every model kind, and onnxruntime agreeing with scikit-learn within the stated
tolerance (export.TOLERANCE) on real-data features."""
from __future__ import annotations

import numpy as np
import pytest

from app.engine.ml.export import TOLERANCE, ExportError, agreement, sklearn_scores, to_onnx
from app.engine.ml.features import default_spec, finite_rows
from app.engine.ml.labels import direction, forward_return
from app.engine.ml.serve import OnnxModel
from app.engine.ml.train import CLASSIFIERS, make_estimator


@pytest.fixture(scope="module")
def data(eth_btc_5m):
    b = eth_btc_5m.slice(0, 3000)
    X = default_spec().compute(b.as_dict())
    h = 3
    ok = finite_rows(X)
    ok[-h:] = False
    X32 = X[ok].astype(np.float32).astype(np.float64)
    return X32, direction(b.close, h)[ok], forward_return(b.close, h)[ok]


@pytest.mark.parametrize("kind", ["gbm", "rf", "logistic", "linear", "ensemble"])
def test_onnx_agrees_with_sklearn(kind, data):
    X, y_dir, y_ret = data
    classifier = kind in CLASSIFIERS
    y = y_dir if classifier else y_ret
    est = make_estimator(kind, seed=1, small=True).fit(X[:2000], y[:2000])
    onnx_bytes = to_onnx(est, X.shape[1], classifier)
    got = OnnxModel(onnx_bytes, X.shape[1], "classify" if classifier else "regress").predict(X[2000:])
    want = sklearn_scores(est, X[2000:], classifier)
    scale = 1.0 if classifier else 1.0 + np.abs(want)
    assert np.max(np.abs(got - want) / scale) <= TOLERANCE
    report = agreement(est, onnx_bytes, X[2000:], classifier)
    assert report["max_abs_diff"] <= TOLERANCE and report["rows"] == len(X) - 2000
    if classifier:
        assert 0.0 < got.min() and got.max() < 1.0  # probabilities of the up class, not labels


def test_single_row_path_equals_the_batch(data):
    X, y, _ = data
    est = make_estimator("gbm", small=True).fit(X[:1500], y[:1500])
    m = OnnxModel(to_onnx(est, X.shape[1], True), X.shape[1], "classify")
    batch = m.predict(X[1500:1600])
    rows = np.array([m.predict_row(r) for r in X[1500:1600].tolist()])
    assert np.array_equal(batch, rows)


def test_a_disagreeing_export_is_refused(data):
    X, y, _ = data
    a = make_estimator("logistic").fit(X[:1000], y[:1000])
    b = make_estimator("logistic").fit(X[1000:2000], 1.0 - y[1000:2000])  # a different model
    with pytest.raises(ExportError, match="disagrees"):
        agreement(a, to_onnx(b, X.shape[1], True), X[2000:], True)
