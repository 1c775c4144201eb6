"""Order-level (L3) ground truth for bench/bench_paper_fills.py: the sim's market logged op by op, what a ccxt
client would have seen of it, and where a probe order would really have filled.

No L2 or L3 recording exists (tests/data holds candles and trades), and a queue model cannot be scored
without knowing who stood where in the queue. So the market comes from the sim's own ``MarketModel``:

record()        runs the model alone (no client orders: it always picks off client quotes, which would bias
                the probes) on a book that writes down every call made to it (maker adds, cancels, reduces,
                taker orders: id, owner, side, price in ticks, size in lots, time). The book is the sim's
                ``OrderBook``; only the logging is added, so the market is the sim's, op for op.
project()       replays that log into a fresh book and delivers what a ccxt client gets: the top ``depth``
                levels every ``every_ms``, every print (one per maker order matched, Binance-style), each
                channel late by a random 0..``skew_ms`` (FIFO within a channel), so the two channels are out
                of step by up to ``skew_ms`` either way, as two websockets are.
replay_truth()  replays the log again with a probe order (one lot) put at the back of its level's queue when it
                arrives; takers are re-sent at their logged sizes and prices, cancels by id. When a taker
                reaches the probe is its true fill time (the no-impact counterfactual: a one-lot probe moves
                one lot of one taker from the next order in line to itself). ``plan`` decides the next probe
                of a side once the previous one is done, so at most one per side rests at a time and probes
                never queue behind each other.

Every replayed book is the log replayed from the start; a probe's book is a copy of that book at the probe's
arrival (the same thing, without replaying the prefix once per probe).
"""
from __future__ import annotations

import itertools
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.engine.core.instruments import Instrument
from app.engine.core.messages import BookSnapshot, Side, TradeTick
from app.engine.venues.sim.market_model import MarketModel, ModelParams
from app.engine.venues.sim.orderbook import Fill, OrderBook

ADD, IOC, MARKET, CANCEL, REDUCE = range(5)  # op kinds
POST_ONLY, STP = 1, 2  # op flags
PROBE_OWNER = 99  # owner id of probes in the truth books (never a model participant)
_SIDES = (Side.BUY, Side.SELL)
_LOW, _HIGH = -(1 << 62), 1 << 62


class L3Log:
    """Every op the market model made on its book, in order, as columns (a few hours are millions of ops)."""

    def __init__(self, instrument: Instrument, start: int = 0) -> None:
        self.instrument = instrument
        self.start = start
        self.end = start
        self.ts = array("q")
        self.kind = array("b")
        self.oid = array("q")
        self.owner = array("b")
        self.side = array("b")  # 0 buy, 1 sell
        self.price = array("q")  # ticks (0 for market orders)
        self.lots = array("q")
        self.flags = array("b")
        self.trades = 0  # prints the recorded market made, for checking that a replay gives the same
        self.traded_lots = 0
        self.final: tuple = ()  # the recorded book's top 50 levels per side at the end, (ticks, lots, own)

    def append(self, ts: int, kind: int, oid: int, owner: int, side: Side, price: int, lots: int,
               flags: int = 0) -> None:
        self.ts.append(ts)
        self.kind.append(kind)
        self.oid.append(oid)
        self.owner.append(owner)
        self.side.append(0 if side is Side.BUY else 1)
        self.price.append(price)
        self.lots.append(lots)
        self.flags.append(flags)

    def __len__(self) -> int:
        return len(self.ts)

    def __iter__(self) -> Iterator[tuple[int, int, int, int, int, int, int, int]]:
        return zip(self.ts, self.kind, self.oid, self.owner, self.side, self.price, self.lots, self.flags)


def apply(book: OrderBook, kind: int, oid: int, owner: int, side: int, price: int, lots: int, flags: int) -> None:
    """Do one logged op to ``book``."""
    s = _SIDES[side]
    if kind == ADD:
        book.add_limit(oid, owner, s, price, lots, post_only=bool(flags & POST_ONLY), stp=bool(flags & STP))
    elif kind == IOC:
        book.add_limit(oid, owner, s, price, lots, ioc=True, stp=bool(flags & STP))
    elif kind == MARKET:
        book.market(oid, owner, s, lots, stp=bool(flags & STP))
    elif kind == CANCEL:
        book.cancel(oid)
    else:
        book.reduce(oid, lots)


