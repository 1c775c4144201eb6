"""RSI mean reversion: long-only; buy a fixed cash fraction when RSI falls below `lower`, sell when it rises
above `upper`."""
from __future__ import annotations

from app.api import Bar, Param, Strategy


class RsiReversion(Strategy):
    name = "rsi_reversion"
    api_version = "1.0"
    description = "Buy oversold (RSI < lower), sell overbought (RSI > upper)"
    period = Param(14, lo=2, hi=500)
    lower = Param(30.0, lo=1.0, hi=99.0)
    upper = Param(70.0, lo=1.0, hi=99.0)
    fraction = Param(0.5, lo=0.01, hi=1.0, doc="share of cash spent on an entry")

    def on_start(self) -> None:
        if self.p.lower >= self.p.upper:
            raise ValueError(f"lower ({self.p.lower}) must be below upper ({self.p.upper})")
        self.rsi = self.indicator("rsi", timeperiod=self.p.period)

    def on_bar(self, bar: Bar) -> None:
        r = self.rsi.value
        if r != r:
            return
        pos = self.position()
        if pos == 0.0 and r < self.p.lower and not self.open_orders():
            qty = self.round_qty(self.cash * self.p.fraction / (bar.close * (1.0 + self.fee_rate)))
            if qty > 0:
                self.buy(qty)
        elif pos > 0.0 and r > self.p.upper and not self.open_orders():
            self.sell(pos)
