"""Journey: A-shares in the window. A trader connects akshare from the Venues dock's Connect dialog (the fake
akshare HTTP, never the internet) with 600519.SH, sees it connected and quoting in the watchlist, places a
paper order the A-share rules refuse (not a board lot, in the rule's words) and one they accept, restarts
(it reconnects), edits it, disables and removes it. Then: the red-up colour convention from the View menu
turns an up candle red. The window runs on a qasync loop, as the app does."""
from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMessageBox

from tests.kit.journeys import click_buy, click_venue, fill_limit_ticket, visible
from tests.kit.journeys import venue_state as state
from tests.kit.ui import watch_ids
from tests.kit.ui import watch_row as row_of
from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.kit.wait import until
from tests.venues.fake_akshare import FakeAkshareHTTP

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
OPEN = int(dt.datetime(2024, 1, 4, 10, 0, tzinfo=SH).timestamp() * 1000)  # a Thursday, the market open


@pytest.fixture
def sim_clock():
    """The window's clock in Shanghai's morning session: A-share orders are taken then."""
    from app.engine.core.clock import SimClock

    return SimClock(OPEN)


@pytest.fixture
def http(monkeypatch):
    fake = FakeAkshareHTTP().install(monkeypatch)
    fake.last, fake.prev_close = 1523.0, 1480.0  # a price the sim's 600519.SH never shows
    yield fake
    fake.release_hangs()


def watch_row(window, symbol: str) -> tuple[str, str]:
    """(Last, Chg %) the watchlist shows for ``symbol``."""
    table = window.watchlist.table
    row = row_of(window, symbol)
    last, chg = table.item(row, 1), table.item(row, 2)  # a row just added has no cells until its first frame
    return (last.text() if last else ""), (chg.text() if chg else "")


def test_connect_akshare_trade_on_paper_under_a_share_rules_restart_edit_disable_and_remove(
        qtbot, window_factory, profile, run_async, http):
    from app.engine.core.messages import OrderStatus
    from app.widgets.panels.venue_dialogs import ConnectDialog

    async def journey() -> None:
        kernel, window = window_factory()
        kernel.venues.start()  # what the app does once its loop runs
        dock = window.venues_widget
        window.venues_dock.raise_()
        try:
            # Connect…: choose akshare; it asks for A-share symbols and a quote interval, says it is paper
            # trading, and asks for no keys
            qtbot.mouseClick(dock.connect_button, Qt.MouseButton.LeftButton)
            (dlg,) = visible(ConnectDialog)
            dlg.exchange.setCurrentIndex(dlg.exchange.findText("akshare"))
            assert dlg.name.text() == "akshare"
            assert dlg.akshare_note.isVisible() and "paper" in dlg.akshare_note.text()
            assert "A-share rules" in dlg.akshare_note.text() and "no API keys" in dlg.akshare_note.text()
            assert dlg.interval.isVisible()
            assert not any(w.isVisible() for w in (dlg.api_key, dlg.secret, dlg.password, dlg.options,
                                                   dlg.sandbox, dlg.forget_button))
            dlg.symbols.selectAll()
            qtbot.keyClicks(dlg.symbols, "600519.sh")
            dlg.interval.selectAll()
            qtbot.keyClicks(dlg.interval, "1")
            qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
            await until(lambda: not visible(ConnectDialog), 5, "the dialog to close")
            saved = json.loads((profile / "venues" / "akshare.json").read_text())
            assert saved["kind"] == "akshare" and saved["symbols"] == ["600519.SH"]
            assert saved["quote_interval_s"] == 1.0
            await until(lambda: state(dock, "akshare") == "connected", 60, "akshare connected")
            assert "quotes via eastmoney" in dock.row_of("akshare")[1]
            assert kernel.instruments["600519.SH@akshare"].venue == "akshare"
            await until(lambda: ("600519.SH@akshare", "akshare") in [(r[0], r[1]) for r in dock.board.feed_rows()], 10,
                        "a 600519.SH feed from akshare")

            # quoting in the watchlist: akshare's price, not the sim's
            await until(lambda: watch_row(window, "600519.SH@akshare")[0] == "1,523.00", 10, "akshare's quote listed")
            assert watch_row(window, "600519.SH@sim")[0] != "1,523.00"  # the sim's own 600519.SH, listed beside it

            # a paper order the A-share rules refuse: 150 shares is not a board lot
            ticket = window.ticket
            fill_limit_ticket(qtbot, ticket, "600519.SH@akshare", "150", "1523.00")
            odd = click_buy(qtbot, ticket, kernel)
            await until(lambda: "lot size" in ticket.status.text(), 5, "the ticket to say why")
            assert "buy in lots of 100 shares; 150 is not one" in ticket.status.text(), ticket.status.text()
            assert kernel.execution.orders[odd].status in (OrderStatus.DENIED, OrderStatus.REJECTED)

            # and one they accept: a board lot, at the ask; it fills on paper at akshare's price
            ticket.quantity.selectAll()
            qtbot.keyClicks(ticket.quantity, "100")
            lot = click_buy(qtbot, ticket, kernel)
            order = kernel.execution.orders[lot]
            await until(lambda: order.status is OrderStatus.FILLED, 5, "the paper buy filled")
            assert order.venue == "akshare" and order.avg_price == 1523.0
            await until(lambda: "FILLED 100 @ 1523" in ticket.status.text(), 5, "the ticket to say it filled")

            # restart: akshare is saved in the profile and connects again by itself
            await kernel.venues.close()
            kernel, window = window_factory.restart(kernel, window)
            kernel.venues.start()
            dock = window.venues_widget
            await until(lambda: state(dock, "akshare") == "connected", 60, "akshare connected after restart")
            assert kernel.instruments["600519.SH@akshare"].venue == "akshare"

            # edit: prefilled, no keys asked; a second symbol joins
            click_venue(qtbot, dock, "akshare")
            qtbot.mouseClick(dock.edit_button, Qt.MouseButton.LeftButton)
            (dlg,) = visible(ConnectDialog)
            assert dlg.windowTitle() == "Edit akshare" and dlg.exchange.currentText() == "akshare"
            assert dlg.symbols.text() == "600519.SH" and dlg.interval.value() == 1.0
            assert not dlg.api_key.isVisible()
            dlg.symbols.selectAll()
            qtbot.keyClicks(dlg.symbols, "600519.SH, 000001.SZ")
            qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
            await until(lambda: "akshare" in kernel.venues.venues
                        and kernel.venues.venues["akshare"].symbols == ["600519.SH", "000001.SZ"]
                        and state(dock, "akshare") == "connected", 60, "akshare reconnected with 000001.SZ")
            await until(lambda: "000001.SZ@akshare" in watch_ids(window), 5, "000001.SZ in the watchlist")

            # disable: disconnected now, shown as disabled
            click_venue(qtbot, dock, "akshare")
            assert dock.enable_button.text() == "Disable"
            qtbot.mouseClick(dock.enable_button, Qt.MouseButton.LeftButton)
            await until(lambda: "akshare" not in kernel.venues.venues
                        and not kernel.venue_status["akshare"].connected, 10, "akshare disconnected")
            assert state(dock, "akshare") == "disabled"
            assert json.loads((profile / "venues" / "akshare.json").read_text())["enabled"] is False

            # remove: asked first; no keys to delete (it never had any)
            click_venue(qtbot, dock, "akshare")
            qtbot.mouseClick(dock.remove_button, Qt.MouseButton.LeftButton)
            (box,) = visible(QMessageBox)
            assert "Remove akshare?" in box.text() and box.checkBox() is None
            (remove,) = [b for b in box.buttons() if b.text() == "Remove"]
            qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
            await until(lambda: "akshare removed" in dock.message.text(), 5, "the dock to say it")
            assert not (profile / "venues" / "akshare.json").exists()
            assert state(dock, "akshare") in (None, "not connected")
        finally:
            await kernel.venues.close()
            kernel.stop()

    run_async(journey())


