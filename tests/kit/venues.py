"""The venue tests' kit: the fake Binance, a real kernel + venue manager around it, no sockets beyond
127.0.0.1, and waiting on what the exchange served.

Shared by ``tests/venues`` (through its conftest), ``tests/adversarial/test_exchange_faults.py`` and the
Venues journey.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path

import pytest

from tests.kit.wait import until
from tests.venues.fake_binance import FakeBinance

KEY, SECRET = "fake-key-0123456789", "fake-secret-PLANTED-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Every socket a venue test opens must go to 127.0.0.1: a test that reaches out fails loudly."""
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise AssertionError(f"a test tried to reach {address!r}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    real_ex = socket.socket.connect_ex

    def guarded_ex(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a test tried to reach {address!r}")
        return real_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)


def run(coro, timeout: float = 30.0):
    """Run ``coro`` on a fresh event loop with a hard timeout (a hung test fails instead of blocking)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def served_more(fake: FakeBinance, route: str, n: int, timeout: float = 5.0) -> None:
    """Wait until the fake exchange has answered ``n`` more requests on ``route`` ("GET /api/v3/depth"): the
    terminal has polled that often since the call, so whatever those polls would do has been done."""
    target = fake.served[route] + n
    await until(lambda: fake.served[route] >= target, timeout, f"{n} more answers to {route}")


async def order_polls(venue, n: int, timeout: float = 5.0) -> None:
    """Wait until the ccxt venue has finished ``n`` more order polls (``stats["order_polls"]``), with or
    without a working order to ask the exchange about."""
    target = venue.stats["order_polls"] + n
    await until(lambda: venue.stats["order_polls"] >= target, timeout, f"{n} more order polls")


class Session:
    """A kernel + venue manager + fake exchange, started inside a running loop."""

    def __init__(self, profile: Path, fake: FakeBinance, approval: str = "auto", settings=None, **cfg) -> None:
        """``settings``: the kernel's ``Settings`` (default: the defaults); ``cfg``: over the venue config."""
        self.profile, self.fake, self.approval, self.cfg = profile, fake, approval, cfg
        self.settings = settings
        self.kernel = self.manager = self.venue = None
        self.seen: list = []

    async def start(self, credentials=True, wait_ready: bool = True):
        from app.config import Settings
        from app.engine.kernel import Kernel
        from app.engine.venues.credentials import Credentials
        from app.engine.venues.manager import kernel_instruments
        from app.engine.venues.venue_config import parse_config

        base = self.fake.venue_config()
        over = dict(self.cfg)
        ccxt_over = over.pop("ccxt", {})
        base["ccxt"].update(ccxt_over)
        base.update({"order_poll_s": 0.05, "reconnect_base_s": 0.05, "reconnect_cap_s": 0.5,
                     "unknown_grace_s": 1.0, "poll_interval_s": 0.05})
        base.update(over)
        creds = Credentials(KEY, SECRET) if credentials is True else (credentials or None)
        cfg = parse_config(base)
        self.kernel = Kernel(self.profile, self.settings or Settings(), instruments=kernel_instruments(self.profile, [cfg]))
        self.kernel.bus.subscribe(object, self.seen.append)
        self.kernel.start()
        self.manager = self.kernel.venues  # the kernel's one place that wires venues
        self.manager.approval = self.approval
        self.venue = self.manager.add_ccxt(cfg, creds)
        self.manager.start()
        self._runner = asyncio.get_running_loop().create_task(self.kernel.run())
        if wait_ready:
            await until(lambda: self.venue.connected, 10, "the venue to be ready")
        return self

    async def tradable(self, symbol: str = "BTC/USDT") -> None:
        """Wait until a book of ``symbol`` arrived and the risk engine has the venue ACTIVE (it starts REDUCING:
        disconnected, then data stale until the first book)."""
        from app.engine.core.messages import TradingState

        symbol = self.id(symbol)
        await until(lambda: self.kernel.market.get(symbol).book is not None, 5, f"a book of {symbol}")
        await until(lambda: self.kernel.risk.venue_states.get(self.venue.name, (TradingState.ACTIVE,))[0]
                    is TradingState.ACTIVE, 5, "the venue ACTIVE in the risk engine")

    def id(self, symbol: str) -> str:
        """The id of ``symbol`` on this session's venue ("BTC/USDT" -> "BTC/USDT@binance"); an id as given."""
        from app.engine.core.instruments import make_id, split_id

        return symbol if split_id(symbol)[1] else make_id(symbol, self.venue.name)

    async def close(self):
        self.kernel.stop()
        await self._runner
        await self.manager.close()
        self.kernel.close()

    def of(self, cls):
        return [m for m in self.seen if isinstance(m, cls)]

    def order(self, cid):
        return self.kernel.execution.orders[cid]

    def send(self, side, otype, qty, price=None, symbol: str = "BTC/USDT@binance", **kw) -> str:
        """Publish a manual SubmitOrder for ``symbol`` on its venue; its client order id."""
        from app.engine.core.messages import SubmitOrder

        cid = self.kernel.port.new_order_id()
        self.kernel.bus.publish(SubmitOrder(cid, symbol, symbol.split("@")[1], side, otype, qty, price, "manual",
                                            **kw))
        return cid


@contextlib.asynccontextmanager
async def running(profile: Path, fake_kw: dict | None = None, **cfg):
    """A started ``Session`` (kernel + venue) on a fresh fake Binance (``session.fake``; ``fake_kw`` to
    ``FakeBinance``), both stopped after."""
    fake = await make_fake(**(fake_kw or {})).start()
    try:
        s = await Session(profile, fake, **cfg).start()
        try:
            yield s
        finally:
            await s.close()
    finally:
        await fake.stop()


def make_fake(**kw) -> FakeBinance:
    return FakeBinance(api_key=KEY, secret=SECRET, **kw)


async def ccxt_exchange(fake: FakeBinance, **ccxt):
    """A ccxt binance object pointed at ``fake``, built as the venue builds it (``make_exchange``: rate-limited,
    REST replies recorded), without keys; ``ccxt`` overrides its options (``rateLimit``...). Close it."""
    from app.engine.venues.ccxt.rest import make_exchange
    from app.engine.venues.venue_config import parse_config

    cfg = fake.venue_config(stream="poll")
    cfg["ccxt"].update(ccxt)
    return await asyncio.to_thread(make_exchange, parse_config(cfg), None)


class FakeInThread:
    """The fake exchange on its own loop in a thread, so a child process can talk to it."""

    def __init__(self, **kw) -> None:
        self.loop = asyncio.new_event_loop()
        self.fake = FakeBinance(api_key=KEY, secret=SECRET, **kw)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)

    def call(self, fn, *a):
        return self.loop.call_soon_threadsafe(fn, *a)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
