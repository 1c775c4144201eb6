"""The strategy manager's commands: what the Strategies dock asks for, carried out in the engine.

Each command is answered on the bus, synchronously: a ``CommandRefused`` with the reason a person reads
(an unknown instance, parameters out of bounds, a start that faulted, a reload whose file does not load), or
a ``CommandDone`` when the outcome is news (the name a loaded instance got, what a reload did). Commands and
answers are on the audit trail.
"""
from __future__ import annotations

from typing import Any, Callable

from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock
from app.engine.core.messages import (
    CommandDone, CommandRefused, LoadStrategy, ReloadPlugin, RemoveStrategy, RescanPlugins, SetStrategyParams,
    StartStrategy, StopStrategy,
)
from app.engine.strategy.runner import StrategyStatus


class StrategyCommands:
    def __init__(self, bus: MessageBus, clock: Clock, manager: Any) -> None:
        self.bus, self.clock, self.manager = bus, clock, manager
        handlers: dict[type, Callable[[Any], None]] = {
            LoadStrategy: self._load, StartStrategy: self._start, StopStrategy: self._stop,
            RemoveStrategy: self._remove, SetStrategyParams: self._set_params, ReloadPlugin: self._reload,
            RescanPlugins: self._rescan,
        }
        for kind, handler in handlers.items():
            bus.subscribe(kind, handler)

    def _refuse(self, cmd: Any, reason: str) -> None:
        self.bus.publish(CommandRefused.to(cmd, reason, self.clock.now_ms()))

    def _done(self, cmd: Any, detail: str) -> None:
        self.bus.publish(CommandDone.to(cmd, detail, self.clock.now_ms()))

    def _runner(self, cmd: Any) -> Any:
        runner = self.manager.runners.get(cmd.instance)
        if runner is None:
            self._refuse(cmd, f"no strategy named {cmd.instance!r} is loaded")
        return runner

    # ------------------------------------------------------------------------------------------ handlers
    def _load(self, cmd: LoadStrategy) -> None:
        try:
            runner = self.manager.load(cmd.plugin, cmd.instance, dict(cmd.params))
        except ValueError as exc:
            self._refuse(cmd, str(exc))
            return
        self._done(cmd, runner.instance)

    def _start(self, cmd: StartStrategy) -> None:
        if (runner := self._runner(cmd)) is None:
            return
        if self.manager.start(cmd.instance) is False or runner.status is StrategyStatus.FAULTED:
            self._refuse(cmd, f"{cmd.instance}: {runner.reason}")

    def _stop(self, cmd: StopStrategy) -> None:
        if self._runner(cmd) is not None:
            self.manager.stop(cmd.instance, cmd.reason)

    def _remove(self, cmd: RemoveStrategy) -> None:
        if self._runner(cmd) is not None:
            self.manager.unload(cmd.instance)

    def _set_params(self, cmd: SetStrategyParams) -> None:
        if self._runner(cmd) is None:
            return
        try:
            self.manager.set_params(cmd.instance, dict(cmd.params))
        except ValueError as exc:  # ParamError is a ValueError
            self._refuse(cmd, str(exc))

    def _reload(self, cmd: ReloadPlugin) -> None:
        try:
            message = self.manager.reload(cmd.plugin)
        except ValueError as exc:
            self._refuse(cmd, str(exc))
            return
        if "not reloaded" in message:
            self._refuse(cmd, message)
        else:
            self._done(cmd, message)

    def _rescan(self, cmd: RescanPlugins) -> None:
        plugins = self.manager.rescan()
        self._done(cmd, f"{sum(i.ok for i in plugins)} plugins available")
