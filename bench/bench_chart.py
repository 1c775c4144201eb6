"""Chart benchmark: Kestrel's ChartWidget beside finplot, offscreen at 1600x900, in one run.

For 10k, 100k and 1M one-minute candles, candles alone and the full chart (candles, volume, two moving
averages, trade markers): build, first render, pan/zoom frame p50/p95, full-range frame, update-last
p50/p95, append p50/p95, peak RSS. Times are GUI-thread CPU time (``time.thread_time``); every (library,
size, variant) runs ``--repeat`` times in a fresh process (so peak RSS is its own) and the table shows the
median of the repetitions. A "frame" is the call that changes the chart plus Qt event processing until
the repaint it caused is done (both libraries alike).

    .venv/bin/python bench/bench_chart.py                       # everything, 5 repetitions
    .venv/bin/python bench/bench_chart.py --sizes 1e5 --repeat 3 --libs kestrel

finplot is installed with ``pip install --no-deps finplot`` (its PyQt6 dependency would put a second Qt
binding into the environment; it runs on PySide6 through pyqtgraph here).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

from _common import ROOT, median, pct, table

W, H = 1600, 900
N_UPDATES = 60
N_APPENDS = 60
N_FULL = 10


# ------------------------------------------------------------------------------------------------- data
def make_data(n: int, extra: int, seed: int = 1):
    """n + extra one-minute bars (a GARCH walk), trade markers every ~500 bars."""
    import numpy as np

    from app.engine.data.bars import synthetic_history

    h = synthetic_history(30_000.0, 1_750_000_000_000, n + extra, 60_000, 0.1, seed, 5.0)
    rng = np.random.default_rng(seed)
    m = np.sort(rng.choice(n, size=max(n // 500, 2), replace=False))
    side = rng.integers(0, 2, len(m))
    mprice = np.where(side == 0, h[m, 3], h[m, 2])
    return h, m, side, mprice


def pan_zoom_ranges(n: int, frames: int, seed: int = 42) -> list[tuple[int, int]]:
    """A trader's gesture stream: pans of 2-10% of the span and zooms of 0.8-1.25x, spans 50..n."""
    import numpy as np

    rng = np.random.default_rng(seed)
    span, right = 200.0, float(n - 1)
    out = []
    for _ in range(frames):
        if rng.random() < 0.5:
            right -= rng.uniform(0.02, 0.1) * span * rng.choice([-1, 1, 1])
        else:
            span *= rng.choice([0.8, 1.25, 1.25, 1.5])
        span = min(max(span, 50.0), n - 1)
        right = min(max(right, span), n - 1)
        out.append((int(right - span), int(right)))
    return out


def settle(app) -> None:
    """Process events until the repaint they cause is done."""
    app.processEvents()
    app.processEvents()


def timed(fn) -> float:
    t = time.thread_time()
    fn()
    return (time.thread_time() - t) * 1000.0


def rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -------------------------------------------------------------------------------------------- kestrel
def run_kestrel(app, n: int, full: bool, frames: int) -> dict:
    import numpy as np

    from app.engine import indicators as ta
    from app.widgets.chart.widget import ChartWidget

    h, mi, mside, mprice = make_data(n, N_APPENDS)
    ta.sma(np.arange(100.0), 20), ta.ema(np.arange(100.0), 50)  # Numba: load compiled kernels, not timed
    df = {"ts": h[:n, 0].astype(np.int64), "open": h[:n, 1], "high": h[:n, 2], "low": h[:n, 3],
          "close": h[:n, 4], "volume": h[:n, 5]}
    res = {}
    chart = None

    def build():
        nonlocal chart
        chart = ChartWidget()
        chart.resize(W, H)
        chart.set_bars(df)
        chart.set_volume_visible(full)
        if full:
            chart.add_indicator("sma", {"timeperiod": 20})
            chart.add_indicator("ema", {"timeperiod": 50})
            chart.set_markers(h[mi, 0].astype(np.int64), mprice, mside)

    res["build"] = timed(build)

    def first():
        chart.show()
        settle(app)

    res["first_render"] = timed(first)
    pans = [timed(lambda r=r: (chart.set_x_range(*r), settle(app))) for r in pan_zoom_ranges(n, frames)]
    res["pan_p50"], res["pan_p95"] = pct(pans, 0.5), pct(pans, 0.95)
    fulls = [timed(lambda j=j: (chart.set_x_range(j % 2, n - 1), settle(app))) for j in range(N_FULL)]
    res["full"] = median(fulls)
    chart.set_x_range(n - 150, n - 1)
    settle(app)
    rng = np.random.default_rng(3)
    bar = chart.bar(n - 1)
    ups = []
    for _ in range(N_UPDATES):
        c = bar["close"] * (1 + rng.normal(0, 2e-4))
        bar = dict(bar, close=c, high=max(bar["high"], c), low=min(bar["low"], c), volume=bar["volume"] + 0.1)
        ups.append(timed(lambda b=bar: (chart.update_bar(b), settle(app))))
    res["update_p50"], res["update_p95"] = pct(ups, 0.5), pct(ups, 0.95)
    apps = []
    for j in range(N_APPENDS):
        row = h[n + j]
        b = {"ts": int(row[0]), "open": row[1], "high": row[2], "low": row[3], "close": row[4],
             "volume": row[5]}
        apps.append(timed(lambda b=b: (chart.update_bar(b), settle(app))))
    res["append_p50"], res["append_p95"] = pct(apps, 0.5), pct(apps, 0.95)
    assert chart.series.n == n + N_APPENDS
    res["rss_mb"] = rss_mb()
    return res


