"""Level-of-detail pyramids: built, grown and updated in place, they equal a reduction of the raw bars."""
from __future__ import annotations

import numpy as np
import pytest

from app.widgets.chart.lod import Pyramid, bucket_bounds, level_for


@pytest.mark.parametrize("op", [np.fmax, np.fmin, np.add])
def test_pyramid_buckets_equal_a_direct_reduction_after_appends_and_replacements(op):
    rng = np.random.default_rng(1)
    for trial in range(120):
        n = int(rng.integers(1, 3000))
        x = rng.standard_normal(n)
        if op is not np.add and trial % 3 == 0:
            x[rng.random(n) < 0.2] = np.nan  # indicator warm-ups
        p = Pyramid(op)
        m = max(1, n // 2)
        p.build(x[:m])
        while m < n:  # live: appends (in small batches) ...
            m2 = min(n, m + int(rng.integers(1, 50)))
            p.update(x[:m2], m - 1)
            m = m2
        for _ in range(5):  # ... and replacements of the last bar
            x[n - 1] = rng.standard_normal()
            p.update(x, n - 1)
        fresh = Pyramid(op)
        fresh.build(x)
        assert sorted(p.levels) == sorted(fresh.levels)
        for k in fresh.levels:
            np.testing.assert_allclose(p.level(k), fresh.level(k), equal_nan=True)
        for _ in range(10):
            i0 = int(rng.integers(0, n))
            i1 = int(rng.integers(i0, n))
            k = int(rng.integers(0, 12))
            got = p.buckets(x, i0, i1, k)
            first, last = bucket_bounds(i0, i1, min(k, p.top) if i1 > i0 else 0)
            want = np.array([op.reduce(x[a : b + 1]) for a, b in zip(first, last)])
            np.testing.assert_allclose(got, want, equal_nan=True)


def test_level_for_puts_a_few_pixels_between_buckets():
    assert level_for(100, 1500) == 0
    k = level_for(1_000_000, 1500)
    assert 1_000_000 / 2**k <= 1500 / 3 < 1_000_000 / 2 ** (k - 1)


def test_top_for_matches_a_built_pyramid():
    from app.widgets.chart.lod import top_for

    for n in [1, 2, 8, 9, 16, 17, 100, 1023, 1024, 1025, 65_537, 1_000_000]:
        p = Pyramid(np.fmax)
        p.build(np.arange(n, dtype=np.float64))
        assert p.top == top_for(n), n


def test_a_column_built_in_the_background_catches_up_with_changes_made_meanwhile():
    from app.widgets.chart.lod import LodColumn

    rng = np.random.default_rng(5)
    store = np.zeros(400_000)
    store[:300_000] = rng.standard_normal(300_000)
    n = [300_000]
    col = LodColumn(np.fmax, lambda: store[: n[0]])
    for _ in range(2_000):  # the UI thread keeps updating and appending while the worker builds
        store[n[0] - 1] = rng.standard_normal() * 10
        col.update(store[: n[0]], n[0] - 1)
        store[n[0]] = rng.standard_normal()
        n[0] += 1
        col.update(store[: n[0]], n[0] - 1)
    x = store[: n[0]]
    fresh = Pyramid(np.fmax)
    fresh.build(x)
    got = col.pyramid()
    for k in fresh.levels:
        np.testing.assert_array_equal(got.level(k), fresh.level(k))
    assert col.buckets(x, 5, n[0] - 7, 12).max() == x[5 : n[0] - 6].max()
