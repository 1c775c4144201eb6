"""The profile fixture of store schema 1 (tests/data/profiles/v1, made by tests/kit/make_v1_profile.py with this
release): what the migration to venue-qualified instrument ids (issue 19) must carry over. Today's code opens a
copy of it and finds what was made: positions, the working order, the strategy, the chart, the limit, the bars,
a verified audit trail."""
from __future__ import annotations

import shutil
import sqlite3

from tests.kit.data import DATA
from tests.kit.make_v1_profile import EXPECTED

FIXTURE = DATA / "profiles" / "v1"


def test_this_release_opens_its_own_profile_fixture_as_it_was_made(tmp_path):
    from app.config import load_settings
    from app.engine.audit.verify import verify
    from app.engine.core.clock import SimClock
    from app.engine.data.bar_store import BarStore
    from app.engine.kernel import Kernel
    from app.engine.risk.limits import stored_limits
    from tests.kit.make_v1_profile import START

    profile = tmp_path / "v1"
    shutil.copytree(FIXTURE, profile)
    assert verify(profile / "kestrel.db").ok
    db = sqlite3.connect(profile / "kestrel.db")
    try:  # as the journal holds it (a restarted sim knows no order: the start reconciles it away)
        working = db.execute("SELECT symbol, venue FROM orders WHERE status = 'ACCEPTED'").fetchall()
    finally:
        db.close()
    assert working == [("ETH/USDT", "sim")] * EXPECTED["working"]
    kernel = Kernel(profile, load_settings(profile), clock=SimClock(START + 3_600_000))
    try:
        kernel.start()
        positions = {s: p.quantity for s, p in kernel.portfolio.positions.items() if p.quantity}
        # the journal keeps the venue's symbol beside the venue: read back, each position is the sim's instrument
        assert positions == {f"{symbol}@sim": qty for symbol, qty in EXPECTED["positions"].items()}
        assert list(kernel.strategies.host.runners) == EXPECTED["strategies"]
        assert kernel.store.get_setting("ui.charts")["main"] == EXPECTED["chart"]
        limits, problem = stored_limits(kernel.store.get_setting("risk.limits"), kernel.settings.risk)
        assert not problem and limits.max_position == EXPECTED["limit"]
        assert [(i.venue, i.symbol, i.timeframe_ms, i.bars) for i in BarStore(profile).series()] == EXPECTED["bars"]
    finally:
        kernel.close()
    assert verify(profile / "kestrel.db").ok  # and its trail still verifies after a run
