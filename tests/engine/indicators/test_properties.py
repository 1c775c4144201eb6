"""Hypothesis property tests for indicator invariants and stream/vector parity."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import app.engine.indicators as ta

SETTINGS = settings(max_examples=50, deadline=None)
prices = arrays(np.float64, st.integers(1, 120),
                elements=st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False))
periods = st.integers(2, 30)


def _hlc(c: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed).random(len(c))
    return c * (1 + 0.01 * r), c * (1 - 0.01 * r), c


@SETTINGS
@given(prices, periods)
def test_bbands_middle_is_sma(c, p) -> None:
    _, mid, _ = ta.bbands(c, timeperiod=p)
    assert np.array_equal(mid, ta.sma(c, p), equal_nan=True)


@SETTINGS
@given(prices, periods)
def test_bbands_ordering(c, p) -> None:
    up, mid, lo = ta.bbands(c, timeperiod=p)
    m = ~np.isnan(mid)
    assert (up[m] >= mid[m]).all() and (lo[m] <= mid[m]).all()


@SETTINGS
@given(prices, periods)
def test_rsi_in_range(c, p) -> None:
    r = ta.rsi(c, p)
    r = r[~np.isnan(r)]
    assert ((r >= 0) & (r <= 100)).all()


@SETTINGS
@given(prices, periods, st.integers(0, 1000))
def test_willr_and_stoch_in_range(c, p, seed) -> None:
    h, l, c = _hlc(c, seed)
    w = ta.willr(h, l, c, p)
    w = w[~np.isnan(w)]
    assert ((w >= -100) & (w <= 0)).all()
    k, d = ta.stoch(h, l, c, fastk_period=p)
    for v in (k, d):
        v = v[~np.isnan(v)]
        assert ((v >= -1e-9) & (v <= 100 + 1e-9)).all()


@SETTINGS
@given(prices, periods, st.integers(0, 1000))
def test_streaming_equals_vectorised(c, p, seed) -> None:
    h, l, c = _hlc(c, seed)
    for name, args, params in (("ema", (c,), {"timeperiod": p}), ("rsi", (c,), {"timeperiod": p}),
                               ("atr", (h, l, c), {"timeperiod": p}), ("willr", (h, l, c), {"timeperiod": p}),
                               ("bbands", (c,), {"timeperiod": p}), ("macd", (c,), {"signalperiod": p})):
        vec = ta.registry[name].fn(*args, **params)
        vec = vec if isinstance(vec, tuple) else (vec,)
        s = ta.stream(name, **params)
        got = np.array([np.atleast_1d(s.update(*[a[i] for a in args])) for i in range(len(c))])
        for k, v in enumerate(vec):
            assert np.array_equal(got[:, k], v, equal_nan=True), name
