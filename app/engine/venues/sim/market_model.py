"""A seeded, cheap, lively market for one instrument, acting on a real ``OrderBook``.

The model is a few synthetic participants around a hidden fair value:

- **Fair value**: a log random walk stepped every ``step_ms``; its variance follows GARCH(1,1) (shocks
  cluster) times a two-state regime (calm / active, minutes long), so quiet and busy spells alternate the way
  a trader expects. The fair value also drifts towards the book's mid (``mid_pull``): trades that eat depth,
  ours included, move the price for good (permanent impact). A-shares: clamped to the daily price limits.
- **Makers** quote ``levels`` price levels per side from a touch a few ticks either side of fair; the
  half spread widens with volatility. Consumed levels refill with probability ``refill_prob`` per step,
  sizes are log-normal and grow away from the touch. Quotes overtaken by fair value are canceled, or
  (probability ``arb_prob`` per level, and always for *our* orders) picked off by an arbitrage taker, which
  is how a resting client order gets filled when the market moves through it. Random requotes (cancel the
  oldest maker order of a level) churn queue positions.
- **Takers** arrive as a Poisson process (rate rises with volatility), lean towards the side fair value
  points to, send market orders with heavy-tailed sizes (occasional blocks sweep several levels).

Determinism: everything random comes from one ``numpy.random.Generator`` drawn in fixed-size batches and
consumed in a fixed order, and events sit on the model's own clock (step grid + integer-ms taker arrivals),
so the same seed and the same sequence of calls give the same events, whatever the caller's frame rate.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from app.engine.core.instruments import Instrument
from app.engine.core.messages import Side
from app.engine.venues.sim.orderbook import OWNER_CLIENT, OrderBook

MAKER = 1  # owner id of the synthetic makers
TAKER = 2  # owner id of the synthetic takers (noise and arbitrage)


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Per-instrument knobs. Sizes are in base units (converted to lots, at least one lot)."""

    start_price: float  # also the "previous close" the A-share price limits are computed from
    vol_per_sqrt_s: float  # calm-regime volatility of log fair value per sqrt(second)
    half_spread_ticks: float = 1.0  # calm half spread; widens with volatility
    levels: int = 20  # maker levels kept per side
    touch_size: float = 1.0  # median maker order size at the touch
    size_growth: float = 0.15  # median size grows by this fraction per level away from the touch
    taker_rate_per_s: float = 5.0  # calm-regime taker arrivals per second
    taker_size: float = 0.1  # median taker size
    block_prob: float = 0.02  # chance a taker is a block of ``block_mult`` times its size
    block_mult: float = 25.0
    step_ms: int = 50
    garch_alpha: float = 0.04
    garch_beta: float = 0.955
    active_vol_mult: float = 2.5  # volatility multiplier in the active regime
    calm_mean_s: float = 120.0  # mean duration of the calm regime
    active_mean_s: float = 40.0
    refill_prob: float = 0.35  # per step, per empty level
    arb_prob: float = 0.3  # chance a stale maker level is picked off instead of canceled
    churn_prob: float = 0.4  # per step: one random requote
    mid_pull: float = 0.08  # per step pull of fair value towards the book's mid
    price_limit_pct: float | None = None  # A-share daily limit (0.10 = +-10% of start_price)

    @staticmethod
    def for_instrument(instrument: Instrument) -> "ModelParams":
        """Built-in parameters for the default instruments, a sensible generic set for anything else."""
        p = DEFAULT_PARAMS.get(instrument.symbol)
        if p is not None:
            return p
        lot = instrument.lot_size
        return ModelParams(start_price=round(10_000 * instrument.tick_size, 10), vol_per_sqrt_s=3e-5,
                           touch_size=20 * lot, taker_size=3 * lot,
                           price_limit_pct=0.10 if instrument.asset_class == "equity" else None)


