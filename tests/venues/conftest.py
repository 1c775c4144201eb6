"""Fixtures for venue tests: the fake Binance on 127.0.0.1, a real kernel on a real profile, an event loop."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_binance import FakeBinance  # noqa: E402,F401
from venue_kit import KEY, SECRET, Session, make_fake, no_internet, run, until  # noqa: E402,F401


@pytest.fixture
def fake_factory():
    return make_fake
