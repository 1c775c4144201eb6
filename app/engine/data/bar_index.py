"""The bar store's index (``bars/index.json``): its check, safe folder names, a series' offset from the UTC grid,
and the range arithmetic of stored runs, gaps and empty ranges (bar_store.py)."""
from __future__ import annotations

from typing import Any

import numpy as np

from app.engine.data.bar_chunks import HOUR_MS, BarStoreError

INDEX_FORMAT = "kestrel-bars"
INDEX_VERSION = 1
RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}




def safe_name(name: str, what: str) -> str:
    """``name`` as one folder name: ``BTC/USDT`` -> ``BTC-USDT``. Refuses what could point elsewhere."""
    if not isinstance(name, str) or not name.strip():
        raise BarStoreError(f"the {what} name must be a non-empty string, got {name!r}")
    if any(ord(ch) < 32 for ch in name) or name.startswith(("/", "\\")) or ":" in name[:3]:
        raise BarStoreError(f"the {what} name {name!r} is not allowed (control character or absolute path)")
    if any(part in (".", "..") for part in name.replace("\\", "/").split("/")):
        raise BarStoreError(f"the {what} name {name!r} is not allowed: it contains a '.' or '..' path part")
    out = "".join(ch if ch.isalnum() and ch.isascii() or ch in "._-" else "-" for ch in name).strip(". ")
    if not out or out.lower().split(".")[0] in RESERVED_NAMES:
        out = f"_{out}"
    return out[:80]


def runs_of(ts: np.ndarray, tf: int) -> list[list[int]]:
    """Sorted aligned ``ts`` as runs of consecutive bars, [start, end)."""
    if not len(ts):
        return []
    breaks = np.flatnonzero(np.diff(ts) != tf)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(ts) - 1]
    return [[int(ts[a]), int(ts[b]) + tf] for a, b in zip(starts, ends)]


def union(ranges: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def subtract(ranges: list[list[int]], cut: list[list[int]]) -> list[list[int]]:
    out = []
    for s, e in ranges:
        pieces = [[s, e]]
        for cs, ce in cut:
            nxt = []
            for ps, pe in pieces:
                if ce <= ps or cs >= pe:
                    nxt.append([ps, pe])
                    continue
                if ps < cs:
                    nxt.append([ps, cs])
                if ce < pe:
                    nxt.append([ce, pe])
            pieces = nxt
        out.extend(pieces)
    return out


def series_offset(entry: dict | None, tf: int, ts: np.ndarray) -> int:
    """The series' offset from the UTC grid: 0 below 1 h; at 1 h and above, fixed by its first bars."""
    if entry is not None and entry["offset_ms"] is not None:
        return entry["offset_ms"]
    return int(ts.min()) % tf if tf >= HOUR_MS and len(ts) else 0


class BadIndex(Exception):
    pass


class NewerIndex(BadIndex):
    """An index a newer Kestrel wrote: not damage, and never to be rewritten by this one."""


def check_index(index: Any) -> None:
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise BadIndex("not a Kestrel bar index")
    version = index.get("version")
    if type(version) is int and version > INDEX_VERSION:
        raise NewerIndex(f"index version {version}; this Kestrel reads up to version {INDEX_VERSION}")
    if version != INDEX_VERSION:
        raise BadIndex(f"index version {index.get('version')!r}; this Kestrel reads version {INDEX_VERSION}")
    if not isinstance(index.get("series"), dict):
        raise BadIndex("no series table")
    for key, e in index["series"].items():
        if not (isinstance(e, dict) and isinstance(e.get("venue"), str) and isinstance(e.get("symbol"), str)
                and type(e.get("timeframe_ms")) is int and e["timeframe_ms"] > 0
                and (e.get("offset_ms") is None or type(e["offset_ms"]) is int) and isinstance(e.get("chunks"), dict)
                and isinstance(e.get("empty"), list) and (e.get("tail") is None or isinstance(e["tail"], str))):
            raise BadIndex(f"series {key!r} is malformed")
        if ".." in key.split("/") or key.startswith("/"):
            raise BadIndex(f"series folder {key!r} points outside the store")
        for name, c in e["chunks"].items():
            if not (isinstance(c, dict) and isinstance(c.get("file"), str) and "/" not in c["file"]
                    and all(type(c.get(f)) is int for f in ("first", "last", "bars"))
                    and isinstance(c.get("gaps"), list)):
                raise BadIndex(f"chunk {name!r} of series {key!r} is malformed")
