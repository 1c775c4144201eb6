"""The order book: price-time priority, sweeps, IOC market orders, cancels, depth, self-match prevention."""
from __future__ import annotations

import numpy as np

from app.engine.core.instruments import Instrument
from app.engine.core.messages import Side
from app.engine.venues.sim.orderbook import OWNER_CLIENT, Fill, OrderBook

INST = Instrument("TEST", "sim", "T", "USD", tick_size=0.5, lot_size=1.0, min_qty=1.0, max_qty=1e6)
OTHER = 7


def make_book() -> tuple[OrderBook, list[Fill]]:
    book = OrderBook(INST)
    fills: list[Fill] = []
    book.on_fill = fills.append
    return book, fills


def test_better_price_first_then_arrival_order() -> None:
    book, fills = make_book()
    book.add_limit(1, OTHER, Side.SELL, 20, 5)
    book.add_limit(2, OTHER, Side.SELL, 20, 5)
    book.add_limit(3, OTHER, Side.SELL, 18, 5)  # better price, arrived last
    res = book.market(4, OWNER_CLIENT, Side.BUY, 12)
    assert [(f.maker_id, f.price, f.qty) for f in fills] == [(3, 18, 5), (1, 20, 5), (2, 20, 2)]
    assert res.filled == 12 and res.remaining == 0 and not res.rested
    assert book.get(2).qty == 3 and book.get(1) is None
    assert fills[0].maker_done and not fills[2].maker_done


def test_crossing_limit_sweeps_at_resting_prices_and_rests_remainder() -> None:
    book, fills = make_book()
    for i, px in enumerate((20, 21, 22)):
        book.add_limit(i + 1, OTHER, Side.SELL, px, 10)
    res = book.add_limit(9, OWNER_CLIENT, Side.BUY, 21, 25)
    assert [(f.price, f.qty) for f in fills] == [(20, 10), (21, 10)]  # price improvement on the first
    assert res.filled == 20 and res.remaining == 5 and res.rested
    assert book.best_bid_ticks() == 21 and book.best_ask_ticks() == 22
    assert book.size_at(Side.BUY, 21) == (5, 5)


def test_market_order_larger_than_book_drops_remainder() -> None:
    book, _ = make_book()
    book.add_limit(1, OTHER, Side.BUY, 10, 3)
    book.add_limit(2, OTHER, Side.BUY, 9, 4)
    res = book.market(3, OWNER_CLIENT, Side.SELL, 100)
    assert (res.filled, res.remaining, res.rested) == (7, 93, False)
    assert book.best_bid_ticks() is None and book.best_ask_ticks() is None and len(book) == 0


def test_ioc_limit_does_not_rest() -> None:
    book, _ = make_book()
    book.add_limit(1, OTHER, Side.SELL, 10, 3)
    res = book.add_limit(2, OWNER_CLIENT, Side.BUY, 10, 5, ioc=True)
    assert (res.filled, res.remaining, res.rested) == (3, 2, False)
    assert len(book) == 0


def test_canceled_order_no_longer_fills() -> None:
    book, fills = make_book()
    book.add_limit(1, OTHER, Side.SELL, 10, 3)
    book.add_limit(2, OTHER, Side.SELL, 10, 4)
    v = book.version
    assert book.cancel(1).qty == 3
    assert book.version > v
    assert book.cancel(1) is None
    book.market(3, OWNER_CLIENT, Side.BUY, 10)
    assert [f.maker_id for f in fills] == [2]
    assert book.cancel(2) is None  # filled: nothing to cancel


def test_cancel_last_order_removes_level() -> None:
    book, _ = make_book()
    for i, px in enumerate((10, 11, 12)):
        book.add_limit(i + 1, OTHER, Side.BUY, px, 1)
    book.cancel(2)
    assert book.level_count(Side.BUY) == 2
    assert book.depth_ticks(5)[0] == [(12, 1, 0), (10, 1, 0)]


