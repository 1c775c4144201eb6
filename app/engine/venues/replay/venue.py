"""Replay recorded market data through the sim venue's matching engine, at 1x up to maximum speed.

``ReplayVenue`` is a ``SimVenue`` (named "replay") without a synthetic market: its only "market model"
is a ``ReplayModel`` that walks a recording in time order, so recorded events and our orders (with the
venue's latency) are processed interleaved, exactly as the sim processes its own model:

- a recorded ``BookSnapshot`` re-levels the book's outside liquidity to the recorded levels, keeping queue
  places: a level that grew gets the difference as a new order at the back of its queue (behind ours); a
  level that shrank loses it from the back first (whoever joined last; the volume ahead of our order leaves
  only when the level shrinks below it, or by trades), never by re-adding the level behind us. Our own
  resting orders stay where they are; a recorded level that crosses one of them fills it;
- a recorded ``TradeTick`` becomes an immediate-or-cancel order of the recorded aggressor at the recorded
  price and size: it prints the trade and fills our resting orders that the print went through.

The ``Replayer`` moves a ``SimClock`` and the exchange forward in real time times ``speed`` (``None``: as fast
as the loop allows, yielding to it between chunks so a window stays responsive) and steps the kernel.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from typing import Any, Iterator

from app.engine.core.instruments import Instrument
from app.engine.core.messages import BookSnapshot, Side, TradeTick
from app.engine.venues.replay.recorder import Recording, read_events
from app.engine.venues.sim.venue import EXTERNAL, SimVenue

_FAR = 2 ** 62


class ReplayModel:
    """Duck-types the sim's ``MarketModel`` (``next_ts``/``process_next``/``skip_to``) over a recording."""

    def __init__(self, events: Iterator[TradeTick | BookSnapshot], books: dict[str, Any]) -> None:
        self._events = events
        self._books = books  # symbol -> OrderBook
        self._ids = itertools.count(10 ** 15)  # far above the exchange's own ids
        # symbol -> (side, price) -> the outside orders resting there, front of the queue first
        self._resting: dict[str, dict[tuple[Side, int], list[int]]] = {s: {} for s in books}
        self._next: TradeTick | BookSnapshot | None = None
        self.processed = 0
        self._advance()

    def _advance(self) -> None:
        self._next = next(self._events, None)
        while self._next is not None and self._next.symbol not in self._books:
            self._next = next(self._events, None)

    @property
    def done(self) -> bool:
        return self._next is None

    @property
    def next_ts(self) -> int:
        return _FAR if self._next is None else self._next.ts

    def skip_to(self, ts: int) -> None:
        while self._next is not None and self._next.ts < ts:
            self.process_next()

    def process_next(self) -> None:
        ev = self._next
        self._advance()
        if ev is None:
            return
        self.processed += 1
        book = self._books[ev.symbol]
        inst: Instrument = book.instrument
        if type(ev) is TradeTick:
            lots = round(ev.size / inst.lot_size) if inst.lot_size else 0
            if lots > 0:
                book.add_limit(next(self._ids), EXTERNAL, ev.aggressor, inst.price_to_ticks(ev.price), lots,
                               ioc=True, stp=False)
            return
        resting = self._resting[ev.symbol]
        want: dict[tuple[Side, int], int] = {}
        for side, levels in ((Side.BUY, ev.bids), (Side.SELL, ev.asks)):
            for price, size in levels:
                lots = round(size / inst.lot_size) if inst.lot_size else 0
                if lots > 0:
                    want[(side, inst.price_to_ticks(price))] = lots
        for key in list(resting.keys() - want.keys()):  # levels gone from the recording
            for oid in resting.pop(key):
                book.cancel(oid)
        for key, lots in want.items():
            oids = [oid for oid in resting.get(key, ()) if book.get(oid) is not None]  # trades took the rest
            have = sum(book.get(oid).qty for oid in oids)
            if lots > have:  # joined: at the back of the queue
                oid = next(self._ids)
                if book.add_limit(oid, EXTERNAL, key[0], key[1], lots - have, stp=False).rested:
                    oids.append(oid)
            elif lots < have:  # left: from the back first
                drop = have - lots
                for oid in reversed(oids[:]):
                    qty = book.get(oid).qty
                    book.reduce(oid, max(qty - drop, 0))
                    drop -= min(qty, drop)
                    if book.get(oid) is None:
                        oids.remove(oid)
                    if not drop:
                        break
            if oids:
                resting[key] = oids
            else:
                resting.pop(key, None)


class ReplayVenue(SimVenue):
    name = "replay"

    def __init__(self, recording: Recording, on_report, on_data, *, latency_ms: int = 5) -> None:
        insts = [dataclasses.replace(i, venue=self.name) for i in recording.instruments]  # ids "…@replay"
        super().__init__(insts, on_report, on_data, latency_ms=max(1, latency_ms),
                         start_ts_ms=recording.first_ts, market_model=False, max_gap_ms=None)
        self.recording = recording
        self.model = ReplayModel(read_events(recording), {s: self.book(s) for s in self._markets})
        self._models = [self.model]  # the exchange runs the recording like its own market model

    @property
    def done(self) -> bool:
        return self.model.done


class Replayer:
    """Drives a ReplayVenue and a kernel on a ``SimClock`` at ``speed`` x real time (None = max)."""

    def __init__(self, exchange: ReplayVenue, clock: Any, step: Any = None, speed: float | None = 1.0,
                 chunk_ms: int = 50) -> None:
        self.exchange, self.clock, self.step = exchange, clock, step
        self.speed = speed
        self.chunk_ms = chunk_ms
        self.data_ms = 0  # how much recorded time has been replayed

    async def run(self) -> float:
        """Replay to the end; returns the wall seconds it took."""
        rec = self.exchange.recording
        start_wall = time.monotonic()
        now = rec.first_ts
        while not self.exchange.done:
            if self.speed is None:
                now = min(self.exchange.model.next_ts + self.chunk_ms, rec.last_ts + 1)
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(self.chunk_ms / 1000.0)
                now = rec.first_ts + int((time.monotonic() - start_wall) * 1000 * self.speed)
            if now > self.clock.now_ms():
                self.clock.set_time(now)
            self.exchange.advance_to(self.clock.now_ms())
            if self.step is not None:
                self.step()
            self.data_ms = self.clock.now_ms() - rec.first_ts
        return time.monotonic() - start_wall


def parse_speed(text: str | float | None) -> float | None:
    if text is None:
        return 1.0
    if isinstance(text, (int, float)):
        value = float(text)
    elif str(text).strip().lower() in ("max", "maximum", "inf", "0"):
        return None
    else:
        value = float(str(text).rstrip("xX"))
    if value <= 0:
        raise ValueError("the replay speed must be positive (or 'max')")
    return value
