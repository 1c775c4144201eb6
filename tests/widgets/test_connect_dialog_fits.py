"""The Connect dialog fits a 1366x768 laptop screen whatever the profile's path. Its key-state line names
the encrypted keys file (where no OS keyring exists) and did not wrap: on a profile 160 characters deep the
dialog opened 1672 px wide, its buttons off a laptop's screen. Found by the self-test's Venues step."""
from __future__ import annotations

import pytest

from app.cli.selftest.hands import fits_small_screen

DEEP = "a-rather-long-folder-name-for-a-trader-profile/with/several/levels/of/folders/as/on/a/corporate/roaming/Kestrel"


@pytest.fixture
def no_os_keyring():
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


def test_the_connect_dialog_fits_a_laptop_screen_on_a_deep_profile(qtbot, make_kernel, tmp_path, no_os_keyring):
    from app.engine.venues.credentials import CredentialStore
    from app.widgets.panels.venue_dialogs import ConnectDialog

    profile = tmp_path / DEEP
    kernel = make_kernel(profile)
    store = CredentialStore(profile)
    dialog = ConnectDialog(kernel.port, store, lambda cfg, creds: None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert str(profile / "credentials.enc") in dialog.key_state.text()  # the long line is there
    assert fits_small_screen(dialog, "the Connect dialog").endswith("fits 1366x768")  # its buttons inside it