DEFAULT_PARAMS: dict[str, ModelParams] = {
    "BTC/USDT": ModelParams(start_price=65_000.0, vol_per_sqrt_s=3.5e-5, half_spread_ticks=1.0,
                            touch_size=0.25, taker_rate_per_s=8.0, taker_size=0.02),
    "ETH/USDT": ModelParams(start_price=3_400.0, vol_per_sqrt_s=4.0e-5, half_spread_ticks=1.0,
                            touch_size=4.0, taker_rate_per_s=6.0, taker_size=0.4),
    "600519.SH": ModelParams(start_price=1_500.0, vol_per_sqrt_s=3.0e-5, half_spread_ticks=1.5,
                             touch_size=600.0, taker_rate_per_s=3.0, taker_size=200.0, refill_prob=0.2,
                             price_limit_pct=0.10),
}


def daily_limits(instrument: Instrument, params: ModelParams) -> tuple[int, int] | None:
    """(lower, upper) limit prices in ticks, or None when the instrument has no daily price limit."""
    pct = params.price_limit_pct
    if pct is None:
        return None
    prev = params.start_price
    return instrument.price_to_ticks(prev * (1 - pct)), instrument.price_to_ticks(prev * (1 + pct))


class _Draws:
    """Buffered draws from one Generator: scalar access at list-index cost, in a deterministic order."""

    __slots__ = ("_rng", "_n", "_ni", "_u", "_ui", "_e", "_ei")
    _BATCH = 2048

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._n: list[float] = []
        self._u: list[float] = []
        self._e: list[float] = []
        self._ni = self._ui = self._ei = 0

    def normal(self) -> float:
        if self._ni >= len(self._n):
            self._n, self._ni = self._rng.standard_normal(self._BATCH).tolist(), 0
        self._ni += 1
        return self._n[self._ni - 1]

    def uniform(self) -> float:
        if self._ui >= len(self._u):
            self._u, self._ui = self._rng.random(self._BATCH).tolist(), 0
        self._ui += 1
        return self._u[self._ui - 1]

    def uniforms(self, k: int) -> list[float]:
        """``k`` uniforms at once (one per level of a ladder scan, used or not: cheaper than k calls)."""
        if self._ui + k > len(self._u):
            self._u, self._ui = self._u[self._ui:] + self._rng.random(self._BATCH).tolist(), 0
        self._ui += k
        return self._u[self._ui - k: self._ui]

    def exponential(self) -> float:
        if self._ei >= len(self._e):
            self._e, self._ei = self._rng.standard_exponential(self._BATCH).tolist(), 0
        self._ei += 1
        return self._e[self._ei - 1]


