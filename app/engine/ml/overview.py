"""What the ML panel shows, without Qt: the models the terminal knows and the live state of those in use.

``ModelsOverview(kernel)`` lists, in order, the models running strategies hold (with their live drift and
inference time), the registered models and the bundled default. ``version`` moves when any of that
changes, so the view repaints only then.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from app.engine.ml.model_registry import ModelRecord, ModelRegistry
from app.engine.ml.serve import BUNDLED_DIR, ModelHandle
from app.engine.strategy.runner import StrategyStatus


@dataclass
class ModelEntry:
    key: str  # "live:<instance>", "reg:<id>" or "bundled"
    label: str
    manifest: dict[str, Any]
    handle: ModelHandle | None = None  # set while a running strategy uses it
    used_by: list[str] = field(default_factory=list)
    record: ModelRecord | None = None


class ModelsOverview:
    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel
        self._host = kernel.strategies.host
        self._records: list[ModelRecord] = []
        self._bundled: dict[str, Any] | None = None
        self._reg_version = 0
        self._reg_mark: tuple = ()
        self._polled = 0.0
        self.reload()

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self._kernel.store.conn)

    def record(self, record_id: int) -> ModelRecord | None:
        """A registered model by its id (as of the last ``reload``)."""
        return next((r for r in self._records if r.id == record_id), None)

    def reload(self) -> None:
        """Re-read the registry (after a training run, or another process's ``kestrel ml train``)."""
        reg = self.registry
        self._records = reg.list()
        self._reg_mark = self._mark(reg)
        path = BUNDLED_DIR / "manifest.json"
        self._bundled = json.loads(path.read_text()) if path.exists() else None
        self._reg_version += 1

    @staticmethod
    def _mark(reg: ModelRegistry) -> tuple:
        return tuple(reg.conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM ml_models").fetchone())

    def poll(self, every_s: float = 5.0) -> None:
        """Notice models registered by another process (``kestrel ml train`` beside the terminal)."""
        now = time.monotonic()
        if now - self._polled >= every_s:
            self._polled = now
            if self._mark(self.registry) != self._reg_mark:
                self.reload()

    @property
    def version(self) -> int:
        live = sum(h.drift.version if h.drift is not None else h.inference.version for _, h in self.active())
        return self._host.version + self._reg_version * 1_000_003 + live

    def active(self) -> list[tuple[str, ModelHandle]]:
        out = []
        for name, runner in self._host.runners.items():
            if runner.status is StrategyStatus.RUNNING:
                out.extend((name, h) for h in runner.models)
        return out

    def entries(self) -> list[ModelEntry]:
        rows = [ModelEntry(f"live:{inst}", f"{h.name} v{h.version} — in use by {inst}", h.loaded.manifest, h, [inst])
                for inst, h in self.active()]
        for r in reversed(self._records):
            rows.append(ModelEntry(f"reg:{r.id}", f"{r.name} v{r.version} (#{r.id})", r.manifest, record=r))
        if self._bundled is not None:
            rows.append(ModelEntry("bundled", "default (bundled)", self._bundled))
        return rows
