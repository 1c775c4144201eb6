"""The profile fixtures' tests (tests/e2e/test_profile_fixture_v*.py): a copy of a fixture, its schema version,
and a terminal's kernel on it at a given time."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path


def copy_fixture(fixture: Path, to: Path) -> Path:
    """The fixture copied to ``to`` (tests never open a fixture in place: SQLite would leave files beside it)."""
    shutil.copytree(fixture, to)
    return to


def schema_version(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
    finally:
        conn.close()


def open_kernel(profile: Path, now_ms: int):
    """A started Kernel on ``profile`` with its own settings, on a simulated clock at ``now_ms``."""
    from app.config import load_settings
    from app.engine.core.clock import SimClock
    from app.engine.kernel import Kernel

    kernel = Kernel(profile, load_settings(profile), clock=SimClock(now_ms))
    kernel.start()
    return kernel