# -------------------------------------------------------------------------------------------- finplot
def run_finplot(app, n: int, full: bool, frames: int) -> dict:
    import finplot as fplt
    import numpy as np
    import pandas as pd

    h, mi, mside, mprice = make_data(n, N_APPENDS)
    total = n + N_APPENDS
    df = pd.DataFrame({"time": pd.to_datetime(h[:, 0].astype(np.int64), unit="ms"), "open": h[:, 1],
                       "close": h[:, 4], "high": h[:, 2], "low": h[:, 3], "volume": h[:, 5]})
    df["sma"] = df["close"].rolling(20).mean()
    df["ema"] = df["close"].ewm(span=50, adjust=False).mean()
    marker = np.full(total, np.nan)
    marker[mi] = mprice
    df["marker"] = marker
    res = {}
    items = {}

    def build():
        fplt.timestamp_format = "%H:%M"
        if full:
            ax, axv = fplt.create_plot("bench", rows=2, maximize=False)
        else:
            ax = fplt.create_plot("bench", rows=1, maximize=False)
        d = df.iloc[:n]
        items["candles"] = fplt.candlestick_ochl(d[["time", "open", "close", "high", "low"]], ax=ax)
        if full:
            items["volume"] = fplt.volume_ocv(d[["time", "open", "close", "volume"]], ax=axv)
            items["sma"] = fplt.plot(d["time"], d["sma"], ax=ax)
            items["ema"] = fplt.plot(d["time"], d["ema"], ax=ax)
            items["markers"] = fplt.plot(d["time"], d["marker"], ax=ax, style="^")
        items["ax"] = ax
        win = fplt.windows[0]
        win.resize(W, H)
        items["win"] = win

    res["build"] = timed(build)
    ax, win = items["ax"], items["win"]

    def first():
        fplt.show(qt_exec=False)
        settle(app)

    res["first_render"] = timed(first)
    t = df["time"]

    def set_range(a: int, b: int) -> None:
        fplt.set_x_pos(t.iloc[a], t.iloc[b], ax=ax)
        settle(app)

    pans = [timed(lambda r=r: set_range(*r)) for r in pan_zoom_ranges(n, frames)]
    res["pan_p50"], res["pan_p95"] = pct(pans, 0.5), pct(pans, 0.95)
    fulls = [timed(lambda j=j: set_range(j % 2, n - 1)) for j in range(N_FULL)]
    res["full"] = median(fulls)
    set_range(n - 150, n - 1)

    def push(m: int) -> None:
        """finplot's live update: hand every item its (whole) data again."""
        d = df.iloc[:m]
        items["candles"].update_data(d[["time", "open", "close", "high", "low"]])
        if full:
            items["volume"].update_data(d[["time", "open", "close", "volume"]])
            items["sma"].update_data(d["sma"])
            items["ema"].update_data(d["ema"])
        settle(app)

    rng = np.random.default_rng(3)
    ups = []
    last = n - 1
    cols = {c: df.columns.get_loc(c) for c in df.columns}
    for _ in range(N_UPDATES):
        c = df.iat[last, cols["close"]] * (1 + rng.normal(0, 2e-4))
        df.iat[last, cols["close"]] = c
        df.iat[last, cols["high"]] = max(df.iat[last, cols["high"]], c)
        df.iat[last, cols["low"]] = min(df.iat[last, cols["low"]], c)
        df.iat[last, cols["sma"]] = df["close"].iloc[last - 19: last + 1].mean()  # the last value only
        ups.append(timed(lambda: push(n)))
    res["update_p50"], res["update_p95"] = pct(ups, 0.5), pct(ups, 0.95)
    apps = [timed(lambda j=j: push(n + j + 1)) for j in range(N_APPENDS)]
    res["append_p50"], res["append_p95"] = pct(apps, 0.5), pct(apps, 0.95)
    res["rss_mb"] = rss_mb()
    return res


