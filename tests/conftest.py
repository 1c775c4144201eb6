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

from tests.kit.keyrings import memory_keyring, no_keyring  # noqa: E402, F401 (fixtures for every test)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    p = tmp_path / "profile"
    p.mkdir()
    return p


@pytest.fixture
def sim_clock():
    from app.engine.core.clock import SimClock

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


@pytest.fixture
def window_factory(qtbot, profile, sim_clock):
    """The real window on a real kernel (SQLite file, sim venue) with a simulated clock, shown offscreen.

    ``make(path)`` builds one; ``restart(kernel, window)`` closes it as the app does on quit and builds the
    next one on the same profile (the same clock), as a restarted terminal would."""
    from app.bootstrap import build, create_app

    create_app()
    made = []

    def make(path=None):
        kernel, window = build(path or profile, clock=sim_clock)
        qtbot.addWidget(window)
        window.show()
        made.append((kernel, window))
        return kernel, window

    def restart(kernel, window, path=None):
        window.close()
        kernel.close()
        made.remove((kernel, window))
        return make(path or kernel.profile)

    make.restart = restart
    yield make
    for kernel, window in made:
        window.close()
        kernel.close()
