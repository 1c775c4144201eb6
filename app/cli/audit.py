"""``kestrel audit verify|checkpoint``: check the profile's audit trail; export signed checkpoints.

    kestrel audit verify [--profile DIR] [--checkpoint FILE|DIR] [--key-file FILE]
    kestrel audit checkpoint --out FILE|DIR [--profile DIR] [--key-file FILE]

Exit codes (verify; checkpoint refuses to sign a trail that does not verify, with the same codes):
    0  intact                      1  tampered: names the first bad record and what is wrong
    2  cannot check (no database, not SQLite, unreadable checkpoint, no key)
    3  torn tail: the last record is incomplete, every earlier record intact (a torn write, not tampering)

The checkpoint key (HMAC-SHA256, 32 random bytes), first match wins:
    1. ``--key-file FILE``: the key in hex; ``checkpoint`` creates it (mode 0600) if it does not exist.
    2. ``KESTREL_AUDIT_KEY``: the key in hex.
    3. The OS keyring: service ``kestrel-terminal``, name ``audit-checkpoint-key``; ``checkpoint`` generates
       and stores one on first use. Where no keyring backend exists (headless Linux: keyring raises
       ``NoKeyringError``) the command says so and asks for 1 or 2.
Neither the key nor a checkpoint may live inside the profile: whoever can rewrite the database could then
rewrite them too.

Wiring (app/cli.py): ``add_audit_commands(sub, common)`` in ``build_parser`` and, in ``main``,
``if args.command == "audit": return run_audit_command(args, profile)``. Importing this module is cheap.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.engine.audit.verify import VerifyResult

KEYRING_SERVICE = "kestrel-terminal"
KEYRING_NAME = "audit-checkpoint-key"
KEY_ENV = "KESTREL_AUDIT_KEY"
DB_NAME = "kestrel.db"
EXIT_OK, EXIT_TAMPERED, EXIT_CANNOT, EXIT_TORN = 0, 1, 2, 3


class KeyUnavailable(RuntimeError):
    """No usable checkpoint key; the message says where to put one."""


def add_audit_commands(subparsers: argparse._SubParsersAction,
                       common_parent: argparse.ArgumentParser) -> None:
    """Add ``audit verify`` and ``audit checkpoint`` to the ``kestrel`` parser.

    ``common_parent`` is cli.py's ``_common()`` (adds ``--profile``): ``--profile`` works at every level."""
    audit = subparsers.add_parser("audit", parents=[common_parent], help="verify the audit trail",
                                  description="Check the profile's audit trail; export signed checkpoints.")
    sub = audit.add_subparsers(dest="audit_command", required=True)
    key_help = f"checkpoint key file (hex); default: ${KEY_ENV}, else the OS keyring"
    v = sub.add_parser("verify", parents=[common_parent], help="check the hash chain (and checkpoints)")
    v.add_argument("--checkpoint", type=Path, default=None,
                   help="a checkpoint file, or a folder of them, exported earlier (catches a rebuilt or cut "
                        "chain)")
    v.add_argument("--key-file", type=Path, default=None, help=key_help)
    c = sub.add_parser("checkpoint", parents=[common_parent],
                       help="export a signed checkpoint outside the profile")
    c.add_argument("--out", type=Path, required=True, help="file (or folder) to write, outside the profile")
    c.add_argument("--key-file", type=Path, default=None, help=key_help + " (created if missing)")


def run_audit_command(args: argparse.Namespace, profile: Path) -> int:
    """Dispatch a parsed ``kestrel audit ...`` command; returns the exit code."""
    if args.audit_command == "verify":
        return main_verify(profile, args.checkpoint, args.key_file)
    return main_checkpoint(profile, args.out, args.key_file)


def main_verify(profile: Path, checkpoint: Path | None, key_file: Path | None) -> int:
    """Verify ``<profile>/kestrel.db`` read-only (never modified); print the verdict; return the exit code."""
    from app.engine.audit.checkpoint import CheckpointError
    from app.engine.audit.verify import AuditOpenError, verify

    key = None
    try:
        if checkpoint is not None:
            key, source = resolve_key(key_file, create=False)
            print(f"checkpoint key: {source}")
        result = verify(Path(profile) / DB_NAME, checkpoint, key)
    except (AuditOpenError, CheckpointError, KeyUnavailable) as exc:
        print(f"kestrel audit verify: {exc}", file=sys.stderr)
        return EXIT_CANNOT
    return _report(result)


