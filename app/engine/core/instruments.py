"""Instruments: what can be traded, with the venue's precision and limits."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from app.engine.core import ashare_rules


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
    # market rules beyond precision and limits: "ashare" = China A-share rules (core/ashare_rules.py:
    # sessions, T+1, lots by board, price limits, fees and stamp duty), applied by the pre-trade check and
    # by every venue that trades the instrument
    rules: str = ""
    # the market whose data and history this is ("" = the venue's own): a paper venue "binance-paper" trades
    # Binance's market, so its history is the bar store's binance series
    market: str = ""

    @property
    def id(self) -> str:
        """The instrument id: the venue's symbol and the venue, ``BTC/USDT@binance`` (``make_id``)."""
        return make_id(self.symbol, self.venue)

    @property
    def data_venue(self) -> str:
        """Where its market data and history come from: ``market``, else the venue."""
        return self.market or self.venue

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


class AmbiguousSymbol(KeyError):
    """A bare symbol that more than one venue lists: the message names the ids to choose from."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def make_id(symbol: str, venue: str) -> str:
    """``BTC/USDT`` on ``binance`` -> ``BTC/USDT@binance``. Venue names hold no ``@`` (venue_config)."""
    return f"{symbol}@{venue}"


def split_id(text: str) -> tuple[str, str | None]:
    """``BTC/USDT@binance`` -> ("BTC/USDT", "binance"); a bare symbol -> (symbol, None). Split on the last
    ``@``: a venue's symbol may hold ``/``, ``:`` or ``-``, a venue name never ``@``."""
    symbol, at, venue = text.rpartition("@")
    return (symbol, venue) if at and symbol and venue else (text, None)


class InstrumentTable(dict):
    """Instruments by id. ``resolve`` (and ``get``, ``[]``, ``in``) also take a bare symbol that exactly one
    venue lists, so "BTC/USDT" still finds the only BTC/USDT; one that several list is ``AmbiguousSymbol``."""

    def __init__(self, instruments: list[Instrument] | None = None) -> None:
        super().__init__()
        for inst in instruments or ():
            self.add(inst)

    def add(self, inst: Instrument) -> None:
        self[inst.id] = inst

    def resolve(self, text: str) -> Instrument:
        """The instrument ``text`` names: an id, or a bare symbol listed by one venue. KeyError (with the
        choices, for an ambiguous symbol) otherwise."""
        inst = dict.get(self, text)
        if inst is not None:
            return inst
        symbol, venue = split_id(text)
        if venue is None:
            found = [i for i in self.values() if i.symbol == symbol]
            if len(found) == 1:
                return found[0]
            if found:
                ids = ", ".join(sorted(i.id for i in found))
                raise AmbiguousSymbol(f"{symbol} is listed by {len(found)} venues: write one of {ids}")
        raise KeyError(text)

    def canonical(self, text: str) -> str:
        """The id ``text`` names (a bare symbol one venue lists becomes its id); ``text`` itself otherwise
        (an id, an unknown or an ambiguous symbol): the key every id-keyed table uses."""
        if dict.__contains__(self, text):
            return text
        try:
            return self.resolve(text).id
        except KeyError:
            return text

    def get(self, text: str, default: Instrument | None = None) -> Instrument | None:  # type: ignore[override]
        try:
            return self.resolve(text)
        except AmbiguousSymbol:
            raise
        except KeyError:
            return default

    def __getitem__(self, text: str) -> Instrument:
        inst = dict.get(self, text)
        return inst if inst is not None else self.resolve(text)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        try:
            self.resolve(text)
        except KeyError:
            return False
        return True


_MISSING = object()


class IdKeyed(dict):
    """A read model's table keyed by instrument id (market states, bar series, positions) that also finds an
    entry by a bare symbol one venue lists (``canon``: ``InstrumentTable.canonical``), as the table does.
    Writes use the key given: the bus carries ids."""

    __slots__ = ("canon",)

    def __init__(self, canon: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.canon = canon

    def key_of(self, key: object) -> object:
        """The key ``key`` stands for: itself if it is an id (the bus's keys: no lookup), present, or not a bare
        unique symbol; else the id."""
        if self.canon is None or not isinstance(key, str) or "@" in key or dict.__contains__(self, key):
            return key
        return self.canon(key)

    def get(self, key: object, default: object = None) -> object:  # type: ignore[override]
        value = dict.get(self, key, _MISSING)
        if value is not _MISSING:
            return value
        if type(key) is not str or "@" in key:  # an id (what the bus carries) not here: nothing to resolve
            return default
        return dict.get(self, self.key_of(key), default)

    def __getitem__(self, key: object) -> object:
        return dict.__getitem__(self, self.key_of(key))

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self.key_of(key))


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
        ashare_instrument("600519.SH", "sim"),
    ]


def ashare_instrument(symbol: str, venue: str) -> Instrument:
    """A China A-share ("600519.SH") on ``venue``: 0.01 tick, lots by board (STAR and Beijing: any share above
    the minimum), the commission rate as its fee (the minimum, transfer fee and stamp duty come from
    ``ashare_rules.fill_fees``) and the A-share rules."""
    code = ashare_rules.code_of(symbol)
    minimum, step = ashare_rules.lot_rule(code)
    rate = ashare_rules.COMMISSION_RATE
    return Instrument(symbol, venue, code, "CNY", tick_size=0.01, lot_size=step, min_qty=minimum,
                      max_qty=1_000_000.0, maker_fee=rate, taker_fee=rate, asset_class="equity",
                      odd_lot_sell_whole=True, rules=ashare_rules.RULES)
