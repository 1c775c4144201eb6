"""The bar store (app/engine/data/bar_store.py): read and write 1M one-minute bars, live appends, and the order
journal's commit latency with and without a bulk bar write running in another process.

    python bench/bench_bar_store.py [--bars 1000000] [--repeat 5] [--appends 5000] [--commits 2000] [--rounds 2]

Reads are warm (the files in the page cache, as after a download or on a chart's second open), each through a
new ``BarStore`` so the index is parsed every time. Anchors in the same run: ``numpy.load`` of the same bars as
one .npy file, ``pandas.read_parquet`` (n/a without pyarrow), and the layouts not chosen: one .npy per column
per month, and rows in SQLite. The journal: ``Store.stage_order`` + ``commit`` of one order row, as the
execution engine journals an order, ``--commits`` times, alternating rounds without and with a child process
rewriting 1M bars in the same profile in a loop (one commit about every millisecond, so a round spans
several bulk writes).
"""
from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, median, pct, table

from app.engine.core.store import Store
from app.engine.data import bar_store
from app.engine.data.bar_chunks import ROW, period_keys
from app.engine.data.bar_store import BarStore
from app.engine.data.bars import COLUMNS, Bars

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01 UTC


def make_bars(n: int, seed: int = 0) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    open_ = close * np.exp(rng.normal(0, 5e-4, n))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 1e-3)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 1e-3)
    ts = T0 + MINUTE * np.arange(n, dtype=np.int64)
    return Bars.from_arrays(ts, open_, high, low, close, rng.gamma(2.0, 1.0, n), timeframe_ms=MINUTE,
                            symbol="BTC/USDT")


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def store_figures(bars: Bars, repeat: int, appends: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    writes = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            BarStore(d).write("binance", "BTC/USDT", MINUTE, bars, "bench")
            writes.append((time.perf_counter() - t) * 1e3)
    out["write"] = writes
    with tempfile.TemporaryDirectory() as d:
        BarStore(d).write("binance", "BTC/USDT", MINUTE, bars, "bench")
        got = BarStore(d).read("binance", "BTC/USDT", MINUTE)
        assert all(np.array_equal(got.column(c), bars.column(c)) for c in COLUMNS)
        out["read"] = timed(lambda: BarStore(d).read("binance", "BTC/USDT", MINUTE), repeat)
        mid = int(bars.ts[len(bars) // 2])
        out["read one month"] = timed(lambda: BarStore(d).read("binance", "BTC/USDT", MINUTE, since=mid,
                                                               until=mid + 30 * 1440 * MINUTE), repeat)
        store = BarStore(d)
        last = int(bars.ts[-1])
        lat = []
        for i in range(1, appends + 1):
            t = time.perf_counter()
            store.append_bar("binance", "BTC/USDT", MINUTE, last + i * MINUTE, 1.0, 2.0, 0.5, 1.5, 3.0)
            lat.append((time.perf_counter() - t) * 1e3)
        out["append_bar"] = lat
        out["read with a live tail"] = timed(lambda: BarStore(d).read("binance", "BTC/USDT", MINUTE), repeat)
    return out


def anchor_figures(bars: Bars, repeat: int) -> dict[str, list[float] | None]:
    rows = np.empty(len(bars), dtype=ROW)
    for c in COLUMNS:
        rows[c] = bars.column(c)
    out: dict[str, list[float] | None] = {}
    with tempfile.TemporaryDirectory() as d:
        one = Path(d) / "bars.npy"
        np.save(one, rows)
        out["numpy.load, one .npy"] = timed(lambda: np.load(one), repeat)

        def into_bars():
            r = np.load(one)
            return Bars.from_arrays(r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"], MINUTE)

        out["numpy.load into Bars"] = timed(into_bars, repeat)
        try:
            import pandas as pd
            import pyarrow  # noqa: F401

            pq = Path(d) / "bars.parquet"
            pd.DataFrame({c: bars.column(c) for c in COLUMNS}).to_parquet(pq)
            out["pandas.read_parquet"] = timed(lambda: pd.read_parquet(pq), repeat)
        except ImportError:
            out["pandas.read_parquet"] = None
        keys = period_keys(rows["ts"], MINUTE)
        cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        files = []
        for i, (a, b) in enumerate(zip(np.r_[0, cuts], np.r_[cuts, len(rows)])):
            for c in COLUMNS:
                f = Path(d) / f"{i}.{c}.npy"
                np.save(f, np.ascontiguousarray(rows[c][a:b]))
                files.append((c, f))

        def per_column():
            parts: dict[str, list[np.ndarray]] = {c: [] for c in COLUMNS}
            for c, f in files:
                parts[c].append(np.load(f))
            return {c: np.concatenate(p) for c, p in parts.items()}

        out["one .npy per column per month"] = timed(per_column, repeat)
        months = []
        for i, (a, b) in enumerate(zip(np.r_[0, cuts], np.r_[cuts, len(rows)])):
            months.append(Path(d) / f"{i}.rows.npy")
            np.save(months[-1], rows[a:b])

        def row_major():
            parts = [np.load(f) for f in months]
            got = Bars(len(rows) + len(rows) // 8, MINUTE)
            for r in parts:
                got.extend(r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
            return got

        out["one row-major .npy per month"] = timed(row_major, repeat)
        db = sqlite3.connect(str(Path(d) / "bars.db"))
        db.execute("CREATE TABLE bars(ts INTEGER PRIMARY KEY, open REAL, high REAL, low REAL, close REAL, volume REAL)")
        t = time.perf_counter()
        with db:
            db.executemany("INSERT INTO bars VALUES (?,?,?,?,?,?)", rows.tolist())
        out["sqlite write"] = [(time.perf_counter() - t) * 1e3]

        def sqlite_read():
            got = db.execute("SELECT ts, open, high, low, close, volume FROM bars ORDER BY ts").fetchall()
            arr = np.array(got, dtype=np.float64)
            return arr[:, 0].astype(np.int64), arr[:, 1:]

        out["SQLite rows"] = timed(sqlite_read, max(1, repeat // 2))
        db.close()
    return out


_BULK_WRITER = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from bench_bar_store import make_bars
from app.engine.data.bar_store import BarStore
bars = make_bars({n}, seed=1)
store = BarStore({profile!r})
print("go", flush=True)
k = 0
while True:
    store.write("binance", "BULK/USDT", 60_000, bars, "bench")  # rewrites every chunk: ~{n} bars, fsynced
    k += 1
    print(k, flush=True)
"""

_CPU_BURNER = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
import numpy as np
from bench_bar_store import make_bars
bars = make_bars({n}, seed=1)
print("go", flush=True)
while True:  # the same CPU appetite as the bulk writer, no file written
    np.sort(bars.close * 1.0001)
"""


def journal_commits(profile: Path, commits: int, start: int) -> list[float]:
    store = Store(profile / "kestrel.db")
    lat = []
    try:
        for i in range(start, start + commits):
            store.stage_order((f"Kbench-{i}", "BTC/USDT", "sim", "BUY", "LIMIT", 0.001, 60_000.0, "bench",
                               "SUBMITTED", 0.0, 0.0, None, "", 1_750_000_000_000, 1_750_000_000_000))
            t = time.perf_counter()
            store.commit()
            lat.append((time.perf_counter() - t) * 1e6)
            time.sleep(0.001)  # an order every millisecond or so: the round spans several bulk writes
    finally:
        store.close()
    return lat


def journal_figures(n: int, commits: int, rounds: int) -> tuple[dict[str, list[list[float]]], int]:
    """Per round: commits alone, beside the bulk bar writer, beside a process that only burns CPU (this box
    has two cores: it tells CPU contention from the bar store's I/O)."""
    out: dict[str, list[list[float]]] = {"alone": [], "bulk": [], "cpu": []}
    bulk_writes = 0
    with tempfile.TemporaryDirectory() as d:
        profile = Path(d)
        start = 0
        for _ in range(rounds):
            for what in ("alone", "bulk", "cpu"):
                child = None
                if what != "alone":
                    code = (_BULK_WRITER if what == "bulk" else _CPU_BURNER).format(
                        root=str(ROOT), bench=str(Path(__file__).parent), n=n, profile=str(profile))
                    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
                    assert child.stdout.readline().strip() == "go"
                    time.sleep(0.3)  # into its first write
                out[what].append(journal_commits(profile, commits, start))
                start += commits
                if child is not None:
                    child.kill()
                    printed, _ = child.communicate()
                    if what == "bulk":
                        bulk_writes += len(printed.split())
    return out, bulk_writes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=float, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--appends", type=int, default=5000)
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    n = int(a.bars)
    bars = make_bars(n)
    s = store_figures(bars, a.repeat, a.appends)
    anchors = anchor_figures(bars, a.repeat)

    def ms(xs):
        return "n/a (pyarrow not installed)" if xs is None else f"{median(xs):.1f}"

    print(f"bar store: {n:,} one-minute bars ({n * 48 / 1e6:.0f} MB), medians of {a.repeat} runs, warm page cache")
    rows = [
        ["BarStore.read, all bars [ms] (goal <= 100)", ms(s["read"])],
        ["  anchor: numpy.load of the same bars as one .npy [ms]", ms(anchors["numpy.load, one .npy"])],
        ["  anchor: the same, then Bars.from_arrays (contiguous columns) [ms]", ms(anchors["numpy.load into Bars"])],
        ["  anchor: pandas.read_parquet [ms]", ms(anchors["pandas.read_parquet"])],
        ["  layout not chosen: one .npy per column per month (np.load) [ms]",
         ms(anchors["one .npy per column per month"])],
        ["  layout not chosen: one row-major .npy per month (np.load) [ms]",
         ms(anchors["one row-major .npy per month"])],
        ["  layout not chosen: rows in SQLite, SELECT into numpy [ms]", ms(anchors["SQLite rows"])],
        ["BarStore.read, one month (30 days) [ms]", ms(s["read one month"])],
        [f"BarStore.read with {a.appends % bar_store.TAIL_FOLD} live bars in the tail [ms]",
         ms(s["read with a live tail"])],
        ["BarStore.write, all bars, new series (fsynced) [ms]", ms(s["write"])],
        ["  layout not chosen: SQLite executemany + commit [ms]", ms(anchors["sqlite write"])],
        [f"append_bar p50 / p99 / max of {a.appends:,} [ms] (max: the fold every {bar_store.TAIL_FOLD})",
         f"{median(s['append_bar']):.3f} / {pct(s['append_bar'], 0.99):.3f} / {max(s['append_bar']):.1f}"],
    ]
    print(table(["measure", "result"], rows))
    j, bulk = journal_figures(n, a.commits, a.rounds)

    def p(xs):
        return f"{pct(xs, 0.5):.0f} / {pct(xs, 0.99):.0f}"

    jrows = [[f"round {i + 1}", p(x), p(y), p(z)] for i, (x, y, z) in enumerate(zip(j["alone"], j["bulk"], j["cpu"]))]
    print(f"\norder journal: stage_order + commit of one order row, {a.commits:,} per round [µs p50 / p99]; the "
          f"bulk writer completed {bulk} rewrites of {n:,} bars during the 'beside' rounds")
    print(table(["round", "alone", "beside a bulk bar write", "beside a CPU-only process"], jrows))


if __name__ == "__main__":
    main()
