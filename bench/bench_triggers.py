"""Trigger books (issue 20): the cost of armed stops and trailing stops per print, beside a naive scan.

    python bench/bench_triggers.py [--prints 200000] [--repeat 5] [--quick]

Only ``app/engine/core/triggers.py``'s ``TriggerBook`` is measured, the pure part of the design note's section 11.2:
no bus, no emulator, no journal. The issue's end-to-end goal (trade print -> triggered order handed to the venue,
p99 <= 1 ms with 1,000 armed over 20 symbols) needs the emulator: bench/bench_emulator.py measures it.

Books     20 symbols, one book each in a dict keyed by (instrument id, "last") as the emulator will keep them; a
          print is ``books[key].on_price(price)``. Prints are pregenerated and interleaved round-robin.
Armed     0 to 100,000 over the 20 symbols, half fixed and half trailing. ``walk``: a random walk reflected within
          95-105, sell stops at 70-90 and buy stops at 110-130, trailers of both sides (absolute 12-20, percent
          12-20 %) armed during a 2,000-print warm-up walk, so they sit in many cohorts; nothing fires. ``flat``:
          the same books, each symbol's last warm-up price printed again and again (no mark moves: the quiet
          path alone). ``rising``:
          a monotone rising series (every print a new high: the design note's worst case for trailers), sell
          stops and sell trailers only, armed during a warm-up walk; nothing fires.
Naive     the scan of vn.py's ``check_stop_order`` (and Nautilus's Python ``MatchingCore.iterate``): every armed
          trigger of the symbol is checked on every print, a trailer's water mark updated on the way. Given fewer
          prints when many are armed (the table says how many), same books, same series.
Fires     one book holding n armed (as above, nothing near) plus 1,000 sell stops (or 1,000 sell trailers, one
          cohort) spaced 0.001 apart under the market, then 1,000 prints, each at the next trigger down: each fires
          exactly one. Cost per fire = (ns per firing print) - (ns per quiet print of the same book).

Medians of ``--repeat`` runs; books are rebuilt for each run (not timed).
"""
from __future__ import annotations

import argparse
import random
import time

from _common import median, table

from app.engine.core.triggers import TriggerBook

SYMBOLS = 20


class NaiveScan:
    """Every armed trigger checked on every print, water marks updated on the way."""

    def __init__(self) -> None:
        self.fixed: list[tuple[object, bool, float]] = []  # (key, up, trigger)
        self.trail: list[list] = []  # [key, sell, pct, m, h]; m: distance or factor
        self.last_price: float | None = None

    def arm_fixed(self, key, direction, trigger) -> None:
        self.fixed.append((key, direction == "up", trigger))

    def arm_trailing(self, key, side, distance=None, pct=None) -> None:
        sell = side == "sell"
        m = distance if distance is not None else (1.0 - pct if sell else 1.0 + pct)
        self.trail.append([key, sell, distance is None, m, self.last_price])

    def on_price(self, p: float) -> list:
        self.last_price = p
        fired = []
        for key, up, t in self.fixed:
            if (p >= t) if up else (p <= t):
                fired.append(key)
        for tr in self.trail:
            if tr[1]:
                if p > tr[4]:
                    tr[4] = p
                t = tr[4] * tr[3] if tr[2] else tr[4] - tr[3]
                if p <= t:
                    fired.append(tr[0])
            else:
                if p < tr[4]:
                    tr[4] = p
                t = tr[4] * tr[3] if tr[2] else tr[4] + tr[3]
                if p >= t:
                    fired.append(tr[0])
        if fired:
            gone = set(fired)
            self.fixed = [f for f in self.fixed if f[0] not in gone]
            self.trail = [t for t in self.trail if t[0] not in gone]
        return fired


def walk(rng: random.Random, n: int, start: float = 100.0, lo: float = 95.0, hi: float = 105.0) -> list[float]:
    out, p = [], start
    for _ in range(n):
        p += rng.choice((-0.05, -0.02, -0.01, 0.01, 0.02, 0.05))
        if p > hi:
            p = 2 * hi - p
        elif p < lo:
            p = 2 * lo - p
        out.append(round(p, 2))
    return out


