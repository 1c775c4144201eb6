"""Benchmark the Kestrel indicator library against TA-Lib, side by side in one run.

    python bench/bench_indicators.py [--sizes 1e6,1e7] [--repeat 11] [--runs 3] [--only rsi,macd]
    python bench/bench_indicators.py --skip-compile --skip-stream --json run1.json   # one process ...
    python bench/bench_indicators.py --combine run1.json run2.json run3.json        # ... then the medians

Vectorised: per indicator and size, ours and TA-Lib are called on the same float64 C-contiguous
arrays, alternately in ABBA order (ours, TA-Lib, TA-Lib, ours, ...) so that neither side always
runs right after the other (cache state, the allocator's freed block) and load bursts on a shared
machine hit both sides.  Each call allocates its outputs, as a user's call does; the garbage
collector is off while timing.  Per cell: median ns/bar of each side and the ratio (ours/TA-Lib,
<= 1.0 means at least as fast) = the median of the per-repetition ratios, each repetition's two
calls being adjacent in time.  ``--runs N`` repeats the whole table N times and reports, per cell,
the median over the runs plus the lowest and highest run ratio (how noisy the machine was).
Runs in separate processes (``--json``, then ``--combine``) also vary where the arrays land in
memory, which moves the ratio of memory-bound kernels by a few percent from process to process.
Beside it: the memory-bandwidth floor measured in the same run (median ns per float64 element of
``x.copy()``), and the fixed per-call cost of each wrapper on 100 bars.

Then the streaming update cost per call, and the library's cold (empty Numba cache, fresh
subprocess) and warm import + ``warmup()`` time.
"""
from __future__ import annotations

import argparse
import gc
import json
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


def abba_times(fa, fb, repeat: int) -> tuple[list[float], list[float]]:
    """Times of ``fa`` and ``fb``, ``repeat`` each, called in ABBA order (a b, b a, a b, ...)."""
    fa()
    fb()
    ta_, tb_ = [], []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeat):
            for f, acc in ((fa, ta_), (fb, tb_)) if r % 2 == 0 else ((fb, tb_), (fa, ta_)):
                t = time.perf_counter()
                f()
                acc.append(time.perf_counter() - t)
    finally:
        if gc_was:
            gc.enable()
    return ta_, tb_


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


def _calls(name: str, d: dict[str, np.ndarray]):
    """(ours, talib or None) zero-argument callables for indicator ``name`` on data ``d``."""
    import app.engine.indicators as ta

    spec = ta.registry[name]
    args = [d[i] for i in spec.inputs if i != "session"]
    kw = {"session": d["session"]} if name == "vwap" else {}
    ref = None
    if name in ta.TALIB_NAMES:
        import talib

        f = getattr(talib, name.upper())
        ref = lambda: f(*args)  # noqa: E731
    return (lambda: spec.fn(*args, **kw)), ref


def bench_vectorised(sizes: list[int], repeat: int, only: set[str] | None) -> list[dict]:
    import app.engine.indicators as ta

    rows = []
    for n in sizes:
        d = make_data(n)
        floor = median_time(lambda: d["close"].copy(), repeat) / n * 1e9
        for name in ta.registry:
            if only and name not in only:
                continue
            ours_fn, ref_fn = _calls(name, d)
            if ref_fn is not None:
                a, b = abba_times(ours_fn, ref_fn, repeat)
                ratio = float(np.median(np.array(a) / np.array(b)))
                ours, ref = float(np.median(a)) / n * 1e9, float(np.median(b)) / n * 1e9
            else:
                ours, ref, ratio = median_time(ours_fn, repeat) / n * 1e9, float("nan"), float("nan")
            rows.append({"name": name, "n": n, "ours": ours, "talib": ref, "ratio": ratio, "floor": floor})
    return rows


def combine_runs(runs: list[list[dict]]) -> list[dict]:
    """Per cell: medians over the runs, plus the lowest and highest run ratio."""
    out = []
    for cells in zip(*runs):
        r = {k: cells[0][k] for k in ("name", "n")}
        for k in ("ours", "talib", "ratio", "floor"):
            r[k] = float(np.median([c[k] for c in cells]))
        rs = [c["ratio"] for c in cells]
        r["lo"], r["hi"] = min(rs), max(rs)
        out.append(r)
    return out


def bench_call_overhead(only: set[str] | None, n: int = 100, repeat: int = 2001) -> list[tuple[str, float, float]]:
    """Median µs per call on ``n`` bars: the fixed cost of each wrapper (validation, allocation,
    dispatch), which is part of every timing above."""
    import app.engine.indicators as ta

    d = make_data(n)
    rows = []
    for name in ta.TALIB_NAMES:
        if only and name not in only:
            continue
        a, b = abba_times(*_calls(name, d), repeat)
        rows.append((name, float(np.median(a)) * 1e6, float(np.median(b)) * 1e6))
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


def _fmt(x: float, spec: str = ".2f") -> str:
    return format(x, spec) if x == x else "-"


LAG_PROBE = """
import asyncio, json, os, subprocess, sys, threading, time

async def probe(seconds):
    lags = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        t = loop.time()
        await asyncio.sleep(0.01)
        lags.append((loop.time() - t - 0.01) * 1000.0)
    return lags

mode, seconds = sys.argv[1], float(sys.argv[2])
work = None
if mode == "thread":
    from app.engine.indicators import warmup
    work = threading.Thread(target=warmup, daemon=True)
    work.start()
elif mode == "process":
    from app.engine.indicators import background
    work = background.start()
lags = asyncio.run(probe(seconds))
if mode == "process" and work is not None:
    work.stop()
lags.sort()
print(json.dumps({"p50": lags[len(lags) // 2], "p99": lags[int(0.99 * len(lags))], "max": lags[-1],
                  "n": len(lags)}))
"""


