"""What the journeys showed in this session (filled by tests/journeys/conftest.py, read by
test_zz_every_dialog_is_shown.py): one module object, so both see the same sets."""
from __future__ import annotations

#: (class name, window title) of every dialog shown during this session's journeys
SHOWN: set[tuple[str, str]] = set()
#: the journey modules that ran in this session
RAN: set[str] = set()
