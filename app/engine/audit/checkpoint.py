"""Signed checkpoints of the audit trail, kept OUTSIDE the profile.

Why: a hash chain proves that records are consistent with each other, not that they are the records that were
written. Someone who can write the database can change a record and recompute every later hash (a "rebuilt
chain"), or cut the tail off. A checkpoint pins (profile id, seq, hash) at a moment, signed with a key the
tamperer does not have; ``verify`` then catches a rebuilt chain (hash at the checkpoint's seq differs), a
truncated trail (shorter than the checkpoint) and a forged checkpoint (signature fails).

File (UTF-8 JSON, one object): ``format`` ("kestrel-audit-checkpoint/1"), ``profile_id``, ``seq``,
``hash``, ``ts_utc_ms`` (when it was signed), ``key_id`` (first 16 hex of sha256 over a tag and the key: tells
"another key" from "forged" in messages, reveals nothing usable), ``signature`` = hex HMAC-SHA256(key, body),
where body is the canonical JSON (sorted keys, no spaces) of every other field. Keys are >= 16 random bytes
supplied by the caller; the CLI keeps one in the OS keyring (``app.cli.audit``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

FORMAT = "kestrel-audit-checkpoint/1"
MIN_KEY_BYTES = 16


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or used (missing, not JSON, wrong format). Not tamper evidence."""


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key."""
    return hashlib.sha256(b"kestrel-audit-key-id\n" + key).hexdigest()[:16]


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"an audit checkpoint key must be at least {MIN_KEY_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    profile_id: str
    seq: int
    hash: str
    ts_utc_ms: int
    key_id: str
    signature: str
    path: Path | None = field(default=None, compare=False)  # where it was read from / written to

    def body(self) -> bytes:
        """The signed bytes: canonical JSON of every field except ``signature`` and ``path``."""
        doc = {"format": FORMAT, "profile_id": self.profile_id, "seq": self.seq, "hash": self.hash,
               "ts_utc_ms": self.ts_utc_ms, "key_id": self.key_id}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def sign(cls, profile_id: str, seq: int, hash: str, ts_utc_ms: int, key: bytes) -> "Checkpoint":
        _check_key(key)
        unsigned = cls(profile_id, int(seq), hash, int(ts_utc_ms), key_id(key), "")
        sig = hmac.new(bytes(key), unsigned.body(), hashlib.sha256).hexdigest()
        return cls(profile_id, int(seq), hash, int(ts_utc_ms), unsigned.key_id, sig)

    def signature_ok(self, key: bytes) -> bool:
        """True only if this checkpoint was signed with ``key`` and no field changed since."""
        _check_key(key)
        want = hmac.new(bytes(key), self.body(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, self.signature)

    def to_json(self) -> str:
        doc = {k: v for k, v in asdict(self).items() if k != "path"}
        return json.dumps({"format": FORMAT, **doc}, sort_keys=True, indent=1) + "\n"

    def write(self, path: Path) -> "Checkpoint":
        """Write atomically (temp file, fsync, rename): a crash leaves the old file or the new one."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return replace(self, path=path)

    @classmethod
    def load(cls, path: Path) -> "Checkpoint":
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint file {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"checkpoint file {path} cannot be read as JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a Kestrel audit checkpoint (format {FORMAT!r} expected)")
        try:
            seq, ts = doc["seq"], doc["ts_utc_ms"]
            if type(seq) is not int or type(ts) is not int:
                raise TypeError("seq and ts_utc_ms must be integers")
            return cls(str(doc["profile_id"]), seq, str(doc["hash"]), ts, str(doc["key_id"]),
                       str(doc["signature"]), path)
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint file {path} is incomplete ({exc})") from None


def checkpoint_filename(profile_id: str, seq: int) -> str:
    """``audit-<profile id prefix>-<seq, zero padded>.json``: sorts by seq in a directory listing."""
    return f"audit-{profile_id[:12]}-{seq:012d}.json"


def load_checkpoints(path: Path) -> list[Checkpoint]:
    """One checkpoint file, or every ``*.json`` checkpoint in a directory, sorted by seq."""
    path = Path(path)
    if path.is_dir():
        found = [Checkpoint.load(p) for p in sorted(path.glob("*.json"))]
        if not found:
            raise CheckpointError(f"no checkpoint files (*.json) in {path}")
        return sorted(found, key=lambda c: c.seq)
    return [Checkpoint.load(path)]


def latest_checkpoint_seq(directory: Path, profile_id: str) -> int:
    """Highest seq checkpointed for ``profile_id`` in ``directory`` (0 if none; unreadable files skipped)."""
    best = 0
    directory = Path(directory)
    if directory.is_dir():
        for p in directory.glob(f"audit-{profile_id[:12]}-*.json"):
            try:
                cp = Checkpoint.load(p)
            except CheckpointError:
                continue
            if cp.profile_id == profile_id:
                best = max(best, cp.seq)
    return best
