"""Bad input gives a clear ValueError naming the argument, never a Numba typing traceback."""
from __future__ import annotations

import numpy as np
import pytest

import app.engine.indicators as ta

X = np.linspace(1.0, 2.0, 50)


@pytest.mark.parametrize("bad,msg", [
    (np.array([1 + 2j] * 50), "real"),
    (np.array(["a"] * 50), "real"),
    (np.array([object()] * 50, dtype=object), "real"),
    (np.ones((5, 10)), "1-D"),
])
def test_bad_arrays(bad, msg) -> None:
    with pytest.raises(ValueError, match=msg):
        ta.sma(bad)


def test_ints_and_lists_are_converted() -> None:
    out = ta.sma([1, 2, 3, 4, 5], timeperiod=2)
    assert out.dtype == np.float64 and np.allclose(out[1:], [1.5, 2.5, 3.5, 4.5])
    assert np.array_equal(ta.rsi(np.arange(30)), ta.rsi(np.arange(30, dtype=float)), equal_nan=True)


@pytest.mark.parametrize("period", [0, -3, 2.5, "5", None, True])
def test_bad_periods(period) -> None:
    with pytest.raises(ValueError, match="timeperiod"):
        ta.rsi(X, timeperiod=period)
    with pytest.raises(ValueError, match="timeperiod"):
        ta.rsi_stream(timeperiod=period)


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="low: length 49"):
        ta.atr(X, X[:-1], X)


def test_bad_matype_and_floats() -> None:
    with pytest.raises(ValueError, match="matype"):
        ta.bbands(X, matype=7)
    with pytest.raises(ValueError, match="nbdevup"):
        ta.bbands(X, nbdevup=float("nan"))
    with pytest.raises(ValueError, match="acceleration"):
        ta.sar(X + 1, X, acceleration=-1)


def test_integer_valued_float_period_accepted() -> None:
    assert np.array_equal(ta.sma(X, 5.0), ta.sma(X, 5), equal_nan=True)


def test_empty_and_short() -> None:
    assert ta.ema(np.array([])).shape == (0,)
    assert np.isnan(ta.ema(X[:3], 10)).all()
    assert np.isnan(ta.adx(X[:3], X[:3], X[:3])).all()


def test_all_nan_input_is_all_nan() -> None:
    nan = np.full(20, np.nan)
    assert np.isnan(ta.sma(nan, 3)).all()
    # documented deviation: TA-Lib's wrapper runs OBV on the last bar and echoes its volume
    assert np.isnan(ta.obv(nan, np.ones(20))).all()
