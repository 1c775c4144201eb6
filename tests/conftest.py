"""Shared fixtures: a real profile folder with a real SQLite file, a simulated clock, a real kernel."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REAL_DATA = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    p = tmp_path / "profile"
    p.mkdir()
    return p


@pytest.fixture
def sim_clock():
    from app.engine.clock import SimClock

    return SimClock(1_750_000_000_000)


@pytest.fixture
def make_kernel(profile, sim_clock):
    """Build a real Kernel (store, bus, risk, execution, sim venue) on a simulated clock."""
    from app.config import Settings, SimSettings
    from app.engine.kernel import Kernel

    made = []

    def make(path: Path | None = None, latency_ms: int = 0, **settings_kw):
        settings = Settings(sim=SimSettings(latency_ms=latency_ms), **settings_kw)
        k = Kernel(path or profile, settings, clock=sim_clock)
        k.start()
        made.append(k)
        return k

    yield make
    for k in made:
        k.close()
