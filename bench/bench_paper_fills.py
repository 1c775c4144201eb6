"""Paper fills against a live-like L2 book: Kestrel's queue model beside the naive "touch" model, hummingbot's
paper mode and freqtrade's dry-run, each scored against what really happened in the queue.

    python bench/bench_paper_fills.py [--seed 21] [--minutes 90] [--quick]

No L2/L3 recording exists, so the market is the sim's own (bench/_l3.py): its ``MarketModel`` runs alone for
``--minutes`` of sim time per instrument and every op on its book is logged (L3). From that log:

L2          what a ccxt client gets: the top 10 levels every 100 ms and every print, the book and trades
            channels each late by a seeded random 0-50 ms (so out of step by up to 50 ms either way).
probes      one-lot limit orders priced from the last delivered book: at the best bid (ask) or 1-2 ticks
            behind, post-only, living 120 s; per side a new one 0.5-5 s after the last one ended, so at most
            one per side rests at a time (a probe that would have crossed the true book is rejected, and
            left out).
truth       the log replayed with the probe at the back of its level's queue when it arrives (takers at
            their logged sizes, cancels by id): its fill time, if within its life.
models      on the L2 stream, each told of the probe when it arrives:
            touch        fills whole when a print is at or through its price (any aggressor).
            hummingbot   paper_trade_exchange.pyx: fills whole when a print is strictly through its price
                         (the aggressor on the other side), or at its 1 s clock tick when the opposite best
                         has reached its price.
            freqtrade    exchange.py dry-run: fills whole when the opposite best has reached its price,
                         checked when the order is polled (every 1 s here).
            ours         app/engine/venues/paper/queue.py ``QueueModel``: joins behind the displayed size,
                         prints at its price use up the queue ahead, unexplained drops are cancels taken pro
                         rata, a print through or a book through its price fills it.
            A model's fill time is the delivery time of the message (or clock tick) that filled it; a fill
            counts when the whole lot is filled within the probe's life.

Scores per model against truth: the share of probes filled within their life (error in percentage points),
false fills (model filled, truth did not), missed fills (the reverse), and for probes filled in both, the
median and p90 of |t_model - t_truth| and the median of t_model - t_truth (negative: the model fills early).
Goal (issue 19): ours <= 1/3 of the naive touch model's error, on fill share and on median time-to-fill error.
"""
from __future__ import annotations

import argparse
import time
from collections import deque
from dataclasses import dataclass, field, replace

from _common import median, pct, table
from _l3 import L3Log, Probe, Projection, probe_plan, project, record, replay_truth

from app.engine.core.instruments import Instrument, default_instruments
from app.engine.core.messages import BookSnapshot, Side, TradeTick
from app.engine.venues.paper.queue import QueueModel
from app.engine.venues.sim.market_model import ModelParams

LIFE_MS = 120_000
POLL_MS = 1_000  # hummingbot's clock tick and freqtrade's order poll
SOON_MS = 5_000  # the share filled this soon is scored too: within 120 s nearly every probe fills
MODELS = ("touch", "hummingbot", "freqtrade", "ours")


def instruments() -> list[tuple[Instrument, ModelParams]]:
    """BTC/USDT with the sim's parameters (the price moves many ticks a second); a thin book: the sim's generic
    parameters (20 lots at the touch, 3-lot takers), what the sim gives any instrument it has no parameters
    for; and a large-tick book shaped like a stablecoin pair (the price moves a fraction of a tick a minute,
    hundreds of lots queue at the touch), where the queue decides nearly every fill. The last two's parameters
    were set from those shapes before any model was run on them."""
    btc = default_instruments()[0]
    thin = Instrument("ALT/USDT", "sim", "ALT", "USDT", tick_size=0.0001, lot_size=1.0, min_qty=1.0, max_qty=1e6)
    flat = Instrument("USDC/USDT", "sim", "USDC", "USDT", tick_size=0.0001, lot_size=1.0, min_qty=1.0, max_qty=1e7)
    return [(btc, ModelParams.for_instrument(btc)), (thin, ModelParams.for_instrument(thin)),
            (flat, ModelParams(start_price=1.0, vol_per_sqrt_s=2e-6, half_spread_ticks=0.5, touch_size=300.0,
                               taker_rate_per_s=3.0, taker_size=5.0))]


