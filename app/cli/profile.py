"""``kestrel profile backups`` and ``kestrel profile restore BACKUP``: the backups a migration made first.

A migration (``core/profile_migration.py``) backs the profile up before it changes anything, into
``<profile>/backups/<label>-<utc>/`` with a manifest of sha256s. ``restore`` checks the backup is whole, refuses
while a terminal runs on the profile, and puts kestrel.db, settings.json and the venue files back (files added
since, e.g. a venue connected after the migration, are left where they are). The release before the
migration then opens the profile as it was; this release would migrate it again on its next start.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_profile_commands(sub, common: argparse.ArgumentParser) -> None:
    prof = sub.add_parser("profile", parents=[common], help="the profile's backups: list, restore")
    psub = prof.add_subparsers(dest="profile_command", required=True)
    psub.add_parser("backups", parents=[common], help="list the profile's backups (newest last)")
    r = psub.add_parser("restore", parents=[common], help="put a backup back into the profile")
    r.add_argument("backup", type=Path, help="a backup folder (or its name under <profile>/backups/)")


def main_profile(args: argparse.Namespace, profile: Path) -> int:
    from app.engine.core.profile_backup import MANIFEST, check_backup

    folder = profile / "backups"
    if args.profile_command == "backups":
        found = sorted(p for p in folder.iterdir() if (p / MANIFEST).is_file()) if folder.is_dir() else []
        if not found:
            print(f"no backups in {folder}")
        for p in found:
            files = json.loads((p / MANIFEST).read_text()).get("files", {})
            problems = check_backup(p)
            print(f"{p.name}  {len(files)} files  {'whole' if not problems else 'DAMAGED: ' + '; '.join(problems)}")
        return 0
    backup = args.backup if args.backup.is_dir() else folder / args.backup
    if not backup.is_dir():
        print(f"kestrel profile restore: no backup {args.backup} (see `kestrel profile backups`)")
        return 2
    from app.engine.core.profile_migration import MigrationError, restore_backup, schema_version
    from app.engine.core.store import ProfileLock, StoreError

    try:
        lock = ProfileLock(profile)
    except StoreError as exc:
        print(f"kestrel profile restore: {exc}")
        return 1
    try:
        files = restore_backup(profile, backup)
    except (MigrationError, OSError) as exc:
        print(f"kestrel profile restore: {exc}")
        return 1
    finally:
        lock.release()
    version = schema_version(profile / "kestrel.db")
    print(f"restored {len(files)} files from {backup} into {profile} (database schema {version}). This release "
          f"migrates it again when it next opens the profile; the release it came from opens it as it was.")
    return 0
