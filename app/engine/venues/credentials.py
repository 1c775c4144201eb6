"""API credentials: the OS keyring (service ``kestrel-terminal``), or an encrypted file where none exists.

Keyring entries: ``<venue>:apiKey``, ``<venue>:secret``, ``<venue>:password`` (optional), and an index
``__venues__`` (venue names only) because keyring cannot list. Where no keyring backend exists (a bare
Linux box: keyring reports its ``fail`` backend), ``CredentialStore`` says so clearly and, given a
passphrase, uses ``<profile>/credentials.enc`` instead: one Fernet token (AES-128-CBC + HMAC-SHA256) whose
key is derived from the passphrase by scrypt (n=2**15, r=8, p=1) with a random salt, written 0600. The
passphrase comes from the caller (a prompt, the Connect dialog) or ``KESTREL_CREDENTIALS_PASSPHRASE`` for
unattended runs; it is never stored.

Secrets never reach the database, the logs, settings, exception text or the screen: ``Credentials`` hides
them in ``repr``, errors name the venue and the backend only, and ``masked`` shows the last 4 characters of
the key alone.
"""
from __future__ import annotations

import base64
import json
import os
import secrets as _secrets
from dataclasses import dataclass, field
from pathlib import Path

SERVICE = "kestrel-terminal"
PASSPHRASE_ENV = "KESTREL_CREDENTIALS_PASSPHRASE"
_INDEX = "__venues__"


class CredentialError(RuntimeError):
    """What went wrong and what to do; never contains a secret."""


class NoKeyringError(CredentialError):
    """No OS keyring backend: the encrypted-file fallback needs a passphrase."""


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.masked})"

    __str__ = __repr__

    @property
    def masked(self) -> str:
        return f"…{self.api_key[-4:]}" if len(self.api_key) > 8 else "****"


