"""The alert delivery benchmark (bench/bench_alert_delivery.py) in a tiny configuration, so it cannot rot: alerts
reach the local webhook one by one with and without a hung second channel, and a flood is merged."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_alert_delivery  # noqa: E402


def test_paced_alerts_are_timed_to_the_webhook_and_a_flood_is_merged():
    for hung in (False, True):
        out = asyncio.run(bench_alert_delivery.paced(10, hung, warmup=2))
        assert set(out) == {"call_us", "handoff_ms", "e2e_ms", "result_ms"}
        assert all(len(v) == 10 and all(x > 0 for x in v) for v in out.values())
        assert all(h <= e for h, e in zip(out["handoff_ms"], out["e2e_ms"]))
    messages, alerts, merged, took = asyncio.run(bench_alert_delivery.flood(10, 0.01))
    assert alerts == 10 and messages == 2 and merged == 9 and took >= 1.9  # one now, the rest after the interval
