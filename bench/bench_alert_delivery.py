"""Alert delivery: a fired alert handed to its channel inside the process, and end to end to a local webhook.

    python bench/bench_alert_delivery.py [--alerts 500] [--repeat 3]

A real asyncio loop holds a ``Deliverer`` (results through ``call_soon_threadsafe``, as in the terminal) with one
channel, ``json://127.0.0.1:PORT/...``: real apprise posting to a real HTTP receiver (tests/kit/webhook.py) on
127.0.0.1. Alerts are fired one at a time (the next when the previous one's result reached the loop), with
``min_interval_s=0`` so the throttle does not pace them. Per alert:

- ``deliver() call``: what the loop pays (µs);
- ``handed to the channel``: deliver() -> the channel's worker starts the attempt (``AlertDelivered.queued_ms``);
- ``end to end``: deliver() -> the receiver has the request (the receiver's arrival clock, same process);
- ``result on the loop``: deliver() -> ``AlertDelivered`` handled on the loop.

"with a hung channel" repeats the run with a second channel on every alert whose receiver never answers (each
attempt ends at its 1 s timeout and is retried): the loop's cost and the healthy channel's times should not move.
"flood" fires ``--alerts`` alerts 10 ms apart at the default interval (2 s): how many messages reach the receiver.
Each row is the median over ``--repeat`` runs of that run's percentile; the machine is shared and noisy.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import time

from _common import median, pct, table

from app.engine.alerts.delivery import AlertDelivered, AlertThrottled, Deliverer, DeliveryPolicy
from tests.kit.webhook import WebhookReceiver

PACED = DeliveryPolicy(min_interval_s=0.0, attempt_timeout_s=1.0, max_attempts=1000, backoff_base_s=0.5,
                       backoff_cap_s=1.0)


async def paced(n: int, hung: bool, warmup: int = 20) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"call_us": [], "handoff_ms": [], "e2e_ms": [], "result_ms": []}
    with WebhookReceiver() as hook, WebhookReceiver(mode="hang") as stuck:
        arrived: asyncio.Queue[AlertDelivered] = asyncio.Queue()

        def on_result(r) -> None:
            if isinstance(r, AlertDelivered) and r.channel == "desk":
                arrived.put_nowait(r)

        loop = asyncio.get_running_loop()
        d = Deliverer(on_result, post=loop.call_soon_threadsafe, policy=PACED,
                      channels={"desk": hook.url("bench"), "stuck": stuck.url("bench")})
        channels = ["desk", "stuck"] if hung else ["desk"]
        for i in range(n + warmup):  # the first ones warm up (apprise's plugin load, the first connections)
            t0 = time.perf_counter()
            d.deliver(f"A-{i}", f"BTC/USDT above {70_000 + i}", "bench", channels, 0)
            t1 = time.perf_counter()
            r = await asyncio.wait_for(arrived.get(), 10)
            t2 = time.perf_counter()
            if i < warmup:
                continue
            got = hook.requests[-1]
            assert got.body["title"] == f"BTC/USDT above {70_000 + i}" and r.alert_ids == (f"A-{i}",)
            out["call_us"].append((t1 - t0) * 1e6)
            out["handoff_ms"].append(r.queued_ms)
            out["e2e_ms"].append((got.at - t0) * 1000)
            out["result_ms"].append((t2 - t0) * 1000)
        d.close(wait_s=0.2)
    return out


async def flood(n: int, every_s: float) -> tuple[int, int, int, float]:
    """``n`` alerts, one every ``every_s``, at the default interval: (messages received, alerts in them, alerts
    reported throttled, seconds from the first alert until all were delivered)."""
    with WebhookReceiver() as hook:
        done: list[AlertDelivered] = []
        throttled: list[AlertThrottled] = []
        loop = asyncio.get_running_loop()
        d = Deliverer(lambda r: (done if isinstance(r, AlertDelivered) else throttled).append(r),
                      post=loop.call_soon_threadsafe, channels={"desk": hook.url("flood")})
        t0 = time.perf_counter()
        for i in range(n):
            d.deliver(f"B-{i}", f"ETH/USDT tick {i}", "flood", ["desk"], 0)
            await asyncio.sleep(every_s)
        while sum(len(r.alert_ids) for r in done) < n:
            await asyncio.sleep(0.01)
        took = time.perf_counter() - t0
        d.close(wait_s=0.2)
        return len(hook.requests), sum(len(r.alert_ids) for r in done), sum(r.merged for r in throttled), took


def main() -> None:
    logging.getLogger("kestrel.alerts").setLevel(logging.ERROR)  # the hung channel's retries are expected
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    rows = []
    for hung in (False, True):
        runs = [asyncio.run(paced(a.alerts, hung)) for _ in range(a.repeat)]
        label = " (with a hung channel)" if hung else ""
        for key, name, unit, goal in (("call_us", "deliver() call", "µs", ""),
                                      ("handoff_ms", "handed to the channel", "ms", "p99 <= 5 ms"),
                                      ("e2e_ms", "end to end to the webhook", "ms", "p99 <= 1000 ms"),
                                      ("result_ms", "result on the loop", "ms", "")):
            p50 = median([pct(r[key], 0.5) for r in runs])
            p99 = median([pct(r[key], 0.99) for r in runs])
            rows.append([name + label, f"{p50:.3f} {unit}", f"{p99:.3f} {unit}", goal])
    messages, alerts, merged, took = asyncio.run(flood(a.alerts, 0.01))
    print(f"alert delivery: medians of {a.repeat} runs, {a.alerts} alerts each, one channel to a local webhook")
    print(table(["measure", "p50", "p99", "goal"], rows))
    print(f"flood: {a.alerts} alerts, one every 10 ms -> {messages} messages carrying {alerts} alerts ({merged} "
          f"reported throttled), the last delivered {took:.1f} s after the first (at most one message per 2 s)")


if __name__ == "__main__":
    main()
