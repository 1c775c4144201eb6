"""A recorded market played by the fake Binance: real prints, re-based to now and sped up, with a book made
around them, for paper trading on a market whose every print is known.

The prints are recorded (tests/data/XRP-ETH-trades.csv.gz: time, id, side, price, amount); the book is not: the
recording has none. So the book here is **synthesized**: after each print, ``levels`` levels a side one tick
apart, the best bid one tick below the print and the best ask one tick above it, each holding ``level_qty``
(``SynthBook``). It is restated every ``book_every_s`` of wall time, as a live depth stream never goes quiet
(a silent book is a stale feed to the paper venue and to the risk engine).

Time: recorded time ``t`` (ms) is sent as exchange time ``wall0 + (t - rec0) // speed``, where ``rec0`` is the
first played minute and ``wall0`` a whole wall second: with ``speed=60`` each recorded minute is one wall
second, so the terminal's 1 s bars are the recording's 1 min candles. A print is sent at its time, never
before; late (behind a ``hold``, or a busy loop) it still carries its own time. ``sent`` logs every print sent.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from tests.kit.data import TRADES_FILE, recorded
from tests.venues.fake_binance import FakeBinance

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Prints:
    """Recorded prints, time-ordered: ``ts`` (ms), ``id``, ``price``, ``qty``, ``buy`` (the aggressor bought)."""

    ts: np.ndarray
    id: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    buy: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def between(self, start_ms: int, end_ms: int) -> "Prints":
        a, b = np.searchsorted(self.ts, [start_ms, end_ms])
        return Prints(self.ts[a:b], self.id[a:b], self.price[a:b], self.qty[a:b], self.buy[a:b])


def recorded_prints(name: str = TRADES_FILE) -> Prints:
    """The recorded public trades of ``name`` (tests/data), read as the file has them."""
    import pandas as pd

    df = pd.read_csv(recorded(name))
    return Prints(df["timestamp"].to_numpy(np.int64), df["id"].to_numpy(np.int64), df["price"].to_numpy(float),
                  df["amount"].to_numpy(float), (df["side"] == "buy").to_numpy())


@dataclass(frozen=True)
class SynthBook:
    """The book made around a print (see the module docstring): not recorded, synthesized."""

    tick: float
    levels: int = 10
    level_qty: float = 500.0

    def around(self, price: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids = [(price - k * self.tick, self.level_qty) for k in range(1, self.levels + 1)]
        asks = [(price + k * self.tick, self.level_qty) for k in range(1, self.levels + 1)]
        return bids, asks

    def walk(self, price: float, qty: float, buy: bool) -> float:
        """The average price a market order of ``qty`` gets from the book around ``price``: the best level
        first, each up to ``level_qty`` (what a paper fill takes, docs/VENUES.md)."""
        left, cost, k = qty, 0.0, 0
        while left > 1e-12 and k < self.levels:
            k += 1
            take = min(left, self.level_qty)
            cost += take * (price + k * self.tick if buy else price - k * self.tick)
            left -= take
        return cost / (qty - left)


@dataclass
class Replay:
    """Play ``prints`` on ``fake``'s ``symbol`` from ``wall0`` (ms, a whole second) at ``speed``."""

    fake: FakeBinance
    symbol: str
    prints: Prints
    book: SynthBook
    speed: int
    wall0: int
    book_every_s: float = 0.1
    sent: list[tuple[int, int, int]] = field(default_factory=list)  # (index, exchange time, wall ms sent)
    _holds: dict[int, asyncio.Event] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _shown: float = 0.0

    @property
    def rec0(self) -> int:
        return int(self.prints.ts[0]) - int(self.prints.ts[0]) % MINUTE_MS

    def wall(self, rec_ms: int | np.ndarray) -> int | np.ndarray:
        """The exchange time (wall ms) recorded time ``rec_ms`` is sent with."""
        return self.wall0 + (rec_ms - self.rec0) // self.speed

    @property
    def times(self) -> np.ndarray:
        """Every print's exchange time (wall ms)."""
        return self.wall(self.prints.ts)

    def hold(self, index: int) -> asyncio.Event:
        """The replay waits before print ``index`` until the returned event is set."""
        return self._holds.setdefault(index, asyncio.Event())

    async def show_first_book(self) -> None:
        """The book around the first print, before the replay starts (what a client connecting sees)."""
        self._shown = float(self.prints.price[0])
        await self.fake.show_book(self.symbol, *self.book.around(self._shown))

    async def run(self) -> None:
        beat = asyncio.get_running_loop().create_task(self._restate())
        try:
            p = self.prints
            for i in range(len(p)):
                if i in self._holds:
                    await self._holds[i].wait()
                due = int(self.wall(int(p.ts[i])))
                delay = due / 1000.0 - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                async with self._lock:
                    price = float(p.price[i])
                    await self.fake.print_recorded(self.symbol, price, float(p.qty[i]),
                                                   "buy" if p.buy[i] else "sell", due, int(p.id[i]))
                    self._shown = price
                    await self.fake.show_book(self.symbol, *self.book.around(price))
                    self.sent.append((i, due, int(time.time() * 1000)))
        finally:
            beat.cancel()
            try:
                await beat
            except asyncio.CancelledError:
                pass

    async def _restate(self) -> None:
        while True:
            await asyncio.sleep(self.book_every_s)
            async with self._lock:
                await self.fake.show_book(self.symbol, *self.book.around(self._shown))
