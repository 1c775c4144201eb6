"""A ccxt venue's websocket market data in a child process (``CcxtVenueConfig.feed_process``, on by default).

WHY           ccxt.pro's message handling (aiohttp reads, JSON, order-book deltas, trade parsing) is Python
              work per message. On the window's loop it was 65 % of the loop's time at a few thousand
              messages a second and the loop lagged 55-110 ms (docs/BENCHMARKS.md, "Window loop lag with
              three venues"). A thread would still hold the GIL the loop needs; a child process does not.
WHAT MOVES    only the public streams: the child runs the same ``CcxtFeed`` (``watch_trades``,
              ``watch_order_book``, gaps, backoff, the stale-stream watchdog) on its own loop, with its own
              keyless exchange object made from the venue's config and the markets the venue loaded (no
              second ``load_markets``). Orders, reconciliation, polling and every credential stay in the
              terminal's process: the child never sees a key.
HANDED OVER   in batches through a pipe, at most one every ``FLUSH_S`` (20 ms, faster than a 30 Hz frame) and
              at once when the feed is quiet: every trade and status, and the **latest** book of each symbol
              (a book that a newer one replaced within the batch is dropped; Binance's own depth stream is
              100 ms, so on a real venue none is). A reader thread unpickles each batch; the loop publishes
              it in one callback.
FAULTS        the child dies (kill -9, a crash): every stream says "reconnecting" with the exit code, the
              venue reports a ``VenueError``, and a new child starts after a backoff (the venue, its orders
              and its state stay up). The terminal dies: the child reads the end of its command pipe and
              exits. A child that cannot start (ccxt missing in a frozen build...) is retried the same way.
POLLING       a venue that polls REST (no websockets, or ``stream: poll``) keeps its ``CcxtFeed`` on the loop:
              a request a second per symbol is no load.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from typing import Any

from app.engine.core.instruments import make_id, split_id
from app.engine.core.messages import BookSnapshot
from app.engine.venues.backoff import Backoff, RateGate
from app.engine.venues.ccxt.feed import CcxtFeed, FeedHost, streams_websockets
from app.engine.venues.events import FeedStatus

log = logging.getLogger("kestrel.venues.feed")

FLUSH_S = 0.02  # the child hands over a batch at most this often
STOP_TIMEOUT_S = 3.0


class ProcessFeed:
    """``CcxtFeed``'s face (``start``, ``add``, ``stop``, ``restart_streams``, ``mode``, ``states`` and the
    counters) for a venue whose websocket streams run in a child process (see the module docstring)."""

    def __init__(self, venue: FeedHost) -> None:
        self.v = venue
        self.cfg = venue.config
        self.states: dict[tuple[str, str], str] = {}
        self.gaps = self.reconnects = self.duplicates = 0
        self.restarts = 0  # children started after one ended
        self.mode = "ws"
        self.pid: int | None = None  # the running child's
        self.batches = 0
        self._symbols: list[str] = []
        self._inner: CcxtFeed | None = None  # polling: on the loop
        self._supervisor: asyncio.Task | None = None
        self._proc: Any = None
        self._commands: Any = None  # the parent's end of the command pipe
        self._stopping = False

    # ------------------------------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        if self._inner is not None:
            return self._inner.running
        return self._supervisor is not None and not self._supervisor.done()

    def start(self, symbols: list[str]) -> None:
        if not streams_websockets(self.v.exchange, self.cfg):
            self._inner = CcxtFeed(self.v)
            self._inner.start(symbols)
            self.mode = self._inner.mode
            return
        self.mode = "ws"
        self._stopping = False
        self._symbols = list(dict.fromkeys(symbols))
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def add(self, symbol: str) -> None:
        """Stream ``symbol`` too (a market subscribed while the feed runs)."""
        if self._inner is not None:
            self._inner.add(symbol)
            return
        if symbol in self._symbols:
            return
        self._symbols.append(symbol)
        self._command(("add", symbol, self._market(symbol)))

    def restart_streams(self, reason: str) -> None:
        if self._inner is not None:
            self._inner.restart_streams(reason)
        else:
            self._command(("restart", reason))

    async def stop(self) -> None:
        if self._inner is not None:
            await self._inner.stop()
            return
        self._stopping = True
        self._command(("stop",))
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
            self._supervisor = None

    # ------------------------------------------------------------------------------------- the child
    async def _supervise(self) -> None:
        backoff = Backoff(self.cfg.reconnect_base_s, self.cfg.reconnect_cap_s)
        while not self._stopping:
            began = time.monotonic()
            try:
                code = await self._run_child()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a child that cannot start is retried like one that died
                log.exception("%s: the market-data process did not start", self.v.name)
                first = (str(exc).strip().splitlines() or [""])[0]
                code = f"none: it did not start ({type(exc).__name__}{': ' + first if first else ''})"
            if self._stopping:
                return
            if time.monotonic() - began > 60:
                backoff.reset()  # it ran a while: this is a new failure, not a crash loop
            delay = backoff.next_delay()
            self.restarts += 1
            why = f"market-data process ended (exit code {code}); restarting it in {delay:.1f} s"
            for (symbol, channel) in list(self.states):
                self._status(symbol, channel, "reconnecting", why)
            self.v.emit_error("network", "feed", f"{self.v.name}: {why}", delay)
            await asyncio.sleep(delay)

    async def _run_child(self) -> object:
        """Start a child, hand its batches to the loop until it ends; its exit code."""
        ctx = multiprocessing.get_context("spawn")
        data_r, data_w = ctx.Pipe(duplex=False)
        cmd_r, cmd_w = ctx.Pipe(duplex=False)
        payload = {"config": self.cfg.model_dump_json(), "symbols": list(self._symbols),
                   "markets": [self._market(s) for s in self._symbols], "flush_s": FLUSH_S,
                   "log_level": logging.getLogger("kestrel").getEffectiveLevel()}
        proc = ctx.Process(target=child_main, args=(data_w, cmd_r, payload), name=f"kestrel-feed-{self.v.name}",
                           daemon=True)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, proc.start)  # spawning pickles the payload: off the loop
        finally:
            data_w.close()
            cmd_r.close()
        self._proc, self._commands, self.pid = proc, cmd_w, proc.pid
        ended = loop.create_future()
        reader = threading.Thread(target=self._read, args=(data_r, loop, ended), daemon=True,
                                  name=f"kestrel-feed-reader-{self.v.name}")
        reader.start()
        try:
            await asyncio.shield(ended)
        except asyncio.CancelledError:
            await self._end_child(proc, cmd_w)
            raise
        finally:
            self._commands = None
            cmd_w.close()
        await loop.run_in_executor(None, proc.join, STOP_TIMEOUT_S)
        if proc.exitcode is None:
            await self._end_child(proc, None)
        reader.join(1.0)
        data_r.close()
        self.pid = None
        return proc.exitcode

    async def _end_child(self, proc: Any, commands: Any) -> None:
        """Ask the child to stop; kill it if it does not within ``STOP_TIMEOUT_S``."""
        if commands is not None:
            try:
                commands.send(("stop",))
            except (OSError, ValueError):
                pass
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, proc.join, STOP_TIMEOUT_S)
        if proc.exitcode is None:
            log.warning("%s: the market-data process did not stop; killing it", self.v.name)
            proc.kill()
            await loop.run_in_executor(None, proc.join, STOP_TIMEOUT_S)
        self.pid = None

    def _read(self, conn: Any, loop: asyncio.AbstractEventLoop, ended: asyncio.Future) -> None:
        """The reader thread: unpickle each batch, hand it to the loop; at the pipe's end, say so."""
        try:
            while True:
                batch = pickle.loads(conn.recv_bytes())
                loop.call_soon_threadsafe(self._deliver, batch)
        except (EOFError, OSError):
            pass
        except Exception:  # noqa: BLE001 - an unreadable batch ends this child; the supervisor starts another
            log.exception("%s: unreadable batch from the market-data process", self.v.name)
        try:
            loop.call_soon_threadsafe(_done, ended)
        except RuntimeError:  # the loop is closed: the terminal is exiting
            pass

    def _deliver(self, batch: list) -> None:
        self.batches += 1
        on_data = self.v.on_data
        for msg in batch:
            if type(msg) is tuple:
                self._control(msg)
                continue
            if type(msg) is FeedStatus:
                self.states[(split_id(msg.symbol)[0], msg.channel)] = msg.state
            try:
                on_data(msg)
            except Exception:  # noqa: BLE001 - a subscriber's bug must not stop the feed
                log.exception("%s: a subscriber failed on %s", self.v.name, type(msg).__name__)

    def _control(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "stats":
            self.gaps, self.reconnects, self.duplicates = msg[1], msg[2], msg[3]
        elif kind == "error":
            self.v.emit_error(msg[1], msg[2], msg[3])
        elif kind == "log":
            logging.getLogger(msg[1]).log(msg[2], "[market-data process] %s", msg[3])

    # ---------------------------------------------------------------------------------------- helpers
    def _command(self, cmd: tuple) -> None:
        if self._commands is None:
            return  # no child now: the next one starts with every symbol
        try:
            self._commands.send(cmd)
        except (OSError, ValueError):
            log.debug("%s: the market-data process is gone; %s waits for the next one", self.v.name, cmd[0])

    def _market(self, symbol: str) -> dict:
        return dict((getattr(self.v.exchange, "markets", None) or {}).get(symbol) or {})

    def _status(self, symbol: str, channel: str, state: str, message: str) -> None:
        self.states[(symbol, channel)] = state
        self.v.on_data(FeedStatus(self.v.name, make_id(symbol, self.v.name), channel, state, message,
                                  self.v.now_ms()))


def _done(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


# ============================================================================================ the child side
class _Outbox:
    """What the child hands over: every trade, status and error in order, the latest book of each symbol;
    one batch at most every ``flush_s``, at once when quiet."""

    def __init__(self, conn: Any, loop: asyncio.AbstractEventLoop, flush_s: float) -> None:
        self.conn, self.loop, self.flush_s = conn, loop, flush_s
        self.items: list = []
        self.books: dict[str, BookSnapshot] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.last = 0.0
        self.feed: CcxtFeed | None = None
        self._stats = (0, 0, 0)

    def put(self, msg: Any) -> None:
        if type(msg) is BookSnapshot:
            self.books[msg.symbol] = msg
        else:
            self.items.append(msg)
        if self.handle is None:
            self.handle = self.loop.call_later(max(0.0, self.last + self.flush_s - self.loop.time()), self.flush)

    def flush(self) -> None:
        self.handle = None
        self.last = self.loop.time()
        batch = self.items
        if self.books:
            batch += self.books.values()
        self.items, self.books = [], {}
        f = self.feed
        if f is not None and (f.gaps, f.reconnects, f.duplicates) != self._stats:
            self._stats = (f.gaps, f.reconnects, f.duplicates)
            batch.append(("stats", *self._stats))
        if batch:
            try:
                self.conn.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
            except (OSError, ValueError):
                os._exit(0)  # the terminal is gone


class _Host:
    """What ``CcxtFeed`` needs of its venue, in the child: a keyless exchange, and the outbox."""

    def __init__(self, config: Any, exchange: Any, out: _Outbox) -> None:
        self.name, self.config, self.exchange, self.out = config.name, config, exchange, out
        self.gate = RateGate()

    def on_data(self, msg: Any) -> None:
        self.out.put(msg)

    def emit_error(self, kind: str, where: str, message: str) -> None:
        self.out.put(("error", kind, where, message))

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def secrets(self) -> tuple[str, ...]:
        return ()  # the child never has any

    async def rest(self, fn: Any, *args: Any) -> Any:
        await self.gate.wait()
        return await fn(*args)


class _Forward(logging.Handler):
    def __init__(self, out: _Outbox, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.out, self.loop = out, loop

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = ("log", record.name, record.levelno, record.getMessage())
            if threading.current_thread() is threading.main_thread():
                self.out.put(msg)
            else:
                self.loop.call_soon_threadsafe(self.out.put, msg)
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


def child_main(data: Any, commands: Any, payload: dict) -> None:
    """The child process: the feed on its own loop until told to stop or the terminal is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the terminal's to handle
    asyncio.run(_child(data, commands, payload))


async def _child(data: Any, commands: Any, payload: dict) -> None:
    from app.engine.venues.ccxt.rest import make_exchange
    from app.engine.venues.venue_config import CcxtVenueConfig

    loop = asyncio.get_running_loop()
    cfg = CcxtVenueConfig.model_validate_json(payload["config"])
    out = _Outbox(data, loop, payload["flush_s"])
    root = logging.getLogger("kestrel")
    root.setLevel(max(logging.INFO, payload.get("log_level", logging.INFO)))
    root.addHandler(_Forward(out, loop))
    root.propagate = False
    ex = make_exchange(cfg, None)
    markets = [m for m in payload["markets"] if m]
    ex.set_markets(markets)
    host = _Host(cfg, ex, out)
    feed = out.feed = CcxtFeed(host)
    stop = asyncio.Event()

    def command(cmd: tuple) -> None:
        if cmd[0] == "add":
            if cmd[2] and cmd[1] not in ex.markets:
                ex.set_markets([*ex.markets.values(), cmd[2]])
            feed.add(cmd[1])
        elif cmd[0] == "restart":
            feed.restart_streams(cmd[1])
        elif cmd[0] == "stop":
            stop.set()

    def read_commands() -> None:
        try:
            while True:
                loop.call_soon_threadsafe(command, commands.recv())
        except (EOFError, OSError):
            os._exit(0)  # the terminal is gone (its end of the pipe closed): nothing to hand data to

    threading.Thread(target=read_commands, daemon=True, name="kestrel-feed-commands").start()
    feed.start(payload["symbols"])
    await stop.wait()
    await feed.stop()
    try:
        await ex.close()
    except Exception:  # noqa: BLE001 - exiting
        pass
    out.flush()
