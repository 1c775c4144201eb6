"""Serving: an onnxruntime session sized for a desktop, a single-row fast path, and the handle strategies use.

Sessions run on the calling thread only (``intra_op_num_threads = inter_op_num_threads = 1``, sequential,
no spinning): the model sits on the strategy path of the one event loop, so a thread pool would only
fight the UI and the other strategies for the cores. No file is written: no optimised-model cache, no
profiling output (``tests/engine/ml/test_serve.py`` runs a session with ``HOME`` pointed at an empty
folder and checks it stays empty).

Loading (``ModelSource.load``) reads the model file once, checks its sha256 against the registry (or the
manifest, for a model folder), checks that the feature spec is the one the model was trained with and that
the ONNX graph takes that many features; any failure is a ``ModelError`` whose message says what is wrong
and what to do, raised from ``Strategy.model()`` so the strategy does not start.
"""
from __future__ import annotations

import hashlib
import math
import sqlite3
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from app.engine.core.latency import LatencyStats
from app.engine.core.onnx_runtime import session_options
from app.engine.ml.artifact import read_manifest
from app.engine.ml.drift import DriftMonitor, DriftReference
from app.engine.ml.features import FeatureError, FeatureSpec, NewsSeries
from app.engine.ml.model import Model, ModelError
from app.paths import bundled_model_dir

BUNDLED_DIR = bundled_model_dir()  # resources/models/default, from source or inside a frozen bundle
# One onnxruntime session per distinct model file (by sha256) in the process: ten strategies on the same
# model share its trees in memory and in the CPU caches; each keeps its own input/output binding.
_SESSIONS: "weakref.WeakValueDictionary[str, Any]" = weakref.WeakValueDictionary()


class OnnxModel:
    """An onnxruntime session with a preallocated single-row input: ``predict_row`` allocates nothing but
    the output. Classifiers return p(class 1); regressors their prediction."""

    __slots__ = ("session", "n_features", "task", "_x", "_out", "_feed", "_outs", "_col", "_run", "input_name",
                 "output_name", "_binding", "_run_bound", "_values")

    def __init__(self, model: bytes, n_features: int, task: str, sha256: str | None = None) -> None:
        import onnxruntime as ort

        session = _SESSIONS.get(sha256) if sha256 else None
        if session is None:
            session = ort.InferenceSession(model, session_options(), providers=["CPUExecutionProvider"])
            if sha256:
                _SESSIONS[sha256] = session
        self.session = session
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"the graph has {len(inputs)} inputs; a Kestrel model has one (the feature row)")
        width = inputs[0].shape[1] if len(inputs[0].shape) == 2 else None
        if isinstance(width, int) and width != n_features:
            raise ValueError(f"the graph takes {width} features but its feature spec declares {n_features}")
        outputs = {o.name: o for o in self.session.get_outputs()}
        if task == "classify":
            name = "probabilities" if "probabilities" in outputs else list(outputs)[-1]
            self._col = 1
        else:
            name = list(outputs)[0]
            self._col = 0
        self.n_features = n_features
        self.task = task
        self.input_name = inputs[0].name
        self.output_name = name
        self._x = np.zeros((1, n_features), dtype=np.float32)
        self._feed = {inputs[0].name: self._x}
        self._outs = [name]
        self._run = self.session.run
        # Single-row fast path: input and output OrtValues share memory with preallocated numpy arrays and are
        # bound once, so a prediction is "write the row, run, read one float" (~40% less overhead than run())
        first = self._run(self._outs, self._feed)[0]
        self._out = np.zeros(first.shape, dtype=first.dtype)
        self._values = (ort.OrtValue.ortvalue_from_numpy(self._x), ort.OrtValue.ortvalue_from_numpy(self._out))
        self._binding = self.session.io_binding()
        self._binding.bind_ortvalue_input(self.input_name, self._values[0])
        self._binding.bind_ortvalue_output(name, self._values[1])
        self._run_bound = self.session.run_with_iobinding
        if self._col >= self._out.size:
            self._col = self._out.size - 1

    def predict_row(self, row: Sequence[float]) -> float:
        self._x[0] = row
        self._run_bound(self._binding)
        return float(self._out.flat[self._col])

    def predict(self, X: np.ndarray) -> np.ndarray:
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        out = self._run(self._outs, {self.input_name: X32})[0]
        return np.asarray(out, dtype=np.float64).reshape(len(X32), -1)[:, self._col if out.ndim == 2 and
                                                                         out.shape[1] > 1 else 0]