# ---------------------------------------------------------------------------------------------- models
@dataclass
class _Live:
    side: Side
    price: float


@dataclass
class _PriceRule:
    """A rule that fills whole orders on price alone: ``through_only`` prints must be strictly through (and by
    the other side's aggressor), ``prints`` whether prints fill at all, ``polled`` whether the opposite best
    reaching the price fills (checked at each poll)."""

    prints: bool
    through_only: bool
    polled: bool
    live: dict[int, _Live] = field(default_factory=dict)
    book: BookSnapshot | None = None

    def place(self, pid: int, side: Side, price: float, qty: float, ts: int) -> bool:
        self.live[pid] = _Live(side, price)
        return False

    def cancel(self, pid: int) -> None:
        self.live.pop(pid, None)

    def on_trade(self, tick: TradeTick) -> list[int]:
        if not self.prints:
            return []
        done = [pid for pid, o in self.live.items() if self._hit(o, tick)]
        for pid in done:
            del self.live[pid]
        return done

    def _hit(self, o: _Live, tick: TradeTick) -> bool:
        if self.through_only:  # strictly through, by the other side's aggressor
            if o.side is Side.BUY:
                return tick.aggressor is Side.SELL and tick.price < o.price
            return tick.aggressor is Side.BUY and tick.price > o.price
        return tick.price <= o.price if o.side is Side.BUY else tick.price >= o.price

    def on_book(self, book: BookSnapshot) -> list[int]:
        self.book = book
        return []

    def on_poll(self) -> list[int]:
        if not self.polled or self.book is None:
            return []
        bid, ask = self.book.best_bid, self.book.best_ask
        done = [pid for pid, o in self.live.items() if _reached(o, bid, ask)]
        for pid in done:
            del self.live[pid]
        return done


def _reached(o: _Live, bid: float | None, ask: float | None) -> bool:
    """The opposite best is at or through the order's price."""
    if o.side is Side.BUY:
        return ask is not None and ask <= o.price
    return bid is not None and bid >= o.price


class _Ours:
    """``QueueModel`` with a probe done when its whole lot is filled."""

    def __init__(self) -> None:
        self.q = QueueModel()

    def place(self, pid: int, side: Side, price: float, qty: float, ts: int) -> bool:
        self.q.place(str(pid), side, price, qty, ts=ts)
        return str(pid) not in self.q.orders

    def cancel(self, pid: int) -> None:
        self.q.cancel(str(pid))

    def _done(self, fills) -> list[int]:
        return [int(f.cid) for f in fills if f.cid not in self.q.orders]

    def on_trade(self, tick: TradeTick) -> list[int]:
        return self._done(self.q.on_trade(tick))

    def on_book(self, book: BookSnapshot) -> list[int]:
        return self._done(self.q.on_book(book))

    def on_poll(self) -> list[int]:
        return []


def make_model(name: str):
    if name == "touch":
        return _PriceRule(prints=True, through_only=False, polled=False)
    if name == "hummingbot":
        return _PriceRule(prints=True, through_only=True, polled=True)
    if name == "freqtrade":
        return _PriceRule(prints=False, through_only=False, polled=True)
    return _Ours()


