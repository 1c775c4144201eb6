"""Instruments: what can be traded, with the venue's precision and limits."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str  # e.g. "BTC/USDT", "600519.SH"
    venue: str
    base: str
    quote: str
    tick_size: float
    lot_size: float  # quantity increment (100 for A-shares)
    min_qty: float
    max_qty: float
    min_notional: float = 0.0
    maker_fee: float = 0.001  # fraction of notional
    taker_fee: float = 0.001
    asset_class: str = "crypto"  # "crypto" or "equity"
    # China A-shares: a sell of the whole holding may be an odd lot (or below min_qty), e.g. 150 shares
    odd_lot_sell_whole: bool = False

    def price_to_ticks(self, price: float) -> int:
        return int(round(price / self.tick_size))

    def ticks_to_price(self, ticks: int) -> float:
        return round(ticks * self.tick_size, self.price_decimals)

    def is_on_tick(self, price: float) -> bool:
        return _on_grid(price, self.tick_size)

    def is_on_lot(self, qty: float) -> bool:
        return _on_grid(qty, self.lot_size)

    def round_price(self, price: float) -> float:
        return self.ticks_to_price(self.price_to_ticks(price))

    def round_qty_down(self, qty: float) -> float:
        if self.lot_size <= 0.0:
            return qty
        lots = math.floor(qty / self.lot_size + 1e-9)
        return round(lots * self.lot_size, _decimals(self.lot_size))

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return _decimals(self.lot_size)


def _decimals(step: float) -> int:
    text = f"{step:.12f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _on_grid(value: float, step: float) -> bool:
    if step <= 0.0:  # no grid: a continuous instrument (backtests of raw CSV data)
        return True
    n = value / step
    return abs(n - round(n)) <= 1e-6


def default_instruments() -> list[Instrument]:
    """The sim venue's instruments: two crypto pairs and one A-share, with real-world precision."""
    return [
        Instrument("BTC/USDT", "sim", "BTC", "USDT", tick_size=0.1, lot_size=0.0001, min_qty=0.0001,
                   max_qty=100.0, min_notional=5.0, maker_fee=0.0002, taker_fee=0.0005),
        Instrument("ETH/USDT", "sim", "ETH", "USDT", tick_size=0.01, lot_size=0.001, min_qty=0.001,
                   max_qty=2000.0, min_notional=5.0, maker_fee=0.0002, taker_fee=0.0005),
        Instrument("600519.SH", "sim", "600519", "CNY", tick_size=0.01, lot_size=100.0, min_qty=100.0,
                   max_qty=1_000_000.0, min_notional=0.0, maker_fee=0.00025, taker_fee=0.00025,
                   asset_class="equity"),
    ]