@dataclass
class LoadedModel:
    """A verified model: its manifest, feature spec and session."""

    name: str
    version: int
    origin: str  # "registry #id", "bundled", or the folder it came from
    path: Path
    sha256: str
    manifest: dict[str, Any]
    spec: FeatureSpec
    onnx: OnnxModel
    record_id: int | None = None
    drift_reference: DriftReference | None = None

    @property
    def task(self) -> str:
        return self.manifest.get("task", "classify")

    @property
    def horizon(self) -> int:
        return int(self.manifest.get("horizon", 0))

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def importances(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("importances") or [])

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics") or {})


def open_model(label: str, manifest: dict[str, Any], onnx_path: Path, expected_sha256: str | None = None,
               *, name: str | None = None, version: int | None = None, record_id: int | None = None,
               origin: str = "") -> LoadedModel:
    """Verify and open one model; ``ModelError`` on any mismatch."""
    what = f"model {label}"
    try:
        data = Path(onnx_path).read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{what}: its file {onnx_path} is missing. Train it again, or pick another model."
                         ) from None
    except OSError as exc:
        raise ModelError(f"{what}: its file {onnx_path} cannot be read ({exc}).") from None
    want = expected_sha256 or (manifest.get("onnx") or {}).get("sha256")
    got = hashlib.sha256(data).hexdigest()
    if not want:
        raise ModelError(f"{what}: no sha256 recorded for {onnx_path}; it cannot be verified, so it is not used.")
    if got != want:
        raise ModelError(f"{what}: the file {onnx_path} does not match its recorded sha256 (expected {want[:12]}…, "
                         f"found {got[:12]}…): it was modified or damaged. It was not loaded; train it again or "
                         f"restore the file.")
    try:
        spec = FeatureSpec.from_json(manifest["spec"])
    except (KeyError, FeatureError) as exc:
        raise ModelError(f"{what}: its feature spec cannot be used ({exc}).") from None
    digest = manifest.get("spec_digest")
    if digest and digest != spec.digest:
        raise ModelError(f"{what}: its feature spec does not match the one it was trained with (digest "
                         f"{spec.digest[:12]}… vs {digest[:12]}…). Train it again.")
    task = manifest.get("task", "classify")
    try:
        onnx = OnnxModel(data, len(spec.names), task, got)
    except ValueError as exc:
        raise ModelError(f"{what}: the model and its feature spec do not belong together: {exc}.") from None
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelError(f"{what}: {onnx_path} is not a usable ONNX model ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]}).") from None
    ref = None
    if manifest.get("drift_reference"):
        try:
            ref = DriftReference.from_json(manifest["drift_reference"])
            if ref.edges.shape[0] != len(spec.names):
                raise ValueError
        except (KeyError, ValueError, TypeError):
            raise ModelError(f"{what}: its drift reference does not match its {len(spec.names)} features.") from None
    return LoadedModel(name or manifest.get("name", "model"), int(version or manifest.get("version", 1)),
                       origin, Path(onnx_path), got, manifest, spec, onnx, record_id, ref)


