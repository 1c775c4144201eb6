"""The market catalog: every connected venue's listable markets, and the symbol search over them.

A venue lists far more markets than the terminal streams (Binance thousands, A-shares ~5,500). The catalog
is what the Find symbol dialog searches; a market found there is subscribed with ``SubscribeMarket``
(``venues/subscriptions.py``), which puts it in the instrument table and streams it.

SOURCES   an adapter's ``markets()`` when it has one (ccxt: the exchange's loaded markets; akshare: the
          A-share code and name list), else its ``instruments()`` (the sim, replays). Only the running venues
          (the manager's) are searched: a disconnected venue's markets are not offered.
INDEX     rebuilt only when a venue's list changed (its ``markets_version``, or the count of its instruments),
          so a search never converts a venue's markets again. A-share names (akshare's list) name the same
          codes on other venues too (the sim's 600519.SH).
SEARCH    case-insensitive over symbol, base, quote and name (Chinese names too); "btcusdt" finds BTC/USDT;
          "BTC/USDT@binance" searches binance only. Ranked: the symbol itself, then the base or the name
          itself, then a prefix, then a substring anywhere; within a rank active markets first, spot and
          equities before swaps, futures and options, shorter symbols first. At most ``limit`` results.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from app.engine.core.instruments import Instrument, InstrumentTable, make_id, split_id

TYPES = ("spot", "equity", "swap", "future", "option")  # the types a market can have, in ranking order
_TYPE_RANK = {"spot": 0, "equity": 0, "swap": 1, "future": 2, "option": 3}
_SEPARATORS = str.maketrans("", "", "/:-_. ")
LIMIT = 200


@dataclass(frozen=True, slots=True)
class Market:
    """One market a venue lists (subscribed or not). ``symbol`` is the venue's own (what it is sent)."""

    venue: str
    symbol: str
    base: str
    quote: str
    type: str = "spot"  # one of TYPES (anything else ranks last)
    name: str = ""  # e.g. 贵州茅台 for 600519.SH; "" where the venue gives none
    active: bool = True  # False: the venue lists it but does not trade it now

    @property
    def id(self) -> str:
        """The instrument id it gets when subscribed: ``BTC/USDT@binance``."""
        return make_id(self.symbol, self.venue)


def instrument_market(inst: Instrument, name: str = "") -> Market:
    return Market(inst.venue, inst.symbol, inst.base, inst.quote,
                  "equity" if inst.asset_class == "equity" else "spot", name)


def compact(text: str) -> str:
    """"BTC/USDT:USDT" -> "btcusdtusdt": what a person types without the separators."""
    return text.lower().translate(_SEPARATORS)


class _Entry:
    __slots__ = ("market", "sym", "csym", "base", "name", "hay", "order")

    def __init__(self, m: Market) -> None:
        self.market = m
        self.sym, self.csym, self.base = m.symbol.lower(), compact(m.symbol), m.base.lower()
        self.name = m.name.lower()
        self.hay = "\x00".join((self.sym, self.base, m.quote.lower(), self.name))
        self.order = (not m.active, _TYPE_RANK.get(m.type, 4), len(m.symbol), m.symbol, m.venue)

    def rank(self, q: str, qc: str) -> int | None:
        """0 the symbol itself, 1 the base or name itself, 2 a prefix, 3 a substring; None: no match."""
        if self.sym == q or (qc and self.csym == qc):
            return 0
        if self.base == q or (self.name and self.name == q):
            return 1
        if self.sym.startswith(q) or (qc and self.csym.startswith(qc)) or self.base.startswith(q) \
                or (self.name and self.name.startswith(q)):
            return 2
        if q in self.hay or (qc and qc in self.csym):
            return 3
        return None


class MarketCatalog:
    """The listable markets of the running venues (``venues``: name -> adapter, live), searchable.
    ``instruments`` (the kernel's table) tells which are subscribed."""

    def __init__(self, venues: Mapping[str, Any], instruments: InstrumentTable) -> None:
        self._venues = venues
        self._instruments = instruments
        self._token: tuple = ()
        self._entries: list[_Entry] = []
        self._by_id: dict[str, Market] = {}

    # ------------------------------------------------------------------------------------------ reading
    def markets(self, venue: str | None = None) -> list[Market]:
        self._refresh()
        return [e.market for e in self._entries if venue is None or e.market.venue == venue]

    def get(self, market_id: str) -> Market | None:
        """The market an id names (``BTC/USDT@binance``), if a running venue lists it."""
        self._refresh()
        return self._by_id.get(market_id)

    def venues(self) -> list[str]:
        """The venues searched, by name."""
        return sorted(self._venues)

    def subscribed(self, market: Market) -> bool:
        """Is ``market`` in the instrument table (streamed, tradeable)?"""
        return dict.__contains__(self._instruments, market.id)  # the table is keyed by id: one lookup

    def search(self, text: str, venue: str | None = None, limit: int = LIMIT) -> list[Market]:
        """The markets matching ``text``, best first (see the module docstring), at most ``limit``."""
        q = " ".join(text.split()).lower()
        symbol, at_venue = split_id(q)
        if at_venue is not None:  # "btc/usdt@binance": that venue only
            q, venue = symbol, venue or at_venue
        if not q:
            return []
        qc = compact(q)
        self._refresh()
        hits = []
        for e in self._entries:
            if q not in e.hay and not (qc and qc in e.csym):
                continue
            if venue is not None and e.market.venue.lower() != venue.lower():
                continue
            r = e.rank(q, qc)
            if r is not None:
                hits.append((r, e.order, e.market))
        return [m for *_, m in heapq.nsmallest(limit, hits, key=lambda h: (h[0], h[1]))]

    # ------------------------------------------------------------------------------------------ index
    def _refresh(self) -> None:
        venues = list(self._venues.items())
        token = tuple((name, _version(adapter)) for name, adapter in venues)
        if token == self._token:
            return
        names: dict[str, str] = {}
        for _, adapter in venues:
            names.update(getattr(adapter, "ashare_names", None) or {})
        entries = []
        for name, adapter in venues:
            for m in _listed(adapter):
                if not m.name and m.type == "equity" and m.symbol in names:
                    m = Market(m.venue, m.symbol, m.base, m.quote, m.type, names[m.symbol], m.active)
                entries.append(_Entry(m))
        self._entries = entries
        self._by_id = {e.market.id: e.market for e in entries}
        self._token = token


def _listed(adapter: Any) -> Iterable[Market]:
    markets = getattr(adapter, "markets", None)
    if callable(markets):
        return markets()
    return [instrument_market(i) for i in adapter.instruments()]


def _version(adapter: Any) -> object:
    version = getattr(adapter, "markets_version", None)
    if version is not None:
        return version
    return len(adapter.instruments())
