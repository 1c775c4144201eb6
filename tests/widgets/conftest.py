"""The real window on a real kernel (SQLite file, sim venue) with a simulated clock, offscreen."""
from __future__ import annotations

import pytest


@pytest.fixture
def window_factory(qtbot, profile, sim_clock):
    from app.bootstrap import build, create_app

    create_app()
    made = []

    def make(path=None):
        kernel, window = build(path or profile, clock=sim_clock)
        qtbot.addWidget(window)
        window.show()
        made.append((kernel, window))
        return kernel, window

    yield make
    for kernel, window in made:
        window.close()
        kernel.close()
