"""The Linux installer, proven the way a trader would use it: build the .deb, install it with dpkg, run the
installed ``kestrel --self-test`` offscreen as a fresh user (empty home, empty Numba cache), run it again from
another directory (the cache must hit), and remove the package.

Slow (a full PyInstaller build, ~4-8 min on 2 cores) and root-only (``dpkg -i``; ``sudo -n`` is used when not
root), so not in the default run:

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -m slow tests/packaging
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "kestrel-terminal"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    pytest.skip("installing a .deb needs root (or password-less sudo)")


def _self_test(home: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "NUMBA_", "KESTREL_", "PYTHON"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return subprocess.run(["kestrel", "--self-test"], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("dpkg-deb") is None,
                    reason="the .deb is built and installed on Debian/Ubuntu")
def test_the_deb_installs_and_the_installed_kestrel_passes_its_self_test(tmp_path):
    sudo = _sudo()
    build = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--deb"], cwd=ROOT,
                           capture_output=True, text=True, timeout=3000)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    report = json.loads((ROOT / "build" / "packaging-report.json").read_text())
    deb = Path(report["deb"])
    info = subprocess.run(["dpkg-deb", "--field", str(deb), "Depends"], capture_output=True, text=True).stdout
    assert "libxcb-cursor0" in info and "libc6 (>=" in info

    subprocess.run([*sudo, "dpkg", "-r", PACKAGE], capture_output=True)  # a leftover from an aborted run
    installed = subprocess.run([*sudo, "dpkg", "-i", str(deb)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    try:
        assert Path("/usr/bin/kestrel").resolve() == Path("/usr/lib/kestrel/kestrel")
        assert Path("/usr/share/applications/kestrel.desktop").is_file()
        assert Path("/usr/share/icons/hicolor/256x256/apps/kestrel.png").is_file()
        files_before = set(Path("/usr/lib/kestrel").rglob("*"))

        home = tmp_path / "home"  # a fresh user: no profile, no Numba cache
        home.mkdir()
        first = _self_test(home, cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "self-test passed" in first.stdout
        for step in ("window", "feed", "chart", "kill switch", "reset", "indicator dialog", "strategies",
                     "backtest", "sweep", "venues", "data", "model training", "audit", "indicators", "ML inference",
                     "plugins", "user plugin", "worker process", "venue libraries", "secrets"):
            assert f"ok   {step}" in first.stdout, step
        indicators = next(line for line in first.stdout.splitlines() if line.startswith("ok   indicators"))
        # an empty cache: kernels were compiled into the per-user cache, by this step or by the steps and worker
        # processes before it (the backtest, the sweep, the training and the indicator dialog use the same
        # kernels), so the step may find them all there already
        cache = home / ".cache" / "kestrel" / "numba"
        assert str(cache) in indicators and re.search(r"\d+ loaded, \d+ compiled", indicators), indicators
        assert any(cache.rglob("*.nbi")), "nothing was compiled into the per-user cache"

        second = _self_test(home, cwd=Path("/"))  # another launch directory: the cache must still hit
        assert second.returncode == 0, second.stdout + second.stderr
        indicators = next(line for line in second.stdout.splitlines() if line.startswith("ok   indicators"))
        assert "numba cache hit" in indicators, indicators

        # The installed program writes nothing into its install folder (dpkg owns it), and nothing under the
        # user's home but its caches (onnxruntime, numba and keyring included).
        assert set(Path("/usr/lib/kestrel").rglob("*")) == files_before
        written = {p.relative_to(home).parts[:2] for p in home.rglob("*") if p.is_file()}
        assert written <= {(".cache", "kestrel")}, written
    finally:
        removed = subprocess.run([*sudo, "dpkg", "-r", PACKAGE], capture_output=True, text=True)
        assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not Path("/usr/lib/kestrel").exists() and not Path("/usr/bin/kestrel").exists()
