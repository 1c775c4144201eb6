"""Journey: a trader connects a venue from the Venues dock (the fake Binance-shaped exchange on 127.0.0.1,
never the internet), disables it, restarts (it stays disabled and unconnected), enables it, edits it,
disables it with an order working (asked first), reviews and approves the reconciliation when it comes back,
and removes it; the sim is listed and cannot be removed. The window runs on a qasync loop, as the app does."""
from __future__ import annotations

import asyncio
import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QInputDialog, QLineEdit, QMessageBox

from app.widgets.trading.blotter import ORDER_HEADERS

from tests.kit.journeys import click_venue, visible
from tests.kit.journeys import venue_state as state
from tests.kit.ui import choose, table_column, type_into
from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.kit.wait import until
from tests.venues.fake_binance import FakeBinance

KEY, SECRET = "journey-key-0123456789", "journey-secret-PLANTED-5a4b3c2d1e"


def test_connect_disable_restart_enable_edit_and_remove_a_venue(qtbot, window_factory, profile, run_async,
                                                                no_os_keyring):
    from app.engine.core.messages import OrderStatus, Side, TradingState
    from app.engine.venues.credentials import CredentialStore
    from app.widgets.panels.venue_dialogs import ConnectDialog, ReconcileDialog

    async def journey() -> None:
        # SOL/USDT: a market the sim does not have
        fake = await FakeBinance(("SOL/USDT", "ETH/USDT"), api_key=KEY, secret=SECRET).start()
        kernel, window = window_factory()
        kernel.venues.start()  # what the app does once its loop runs
        dock = window.venues_widget
        window.venues_dock.raise_()
        runner = None
        try:
            assert state(dock, "sim") == "connected"  # the sim is listed
            click_venue(qtbot, dock, "sim")
            qtbot.mouseClick(dock.remove_button, Qt.MouseButton.LeftButton)
            assert "cannot be removed" in dock.message.text() and not visible(QMessageBox)

            # connect through the dialog: clicks and typing
            qtbot.mouseClick(dock.connect_button, Qt.MouseButton.LeftButton)
            (dlg,) = visible(ConnectDialog)
            dlg.exchange.setCurrentText("binance")
            qtbot.keyClicks(dlg.name, "binance")
            dlg.symbols.clear()
            qtbot.keyClicks(dlg.symbols, "SOL/USDT")
            dlg.options.setPlainText(json.dumps(fake.venue_config()["ccxt"]))
            qtbot.keyClicks(dlg.api_key, KEY)
            qtbot.keyClicks(dlg.secret, SECRET)
            qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
            await until(lambda: not visible(ConnectDialog), 5, "the dialog to close")
            await until(lambda: state(dock, "binance") == "connected", 20, "binance connected")
            assert kernel.venues.has_keys("binance")

            # disable: disconnected now, shown as disabled
            click_venue(qtbot, dock, "binance")
            assert dock.enable_button.text() == "Disable"
            qtbot.mouseClick(dock.enable_button, Qt.MouseButton.LeftButton)
            await until(lambda: not kernel.venue_status["binance"].connected, 10, "binance disconnected")
            assert state(dock, "binance") == "disabled" and "until you enable it" in dock.row_of("binance")[1]
            assert dock.enable_button.text() == "Enable"
            assert "binance" not in kernel.venues.venues

            # restart: still disabled, never connected (the exchange hears nothing from us)
            await kernel.venues.close()
            kernel, window = window_factory.restart(kernel, window)
            kernel.venues.start()
            dock = window.venues_widget
            asked, frames = len(fake.requests), window.frames.frames
            await until(lambda: window.frames.frames >= frames + 30, 10, "the restarted window's first 30 frames")
            assert state(dock, "binance") == "disabled" and state(dock, "sim") == "connected"
            assert "binance" not in kernel.venues.venues and "binance" not in kernel.venue_status
            assert len(fake.requests) == asked
            assert "SOL/USDT@binance" not in kernel.instruments  # a disabled venue's markets are not offered

            # enable: connects with its stored keys
            click_venue(qtbot, dock, "binance")
            assert dock.enable_button.text() == "Enable"
            qtbot.mouseClick(dock.enable_button, Qt.MouseButton.LeftButton)
            await until(lambda: state(dock, "binance") == "connected", 20, "binance connected again")
            assert kernel.venues.has_keys("binance")

            # edit: prefilled, keys kept without asking, the new settings take effect
            qtbot.mouseClick(dock.edit_button, Qt.MouseButton.LeftButton)
            (dlg,) = visible(ConnectDialog)
            assert dlg.windowTitle() == "Edit binance" and dlg.name.isReadOnly()
            assert dlg.symbols.text() == "SOL/USDT" and dlg.exchange.currentText() == "binance"
            assert KEY[-4:] in dlg.key_state.text() and dlg.api_key.text() == "" and dlg.secret.text() == ""
            dlg.symbols.selectAll()
            qtbot.keyClicks(dlg.symbols, "SOL/USDT, ETH/USDT")
            qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
            assert not visible(QInputDialog)
            await until(lambda: "binance" in kernel.venues.venues
                        and kernel.venues.venues["binance"].config.symbols == ["SOL/USDT", "ETH/USDT"]
                        and state(dock, "binance") == "connected", 20, "binance reconnected with ETH/USDT")
            assert kernel.venues.has_keys("binance")
            await until(lambda: ("ETH/USDT@binance", "binance") in [(r[0], r[1]) for r in dock.board.feed_rows()], 10,
                        "an ETH/USDT feed from binance")

            # a working order on binance, from the ticket
            runner = asyncio.ensure_future(kernel.run())
            await until(lambda: kernel.risk.venue_states.get("binance", (TradingState.ACTIVE,))[0]
                        is TradingState.ACTIVE and kernel.market.get("SOL/USDT@binance").book is not None, 10,
                        "binance tradable")
            assert kernel.instruments["SOL/USDT@binance"].venue == "binance"

            async def buy_below_market(below: float = 0.97) -> str:
                ticket = window.ticket
                ticket.set_symbol("SOL/USDT@binance")
                ticket.order_type.setCurrentText("LIMIT")
                ticket.quantity.setText("0.2")
                price = kernel.market.get("SOL/USDT@binance").book.best_bid * below
                ticket.set_price(kernel.instruments["SOL/USDT@binance"].round_price(price))
                cid = ticket.send(Side.BUY)
                assert cid, ticket.status.text()
                order = kernel.execution.orders[cid]
                await until(lambda: order.status is OrderStatus.ACCEPTED, 10, "the order live")
                return cid

            first = await buy_below_market()

            # disabling with a working order asks first and says the order stays at the venue
            click_venue(qtbot, dock, "binance")
            qtbot.mouseClick(dock.enable_button, Qt.MouseButton.LeftButton)
            (box,) = visible(QMessageBox)
            assert "Its 1 working order stays open at binance" in box.text(), box.text()
            (disable,) = [b for b in box.buttons() if b.text() == "Disable"]
            qtbot.mouseClick(disable, Qt.MouseButton.LeftButton)
            await until(lambda: state(dock, "binance") == "disabled"
                        and not kernel.venue_status["binance"].connected, 10, "binance disabled")

            # meanwhile the order is canceled at the exchange; on enable the venue and the journal differ:
            # the reconciliation dialog shows it, and trading there waits for Approve
            fake.cancel_behind_our_back(first)
            click_venue(qtbot, dock, "binance")
            qtbot.mouseClick(dock.enable_button, Qt.MouseButton.LeftButton)
            await until(lambda: visible(ReconcileDialog), 20, "the reconciliation dialog")
            (review,) = visible(ReconcileDialog)
            assert first in review.items.item(0).text() and "canceled" in review.items.item(0).text()
            assert state(dock, "binance") == "APPROVE"
            qtbot.mouseClick(review.approve_button, Qt.MouseButton.LeftButton)
            await until(lambda: kernel.execution.orders[first].status is OrderStatus.CANCELED, 10,
                        "the journal to follow the venue")
            await until(lambda: state(dock, "binance") == "connected", 20, "binance trading again")
            await until(lambda: kernel.risk.venue_states.get("binance", (TradingState.ACTIVE,))[0]
                        is TradingState.ACTIVE, 10, "binance tradable again")
            # another price: the same order again within a second of the first (the sim clock of this window
            # runs only as fast as the loop steps it) is refused as a duplicate, rightly
            cid = await buy_below_market(0.96)

            # issue 20: the ticket offers DAY at binance (Kestrel ends it at 00:00 UTC), and the blotter's Edit…
            # moves the order through Binance's cancel-replace: the same order, at its new price, a new venue id
            ticket = window.ticket
            assert "DAY" in [ticket.tif.itemText(i) for i in range(ticket.tif.count())]
            # a trailing stop by 1 % is Binance's own (it trails there while Kestrel is closed); by price, Kestrel's
            choose(ticket.order_type, "TRAILING_STOP")
            type_into(ticket.trail, "1")
            choose(ticket.trail_unit, "%")
            assert ticket.exec_line.text() == "native" and "binance keeps it" in ticket.exec_line.toolTip()
            choose(ticket.trail_unit, "price")
            assert ticket.exec_line.text() == "emulated", ticket.exec_line.text()
            choose(ticket.order_type, "LIMIT")
            order, old_vid = kernel.execution.orders[cid], kernel.execution.orders[cid].venue_order_id
            lower = kernel.instruments["SOL/USDT@binance"].round_price(order.price * 0.99)
            table = window.blotter.orders
            await until(lambda: cid in table_column(table, ORDER_HEADERS.index("Id")), 5, "the order in the blotter")
            row = table_column(table, ORDER_HEADERS.index("Id")).index(cid)
            rect = table.visualRect(table.model().index(row, ORDER_HEADERS.index("Symbol")))
            qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            qtbot.mouseClick(window.blotter.edit_button, Qt.MouseButton.LeftButton)
            dialog = window.blotter.edit_dialog
            assert dialog.isVisible()
            type_into(dialog.findChild(QLineEdit, "editPrice"), f"{lower:g}")
            qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                             Qt.MouseButton.LeftButton)
            await until(lambda: order.price == lower and order.venue_order_id != old_vid, 10, "the order moved")
            assert fake.requests.count(("POST", "/api/v3/order/cancelReplace")) == 1 and len(fake.replaced) == 1
            await until(lambda: float(table_column(table, ORDER_HEADERS.index("Price"))[
                table_column(table, ORDER_HEADERS.index("Id")).index(cid)].replace(",", "")) == lower, 5,
                "the new price in the blotter")
            assert order.status is OrderStatus.ACCEPTED and order.reason.startswith("amended"), order.reason

            # remove: asks first, says what happens to orders and keys
            click_venue(qtbot, dock, "binance")
            qtbot.mouseClick(dock.remove_button, Qt.MouseButton.LeftButton)
            (box,) = visible(QMessageBox)
            assert "Its 1 working order stays open at binance" in box.text(), box.text()
            assert "does not cancel" in box.text() and "history stays in the journal" in box.text()
            assert box.checkBox().isChecked() and "API keys" in box.checkBox().text()
            (remove,) = [b for b in box.buttons() if b.text() == "Remove"]
            qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
            await until(lambda: "binance" not in kernel.venues.venues, 10, "binance let go")
            await until(lambda: not kernel.venue_status["binance"].connected, 10, "binance disconnected")
            assert not (profile / "venues" / "binance.json").exists()
            assert CredentialStore(profile).get("binance") is None
            assert "binance removed" in dock.message.text() and "keys were deleted" in dock.message.text()
            assert fake.order_by_client_id(cid).status == "NEW"  # left at the exchange, as the box said
            assert kernel.execution.orders[cid].status is OrderStatus.ACCEPTED  # and in the journal
        finally:
            kernel.stop()
            if runner is not None:
                await runner
            await kernel.venues.close()
            await fake.stop()

    run_async(journey())


