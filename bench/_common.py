"""Helpers shared by the benchmark scripts: medians, percentiles, a table printer, vendored anchors."""
from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = Path(__file__).resolve().parent / ".vendor"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def vendor(package: str, module: str) -> None:
    """Make an anchor library importable without touching the project's environment (``--no-deps``)."""
    if not (VENDOR / module).exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(VENDOR), package],
                       check=True)
    if str(VENDOR) not in sys.path:
        sys.path.append(str(VENDOR))


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
