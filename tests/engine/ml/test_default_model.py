"""The bundled default model is what its script in the repo produces (same bytes), so it can be rebuilt
and audited. Slow: it trains the full model (~30-60 s)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = ROOT / "resources" / "models" / "default"


@pytest.mark.slow
def test_the_training_script_reproduces_the_bundled_model(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "resources" / "models" / "train_default.py"), "--out",
                        str(tmp_path / "d")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    fresh = hashlib.sha256((tmp_path / "d" / "model.onnx").read_bytes()).hexdigest()
    shipped = json.loads((BUNDLED / "manifest.json").read_text())
    assert fresh == shipped["onnx"]["sha256"] == hashlib.sha256((BUNDLED / "model.onnx").read_bytes()).hexdigest()
    again = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert again["metrics"]["holdout"] == shipped["metrics"]["holdout"]
