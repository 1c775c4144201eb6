"""The computer's local zone, set for one test (POSIX: ``TZ`` and ``time.tzset``; there is no tzset on Windows).

Import ``local_zone_fixture`` into a test module to use the fixture ``local_zone``: ``local_zone("Europe/Berlin")``.
"""
from __future__ import annotations

import os
import time

import pytest

needs_tzset = pytest.mark.skipif(not hasattr(time, "tzset"), reason="setting the local zone needs time.tzset")


@pytest.fixture(name="local_zone")
def local_zone_fixture():
    from app.widgets.chart import zones

    before = os.environ.get("TZ")

    def set_zone(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()
        zones.local_zone_changed()

    yield set_zone
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()
    zones.local_zone_changed()
