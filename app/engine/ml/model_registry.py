"""The model registry: the ``ml_models`` table in the profile database, model files under ``<profile>/models``.

One row per registered model version: id, name, version (1, 2, ... per name), the .onnx file's path and
sha256, the feature spec (and its digest), task and estimator kind, horizon, training span (first/last bar
time, rows), metrics, permutation importances, the full manifest, created time and the data it came from.
Registering copies the artifact's files to ``<profile>/models/<name>-v<version>.onnx|.json``, so the
registry owns what it verifies; loading (``serve.ModelSource``) re-hashes the file every time.

This module creates its own table on the store's connection (``CREATE TABLE IF NOT EXISTS``); it does not
touch the store's schema or version.
"""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engine.core.files import sha256_file
from app.engine.ml.artifact import dumps, read_manifest, write_manifest
from app.engine.ml.model import ModelError

TABLE = "ml_models"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    spec TEXT NOT NULL,
    spec_digest TEXT NOT NULL,
    task TEXT NOT NULL,
    kind TEXT NOT NULL,
    horizon INTEGER NOT NULL,
    train_start INTEGER,
    train_end INTEGER,
    n_train INTEGER,
    metrics TEXT NOT NULL,
    importances TEXT NOT NULL,
    manifest TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    UNIQUE (name, version)
)"""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    version: int
    path: str
    sha256: str
    spec: dict[str, Any]
    spec_digest: str
    task: str
    kind: str
    horizon: int
    train_start: int | None
    train_end: int | None
    n_train: int | None
    metrics: dict[str, Any]
    importances: list[dict[str, Any]]
    manifest: dict[str, Any]
    source: str
    created_ms: int

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def _record(row: sqlite3.Row | tuple, cols: list[str]) -> ModelRecord:
    d = dict(zip(cols, row))
    for k in ("spec", "metrics", "importances", "manifest"):
        d[k] = json.loads(d[k]) if d[k] else ({} if k != "importances" else [])
    return ModelRecord(**d)


class ModelRegistry:
    def __init__(self, conn: sqlite3.Connection, create: bool = True) -> None:
        self.conn = conn
        if create:
            conn.execute(_SCHEMA)

    @classmethod
    def open(cls, db_path: str | Path) -> "ModelRegistry":
        """A registry on its own connection (CLI, worker processes). Close with ``close()``."""
        conn = sqlite3.connect(str(db_path), timeout=5.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    def _exists(self) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone() \
            is not None

    def _select(self, where: str = "", args: tuple = ()) -> list[ModelRecord]:
        if not self._exists():
            return []
        cur = self.conn.execute(f"SELECT * FROM {TABLE} {where}", args)
        cols = [c[0] for c in cur.description]
        return [_record(r, cols) for r in cur.fetchall()]

    # ---------------------------------------------------------------------------------------------- read
    def list(self) -> list[ModelRecord]:
        return self._select("ORDER BY name, version")

    def get(self, model_id: int) -> ModelRecord:
        rows = self._select("WHERE id = ?", (int(model_id),))
        if not rows:
            raise ModelError(f"no model with id #{model_id} in the registry (see `kestrel ml list`)")
        return rows[0]

    def resolve(self, ref: str) -> ModelRecord:
        """``#12`` or ``12`` (id), ``name@3`` (a version) or ``name`` (its latest version)."""
        ref = ref.strip()
        if ref.lstrip("#").isdigit():
            return self.get(int(ref.lstrip("#")))
        name, _, ver = ref.partition("@")
        if ver:
            if not ver.isdigit():
                raise ModelError(f"model {ref!r}: the version after @ must be a number")
            rows = self._select("WHERE name = ? AND version = ?", (name, int(ver)))
        else:
            rows = self._select("WHERE name = ? ORDER BY version DESC LIMIT 1", (name,))
        if not rows:
            known = sorted({r.name for r in self.list()})
            raise ModelError(f"no model {ref!r} in the registry; registered: {', '.join(known) or 'none'} "
                             f"(train one with `kestrel ml train`, or use 'default')")
        return rows[0]

    # --------------------------------------------------------------------------------------------- write
    def register(self, artifact: str | Path, models_dir: str | Path, name: str | None = None,
                 source: str = "") -> ModelRecord:
        """Copy a trained artifact into ``models_dir`` as the next version of ``name`` and record it."""
        try:
            manifest, onnx_path = read_manifest(Path(artifact))
        except (FileNotFoundError, ValueError) as exc:
            raise ModelError(f"cannot register {artifact}: {exc}") from None
        name = name or manifest.get("name") or "model"
        if not _NAME.match(name):
            raise ModelError(f"model name {name!r}: use letters, digits, '_', '-' and '.' (up to 64)")
        sha = sha256_file(onnx_path)
        if sha != manifest.get("onnx", {}).get("sha256"):
            raise ModelError(f"cannot register {artifact}: {onnx_path.name} does not match the sha256 in its "
                             f"manifest (damaged or replaced)")
        models_dir = Path(models_dir)
        models_dir.mkdir(parents=True, exist_ok=True)
        conn = self.conn
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN IMMEDIATE")
        try:
            (last,) = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {TABLE} WHERE name = ?", (name,)).fetchone()
            version = int(last) + 1
            stem = f"{name}-v{version}"
            dest = models_dir / f"{stem}.onnx"
            shutil.copyfile(onnx_path, dest)
            manifest = {**manifest, "name": name, "version": version,
                        "onnx": {**manifest["onnx"], "file": dest.name}}
            write_manifest(models_dir / f"{stem}.json", manifest)
            span = manifest.get("train_span") or {}
            cur = conn.execute(
                f"INSERT INTO {TABLE} (name, version, path, sha256, spec, spec_digest, task, kind, horizon, "
                f"train_start, train_end, n_train, metrics, importances, manifest, source, created_ms) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, version, str(dest), sha, dumps(manifest["spec"], None), manifest.get("spec_digest", ""),
                 manifest.get("task", "classify"), manifest.get("model", ""), int(manifest.get("horizon", 0)),
                 span.get("start_ts"), span.get("end_ts"), span.get("rows"), dumps(manifest.get("metrics", {}), None),
                 dumps(manifest.get("importances", []), None), dumps(manifest, None),
                 source or str((manifest.get("data") or {}).get("source", "")), int(time.time() * 1000)))
            model_id = cur.lastrowid
            if own:
                conn.execute("COMMIT")
        except BaseException:
            if own and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return self.get(int(model_id))

    def remove(self, model_id: int, delete_files: bool = True) -> None:
        rec = self.get(model_id)
        self.conn.execute(f"DELETE FROM {TABLE} WHERE id = ?", (rec.id,))
        if delete_files:
            for p in (Path(rec.path), Path(rec.path).with_suffix(".json")):
                p.unlink(missing_ok=True)
