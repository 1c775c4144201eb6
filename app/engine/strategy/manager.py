"""The live strategy manager: plugins found, instances loaded, started, stopped, reloaded, watched.

PLUGINS     ``discover`` (bundled, profile, entry points); broken ones are listed with their error
INSTANCES   persisted in the profile (settings key ``strategies``): plugin, instance name, parameters.
            After a restart every instance comes back STOPPED: a person starts it again
STATE       a strategy's ``state`` dict is saved on stop (and on reload) under ``strategy_state.<name>``
            and handed back on the next start; removing the instance deletes it
RELOAD      a changed plugin file is re-imported; each instance of it stops (its orders canceled), takes
            the new class and starts again if it was running, with its state. Positions are the
            instance's own fills, so they carry over by name. A file that no longer loads leaves the old
            version running and says why
WATCHDOG    a thread that notices a plugin call running longer than ``watchdog_s``: it is reported and
            interrupted (an exception raised in the plugin's frame), and the strategy FAULTS. Code stuck
            inside a C extension cannot be interrupted; it is reported
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock
from app.engine.core.instruments import Instrument
from app.engine.core.messages import Bar, BookSnapshot, TradeTick
from app.engine.core.store import Store
from app.engine.data.market import MarketState
from app.engine.oms.execution import ExecutionEngine
from app.engine.oms.portfolio import Portfolio
from app.engine.strategy import plugins as plugin_loader
from app.engine.strategy.commands import StrategyCommands
from app.engine.strategy.host import StrategyHost
from app.engine.strategy.plugins import PluginInfo
from app.engine.strategy.runner import Runner, StrategyFault, StrategyStatus

log = logging.getLogger("kestrel.strategies")


@dataclass
class _InCall:
    runner: Runner | None  # None: importing plugin files (discovery, reload)
    what: str
    started: float
    limit_s: float
    fired: int = 0  # interrupts raised into this call so far
    paused: bool = False  # inside Kestrel's own code on the plugin's behalf (e.g. compiling an indicator)
    reported_stuck: bool = False


class _WatchedHost(StrategyHost):
    """The host with every call into plugin code registered for the watchdog: callbacks (``call_plugin``), the
    closed-bar path (``feed_bar``), constructors, and plugin imports (``watched_import``)."""

    watchdog_s = 2.0
    import_limit_s = 30.0  # importing a plugin may import heavy libraries (scikit-learn: seconds when cold)
    contains_exits = True  # sys.exit()/KeyboardInterrupt in a plugin faults that strategy, not the terminal

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._lock = threading.Lock()
        self.in_call: _InCall | None = None
        self.thread_id = threading.get_ident()
        self.stuck_reports: list[str] = []

    @contextlib.contextmanager
    def _watched(self, runner: Runner | None, what: str, limit_s: float | None = None) -> Iterator[_InCall]:
        token = _InCall(runner, what, time.monotonic(), self.watchdog_s if limit_s is None else limit_s)
        with self._lock:
            outer, self.in_call = self.in_call, token
        try:
            yield token
        finally:
            with self._lock:
                self.in_call = outer
                if token.fired:  # an interrupt may still be pending if the call ended just then
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), None)

    def call_plugin(self, runner: Runner, fn: Callable[..., Any], *args: Any, fault_on_error: bool = True) -> bool:
        try:
            with self._watched(runner, getattr(fn, "__name__", "callback")):
                fn(*args)
            return True
        except BaseException as exc:  # noqa: BLE001 - the watchdog's StrategyFault, sys.exit() included
            self.call_failed(runner, fn, exc, fault_on_error)
            return False

    def feed_bar(self, runner: Runner, bar: Bar) -> None:
        try:
            with self._watched(runner, "on_bar"):
                super().feed_bar(runner, bar)
        except StrategyFault as exc:  # in an indicator update or just after on_bar returned
            self.call_failed(runner, runner.strategy.on_bar, exc)

    def _instantiate(self, runner: Runner):
        try:
            with self._watched(runner, f"{runner.cls.__name__}()"):
                return super()._instantiate(runner)
        except StrategyFault as exc:
            self._fault(runner, f"could not be created: {exc!r}")
            return None

    def watched_import(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run a plugin import (``discover``/``reload``) under the watchdog: a module that loops at import
        time is interrupted after ``import_limit_s`` and listed as broken, instead of freezing the start."""
        with self._watched(None, what, self.import_limit_s):
            return fn()

    @contextlib.contextmanager
    def _paused(self, restart_clock: bool) -> Iterator[None]:
        """The watchdog does not interrupt Kestrel's own code running on the plugin's behalf.

        ``restart_clock``: work that is not the plugin's time at all (compiling an indicator kernel, loading
        a model and onnxruntime: seconds when cold); the call's clock restarts afterwards. Otherwise the
        engine's own code a plugin calls (an order through the risk gate and the journal), which must not be
        cut in two (a journal commit) but counts against the call: the interrupt waits until it returns."""
        with self._lock:
            token = self.in_call
            was = token.paused if token is not None else False
            if token is not None:
                token.paused = True
        try:
            yield
        finally:
            if token is not None:
                with self._lock:
                    token.paused = was
                    if restart_clock:
                        token.started = time.monotonic()

    def _our_time(self) -> contextlib.AbstractContextManager[None]:
        return self._paused(restart_clock=True)

    def _engine_section(self) -> contextlib.AbstractContextManager[None]:
        return self._paused(restart_clock=False)

    def make_indicator(self, name: str, params: dict[str, Any]):
        with self._our_time():
            return super().make_indicator(name, params)

    def load_model(self, instance: str, ref: str) -> Any:
        with self._our_time():
            return super().load_model(instance, ref)

    def submit(self, *a: Any, **kw: Any) -> str:
        with self._engine_section():
            return super().submit(*a, **kw)

    def cancel(self, *a: Any, **kw: Any) -> None:
        with self._engine_section():
            super().cancel(*a, **kw)

    def cancel_all(self, *a: Any, **kw: Any) -> None:
        with self._engine_section():
            super().cancel_all(*a, **kw)

    def _fault(self, runner: Runner, reason: str) -> None:
        if "StrategyFault" in reason:
            reason = (f"a call into the plugin ran longer than {self.watchdog_s:g} s and was interrupted "
                      f"by the watchdog ({reason.split(' raised', 1)[0]})")
        super()._fault(runner, reason)