# ---------------------------------------------------------------------------------------------- record
class _LoggingBook(OrderBook):
    """The sim's book, writing down each call made to it before doing it (calls it makes to itself, such as
    ``reduce`` to 0 cancelling, are part of the outer op and not written again)."""

    def __init__(self, instrument: Instrument, log: L3Log) -> None:
        super().__init__(instrument)
        self.log = log
        self.now = log.start
        self._depth = 0

    def _op(self, kind, oid, owner, side, price, lots, flags, call):
        if self._depth == 0:
            self.log.append(self.now, kind, oid, owner, side, price, lots, flags)
        self._depth += 1
        try:
            return call()
        finally:
            self._depth -= 1

    def add_limit(self, order_id, owner, side, price, qty, *, ioc=False, post_only=False, stp=True):
        flags = (POST_ONLY if post_only else 0) | (STP if stp else 0)
        return self._op(IOC if ioc else ADD, order_id, owner, side, price, qty, flags,
                        lambda: super(_LoggingBook, self).add_limit(order_id, owner, side, price, qty, ioc=ioc,
                                                                    post_only=post_only, stp=stp))

    def market(self, order_id, owner, side, qty, *, stp=True):
        return self._op(MARKET, order_id, owner, side, 0, qty, STP if stp else 0,
                        lambda: super(_LoggingBook, self).market(order_id, owner, side, qty, stp=stp))

    def cancel(self, order_id):
        o = self.get(order_id)
        side = o.side if o is not None else Side.BUY
        return self._op(CANCEL, order_id, 0, side, 0, 0, 0, lambda: super(_LoggingBook, self).cancel(order_id))

    def reduce(self, order_id, qty):
        o = self.get(order_id)
        side = o.side if o is not None else Side.BUY
        return self._op(REDUCE, order_id, 0, side, 0, qty, 0,
                        lambda: super(_LoggingBook, self).reduce(order_id, qty))


def record(instrument: Instrument, seed: int, duration_ms: int, params: ModelParams | None = None,
           start: int = 0) -> L3Log:
    """The sim's market for ``instrument`` over ``duration_ms``, alone, as an L3 log (deterministic per seed)."""
    log = L3Log(instrument, start)
    book = _LoggingBook(instrument, log)

    def count(f: Fill) -> None:
        log.trades += 1
        log.traded_lots += f.qty
    book.on_fill = count
    ids = itertools.count(1)
    model = MarketModel(instrument, book, params or ModelParams.for_instrument(instrument), seed, start, ids.__next__)
    end = start + duration_ms
    while (ts := model.next_ts) <= end:
        book.now = ts
        model.process_next()
    log.end = end
    log.final = book.depth_ticks(50)
    return log


# --------------------------------------------------------------------------------------------- project
@dataclass(frozen=True, slots=True)
class Projection:
    """What a ccxt client receives: ``(delivered at, message)`` in delivery order; ``views`` are the delivered
    books' best bid and ask in ticks (None: that side empty), for choosing probe prices."""

    messages: list[tuple[int, BookSnapshot | TradeTick]]
    view_ts: list[int]
    views: list[tuple[int | None, int | None]]

    def view(self, ts: int) -> tuple[int | None, int | None]:
        """Best bid and ask (ticks) of the last book delivered at or before ``ts``."""
        i = bisect_right(self.view_ts, ts)
        return self.views[i - 1] if i else (None, None)


def project(log: L3Log, seed: int | str, depth: int = 10, every_ms: int = 100, skew_ms: int = 50) -> Projection:
    """The L2 view of ``log``: books every ``every_ms`` (after every op at or before that time) and every print,
    each channel delayed by a seeded random 0..``skew_ms`` ms."""
    inst = log.instrument
    book = OrderBook(inst)
    rng = random.Random(seed)
    symbol = inst.symbol
    books: list[tuple[int, BookSnapshot]] = []
    trades: list[tuple[int, TradeTick]] = []
    views: list[tuple[int | None, int | None]] = []
    state = {"now": log.start, "late": log.start}
    trade_ids = itertools.count(1)
    price, size = book.price, book.size

    def on_fill(f: Fill) -> None:
        ts = state["now"]
        late = state["late"] = max(state["late"], ts + rng.randint(0, skew_ms))
        trades.append((late, TradeTick(symbol, price(f.price), size(f.qty), f.taker_side, str(next(trade_ids)), ts)))
    book.on_fill = on_fill
    book_late = log.start
    next_snap = log.start + every_ms

    def snap(ts: int) -> None:
        nonlocal book_late
        bids, asks = book.levels(depth)
        book_late = max(book_late, ts + rng.randint(0, skew_ms))
        books.append((book_late, BookSnapshot(symbol, bids, asks, ts)))
        views.append((book.best_bid_ticks(), book.best_ask_ticks()))

    for ts, kind, oid, owner, side, p, lots, flags in log:
        while next_snap < ts:
            snap(next_snap)
            next_snap += every_ms
        state["now"] = ts
        apply(book, kind, oid, owner, side, p, lots, flags)
    while next_snap <= log.end:
        snap(next_snap)
        next_snap += every_ms
    merged: list[tuple[int, BookSnapshot | TradeTick]] = []
    i = j = 0
    while i < len(books) or j < len(trades):  # by delivery time; a book first on a tie (it was taken first)
        if j == len(trades) or (i < len(books) and books[i][0] <= trades[j][0]):
            merged.append(books[i])
            i += 1
        else:
            merged.append(trades[j])
            j += 1
    return Projection(merged, [b[0] for b in books], views)