def test_editing_a_venue_that_has_its_keys_never_asks_for_a_passphrase(qtbot, window_factory, profile,
                                                                       monkeypatch):
    """The credentials file needs a passphrase (no keyring, none in the environment): editing the symbols of
    a venue that runs with its keys must not ask for it (nor for the secret)."""
    import keyring
    from keyring.backends import fail

    from app.engine.venues.venue_config import parse_config, save_config
    from app.widgets.panels.venue_dialogs import ConnectDialog

    monkeypatch.delenv("KESTREL_CREDENTIALS_PASSPHRASE", raising=False)
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        kernel, window = window_factory()
        save_config(profile, parse_config({"name": "binance", "exchange": "binance", "symbols": ["BTC/USDT"],
                                           "poll_interval_s": 0.5}))
        asked = []
        monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: asked.append(a) or ("", False))
        connected = []
        store = window.venues_widget._store
        dlg = ConnectDialog(kernel.port, store, lambda cfg, creds: connected.append((cfg, creds)), "binance",
                            window, has_keys=True)
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.symbols.selectAll()
        qtbot.keyClicks(dlg.symbols, "ETH/USDT")
        qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
        assert not asked, "asked for the passphrase to keep keys the venue already has"
        (cfg, creds), = connected
        assert cfg.symbols == ["ETH/USDT"] and creds is None  # None: keep the keys it runs with
        assert cfg.poll_interval_s == 0.5  # what the dialog does not show is kept

        again = ConnectDialog(kernel.port, store, lambda *a: connected.append(a), "binance", window, has_keys=True)
        qtbot.addWidget(again)
        again.show()
        qtbot.keyClicks(again.api_key, "new-key-123456")
        qtbot.keyClicks(again.secret, "new-secret-654321")
        qtbot.mouseClick(again.connect_button, Qt.MouseButton.LeftButton)
        assert len(asked) == 1  # storing new keys needs the passphrase: asked (and refused here)
        assert "needs its passphrase" in again.error.text() and len(connected) == 1
    finally:
        keyring.set_keyring(before)


