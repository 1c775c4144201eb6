"""A limit order book with price-time priority, in integer ticks and integer lots.

Why integers: prices and sizes compared and summed as floats drift (0.1 + 0.2 != 0.3); ticks and lots
are exact, so level sizes never leave dust behind and a level is empty exactly when its size is 0.

Layout: per side a sorted list of occupied prices (``bisect``) plus ``price -> _Level``; a level keeps its
resting orders FIFO in an ``OrderedDict`` (O(1) append, O(1) pop of the oldest, O(1) delete by id), its
total size and the size of *our* orders (``own_owner``) for the ladder. ``order_id -> Order`` makes cancel
O(1) (plus O(log n) + a short list shift when the level empties).

Matching: an incoming order takes liquidity best price first, oldest first within a price; every fill is
at the resting order's price (a crossing limit gets price improvement). Market orders are IOC: whatever
the book cannot fill is dropped and reported as ``remaining``; nothing rests. Self-match prevention
(``stp=True``): a resting order with the taker's owner is canceled (``on_self_match``) and matching goes
on ("cancel resting").

Callbacks ``on_fill``/``on_self_match`` run synchronously in the middle of matching: they may read the
book but must not modify it.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from app.engine.core.instruments import Instrument
from app.engine.core.messages import Side

OWNER_CLIENT = 0  # our own orders (the terminal's); synthetic participants use other ids


class BookOrder:
    """A resting (or incoming) order; ``price`` in ticks (None for market), ``qty`` = remaining lots."""

    __slots__ = ("order_id", "owner", "side", "price", "qty")

    def __init__(self, order_id: int, owner: int, side: Side, price: int | None, qty: int) -> None:
        self.order_id = order_id
        self.owner = owner
        self.side = side
        self.price = price
        self.qty = qty

    def __repr__(self) -> str:
        return f"Order({self.order_id}, owner={self.owner}, {self.side.value}, {self.qty}@{self.price})"


@dataclass(slots=True)
class Fill:
    """One match between a resting (maker) and an incoming (taker) order, at the maker's price.

    Read-only by convention: one is built per match, and a frozen dataclass costs ~3x as much to construct."""

    maker_id: int
    maker_owner: int
    taker_id: int
    taker_owner: int
    taker_side: Side
    price: int  # ticks
    qty: int  # lots
    maker_done: bool  # the resting order is fully filled and gone from the book


@dataclass(slots=True)
class MatchResult:
    """What an incoming order did (read-only by convention, like ``Fill``)."""

    filled: int  # lots filled by this order
    remaining: int  # lots not filled (resting if ``rested``, else dropped)
    rested: bool


@dataclass(frozen=True, slots=True)
class Depth:
    """Aggregated levels best first as (price, size) floats, with our own resting size at each level."""

    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    own_bids: tuple[float, ...]
    own_asks: tuple[float, ...]


class _Level:
    __slots__ = ("orders", "size", "own")

    def __init__(self) -> None:
        self.orders: OrderedDict[int, BookOrder] = OrderedDict()
        self.size = 0
        self.own = 0


class _Side:
    __slots__ = ("is_bid", "prices", "levels")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[int] = []  # ascending, occupied levels only
        self.levels: dict[int, _Level] = {}

    def best(self) -> int | None:
        p = self.prices
        if not p:
            return None
        return p[-1] if self.is_bid else p[0]

    def best_first(self, n: int) -> list[int]:
        p = self.prices
        return p[: -n - 1 if n < len(p) else None: -1] if self.is_bid else p[:n]

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        p = self.prices
        if self.is_bid and p[-1] == price:
            p.pop()
        else:
            del p[bisect_left(p, price)]


class OrderBook:
    """One instrument's book. Mutate only through the owning exchange/model; everyone else reads."""

    def __init__(self, instrument: Instrument, own_owner: int = OWNER_CLIENT) -> None:
        self.instrument = instrument
        self.own_owner = own_owner
        self.version = 0  # bumped on every change: "did the book change since I last looked?"
        self.on_fill: Callable[[Fill], None] | None = None
        self.on_self_match: Callable[[BookOrder], None] | None = None
        self._bids = _Side(True)
        self._asks = _Side(False)
        self._index: dict[int, BookOrder] = {}
        self._tick = instrument.tick_size
        self._lot = instrument.lot_size
        self._pd = instrument.price_decimals
        self._qd = instrument.qty_decimals
        self._price_cache: dict[int, float] = {}  # ticks -> price, lots -> size: rounding is the
        self._size_cache: dict[int, float] = {}  # costly part of a snapshot

    # ------------------------------------------------------------------------------------ conversion
    def price(self, ticks: int) -> float:
        return round(ticks * self._tick, self._pd)

    def size(self, lots: int) -> float:
        return round(lots * self._lot, self._qd)

    # --------------------------------------------------------------------------------------- queries
    def best_bid_ticks(self) -> int | None:
        return self._bids.best()

    def best_ask_ticks(self) -> int | None:
        return self._asks.best()

    def best_bid(self) -> float | None:
        b = self._bids.best()
        return None if b is None else self.price(b)

    def best_ask(self) -> float | None:
        a = self._asks.best()
        return None if a is None else self.price(a)

    def mid_ticks(self) -> float | None:
        b, a = self._bids.best(), self._asks.best()
        return None if b is None or a is None else (a + b) / 2.0

    def mid(self) -> float | None:
        m = self.mid_ticks()
        return None if m is None else m * self._tick

    def level_count(self, side: Side) -> int:
        return len(self._side(side).prices)

    def get(self, order_id: int) -> BookOrder | None:
        return self._index.get(order_id)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def size_at(self, side: Side, price: int) -> tuple[int, int]:
        """(total lots, our lots) resting at ``price`` on ``side``; (0, 0) for an empty level."""
        lvl = self._side(side).levels.get(price)
        return (0, 0) if lvl is None else (lvl.size, lvl.own)

    def orders_at(self, side: Side, price: int) -> Iterator[BookOrder]:
        """Resting orders at one level in queue order (a snapshot: safe to cancel while iterating)."""
        lvl = self._side(side).levels.get(price)
        return iter(()) if lvl is None else iter(list(lvl.orders.values()))

    def available(self, taker: Side, limit: int | None = None) -> int:
        """Lots a ``taker`` order could take now at ``limit`` or better (None: any price), ours left out (they
        would be self-match canceled, not traded): what a fill-or-kill order needs whole."""
        opposite = self._asks if taker is Side.BUY else self._bids
        p = opposite.prices
        if limit is None:
            prices = p
        elif taker is Side.BUY:
            prices = p[:bisect_left(p, limit + 1)]
        else:
            prices = p[bisect_left(p, limit):]
        levels = opposite.levels
        return sum(levels[x].size - levels[x].own for x in prices)

    def prices_between(self, side: Side, lo: int, hi: int) -> list[int]:
        """Occupied prices p with lo <= p <= hi on ``side``, ascending (a copy)."""
        p = self._side(side).prices
        return p[bisect_left(p, lo): bisect_left(p, hi + 1)]

    def depth_ticks(self, n: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Top ``n`` levels per side best first as (ticks, lots, own lots)."""
        out = []
        for s in (self._bids, self._asks):
            lv = s.levels
            out.append([(p, lv[p].size, lv[p].own) for p in s.best_first(n)])
        return out[0], out[1]

    def depth(self, n: int) -> Depth:
        """Top ``n`` aggregated levels per side in prices and sizes, plus our resting size per level."""
        bids, asks = self.depth_ticks(n)
        pr, sz = self.price, self.size
        return Depth(
            bids=tuple((pr(p), sz(s)) for p, s, _ in bids),
            asks=tuple((pr(p), sz(s)) for p, s, _ in asks),
            own_bids=tuple(sz(o) for _, _, o in bids),
            own_asks=tuple(sz(o) for _, _, o in asks),
        )

    def levels(self, n: int) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        """Top ``n`` (price, size) per side best first: what a ``BookSnapshot`` carries."""
        pc, sc = self._price_cache, self._size_cache
        if len(pc) > 20_000 or len(sc) > 20_000:
            pc.clear()
            sc.clear()
        tick, lot, pd, qd = self._tick, self._lot, self._pd, self._qd
        out = []
        for s in (self._bids, self._asks):
            lv = s.levels
            row = []
            for p in s.best_first(n):
                q = lv[p].size
                fp = pc.get(p)
                if fp is None:
                    fp = pc[p] = round(p * tick, pd)
                fq = sc.get(q)
                if fq is None:
                    fq = sc[q] = round(q * lot, qd)
                row.append((fp, fq))
            out.append(tuple(row))
        return out[0], out[1]

    def level_map(self, side: Side) -> Mapping[int, _Level]:
        """The live ``price -> level`` map of one side (read-only; levels have ``size`` and ``own`` lots).
        For hot loops that probe many prices; everyone else uses ``size_at``."""
        return self._side(side).levels

    # ------------------------------------------------------------------------------------- mutation
    def add_limit(self, order_id: int, owner: int, side: Side, price: int, qty: int, *, ioc: bool = False,
                  post_only: bool = False, stp: bool = True) -> MatchResult:
        """Match a limit order against the opposite side, then rest the remainder (unless ``ioc``).

        ``post_only``: if the order would take liquidity, nothing happens (``filled == rested == 0``).
        """
        if order_id in self._index:
            raise ValueError(f"duplicate order id {order_id}")
        order = BookOrder(order_id, owner, side, price, qty)
        if post_only:
            if self._crosses(side, price):
                return MatchResult(0, qty, False)
            self._rest(order)
            return MatchResult(0, qty, True)
        filled = self._match(order, price, stp)
        if order.qty > 0 and not ioc:
            self._rest(order)
            return MatchResult(filled, order.qty, True)
        return MatchResult(filled, order.qty, False)

    def market(self, order_id: int, owner: int, side: Side, qty: int, *, stp: bool = True) -> MatchResult:
        """Take liquidity up to ``qty`` at any price; the unfilled remainder is dropped (IOC)."""
        order = BookOrder(order_id, owner, side, None, qty)
        filled = self._match(order, None, stp)
        return MatchResult(filled, order.qty, False)

    def cancel(self, order_id: int) -> BookOrder | None:
        """Remove a resting order; returns it (with its remaining qty) or None if it is not resting."""
        order = self._index.pop(order_id, None)
        if order is None:
            return None
        s = self._side(order.side)
        lvl = s.levels[order.price]
        del lvl.orders[order_id]
        lvl.size -= order.qty
        if order.owner == self.own_owner:
            lvl.own -= order.qty
        if not lvl.orders:
            s.drop_level(order.price)
        self.version += 1
        return order

    def reduce(self, order_id: int, qty: int) -> BookOrder | None:
        """Make a resting order smaller, keeping its place in the queue (a partial cancel); 0 cancels it.
        Returns the order, or None if it is not resting. Growing an order is not a reduce: that joins the
        back of the queue (cancel and add)."""
        order = self._index.get(order_id)
        if order is None:
            return None
        if qty <= 0:
            return self.cancel(order_id)
        if qty >= order.qty:
            return order
        lvl = self._side(order.side).levels[order.price]
        lvl.size -= order.qty - qty
        if order.owner == self.own_owner:
            lvl.own -= order.qty - qty
        order.qty = qty
        self.version += 1
        return order

    # -------------------------------------------------------------------------------------- internals
    def _side(self, side: Side) -> _Side:
        return self._bids if side is Side.BUY else self._asks

    def _crosses(self, side: Side, price: int) -> bool:
        if side is Side.BUY:
            a = self._asks.best()
            return a is not None and price >= a
        b = self._bids.best()
        return b is not None and price <= b

    def _rest(self, order: BookOrder) -> None:
        s = self._side(order.side)
        lvl = s.levels.get(order.price)
        if lvl is None:
            lvl = s.levels[order.price] = _Level()
            insort(s.prices, order.price)
        lvl.orders[order.order_id] = order
        lvl.size += order.qty
        if order.owner == self.own_owner:
            lvl.own += order.qty
        self._index[order.order_id] = order
        self.version += 1

    def _match(self, taker: BookOrder, limit: int | None, stp: bool) -> int:
        is_buy = taker.side is Side.BUY
        opp = self._asks if is_buy else self._bids
        prices, index, own = opp.prices, self._index, self.own_owner
        filled = 0
        while taker.qty > 0 and prices:
            best = prices[0] if is_buy else prices[-1]
            if limit is not None and (best > limit if is_buy else best < limit):
                break
            lvl = opp.levels[best]
            orders = lvl.orders
            while taker.qty > 0 and orders:
                maker = orders[next(iter(orders))]
                if stp and maker.owner == taker.owner:
                    self.cancel(maker.order_id)
                    if self.on_self_match is not None:
                        self.on_self_match(maker)
                    if best not in opp.levels:  # that was the level's last order
                        break
                    continue
                q = maker.qty if maker.qty < taker.qty else taker.qty
                maker.qty -= q
                taker.qty -= q
                lvl.size -= q
                if maker.owner == own:
                    lvl.own -= q
                filled += q
                done = maker.qty == 0
                if done:
                    orders.popitem(last=False)
                    del index[maker.order_id]
                    if not orders:
                        opp.drop_level(best)
                self.version += 1
                if self.on_fill is not None:
                    self.on_fill(Fill(maker.order_id, maker.owner, taker.order_id, taker.owner, taker.side,
                                      best, q, done))
        return filled
