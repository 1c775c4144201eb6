"""Training off the UI thread: a spawned, low-priority child process that reports progress on a queue.

``TrainingJob(data, config, out_dir).start()`` (``data``: a bar file's path, or a ``StoredRange`` of the
bar store, read in the child) returns at once; the caller polls ``poll()`` (the ML
panel does it at frame rate) for the latest fraction and message and the final state. The child only
writes the artifact folder; registering it in the profile database happens in the terminal's process,
which owns that connection. ``cancel()`` terminates the child.
"""
from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
from dataclasses import dataclass
from typing import Any


def _train_in_child(data: Any, config: dict[str, Any], out_dir: str, q: Any) -> None:
    try:
        os.nice(10)  # below the terminal: the UI and the strategies come first
    except (AttributeError, OSError):
        pass
    try:
        from app.engine.data.bar_files import load_bars
        from app.engine.data.stored_range import StoredRange
        from app.engine.ml.train import TrainConfig, train

        if isinstance(data, StoredRange):
            bars, report = data.read()
            source = report.source
        else:
            bars, source = load_bars(data), data
        train(bars, TrainConfig(**config), out_dir, lambda f, m: q.put(("progress", f, m)), source=source)
        q.put(("done", 1.0, out_dir))
    except ValueError as exc:  # DataError, TrainError, LeakError, FeatureError: the message says what to fix
        q.put(("failed", 0.0, str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the user, never raised into the terminal
        q.put(("failed", 0.0, f"{type(exc).__name__}: {exc}"))


@dataclass
class JobStatus:
    state: str  # "running" | "done" | "failed" | "canceled"
    fraction: float
    message: str


class TrainingJob:
    def __init__(self, data: Any, config: dict[str, Any], out_dir: str) -> None:
        self.data_path = data if isinstance(data, str) else data.description  # the model's source, in words
        self.config = dict(config)
        self.out_dir = out_dir
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a process with Qt threads
        self._q = ctx.Queue()
        self._proc = ctx.Process(target=_train_in_child, args=(data, self.config, out_dir, self._q),
                                 name="kestrel-ml-train", daemon=True)
        self.status = JobStatus("running", 0.0, "starting a training process…")

    def start(self) -> "TrainingJob":
        self._proc.start()
        return self

    def poll(self) -> JobStatus:
        if self.status.state != "running":
            return self.status
        while True:
            try:
                kind, frac, msg = self._q.get_nowait()
            except queue_mod.Empty:
                break
            if kind == "progress":
                self.status = JobStatus("running", float(frac), str(msg))
            else:
                self.status = JobStatus(kind, float(frac), str(msg))
                self._proc.join(timeout=5)
                return self.status
        if not self._proc.is_alive() and self._q.empty():
            self.status = JobStatus("failed", self.status.fraction,
                                    f"the training process ended unexpectedly (exit code {self._proc.exitcode})")
        return self.status

    def cancel(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5)
        if self.status.state == "running":
            self.status = JobStatus("canceled", self.status.fraction, "training canceled")

    @property
    def running(self) -> bool:
        return self.status.state == "running"