class Watchdog(threading.Thread):
    """Interrupts a plugin call that runs past its limit, by raising ``StrategyFault`` in its frame; again
    every limit while it does not return (a plugin that catches the first). After ``MAX_INTERRUPTS`` it
    stops trying and reports the terminal stuck: a C call that never returns, or a loop that catches
    ``BaseException``, cannot be interrupted from Python. The kernel's heartbeat stops then, and
    ``kestrel risk status`` tells a person the terminal is unresponsive."""

    MAX_INTERRUPTS = 5

    def __init__(self, host: _WatchedHost, period_s: float = 0.1) -> None:
        super().__init__(name="kestrel-strategy-watchdog", daemon=True)
        self.host = host
        self.period_s = period_s
        self._stop_evt = threading.Event()

    def stop(self) -> None:
        self._stop_evt.set()

    def run(self) -> None:
        host = self.host
        while not self._stop_evt.wait(self.period_s):
            with host._lock:
                cur = host.in_call
                if cur is None or cur.paused:
                    continue
                late = time.monotonic() - cur.started - cur.limit_s * (1 + cur.fired)
                if late < 0:
                    continue
                who = f"strategy {cur.runner.instance}" if cur.runner is not None else "plugin import"
                if cur.fired >= self.MAX_INTERRUPTS:
                    if not cur.reported_stuck:
                        cur.reported_stuck = True
                        text = (f"{who}: {cur.what} could not be interrupted ({cur.fired} tries over "
                                f"{time.monotonic() - cur.started:.0f} s): it catches every exception or waits "
                                f"in C code. The terminal is unresponsive; stop it (`kestrel risk status` "
                                f"shows its process) and fix or remove the plugin.")
                        host.stuck_reports.append(text)
                        log.critical(text)
                    continue
                cur.fired += 1
                text = (f"{who}: {cur.what} has been running for more than {cur.limit_s:g} s; interrupting it"
                        + (f" (try {cur.fired})" if cur.fired > 1 else ""))
                host.stuck_reports.append(text)
                log.error(text)
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(host.thread_id),
                                                           ctypes.py_object(StrategyFault))


