"""A terminal running in another process, watched from outside through its heartbeat
(``<profile>/heartbeat.json``, written from the terminal's loop about twice a second: app/engine/core/heartbeat.py).
A test that must let the terminal run "a while" waits for beats, so the wait is counted in the terminal's own
loop turns, not in seconds of a machine that may be busy."""
from __future__ import annotations

import json
from pathlib import Path

from tests.kit.wait import wait_until


def last_beat_ms(profile: Path) -> int | None:
    """The wall time (ms) of the terminal's last heartbeat, or None before the first (or mid-rename)."""
    from app.engine.core.heartbeat import FILE

    try:
        return int(json.loads((Path(profile) / FILE).read_text())["ts_ms"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def wait_for_beats(profile: Path, n: int, timeout: float = 30.0) -> None:
    """Wait until the terminal on ``profile`` has beaten ``n`` more times (its loop ran that long)."""
    seen: set[int] = set()
    first = last_beat_ms(profile)

    def counted() -> bool:
        beat = last_beat_ms(profile)
        if beat is not None and beat != first:
            seen.add(beat)
        return len(seen) >= n

    wait_until(counted, timeout, f"{n} more heartbeats of the terminal on {profile}", interval=0.05)
