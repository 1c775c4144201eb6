"""ONNX export (skl2onnx) and the proof that the exported model predicts what scikit-learn predicts.

The served model runs in float32 (onnxruntime's tree and linear kernels), so features are rounded to
float32 once, at the boundary, in training and serving alike: the scikit-learn model is fitted on
float32-rounded features and the agreement is measured on the same rounded rows. What remains is float32
arithmetic inside the graph (summing tree leaves, the logistic link), well under ``TOLERANCE``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: max |p_onnx - p_sklearn| (probability of the up class) or |y_onnx - y_sklearn| / (1 + |y_sklearn|)
TOLERANCE = 1e-5
INPUT_NAME = "X"


class ExportError(RuntimeError):
    """The model could not be exported, or the export does not reproduce scikit-learn's predictions."""


def to_onnx(model: Any, n_features: int, classifier: bool) -> bytes:
    """Serialise a fitted estimator (or pipeline / voting ensemble) to ONNX bytes.

    Classifiers output a plain probability tensor (no ZipMap), so serving reads ``probabilities[0, 1]``.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {"zipmap": False} if classifier else None
    try:
        onx = convert_sklearn(model, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
                              options={id(model): options} if options else None, target_opset={"": 17, "ai.onnx.ml": 3})
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many kinds
        raise ExportError(f"skl2onnx could not convert {type(model).__name__}: {type(exc).__name__}: {exc}") from exc
    # same model, same bytes: skl2onnx names the graph with a random uuid and lists opsets in set order
    onx.graph.name = "kestrel_model"
    opsets = sorted(((o.domain, o.version) for o in onx.opset_import))
    del onx.opset_import[:]
    for domain, version in opsets:
        onx.opset_import.add(domain=domain, version=version)
    return onx.SerializeToString()


def sklearn_scores(model: Any, X32: np.ndarray, classifier: bool) -> np.ndarray:
    """What serving computes, from scikit-learn: p(up) for classifiers, the prediction for regressors."""
    X = np.asarray(X32, dtype=np.float32).astype(np.float64)
    if classifier:
        return model.predict_proba(X)[:, 1]
    return np.asarray(model.predict(X), dtype=np.float64).ravel()


def agreement(model: Any, onnx_bytes: bytes, X: np.ndarray, classifier: bool) -> dict[str, float]:
    """Compare scikit-learn with onnxruntime on ``X`` (rounded to float32). Raises ``ExportError`` above
    ``TOLERANCE``; returns the max and mean difference for the model's metrics."""
    from app.engine.ml.serve import OnnxModel

    X32 = np.ascontiguousarray(X, dtype=np.float32)
    ref = sklearn_scores(model, X32, classifier)
    onnx_model = OnnxModel(onnx_bytes, X32.shape[1], "classify" if classifier else "regress")
    got = onnx_model.predict(X32)
    diff = np.abs(got - ref)
    if not classifier:
        diff = diff / (1.0 + np.abs(ref))
    worst = float(diff.max()) if diff.size else 0.0
    if not np.isfinite(got).all() or worst > TOLERANCE:
        i = int(np.nanargmax(diff))
        raise ExportError(f"the ONNX export disagrees with scikit-learn: max difference {worst:.3g} > {TOLERANCE:g} "
                          f"(row {i}: onnx {got[i]!r}, sklearn {ref[i]!r})")
    return {"max_abs_diff": worst, "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
            "tolerance": TOLERANCE, "rows": int(len(X32))}