def test_depth_aggregates_levels_best_first_with_own_size() -> None:
    book, _ = make_book()
    book.add_limit(1, OTHER, Side.BUY, 20, 4)
    book.add_limit(2, OWNER_CLIENT, Side.BUY, 20, 3)
    book.add_limit(3, OTHER, Side.BUY, 19, 1)
    book.add_limit(4, OTHER, Side.SELL, 22, 2)
    book.add_limit(5, OTHER, Side.SELL, 23, 6)
    d = book.depth(1)
    assert d.bids == ((10.0, 7.0),) and d.own_bids == (3.0,)
    d = book.depth(5)
    assert d.bids == ((10.0, 7.0), (9.5, 1.0)) and d.own_bids == (3.0, 0.0)
    assert d.asks == ((11.0, 2.0), (11.5, 6.0)) and d.own_asks == (0.0, 0.0)
    assert book.levels(5) == (d.bids, d.asks)
    assert book.best_bid() == 10.0 and book.best_ask() == 11.0 and book.mid() == 10.5


def test_self_match_prevention_cancels_resting_and_continues() -> None:
    book, fills = make_book()
    canceled = []
    book.on_self_match = canceled.append
    book.add_limit(1, OWNER_CLIENT, Side.SELL, 10, 5)
    book.add_limit(2, OTHER, Side.SELL, 10, 5)
    res = book.add_limit(3, OWNER_CLIENT, Side.BUY, 10, 8)
    assert [o.order_id for o in canceled] == [1]
    assert [(f.maker_id, f.qty) for f in fills] == [(2, 5)]
    assert res.rested and book.size_at(Side.BUY, 10) == (3, 3) and book.best_ask_ticks() is None


def test_post_only_never_takes() -> None:
    book, fills = make_book()
    book.add_limit(1, OTHER, Side.SELL, 10, 5)
    res = book.add_limit(2, OTHER + 1, Side.BUY, 10, 5, post_only=True)
    assert (res.filled, res.rested) == (0, False) and not fills and len(book) == 1
    assert book.add_limit(3, OTHER + 1, Side.BUY, 9, 5, post_only=True).rested


class _NaiveBook:
    """Reference: a flat list of resting orders scanned in full for every match."""

    def __init__(self) -> None:
        self.orders: list[list[int]] = []  # [seq, id, side(+1 buy/-1 sell), price, qty]
        self.fills: list[tuple[int, int, int]] = []
        self.seq = 0

    def add(self, oid: int, side: int, price: int | None, qty: int) -> None:
        opp = sorted((o for o in self.orders if o[2] == -side),
                     key=lambda o: (o[3] if side > 0 else -o[3], o[0]))
        for o in opp:
            if qty == 0 or (price is not None and (o[3] > price if side > 0 else o[3] < price)):
                break
            q = min(qty, o[4])
            o[4] -= q
            qty -= q
            self.fills.append((o[1], o[3], q))
        self.orders = [o for o in self.orders if o[4] > 0]
        if qty and price is not None:
            self.seq += 1
            self.orders.append([self.seq, oid, side, price, qty])

    def cancel(self, oid: int) -> None:
        self.orders = [o for o in self.orders if o[1] != oid]

    def depth(self, side: int) -> list[tuple[int, int]]:
        agg: dict[int, int] = {}
        for o in self.orders:
            if o[2] == side:
                agg[o[3]] = agg.get(o[3], 0) + o[4]
        return sorted(agg.items(), reverse=side > 0)


def test_matches_naive_reference_on_random_flow() -> None:
    rng = np.random.default_rng(1)
    book, fills = make_book()
    ref = _NaiveBook()
    live: list[int] = []
    for oid in range(1, 3001):
        u = rng.random()
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        sgn = 1 if side is Side.BUY else -1
        qty = int(rng.integers(1, 20))
        if u < 0.15 and live:
            victim = live.pop(int(rng.integers(len(live))))
            book.cancel(victim)
            ref.cancel(victim)
        elif u < 0.25:
            book.market(oid, OTHER, side, qty, stp=False)
            ref.add(oid, sgn, None, qty)
        else:
            price = int(100 - sgn * rng.integers(-3, 12))
            if book.add_limit(oid, OTHER, side, price, qty, stp=False).rested:
                live.append(oid)
            ref.add(oid, sgn, price, qty)
        live = [i for i in live if i in book]
    assert [(f.maker_id, f.price, f.qty) for f in fills] == ref.fills
    bids, asks = book.depth_ticks(1000)
    assert [(p, s) for p, s, _ in bids] == ref.depth(1)
    assert [(p, s) for p, s, _ in asks] == ref.depth(-1)
