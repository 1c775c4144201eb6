"""Audit trail: append cost per record (p50/p99, µs) and verify throughput (records/s).

    python bench/bench_audit.py [--records 10000] [--repeat 5]

Appends go to a real profile database (the Store: WAL, synchronous=NORMAL) in two modes:
- ``autocommit``: each append is its own transaction (what the Store's connection does by default);
- ``in caller's tx``: appends inside the caller's BEGIN ... COMMIT (e.g. together with the order-journal row
  they describe), 100 records per transaction; the commits are timed separately and reported per record.
Each row is the median over ``--repeat`` runs of that run's percentile; the machine is shared and noisy.
The ``parts`` rows split one append_event into its CPU pieces (payload JSON, sha256, a bare INSERT).
"""
from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import median, pct, table

from app.engine.audit.log import AuditLog, canonical_json, chain_hash, record_of
from app.engine.audit.records import message_payload
from app.engine.audit.verify import verify
from app.engine.core.clock import LiveClock
from app.engine.core.messages import OrderFilled, OrderType, Side, SubmitOrder
from app.engine.core.store import Store

SUBMIT = SubmitOrder("K-000042", "BTC/USDT", "sim", Side.BUY, OrderType.LIMIT, 0.25, 61_234.5,
                     actor="strategy:mm")
FILL = OrderFilled("K-000042", "V-99", "T-123456", "BTC/USDT", "sim", Side.BUY, 61_234.5, 0.25, 0.0153,
                   "USDT", "TAKER")


def run_appends(n: int, in_tx: bool, what: str, batch: int = 100) -> tuple[list[float], float]:
    """Per-append times (µs) and, in tx mode, the commit time per record (µs)."""
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "kestrel.db")
        audit = AuditLog(store.conn, LiveClock())
        payload = {"command": "risk halt", "reason": "desk call", "scope": "global"}
        out, clock, commit_ns = [], time.perf_counter_ns, 0
        for i in range(n):
            if in_tx and i % batch == 0:
                store.conn.execute("BEGIN")
            t0 = clock()
            if what == "append_event":
                audit.append_event(SUBMIT if i % 2 else FILL)
            else:
                audit.append("Command", "cli", payload)
            out.append((clock() - t0) / 1000.0)
            if in_tx and (i % batch == batch - 1 or i == n - 1):
                t0 = clock()
                store.conn.execute("COMMIT")
                commit_ns += clock() - t0
        store.close()
    return out, commit_ns / 1000.0 / n


def parts(n: int) -> dict[str, float]:
    """Median µs of each CPU piece of one append_event."""
    kind, actor, payload = record_of(SUBMIT)
    text = canonical_json(payload).encode()
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a, b, c, d, e, f, g, h)")
    pieces = {
        "message_payload (hot path: fields -> JSON)": lambda: message_payload(SUBMIT),
        "record_of + canonical_json (same bytes)": lambda: canonical_json(record_of(SUBMIT)[2]),
        "sha256 chain hash": lambda: chain_hash(b"0" * 64, 42, 1_750_000_000_000, 123_456_789, b"SubmitOrder",
                                                b"strategy:mm", text),
        "INSERT (in-memory table, no trigger)": lambda: conn.execute(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (1, 2, 3, kind, actor, "{}", "x", "y")),
    }
    result = {}
    for name, fn in pieces.items():
        xs = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            fn()
            xs.append((time.perf_counter_ns() - t0) / 1000.0)
        result[name] = median(xs)
    return result


def verify_rate(n: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "kestrel.db")
        audit = AuditLog(store.conn, LiveClock())
        store.conn.execute("BEGIN")
        for i in range(n):
            audit.append_event(SUBMIT if i % 2 else FILL)
        store.conn.execute("COMMIT")
        store.close()
        t0 = time.perf_counter()
        r = verify(Path(d) / "kestrel.db")
        dt = time.perf_counter() - t0
        assert r.ok and r.records == n + 1, r
        return r.records / dt, r.records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for what in ("append_event", "append"):
        for in_tx in (False, True):
            p50s, p99s, commits = [], [], []
            for _ in range(args.repeat):
                xs, commit = run_appends(args.records, in_tx, what)
                p50s.append(pct(xs, 0.50))
                p99s.append(pct(xs, 0.99))
                commits.append(commit)
            mode = "in caller's tx" if in_tx else "autocommit"
            extra = f"+{median(commits):.2f}" if in_tx else "-"
            rows.append([what, mode, f"{median(p50s):.1f}", f"{median(p99s):.1f}", extra])
    print(f"append, {args.records} records per run, median of {args.repeat} runs (µs per record)")
    print(table(["call", "mode", "p50 µs", "p99 µs", "commit µs/rec"], rows))
    print()
    print(table(["part of one append_event", "p50 µs"], [[k, f"{v:.2f}"] for k, v in parts(20_000).items()]))
    print()
    vrows = []
    for n in (args.records, args.records * 10):
        rates = [verify_rate(n) for _ in range(max(1, args.repeat // 2))]
        vrows.append([f"{rates[0][1]:,}", f"{median([r for r, _ in rates]):,.0f}"])
    print(table(["verify: records", "records/s"], vrows))


if __name__ == "__main__":
    main()