class ModelSource:
    """Resolves the references strategies pass to ``self.model(ref)``.

    ``"default"`` (or "") is the bundled model; a path to a model folder, manifest or .onnx file is read from
    disk (verified against its manifest); anything else is looked up in the profile's registry (``name``,
    ``name@version`` or ``#id``), verified against the registry's sha256.
    """

    def __init__(self, conn: sqlite3.Connection | None = None, db_path: str | Path | None = None,
                 bundled: Path = BUNDLED_DIR) -> None:
        self._conn = conn
        self._db_path = db_path
        self.bundled = bundled

    def load(self, ref: str) -> LoadedModel:
        ref = (ref or "default").strip()
        if ref == "default":
            return self._from_folder(self.bundled, "default (bundled)", origin="bundled")
        if "/" in ref or "\\" in ref or ref.endswith((".json", ".onnx")) or Path(ref).is_dir():
            return self._from_folder(Path(ref).expanduser(), ref, origin=str(ref))
        from app.engine.ml.model_registry import ModelRegistry

        conn = self._conn
        own = None
        if conn is None:
            if self._db_path is None or not Path(self._db_path).exists():
                raise ModelError(f"model {ref!r}: no model registry here (a backtest without a profile?). Pass a "
                                 f"model folder path instead, or 'default'.")
            own = conn = sqlite3.connect(str(self._db_path), timeout=2.0)
        try:
            rec = ModelRegistry(conn, create=False).resolve(ref)
            return open_model(f"{rec.name} v{rec.version} (#{rec.id})", rec.manifest, Path(rec.path), rec.sha256,
                              name=rec.name, version=rec.version, record_id=rec.id, origin=f"registry #{rec.id}")
        finally:
            if own is not None:
                own.close()

    def _from_folder(self, path: Path, label: str, origin: str) -> LoadedModel:
        try:
            manifest, onnx_path = read_manifest(path)
        except (FileNotFoundError, ValueError) as exc:
            raise ModelError(f"model {label}: {exc}") from None
        return open_model(label, manifest, onnx_path, origin=origin)

    def handle(self, ref: str) -> "ModelHandle":
        return ModelHandle(self.load(ref))


def _finite(row: list[float]) -> bool:
    t = sum(row)  # a NaN or an infinity anywhere makes t - t NaN
    return t - t == 0.0


class ModelHandle(Model):
    """What ``Strategy.model()`` returns: features (streaming kernels) -> onnxruntime -> score, with a drift
    monitor on closed bars and the inference time of each call.

    A model with news features (``needs_news``) must be given its symbol's news items: the stored ones
    with ``add_news`` once it is loaded (before the strategy warms up on history bars), then each new item
    with ``on_news`` as it arrives, using our arrival time and the score of ``news_scorer`` (the scorer it
    was trained with). The strategy host does this, not the plugin: ``StrategyHost.load_model`` after
    ``ModelSource.handle``, and the host's handler of the news-arrived bus message for every running
    strategy whose symbol the item names. Items must reach the handle before the bar they belong to closes
    (``arrived_ms <= bar.ts + bar.timeframe_ms``), as bus order gives.
    """

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.name = loaded.name
        self.version = loaded.version
        self.task = loaded.task
        self.horizon = loaded.horizon
        self.feature_names = tuple(loaded.spec.names)
        self.features = loaded.spec.stream()
        self.drift = (DriftMonitor(loaded.drift_reference, self.feature_names)
                      if loaded.drift_reference is not None else None)
        self.inference = LatencyStats()
        self.score = math.nan
        self.last_row: list[float] = []
        self._predict = loaded.onnx.predict_row
        self.needs_news = loaded.spec.needs_news
        self.news_scorer = str((loaded.manifest.get("news") or {}).get("scorer") or "lexicon")

    def _score(self, row: list[float]) -> float:
        if not _finite(row):
            return math.nan
        t0 = time.perf_counter_ns()
        p = self._predict(row)
        self.inference.record(time.perf_counter_ns() - t0)
        return p

    def update(self, bar: Any) -> float:
        if self.needs_news:
            self.features.timeframe_ms = bar.timeframe_ms
        row = self.features.update(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, True)
        self.last_row = row
        if self.drift is not None:
            self.drift.update(row)
        self.score = self._score(row)
        return self.score

    def preview(self, bar: Any) -> float:
        if self.needs_news:
            self.features.timeframe_ms = bar.timeframe_ms
        return self._score(self.features.update(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, False))

    def on_book(self, book: Any) -> None:
        self.features.on_book(book)

    def on_news(self, arrived_ms: int, score: float) -> None:
        """One news item of this model's symbol (arrival time, score in [-1, 1] or NaN); a no-op for a model
        without news features."""
        if self.needs_news:
            self.features.on_news(arrived_ms, score)

    def add_news(self, series: NewsSeries) -> None:
        """The symbol's stored items (``NewsSeries``), e.g. at load, before the warm-up bars."""
        if self.needs_news:
            self.features.add_news(series)


__all__ = ["ModelError", "OnnxModel", "LoadedModel", "ModelSource", "ModelHandle", "open_model", "session_options",
           "BUNDLED_DIR"]