def test_a_disabled_venue_is_not_connected_at_start(profile):
    """The profile decides: a disabled venue's config is not among the start-up venues, and its instruments are
    not in the table (the sim's are, as always)."""
    from app.engine.venues.manager import kernel_instruments, startup_configs
    from app.engine.venues.venue_config import parse_config, save_config, set_enabled

    save_config(profile, parse_config({"name": "binance", "exchange": "binance", "symbols": ["BTC/USDT"]}))
    assert [c.name for c in startup_configs(profile)] == ["binance"]
    set_enabled(profile, "binance", False)
    assert startup_configs(profile) == []
    (profile / "venues" / "binance.instruments.json").write_text(
        '[{"symbol": "BTC/USDT", "venue": "binance", "base": "BTC", "quote": "USDT", "tick_size": 0.01, '
        '"lot_size": 0.00001, "min_qty": 0.00001, "max_qty": 9000.0}]')
    ids = [i.id for i in kernel_instruments(profile, [parse_config({"name": "binance", "exchange": "binance",
                                                                        "symbols": ["BTC/USDT"]})])]
    assert "BTC/USDT@binance" in ids and "BTC/USDT@sim" in ids  # enabled: both venues' BTC/USDT
    ids = [i.id for i in kernel_instruments(profile, startup_configs(profile))]
    assert "BTC/USDT@binance" not in ids and "BTC/USDT@sim" in ids
