"""The paper-fill benchmark's ground truth (bench/_l3.py): a probe's true fill from a hand-made order-level log, the
sim's market logged completely, and the whole benchmark on a short run."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from app.engine.core.instruments import Instrument
from app.engine.core.messages import BookSnapshot, Side, TradeTick
from app.engine.venues.sim.orderbook import OrderBook

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _l3
import bench_paper_fills
from _l3 import ADD, CANCEL, MARKET, POST_ONLY, REDUCE, L3Log, Probe

B, S = Side.BUY, Side.SELL
INST = Instrument("T/USD", "sim", "T", "USD", tick_size=1.0, lot_size=1.0, min_qty=1.0, max_qty=1e6)
THIN = bench_paper_fills.instruments()[1]


def log_of(*ops) -> L3Log:
    log = L3Log(INST)
    for ts, kind, oid, side, price, lots in ops:
        log.append(ts, kind, oid, 1, side, price, lots, POST_ONLY if kind == ADD else 0)
    log.end = max(op[0] for op in ops)
    return log


def one_probe(probe: Probe):
    def plan(side, after):
        return probe if side is probe.side and after < probe.placed else None
    return plan


def truth(log: L3Log, side=B, price=100, placed=5, life=1_000) -> Probe:
    [p] = _l3.replay_truth(log, one_probe(Probe(1, side, price, placed, life)))
    return p


def queue(*later) -> L3Log:
    """10 lots bid at 100 and an offer at 101 before the probe joins at t=5; 3 lots join behind it at t=10."""
    return log_of((0, ADD, 1, B, 100, 10), (0, ADD, 2, S, 101, 5), (10, ADD, 3, B, 100, 3), *later)


def test_a_probe_fills_when_the_volume_ahead_of_it_has_traded_and_not_before():
    p = truth(queue((20, MARKET, 4, S, 0, 4),  # 6 ahead
                    (30, CANCEL, 3, B, 0, 0),  # behind us: changes nothing ahead
                    (40, MARKET, 5, S, 0, 7)))  # 6 ahead, then the probe's lot
    assert (p.fill_ts, p.filled_lots, p.rejected) == (40, 1, False)
    p = truth(queue((20, MARKET, 4, S, 0, 4), (40, MARKET, 5, S, 0, 6)))  # exactly the volume ahead
    assert p.fill_ts is None and p.filled_lots == 0


def test_cancels_and_reductions_ahead_move_the_probe_up_and_its_life_ends_it():
    p = truth(queue((20, REDUCE, 1, B, 0, 2), (30, MARKET, 4, S, 0, 3)))  # 2 ahead after the reduce
    assert p.fill_ts == 30
    p = truth(queue((20, CANCEL, 1, B, 0, 0), (2_000, MARKET, 4, S, 0, 3)))  # at the front, but too late
    assert p.fill_ts is None and p.complete


def test_a_probe_that_would_cross_is_rejected_and_a_taker_through_its_level_fills_it():
    assert truth(queue(), price=101).rejected  # post-only at the offer
    p = truth(queue((20, ADD, 6, B, 99, 50), (30, MARKET, 4, S, 0, 30)))  # sweeps 100 (probe included), then 99
    assert p.fill_ts == 30


def test_probes_on_one_side_come_one_after_another_and_each_sees_only_its_own_queue():
    log = queue((20, MARKET, 4, S, 0, 11), (50, ADD, 7, B, 100, 5), (60, MARKET, 8, S, 0, 4),
                (70, MARKET, 9, S, 0, 5))
    probes = iter([Probe(1, B, 100, 5, 1_000), Probe(2, B, 100, 55, 1_000)])

    def plan(side, after):
        return next(probes, None) if side is B else None
    first, second = _l3.replay_truth(log, plan)
    assert first.fill_ts == 20  # 10 ahead, then it
    assert second.placed == 55 and second.fill_ts == 70  # 3 + 5 ahead at 55 (the first probe is gone)


@pytest.mark.parametrize("market", bench_paper_fills.instruments(), ids=lambda m: m[0].symbol)
def test_the_sims_market_is_logged_completely_a_replay_gives_the_same_prints_and_book(market):
    inst, params = market
    log = _l3.record(inst, seed=3, duration_ms=20_000, params=params)
    assert log.trades > 50 and len(log) > 400
    book = OrderBook(inst)
    lots = []
    book.on_fill = lambda f: lots.append(f.qty)
    for op in log:
        _l3.apply(book, *op[1:])
    assert (len(lots), sum(lots)) == (log.trades, log.traded_lots)
    assert book.depth_ticks(50) == log.final


def test_the_projection_is_what_a_ccxt_client_sees_books_every_100_ms_prints_and_channels_out_of_step():
    inst, params = THIN
    log = _l3.record(inst, seed=3, duration_ms=20_000, params=params)
    pr = _l3.project(log, seed=1, skew_ms=50)
    books = [(t, m) for t, m in pr.messages if isinstance(m, BookSnapshot)]
    trades = [(t, m) for t, m in pr.messages if isinstance(m, TradeTick)]
    assert [m.ts for _, m in books] == list(range(100, 20_001, 100))
    assert len(trades) == log.trades
    assert all(len(m.bids) <= 10 and len(m.asks) <= 10 for _, m in books)
    assert [t for t, _ in pr.messages] == sorted(t for t, _ in pr.messages)  # delivered in order
    assert all(0 <= t - m.ts <= 50 for t, m in pr.messages)
    assert len({t - m.ts for t, m in trades}) > 20  # random lateness, not a constant
    # out of step both ways: a book showing a trade arrives before the trade, and a trade before the book
    assert any(tb < tt and mb.ts > mt.ts for tb, mb in books for tt, mt in trades[:200])
    assert any(tt < tb and mt.ts > mb.ts for tb, mb in books for tt, mt in trades[:200])


def test_the_benchmark_runs_end_to_end_on_a_short_seed():
    inst, params = THIN
    run = bench_paper_fills.measure(inst, params, seed=5, minutes=1.5, life_ms=20_000)
    assert run.prints == run.log.trades
    probes = run.scored
    assert len(probes) > 10
    rows, scores = bench_paper_fills.table_rows(probes, run.results)
    assert [r[0] for r in rows] == ["truth (L3 replay)", *bench_paper_fills.MODELS]
    for s in scores.values():
        assert s.false_fills + s.both == round(s.share * s.n / 100) and 0 <= s.share <= 100
    assert "Goal" in bench_paper_fills.ratios(scores)


@pytest.mark.parametrize("side", [B, S])
def test_a_probe_on_either_side_is_placed_at_or_behind_the_delivered_best(side):
    inst, params = THIN
    log = _l3.record(inst, seed=4, duration_ms=30_000, params=params)
    pr = _l3.project(log, seed=2)
    probes = _l3.replay_truth(log, _l3.probe_plan(pr, seed=3, life_ms=5_000, end=log.end - 5_000))
    mine = [p for p in probes if p.side is side]
    assert mine
    for p in mine:
        bid, ask = pr.view(p.placed)
        k = bid - p.ticks if side is B else p.ticks - ask
        assert k in (0, 1, 2)
    for a, b in itertools.pairwise(mine):
        assert b.placed > (a.fill_ts if a.fill_ts is not None else a.expires)  # one per side at a time