class MarketModel:
    """Drives one book. The exchange asks ``next_ts`` and calls ``process_next()`` in time order.

    ``seed`` is the exchange-wide seed; the instrument's own stream is derived from it and the symbol,
    so adding an instrument does not change the others' markets.
    """

    def __init__(self, instrument: Instrument, book: OrderBook, params: ModelParams, seed: int,
                 start_ts: int, next_id: Callable[[], int]) -> None:
        self.instrument = instrument
        self.book = book
        self.params = params
        self._next_id = next_id
        # per-instrument stream from one seed; crc32, not hash(): str hashes are salted per process
        self._r = _Draws(np.random.default_rng([seed, zlib.crc32(instrument.symbol.encode())]))
        p = params
        self._lot = instrument.lot_size
        self._limits = daily_limits(instrument, params)
        self._fair = float(instrument.price_to_ticks(p.start_price))  # in ticks
        dt = p.step_ms / 1000.0
        self._hbar = (p.vol_per_sqrt_s ** 2) * dt  # long-run per-step variance (calm regime)
        self._h = self._hbar
        self._omega = self._hbar * (1.0 - p.garch_alpha - p.garch_beta)
        self._p_to_active = dt / p.calm_mean_s
        self._p_to_calm = dt / p.active_mean_s
        self._active = False
        self._vol_ratio = 1.0
        self._touch_lots = max(1.0, p.touch_size / self._lot)
        self._taker_lots = max(1.0, p.taker_size / self._lot)
        self._touch: dict[Side, int] = {}  # last step's touch per side
        self._next_step = start_ts + p.step_ms
        self._next_taker = start_ts + self._taker_gap()
        self._quote(force=True)

    # ------------------------------------------------------------------------------------- accessors
    @property
    def next_ts(self) -> int:
        return self._next_step if self._next_step <= self._next_taker else self._next_taker

    @property
    def fair_value(self) -> float:
        return self._fair * self.instrument.tick_size

    @property
    def vol_ratio(self) -> float:
        """Current volatility relative to the calm long-run level (1.0 = normal)."""
        return self._vol_ratio

    @property
    def active(self) -> bool:
        return self._active

    # ------------------------------------------------------------------------------------------ events
    def process_next(self) -> int:
        """Run the earliest scheduled event (a fair-value step or a taker arrival); returns its time."""
        if self._next_step <= self._next_taker:
            ts = self._next_step
            self._step()
            self._next_step += self.params.step_ms
        else:
            ts = self._next_taker
            self._taker()
            self._next_taker = ts + self._taker_gap()
        return ts

    def skip_to(self, ts: int) -> None:
        """Jump the model's clock forward without simulating the gap (e.g. after the machine slept)."""
        if self._next_step < ts:
            n = -(-(ts - self._next_step) // self.params.step_ms)
            self._next_step += n * self.params.step_ms
        if self._next_taker < ts:
            self._next_taker = ts + self._taker_gap()

    def set_limits(self, limits: tuple[int, int] | None) -> None:
        """New daily price limits in ticks (an A-share's new trading day: from the previous close)."""
        self._limits = limits

    def _taker_gap(self) -> int:
        rate = self.params.taker_rate_per_s * (0.4 + 0.6 * self._vol_ratio)
        return max(1, round(self._r.exponential() * 1000.0 / rate))

    def _step(self) -> None:
        p, r = self.params, self._r
        if r.uniform() < (self._p_to_calm if self._active else self._p_to_active):
            self._active = not self._active
        mult = p.active_vol_mult if self._active else 1.0
        h = self._h
        eps = math.sqrt(h) * r.normal()
        self._h = min(max(self._omega + p.garch_alpha * eps * eps + p.garch_beta * h, 0.05 * self._hbar),
                      40.0 * self._hbar)
        self._vol_ratio = math.sqrt(h / self._hbar) * mult
        fair = self._fair * math.exp(eps * mult)
        mid = self.book.mid_ticks()
        if mid is not None:
            fair += p.mid_pull * (mid - fair)
        if self._limits is not None:
            fair = min(max(fair, float(self._limits[0])), float(self._limits[1]))
        self._fair = fair
        self._quote(force=False)
        if r.uniform() < p.churn_prob:
            self._churn()

    def _quote(self, force: bool) -> None:
        """Pick off / cancel quotes overtaken by fair value, trim the far end, refill the ladder."""
        p, book, fair = self.params, self.book, self._fair
        hs = max(0.5, p.half_spread_ticks * (0.6 + 0.4 * self._vol_ratio))
        bid_touch, ask_touch = math.floor(fair - hs), math.ceil(fair + hs)
        if self._limits is not None:  # at limit-up bids queue at the limit (no asks), and vice versa
            lo, hi = self._limits
            if fair >= hi - hs:
                bid_touch = hi
            if fair <= lo + hs:
                ask_touch = lo
        if not force:
            self._overtaken(Side.BUY, math.ceil(fair), bid_touch)
            self._overtaken(Side.SELL, math.floor(fair), ask_touch)
            slack = p.levels + 5
            for price in book.prices_between(Side.BUY, -(1 << 62), bid_touch - slack):
                self._cancel_makers(Side.BUY, price)
            for price in book.prices_between(Side.SELL, ask_touch + slack, 1 << 62):
                self._cancel_makers(Side.SELL, price)
        self._refill(Side.BUY, bid_touch, -1, force)
        self._refill(Side.SELL, ask_touch, 1, force)

    def _overtaken(self, side: Side, through: int, touch: int) -> None:
        """Quotes at or beyond ``through`` (fair value) may be picked off; stale maker quotes better
        than ``touch`` are otherwise withdrawn."""
        book, r = self.book, self._r
        best = book.best_bid_ticks() if side is Side.BUY else book.best_ask_ticks()
        if best is None or (best <= touch if side is Side.BUY else best >= touch):
            return
        lo, hi = (touch + 1, 1 << 62) if side is Side.BUY else (-(1 << 62), touch - 1)
        picked = False
        for price in book.prices_between(side, lo, hi):
            beyond = price >= through if side is Side.BUY else price <= through
            if beyond and r.uniform() < self.params.arb_prob:
                picked = True
                continue
            self._cancel_makers(side, price)
            if beyond and book.size_at(side, price)[1] > 0:
                picked = True  # our order is there: somebody takes it
        if picked:
            book.add_limit(self._next_id(), TAKER, side.opposite, through, 1 << 50, ioc=True, stp=False)

    def _cancel_makers(self, side: Side, price: int, first_only: bool = False) -> None:
        for o in self.book.orders_at(side, price):
            if o.owner == MAKER:
                self.book.cancel(o.order_id)
                if first_only:
                    return

    def _refill(self, side: Side, touch: int, direction: int, force: bool) -> None:
        """Fill empty ladder levels: prices the ladder just moved onto at once (makers shift their whole
        ladder with fair value), consumed levels with ``refill_prob`` per step (faster at the touch)."""
        p, book, r = self.params, self.book, self._r
        n = p.levels
        if self._limits is not None:  # no quotes beyond the daily limit
            lo, hi = self._limits
            n = min(n, (touch - lo + 1) if direction < 0 else (hi - touch + 1))
        prev = self._touch.get(side)
        self._touch[side] = touch
        if n <= 0:
            return
        # Level i (price touch + direction*i) was level i + d of the previous ladder: the indices the
        # ladder just moved onto are [0, -d) when it moved inwards (d < 0), [n - d, n) when outwards.
        d = 0 if prev is None else (touch - prev) * direction
        new_lo, new_hi = (0, min(-d, n)) if d < 0 else (max(0, n - d), n if d > 0 else 0)
        get = book.level_map(side).get
        lots, refill, top_up = self._touch_lots, p.refill_prob, p.refill_prob * 0.1
        touch_refill = min(0.9, 2.5 * refill)
        us = r.uniforms(n)
        for i in range(n):
            price = touch + direction * i
            lvl = get(price)
            if lvl is None or lvl.size == lvl.own:  # no maker here
                if not force and not new_lo <= i < new_hi and us[i] >= (touch_refill if i < 3 else refill):
                    continue
            elif lvl.size - lvl.own > lots or us[i] >= top_up:
                continue  # a thin level sometimes gets a second maker order
            size = lots * (1.0 + p.size_growth * i) * math.exp(0.7 * r.normal() - 0.245)
            book.add_limit(self._next_id(), MAKER, side, price, max(1, round(size)), post_only=True,
                           stp=False)

    def _churn(self) -> None:
        """Requote: the oldest maker order at a random level is pulled (refilled later at the back)."""
        r, book = self._r, self.book
        side = Side.BUY if r.uniform() < 0.5 else Side.SELL
        best = book.best_bid_ticks() if side is Side.BUY else book.best_ask_ticks()
        if best is None:
            return
        i = int(r.uniform() * self.params.levels)
        self._cancel_makers(side, best - i if side is Side.BUY else best + i, first_only=True)

    def _taker(self) -> None:
        p, r, book = self.params, self._r, self.book
        mid = book.mid_ticks()
        lean = 0.0
        if mid is not None:
            lean = max(-0.35, min(0.35, 0.25 * (self._fair - mid)))
        side = Side.BUY if r.uniform() < 0.5 + lean else Side.SELL
        size = self._taker_lots * math.exp(1.2 * r.normal())
        if r.uniform() < p.block_prob:
            size *= p.block_mult
        book.market(self._next_id(), TAKER, side, max(1, round(size)), stp=False)


__all__ = ["MAKER", "TAKER", "OWNER_CLIENT", "ModelParams", "DEFAULT_PARAMS", "MarketModel", "daily_limits"]
