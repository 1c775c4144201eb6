"""ML signal: long-only, driven by a trained model's score.

The model (``model_ref``: "default" is the bundled one, or a registered name, ``name@version``, ``#id``, or a
model folder) computes its own features from this strategy's bars with the terminal's indicator kernels and
scores them with onnxruntime. A classifier's score is the probability that the price is up after the
model's horizon: the strategy buys at the next open once it reaches ``enter`` and sells its whole
position at the next open once it falls to ``exit``. A regression model's score is the predicted return:
buy above ``min_return``, sell at or below zero. Each entry spends ``fraction`` of the cash.

A missing, damaged or mismatched model stops the strategy at start (the reason is shown in the manager).
Live, the features warm up from the terminal's bar history (``warmup``); ``intrabar`` also scores every
trade on the forming bar, so an exit can come before the bar closes.
"""
from __future__ import annotations

import math

from app.api import Bar, BookSnapshot, Param, Strategy, TradeTick


class MlSignal(Strategy):
    name = "ml_signal"
    api_version = "1.1"
    description = "Long-only on a trained model's probability of an up move (bundled model by default)"
    model_ref = Param("default", doc="'default' (bundled), a registered model name, name@version, #id, or a folder")
    enter = Param(0.55, lo=0.0, hi=1.0, doc="classifier: buy when p(up) >= this")
    exit = Param(0.5, lo=0.0, hi=1.0, doc="classifier: sell when p(up) <= this")
    min_return = Param(0.0, doc="regression model: buy when the predicted return exceeds this")
    fraction = Param(0.1, lo=0.0, hi=1.0, doc="share of the cash spent on an entry")
    warmup = Param(True, doc="warm the features up from the terminal's bar history at start")
    intrabar = Param(False, doc="also score each trade on the still-forming bar (exits only)")

    def on_start(self) -> None:
        self.m = self.model(self.p.model_ref)  # raises on a bad model: the strategy does not start
        if self.p.warmup:
            for bar in self.history(500):
                self.m.update(bar)
        self.state.setdefault("pending", "")
        self.forming: list[float] | None = None  # [ts, open, high, low, close, volume] of the current bar
        # thresholds as plain attributes: _want runs on every scored bar and trade print
        if self.m.task == "classify":
            self.buy_at, self.sell_at, self.buy_above = self.p.enter, self.p.exit, math.inf
        else:
            self.buy_at, self.sell_at, self.buy_above = math.inf, 0.0, self.p.min_return
        self.score_ticks = self.p.intrabar

    def _want(self, score: float) -> str:
        if score != score:
            return ""
        if score >= self.buy_at or score > self.buy_above:
            return "buy"
        return "sell" if score <= self.sell_at else ""

    def on_bar(self, bar: Bar) -> None:
        self.forming = None
        self.state["pending"] = self._want(self.m.update(bar)) or self.state["pending"]

    def on_book(self, book: BookSnapshot) -> None:
        self.m.on_book(book)

    def on_tick(self, tick: TradeTick) -> None:
        if self.score_ticks:
            self._intrabar(tick)
        pending = self.state["pending"]
        if not pending:
            return
        self.state["pending"] = ""
        pos = self.position()
        if pending == "buy" and pos == 0.0 and not self.open_orders():
            qty = self.fraction_qty(tick.price)
            if qty > 0.0:
                self.buy(qty)
        elif pending == "sell" and pos > 0.0 and not self.open_orders():
            self.sell(pos)

    def fraction_qty(self, price: float) -> float:
        qty = self.cash * self.p.fraction / (price * (1.0 + self.fee_rate))
        lot = self.lot_size
        if lot > 0.0 and math.isfinite(qty):
            qty = round(math.floor(qty / lot + 1e-9) * lot, 12)
        return qty if math.isfinite(qty) and qty > 0.0 else 0.0

    def _intrabar(self, tick: TradeTick) -> None:
        f = self.forming
        if f is None:
            self.forming = f = [tick.ts, tick.price, tick.price, tick.price, tick.price, 0.0]
        f[2] = max(f[2], tick.price)
        f[3] = min(f[3], tick.price)
        f[4] = tick.price
        f[5] += tick.size
        score = self.m.preview(Bar(tick.symbol, 0, int(f[0]), f[1], f[2], f[3], f[4], f[5], False))
        if self._want(score) == "sell" and self.position() > 0.0:
            self.state["pending"] = "sell"
