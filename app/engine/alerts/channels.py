"""Notification channels: a name and an apprise URL, checked by apprise when added, kept in the OS keyring.

A channel URL carries its credentials (a bot token, a webhook secret, a password), so it is kept like a venue's
API key (app/engine/venues/credentials.py): in the OS keyring under the service ``kestrel-alerts`` (one entry
per channel, plus an index of names because keyring cannot list), or, where no keyring backend exists, in
``<profile>/channels.enc``, encrypted with the same scheme and passphrase as the venue credentials file. It never
reaches the database, a config file or a log; ``list()`` shows ``tgram://***`` or ``json://127.0.0.1:8080/***``.

Apprise is imported on first use: its import and first URL parse (it loads ~190 plugins) take ~0.4 s.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from app.engine.alerts.redaction import MASK, guard_library_logs, redact, remember, split_url
from app.engine.venues.credentials import (
    PASSPHRASE_ENV, CredentialError, NoKeyringError, _EncryptedFileBackend, keyring_available,
)

SERVICE = "kestrel-alerts"
_INDEX = "__channels__"
_NAME = re.compile(r"^[^\W_][\w .@+-]{0,63}$")
SERVICES_HELP = "https://github.com/caronc/apprise/wiki"


class ChannelError(ValueError):
    """What is wrong with a channel and what to do; never contains a secret."""


class _ThreadCapture(logging.Handler):
    """apprise's warnings and errors raised by this thread only (its logger is shared by every thread)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(redact(record.getMessage()))


def instantiate(url: str) -> tuple[Any, str]:
    """(apprise plugin, "") for a URL apprise understands, else (None, a sentence saying why)."""
    text = (url or "").strip()
    if not text:
        return None, "A notification URL is needed, for example ntfy://my-topic or tgram://BOT_TOKEN/CHAT_ID."
    parts = split_url(text)
    if parts is None:
        return None, ("This is not a notification URL: it starts with a service's scheme, such as tgram://, "
                      "ntfy://, discord://, mailto:// or json:// (see " + SERVICES_HELP + ").")
    scheme = parts[0]
    remember(text)  # before apprise reads it: its TRACE lines print every part
    guard_library_logs()
    import apprise

    manager = apprise.NotificationManager()
    if scheme in manager and not manager[scheme].enabled:
        return None, (f"{scheme}:// cannot be used on this computer: apprise reports it disabled (a library it "
                      f"needs is missing).")
    capture = _ThreadCapture()
    logger = logging.getLogger("apprise")
    logger.addHandler(capture)
    try:
        plugin = apprise.Apprise.instantiate(text, asset=make_asset())
    except Exception as exc:  # noqa: BLE001 - a plugin's own refusal; its text is redacted below
        plugin, capture.lines = None, [*capture.lines, redact(exc)]
    finally:
        logger.removeHandler(capture)
    if plugin is not None:
        return plugin, ""
    said = " ".join(dict.fromkeys(line.rstrip(".") + "." for line in capture.lines if line))
    if scheme not in manager and scheme in ("http", "https"):
        return None, ("apprise does not recognise this web address as a service's own URL; for a plain "
                      "webhook write it as json://host/path (or jsons:// for https).")
    if scheme not in manager:
        return None, f"apprise does not know the service {scheme}://; the services and their URLs: {SERVICES_HELP}."
    return None, (f"apprise knows {scheme}:// but cannot use this URL: a part is missing or malformed"
                  + (f" ({said})" if said else "") + f". The URL forms of each service: {SERVICES_HELP}.")


def make_asset() -> Any:
    """apprise's settings for Kestrel: in-memory state only (nothing written to disk), secrets masked in its
    own log lines."""
    import apprise

    return apprise.AppriseAsset(app_id="Kestrel", app_desc="Kestrel trading terminal", storage_mode="memory",
                                secure_logging=True)


def validate_url(url: str) -> str | None:
    """None if apprise understands ``url``, else a sentence for the trader (never echoing the URL)."""
    return instantiate(url)[1] or None


def mask_url(url: str) -> str:
    """The URL with only its scheme and, where it names one, its host: ``tgram://***``,
    ``json://127.0.0.1:8080/***``."""
    parts = split_url(url or "")
    if parts is None:
        return MASK
    plugin, _ = instantiate(url)
    templates = getattr(plugin, "templates", ()) or ()
    host = getattr(plugin, "host", None) if any("{host}" in t for t in templates) else None
    if not host:
        return f"{parts[0]}://{MASK}"
    port = getattr(plugin, "port", None)
    return f"{parts[0]}://{host}{f':{port}' if port else ''}/{MASK}"


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ChannelError("A channel name is 1 to 64 letters, digits, spaces or . @ + - _ , starting with a "
                           "letter or digit (for example: phone, desk-telegram).")
    return name


