"""Running totals over the working orders, so that pre-trade checks cost O(1) however many orders work.

"Orders in flight count against limits at once": every check that looks at working orders (working-order
counts, the position limit, REDUCING, gross exposure, self-match) reads these totals instead of scanning
``ExecutionEngine.working``. The ExecutionEngine books an order when it starts working or changes (a fill
shrinks its leaves) and unbooks it when it ends; each order remembers exactly what it added (``Order.booked``)
and removing subtracts that same tuple, so totals cannot drift from the orders. A bucket whose last order
leaves is deleted, so an empty bucket is exactly 0 (no float residue).

Only the *existence* of a crossing order is answered here (best prices per side); the self-match denial
still names the first crossing order in ``working`` order, as it always has.
"""
from __future__ import annotations

from bisect import bisect_left, insort

from app.engine.core.messages import Side
from app.engine.oms.orders import Order

BUY, SELL = Side.BUY, Side.SELL


class WorkingExposure:
    __slots__ = ("by_actor", "side_leaves", "net_leaves", "priced_notional", "unpriced_leaves", "prices",
                 "_counts")

    def __init__(self) -> None:
        self.by_actor: dict[str, int] = {}  # actor -> working orders
        self.side_leaves: dict[tuple[str, Side], float] = {}  # (symbol, side) -> leaves quantity
        self.net_leaves: dict[str, float] = {}  # symbol -> signed leaves (buys +, sells -)
        self.priced_notional: dict[str, float] = {}  # symbol -> sum of leaves * limit price (quote ccy)
        self.unpriced_leaves: dict[str, float] = {}  # symbol -> leaves of market orders (valued at the mid)
        self.prices: dict[tuple[str, Side], list[float]] = {}  # (symbol, side) -> limit prices, ascending
        self._counts: dict = {}  # orders in each bucket of the totals above

    def book(self, order: Order) -> None:
        """Add (or re-add after a change) a working order's contribution; remove it once it stopped working."""
        old = order.booked
        if order.status.is_working:
            leaves = order.quantity - order.filled_qty
            # a stop is off the book: it crosses nothing, and until it triggers it does not change the position
            # (``net_leaves``: a resting stop-loss must not make the order that closes the position look like
            # one opening the other way); a fired emulated one is the plain order it became
            stop = order.order_type.is_triggered and order.triggered_ts is None
            price = None if stop else order.price
            new = (order.actor, order.symbol, order.side, leaves if leaves > 0.0 else 0.0, price, stop)
            if new == old:  # a state change that moves no total (SUBMITTED -> ACCEPTED, PENDING_CANCEL)
                return
        else:
            new = None
        if old is not None:
            self._remove(old)
        if new is not None:
            self._add(new)
        order.booked = new

    # ------------------------------------------------------------------------------------------ queries
    def crosses(self, symbol: str, side: Side, price: float | None) -> bool:
        """Is there a working limit order on the other side that an order (``price`` None: market) would hit?"""
        other = self.prices.get((symbol, SELL if side is BUY else BUY))
        if not other:
            return False
        if price is None:
            return True
        return price >= other[0] if side is BUY else price <= other[-1]

    # ---------------------------------------------------------------------------------------- internals
    def _add(self, b: tuple) -> None:
        actor, symbol, side, leaves, price, stop = b
        self.by_actor[actor] = self.by_actor.get(actor, 0) + 1
        n = self._counts
        _inc(self.side_leaves, n, (symbol, side), leaves)
        if not stop:
            _inc(self.net_leaves, n, symbol, leaves if side is BUY else -leaves)
        if price is None:
            _inc(self.unpriced_leaves, n, ("unpriced", symbol), leaves, symbol)
        else:
            _inc(self.priced_notional, n, ("priced", symbol), leaves * price, symbol)
            prices = self.prices.get((symbol, side))
            if prices is None:
                self.prices[(symbol, side)] = [price]
            else:
                insort(prices, price)

    def _remove(self, b: tuple) -> None:
        actor, symbol, side, leaves, price, stop = b
        left = self.by_actor[actor] - 1
        if left:
            self.by_actor[actor] = left
        else:
            del self.by_actor[actor]
        n = self._counts
        _dec(self.side_leaves, n, (symbol, side), leaves)
        if not stop:
            _dec(self.net_leaves, n, symbol, leaves if side is BUY else -leaves)
        if price is None:
            _dec(self.unpriced_leaves, n, ("unpriced", symbol), leaves, symbol)
        else:
            _dec(self.priced_notional, n, ("priced", symbol), leaves * price, symbol)
            prices = self.prices[(symbol, side)]
            del prices[bisect_left(prices, price)]
            if not prices:
                del self.prices[(symbol, side)]


def _inc(totals: dict, counts: dict, count_key, value: float, key=None) -> None:
    key = count_key if key is None else key
    counts[count_key] = counts.get(count_key, 0) + 1
    totals[key] = totals.get(key, 0.0) + value


def _dec(totals: dict, counts: dict, count_key, value: float, key=None) -> None:
    """Subtract what was added; the bucket's last order deletes it, so an empty bucket is exactly 0."""
    key = count_key if key is None else key
    left = counts[count_key] - 1
    if left:
        counts[count_key] = left
        totals[key] -= value
    else:
        del counts[count_key], totals[key]
