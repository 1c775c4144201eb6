"""Streaming == vectorised for every registered indicator (bit-for-bit or within 1e-12),
including ticks that update a still-forming bar (``final=False``)."""
from __future__ import annotations

import numpy as np
import pytest

import app.engine.indicators as ta
from tests.kit.indicator_cases import CASES
from tests.kit.indicators import REAL, SYNTH, with_inner_nans

ALL_CASES = [(n, i) for n in ta.registry for i in range(len(CASES[n]))]


def _inputs(name: str, data: dict) -> list[np.ndarray]:
    spec = ta.registry[name]
    n = len(data["close"])
    return [data[i] if i != "session" else (np.arange(n) // 97).astype(float) for i in spec.inputs]


def _vector(name: str, params: dict, args: list[np.ndarray]) -> list[np.ndarray]:
    spec = ta.registry[name]
    if name == "vwap":
        out = spec.fn(*args[:4], session=args[4], **params)
    else:
        out = spec.fn(*args, **params)
    return list(out) if isinstance(out, tuple) else [out]


def _stream_all(name: str, params: dict, args: list[np.ndarray], ticks: bool) -> np.ndarray:
    s = ta.stream(name, **params)
    n = len(args[0])
    res = []
    rng = np.random.default_rng(3)
    for i in range(n):
        bar = [float(a[i]) for a in args]
        if ticks and i % 3 == 0:
            # a couple of forming-bar ticks with other prices, then the final bar
            for _ in range(2):
                tick = [v * (1 + 0.001 * rng.standard_normal()) if k < len(bar) - (name == "vwap") else v
                        for k, v in enumerate(bar)]
                probe = s.copy()
                want = probe.update(*tick)
                got = s.update(*tick, final=False)
                assert np.array_equal(np.atleast_1d(want), np.atleast_1d(got), equal_nan=True), \
                    f"{name}: forming-bar value differs from a committed update"
        out = s.update(*bar)
        res.append(np.atleast_1d(np.asarray(out, dtype=float)))
    return np.array(res).reshape(n, -1)


def _check(name: str, params: dict, data: dict, ticks: bool) -> None:
    args = _inputs(name, data)
    vec = _vector(name, params, args)
    st = _stream_all(name, params, args, ticks)
    for k, v in enumerate(vec):
        s = st[:, k]
        assert np.array_equal(np.isnan(s), np.isnan(v)), f"{name}[{k}] NaN positions differ"
        m = ~np.isnan(v)
        err = np.abs(s[m] - v[m])
        assert (err <= 1e-12 * np.maximum(np.abs(v[m]), 1e-300)).all() or (err == 0).all(), \
            f"{name}[{k}] streaming differs: max {err.max():.3e}"


@pytest.mark.parametrize("name,case", ALL_CASES)
def test_stream_equals_vector_real(name: str, case: int) -> None:
    data = next(iter(REAL.values()))
    data = {k: v[:1500] for k, v in data.items()}
    _check(name, CASES[name][case], data, ticks=False)


@pytest.mark.parametrize("dataset", ["gaps", "constant", "leading_nan", "short", "tiny", "close_outside_range"])
@pytest.mark.parametrize("name", list(ta.registry))
def test_stream_equals_vector_synthetic(name: str, dataset: str) -> None:
    _check(name, CASES[name][0], SYNTH[dataset], ticks=False)


@pytest.mark.parametrize("name", list(ta.registry))
def test_forming_bar_updates(name: str) -> None:
    data = {k: v[:300] for k, v in SYNTH["walk"].items()}
    _check(name, CASES[name][-1], data, ticks=True)


@pytest.mark.parametrize("name", list(ta.registry))
def test_stream_with_inner_nans(name: str) -> None:
    _check(name, CASES[name][0], with_inner_nans(), ticks=False)


def test_reset_and_int_inputs() -> None:
    s = ta.rsi_stream(5)
    vals = [s.update(x) for x in (1, 2, 3, 2, 5, 6, 7)]  # ints are accepted
    s.reset()
    again = [s.update(float(x)) for x in (1, 2, 3, 2, 5, 6, 7)]
    assert np.array_equal(np.array(again), np.array(vals), equal_nan=True)