class StrategyManager:
    def __init__(self, bus: MessageBus, clock: Clock, store: Store, execution: ExecutionEngine,
                 portfolio: Portfolio, market: MarketState, instruments: dict[str, Instrument],
                 profile: Path | None, new_order_id: Callable[[], str] | None = None,
                 watchdog_s: float = 2.0, bundled: Path | None = plugin_loader.BUNDLED_DIR,
                 entry_points: bool = True) -> None:
        self.bus = bus
        self.store = store
        self.profile = profile
        self._bundled = bundled
        self._entry_points = entry_points
        self.host = _WatchedHost(bus, clock, execution, portfolio, market, instruments, new_order_id)
        self.host.watchdog_s = watchdog_s
        self.watchdog = Watchdog(self.host)
        self.watchdog.start()
        #: why a strategy may not start now (the kernel wires the risk engine's answer), or None
        self.start_refusal: Callable[[str], str | None] = lambda _name: None
        self.plugins: list[PluginInfo] = []
        self.changed: set[str] = set()  # plugin names whose file changed on disk since loading
        self.orphans: list[dict[str, Any]] = []  # saved instances whose plugin does not load now: kept, shown
        self._last_poll = 0.0
        self.rescan()
        self._restore_instances()
        bus.subscribe(Bar, self.host.on_bar)
        bus.subscribe(TradeTick, self.host.on_tick)
        bus.subscribe(BookSnapshot, self.host.on_book)
        self.commands = StrategyCommands(bus, clock, self)  # what the Strategies dock asks for

    @property
    def runners(self) -> dict[str, Runner]:
        return self.host.runners

    @property
    def version(self) -> int:
        return self.host.version

    def stop_all(self, reason: str) -> None:
        """Stop every running strategy (its orders canceled). The terminal's close calls it while the loop
        still runs, so the cancels reach the venues."""
        for name, runner in list(self.runners.items()):
            if runner.status is StrategyStatus.RUNNING:
                self.stop(name, reason)

    def close(self) -> None:
        self.stop_all("terminal closing")
        self.watchdog.stop()
        self.host.close()

    # ----------------------------------------------------------------------------------------- plugins
    def rescan(self) -> list[PluginInfo]:
        self.plugins = self.host.watched_import(
            "importing plugins", lambda: plugin_loader.discover(self.profile, self._bundled, self._entry_points))
        self.changed.clear()
        self.host.version += 1
        return self.plugins

    def plugin(self, name: str) -> PluginInfo:
        for info in self.plugins:
            if info.name == name and info.ok:
                return info
        broken = [i for i in self.plugins if i.name == name]
        if broken:
            raise ValueError(f"plugin {name!r} cannot be used: {broken[0].error}")
        raise ValueError(f"no plugin named {name!r}; available: {', '.join(i.name for i in self.plugins if i.ok)}")

    # --------------------------------------------------------------------------------------- instances
    def load(self, plugin: str, instance: str | None = None, params: dict[str, Any] | None = None) -> Runner:
        """Add an instance of ``plugin`` (stopped). Parameters are validated against the declaration."""
        info = self.plugin(plugin)
        name = instance or self._free_name(plugin)
        runner = self.host.add(name, info.cls, params or {})
        self._save_instances()
        return runner

    def _free_name(self, plugin: str) -> str:
        n = 1
        while f"{plugin}-{n}" in self.runners:
            n += 1
        return f"{plugin}-{n}"

    def unload(self, instance: str) -> None:
        """Remove ``instance``, and its saved state: a later instance given the same name starts afresh."""
        self.stop(instance, "unloaded")
        self.host.remove(instance)
        self._save_instances()
        self.store.delete_setting(f"strategy_state.{instance}")

    def set_params(self, instance: str, params: dict[str, Any]) -> dict[str, Any]:
        runner = self.runners[instance]
        if runner.status is StrategyStatus.RUNNING:
            raise ValueError(f"stop {instance} before changing its parameters")
        runner.params = self.host.validate(runner.cls, {**runner.params, **params})
        self.host.touch(runner)
        self._save_instances()
        return runner.params

    def start(self, instance: str) -> bool:
        """Start ``instance``. False, with the reason in ``runner.reason``, if it faulted or is refused: no
        strategy starts while trading (or the strategy itself) is HALTED."""
        runner = self.runners[instance]
        if runner.status is not StrategyStatus.RUNNING:
            refusal = self.start_refusal(instance)
            if refusal:
                runner.reason = f"not started: {refusal}"
                self.host.touch(runner)
                log.warning("strategy %s %s", instance, runner.reason)
                return False
        state = self.store.get_setting(f"strategy_state.{instance}", {})
        return self.host.start(instance, state if isinstance(state, dict) else {})

    def stop(self, instance: str, reason: str = "stopped by a person") -> None:
        runner = self.runners[instance]
        if runner.status is not StrategyStatus.RUNNING:
            return
        state = self.host.stop(instance, reason)
        self._save_state(instance, state)

    def reload(self, plugin: str) -> str:
        """Re-import ``plugin``'s file and swap every instance to the new class. Returns a message."""
        old = next((i for i in self.plugins if i.name == plugin), None)
        if old is None:
            raise ValueError(f"no plugin named {plugin!r}")
        fresh = self.host.watched_import(f"importing {old.origin}", lambda: plugin_loader.reload(old))
        if not fresh.ok:
            self.changed.discard(plugin)
            msg = f"{plugin} was not reloaded: {fresh.error}. The previous version keeps running."
            log.error(msg)
            return msg
        self.plugins[self.plugins.index(old)] = fresh
        self.changed.discard(plugin)
        swapped = []
        for name, runner in self.runners.items():
            if runner.plugin != plugin:
                continue
            was_running = runner.status is StrategyStatus.RUNNING
            state = self.host.stop(name, "reloading") if was_running else None
            if state is not None:
                self._save_state(name, state)
            runner.cls = fresh.cls
            try:
                runner.params = self.host.validate(fresh.cls, runner.params)
            except ValueError as exc:
                runner.params = self.host.validate(fresh.cls, {})
                log.warning("strategy %s: parameters reset to defaults after reload (%s)", name, exc)
            if was_running:
                self.start(name)
            swapped.append(name)
        msg = f"{plugin} reloaded" + (f"; instances {', '.join(swapped)} now run the new code" if swapped else "")
        log.info(msg)
        self.host.version += 1
        return msg

    def tick(self, now_ms: int) -> None:
        """Timers every call; a look at the plugin files about once a second."""
        self.host.on_time(now_ms)
        mono = time.monotonic()
        if mono - self._last_poll >= 1.0:
            self._last_poll = mono
            for info in self.plugins:
                if info.source != "entry-point" and info.name not in self.changed and info.changed_on_disk():
                    self.changed.add(info.name)
                    self.host.version += 1
                    log.info("plugin %s changed on disk: press Reload in the strategy manager", info.name)

    # ------------------------------------------------------------------------------------- persistence
    def _save_instances(self) -> None:
        rows = [{"instance": r.instance, "plugin": r.plugin, "params": r.params} for r in self.runners.values()]
        self.store.set_setting("strategies", rows + [{k: v for k, v in o.items() if k != "error"}
                                                     for o in self.orphans])

    def _save_state(self, instance: str, state: dict[str, Any]) -> None:
        try:
            self.store.set_setting(f"strategy_state.{instance}", state)
        except (TypeError, ValueError) as exc:
            log.error("strategy %s: state not saved, it is not JSON-serialisable (%s)", instance, exc)

    def _restore_instances(self) -> None:
        for row in self.store.get_setting("strategies", []) or []:
            try:
                info = self.plugin(row["plugin"])
                self.host.add(row["instance"], info.cls, row.get("params") or {})
            except (KeyError, ValueError, TypeError) as exc:
                log.error("strategy instance %r not restored: %s", row, exc)
                if isinstance(row, dict):
                    self.orphans.append({**row, "error": str(exc)})
