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


def pump(qtbot, kernel, window, ms: int = 200, step: int = 50) -> None:
    """Advance the market and let the UI run one frame per step, as the live loop does."""
    for _ in range(max(ms // step, 1)):
        kernel.clock.advance(step)
        kernel.step()
        window.frames.tick()
    qtbot.wait(1)


def table_column(table, col: int) -> list[str]:
    return [table.item(r, col).text() if table.item(r, col) else "" for r in range(table.rowCount())]
