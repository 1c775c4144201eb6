"""Benchmark the Kestrel indicator library against TA-Lib, side by side in one run.

    python bench/bench_indicators.py [--sizes 1e6,1e7] [--repeat 5] [--only rsi,macd]

Prints, per indicator and size: median ns/bar for ours and for TA-Lib (timed alternately, so load
bursts on a shared machine affect both), the ratio (ours/TA-Lib, <= 1.0 means we are at least as fast), and the memory-bandwidth floor measured in the same run
(median ns per float64 element for ``x.copy()``).  Then the library's cold (empty Numba cache,
fresh subprocess) and warm import+compile time, and the streaming update cost per call.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_time(fn, repeat: int) -> float:
    fn()  # compile / warm caches
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def paired_median_times(fa, fb, repeat: int) -> tuple[float, float]:
    """Median times of ``fa`` and ``fb`` measured alternately (a, b, a, b, ...) so that load
    bursts on a shared machine hit both sides of the ratio alike."""
    fa()
    fb()
    ta_, tb_ = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        fa()
        ta_.append(time.perf_counter() - t)
        t = time.perf_counter()
        fb()
        tb_.append(time.perf_counter() - t)
    return float(np.median(ta_)), float(np.median(tb_))


def make_data(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(12345)
    close = 1000.0 + np.cumsum(rng.standard_normal(n))
    spread = np.abs(rng.standard_normal(n)) * 0.5
    high = close + spread
    low = close - np.abs(rng.standard_normal(n)) * 0.5
    open_ = low + (high - low) * rng.random(n)
    vol = rng.integers(1, 1000, n).astype(np.float64)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": vol,
            "session": (np.arange(n) // 1440).astype(np.float64)}


def bench_vectorised(sizes: list[int], repeat: int, only: set[str] | None) -> list[dict]:
    import app.engine.indicators as ta

    try:
        import talib
    except ImportError:  # pragma: no cover
        talib = None
    rows = []
    for n in sizes:
        d = make_data(n)
        floor = median_time(lambda: d["close"].copy(), repeat) / n * 1e9
        for name in ta.registry:
            if only and name not in only:
                continue
            spec = ta.registry[name]
            args = [d[i] for i in spec.inputs if i != "session"]
            kw = {"session": d["session"]} if name == "vwap" else {}
            ref = float("nan")
            if talib is not None and name in ta.TALIB_NAMES:
                f = getattr(talib, name.upper())
                ours, ref = paired_median_times(lambda: spec.fn(*args, **kw), lambda: f(*args), repeat)
                ours, ref = ours / n * 1e9, ref / n * 1e9
            else:
                ours = median_time(lambda: spec.fn(*args, **kw), repeat) / n * 1e9
            rows.append({"name": name, "n": n, "ours": ours, "talib": ref, "floor": floor})
    return rows


def bench_stream(only: set[str] | None, calls: int = 100_000) -> dict[str, float]:
    import app.engine.indicators as ta

    d = make_data(calls)
    out = {}
    for name in ta.registry:
        if only and name not in only:
            continue
        spec = ta.registry[name]
        s = ta.stream(name)
        cols = [d[i].tolist() for i in spec.inputs]
        upd = s.update
        if len(cols) == 1:
            c0 = cols[0]
            t = time.perf_counter()
            for i in range(calls):
                upd(c0[i])
        elif len(cols) == 2:
            c0, c1 = cols
            t = time.perf_counter()
            for i in range(calls):
                upd(c0[i], c1[i])
        elif len(cols) == 3:
            c0, c1, c2 = cols
            t = time.perf_counter()
            for i in range(calls):
                upd(c0[i], c1[i], c2[i])
        else:
            t = time.perf_counter()
            for i in range(calls):
                upd(*[c[i] for c in cols])
        out[name] = (time.perf_counter() - t) / calls * 1e6
    # forming-bar tick cost (final=False) for one representative indicator
    s = ta.stream("rsi")
    c0 = d["close"].tolist()
    t = time.perf_counter()
    for i in range(calls):
        s.update(c0[i], final=False)
    out["rsi (final=False tick)"] = (time.perf_counter() - t) / calls * 1e6
    return out


COLD_SNIPPET = """
import time, sys
t0 = time.perf_counter()
import app.engine.indicators as ta
t1 = time.perf_counter()
w = ta.warmup()
t2 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.3f}")
"""


def bench_compile() -> dict[str, float]:
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        for label in ("cold", "warm"):
            out = subprocess.run([sys.executable, "-c", COLD_SNIPPET], env=env, cwd=str(ROOT),
                                 capture_output=True, text=True, check=True).stdout.split()
            res[f"{label}_import_s"] = float(out[0])
            res[f"{label}_warmup_s"] = float(out[1])
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--skip-compile", action="store_true")
    a = ap.parse_args()
    sizes = [int(float(s)) for s in a.sizes.split(",") if s]
    only = set(a.only.split(",")) if a.only else None

    rows = bench_vectorised(sizes, a.repeat, only)
    print(f"\n## Vectorised (median of {a.repeat}), ns/bar; ratio = ours / TA-Lib\n")
    print("| indicator | bars | ours ns/bar | TA-Lib ns/bar | ratio | copy floor ns/elem |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = r["ours"] / r["talib"] if r["talib"] == r["talib"] else float("nan")
        tl = f"{r['talib']:.2f}" if r["talib"] == r["talib"] else "-"
        rt = f"{ratio:.2f}" if ratio == ratio else "-"
        print(f"| {r['name']} | {r['n']:.0e} | {r['ours']:.2f} | {tl} | {rt} | {r['floor']:.2f} |")

    print("\n## Streaming update cost (µs per call from Python, 100k calls)\n")
    print("| indicator | µs/call |")
    print("|---|---:|")
    for k, v in bench_stream(only).items():
        print(f"| {k} | {v:.3f} |")

    if not a.skip_compile:
        c = bench_compile()
        print("\n## Import + compile (fresh subprocess)\n")
        print("| | import s | warmup(all) s |")
        print("|---|---:|---:|")
        print(f"| cold (empty NUMBA cache) | {c['cold_import_s']:.3f} | {c['cold_warmup_s']:.2f} |")
        print(f"| warm (cache populated) | {c['warm_import_s']:.3f} | {c['warm_warmup_s']:.2f} |")


if __name__ == "__main__":
    main()