def keyring_available() -> tuple[bool, str]:
    """(usable, backend description). The ``fail`` and ``null`` backends, or priority < 1, are unusable."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception as exc:  # noqa: BLE001 - a broken keyring install is "no keyring"
        return False, f"keyring unavailable ({type(exc).__name__})"
    kr = keyring.get_keyring()
    name = f"{type(kr).__module__}.{type(kr).__name__}"
    if isinstance(kr, fail.Keyring) or "null" in name.lower():
        return False, name
    try:
        priority = float(getattr(kr, "priority", 1))
    except Exception:  # noqa: BLE001
        priority = 1.0
    chained = getattr(kr, "backends", None)
    if chained is not None and not list(chained):
        return False, name
    return priority >= 1 or chained is not None, name


class _KeyringBackend:
    name = "OS keyring"

    def __init__(self) -> None:
        import keyring

        self._kr = keyring

    def get(self, venue: str) -> Credentials | None:
        key = self._kr.get_password(SERVICE, f"{venue}:apiKey")
        secret = self._kr.get_password(SERVICE, f"{venue}:secret")
        if not key or not secret:
            return None
        return Credentials(key, secret, self._kr.get_password(SERVICE, f"{venue}:password") or None)

    def set(self, venue: str, creds: Credentials) -> None:
        self._kr.set_password(SERVICE, f"{venue}:apiKey", creds.api_key)
        self._kr.set_password(SERVICE, f"{venue}:secret", creds.secret)
        if creds.password:
            self._kr.set_password(SERVICE, f"{venue}:password", creds.password)
        else:
            self._delete_quietly(f"{venue}:password")
        self._write_index(sorted(set(self.list()) | {venue}))

    def delete(self, venue: str) -> bool:
        had = self.get(venue) is not None
        for part in ("apiKey", "secret", "password"):
            self._delete_quietly(f"{venue}:{part}")
        self._write_index([v for v in self.list() if v != venue])
        return had

    def list(self) -> list[str]:
        raw = self._kr.get_password(SERVICE, _INDEX)
        try:
            return sorted(json.loads(raw)) if raw else []
        except (ValueError, TypeError):
            return []

    def _write_index(self, venues: list[str]) -> None:
        self._kr.set_password(SERVICE, _INDEX, json.dumps(venues))

    def _delete_quietly(self, user: str) -> None:
        try:
            self._kr.delete_password(SERVICE, user)
        except Exception:  # noqa: BLE001 - "not found" differs per backend
            pass


class _EncryptedFileBackend:
    """All venues' credentials in one encrypted JSON document."""

    name = "encrypted file"
    N, R, P = 2 ** 15, 8, 1

    def __init__(self, path: Path, passphrase: str) -> None:
        if not passphrase:
            raise NoKeyringError("An empty passphrase cannot protect the credentials file.")
        self.path = Path(path)
        self._passphrase = passphrase

    def _fernet(self, salt: bytes, n: int, r: int, p: int):
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(self._passphrase.encode("utf-8"))
        return Fernet(base64.urlsafe_b64encode(key))

    def _load(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        from cryptography.fernet import InvalidToken

        try:
            doc = json.loads(self.path.read_text())
            salt = base64.b64decode(doc["salt"])
            f = self._fernet(salt, int(doc["n"]), int(doc["r"]), int(doc["p"]))
            return json.loads(f.decrypt(doc["token"].encode("ascii")))
        except InvalidToken:
            raise CredentialError(f"Wrong passphrase for {self.path} (or the file was altered).") from None
        except (ValueError, KeyError, TypeError, OSError):
            raise CredentialError(f"{self.path} is not a Kestrel credentials file (damaged?). Move it away "
                                  f"and store the keys again.") from None

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        salt = _secrets.token_bytes(16)
        token = self._fernet(salt, self.N, self.R, self.P).encrypt(json.dumps(data).encode("utf-8"))
        doc = {"format": "kestrel-credentials", "version": 1, "kdf": "scrypt", "n": self.N, "r": self.R,
               "p": self.P, "salt": base64.b64encode(salt).decode("ascii"), "token": token.decode("ascii")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(doc))
        os.replace(tmp, self.path)
        os.chmod(self.path, 0o600)

    def get(self, venue: str) -> Credentials | None:
        entry = self._load().get(venue)
        if not entry:
            return None
        return Credentials(entry["apiKey"], entry["secret"], entry.get("password") or None)

    def set(self, venue: str, creds: Credentials) -> None:
        data = self._load()
        data[venue] = {"apiKey": creds.api_key, "secret": creds.secret}
        if creds.password:
            data[venue]["password"] = creds.password
        self._save(data)

    def delete(self, venue: str) -> bool:
        data = self._load()
        had = data.pop(venue, None) is not None
        if had:
            self._save(data)
        return had

    def list(self) -> list[str]:
        return sorted(self._load())


class CredentialStore:
    """``get/set/delete/list`` on the keyring, or on the encrypted file when no keyring exists."""

    def __init__(self, profile: Path, passphrase: str | None = None, *,
                 use_keyring: bool | None = None) -> None:
        self.profile = Path(profile)
        self.file = self.profile / "credentials.enc"
        self._use_keyring = use_keyring
        self._keyring_name = ""
        self._passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
        self._backend: _KeyringBackend | _EncryptedFileBackend | None = None

    def _probe(self) -> None:
        """Ask keyring which backend it has (its import costs ~0.2 s: done on first use, not at start-up)."""
        if not self._keyring_name:
            usable, self._keyring_name = keyring_available()
            if self._use_keyring is None:
                self._use_keyring = usable

    @property
    def uses_keyring(self) -> bool:
        self._probe()
        return bool(self._use_keyring)

    @property
    def keyring_name(self) -> str:
        self._probe()
        return self._keyring_name

    @property
    def needs_passphrase(self) -> bool:
        return not self.uses_keyring and not self._passphrase

    def describe(self) -> str:
        if self.uses_keyring:
            return f"OS keyring ({self.keyring_name}), service {SERVICE!r}"
        return f"encrypted file {self.file} (no OS keyring backend: {self.keyring_name})"

    def no_keyring_message(self) -> str:
        return (f"No OS keyring backend is available (keyring reports {self.keyring_name}). Kestrel can "
                f"keep API keys in an encrypted file, {self.file}, protected by a passphrase you choose "
                f"(asked each time, or from the {PASSPHRASE_ENV} environment variable for unattended runs). "
                f"To use the OS keyring instead, install and unlock a Secret Service (gnome-keyring, "
                f"KWallet) or another keyring backend.")

    def with_passphrase(self, passphrase: str) -> "CredentialStore":
        self._passphrase = passphrase
        self._backend = None
        return self

    def _get_backend(self):
        if self._backend is None:
            if self.uses_keyring:
                self._backend = _KeyringBackend()
            elif not self._passphrase:
                raise NoKeyringError(self.no_keyring_message())
            else:
                self._backend = _EncryptedFileBackend(self.file, self._passphrase)
        return self._backend

    def get(self, venue: str) -> Credentials | None:
        return self._wrap("read", venue, lambda b: b.get(venue))

    def set(self, venue: str, creds: Credentials) -> None:
        if not creds.api_key.strip() or not creds.secret.strip():
            raise CredentialError("Both the API key and the secret are needed.")
        self._wrap("store", venue, lambda b: b.set(venue, creds))

    def delete(self, venue: str) -> bool:
        return self._wrap("delete", venue, lambda b: b.delete(venue))

    def list(self) -> list[str]:
        return self._wrap("list", "", lambda b: b.list())

    def _wrap(self, what: str, venue: str, fn):
        backend = self._get_backend()
        try:
            return fn(backend)
        except CredentialError:
            raise
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own types; hide their text
            where = f" for {venue}" if venue else ""
            raise CredentialError(f"Could not {what} the credentials{where} in the {backend.name} "
                                  f"({type(exc).__name__}). Check that the keyring is unlocked.") from None
