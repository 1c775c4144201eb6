"""SMA cross: long-only; buy at the next open after the fast SMA crosses above the slow one, sell the whole
position at the next open after it crosses below. Quantity = available cash / (open x (1 + fee))."""
from __future__ import annotations

import math

import numpy as np

from app.api import Bar, Param, Strategy, TradeTick


class SmaCross(Strategy):
    name = "sma_cross"
    api_version = "1.0"
    description = "Long-only SMA crossover, all-in at the next open"
    fast = Param(10, lo=1, hi=10_000, doc="fast SMA period (bars)")
    slow = Param(30, lo=1, hi=10_000, doc="slow SMA period (bars)")

    def on_start(self) -> None:
        self.fast_ma = self.indicator("sma", timeperiod=self.p.fast)
        self.slow_ma = self.indicator("sma", timeperiod=self.p.slow)
        self.state.setdefault("pending", "")

    def on_bar(self, bar: Bar) -> None:
        f0, s0, f1, s1 = self.fast_ma.prev, self.slow_ma.prev, self.fast_ma.value, self.slow_ma.value
        if f0 != f0 or s0 != s0 or f1 != f1 or s1 != s1:  # NaN: not both defined on both bars
            return
        if f0 <= s0 and f1 > s1:
            self.state["pending"] = "buy"
        elif f0 >= s0 and f1 < s1:
            self.state["pending"] = "sell"

    def on_tick(self, tick: TradeTick) -> None:
        pending = self.state["pending"]
        if not pending:
            return
        self.state["pending"] = ""
        pos = self.position()
        if pending == "buy" and pos == 0.0:
            qty = self.cash / (tick.price * (1.0 + self.fee_rate))
            if qty > 0 and math.isfinite(qty):
                self.buy(qty)
        elif pending == "sell" and pos > 0.0:
            self.sell(pos)

    # ---------------------------------------------------------------- vectorised form, for fast sweeps
    @classmethod
    def signals(cls, data: dict[str, np.ndarray], fast: int, slow: int, **_: object):
        """Entry/exit signals at each bar's close: the same rule as on_bar (tests prove both agree)."""
        from app.engine import indicators as ta

        f, s = ta.sma(data["close"], fast), ta.sma(data["close"], slow)
        f0, s0 = np.r_[np.nan, f[:-1]], np.r_[np.nan, s[:-1]]
        with np.errstate(invalid="ignore"):
            entries = (f0 <= s0) & (f > s)
            exits = (f0 >= s0) & (f < s)
        return entries, exits
