"""Credentials: the OS keyring path (an in-memory keyring backend stands in for the OS one, which this box
lacks) and the encrypted-file fallback."""
from __future__ import annotations

import json

import pytest

from app.engine.venues.credentials import (
    SERVICE, CredentialError, Credentials, CredentialStore, NoKeyringError, keyring_available,
)
from app.engine.venues.venue_config import VenueConfigError, parse_config

SECRET = "s3cret-PLANTED-0000-abcdef"




def test_keyring_path_uses_the_kestrel_service(profile, memory_keyring):
    store = CredentialStore(profile)
    assert store.uses_keyring and keyring_available()[0]
    store.set("binance", Credentials("key-123456789", SECRET))
    store.set("okx", Credentials("okx-key-987654", "okx-secret", "pass-phrase"))
    assert memory_keyring.items[(SERVICE, "binance:secret")] == SECRET
    assert store.list() == ["binance", "okx"]
    assert store.get("okx").password == "pass-phrase"
    assert store.delete("binance") and store.get("binance") is None and store.list() == ["okx"]
    assert not (profile / "credentials.enc").exists()




def test_encrypted_file_fallback(profile, no_keyring):
    assert not keyring_available()[0]
    bare = CredentialStore(profile)
    assert bare.needs_passphrase
    with pytest.raises(NoKeyringError, match="No OS keyring backend is available"):
        bare.get("binance")
    store = CredentialStore(profile, passphrase="a long passphrase")
    store.set("binance", Credentials("key-123456789", SECRET))
    data = (profile / "credentials.enc").read_bytes()
    assert SECRET.encode() not in data and b"key-123456789" not in data
    doc = json.loads(data)
    assert doc["kdf"] == "scrypt" and doc["n"] == 2 ** 15
    assert CredentialStore(profile, passphrase="a long passphrase").get("binance").secret == SECRET
    with pytest.raises(CredentialError, match="Wrong passphrase") as err:
        CredentialStore(profile, passphrase="wrong").get("binance")
    assert SECRET not in str(err.value)


def test_secrets_hidden_in_repr_and_refused_in_configs():
    c = Credentials("key-123456789", SECRET, "pw")
    assert SECRET not in repr(c) and SECRET not in str(c) and "…6789" in repr(c)
    with pytest.raises(VenueConfigError, match="do not belong in a venue config"):
        parse_config({"name": "binance", "exchange": "binance", "ccxt": {"secret": SECRET}})
