"""Bollinger breakout: long-only; buy when the close breaks above the upper band, exit when it falls back
below the middle band."""
from __future__ import annotations

from app.api import Bar, Param, Strategy


class BollingerBreakout(Strategy):
    name = "bollinger_breakout"
    api_version = "1.0"
    description = "Buy a close above the upper band, exit below the middle band"
    period = Param(20, lo=2, hi=1000)
    width = Param(2.0, lo=0.1, hi=10.0, doc="band width in standard deviations")
    fraction = Param(0.95, lo=0.01, hi=1.0, doc="share of cash spent on an entry")

    def on_start(self) -> None:
        self.bands = self.indicator("bbands", timeperiod=self.p.period, nbdevup=self.p.width,
                                    nbdevdn=self.p.width)

    def on_bar(self, bar: Bar) -> None:
        upper, middle, _lower = self.bands.value
        if upper != upper:
            return
        pos = self.position()
        if pos == 0.0 and bar.close > upper and not self.open_orders():
            self.buy(self.round_qty(self.cash * self.p.fraction / (bar.close * (1.0 + self.fee_rate))))
        elif pos > 0.0 and bar.close < middle and not self.open_orders():
            self.sell(pos)
