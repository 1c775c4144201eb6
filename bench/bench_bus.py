"""Bus dispatch throughput and publish->handler latency, Kestrel's MessageBus beside vn.py's EventEngine.

    python bench/bench_bus.py [--events 1000000] [--latency-samples 20000] [--repeat 5]

Throughput: publish N prebuilt TradeTicks to one counting handler (and to three handlers); for vn.py,
put N events and wait until its worker thread has handled them all. Latency: time from just before
publish/put to the handler running, one event at a time (vn.py: through its queue thread). Medians of
``--repeat`` runs; the machine is shared and noisy, so read the ratios.
"""
from __future__ import annotations

import argparse
import threading
import time

from _common import median, pct, table, vendor

from app.engine.core.bus import MessageBus
from app.engine.core.messages import Side, TradeTick


def kestrel_throughput(n: int, handlers: int) -> float:
    bus = MessageBus()
    count = [0]

    def make_handler():
        def h(_m):
            count[0] += 1
        return h

    for _ in range(handlers):
        bus.subscribe(TradeTick, make_handler())
    msgs = [TradeTick("BTC/USDT", 100.0, 1.0, Side.BUY, "t", i) for i in range(1000)]
    publish = bus.publish
    t0 = time.perf_counter()
    for i in range(n // 1000):
        for m in msgs:
            publish(m)
    dt = time.perf_counter() - t0
    assert count[0] == n // 1000 * 1000 * handlers
    return n / dt


def kestrel_latency(samples: int) -> list[float]:
    bus = MessageBus()
    got = [0]
    bus.subscribe(TradeTick, lambda _m: got.__setitem__(0, time.perf_counter_ns()))
    msg = TradeTick("BTC/USDT", 100.0, 1.0, Side.BUY, "t", 0)
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        bus.publish(msg)
        out.append((got[0] - t0) / 1000.0)
    return out


def vnpy_throughput(n: int, handlers: int) -> float:
    from vnpy.event import Event, EventEngine

    engine = EventEngine(interval=1)  # stop() joins its timer thread: keep it short
    done = threading.Event()
    count = [0]
    target = n * handlers

    def make_handler():
        def h(_e):
            count[0] += 1
            if count[0] == target:
                done.set()
        return h

    for _ in range(handlers):  # distinct functions: EventEngine.register drops a handler it already has
        engine.register("tick", make_handler())
    engine.start()
    ev = Event("tick", TradeTick("BTC/USDT", 100.0, 1.0, Side.BUY, "t", 0))
    t0 = time.perf_counter()
    put = engine.put
    for _ in range(n):
        put(ev)
    done.wait(120)
    dt = time.perf_counter() - t0
    engine.stop()
    return n / dt


def vnpy_latency(samples: int) -> list[float]:
    from vnpy.event import Event, EventEngine

    engine = EventEngine(interval=1)  # stop() joins its timer thread: keep it short
    got = [0]
    seen = threading.Event()

    def h(_e):
        got[0] = time.perf_counter_ns()
        seen.set()

    engine.register("tick", h)
    engine.start()
    ev = Event("tick", None)
    out = []
    for _ in range(samples):
        seen.clear()
        t0 = time.perf_counter_ns()
        engine.put(ev)
        seen.wait(5)
        out.append((got[0] - t0) / 1000.0)
    engine.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--latency-samples", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    vendor("vnpy", "vnpy")
    rows = []
    for handlers in (1, 3):
        k = median([kestrel_throughput(a.events, handlers) for _ in range(a.repeat)])
        v = median([vnpy_throughput(a.events // 4, handlers) for _ in range(a.repeat)])
        rows.append([f"throughput, {handlers} handler(s) [events/s]", f"{k:,.0f}", f"{v:,.0f}", f"{k / v:.1f}x"])
    k_lat = [kestrel_latency(a.latency_samples) for _ in range(a.repeat)]
    v_lat = [vnpy_latency(a.latency_samples // 10) for _ in range(a.repeat)]
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        k = median([pct(x, q) for x in k_lat])
        v = median([pct(x, q) for x in v_lat])
        rows.append([f"publish->handler latency {name} [µs]", f"{k:.2f}", f"{v:.2f}", f"{v / k:.0f}x lower"])
    print(f"bus benchmark: medians of {a.repeat} runs, {a.events:,} events (vn.py: {a.events // 4:,})")
    print(table(["measure", "Kestrel MessageBus", "vn.py EventEngine", "ratio"], rows))
    print("goals: >= 1,000,000 events/s and p50 <= 5 µs")


if __name__ == "__main__":
    main()
