"""What the journeys showed in this session (filled by tests/journeys/conftest.py, read by
test_zz_every_dialog_is_shown.py). A module of its own: every test folder has a ``conftest``."""
from __future__ import annotations

#: (class name, window title) of every dialog shown during this session's journeys
SHOWN: set[tuple[str, str]] = set()
#: the journey modules that ran in this session
RAN: set[str] = set()
