"""Journeys: every dialog a journey shows is recorded, so ``test_zz_every_dialog_is_shown`` can tell which
dialogs of ``app/widgets`` no journey ever put in front of a person."""
from __future__ import annotations

import asyncio

import pytest

from tests.kit.journeys import RAN, SHOWN


@pytest.fixture
def no_os_keyring(monkeypatch):
    """Keys go to the profile's encrypted file (passphrase from the environment), never a real keyring."""
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setenv("KESTREL_CREDENTIALS_PASSPHRASE", "journey passphrase")
    yield
    keyring.set_keyring(before)


@pytest.fixture(scope="session", autouse=True)
def _record_dialogs(qapp):
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QDialog

    show = QEvent.Type.Show

    class Recorder(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == show and isinstance(obj, QDialog):
                SHOWN.add((type(obj).__name__, obj.windowTitle()))
            return False

    recorder = Recorder()
    qapp.installEventFilter(recorder)
    yield
    qapp.removeEventFilter(recorder)


@pytest.fixture(autouse=True)
def _record_module(request):
    RAN.add(request.module.__name__.rsplit(".", 1)[-1])
    yield


@pytest.fixture
def run_async(qapp):
    """Run a coroutine on a qasync loop: Qt events and asyncio tasks interleave as in the app."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield lambda coro, timeout=120: loop.run_until_complete(asyncio.wait_for(coro, timeout))
    loop.close()  # joins its executor's threads (name lookups)
    asyncio.set_event_loop(None)