def bench_warmup_lag(seconds: float = 20.0) -> dict[str, dict[str, float]]:
    """Lag of an asyncio loop ticking every 10 ms (the GUI loop's stand-in) while the kernels
    compile with an empty cache: idle, in a low-priority child process (what the app does), and
    in a thread of the same process (what it avoids)."""
    out = {}
    for mode in ("idle", "process", "thread"):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
            r = subprocess.run([sys.executable, "-c", LAG_PROBE, mode, str(seconds)], env=env, cwd=str(ROOT),
                               capture_output=True, text=True, check=True)
            out[mode] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def bench_gui_lag(seconds: float = 40.0) -> dict[str, dict[str, str]]:
    """The real window (offscreen, fresh profile, empty kernel cache) for ``seconds``, with the
    background warm-up off and on: the app's own event-loop lag p99 (last ~30 s) and what the
    warm-up logged."""
    import re

    out = {}
    for mode in ("0", "1"):
        with tempfile.TemporaryDirectory() as prof, tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen", KESTREL_INDICATOR_WARMUP=mode,
                       KESTREL_QUIT_AFTER_S=str(seconds), NUMBA_CACHE_DIR=cache)
            subprocess.run([sys.executable, "main.py", "--profile", prof], env=env, cwd=str(ROOT),
                           capture_output=True, text=True, timeout=seconds + 120)
            log = (Path(prof) / "logs" / "kestrel.log").read_text()
            lag = re.findall(r"event-loop lag p99 ([0-9.]+) ms", log)
            warm = [ln.split(": ", 1)[-1] for ln in log.splitlines() if "kestrel.indicators" in ln]
            out[mode] = {"p99": lag[-1] if lag else "?", "warmup": " / ".join(warm) or "-"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--skip-stream", action="store_true")
    ap.add_argument("--json", default="", help="also write the vectorised runs to this file")
    ap.add_argument("--combine", nargs="+", default=[], help="print the medians of these --json files")
    ap.add_argument("--gui-lag", action="store_true",
                    help="only run the real window 40 s with the background warm-up off and on (empty cache)")
    ap.add_argument("--warmup-lag", action="store_true",
                    help="only measure event-loop lag while the kernels compile (child process vs thread)")
    a = ap.parse_args()
    sizes = [int(float(s)) for s in a.sizes.split(",") if s]
    only = set(a.only.split(",")) if a.only else None
    if a.gui_lag:
        print("\n## The window for 40 s, empty kernel cache (offscreen, fresh profile)\n")
        print("| background warm-up | app event-loop lag p99 ms | warm-up log |")
        print("|---|---:|---|")
        for mode, r in bench_gui_lag().items():
            print(f"| {'on' if mode == '1' else 'off'} | {r['p99']} | {r['warmup']} |")
        return
    if a.warmup_lag:
        print("\n## Event-loop lag while compiling (empty cache, 10 ms ticks, 20 s)\n")
        print("| kernels compile ... | ticks | lag p50 ms | lag p99 ms | lag max ms |")
        print("|---|---:|---:|---:|---:|")
        labels = {"idle": "nowhere (idle)", "process": "in the low-priority child process (the app)",
                  "thread": "in a thread of the same process (avoided)"}
        for mode, r in bench_warmup_lag().items():
            print(f"| {labels[mode]} | {r['n']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.1f} |")
        return

    if a.combine:
        runs = []
        for path in a.combine:
            saved = json.loads(Path(path).read_text())
            runs.extend(saved["runs"])
            a.repeat = saved["repeat"]
    else:
        runs = []
        for k in range(a.runs):
            runs.append(bench_vectorised(sizes, a.repeat, only))
            print(f"run {k + 1}/{a.runs} done", file=sys.stderr, flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps({"runs": runs, "repeat": a.repeat}))
    rows = combine_runs(runs)
    sizes = sorted({r["n"] for r in rows})
    print(f"\n## Vectorised: {len(runs)} run(s) x {a.repeat} ABBA repetitions; ns/bar; "
          "ratio = ours / TA-Lib (median)\n")
    print("| indicator | bars | ours ns/bar | TA-Lib ns/bar | ratio | run ratios min-max | copy floor ns/elem |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        spread = f"{r['lo']:.2f}-{r['hi']:.2f}" if r["ratio"] == r["ratio"] else "-"
        print(f"| {r['name']} | {r['n']:.0e} | {r['ours']:.2f} | {_fmt(r['talib'])} | {_fmt(r['ratio'])} "
              f"| {spread} | {r['floor']:.2f} |")
    for n in sizes:
        cells = [r for r in rows if r["n"] == n and r["ratio"] == r["ratio"]]
        ok = sum(r["ratio"] <= 1.0 for r in cells)
        print(f"\n{n:.0e} bars: {ok} of {len(cells)} TA-Lib indicators at <= 1.00x "
              f"(worst {max(cells, key=lambda r: r['ratio'])['name'] if cells else '-'} "
              f"{max((r['ratio'] for r in cells), default=float('nan')):.2f})")
    if a.combine:
        return

    print("\n## Fixed cost per call (100 bars, µs, median)\n")
    print("| indicator | ours µs | TA-Lib µs |")
    print("|---|---:|---:|")
    for name, o, t in bench_call_overhead(only):
        print(f"| {name} | {o:.2f} | {t:.2f} |")

    if not a.skip_stream:
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
