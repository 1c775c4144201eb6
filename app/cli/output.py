"""Output paths of long commands (``backtest``, ``sweep``, ``ml train``), checked before the run starts.

A run that takes minutes must not end by failing to write its result: each ``--json``/``--plot`` file and
``--out`` folder is checked first (its folder exists, is a folder, and a file can really be created there),
and a problem raises ``ValueError`` saying which option and what to do.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def check_output_file(path: Path | None, option: str) -> None:
    """``path`` can be written when the run ends: its folder exists and takes a new file. Not created."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name, e.g. {path / 'result'}")
    folder = path.parent
    if not folder.exists():
        raise ValueError(f"{option} {path}: the folder {folder} does not exist; create it, or choose another path")
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: {folder} is a file, not a folder; choose another path")
    _probe(folder, option, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {path} exists and cannot be overwritten (read-only); choose another path")


def check_output_folder(path: Path | None, option: str) -> None:
    """``path`` is, or can be made, a folder that takes new files (missing parents are created later)."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder; choose another path")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a folder; choose another path")
    _probe(existing, option, path)


def _probe(folder: Path, option: str, path: Path) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".kestrel-write-check-"):
            pass
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); choose another "
                         f"path") from None
