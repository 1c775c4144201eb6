"""``kestrel ml`` as a user runs it: real processes, a real profile, a real CSV file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.series import write_generated_bars

ROOT = Path(__file__).resolve().parents[2]


def kestrel(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def bar_file(tmp_path_factory) -> Path:
    return write_generated_bars(tmp_path_factory.mktemp("data") / "GEN-1m.csv", n=1500, seed=5)


def test_train_list_show_and_a_damaged_file(tmp_path, bar_file):
    prof = tmp_path / "p"
    out = tmp_path / "artifact"
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--model", "gbm", "--horizon", "3",
                "--small", "--splits", "2", "--no-backtest", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "registered gbm-h3@1 (#1)" in r.stdout and "ONNX vs scikit-learn" in r.stdout
    assert (out / "model.onnx").exists() and (out / "manifest.json").exists()
    assert (prof / "models" / "gbm-h3-v1.onnx").exists()
    r = kestrel("ml", "list", "--profile", str(prof))
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if "gbm-h3@1" in x)
    assert line.strip().startswith("#1") and line.rstrip().endswith("ok")
    assert "default@1" in r.stdout and "ok (bundled)" in r.stdout
    r = kestrel("ml", "show", "gbm-h3", "--profile", str(prof))
    assert r.returncode == 0 and "verified" in r.stdout and "holdout" in r.stdout
    (prof / "models" / "gbm-h3-v1.onnx").write_bytes(b"garbage")
    r = kestrel("ml", "list", "--profile", str(prof))
    assert "DAMAGED" in next(x for x in r.stdout.splitlines() if "gbm-h3@1" in x)
    r = kestrel("ml", "show", "gbm-h3", "--profile", str(prof))
    assert r.returncode == 1 and "sha256" in r.stderr and "Traceback" not in r.stderr


def test_bad_input_exits_2_with_the_reason(tmp_path, bar_file):
    prof = tmp_path / "p"
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(tmp_path / "nope.csv"), "--model", "gbm")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--model", "svm")
    assert r.returncode == 2 and "unknown model 'svm'" in r.stderr
    assert "Traceback" not in r.stderr
