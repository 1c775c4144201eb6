"""A recorded market played by the fake Binance: real prints, re-based to now and sped up, with a book made
around them, for paper trading on a market whose every print is known.

The prints are recorded (tests/data/XRP-ETH-trades.csv.gz: time, id, side, price, amount); the book is not: the
recording has none. So the book here is **synthesized** from the prints (``SynthBook``): a buyer's print was at
the best ask then, a seller's at the best bid, so after each print its side's best is its price and the other
side's best stays where the last print of that side put it (moved one tick clear if the two would cross; one
tick either side of the first print before any). Each side has ``levels`` levels one tick apart from its best,
each holding ``level_qty``. So the spread is the recording's own bid-ask bounce (on XRP/ETH in 2019 often 0.2 %,
hundreds of ticks), not a made-up one; the sizes are made up. The book is restated every ``book_every_s`` of
wall time, as a live depth stream never goes quiet (a silent book is a stale feed to the paper venue and to the
risk engine).

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

    def between(self, start_ms: int, end_ms: int) -> Prints:
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
    """The book made from the prints (see the module docstring): not recorded, synthesized."""

    tick: float
    levels: int = 10
    level_qty: float = 500.0

    def bests(self, prints: Prints) -> tuple[np.ndarray, np.ndarray]:
        """The best bid and ask after each print."""
        bid, ask = float(prints.price[0]) - self.tick, float(prints.price[0]) + self.tick
        bids, asks = np.empty(len(prints)), np.empty(len(prints))
        for i, (price, buy) in enumerate(zip(prints.price.tolist(), prints.buy.tolist())):
            if buy:
                ask = price
                bid = min(bid, ask - self.tick)
            else:
                bid = price
                ask = max(ask, bid + self.tick)
            bids[i], asks[i] = bid, ask
        return bids, asks

    def book(self, bid: float, ask: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        return ([(bid - k * self.tick, self.level_qty) for k in range(self.levels)],
                [(ask + k * self.tick, self.level_qty) for k in range(self.levels)])

    def walk(self, qty: float) -> float:
        """How far beyond the best a market order of ``qty`` averages: the best level first, each up to
        ``level_qty`` (what a paper fill takes, docs/VENUES.md)."""
        left, beyond, k = qty, 0.0, 0
        while left > 1e-12 and k < self.levels:
            take = min(left, self.level_qty)
            beyond += take * k * self.tick
            left, k = left - take, k + 1
        return beyond / (qty - left)


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
    _shown: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        self.bids, self.asks = self.book.bests(self.prints)

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
        """The book one tick either side of the first print, before the replay starts (what a client
        connecting sees)."""
        p0 = float(self.prints.price[0])
        self._shown = (p0 - self.book.tick, p0 + self.book.tick)
        await self.fake.show_book(self.symbol, *self.book.book(*self._shown))

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
                    self._shown = (float(self.bids[i]), float(self.asks[i]))
                    await self.fake.show_book(self.symbol, *self.book.book(*self._shown))
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
                await self.fake.show_book(self.symbol, *self.book.book(*self._shown))
