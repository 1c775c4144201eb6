"""The emulated-stops benchmark (bench/bench_emulator.py) in a tiny configuration, so it cannot rot: stops armed
through the gate on a real kernel fire on the driver's prints and reach the sim venue timed, a strategy on the bus
never runs before a fire is sent, a print through several stops sends them all, and the per-tick runs cross
nothing and move the trailers."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_emulator  # noqa: E402


def test_fires_are_timed_to_the_venue_and_a_strategy_on_the_bus_does_not_come_first():
    logger = logging.getLogger("kestrel")
    handlers = list(logger.handlers)
    res = bench_emulator.latency(fires=30, every=5, repeat=1, per_symbol=5, bursts=(1, 3), burst_repeat=1)
    assert logger.handlers == handlers  # the app's logging was set up for the run and undone
    assert res["armed"] == 5 * bench_emulator.SYMBOLS
    runs = res["runs"]
    assert set(runs) == {"alone", "strategy present", "busy off the bus", "probes"}
    for rs in runs.values():
        r = rs[0]
        assert len(r.us) >= 30 and len(r.cpu_us) == len(r.us) == len(r.kinds)
        assert all(u > 0 for u in r.us) and set(r.kinds) <= {"fixed", "trailing"}
    assert runs["strategy present"][0].first_after_strategy == 0
    probes = runs["probes"][0]
    assert all(len(probes.parts[p]) == len(probes.us) for p in bench_emulator.PARTS)
    assert len(probes.switches) == len(probes.us)
    assert min(probes.parts["gate"]) > 0 and min(probes.parts["commit"]) > 0
    assert [b[2] for b in res["bursts"][3]] == [3]  # the print sent all three
    assert "goal p99" in bench_emulator.latency_tables(res, every=5)


def test_the_per_tick_runs_cross_nothing_and_include_the_naive_scan():
    res = bench_emulator.cost(ticks=400, repeat=1, levels=(0, 100), naive=True)  # asserts nothing fired
    assert list(res["rates"]) == ["0 armed", "100 armed", "100 fixed only", "naive 100"]
    assert res["armed"]["100 armed"] == 100
    assert all(r[0][0] > 0 and r[0][1] > 0 for r in res["rates"].values())
    assert "naive 100" in bench_emulator.cost_table(res, 400)