def run_model(name: str, inst: Instrument, projection: Projection, probes: list[Probe]) -> dict[int, int]:
    """Feed ``name`` the delivered L2 stream with the probes arriving; returns pid -> fill time (delivery ms)."""
    model = make_model(name)
    filled: dict[int, int] = {}
    todo = deque(sorted(probes, key=lambda p: p.placed))
    alive: deque[Probe] = deque()  # in placement order: all live equally long, so they expire in this order
    next_poll = (projection.messages[0][0] // POLL_MS + 1) * POLL_MS if projection.messages else 0
    qty = inst.lot_size

    def until(t: int) -> None:
        """Placements, expiries and polls before ``t``, in time order."""
        nonlocal next_poll
        while True:
            times = [next_poll]
            if todo:
                times.append(todo[0].placed)
            if alive:
                times.append(alive[0].expires + 1)
            now = min(times)
            if now >= t:
                return
            if alive and alive[0].expires + 1 == now:
                p = alive.popleft()
                model.cancel(p.pid)
            elif todo and todo[0].placed == now:
                p = todo.popleft()
                alive.append(p)
                if model.place(p.pid, p.side, inst.ticks_to_price(p.ticks), qty, now):
                    filled[p.pid] = now
            else:
                for pid in model.on_poll():
                    filled.setdefault(pid, now)
                next_poll += POLL_MS

    for t, msg in projection.messages:
        until(t)
        done = model.on_book(msg) if isinstance(msg, BookSnapshot) else model.on_trade(msg)
        for pid in done:
            filled.setdefault(pid, t)
    return filled


# ---------------------------------------------------------------------------------------------- scores
@dataclass
class Score:
    n: int
    share: float  # % filled within their life
    err_pp: float  # share - truth's share
    soon: float  # % filled within SOON_MS
    soon_err_pp: float
    false_fills: int
    missed: int
    both: int
    dt_median: float  # |t_model - t_truth| over probes filled in both, seconds
    dt_mean: float
    dt_p90: float
    bias: float  # median of t_model - t_truth (negative: fills early)


def score(probes: list[Probe], filled: dict[int, int]) -> Score:
    truth = {p.pid: p.fill_ts for p in probes if p.fill_ts is not None}
    model = {p.pid: filled[p.pid] for p in probes if p.pid in filled and filled[p.pid] <= p.expires}
    placed = {p.pid: p.placed for p in probes}
    n = max(len(probes), 1)
    both = [pid for pid in model if pid in truth]
    signed = [(model[pid] - truth[pid]) / 1000 for pid in both]
    dt = [abs(x) for x in signed]
    soon = sum(t - placed[pid] <= SOON_MS for pid, t in model.items())
    truth_soon = sum(t - placed[pid] <= SOON_MS for pid, t in truth.items())
    nan = float("nan")
    return Score(len(probes), 100.0 * len(model) / n, 100.0 * (len(model) - len(truth)) / n, 100.0 * soon / n,
                 100.0 * (soon - truth_soon) / n, len(model.keys() - truth.keys()), len(truth.keys() - model.keys()),
                 len(both), median(dt) if dt else nan, sum(dt) / len(dt) if dt else nan, pct(dt, 0.9) if dt else nan,
                 median(signed) if signed else nan)


HEADERS = ["model", "probes", "filled %", "error pp", "filled <= 5 s %", "error pp", "false fills", "missed",
           "filled in both", "|t - truth| median / mean / p90 s", "median t - truth s"]


def table_rows(probes: list[Probe], results: dict[str, dict[int, int]]) -> tuple[list[list[object]], dict[str, Score]]:
    n = max(len(probes), 1)
    ttf = [(p.fill_ts - p.placed) / 1000 for p in probes if p.fill_ts is not None]
    out: list[list[object]] = [["truth (L3 replay)", len(probes), f"{100.0 * len(ttf) / n:.1f}", "",
                                f"{100.0 * sum(t <= SOON_MS / 1000 for t in ttf) / n:.1f}", "", "", "", "",
                                f"time to fill: median {median(ttf):.2f}, p90 {pct(ttf, 0.9):.2f}" if ttf else "",
                                ""]]
    scores = {}
    for name in MODELS:
        s = scores[name] = score(probes, results[name])
        out.append([name, s.n, f"{s.share:.1f}", f"{s.err_pp:+.1f}", f"{s.soon:.1f}", f"{s.soon_err_pp:+.1f}",
                    s.false_fills, s.missed, s.both, f"{s.dt_median:.3f} / {s.dt_mean:.3f} / {s.dt_p90:.3f}",
                    f"{s.bias:+.3f}"])
    return out, scores


def ratios(scores: dict[str, Score]) -> str:
    ours, naive = scores["ours"], scores["touch"]

    def r(a: float, b: float) -> str:
        return f"{abs(a) / abs(b):.2f}" if b else ("0/0" if not a else "inf")
    return (f"ours / naive touch: fill-share error {r(ours.err_pp, naive.err_pp)} ({ours.err_pp:+.1f} vs "
            f"{naive.err_pp:+.1f} pp); within 5 s {r(ours.soon_err_pp, naive.soon_err_pp)} ({ours.soon_err_pp:+.1f} vs "
            f"{naive.soon_err_pp:+.1f} pp); median time-to-fill error {r(ours.dt_median, naive.dt_median)} "
            f"({ours.dt_median:.3f} vs {naive.dt_median:.3f} s); mean {r(ours.dt_mean, naive.dt_mean)} "
            f"({ours.dt_mean:.3f} vs {naive.dt_mean:.3f} s). Goal: <= 0.33")


# ------------------------------------------------------------------------------------------------- run
@dataclass
class Run:
    """One instrument's benchmark: the scored probes (truth filled in) and each model's fill times."""

    inst: Instrument
    log: L3Log
    projection: Projection
    probes: list[Probe]  # every probe placed, rejected ones too
    results: dict[str, dict[int, int]]
    seconds: dict[str, float]

    @property
    def scored(self) -> list[Probe]:
        return [p for p in self.probes if not p.rejected and p.complete]

    @property
    def prints(self) -> int:
        return sum(isinstance(m, TradeTick) for _, m in self.projection.messages)


def measure(inst: Instrument, params: ModelParams, seed: int, minutes: float, skew_ms: int = 50,
            life_ms: int = LIFE_MS) -> Run:
    t0 = time.perf_counter()
    log = record(inst, seed, int(minutes * 60_000), params)
    t1 = time.perf_counter()
    projection = project(log, seed=f"{seed}:{inst.symbol}:skew", skew_ms=skew_ms)
    t2 = time.perf_counter()
    probes = replay_truth(log, probe_plan(projection, f"{seed}:{inst.symbol}:probes", life_ms=life_ms,
                                          end=log.end - life_ms))
    t3 = time.perf_counter()
    scored = [p for p in probes if not p.rejected and p.complete]
    results = {name: run_model(name, inst, projection, scored) for name in MODELS}
    t4 = time.perf_counter()
    return Run(inst, log, projection, probes, results,
               {"record": t1 - t0, "L2": t2 - t1, "truth": t3 - t2, "models": t4 - t3})


def report(run: Run, minutes: float, seed: int) -> dict[str, Score]:
    log, scored = run.log, run.scored
    rejected = sum(p.rejected for p in run.probes)
    took = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
    print(f"\n{run.inst.symbol}: {minutes:g} min of sim time, seed {seed}: {len(log):,} L3 ops, {log.trades:,} prints "
          f"(replayed: {run.prints:,}), {len(run.projection.view_ts):,} books; {len(run.probes):,} probes, {rejected} "
          f"rejected (would have crossed on arrival), {len(scored):,} scored. Took: {took}")
    if run.prints != log.trades:
        raise SystemExit(f"the replayed log printed {run.prints} trades, the market {log.trades}: the log is incomplete")
    rows, scores = table_rows(scored, run.results)
    print(table(HEADERS, rows))
    print(ratios(scores))
    return scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--minutes", type=float, default=90.0, help="sim time per instrument")
    ap.add_argument("--skew-ms", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="10 minutes per instrument")
    args = ap.parse_args()
    minutes = 10.0 if args.quick else args.minutes
    print(f"paper fills vs truth: 1-lot post-only probes living {LIFE_MS // 1000} s; L2 top 10 every 100 ms, each "
          f"channel late by 0-{args.skew_ms} ms; hummingbot/freqtrade checks every {POLL_MS} ms")
    pooled: list[Probe] = []
    pooled_results: dict[str, dict[int, int]] = {name: {} for name in MODELS}
    for inst, params in instruments():
        run = measure(inst, params, args.seed, minutes, args.skew_ms)
        report(run, minutes, args.seed)
        offset = max((p.pid for p in pooled), default=0)
        for p in run.scored:  # pids are per instrument: shift them apart
            pooled.append(replace(p, pid=p.pid + offset))
        for name in MODELS:
            pooled_results[name].update({pid + offset: t for pid, t in run.results[name].items()})
    rows, scores = table_rows(pooled, pooled_results)
    print(f"\nall instruments, {len(pooled):,} probes:")
    print(table(HEADERS, rows))
    print(ratios(scores))


if __name__ == "__main__":
    main()
