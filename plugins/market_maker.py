"""Market-making example: quotes one bid and one ask around the mid (visible on the ladder), skewed by
inventory, re-quoting when the mid moves. Every quote goes through the risk gate like any order."""
from __future__ import annotations

from app.api import Bar, BookSnapshot, OrderFilled, Param, Strategy


class MarketMaker(Strategy):
    name = "market_maker"
    api_version = "1.0"
    description = "Two-sided quotes around the mid, skewed by inventory"
    size = Param(0.01, lo=0.0, hi=1e9, doc="quantity per quote")
    half_spread_bps = Param(5.0, lo=0.1, hi=1000.0, doc="distance of each quote from the mid")
    max_inventory = Param(0.05, lo=0.0, hi=1e9, doc="stop quoting the side that would grow inventory past this")
    requote_bps = Param(2.0, lo=0.0, hi=1000.0, doc="re-quote when the mid moves this far")

    def on_start(self) -> None:
        self.quoted_mid = 0.0
        self.bid_id = self.ask_id = ""

    def on_book(self, book: BookSnapshot) -> None:
        if book.mid is not None:
            self._quote(book.mid)

    def on_bar(self, bar: Bar) -> None:  # bar backtests have no book: quote around the close
        self._quote(bar.close)

    def on_fill(self, fill: OrderFilled) -> None:
        self.log.info("filled %s %s @ %s, inventory %s", fill.side.value, fill.quantity, fill.price,
                      self.position())
        self.quoted_mid = 0.0  # re-quote at once

    def _round(self, price: float) -> float:
        t = self.tick_size
        return round(round(price / t) * t, 10) if t > 0 else price

    def _quote(self, mid: float) -> None:
        if self.quoted_mid and abs(mid / self.quoted_mid - 1.0) * 1e4 < self.p.requote_bps:
            return
        self.quoted_mid = mid
        working = {o.client_order_id for o in self.open_orders()}
        for cid in (self.bid_id, self.ask_id):
            if cid in working:
                self.cancel(cid)
        inv = self.position()
        skew = -inv / self.p.max_inventory * self.p.half_spread_bps if self.p.max_inventory else 0.0
        off = self.p.half_spread_bps / 1e4
        bid = self._round(mid * (1 - off + skew / 1e4))
        ask = self._round(mid * (1 + off + skew / 1e4))
        self.bid_id = self.buy(self.p.size, bid) if inv + self.p.size <= self.p.max_inventory else ""
        self.ask_id = self.sell(self.p.size, ask) if inv - self.p.size >= -self.p.max_inventory else ""