def arm_book(book, rng: random.Random, n: int, scenario: str, warmup: list[float], tag: object) -> None:
    """``n`` triggers, half fixed and half trailing; trailers armed between warm-up prints (many cohorts)."""
    n_fixed = n // 2
    sides = ("sell",) if scenario == "rising" else ("sell", "buy")
    for i in range(n_fixed):
        side = sides[i % len(sides)]
        if side == "sell":
            book.arm_fixed((tag, "f", i), "down", rng.uniform(70.0, 90.0))
        else:
            book.arm_fixed((tag, "f", i), "up", rng.uniform(110.0, 130.0))
    n_trail = n - n_fixed
    at = [k * len(warmup) // n_trail for k in range(n_trail)]
    k = 0
    for j, p in enumerate(warmup):
        book.on_price(p)
        while k < n_trail and at[k] == j:
            side = sides[k % len(sides)]
            if k % 4 < 2:
                book.arm_trailing((tag, "t", k), side, distance=rng.uniform(12.0, 20.0))
            else:
                book.arm_trailing((tag, "t", k), side, pct=rng.uniform(0.12, 0.20))
            k += 1


def series(scenario: str, rng: random.Random, n: int) -> list[float]:
    if scenario == "walk":
        return walk(rng, n)
    return [105.0 + 0.01 * (i + 1) for i in range(n)]


def build(kind: str, scenario: str, armed: int, seed: int) -> dict:
    rng = random.Random(seed)
    books = {}
    for s in range(SYMBOLS):
        key = (f"SYM{s:02d}/USDT@sim", "last")
        book = TriggerBook() if kind == "book" else NaiveScan()
        warm = walk(rng, 2000)
        if scenario == "rising":
            warm.append(105.0)
        arm_book(book, rng, armed // SYMBOLS, scenario, warm, s)
        books[key] = book
    return books


def ticks(scenario: str, n: int, seed: int) -> list[tuple[tuple[str, str], float]]:
    rng = random.Random(seed + 1)
    per = -(-n // SYMBOLS)
    cols = [series(scenario, rng, per) for _ in range(SYMBOLS)]
    keys = [(f"SYM{s:02d}/USDT@sim", "last") for s in range(SYMBOLS)]
    return [(keys[s], cols[s][i]) for i in range(per) for s in range(SYMBOLS)][:n]


def run_prints(books: dict, stream: list) -> tuple[float, int]:
    fired = 0
    t0 = time.perf_counter_ns()
    for key, p in stream:
        if books[key].on_price(p):
            fired += 1
    return time.perf_counter_ns() - t0, fired


def per_print_ns(kind: str, scenario: str, armed: int, prints: int, repeat: int) -> float:
    out = []
    stream = ticks(scenario, prints, 7) if scenario != "flat" else []
    for r in range(repeat):
        books = build(kind, "walk" if scenario == "flat" else scenario, armed, 100 + r)
        if scenario == "flat":  # each symbol's last warm-up price, again and again: no mark moves, nothing fires
            stream = [(key, book.last_price) for key, book in books.items()] * (prints // SYMBOLS)
        dt, fired = run_prints(books, stream)
        assert fired == 0, f"{kind} {scenario} {armed}: {fired} prints fired"
        out.append(dt / len(stream))
    return median(out)


def fire_cost_ns(armed: int, what: str, repeat: int, fires: int = 1000) -> tuple[float, float]:
    """(ns per quiet print, ns per print that fires exactly one) on one book with ``armed`` others (sell side
    only, far below, so a falling series moves nothing else)."""
    quiet, firing = [], []
    for r in range(repeat):
        rng = random.Random(200 + r)
        book = TriggerBook()
        arm_book(book, rng, armed, "rising", walk(rng, 2000), "x")
        book.on_price(100.0)
        if what == "fixed":
            levels = [99.5 - 0.001 * i for i in range(fires)]
            for i, t in enumerate(levels):
                book.arm_fixed(("s", i), "down", t)
        else:
            for i in range(fires):
                book.arm_trailing(("s", i), "sell", distance=0.5 + 0.001 * i)
            levels = [book.trigger_of(("s", i)) for i in range(fires)]
        calm = [100.0 - (0.01 if i % 2 else 0.0) for i in range(fires)]  # under the high: nothing moves
        t0 = time.perf_counter_ns()
        for p in calm:
            book.on_price(p)
        quiet.append((time.perf_counter_ns() - t0) / fires)
        n = 0
        t0 = time.perf_counter_ns()
        for p in levels:  # each print is exactly the next trigger down
            n += len(book.on_price(p))
        firing.append((time.perf_counter_ns() - t0) / fires)
        assert n == fires, (what, armed, n)
    return median(quiet), median(firing)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prints", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="20,000 prints, 3 runs")
    a = ap.parse_args()
    if a.quick:
        a.prints, a.repeat = 20_000, 3
    levels = (0, 1_000, 10_000, 100_000)
    print(f"trigger books: {SYMBOLS} symbols, medians of {a.repeat} runs, {a.prints:,} prints per run")
    for scenario in ("flat", "walk", "rising"):
        rows = []
        base = None
        for armed in levels:
            ns = per_print_ns("book", scenario, armed, a.prints, a.repeat)
            n_naive = a.prints if armed == 0 else min(a.prints, max(2_000, int(2e7 / armed)))
            naive = per_print_ns("naive", scenario, armed, n_naive, a.repeat)
            base = base or ns
            rows.append([f"{armed:,}", f"{armed // SYMBOLS:,}", f"{ns:,.0f}", f"{1e9 / ns:,.0f}", f"{ns / base:.2f}",
                         f"{naive:,.0f}", f"{1e9 / naive:,.0f}", f"{n_naive:,}", f"{naive / ns:.1f}x"])
        print(f"\nno-fire path, series '{scenario}'")
        print(table(["armed", "per symbol", "book ns/print", "book prints/s", "vs 0 armed", "naive ns/print",
                     "naive prints/s", "naive prints", "naive / book"], rows))
    rows = []
    for what in ("fixed", "trailing"):
        for armed in (1_000, 10_000, 100_000):
            q, f = fire_cost_ns(armed, what, a.repeat)
            rows.append([what, f"{armed:,}", f"{q:,.0f}", f"{f:,.0f}", f"{f - q:,.0f}"])
    print("\ncost per fire, one book (all armed on one symbol), 1,000 prints each firing one")
    print(table(["fires", "armed besides", "quiet ns/print", "firing ns/print", "cost per fire [ns]"], rows))


if __name__ == "__main__":
    main()