def main_checkpoint(profile: Path, out: Path, key_file: Path | None) -> int:
    """Verify the trail, then sign its last record into ``out`` (a file, or a folder to put a named file in).

    Refuses (exit 1/3) to sign a trail that does not verify: a checkpoint would bless the damage."""
    from app.engine.audit.checkpoint import Checkpoint, checkpoint_filename
    from app.engine.audit.verify import AuditOpenError, verify

    profile, out = Path(profile), Path(out)
    for what, path in (("--out", out), ("--key-file", key_file)):
        if path is not None and _inside(path, profile):
            print(f"kestrel audit checkpoint: {what} {path} is inside the profile {profile}; keep it "
                  f"elsewhere (whoever can rewrite the database could rewrite it too)", file=sys.stderr)
            return EXIT_CANNOT
    try:
        result = verify(profile / DB_NAME)
        if not result.ok:
            print("not signing a checkpoint over a trail that does not verify:")
            return _report(result)
        if not result.profile_id:
            print("kestrel audit checkpoint: the trail has no genesis record with a profile id",
                  file=sys.stderr)
            return EXIT_CANNOT
        key, source = resolve_key(key_file, create=True)
    except (AuditOpenError, KeyUnavailable) as exc:
        print(f"kestrel audit checkpoint: {exc}", file=sys.stderr)
        return EXIT_CANNOT
    target = out / checkpoint_filename(result.profile_id, result.last_seq) if out.is_dir() else out
    try:
        now_ms = time.time_ns() // 1_000_000
        cp = Checkpoint.sign(result.profile_id, result.last_seq, result.last_hash, now_ms, key).write(target)
    except OSError as exc:
        print(f"kestrel audit checkpoint: cannot write {target}: {exc}", file=sys.stderr)
        return EXIT_CANNOT
    print(f"checkpoint key: {source}")
    print(f"checkpoint written: {target} (seq {cp.seq}, hash {cp.hash[:16]}…, key id {cp.key_id})")
    return EXIT_OK


def _report(result: "VerifyResult") -> int:
    if result.ok:
        extra = f"; matches the signed checkpoint at seq {result.checkpoint_seq}" \
            if result.checkpoint_seq else ""
        print(f"audit trail intact: {result.records} records, last seq {result.last_seq}, "
              f"hash {result.last_hash[:16]}…{extra}")
        return EXIT_OK
    if result.torn_tail:
        print(f"audit trail: TORN WRITE at seq {result.first_bad_seq}, not tampering: {result.problem}. "
              f"{result.records} earlier records intact (last good seq {result.last_seq}).")
        return EXIT_TORN
    if result.first_bad_seq is None:  # the chain is whole but a checkpoint does not vouch for it
        print(f"audit trail NOT VERIFIED against the checkpoint: {result.problem} "
              f"({result.records} records chain correctly)")
        return EXIT_TAMPERED
    print(f"audit trail TAMPERED: first bad record: seq {result.first_bad_seq}: {result.problem} "
          f"({result.records} records verified before it)")
    return EXIT_TAMPERED


def _inside(path: Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def _parse_hex(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyUnavailable(f"the checkpoint key in {where} is not hex") from None
    if len(key) < 16:
        raise KeyUnavailable(f"the checkpoint key in {where} is too short (need >= 16 bytes, 32 recommended)")
    return key


def resolve_key(key_file: Path | None, create: bool) -> tuple[bytes, str]:
    """Find the checkpoint key (see the module docstring for the order); ``create`` makes one where allowed.

    Returns ``(key, where it came from)``; raises ``KeyUnavailable`` with what to do instead."""
    if key_file is not None:
        return _key_from_file(Path(key_file), create)
    if os.environ.get(KEY_ENV):
        return _parse_hex(os.environ[KEY_ENV], f"${KEY_ENV}"), f"${KEY_ENV}"
    try:
        import keyring

        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_NAME)
        if stored:
            return _parse_hex(stored, "the OS keyring"), f"OS keyring ({KEYRING_SERVICE}/{KEYRING_NAME})"
        if not create:
            raise KeyUnavailable(f"no checkpoint key in the OS keyring ({KEYRING_SERVICE}/{KEYRING_NAME}); "
                                 f"the first `kestrel audit checkpoint` creates it; or pass --key-file / "
                                 f"${KEY_ENV}")
        key = secrets.token_bytes(32)
        keyring.set_password(KEYRING_SERVICE, KEYRING_NAME, key.hex())
        return key, f"OS keyring ({KEYRING_SERVICE}/{KEYRING_NAME}, new key generated)"
    except KeyUnavailable:
        raise
    except Exception as exc:  # NoKeyringError, KeyringError, a broken backend, keyring not installed
        raise KeyUnavailable(
            f"no OS keyring is available for the checkpoint key ({type(exc).__name__}: {exc}). This is "
            f"common on a headless Linux machine. Use --key-file FILE (hex; `kestrel audit checkpoint` "
            f"creates it) or set {KEY_ENV} to the key in hex, and keep it outside the profile.") from None


def _key_from_file(key_file: Path, create: bool) -> tuple[bytes, str]:
    try:
        if key_file.exists():
            return _parse_hex(key_file.read_text(encoding="ascii", errors="replace"), str(key_file)), \
                f"file {key_file}"
        if not create:
            raise KeyUnavailable(f"key file {key_file} does not exist (`kestrel audit checkpoint` makes it)")
        key = secrets.token_bytes(32)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key.hex() + "\n")
    except OSError as exc:
        raise KeyUnavailable(f"cannot use key file {key_file}: {exc}") from None
    return key, f"file {key_file} (new key generated: keep this file safe, outside the profile)"
