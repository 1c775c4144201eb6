"""Fixtures for the ML tests: real recorded bars, generated bars, and a tiny trained model (real
scikit-learn, real skl2onnx, real onnxruntime) shared by the session."""
from __future__ import annotations

import pytest

from tests.kit.data import load_recorded_bars


@pytest.fixture(scope="session")
def eth_btc_5m():
    """The recorded ETH/BTC 5-minute candles (one series; the tests take slices of it)."""
    return load_recorded_bars("ETH-BTC-5m.csv.gz")


@pytest.fixture(scope="session")
def gen_bars():
    from app.engine.ml.synthetic import generated_bars

    return generated_bars(2000, seed=3)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, gen_bars):
    """A small gbm trained on generated bars: (TrainResult, artifact folder). No backtest: fast."""
    from app.engine.ml.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny") / "artifact"
    result = train(gen_bars, TrainConfig(model="gbm", horizon=3, small=True, n_splits=2, backtest=False,
                                         importance_repeats=2, name="tiny"), out)
    return result, out