# --------------------------------------------------------------------------------------------- driver
def worker(lib: str, n: int, variant: str, frames: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication  # PySide6 before pyqtgraph: finplot runs on it too

    app = QApplication.instance() or QApplication([])
    fn = run_kestrel if lib == "kestrel" else run_finplot
    res = fn(app, n, variant == "full", frames)
    print("RESULT " + json.dumps(res), flush=True)


METRICS = ["build", "first_render", "pan_p50", "pan_p95", "full", "update_p50", "update_p95", "append_p50",
           "append_p95", "rss_mb"]
GOALS_1M_FULL = {"build": 100, "pan_p95": 8, "full": 10, "update_p95": 2, "append_p95": 4}


def run_one(lib: str, n: int, variant: str, frames: int, timeout: float) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", lib, str(n), variant, str(frames)]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        print(f"  {lib} {n} {variant}: timed out after {timeout:.0f} s", file=sys.stderr)
        return None
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"  {lib} {n} {variant} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
    return None


def fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e4,1e5,1e6")
    ap.add_argument("--variants", default="candles,full")
    ap.add_argument("--libs", default="kestrel,finplot")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--frames", type=int, default=100, help="pan/zoom frames per run")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", help="write all runs here")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        lib, n, variant, frames = args.worker
        worker(lib, int(n), variant, int(frames))
        return
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    libs, variants = args.libs.split(","), args.variants.split(",")
    runs: dict[tuple[str, int, str], list[dict]] = {}
    for n in sizes:
        for variant in variants:
            for rep in range(args.repeat):
                for lib in libs:  # interleaved: both libraries see the same machine load
                    t0 = time.perf_counter()
                    r = run_one(lib, n, variant, args.frames, args.timeout)
                    print(f"  {lib:8s} {n:>9,} {variant:7s} rep {rep + 1}: "
                          f"{'failed' if r is None else 'ok'} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
                    if r is not None:
                        runs.setdefault((lib, n, variant), []).append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{k[0]}|{k[1]}|{k[2]}": v for k, v in runs.items()}, f, indent=1)
    med = {k: {m: median([r[m] for r in v]) for m in METRICS} for k, v in runs.items()}
    headers = ["candles", "chart", "library"] + METRICS
    rows = []
    for n in sizes:
        for variant in variants:
            for lib in libs:
                m = med.get((lib, n, variant))
                rows.append([f"{n:,}", variant, lib] + [fmt(m[k]) if m else "-" for k in METRICS])
            if len(libs) == 2 and all((lib, n, variant) in med for lib in libs):
                a, b = med[(libs[1], n, variant)], med[(libs[0], n, variant)]
                rows.append(["", "", f"{libs[1]}/{libs[0]}"] +
                            [f"{a[k] / b[k]:.1f}x" if b[k] else "-" for k in METRICS])
    print(f"\nGUI-thread CPU ms (rss: MB), median of {args.repeat} runs, {W}x{H} offscreen\n")
    print(table(headers, rows))
    k = ("kestrel", 1_000_000, "full")
    if k in med:
        print("\nGoals at 1M candles, full chart:")
        for metric, goal in GOALS_1M_FULL.items():
            v = med[k][metric]
            print(f"  {metric:12s} {v:8.2f} ms   goal <= {goal} ms   {'met' if v <= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
