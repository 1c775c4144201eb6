"""Keyrings for tests: an in-memory one (``memory_keyring``: as usable as an OS keyring, for one test) and keyring's
own "nothing available" backend (``no_keyring``: the encrypted-file fallbacks). Never the machine's keyring."""
from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend


class MemoryKeyring(KeyringBackend):
    priority = -1  # never picked by keyring's own discovery (subclasses register themselves)

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        if (service, username) not in self.items:
            raise keyring.errors.PasswordDeleteError(username)
        del self.items[(service, username)]


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    kr = MemoryKeyring()
    kr.priority = 5  # as usable as an OS keyring, for this test only
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(before)


@pytest.fixture
def no_keyring():
    """keyring's own "nothing available" backend, as on a box without a Secret Service."""
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)
