"""A ccxt venue's markets as Kestrel ``Instrument``s: tick and lot sizes from the market's precision (ccxt's
``TICK_SIZE`` mode gives sizes, the others decimal places), quantity and notional limits, maker/taker fees."""
from __future__ import annotations

from typing import Any

from app.engine.core.instruments import Instrument


def market_instruments(ex: Any, venue: str, symbols: list[str]) -> dict[str, Instrument]:
    """The instruments of ``symbols`` that ``ex`` (its markets loaded) lists; the others are left out."""
    from ccxt.base.decimal_to_precision import TICK_SIZE

    def step(value: Any) -> float:
        if value is None:
            return 0.0
        return float(value) if ex.precisionMode == TICK_SIZE else 10.0 ** -float(value)

    out = {}
    for sym in symbols:
        m = ex.markets.get(sym)
        if m is None:
            continue
        limits = m.get("limits") or {}
        amount, cost = limits.get("amount") or {}, limits.get("cost") or {}
        lot = step((m.get("precision") or {}).get("amount"))
        out[sym] = Instrument(sym, venue, m.get("base", ""), m.get("quote", ""),
                              tick_size=step((m.get("precision") or {}).get("price")), lot_size=lot,
                              min_qty=float(amount.get("min") or lot),
                              max_qty=float(amount.get("max") or 1e12),
                              min_notional=float(cost.get("min") or 0.0),
                              maker_fee=float(m.get("maker") or 0.001),
                              taker_fee=float(m.get("taker") or 0.001))
    return out
