"""Serving: desktop-friendly onnxruntime sessions that write nothing to disk, the strategy-side handle scoring
exactly what the training pipeline computes, and the drift monitor."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from app.engine.core.messages import Bar
from app.engine.ml.drift import DriftMonitor, DriftReference, psi, status
from app.engine.ml.serve import ModelSource, session_options

ROOT = Path(__file__).resolve().parents[3]


def test_sessions_use_one_thread_on_the_calling_thread():
    so = session_options()
    assert so.intra_op_num_threads == 1 and so.inter_op_num_threads == 1
    import onnxruntime as ort

    assert so.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert so.optimized_model_filepath == "" and not so.enable_profiling


def test_loading_and_scoring_writes_nothing_under_home(tmp_path, tiny_model):
    """onnxruntime >= 1.29 writes a telemetry device id under ~/.cache unless told not to (app.engine.ml)."""
    home = tmp_path / "home"
    home.mkdir()
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from app.engine.ml.serve import ModelSource
        for ref in ("default", {str(tiny_model[1])!r}):
            h = ModelSource().handle(ref)
            print(h.loaded.onnx.predict_row([0.0] * len(h.feature_names)))
    """)
    # a clean environment: no telemetry opt-out inherited from this process; Kestrel's own import must set it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ORT_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CONFIG_HOME=str(home / ".config"), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 2
    assert list(home.rglob("*")) == [], f"onnxruntime wrote under HOME: {list(home.rglob('*'))}"
    assert list((tmp_path / "tmp").rglob("*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "tmp"]  # nothing in the working folder either


def test_the_handle_scores_what_training_computes(gen_bars, tiny_model):
    """No training/serving skew: bar-by-bar scores from the strategy handle == batch ONNX scores of the
    vectorised feature matrix (rounded to float32 like in training)."""
    result, artifact = tiny_model
    h = ModelSource().handle(str(artifact))
    b = gen_bars.slice(0, 600)
    X = h.loaded.spec.compute(b.as_dict()).astype(np.float32)
    ok = np.isfinite(X).all(axis=1)
    batch = np.full(len(X), np.nan)
    batch[ok] = h.loaded.onnx.predict(X[ok])
    live = np.array([h.update(Bar("GEN", 60_000, int(b.ts[i]), b.open[i].item(), b.high[i].item(), b.low[i].item(),
                                  b.close[i].item(), b.volume[i].item())) for i in range(len(b))])
    assert np.array_equal(np.isnan(live), ~ok)
    assert np.array_equal(live[ok], batch[ok])
    from app.engine.ml.export import sklearn_scores

    assert np.max(np.abs(live[ok] - sklearn_scores(result.estimator, X[ok], True))) < 1e-5
    assert h.inference.count == ok.sum() and h.inference.percentile_us(0.5) > 0
    assert h.drift.n == ok.sum()


def test_preview_scores_without_committing(gen_bars, tiny_model):
    h = ModelSource().handle(str(tiny_model[1]))
    b = gen_bars
    bars = [Bar("GEN", 60_000, int(b.ts[i]), b.open[i].item(), b.high[i].item(), b.low[i].item(), b.close[i].item(),
                b.volume[i].item()) for i in range(200)]
    for bar in bars[:150]:
        h.update(bar)
    p = h.preview(bars[150])
    assert math.isfinite(p) and h.features.bars == 150 and h.drift.n <= 150
    assert h.update(bars[150]) == p  # the same bar, closed, scores the same


def test_bundled_default_model_loads_verified():
    loaded = ModelSource().load("default")
    assert loaded.name == "default" and loaded.task == "classify" and loaded.horizon == 5
    assert loaded.origin == "bundled" and len(loaded.spec.names) == loaded.onnx.n_features
    m = loaded.metrics
    assert 0.5 < m["holdout"]["roc_auc"] < 0.7  # generated data with weak structure: honest, not magic
    assert m["agreement"]["max_abs_diff"] <= m["agreement"]["tolerance"]
    assert {d["feature"] for d in loaded.importances} == set(loaded.spec.names)


# ------------------------------------------------------------------------------------------------ drift
def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((5000, 3))
    ref = DriftReference.from_training(train)
    np.testing.assert_allclose(ref.shares.sum(axis=1), 1.0)
    mon = DriftMonitor(ref, ["a", "b", "c"], window=400, min_rows=50)
    assert np.isnan(mon.psi()).all() and status(mon.worst()) == "collecting"
    for row in rng.standard_normal((400, 3)):
        mon.update(row)
    assert (mon.psi() < 0.1).all()
    for row in rng.standard_normal((400, 3)) + np.array([0.0, 1.5, 0.0]):  # feature b drifts
        mon.update(row)
    values = mon.psi()
    assert values[1] > 0.25 and values[0] < 0.1 and values[2] < 0.1
    assert mon.report()[0][:1] == ("b",) and mon.report()[0][2] == "DRIFT"
    for row in rng.standard_normal((400, 3)):  # the window slides: the shift ages out
        mon.update(row)
    assert (mon.psi() < 0.1).all()


def test_non_finite_rows_are_not_counted():
    ref = DriftReference.from_training(np.random.default_rng(1).standard_normal((100, 2)))
    mon = DriftMonitor(ref, ["a", "b"])
    mon.update([np.nan, 1.0])
    assert mon.n == 0


def test_psi_formula():
    live = np.array([[0.5, 0.5]])
    ref = np.array([[0.25, 0.75]])
    expected = (0.5 - 0.25) * math.log(0.5 / 0.25) + (0.5 - 0.75) * math.log(0.5 / 0.75)
    assert psi(live, ref)[0] == pytest.approx(expected)


def test_batched_binning_equals_row_by_row():
    """The queue flushes at half a window and on read; the window's counts are the last ``window`` rows'."""
    rng = np.random.default_rng(3)
    ref = DriftReference.from_training(rng.standard_normal((2000, 2)))
    X = rng.standard_normal((1234, 2)) * np.array([1.0, 2.0])
    a = DriftMonitor(ref, ["a", "b"], window=100, min_rows=10)
    for i, row in enumerate(X):
        a.update(row)
        if i % 7 == 0:
            a.psi()  # reads in between: partial flushes
    b = DriftMonitor(ref, ["a", "b"], window=100, min_rows=10)
    for row in X[-100:]:
        b.update(row)
    assert a.n == 1234 and b.n == 100
    np.testing.assert_array_equal(a.psi(), b.psi())
