"""The Venues dock, the Connect dialog and the reconciliation dialog on the real window, offscreen."""
from __future__ import annotations

import json

import pytest

from app.engine.core.messages import VenueStatus
from app.engine.venues.events import (
    ApproveReconciliation,
    FeedChanged,
    FeedStatus,
    ReconcileItem,
    ReconciliationApplied,
    ReconciliationProposed,
)
from tests.kit.ui import watch_ids
from tests.kit.venues import KEY, SECRET


@pytest.fixture
def window(qtbot, profile, sim_clock, monkeypatch):
    from app.bootstrap import build, create_app

    monkeypatch.setenv("KESTREL_CREDENTIALS_PASSPHRASE", "ui test passphrase")
    create_app()
    kernel, win = build(profile, clock=sim_clock)
    qtbot.addWidget(win)
    win.show()
    yield kernel, win
    win.close()
    kernel.close()


def test_dock_shows_venues_feeds_and_failover(window):
    kernel, win = window
    bus = kernel.bus
    bus.publish(VenueStatus("binance", True, "ready: 2 market(s)", 1))
    bus.publish(VenueStatus("okx", False, "disconnected: network error; reconnecting in 1.2 s", 2))
    bus.publish(FeedStatus("binance", "BTC/USDT", "book", "stale", "no message for 15 s", 3))
    bus.publish(FeedStatus("okx", "BTC/USDT", "book", "live", "", 4))
    bus.publish(FeedChanged("BTC/USDT", "okx", "binance", "binance is stale", 5))
    win.frames.tick()
    w = win.venues_widget
    venues = {w.venues.item(r, 0).text(): w.venues.item(r, 1).text() for r in range(w.venues.rowCount())}
    assert venues["binance"] == "connected" and venues["okx"] == "not connected"
    feeds = [(w.feeds.item(r, 1).text(), w.feeds.item(r, 3).text()) for r in range(w.feeds.rowCount())]
    assert ("binance", "stale") in feeds and ("okx", "live") in feeds
    assert any("market data now from okx" in w.errors.item(i).text() for i in range(w.errors.count()))
    assert win.venues_dock.objectName() == "dock_venues"
    assert "Venues" in [a.text().replace("&", "") for a in win.menuBar().actions()]


def test_reconciliation_dialog_opens_and_approves(window, qtbot):
    kernel, win = window
    seen = []
    kernel.bus.subscribe(ApproveReconciliation, seen.append)
    item = ReconcileItem("closed_at_venue", "K1", "BTC/USDT", "K1 BTC/USDT: we had ACCEPTED; the venue has it canceled")
    kernel.bus.publish(ReconciliationProposed("binance", (item,), 1))
    win.frames.tick()
    from app.widgets.panels.venue_dialogs import ReconcileDialog

    dialogs = [d for d in win.findChildren(ReconcileDialog) if d.isVisible()]
    assert len(dialogs) == 1 and "venue has it canceled" in dialogs[0].items.item(0).text()
    assert win.venues_widget.review_button.isEnabled()
    dialogs[0].approve_button.click()
    assert seen and seen[0].venue == "binance" and seen[0].actor == "manual"
    kernel.bus.publish(ReconciliationApplied("binance", 1, "manual", 2))
    win.frames.tick()
    assert not win.venues_widget.review_button.isEnabled()


def test_connect_dialog_saves_config_and_keys_never_secrets_in_files(window, qtbot, monkeypatch):
    kernel, win = window
    from app.engine.venues.credentials import CredentialStore
    from app.widgets.panels.venue_dialogs import ConnectDialog

    connected = []
    store = CredentialStore(kernel.profile)
    dlg = ConnectDialog(kernel.port, store, lambda cfg, creds: connected.append((cfg, creds)), None, win)
    qtbot.addWidget(dlg)
    dlg.exchange.setCurrentText("nosuchexchange")
    dlg.connect_button.click()
    assert "ccxt has no exchange" in dlg.error.text() and not connected
    dlg.exchange.setCurrentText("binance")
    dlg.options.setPlainText('{"apiKey": "x"}')
    dlg.connect_button.click()
    assert "do not belong in a venue config" in dlg.error.text()
    dlg.options.setPlainText(json.dumps({"timeout": 5000, "options": {"recvWindow": 5000}}))
    dlg.symbols.setText("btc/usdt, eth/usdt")
    dlg.api_key.setText(KEY)
    dlg.secret.setText(SECRET)
    dlg.connect_button.click()
    assert connected, dlg.error.text()
    cfg, creds = connected[0]
    assert cfg.name == "binance" and cfg.symbols == ["BTC/USDT", "ETH/USDT"] and cfg.ccxt["timeout"] == 5000
    assert creds.secret == SECRET and dlg.secret.text() == "" and dlg.api_key.text() == ""
    assert store.get("binance").api_key == KEY
    saved = (kernel.profile / "venues" / "binance.json").read_text()
    assert SECRET not in saved and KEY not in saved
    again = ConnectDialog(kernel.port, CredentialStore(kernel.profile), lambda *a: None, "binance", win)
    qtbot.addWidget(again)
    assert KEY[-4:] in again.key_state.text() and KEY not in again.key_state.text()
    assert again.symbols.text() == "BTC/USDT, ETH/USDT"


def test_a_venue_connected_after_start_up_adds_its_symbols_without_a_restart(window):
    """The Connect dialog connects a venue while the terminal runs: once its markets load, their symbols are
    in the watchlist and the ticket at the next frame (they used to appear only after a restart)."""
    from app.engine.core.instruments import Instrument

    kernel, win = window
    before = len(kernel.instruments)
    eth_btc = Instrument("ETH/BTC", "binance", "ETH", "BTC", tick_size=0.00001, lot_size=0.0001, min_qty=0.0001,
                         max_qty=1e5)
    kernel.venues._add_instruments("binance", [eth_btc])  # what the ccxt venue calls once markets load
    assert len(kernel.instruments) == before + 1
    win.frames.tick()
    ticket = [win.ticket.symbol.itemText(i) for i in range(win.ticket.symbol.count())]
    assert "ETH/BTC@binance" in ticket
    rows = watch_ids(win)
    assert rows[-1] == "ETH/BTC@binance" and len(rows) == before + 1
    chart = [win.chart.symbol_box.itemText(i) for i in range(win.chart.symbol_box.count())]
    assert "ETH/BTC@binance" in chart
    win.watchlist.select("ETH/BTC@binance")
    assert win.ticket.symbol.currentText() == "ETH/BTC@binance"  # choosing it points the ticket at it
