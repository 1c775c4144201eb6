"""The bundled ML strategy with the bundled default model: the same decisions in a backtest as the vectorised
pipeline gives, and live on the sim through the risk gate, warm from the terminal's bar history."""
from __future__ import annotations

import math

import numpy as np

from app.config import UiSettings
from app.engine.backtest.engine import run_backtest
from app.engine.backtest.options import BacktestConfig
from app.engine.ml.model_registry import ModelRegistry
from app.engine.ml.serve import ModelSource
from app.engine.ml.synthetic import generated_bars
from app.engine.ml.train import ml_signal_class
from app.engine.strategy.runner import StrategyStatus
from tests.kit.kernel import advance


def test_backtest_scores_equal_the_vectorised_pipeline():
    """The strategy sees, bar by bar, exactly the scores the training pipeline computes for those bars."""
    base = ml_signal_class()
    seen: list[float] = []

    class Recording(base):
        name = "ml_signal_recording"

        def on_bar(self, bar):
            super().on_bar(bar)
            seen.append(self.m.score)

    bars = generated_bars(800, seed=11)
    result = run_backtest(Recording, {"warmup": False, "fraction": 1.0}, bars, BacktestConfig(fee=0.0005))
    loaded = ModelSource().load("default")
    X = loaded.spec.compute(bars.as_dict()).astype(np.float32)
    ok = np.isfinite(X).all(axis=1)
    want = np.full(len(X), np.nan)
    want[ok] = loaded.onnx.predict(X[ok])
    got = np.array(seen)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(got[ok], want[ok])
    # and the trades follow the documented rule: enter at p >= 0.55, leave at p <= 0.5, at the next open
    entries = [t["entry_time"] for t in result.to_json()["trades"]]
    assert entries, "the default model should trade on generated data"
    for t in entries:
        i = int(np.searchsorted(bars.ts, t))
        assert want[i - 1] >= 0.55


def test_live_on_the_sim_warm_from_history_and_through_the_risk_gate(make_kernel):
    k = make_kernel(ui=UiSettings(chart_timeframe_s=5))
    r = k.strategies.load("ml_signal", "ml", {"symbol": "BTC/USDT", "enter": 0.0, "fraction": 0.05})
    assert k.strategies.start("ml"), r.reason
    handle = r.models[0]
    assert handle.name == "default" and math.isfinite(handle.score)  # warmed up from the chart's history
    assert handle.features.bars >= 250
    bars_before = handle.features.bars
    advance(k, 30_000, step=50)
    assert r.status is StrategyStatus.RUNNING, r.reason
    assert handle.features.bars > bars_before
    pos = k.strategies.host.position("ml", "BTC/USDT")
    assert pos > 0.0 and r.denials == 0  # enter=0.0: it bought at the first closed bar, through risk, filled
    assert k.strategies.host.order_latency.count >= 1
    assert 0 < k.strategies.host.order_latency.percentile_us(0.5) < 1_000_000
    assert handle.inference.count > 0 and handle.drift.n > 0


def test_intrabar_scoring_exits_before_the_bar_closes(make_kernel):
    k = make_kernel(ui=UiSettings(chart_timeframe_s=60))
    r = k.strategies.load("ml_signal", "ml", {"symbol": "BTC/USDT", "enter": 0.0, "fraction": 0.05})
    assert k.strategies.start("ml")
    advance(k, 61_000, step=100)
    assert k.strategies.host.position("ml", "BTC/USDT") > 0
    k.strategies.stop("ml")
    k.strategies.set_params("ml", {"enter": 1.0, "exit": 1.0, "intrabar": True})  # any score means "sell"
    assert k.strategies.start("ml")
    advance(k, 3_000, step=50)  # a few seconds: no 60 s bar closes, the trades' previews do it
    assert k.strategies.host.position("ml", "BTC/USDT") == 0.0


def test_a_registered_model_by_name_runs_live(make_kernel, tiny_model):
    k = make_kernel(ui=UiSettings(chart_timeframe_s=5))
    ModelRegistry(k.store.conn).register(tiny_model[1], k.profile / "models")
    r = k.strategies.load("ml_signal", "ml", {"symbol": "ETH/USDT", "model_ref": "tiny@1"})
    assert k.strategies.start("ml"), r.reason
    assert r.models[0].name == "tiny" and r.models[0].version == 1
    advance(k, 10_000)
    assert r.status is StrategyStatus.RUNNING


def test_model_loading_does_not_count_against_the_watchdog(make_kernel, monkeypatch):
    """The first load in a process takes seconds (onnxruntime, kernels): that is Kestrel's time, not the
    plugin's, so a slow load does not get the strategy interrupted; the plugin's own time still counts."""
    import time

    from app.engine.ml import serve

    original = serve.ModelSource.handle

    def slow_handle(self, ref):
        time.sleep(0.6)
        return original(self, ref)

    monkeypatch.setattr(serve.ModelSource, "handle", slow_handle)
    k = make_kernel()
    k.strategies.host.watchdog_s = 0.3
    r = k.strategies.load("ml_signal", "ml", {"symbol": "BTC/USDT", "warmup": False})
    assert k.strategies.start("ml"), r.reason
    assert r.status is StrategyStatus.RUNNING
