"""SMA cross: long-only; buy at the next open after the fast SMA crosses above the slow one, sell the whole
position at the next open after it crosses below. Quantity = available cash / (open x (1 + fee)).

Protection (plugin API 1.2, off by default so results are unchanged): ``stop_loss_pct`` places a reduce-only sell
stop that far below the entry's fill, ``take_profit_pct`` a reduce-only sell limit that far above it; when one fills
the other is canceled, and a sell signal cancels both before it closes the position. In a backtest the stop fills
under the bar conventions (docs/STRATEGIES.md, "Stops in backtests"); live, the venue keeps it where it can, else
Kestrel does.

"Crosses above" is fast[t-1] <= slow[t-1] and fast[t] > slow[t], both defined, in exact arithmetic. The
streaming SMA keeps a running sum, whose rounding can put two equal (or nearly equal) averages a few ulps
apart in either direction: on flat stretches of real data that made this strategy trade a bar early. So
when the two averages are within ``TIE_BAND`` (relative) of each other, their order is decided exactly from
the closes in the window; elsewhere the floats are far from ambiguous.
"""
from __future__ import annotations

import collections
import math

import numpy as np

from app.api import Bar, OrderFilled, Param, Strategy, TradeTick, ta

TIE_BAND = 1e-7  # far above a running sum's drift, far below any real difference between two averages


def exact_order(closes, fast: int, slow: int) -> int:
    """-1, 0 or 1: the sign of SMA(fast) - SMA(slow) over the last max(fast, slow) closes, computed
    exactly (every float is an integer over a power of two: sum the integers over a common denominator)."""
    ratios = [float(x).as_integer_ratio() for x in closes]
    den = max(d for _, d in ratios)
    ints = [n * (den // d) for n, d in ratios]
    diff = sum(ints[-fast:]) * slow - sum(ints[-slow:]) * fast
    return (diff > 0) - (diff < 0)


class SmaCross(Strategy):
    name = "sma_cross"
    api_version = "1.2"
    description = "Long-only SMA crossover, all-in at the next open"
    fast = Param(10, lo=1, hi=10_000, doc="fast SMA period (bars)")
    slow = Param(30, lo=1, hi=10_000, doc="slow SMA period (bars)")
    stop_loss_pct = Param(0.0, lo=0.0, hi=99.0, doc="a stop-loss this % below the entry's fill (0: none)")
    take_profit_pct = Param(0.0, lo=0.0, hi=10_000.0, doc="a take-profit this % above the entry's fill (0: none)")
    signals_params = ("fast", "slow")  # the vectorised form has no stops: sweeps with them run event by event

    def on_start(self) -> None:
        self.fast_ma = self.indicator("sma", timeperiod=self.p.fast)
        self.slow_ma = self.indicator("sma", timeperiod=self.p.slow)
        self.closes = collections.deque(maxlen=max(self.p.fast, self.p.slow))  # for exact tie-breaks
        self.fast_vs_slow = None  # sign of fast - slow on the previous bar (None: not both defined)
        self.state.setdefault("pending", "")
        self.state.setdefault("protection", [])  # ids of our stop-loss and take-profit orders

    def on_bar(self, bar: Bar) -> None:
        self.closes.append(bar.close)
        s = self.slow_ma.value
        d = self.fast_ma.value - s
        if d != d:  # NaN: not both defined yet
            return
        band = TIE_BAND * abs(s)
        now = 1 if d > band else -1 if d < -band else self._tie()
        before = self.fast_vs_slow
        self.fast_vs_slow = now
        if before is None:
            return
        if before <= 0 < now:
            self.state["pending"] = "buy"
        elif before >= 0 > now:
            self.state["pending"] = "sell"

    def _tie(self) -> int:
        fast, slow = self.p.fast, self.p.slow
        return 0 if fast == slow else exact_order(self.closes, fast, slow)

    def on_tick(self, tick: TradeTick) -> None:
        pending = self.state["pending"]
        if not pending:
            return
        self.state["pending"] = ""
        pos = self.position()
        if pending == "buy" and pos == 0.0:
            qty = self.round_qty(self.cash / (tick.price * (1.0 + self.fee_rate)))
            if qty > 0 and math.isfinite(qty):
                self.buy(qty)
        elif pending == "sell" and pos > 0.0:
            if self.state["protection"]:  # the exit goes once they are gone (both working could sell twice)
                self.state["exit"] = True
                self._unprotect()
                self._exit_when_unprotected()
            else:
                self.sell(pos)

    def on_order(self, event) -> None:  # noqa: ANN001 - an OrderUpdated or OrderDenied
        self._exit_when_unprotected()

    def _exit_when_unprotected(self) -> None:
        if not self.state.get("exit"):
            return
        cancelling = self.state.get("cancelling", ())
        if any(o.client_order_id in cancelling for o in self.open_orders()):
            return
        self.state["exit"] = False
        pos = self.position()
        if pos > 0.0:
            self.sell(pos)

    def on_fill(self, fill: OrderFilled) -> None:
        protection = self.state["protection"]
        if fill.client_order_id in protection:  # one side filled: the other goes
            if self.position() <= 0.0:
                self._unprotect()
            return
        if fill.side.value != "BUY" or not (self.p.stop_loss_pct or self.p.take_profit_pct):
            return
        self._unprotect()  # (a partial fill: placed again for the whole position)
        protection = self.state["protection"]
        pos = self.position()
        tick = self.tick_size
        if self.p.stop_loss_pct:
            trigger = fill.price * (1.0 - self.p.stop_loss_pct / 100.0)
            trigger = round(math.floor(trigger / tick + 1e-9) * tick, 12) if tick else trigger
            protection.append(self.stop("sell", pos, trigger=trigger, reduce_only=True))
        if self.p.take_profit_pct:
            price = fill.price * (1.0 + self.p.take_profit_pct / 100.0)
            price = round(math.ceil(price / tick - 1e-9) * tick, 12) if tick else price
            protection.append(self.sell(pos, price=price, reduce_only=True))

    def _unprotect(self) -> None:
        self.state["cancelling"] = list(self.state["protection"])
        for cid in self.state["protection"]:
            self.cancel(cid)
        self.state["protection"] = []

    # ---------------------------------------------------------------- vectorised form, for fast sweeps
    @classmethod
    def signals(cls, data: dict[str, np.ndarray], fast: int, slow: int, **_: object):
        """Entry/exit signals at each bar's close: the same rule as on_bar (tests prove both agree)."""
        close = data["close"]
        f, s = ta.sma(close, fast), ta.sma(close, slow)
        d = f - s
        with np.errstate(invalid="ignore"):
            order = np.sign(d)
            n = max(fast, slow)
            if fast != slow:
                for t in np.flatnonzero(np.abs(d) <= TIE_BAND * np.abs(s)):
                    order[t] = exact_order(close[t + 1 - n:t + 1], fast, slow)
            before = np.r_[np.nan, order[:-1]]
            entries = (before <= 0) & (order > 0)
            exits = (before >= 0) & (order < 0)
        return entries, exits
