"""The window-with-three-venues benchmark (bench/bench_window_venues.py) on a short run, so it cannot rot: the
real window on the qasync loop connects the sim, the fake Binance (in its own process, over websockets) and
akshare on the fake HTTP layer, and every one of the 20 instruments streams."""
from __future__ import annotations

import sys
from pathlib import Path

from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_window_venues  # noqa: E402


def test_the_window_connects_three_venues_and_all_20_instruments_stream(qapp):
    r = bench_window_venues.run(2.0, tick_s=0.02, warmup_s=0.5, streaming_timeout_s=60)
    assert r["connected"] == {"sim": True, "binance": True, "akshare": True}, r["status"]
    assert len(r["expected"]) == 20
    assert set(r["expected"]) <= set(r["streaming"])  # each got a book or a trade in the measured seconds
    assert r["chart"] == r["ladder"] == bench_window_venues.CHART
    by_venue = r["ticks_per_s_by_venue"]
    assert by_venue["binance"] > 100 and by_venue["sim"] > 0 and by_venue["akshare"] > 0
    assert r["lag_samples"] > 10 and r["frames_per_s"] > 5 and r["lag_p99"] >= r["lag_p50"] >= 0
