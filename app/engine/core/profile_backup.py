"""A profile's backup before anything rewrites it (the migration to venue-qualified ids: issue 19).

``backup_profile`` copies what a migration may change into ``<profile>/backups/<label>-<utc>/``:

- ``kestrel.db`` through SQLite's backup API (a consistent copy under WAL, even beside a running writer),
- ``settings.json`` and the ``venues/`` folder, byte for byte,
- ``MANIFEST.json``: each file's size and sha256, written last.

Every file is fsynced, then the folder. A backup that fails part-way is removed and the error raised: a
migration must not start without a whole backup. The bars (``bars/``) are not copied: no migration rewrites
them, and they may be gigabytes.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

from app.engine.core.files import fsync_dir, fsync_file, sha256_file

MANIFEST = "MANIFEST.json"


class BackupError(RuntimeError):
    pass


def backup_profile(profile: Path, label: str = "backup") -> Path:
    """Back the profile up (see the module docstring); returns the backup folder."""
    profile = Path(profile)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = profile / "backups" / f"{label}-{stamp}"
    n = 1
    while dest.exists():
        n += 1
        dest = profile / "backups" / f"{label}-{stamp}-{n}"
    try:
        dest.mkdir(parents=True)
        files = []
        db = profile / "kestrel.db"
        if db.exists():
            _copy_db(db, dest / "kestrel.db")
            files.append("kestrel.db")
        if (profile / "settings.json").exists():
            shutil.copyfile(profile / "settings.json", dest / "settings.json")
            files.append("settings.json")
        venues = profile / "venues"
        if venues.is_dir():
            for src in sorted(p for p in venues.rglob("*") if p.is_file()):
                rel = src.relative_to(profile)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest / rel)
                files.append(rel.as_posix())
        for rel in files:
            fsync_file(dest / rel)
        manifest = {"profile": str(profile), "made_utc": stamp,
                    "files": {rel: {"bytes": (dest / rel).stat().st_size, "sha256": sha256_file(dest / rel)}
                              for rel in files}}
        (dest / MANIFEST).write_text(json.dumps(manifest, indent=2))
        fsync_file(dest / MANIFEST)
        fsync_dir(dest)
    except (OSError, sqlite3.Error) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise BackupError(f"The profile {profile} could not be backed up to {dest} ({exc}); nothing was changed. "
                          f"Free some space or fix the folder's permissions, then try again.") from exc
    return dest


def check_backup(folder: Path) -> list[str]:
    """What is wrong with a backup (a file missing or not what its manifest says); empty when whole."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return [f"{folder / MANIFEST} cannot be read ({exc})"]
    problems = []
    for rel, want in manifest.get("files", {}).items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif sha256_file(path) != want.get("sha256"):
            problems.append(f"{rel} is not the file that was backed up (sha256 differs)")
    return problems


def _copy_db(src: Path, dst: Path) -> None:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        target.close()
        source.close()
