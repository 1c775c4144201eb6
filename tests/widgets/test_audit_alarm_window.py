"""The window on a profile whose audit trail was tampered with while the terminal ran: after a restart the
alarm banner says so, naming the first bad record and the command to investigate."""
from __future__ import annotations

import sqlite3

from app.engine.core.messages import OrderType, Side
from tests.kit.ui import pump


def test_a_tampered_trail_shows_the_alarm_banner_after_a_restart(window_factory, qtbot, profile):
    kernel, window = window_factory()
    for qty in (0.01, 0.02):
        kernel.submit("BTC/USDT@sim", Side.BUY, OrderType.MARKET, qty)
        pump(qtbot, kernel, window, 200)
    assert not window.banner.isVisible()
    conn = sqlite3.connect(profile / "kestrel.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'cli' WHERE seq = 3")
    conn.commit()
    conn.close()

    kernel, window = window_factory.restart(kernel, window)
    pump(qtbot, kernel, window, 100)
    assert window.banner.isVisible()
    text = window.banner.label.text()
    assert "Audit trail tampered" in text and "first bad record: seq 3" in text and "kestrel audit verify" in text
