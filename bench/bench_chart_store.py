"""Issue 18: a chart's first paint of 1M one-minute bars read from the bar store, beside the same chart fed the same
bars from memory, in one run.

    python bench/bench_chart_store.py [--bars 1000000] [--repeat 5]
    QT_QPA_PLATFORM=offscreen python bench/bench_chart_store.py      # or under Xvfb: DISPLAY=:97 QT_QPA_PLATFORM=xcb

1M bars are written once into a ``BarStore`` in a temporary profile (the write is not what is measured). Then,
``--repeat`` times each, in this order:

(a) store read     ``BarStore(profile).read(venue, symbol, 1m)`` into ``Bars`` (a new store each time, so the
                   index is parsed; the chunk files are in the page cache, as on a chart's second open)
(b) chart paint    a new ``ChartWidget`` (1600x900), shown and idle, then ``set_bars`` of those ``Bars`` until the
                   view's first paint event after it has completed (Qt events processed until then)
(c) store -> paint (a) and (b) back to back: what a trader waits for between asking and seeing
anchor             (b) fed from an in-memory numpy array instead (the bars as one (n, 6) float64 array, its
                   columns handed to ``set_bars`` as ``bench_chart.py`` does): the share of the store is (c) minus
                   this

Wall-clock times (``perf_counter``), medians of the repeats; one round of each kind runs first as a warm-up
(imports, fonts, the label cache) and is not counted.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

import numpy as np
from _common import median, pct, table

VENUE, SYMBOL, MINUTE = "binance", "BTC/USDT", 60_000
W, H = 1600, 900


def rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_array(n: int, seed: int = 1) -> np.ndarray:
    """``n`` one-minute bars as an (n, 6) array: ts, open, high, low, close, volume (a GARCH walk)."""
    from app.engine.data.bars import synthetic_history

    return synthetic_history(30_000.0, 1_750_000_000_000, n, MINUTE, 0.1, seed, 5.0)


class FirstPaint:
    """Shows a new chart, then times ``feed(chart)`` up to the end of the view's next paint event."""

    def __init__(self, app) -> None:
        from PySide6.QtCore import QEvent, QObject

        self.app = app
        self.painted = False
        paint = QEvent.Type.Paint
        owner = self

        class Watch(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt API
                if event.type() == paint:
                    owner.painted = True  # (the paint runs when this returns; processEvents returns after it)
                return False

        self.watch = Watch()

    def new_chart(self):
        from app.widgets.chart.widget import ChartWidget

        chart = ChartWidget()
        chart.resize(W, H)
        chart.show()
        deadline = time.perf_counter() + 2.0
        while time.perf_counter() < deadline and not chart.view.isVisible():
            self.app.processEvents()
        for _ in range(20):  # idle: the empty chart's own paints are done
            self.app.processEvents()
            time.sleep(0.005)
        chart.view.installEventFilter(self.watch)
        return chart

    def drop(self, chart) -> None:
        """Delete the chart and its bars now (a ``deleteLater`` waits for an event loop this script never runs),
        so every round starts with the same memory."""
        from PySide6.QtCore import QEvent

        chart.close()
        chart.deleteLater()
        self.app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()

    def time(self, feed) -> tuple[float, float]:
        """(ms until ``feed`` returned, ms until the first paint after it completed)."""
        chart = self.new_chart()
        self.painted = False
        t0 = time.perf_counter()
        feed(chart)
        fed = time.perf_counter()
        while not self.painted:
            self.app.processEvents()
        done = time.perf_counter()
        assert chart.series is not None and chart.series.n > 0
        self.drop(chart)
        return (fed - t0) * 1e3, (done - t0) * 1e3


def run(n: int, repeat: int) -> dict[str, list[float]]:
    from PySide6.QtWidgets import QApplication

    from app.engine.data.bar_store import BarStore
    from app.engine.data.bars import Bars

    app = QApplication.instance() or QApplication(sys.argv[:1])
    h = make_array(n)
    bars = Bars.from_arrays(h[:, 0].astype(np.int64), h[:, 1], h[:, 2], h[:, 3], h[:, 4], h[:, 5],
                            timeframe_ms=MINUTE, symbol=SYMBOL)
    columns = {"ts": h[:, 0].astype(np.int64), "open": h[:, 1], "high": h[:, 2], "low": h[:, 3],
               "close": h[:, 4], "volume": h[:, 5]}
    fp = FirstPaint(app)
    out: dict[str, list[float]] = {k: [] for k in ("read", "set_bars", "paint", "total", "anchor_set_bars",
                                                   "anchor_paint")}
    with tempfile.TemporaryDirectory() as profile:
        t = time.perf_counter()
        BarStore(profile).write(VENUE, SYMBOL, MINUTE, bars, "bench")
        print(f"wrote {n:,} bars into the store in {(time.perf_counter() - t) * 1e3:.0f} ms (not measured below)")
        stored = BarStore(profile).read(VENUE, SYMBOL, MINUTE)
        assert stored.n == n and np.array_equal(stored.ts, bars.ts)

        def from_store(chart) -> None:
            chart.set_bars(BarStore(profile).read(VENUE, SYMBOL, MINUTE).as_dict())

        fp.time(lambda c: c.set_bars(stored.as_dict()))  # warm-ups, not counted
        fp.time(lambda c: c.set_bars(columns))
        for _ in range(repeat):
            t = time.perf_counter()
            got = BarStore(profile).read(VENUE, SYMBOL, MINUTE)
            out["read"].append((time.perf_counter() - t) * 1e3)
            fed, painted = fp.time(lambda c, g=got: c.set_bars(g.as_dict()))
            out["set_bars"].append(fed)
            out["paint"].append(painted)
            out["total"].append(fp.time(from_store)[1])
            fed, painted = fp.time(lambda c: c.set_bars(columns))
            out["anchor_set_bars"].append(fed)
            out["anchor_paint"].append(painted)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=float, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n = int(args.bars)
    platform = os.environ.get("QT_QPA_PLATFORM", "(default)")
    print(f"{n:,} one-minute bars, chart {W}x{H}, QT_QPA_PLATFORM={platform}, {os.cpu_count()} cores, "
          f"{args.repeat} repeats (medians; p95 of so few is the worst)")
    r = run(n, args.repeat)

    def row(name: str, key: str) -> list[object]:
        return [name, f"{median(r[key]):.1f}", f"{min(r[key]):.1f}", f"{pct(r[key], 0.95):.1f}"]

    print(table(["ms", "median", "min", "max"], [
        row("(a) BarStore.read -> Bars", "read"),
        row("(b) set_bars (returned)", "set_bars"),
        row("(b) set_bars -> first paint done", "paint"),
        row("(c) store -> first paint done", "total"),
        row("anchor: numpy -> set_bars (returned)", "anchor_set_bars"),
        row("anchor: numpy -> first paint done", "anchor_paint"),
    ]))
    share = median(r["total"]) - median(r["anchor_paint"])
    print(f"the store's share of (c): {share:.1f} ms of {median(r['total']):.1f} ms; peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
