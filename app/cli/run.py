"""``kestrel run --headless``: the engine with no Qt at all.

By default on the simulated exchange. ``--venue ID`` adds a real venue (a ccxt exchange, or ``akshare``):
its config comes from ``--venue-config FILE``, else ``<profile>/venues/ID.json``, else defaults for the ccxt
exchange id; its credentials from the keyring (``kestrel keys set ID``). ``--paper`` makes that ccxt venue a
paper venue, ``ID-paper``: the exchange's live market, no keys read or sent, paper orders filled here.
``--record`` writes the feeds to the profile's database; ``--replay DB`` plays a recording back through the
sim venue's matching engine.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from app.config import ConfigError, load_settings
from app.engine.core.logring import setup_logging
from app.engine.core.messages import Alert, TradeTick, VenueStatus
from app.engine.core.store import StoreError


def _say(text: str) -> None:
    print(text, flush=True)


def run_headless(profile: Path, duration: float | None, args: argparse.Namespace | None = None) -> int:
    from app.engine.kernel import Kernel

    opts = _Options(args)
    try:
        wanted = [parse_strategy_arg(a) for a in opts.strategies]
        settings = load_settings(profile)  # first: it says so when the profile is not a usable folder
        _logging(profile)
        plan = _plan(profile, opts)
        kernel = Kernel(profile, settings, clock=plan.clock, instruments=plan.instruments)
    except (StoreError, ConfigError, ValueError, LookupError, OSError) as exc:
        print(f"kestrel: {_one_line(exc)}", file=sys.stderr)
        return 2
    try:
        instances = [_strategy_instance(kernel, name, params) for name, params in wanted]
    except ValueError as exc:
        print(f"kestrel: --strategy: {exc}", file=sys.stderr)
        kernel.close()
        return 2
    trades = [0]
    kernel.bus.subscribe(TradeTick, lambda _t: trades.__setitem__(0, trades[0] + 1))
    kernel.bus.subscribe(VenueStatus, lambda s: s.venue != "sim" and _say(
        f"venue {s.venue}: {'CONNECTED' if s.connected else 'not connected'} ({s.message})"))
    kernel.bus.subscribe(Alert, lambda a: _say(f"[{a.level}] {a.title}: {a.message}"))
    kernel.start()
    _say(f"kestrel headless: profile {profile}, trading state {kernel.risk.state.value}, "
         f"instruments {', '.join(kernel.instruments)}")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            try:
                loop.add_signal_handler(sig, _on_signal, kernel, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        runtime = await plan.attach(kernel, opts)
        for name in instances:
            if kernel.strategies.start(name):
                _say(f"strategy {name}: RUNNING {kernel.strategies.runners[name].params}")
            else:
                _say(f"strategy {name}: {kernel.strategies.runners[name].reason}")
        try:
            if plan.replayer is not None:
                took = await _replay(kernel, plan, duration)
                _say(f"replay finished: {plan.replayer.data_ms / 1000:.1f} s of data in {took:.1f} s")
            else:
                await kernel.run(duration)
        finally:
            await kernel.shutdown()  # strategies stopped and their cancels answered while the loop runs
            await runtime.close()

    try:
        asyncio.run(main())
    finally:
        last = {s: kernel.market.get(s).last for s in kernel.instruments}
        _say(f"stopped: {kernel.bus.published} messages, {trades[0]} trades, loop lag p99 "
             f"{kernel.loop_monitor.p99():.1f} ms, last prices {last}")
        kernel.close()
    return 0


#: SIGTERM (service stop, shutdown), SIGINT (Ctrl+C), SIGHUP (the terminal window closed, log-out): all
#: close cleanly. Windows has none of them as loop signals; Ctrl+C there ends the process.
SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _on_signal(kernel: Any, sig: int) -> None:
    import logging

    logging.getLogger("kestrel").warning("%s received: closing", signal.Signals(sig).name)
    kernel.stop()


def parse_strategy_arg(text: str) -> tuple[str, dict[str, str]]:
    """``NAME[:k=v,...]`` -> (NAME, {k: v}); values stay text (the plugin's declaration types them)."""
    from app.engine.strategy.params import parse_params

    name, _, rest = text.partition(":")
    if not name.strip():
        raise ValueError(f"--strategy {text!r}: give a strategy name, e.g. sma_cross:fast=5,slow=20")
    return name.strip(), parse_params(rest, f"--strategy {name.strip()}:")


def _strategy_instance(kernel: Any, name: str, params: dict[str, str]) -> str:
    """The instance ``--strategy`` names: a saved instance of that name (its parameters updated), or a new
    instance of the plugin of that name. Raises ValueError with what to do."""
    manager = kernel.strategies
    if name in manager.runners:
        if params:
            manager.set_params(name, params)
        return name
    runner = manager.load(name, name, params)
    return runner.instance


def _logging(profile: Path) -> None:
    try:
        setup_logging(profile)
    except OSError as exc:
        raise ConfigError(f"cannot write the log in {profile / 'logs'}: {exc.strerror or exc}. The profile folder "
                          f"must be writable; check its permissions, or use another --profile.") from None


def _one_line(exc: BaseException) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from app.config import problems

        return f"invalid {exc.title} in the profile: {problems(exc)}"
    return " ".join(str(exc).split())


async def _replay(kernel: Any, plan: "_Plan", duration: float | None) -> float:
    task = asyncio.get_running_loop().create_task(plan.replayer.run())
    try:
        return await asyncio.wait_for(asyncio.shield(task), duration) if duration else await task
    except asyncio.TimeoutError:
        task.cancel()
        return duration or 0.0


class _Options:
    def __init__(self, args: argparse.Namespace | None) -> None:
        get = (lambda k, d=None: getattr(args, k, d)) if args is not None else (lambda k, d=None: d)
        self.venue: str | None = get("venue")
        self.venue_config: Path | None = get("venue_config")
        self.symbols = [s.strip() for s in (get("symbols") or "").split(",") if s.strip()]
        self.record: bool = bool(get("record", False))
        self.approve: bool = bool(get("approve_reconcile", False))
        self.replay: Path | None = get("replay")
        self.session: int | None = get("session")
        self.speed: str = get("speed", "1") or "1"
        self.strategies: list[str] = list(get("strategy", None) or [])
        self.paper: bool = bool(get("paper", False))


class _Runtime:
    def __init__(self) -> None:
        self.closers: list = []

    async def close(self) -> None:
        for fn in reversed(self.closers):
            try:
                res = fn()
                if asyncio.iscoroutine(res):
                    await res
            except Exception as exc:  # noqa: BLE001 - shutting down: report and go on
                print(f"kestrel: while stopping: {exc}", file=sys.stderr)


class _Plan:
    """What to build, decided before the kernel exists (instrument table and clock depend on it)."""

    def __init__(self) -> None:
        self.instruments = None
        self.clock = None
        self.replayer = None
        self.attach_fn = None
        self.source: str | None = None  # the venue a --record records (default: --venue, else the sim)

    async def attach(self, kernel: Any, opts: _Options) -> _Runtime:
        runtime = _Runtime()
        if opts.record:
            from app.engine.venues.replay.recorder import Recorder

            source = self.source or opts.venue or "sim"
            rec = Recorder(kernel.store.conn, kernel.bus, source, opts.symbols or None)
            rec.add_instruments([i for i in kernel.instruments.values()
                                 if not opts.symbols or i.symbol in opts.symbols])
            runtime.closers.append(lambda: _say(f"recorded {rec.rows} rows in session {rec.session}"))
            runtime.closers.append(rec.close)
            runtime.recorder = rec
        if self.attach_fn is not None:
            await self.attach_fn(kernel, opts, runtime)
        return runtime


def _plan(profile: Path, opts: _Options) -> _Plan:
    """What this run adds to the sim: a replay, akshare, or a ccxt venue (``--replay`` / ``--venue``)."""
    if opts.paper and (opts.venue is None or opts.replay is not None):
        raise ValueError("--paper needs --venue ID (a ccxt exchange, e.g. --venue binance --paper): paper "
                         "trading runs on that exchange's live market")
    if opts.replay is not None:
        return _plan_replay(opts)
    if opts.venue is None:
        return _plan_saved(profile, opts)
    if opts.venue == "akshare":
        from app.engine.venues.akshare.venue import plan_akshare

        if opts.paper:
            _say("venue akshare: paper trading already (A-share rules, no broker); --paper changes nothing")
        return plan_akshare(profile, opts, _Plan())
    return _plan_ccxt(profile, opts)


def _plan_saved(profile: Path, opts: _Options) -> _Plan:
    """No --venue: the venues the profile connects at start (Connect dialog, enabled), as the window does;
    none saved: the sim alone."""
    from app.engine.venues.manager import kernel_instruments, startup_configs, stored_credentials

    plan = _Plan()
    configs = startup_configs(profile)
    if not configs:
        return plan
    plan.instruments = kernel_instruments(profile, configs)
    if any(c.kind == "akshare" for c in configs):
        from app.engine.venues.akshare.data import warm_imports

        warm_imports()  # seconds of imports before the loop starts, not on it
    for cfg in configs:
        if cfg.kind != "akshare":
            _warm_ccxt(cfg)
    _say("venues saved in the profile: " + ", ".join(c.name for c in configs))

    async def attach_saved(kernel: Any, opts: _Options, runtime: _Runtime) -> None:
        _ask_on_differences(kernel, opts)
        for cfg in configs:
            keys = None if cfg.kind == "akshare" or getattr(cfg, "paper", False) else \
                stored_credentials(profile, cfg.name)
            kernel.venues.add_config(cfg, keys)
        kernel.venues.start()

    plan.attach_fn = attach_saved
    return plan


def _plan_replay(opts: _Options) -> _Plan:
    """Recorded market data through the sim's matching engine, on a simulated clock from the recording's start."""
    from app.engine.core.clock import SimClock
    from app.engine.venues.replay.recorder import open_recording
    from app.engine.venues.replay.venue import parse_speed

    plan = _Plan()
    rec = open_recording(opts.replay, opts.session)
    speed = parse_speed(opts.speed)
    plan.clock = SimClock(rec.first_ts)
    plan.instruments = [_as_replay(i) for i in rec.instruments]

    async def attach_replay(kernel: Any, _opts: _Options, runtime: _Runtime) -> None:
        from app.engine.venues.replay.venue import ReplayVenue, Replayer

        ex = kernel.venues.add(ReplayVenue(rec, kernel.execution.on_report, kernel.bus.publish),
                               instruments=False)  # the plan made the replay table
        plan.replayer = Replayer(ex, kernel.clock, kernel.step, speed)
        pace = "max" if speed is None else f"{speed:g}x"
        _say(f"replaying session {rec.session} of {rec.path} ({rec.rows} events, "
             f"{(rec.last_ts - rec.first_ts) / 1000:.1f} s) at {pace}")

    plan.attach_fn = attach_replay
    return plan


def _plan_ccxt(profile: Path, opts: _Options) -> _Plan:
    """A ccxt exchange: its config, the instrument table (the sim's and the venue's, side by side), ccxt's
    imports before the loop starts (~1 s), and, once the loop runs, the venue added and started."""
    from app.engine.venues.manager import kernel_instruments
    from app.engine.venues.venue_config import resolve_config

    plan = _Plan()
    cfg = resolve_config(profile, opts.venue, opts.venue_config)
    if opts.paper and getattr(cfg, "kind", "ccxt") != "ccxt":
        raise ValueError(f"--paper: venue {cfg.name} is not a ccxt exchange")
    if opts.paper and not cfg.paper:
        name = cfg.name if cfg.name.endswith("-paper") else f"{cfg.name}-paper"
        cfg = cfg.model_copy(update={"paper": True, "name": name})
    if opts.symbols:
        cfg = cfg.model_copy(update={"symbols": opts.symbols})
    if not cfg.symbols:
        raise ValueError(f"no symbols for venue {cfg.name}: pass --symbols BTC/USDT,... or list them in its "
                         f"config")
    plan.instruments = kernel_instruments(profile, [cfg])
    plan.source = cfg.name
    _warm_ccxt(cfg)

    async def attach_ccxt(kernel: Any, opts: _Options, runtime: _Runtime) -> None:
        _ask_on_differences(kernel, opts)
        keys = None if getattr(cfg, "paper", False) else _credentials(profile, cfg.name)  # paper: none, ever
        venue = kernel.venues.add_ccxt(cfg, keys)
        recorder = getattr(runtime, "recorder", None)
        if recorder is not None:
            venue.instrument_listeners.append(recorder.add_instruments)
        kernel.venues.start()

    plan.attach_fn = attach_ccxt
    return plan


def _warm_ccxt(cfg: Any) -> None:
    """ccxt's imports (~1 s; ccxt.pro's too for a streaming venue) before the loop starts, not on it."""
    import ccxt.async_support  # noqa: F401
    if cfg.stream != "poll":
        try:
            import ccxt.pro  # noqa: F401
        except ImportError:
            pass


def _ask_on_differences(kernel: Any, opts: _Options) -> None:
    """Venue/journal differences found on connect: applied (--approve-reconcile) or asked about."""
    from app.engine.venues.events import ReconciliationProposed

    kernel.venues.approval = "auto" if opts.approve else "ask"
    kernel.bus.subscribe(ReconciliationProposed, lambda p: _on_proposal(kernel, p))


def _on_proposal(kernel: Any, p: Any) -> None:
    """A venue and the journal differ: say how, and ask in a terminal (else: run again to approve)."""
    _say(f"venue {p.venue}: the venue and the journal differ; trading there waits for your approval:")
    for line in p.lines():
        _say(f"  - {line}")
    if sys.stdin is not None and sys.stdin.isatty():
        asyncio.get_running_loop().create_task(_ask_approval(kernel, p.venue))
    else:
        _say("  (not a terminal: check the differences, then run again with --approve-reconcile)")


async def _ask_approval(kernel: Any, name: str) -> None:
    from app.engine.venues.events import ApproveReconciliation

    answer = await asyncio.get_running_loop().run_in_executor(None, input, "Approve? [y/N] ")
    if answer.strip().lower() in ("y", "yes"):
        kernel.bus.publish(ApproveReconciliation(name, "cli", kernel.clock.now_ms()))


def _as_replay(inst: Any) -> Any:
    import dataclasses

    return dataclasses.replace(inst, venue="replay")


def _credentials(profile: Path, venue: str) -> Any:
    """The venue's stored credentials, or None (public data only) with a message saying why."""
    from app.engine.venues.credentials import CredentialError, CredentialStore

    store = CredentialStore(profile)
    if store.needs_passphrase:
        if (store.file.exists() and sys.stdin is not None and sys.stdin.isatty()):
            import getpass

            store.with_passphrase(getpass.getpass("Passphrase for the credentials file: ", stream=sys.stderr))
        else:
            _say(f"venue {venue}: no OS keyring and no passphrase for {store.file}: market data only. "
                 f"Set KESTREL_CREDENTIALS_PASSPHRASE or run in a terminal to trade.")
            return None
    try:
        creds = store.get(venue)
    except CredentialError as exc:
        _say(f"venue {venue}: {exc} Market data only.")
        return None
    if creds is None:
        _say(f"venue {venue}: no API key stored (kestrel keys set {venue}): market data only")
    return creds
