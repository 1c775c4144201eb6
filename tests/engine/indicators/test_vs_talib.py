"""Every TA-Lib-covered indicator against TA-Lib itself (the dev dependency), not stored numbers.

Tolerance: |ours - talib| <= 1e-9 * max(|talib|, scale) where scale is the output's natural
unit (price level, 100 for oscillators, 1 for percent outputs, the series' magnitude for
cumulative volume lines), and NaN positions must be identical.
"""
from __future__ import annotations

import numpy as np
import pytest

talib = pytest.importorskip("talib")

import app.engine.indicators as ta  # noqa: E402
from tests.kit.indicator_cases import CASES, assert_close, scale_for  # noqa: E402
from tests.kit.indicators import REAL, SYNTH, with_inner_nans  # noqa: E402

TALIB_CASES = [(n, i) for n in ta.TALIB_NAMES for i in range(len(CASES[n]))]


def _run(name: str, params: dict, data: dict):
    spec = ta.registry[name]
    args = [data[i] for i in spec.inputs]
    ours = spec.fn(*args, **params)
    ref = getattr(talib, name.upper())(*args, **params)
    return ours, ref


@pytest.mark.parametrize("name,case", TALIB_CASES)
def test_real_data(name: str, case: int) -> None:
    params = CASES[name][case]
    for fname, data in REAL.items():
        ours, ref = _run(name, params, data)
        assert_close(f"{name}{params}@{fname}", ours, ref, scale_for(name, data, np.asarray(ref if not isinstance(ref, (tuple, list)) else ref[0])))


# Prices below TA-Lib's epsilon (1e-14): TA-Lib 0.8.1 replaced some of its TA_IS_ZERO tests
# with exact comparisons (NATR's "close != 0" is matched; these four still use the epsilon).
SUB_EPSILON_EXCEPTIONS = {"kama", "cci", "adx", "dx"}


@pytest.mark.parametrize("dataset", sorted(SYNTH))
@pytest.mark.parametrize("name,case", TALIB_CASES)
def test_synthetic(name: str, case: int, dataset: str) -> None:
    params = CASES[name][case]
    data = SYNTH[dataset]
    ours, ref = _run(name, params, data)
    first = ref if not isinstance(ref, (tuple, list)) else ref[0]
    try:
        assert_close(f"{name}{params}@{dataset}", ours, ref, scale_for(name, data, np.asarray(first)))
    except AssertionError:
        if dataset == "sub_epsilon" and name in SUB_EPSILON_EXCEPTIONS:
            pytest.xfail(f"{name}: zero tests below 1e-14 differ from TA-Lib 0.8.1 (SUB_EPSILON_EXCEPTIONS)")
        raise


# NaNs after the first valid bar go through TA-Lib's own arithmetic.  Documented exceptions
# (known, reported; the outputs around the NaN differ, clean data is unaffected):
# * STDDEV/BBANDS: our accurate re-centred variance flushes a NaN once it leaves the window;
# * STOCHF: TA-Lib 0.8 keeps %D NaN for a few more bars after a NaN %K;
# * AROON: TA-Lib 0.8's index bookkeeping around a NaN differs from our NaN-skipping scan.
NAN_EXCEPTIONS = {"stddev", "bbands", "stochf", "aroon"}


@pytest.mark.parametrize("name", [n for n in ta.TALIB_NAMES])
def test_nans_inside(name: str) -> None:
    data = with_inner_nans()
    ours, ref = _run(name, CASES[name][0], data)
    first = ref if not isinstance(ref, (tuple, list)) else ref[0]
    if name in NAN_EXCEPTIONS:
        pytest.xfail(f"documented NaN-handling difference for {name} (see NAN_EXCEPTIONS)")
    assert_close(f"{name}@inner-nans", ours, ref, scale_for(name, data, np.asarray(first)))


def test_empty_input_returns_empty() -> None:
    for name in ta.registry:
        spec = ta.registry[name]
        args = [np.array([], dtype=float) for _ in spec.inputs if _ != "session"]
        out = spec.fn(*args)
        outs = out if isinstance(out, tuple) else (out,)
        assert all(o.shape == (0,) and o.dtype == np.float64 for o in outs), name


# These reproduce TA-Lib 0.8.1's arithmetic exactly (same operations, same order, same FMA
# contractions, WMA's periodic re-sync): identical bits, not just within the tolerance.  The rest
# (TEMA, BBANDS, STDDEV, WILLR, STOCH, STOCHF, STOCHRSI, ADX) stay within 1e-9 of TA-Lib.
BIT_IDENTICAL = ("sma ema wma dema kama trima midprice sar rsi macd apo ppo mom roc trix cci ultosc aroon dx "
                 "plus_di minus_di atr natr trange obv ad adosc mfi").split()


@pytest.mark.parametrize("name", BIT_IDENTICAL)
def test_bit_identical_to_talib(name: str) -> None:
    datasets = {**REAL, **{k: v for k, v in SYNTH.items() if k != "sub_epsilon"}}
    for params in CASES[name]:
        for dname, data in datasets.items():
            ours, ref = _run(name, params, data)
            ours = ours if isinstance(ours, tuple) else (ours,)
            ref = ref if isinstance(ref, (tuple, list)) else (ref,)
            for k, (a, b) in enumerate(zip(ours, ref)):
                assert np.array_equal(a, b, equal_nan=True), f"{name}{params}@{dname}[{k}]"
