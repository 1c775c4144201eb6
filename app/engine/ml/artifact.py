"""A trained model on disk: ``model.onnx`` beside ``manifest.json``.

The manifest holds everything needed to serve and judge the model: its feature spec (and digest), task,
horizon, training and test spans, metrics, permutation importances, the drift reference, the ONNX file's
sha256 and the library versions that produced it. The registry copies both files into the profile.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any


FORMAT = "kestrel-model/1"
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"


def write_artifact(folder: Path, onnx_bytes: bytes, manifest: dict[str, Any]) -> Path:
    """Write ``model.onnx`` and ``manifest.json`` (with the sha256 filled in) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ONNX_FILE).write_bytes(onnx_bytes)
    manifest = dict(manifest)
    manifest["format"] = FORMAT
    manifest["onnx"] = {**manifest.get("onnx", {}), "file": ONNX_FILE,
                        "sha256": hashlib.sha256(onnx_bytes).hexdigest()}
    write_manifest(folder / MANIFEST_FILE, manifest)
    return folder


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(dumps(manifest))
    tmp.replace(path)


def dumps(value: Any, indent: int | None = 1) -> str:
    """JSON with NaN/infinity as null and numpy scalars/arrays as plain numbers/lists."""
    return json.dumps(clean(value), indent=indent, sort_keys=True, allow_nan=False)


def clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "tolist"):
        return clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_manifest(path: Path) -> tuple[dict[str, Any], Path]:
    """``path``: an artifact folder, its manifest, or its .onnx. Returns (manifest, onnx path).
    Raises ``FileNotFoundError`` / ``ValueError`` with what is wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    elif path.suffix == ".onnx":
        path = path.with_suffix(".json") if path.with_suffix(".json").exists() else path.parent / MANIFEST_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no model manifest here")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable model manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: not a Kestrel model manifest (format {manifest.get('format')!r}, "
                         f"expected {FORMAT!r})" if isinstance(manifest, dict) else f"{path}: not a manifest")
    onnx_name = manifest.get("onnx", {}).get("file", ONNX_FILE)
    return manifest, path.parent / onnx_name
