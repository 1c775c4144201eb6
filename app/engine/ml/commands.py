"""The Models dock's command: register a trained artifact in the profile's model registry.

Training runs in a child process (``ml.jobs``); what it leaves in a folder becomes a model only through
``RegisterModel``, carried out here and answered on the bus: a ``CommandDone`` whose ``detail`` is the new
record's id, or a ``CommandRefused`` saying why (a manifest that does not match its file, a models folder
that cannot be written).
"""
from __future__ import annotations

from pathlib import Path

from app.engine.core.bus import MessageBus
from app.engine.core.clock import Clock
from app.engine.core.messages import CommandDone, CommandRefused, RegisterModel
from app.engine.core.store import Store
from app.engine.ml.model import ModelError
from app.engine.ml.model_registry import ModelRegistry


class ModelCommands:
    def __init__(self, bus: MessageBus, clock: Clock, store: Store, profile: Path) -> None:
        self.bus, self.clock, self.store, self.profile = bus, clock, store, Path(profile)
        bus.subscribe(RegisterModel, self._register)

    def _answer(self, cmd: RegisterModel, kind: type, text: str) -> None:
        self.bus.publish(kind.to(cmd, text, self.clock.now_ms()))

    def _register(self, cmd: RegisterModel) -> None:
        models = self.profile / "models"
        try:
            rec = ModelRegistry(self.store.conn).register(cmd.artifact, models, source=cmd.source)
        except ModelError as exc:
            self._answer(cmd, CommandRefused, str(exc))
            return
        except OSError as exc:  # the folder is a file, read-only, or the disk is full
            why = "it is a file, not a folder" if models.exists() and not models.is_dir() else exc.strerror or exc
            self._answer(cmd, CommandRefused, f"trained, but not saved: {models} cannot hold models ({why}). "
                                              f"Make it a writable folder and train again.")
            return
        self._answer(cmd, CommandDone, str(rec.id))
