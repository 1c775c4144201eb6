"""Fixtures for venue tests: the fake Binance on 127.0.0.1, a real kernel on a real profile, an event loop."""
from __future__ import annotations

import pytest

from tests.kit.venues import make_fake, no_internet  # noqa: F401 (no_internet: autouse)


@pytest.fixture
def fake_factory():
    return make_fake