class _KeyringChannels:
    name = "OS keyring"

    def __init__(self) -> None:
        import keyring

        self._kr = keyring

    def get(self, name: str) -> str | None:
        return self._kr.get_password(SERVICE, name) or None

    def set(self, name: str, url: str) -> None:
        self._kr.set_password(SERVICE, name, url)
        self._write_index(sorted(set(self.names()) | {name}))

    def delete(self, name: str) -> bool:
        had = self.get(name) is not None
        try:
            self._kr.delete_password(SERVICE, name)
        except Exception:  # noqa: BLE001 - "not found" differs per backend
            pass
        self._write_index([n for n in self.names() if n != name])
        return had

    def names(self) -> list[str]:
        raw = self._kr.get_password(SERVICE, _INDEX)
        try:
            return sorted(json.loads(raw)) if raw else []
        except (ValueError, TypeError):
            return []

    def _write_index(self, names: list[str]) -> None:
        self._kr.set_password(SERVICE, _INDEX, json.dumps(names))


class _FileChannels(_EncryptedFileBackend):
    """The venue credentials' encrypted-file format, holding ``{name: {"url": url}}``."""

    def get(self, name: str) -> str | None:  # type: ignore[override]
        entry = self._load().get(name)
        return entry.get("url") if entry else None

    def set(self, name: str, url: str) -> None:  # type: ignore[override]
        data = self._load()
        data[name] = {"url": url}
        self._save(data)

    def names(self) -> list[str]:
        return sorted(self._load())


class ChannelStore:
    """name -> apprise URL in the OS keyring (or ``channels.enc`` where none exists). Every call may block on
    the keyring (D-Bus) or on scrypt: call it off the loop."""

    def __init__(self, profile: Path, passphrase: str | None = None, *, use_keyring: bool | None = None) -> None:
        self.profile = Path(profile)
        self.file = self.profile / "channels.enc"
        self._use_keyring = use_keyring
        self._passphrase = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
        self._backend: _KeyringChannels | _FileChannels | None = None
        self._keyring_name = ""

    @property
    def uses_keyring(self) -> bool:
        if not self._keyring_name:
            usable, self._keyring_name = keyring_available()
            if self._use_keyring is None:
                self._use_keyring = usable
        return bool(self._use_keyring)

    def describe(self) -> str:
        if self.uses_keyring:
            return f"OS keyring ({self._keyring_name}), service {SERVICE!r}"
        return f"encrypted file {self.file} (no OS keyring backend: {self._keyring_name})"

    def add(self, name: str, url: str) -> None:
        """Store (or replace) a channel; a URL apprise does not understand raises ``ChannelError``."""
        name = check_name(name)
        reason = validate_url(url)
        if reason:
            raise ChannelError(reason)
        self._wrap("store", lambda b: b.set(name, url.strip()))

    def ensure(self, url: str) -> str:
        """The name of the channel holding ``url``, storing it under a new name (its scheme) if none does."""
        reason = validate_url(url)
        if reason:
            raise ChannelError(reason)
        url = url.strip()
        existing = self.urls()
        for name, known in existing.items():
            if known == url:
                return name
        scheme = split_url(url)[0]  # type: ignore[index] - validated above
        name = next(n for n in (scheme, *(f"{scheme}-{i}" for i in range(2, 10_000))) if n not in existing)
        self._wrap("store", lambda b: b.set(name, url))
        return name

    def get(self, name: str) -> str | None:
        url = self._wrap("read", lambda b: b.get(name))
        if url:
            remember(url)
        return url

    def remove(self, name: str) -> bool:
        return self._wrap("delete", lambda b: b.delete(name))

    def names(self) -> list[str]:
        return self._wrap("list", lambda b: b.names())

    def urls(self) -> dict[str, str]:
        """Every channel's URL, for the deliverer (kept in memory only)."""
        out = {}
        for name in self.names():
            url = self.get(name)
            if url:
                out[name] = url
        return out

    def list(self) -> list[tuple[str, str]]:
        """(name, masked URL) of every channel, for the settings and ``kestrel alerts channels``."""
        return [(name, mask_url(url)) for name, url in self.urls().items()]

    def _backend_for(self) -> _KeyringChannels | _FileChannels:
        if self._backend is None:
            if self.uses_keyring:
                self._backend = _KeyringChannels()
            elif not self._passphrase:
                raise NoKeyringError(
                    f"No OS keyring backend is available (keyring reports {self._keyring_name}). Kestrel can "
                    f"keep notification channels in an encrypted file, {self.file}, protected by a passphrase "
                    f"(asked each time, or from {PASSPHRASE_ENV} for unattended runs), or in a Secret Service "
                    f"(gnome-keyring, KWallet) once one is installed and unlocked.")
            else:
                self._backend = _FileChannels(self.file, self._passphrase)
        return self._backend

    def _wrap(self, what: str, fn):
        backend = self._backend_for()
        try:
            return fn(backend)
        except CredentialError:
            raise
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own types; hide their text
            raise CredentialError(f"Could not {what} the notification channels in the {backend.name} "
                                  f"({type(exc).__name__}). Check that the keyring is unlocked.") from None
