"""Helpers shared by tests (import as `from kit import ...`)."""
from __future__ import annotations

from pathlib import Path


def advance(kernel, ms: int, step: int = 50) -> None:
    """Move the simulated clock forward, stepping the venue as the live loop would."""
    for _ in range(max(ms // step, 1)):
        kernel.clock.advance(step)
        kernel.step()


def pump(qtbot, kernel, window, ms: int = 200, step: int = 50) -> None:
    """Advance the market and let the UI run one frame per step, as the live loop does."""
    for _ in range(max(ms // step, 1)):
        kernel.clock.advance(step)
        kernel.step()
        window.frames.tick()
    qtbot.wait(1)


def table_column(table, col: int) -> list[str]:
    return [table.item(r, col).text() if table.item(r, col) else "" for r in range(table.rowCount())]


REAL_DATA = Path(__file__).resolve().parent / "data"  # recorded market data the repository holds (tests/data/README.md)
