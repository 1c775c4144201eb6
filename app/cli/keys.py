"""``kestrel keys set|delete|list [VENUE]``: API credentials in the OS keyring (service ``kestrel-terminal``).

The secret is read from stdin (a hidden prompt on a terminal, or piped: ``printf '%s\\n%s\\n' KEY SECRET |
kestrel keys set binance``), never from argv, where it would land in shell history and ``ps``. With no
keyring backend, the encrypted-file fallback asks for its passphrase (or reads
KESTREL_CREDENTIALS_PASSPHRASE).
Nothing printed here ever contains a secret: ``list`` shows venue names and the last 4 characters of keys.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def add_keys_commands(sub, common: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", parents=[common], help="API keys in the OS keyring (secret from stdin)")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    s = ksub.add_parser("set", parents=[common], help="store the API key and secret of VENUE (from stdin)")
    s.add_argument("venue")
    s.add_argument("--with-password", action="store_true", help="also read a passphrase/password (OKX, ...)")
    d = ksub.add_parser("delete", parents=[common], help="remove the credentials of VENUE")
    d.add_argument("venue")
    ksub.add_parser("list", parents=[common], help="venues with stored credentials (keys masked)")


def _read(prompt: str, interactive: bool) -> str:
    if interactive:
        return getpass.getpass(prompt, stream=sys.stderr)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def open_store(profile: Path, *, interactive: bool | None = None, confirm: bool = False):
    """The credential store for ``profile``; asks for the fallback passphrase when needed (stderr prompt)."""
    from app.engine.venues.credentials import CredentialStore

    store = CredentialStore(profile)
    if not store.uses_keyring:
        print(f"kestrel keys: {store.no_keyring_message()}", file=sys.stderr)
    if store.needs_passphrase:
        tty = sys.stdin.isatty() if interactive is None else interactive
        if not tty:
            raise SystemExit("kestrel keys: no passphrase: set KESTREL_CREDENTIALS_PASSPHRASE for unattended "
                             "use, or run this in a terminal.")
        phrase = getpass.getpass("Passphrase for the credentials file: ", stream=sys.stderr)
        if confirm and not store.file.exists():
            if getpass.getpass("Repeat the passphrase: ", stream=sys.stderr) != phrase:
                raise SystemExit("kestrel keys: the passphrases differ; nothing was stored.")
        store.with_passphrase(phrase)
    return store


def main_keys(args: argparse.Namespace, profile: Path) -> int:
    from app.engine.venues.credentials import CredentialError, Credentials

    try:
        interactive = sys.stdin.isatty()
        store = open_store(profile, interactive=interactive, confirm=args.keys_command == "set")
        if args.keys_command == "list":
            venues = store.list()
            if not venues:
                print(f"no credentials stored ({store.describe()})")
            for venue in venues:
                creds = store.get(venue)
                print(f"{venue:<20} key {creds.masked if creds else '?'}")
            return 0
        venue = args.venue.strip().lower()
        if args.keys_command == "delete":
            had = store.delete(venue)
            print(f"{venue}: credentials deleted" if had else f"{venue}: no credentials were stored")
            return 0
        key = _read(f"API key for {venue}: ", interactive).strip()
        secret = _read(f"API secret for {venue}: ", interactive).strip()
        password = _read(f"API password/passphrase for {venue}: ", interactive).strip() \
            if args.with_password else None
        if not key or not secret:
            print("kestrel keys: both the API key and the secret are needed (one per line on stdin)",
                  file=sys.stderr)
            return 2
        creds = Credentials(key, secret, password or None)
        store.set(venue, creds)
        print(f"{venue}: credentials stored in the {store.describe()} (key {creds.masked})")
        return 0
    except CredentialError as exc:
        print(f"kestrel keys: {exc}", file=sys.stderr)
        return 2
