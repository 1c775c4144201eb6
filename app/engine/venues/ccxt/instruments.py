"""A ccxt venue's markets as Kestrel ``Instrument``s: tick and lot sizes from the market's precision (ccxt's
``TICK_SIZE`` mode gives sizes, the others decimal places), quantity and notional limits, maker/taker fees;
and every market it lists as the catalog's ``Market`` (the Find symbol dialog's)."""
from __future__ import annotations

from typing import Any

from app.engine.core.instruments import Instrument
from app.engine.venues.catalog import Market


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


def market_entries(ex: Any, venue: str) -> list[Market]:
    """Every market ``ex`` lists (its markets loaded), subscribed or not, for the market catalog: the type
    ccxt gives (spot, swap, future, option; margin counts as spot), active unless ccxt says it is not, and the
    base currency's name where the exchange's currencies are loaded ("Bitcoin")."""
    currencies = getattr(ex, "currencies", None) or {}
    out = []
    for sym, m in (getattr(ex, "markets", None) or {}).items():
        kind = m.get("type") or next((k for k in ("spot", "swap", "future", "option") if m.get(k)), "spot")
        base = m.get("base") or ""
        name = (currencies.get(base) or {}).get("name") or ""
        out.append(Market(venue, sym, base, m.get("quote") or "", "spot" if kind == "margin" else kind,
                          name if isinstance(name, str) else "", m.get("active") is not False))
    return out
