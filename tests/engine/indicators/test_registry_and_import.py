"""Registry contract and the import contract (cheap, lazy, no Qt, no compilation)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import app.engine.indicators as ta
from app.engine.indicators.registry import Param

REQUIRED = ("sma ema wma dema tema kama trima rsi macd stoch stochf stochrsi willr cci adx dx plus_di "
            "minus_di atr natr trange bbands stddev obv ad adosc mfi roc mom trix sar ppo apo aroon ultosc "
            "midprice kdj vwap supertrend keltner donchian ichimoku heikin_ashi").split()


def test_every_required_indicator_is_registered_and_exported() -> None:
    for name in REQUIRED:
        spec = ta.registry[name]
        assert spec.kind in ("overlay", "subpane") and spec.outputs and spec.inputs
        assert callable(getattr(ta, name)) and callable(getattr(ta, name + "_stream"))
        assert spec.fn is getattr(ta, name)


def test_duplicate_registration_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="already registered"):
        ta.register("rsi", ("close",), ("real",), "subpane")


def test_plugin_can_register_and_validate_params() -> None:
    def double(real, factor=2):
        return np.asarray(real, float) * factor

    spec = ta.register("test_double_plugin", ("close",), ("real",), "overlay",
                       (Param("factor", 2, 1, 10, int),), double, double)
    assert ta.registry["test_double_plugin"].fn(np.ones(3)).tolist() == [2.0, 2.0, 2.0]
    assert spec.validate_params(factor=3) == {"factor": 3}
    with pytest.raises(ValueError, match="factor"):
        spec.validate_params(factor=11)
    with pytest.raises(ValueError, match="unknown parameter"):
        spec.validate_params(nope=1)


def test_import_is_lazy_fast_and_qt_free() -> None:
    code = textwrap.dedent("""
        import sys, time
        class _BlockQt:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph', 'qasync'):
                    raise ImportError('Qt is blocked in this test: ' + name)
                return None
        sys.meta_path.insert(0, _BlockQt())
        t = time.perf_counter()
        import app.engine.indicators as ta
        dt = time.perf_counter() - t
        assert 'numba' not in sys.modules, 'importing the package must not import numba'
        assert len(ta.registry) >= 43
        x = ta.sma([1.0, 2.0, 3.0], 2)
        assert not any(m.split('.')[0] in ('PySide6', 'shiboken6') for m in sys.modules)
        print(dt)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(_root()))
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 0.5


def test_warmup_returns_timings() -> None:
    w = ta.warmup(["sma", "rsi"])
    assert set(w) == {"sma", "rsi"} and all(v >= 0 for v in w.values())


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[3]
