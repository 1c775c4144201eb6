"""The vectorised kernels are specialised (split warm-up/steady loops, block rolling extremes,
power-of-two rings) for speed; these tests pin them to the shared streaming step functions.

* Hypothesis series with many ties (rounded prices), random periods (block sizes that do and do
  not divide the length) and optional NaNs: vectorised == streaming, bit for bit.
* The window kernels fall back to their reference kernel (the streaming algorithm over arrays)
  when a NaN appears after the first valid bar; the block path must equal that reference too.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import app.engine.indicators as ta
from app.engine.indicators import oscillators as osc
from app.engine.indicators import overlap as ovl

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def ohlc(draw, with_nans: bool = False):
    n = draw(st.integers(1, 160))
    seed = draw(st.integers(0, 2**32 - 1))
    decimals = draw(st.sampled_from([0, 1, 3]))  # 0 decimals -> lots of ties
    rng = np.random.default_rng(seed)
    c = np.round(100 + np.cumsum(rng.standard_normal(n)), decimals)
    h = np.round(c + np.abs(rng.standard_normal(n)), decimals)
    lo = np.round(c - np.abs(rng.standard_normal(n)), decimals)
    v = rng.integers(0, 50, n).astype(float)
    if with_nans and n > 3:
        for arr in (h, lo, c):
            k = rng.integers(0, 3)
            arr[rng.integers(1, n, k)] = np.nan
    return h, lo, c, v


def _stream(name: str, params: dict, args: list[np.ndarray]) -> list[np.ndarray]:
    s = ta.stream(name, **params)
    rows = [np.atleast_1d(np.asarray(s.update(*[float(a[i]) for a in args]), dtype=float))
            for i in range(len(args[0]))]
    return list(np.array(rows).reshape(len(args[0]), -1).T)


FAST = [("willr", "timeperiod"), ("midprice", "timeperiod"), ("aroon", "timeperiod"),
        ("stoch", "fastk_period"), ("stochf", "fastk_period"), ("kdj", "fastk_period"),
        ("stddev", "timeperiod"), ("bbands", "timeperiod"), ("rsi", "timeperiod"),
        ("atr", "timeperiod"), ("natr", "timeperiod"), ("mom", "timeperiod"), ("roc", "timeperiod"),
        ("sma", "timeperiod"), ("ema", "timeperiod"), ("dema", "timeperiod"), ("tema", "timeperiod"),
        ("trix", "timeperiod"), ("ultosc", "timeperiod3"), ("stochrsi", "timeperiod"),
        ("donchian", "timeperiod"), ("adx", "timeperiod"), ("dx", "timeperiod"),
        ("plus_di", "timeperiod"), ("minus_di", "timeperiod"), ("kama", "timeperiod"),
        ("cci", "timeperiod"), ("sar", None), ("obv", None), ("ad", None),
        ("ichimoku", "tenkan_period"), ("wma", "timeperiod"), ("adosc", "fastperiod")]


@SETTINGS
@given(ohlc(), st.integers(1, 40), st.sampled_from(FAST))
def test_vectorised_equals_stream_clean(data, p, case) -> None:
    _check(data, p, case)


@SETTINGS
@given(ohlc(with_nans=True), st.integers(1, 40), st.sampled_from(FAST))
def test_vectorised_equals_stream_with_nans(data, p, case) -> None:
    _check(data, p, case)


def _check(data, p, case) -> None:
    name, pname = case
    spec = ta.registry[name]
    if pname is None:  # no integer period: vary the real parameters instead (SAR)
        params = {"acceleration": 0.01 * p, "maximum": 0.1 + 0.01 * p} if name == "sar" else {}
    else:
        pmin = next(x.min for x in spec.params if x.name == pname)
        p = max(p, int(pmin))
        params = {pname: p}
    if name == "bbands":
        params["matype"] = p % 2
    h, lo, c, v = data
    cols = {"high": h, "low": lo, "close": c, "volume": v, "open": c}
    args = [cols[i] for i in spec.inputs]
    vec = spec.fn(*args, **params)
    vec = list(vec) if isinstance(vec, tuple) else [vec]
    got = _stream(name, params, args)
    for k, want in enumerate(vec):
        assert np.array_equal(got[k], want, equal_nan=True), (name, params, k)


@SETTINGS
@given(ohlc(with_nans=True), st.integers(2, 30))
def test_block_extremes_equal_reference_kernels(data, p) -> None:
    h, lo, c, _ = data
    n = len(h)
    begin = 0
    for kern, ref, args, nout in (
        (osc._willr_kernel, osc._willr_ref, (h, lo, c, begin, p), 1),
        (ovl._midprice_kernel, ovl._midprice_ref, (h, lo, begin, p), 1),
        (osc._aroon_kernel, osc._aroon_ref, (h, lo, begin, p), 2),
        (osc._stoch_kernel, osc._stoch_ref, (h, lo, c, begin, p, 3, 0, 3, 0, True), 2),
    ):
        a = [np.empty(n) for _ in range(nout)]
        b = [np.empty(n) for _ in range(nout)]
        saw_nan = kern(*args, *a)
        ref(*args, *b)
        if not saw_nan:  # NaN seen -> the wrapper uses the reference kernel instead
            for x, y in zip(a, b):
                assert np.array_equal(x, y, equal_nan=True), kern
        if n > p + 1 and np.isnan(np.concatenate(args[:2])).any():
            assert saw_nan  # every high/low bar is scanned once the first window exists


def test_block_path_on_long_series_matches_reference() -> None:
    """Long series (many chunks of the block algorithm, partial last block) and ties."""
    rng = np.random.default_rng(5)
    n = 20_011
    c = np.round(1000 + np.cumsum(rng.standard_normal(n)), 0)
    h = c + np.round(np.abs(rng.standard_normal(n)), 0)
    lo = c - np.round(np.abs(rng.standard_normal(n)), 0)
    for p in (2, 3, 14, 31, 1024, 1500):
        for kern, ref, args, nout in (
            (osc._willr_kernel, osc._willr_ref, (h, lo, c, 0, p), 1),
            (ovl._midprice_kernel, ovl._midprice_ref, (h, lo, 0, p), 1),
            (osc._aroon_kernel, osc._aroon_ref, (h, lo, 0, p), 2),
            (osc._kdj_kernel, osc._kdj_ref, (h, lo, c, 0, p, 3, 3), 3),
        ):
            a = [np.empty(n) for _ in range(nout)]
            b = [np.empty(n) for _ in range(nout)]
            assert not kern(*args, *a)
            ref(*args, *b)
            for x, y in zip(a, b):
                assert np.array_equal(x, y, equal_nan=True), (kern, p)


def _series(seed: int, n: int, decimals: int, nans: bool):
    rng = np.random.default_rng(seed)
    c = np.round(100 + np.cumsum(rng.standard_normal(n)), decimals)
    h = np.round(c + np.abs(rng.standard_normal(n)), decimals)
    lo = np.round(c - np.abs(rng.standard_normal(n)), decimals)
    v = rng.integers(0, 50, n).astype(float)
    if nans:
        for arr in (h, lo, c, v):
            arr[rng.integers(1, n, 3)] = np.nan
    return h, lo, c, v


@pytest.mark.parametrize("case", FAST, ids=[c[0] for c in FAST])
def test_vectorised_equals_stream_each(case) -> None:
    """Every specialised kernel, deterministic series: ties, NaNs, several periods and lengths."""
    for seed, (n, dec, nans) in enumerate([(300, 0, False), (257, 3, False), (300, 1, True),
                                           (40, 0, True), (7, 2, False)]):
        for p in (1, 2, 3, 5, 14, 33):
            _check(_series(seed, n, dec, nans), p, case)


def test_stochrsi_block_path_equals_reference() -> None:
    rng = np.random.default_rng(9)
    x = np.round(1000 + np.cumsum(rng.standard_normal(5000)), 0)
    for p, fk, fd, fdt in ((14, 5, 3, 0), (2, 1, 1, 0), (5, 14, 3, 1), (30, 64, 2, 0)):
        a, b = np.empty(5000), np.empty(5000)
        c, d = np.empty(5000), np.empty(5000)
        assert not osc._stochrsi_kernel(x, 0, p, fk, fd, fdt, a, b)
        osc._stochrsi_ref(x, 0, p, fk, fd, fdt, c, d)
        assert np.array_equal(a, c, equal_nan=True) and np.array_equal(b, d, equal_nan=True)
    y = x.copy()
    y[100:120] = np.where(np.arange(20) % 2, 8e307, -8e307)  # overflow -> NaN RSI values: the
    a, b = np.empty(5000), np.empty(5000)  # kernel flags them, the wrapper falls back
    assert np.isnan(ta.rsi(y)[200:]).any()
    assert osc._stochrsi_kernel(y, 0, 14, 5, 3, 0, a, b)
    got = ta.stochrsi(y)
    c, d = np.empty(5000), np.empty(5000)
    osc._stochrsi_ref(y, 0, 14, 5, 3, 0, c, d)
    assert np.array_equal(got[0], c, equal_nan=True) and np.array_equal(got[1], d, equal_nan=True)


def test_atr_ordered_true_range_and_its_fallback() -> None:
    """ATR/NATR/TRANGE compute the true range as max(h, pc) - min(l, pc), equal to TA-Lib's
    three-way max only when high >= low: the kernel reports other bars and the wrapper reruns
    the reference (stream) kernel."""
    from app.engine.indicators import directional as dr

    h, lo, c, _ = _series(11, 500, 2, False)
    bad_h, bad_lo = h.copy(), lo.copy()
    bad_h[123], bad_lo[123] = lo[123] - 1.0, h[123] + 1.0
    for kind in (0, 1, 2):
        for p in (1, 2, 14):
            a, b = np.empty(500), np.empty(500)
            assert not dr._atr_kernel(h, lo, c, 0, p, kind, a)
            dr._atr_ref(h, lo, c, 0, p, kind, b)
            assert np.array_equal(a, b, equal_nan=True), (kind, p)
            assert dr._atr_kernel(bad_h, bad_lo, c, 0, p, kind, a)
    assert np.array_equal(ta.natr(bad_h, bad_lo, c), _stream("natr", {}, [bad_h, bad_lo, c])[0], equal_nan=True)
