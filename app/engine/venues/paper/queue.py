"""Paper fills against a live market's book and trades, with the order's place in the queue estimated.

A live venue's book shows how much rests at each price, not who is where. A paper order that "fills when the
price touches it" (the naive model) fills far too often: at a busy price the volume ahead of it must trade first.
This model keeps, per resting paper order, an estimate of the volume ahead of it (``ahead``):

JOIN      a paper limit order rests at the back of its price level: ``ahead`` is the level's displayed size
          then (0 inside the spread or at an empty price within the displayed depth; unknown beyond the
          displayed depth, and set to the level's size when the book first shows it). Given the time the order
          reaches the exchange (``ts``: now plus the latency), books taken up to then join it again and
          trades up to then are not ours: what joined the level between the book we saw and our arrival is
          ahead of us, not behind (the book in hand is up to a snapshot interval old).
TRADES    a trade at our price by the other side's aggressor (a sell aggressor at our bid) uses up ``ahead``
          first; what is left of it fills us. A trade through our price (a sell printed below our bid) means
          our level was taken out: we fill in full.
CANCELS   when a level shrinks by more than the trades there explain, the rest were cancels; they are taken
          pro rata from the volume ahead of us and behind us (``ahead -= cancelled * ahead / level``, the level
          as the trades left it), the usual estimate when the book does not say whose orders left. A level that
          empties puts us at its front.
SKEW      the book and the trades come on separate streams, either one first. A trade seen before the book that
          shows it explains that book's drop; a drop seen before its trades arrive is counted as cancels at once,
          and when those trades arrive within ``window_ms`` they take back what that drop took (and then use up
          the queue as trades do), so a trade is never counted twice. Without this a drop and its late trade both
          shortened the queue and paper orders filled early (bench/bench_paper_fills.py).
CROSS     the other side's book at or through our price (it moved through our level): we fill, up to the size
          shown there.
TAKE      a marketable paper order (a market order, or a limit that crosses) takes the displayed levels at their
          prices, best first, up to their sizes (our taking is not removed from the live book: our size must be
          small beside the market's, and the docs say so).

Fills are at the order's own price (a maker fill) for resting orders, at the levels' prices for taking ones.
Everything is in the venue's units (prices and sizes as floats); callers round to the instrument.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from app.engine.core.messages import BookSnapshot, Side, TradeTick

EPS = 1e-12


@dataclass
class PaperOrder:
    cid: str
    side: Side
    price: float | None  # None: a market order (never rests)
    qty: float
    filled: float = 0.0
    ahead: float | None = None  # volume ahead of us at our price; None: not yet seen (beyond the depth)
    level: float = 0.0  # our level's displayed size at the last book
    arrival: int | None = None  # exchange time it reaches the book; what happened until then is ahead of it
    # [ts, size]: trades at our price not yet seen in a book; [ts, drop, taken off ahead]: drops counted as cancels
    unseen: deque[list[float]] = field(default_factory=deque)
    cancels: deque[list[float]] = field(default_factory=deque)

    @property
    def remaining(self) -> float:
        return self.qty - self.filled


@dataclass(frozen=True, slots=True)
class PaperFill:
    cid: str
    price: float
    qty: float
    maker: bool  # resting (filled at its price) or taking


@dataclass
class QueueModel:
    """One instrument's resting paper orders against its live book and trades."""

    orders: dict[str, PaperOrder] = field(default_factory=dict)
    book: BookSnapshot | None = None
    window_ms: int = 250  # how far apart (exchange time) a trade and the book showing it may arrive

    # ------------------------------------------------------------------------------------------ orders
    def place(self, cid: str, side: Side, price: float | None, qty: float, ts: int | None = None) -> list[PaperFill]:
        """A new paper order: what crosses the book is taken at once; a limit's rest joins its queue. ``ts``:
        when it reaches the exchange (exchange time), if known."""
        order = PaperOrder(cid, side, price, qty, arrival=ts)
        fills = self._take(order)
        if price is not None and order.remaining > EPS:
            order.ahead, order.level = self._joined_ahead(side, price, self.book)
            self.orders[cid] = order
        return fills

    def cancel(self, cid: str) -> PaperOrder | None:
        return self.orders.pop(cid, None)

    def rejoin(self) -> None:
        """After a gap in the feed: every resting order goes to the back of its level as the book shows it now
        (what traded or left meanwhile is unknown, so nothing of it is counted in our favour)."""
        for order in self.orders.values():
            order.ahead, order.level = self._joined_ahead(order.side, order.price, self.book)
            order.unseen.clear()
            order.cancels.clear()

    # ----------------------------------------------------------------------------------------- market
    def on_trade(self, tick: TradeTick) -> list[PaperFill]:
        """A live trade: it uses up the queue ahead of our orders at its price, then fills them."""
        hit = Side.BUY if tick.aggressor is Side.SELL else Side.SELL  # the resting side it traded against
        fills = []
        for order in list(self.orders.values()):
            if order.side is not hit or (order.arrival is not None and tick.ts <= order.arrival):
                continue
            through = tick.price < order.price if hit is Side.BUY else tick.price > order.price
            if through:
                fills.append(self._fill(order, order.remaining))
            elif tick.price == order.price and order.ahead is not None:  # unknown queue: only a trade through
                self._net_trade(order, tick)
                ahead = order.ahead
                used = min(ahead, tick.size)
                order.ahead = ahead - used
                left = tick.size - used
                if left > EPS:
                    fills.append(self._fill(order, min(left, order.remaining)))
        return fills

    def on_book(self, book: BookSnapshot) -> list[PaperFill]:
        """A new live book: cancels ahead of us shorten the queue; a book through our price fills us."""
        self.book = book
        fills = []
        for order in list(self.orders.values()):
            crossing = sum(size for price, size in (book.asks if order.side is Side.BUY else book.bids)
                           if (price <= order.price if order.side is Side.BUY else price >= order.price))
            if crossing > EPS:  # sellers at or through our bid (buyers for an offer): they would have met us
                fills.append(self._fill(order, min(crossing, order.remaining)))
                if order.remaining <= EPS:
                    continue
            if order.arrival is not None and book.ts <= order.arrival:  # taken before we got there: join it
                order.ahead, order.level = self._joined_ahead(order.side, order.price, book)
                order.unseen.clear()
                order.cancels.clear()
                continue
            size, shown = _level(book, order.side, order.price)
            if order.ahead is None:  # beyond the depth when it joined: behind all that is shown now
                if shown:
                    order.ahead, order.level = size, size
                continue
            if not shown:
                continue  # moved beyond the displayed depth: nothing known, nothing changed
            if size <= EPS:
                order.ahead = 0.0  # the level emptied: we are its front
                order.unseen.clear()
                order.cancels.clear()
            else:
                self._net_drop(order, order.level - size, book.ts)
            order.level = size
        return fills

    # ------------------------------------------------------------------------------------------ inside
    def _net_trade(self, order: PaperOrder, tick: TradeTick) -> None:
        """A trade at our price: the part of it a book already showed as a drop gives back what that drop took
        from ``ahead`` as cancels (the caller then takes the whole trade from the front); the rest waits for
        the book that will show it."""
        self._expire(order, tick.ts)
        left = tick.size
        while order.cancels and left > EPS:
            c = order.cancels[0]
            x = min(c[1], left)
            back = c[2] * x / c[1]
            order.ahead += back
            c[1] -= x
            c[2] -= back
            left -= x
            if c[1] <= EPS:
                order.cancels.popleft()
        if left > EPS:
            order.unseen.append([tick.ts, left])

    def _net_drop(self, order: PaperOrder, drop: float, ts: int) -> None:
        """Our level shrank by ``drop`` (a rise is behind us): trades already seen explain part of it, the rest
        are cancels, taken pro rata from ahead of us and behind us."""
        self._expire(order, ts)
        if drop <= EPS:
            return
        traded = 0.0
        while order.unseen and traded < drop - EPS:
            u = order.unseen[0]
            x = min(u[1], drop - traded)
            traded += x
            u[1] -= x
            if u[1] <= EPS:
                order.unseen.popleft()
        cancelled, left = drop - traded, order.level - traded  # of what was left after the trades
        if cancelled > EPS and left > EPS:
            taken = min(cancelled * order.ahead / left, order.ahead)
            order.ahead -= taken
            order.cancels.append([ts, cancelled, taken])

    def _expire(self, order: PaperOrder, ts: int) -> None:
        old = ts - self.window_ms
        for q in (order.unseen, order.cancels):
            while q and q[0][0] < old:
                q.popleft()

    @staticmethod
    def _joined_ahead(side: Side, price: float, book: BookSnapshot | None) -> tuple[float | None, float]:
        if book is None:
            return None, 0.0
        size, shown = _level(book, side, price)
        return (size, size) if shown else (None, 0.0)

    def _take(self, order: PaperOrder) -> list[PaperFill]:
        book = self.book
        if book is None:
            return []
        levels = book.asks if order.side is Side.BUY else book.bids
        fills = []
        for price, size in levels:
            if order.remaining <= EPS:
                break
            if order.price is not None and (price > order.price if order.side is Side.BUY else price < order.price):
                break
            qty = min(size, order.remaining)
            order.filled += qty
            fills.append(PaperFill(order.cid, price, qty, maker=False))
        return fills

    def _fill(self, order: PaperOrder, qty: float) -> PaperFill:
        order.filled += qty
        if order.remaining <= EPS:
            self.orders.pop(order.cid, None)
        return PaperFill(order.cid, order.price, qty, maker=True)


def _level(book: BookSnapshot, side: Side, price: float) -> tuple[float, bool]:
    """The displayed size at ``price`` on ``side`` and whether the book shows that price: inside the spread or
    between displayed levels is shown (size 0); beyond the last displayed level is not."""
    levels = book.bids if side is Side.BUY else book.asks
    for p, size in levels:
        if p == price:
            return size, True
    if not levels:
        return 0.0, False
    last = levels[-1][0]
    beyond = price < last if side is Side.BUY else price > last
    return 0.0, not beyond