# ----------------------------------------------------------------------------------------------- truth
@dataclass
class Probe:
    """A one-lot virtual limit order resting from ``placed`` to ``placed + life`` (ms)."""

    pid: int
    side: Side
    ticks: int
    placed: int
    life: int
    lots: int = 1
    fill_ts: int | None = None  # truth: when the probe's lots were all filled (None: not within its life)
    filled_lots: int = 0
    rejected: bool = False  # it would have crossed the book when it arrived (probes are post-only)
    complete: bool = True  # False: the log ended during its life

    @property
    def expires(self) -> int:
        return self.placed + self.life


Plan = Callable[[Side, int], "Probe | None"]  # (side, the time its last probe ended) -> that side's next probe


def clone(book: OrderBook) -> OrderBook:
    """A copy of ``book`` with every resting order in its place in the queue."""
    c = OrderBook(book.instrument, book.own_owner)
    for side in _SIDES:
        for price in book.prices_between(side, _LOW, _HIGH):
            for o in book.orders_at(side, price):
                c.add_limit(o.order_id, o.owner, side, price, o.qty, post_only=True, stp=False)
    return c


class _Fork:
    """One probe's counterfactual book."""

    __slots__ = ("book", "now", "probe")

    def __init__(self, base: OrderBook, probe: Probe) -> None:
        self.probe = probe
        self.now = probe.placed
        self.book = clone(base)
        self.book.on_fill = self._on_fill
        r = self.book.add_limit(-probe.pid, PROBE_OWNER, probe.side, probe.ticks, probe.lots, post_only=True,
                                stp=False)
        probe.rejected = not r.rested

    def _on_fill(self, f: Fill) -> None:
        if f.maker_id == -self.probe.pid:  # the log's ids are positive
            self.probe.filled_lots += f.qty
            if self.probe.filled_lots >= self.probe.lots:
                self.probe.fill_ts = self.now

    @property
    def done(self) -> bool:
        return self.probe.rejected or self.probe.fill_ts is not None


def replay_truth(log: L3Log, plan: Plan) -> list[Probe]:
    """Replay ``log`` with the probes ``plan`` places, each in a book of its own; returns them with their true
    fills. A probe placed at ``t`` arrives after every op logged at or before ``t``."""
    base = OrderBook(log.instrument)
    live: dict[Side, _Fork] = {}
    pending: dict[Side, Probe | None] = {s: plan(s, log.start) for s in _SIDES}
    out: list[Probe] = []

    def settle(ts: int) -> None:
        """End what is over before ``ts`` and place what arrives before it."""
        for side in _SIDES:
            while True:
                fork = live.get(side)
                if fork is not None:
                    if ts <= fork.probe.expires:
                        break
                    del live[side]
                    out.append(fork.probe)
                    pending[side] = plan(side, fork.probe.expires)
                    continue
                p = pending[side]
                if p is None or p.placed >= ts:
                    break
                fork = _Fork(base, p)
                if fork.done:  # rejected: it would have crossed
                    out.append(p)
                    pending[side] = plan(side, p.placed)
                else:
                    live[side] = fork

    for ts, kind, oid, owner, side, p, lots, flags in log:
        settle(ts)
        apply(base, kind, oid, owner, side, p, lots, flags)
        for s, fork in list(live.items()):
            fork.now = ts
            apply(fork.book, kind, oid, owner, side, p, lots, flags)
            if fork.done:
                del live[s]
                out.append(fork.probe)
                pending[s] = plan(s, ts)
    settle(log.end + 1)
    for fork in live.values():
        fork.probe.complete = False
        out.append(fork.probe)
    out.sort(key=lambda pr: pr.placed)
    return out


def probe_plan(projection: Projection, seed: int | str, life_ms: int = 120_000, gap_ms: tuple[int, int] = (500, 5_000),
               behind: tuple[float, float, float] = (0.5, 0.25, 0.25), end: int | None = None) -> Plan:
    """Probes as a trader would place them from the delivered book: after a random gap, a one-lot limit at the
    best bid (ask) or 1-2 ticks behind it (probabilities ``behind``), living ``life_ms``."""
    rng = random.Random(seed)
    ids = itertools.count(1)

    def plan(side: Side, after: int) -> Probe | None:
        t = after
        while True:
            t += rng.randint(*gap_ms)
            if end is not None and t > end:
                return None
            bid, ask = projection.view(t)
            best = bid if side is Side.BUY else ask
            if best is None:
                continue
            k = rng.choices((0, 1, 2), behind)[0]
            return Probe(next(ids), side, best - k if side is Side.BUY else best + k, t, life_ms)
    return plan