def _count(image, color: QColor) -> int:
    """Pixels of exactly ``color`` in ``image`` (the candle bodies are painted opaque, unblended)."""
    import numpy as np

    img = image.convertToFormat(image.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), dtype=np.uint32, count=img.width() * img.height())
    return int((arr & 0xFFFFFF == color.rgb() & 0xFFFFFF).sum())


def test_red_up_from_the_view_menu_paints_up_candles_red_and_is_saved(qtbot, window_factory, profile):
    from app.config import load_settings
    from app.widgets import theme

    green, red = QColor("#26a69a"), QColor("#ef5350")
    kernel, window = window_factory()
    try:
        chart = window.chart
        qtbot.waitUntil(lambda: _count(chart.view.grab().toImage(), green) > 100, timeout=5000)
        before = chart.view.grab().toImage()
        up_px, down_px = _count(before, green), _count(before, red)
        assert up_px > 100 and down_px > 100  # up candles green, down candles red

        (view_menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&View"]
        (sub,) = [a.menu() for a in view_menu.actions() if a.text() == "Up/down colours"]
        (red_up,) = [a for a in sub.actions() if a.text().startswith("Red up")]
        assert not red_up.isChecked()
        red_up.trigger()
        assert red_up.isChecked()
        qtbot.wait(200)  # a few frames
        after = chart.view.grab().toImage()
        assert _count(after, red) == pytest.approx(up_px, rel=0.05)  # the same up candles, now red
        assert _count(after, green) == pytest.approx(down_px, rel=0.05)
        assert load_settings(profile).ui.up_color_convention == "red_up"

        # the watchlist's change % follows: a rise is red now
        window.watchlist.refresh()
        table = window.watchlist.table
        rows = [r for r in range(table.rowCount())
                if table.item(r, 2) and table.item(r, 2).text().startswith("+")]
        for r in rows:
            assert table.item(r, 2).foreground().color() == theme.PRICE_UP == QColor("#f87171")

        # a restarted window reads the choice from the profile
        kernel, window = window_factory.restart(kernel, window)
        assert theme.up_convention() == "red_up"
    finally:
        theme.set_up_convention("green_up")
