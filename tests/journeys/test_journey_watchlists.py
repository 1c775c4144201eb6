"""Journeys: symbol search and named watchlists.

1. With the sim and a Binance venue (the fake exchange on 127.0.0.1) running on a qasync loop, a trader
   presses Ctrl+K, finds XRP/USDT (listed by Binance, not streamed by the terminal) and adds it with Enter: it
   streams and quotes in the watchlist, and choosing it points the chart, ladder and ticket at it. After a
   restart it streams again (it was saved in the venue's symbols); after another with Binance disabled its row
   stays, greyed, says why, and the chart does not follow it.
2. In the window (the sim), they make a list "Alts" from the ☰ menu, find markets from the same menu and add
   them by Enter and by double-click, filter by venue, move and remove rows from the row menu, copy one to
   another list, rename the list, try a name that is taken, delete a scratch list (asked first), switch
   lists, and choose columns from the header menu; a restart finds it all as they left it.

(The first journey drives no nested event loop — menus that block, ``qtbot.wait*`` — while its coroutine runs:
a task woken inside one is refused by asyncio and dies, the fake exchange's market with it.)"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMenu, QMessageBox

from tests.kit.journeys import pick_from_button_menu, visible
from tests.kit.ui import choose, pump, table_column, type_into, watch_row
from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.kit.wait import until
from tests.venues.fake_binance import FakeBinance

GREY = "#9aa3ad"  # theme.MUTED


# ------------------------------------------------------------------------------------ what a person sees
def shown_rows(window) -> list[tuple[str, str]]:
    """(Symbol, Venue) of each watchlist row, top to bottom."""
    table = window.watchlist.table
    return list(zip(table_column(table, 0), table_column(table, 6)))


def row_of(window, symbol: str, venue: str) -> int:
    return watch_row(window, f"{symbol}@{venue}")


def last(window, symbol: str, venue: str) -> str:
    """The Last column of the row."""
    return window.watchlist.table.item(row_of(window, symbol, venue), 1).text()


def results(dialog) -> list[tuple[str, ...]]:
    """(Symbol, Venue, Type, Streamed) of each Find symbol result, best first."""
    t = dialog.table
    return list(zip(table_column(t, 0), table_column(t, 1), table_column(t, 4), table_column(t, 6)))


def key(kernel, symbol: str, venue: str) -> str:
    """The instrument table's key of ``symbol`` on ``venue``: what the chart, ladder and ticket hold for it
    (its id where the table is keyed by id)."""
    return next(k for k, i in kernel.instruments.items() if (i.symbol, i.venue) == (symbol, venue))


def list_names(window) -> list[str]:
    box = window.watchlist.list_box
    return [box.itemText(i) for i in range(box.count())]


# ------------------------------------------------------------------------------------------ what they do
def visible_item(window, symbol: str, venue: str):
    """The row's Symbol cell, scrolled into view as a person would (the dock is short)."""
    table = window.watchlist.table
    item = table.item(row_of(window, symbol, venue), 0)
    table.scrollToItem(item)
    return item


def click_row(qtbot, window, symbol: str, venue: str) -> None:
    table = window.watchlist.table
    rect = table.visualItemRect(visible_item(window, symbol, venue))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def press_ctrl_k(window):
    """Ctrl+K in the window: the Find symbol dialog."""
    from app.widgets.trading.find_symbol import FindSymbolDialog

    window.activateWindow()
    window.watchlist.table.setFocus()
    QTest.keyClick(window.watchlist.table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    (dialog,) = visible(FindSymbolDialog)
    return dialog


def context_menu(qtbot, widget, pos) -> QMenu:
    """Right-click ``widget`` at ``pos``; the menu that opens (the offscreen platform makes no context-menu
    event of a right button press: it is sent as the press would)."""
    qtbot.mouseClick(widget, Qt.MouseButton.RightButton, pos=pos)
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    if not menus:
        QApplication.sendEvent(widget, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                         widget.mapToGlobal(pos)))
        menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    (menu,) = menus
    return menu


def click(qtbot, menu: QMenu, entry: str) -> None:
    (action,) = [a for a in menu.actions() if a.text() == entry]
    assert action.isEnabled(), entry
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible())


def row_menu(qtbot, window, symbol: str, venue: str) -> QMenu:
    table = window.watchlist.table
    rect = table.visualItemRect(visible_item(window, symbol, venue))
    return context_menu(qtbot, table.viewport(), rect.center())


def name_a_list(qtbot, window, entry: str, name: str) -> None:
    """☰ → ``entry`` (New list… / Rename list…); type ``name`` in the dialog it opens; Enter."""
    pick_from_button_menu(qtbot, window.watchlist.lists_button, entry)
    (dialog,) = visible(QInputDialog)
    qtbot.waitExposed(dialog)
    type_into(dialog.findChild(QLineEdit), name)
    QTest.keyClick(dialog, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible())


def show_list(window, name: str) -> None:
    choose(window.watchlist.list_box, name)
    QTest.keyClick(window.watchlist.list_box, Qt.Key.Key_Return)
    assert window.watchlist.list_box.currentText() == name


# ------------------------------------------------------------------------------------------------ journeys
def test_find_a_market_binance_lists_add_it_and_keep_it_across_restarts(qtbot, window_factory, profile,
                                                                        run_async, no_os_keyring):
    from app.engine.venues.venue_config import (
        config_path, load_config, parse_config, save_config, set_enabled,
    )

    async def journey() -> None:
        fake = await FakeBinance(("SOL/USDT", "XRP/USDT", "ADA/USDT"),
                                 prices={"SOL": 150.0, "XRP": 2.5, "ADA": 4.0}).start()
        save_config(profile, parse_config(fake.venue_config(symbols=["SOL/USDT"])))  # a saved venue
        kernel, window = window_factory()
        kernel.venues.start()  # what the app does once its loop runs
        try:
            watchlist = window.watchlist
            await until(lambda: ("SOL/USDT", "binance") in shown_rows(window), 20,
                        "binance's SOL/USDT listed")
            assert watchlist.list_box.currentText() == "Default"
            assert shown_rows(window) == [("BTC/USDT", "sim"), ("ETH/USDT", "sim"), ("600519.SH", "sim"),
                                          ("SOL/USDT", "binance")]

            # Ctrl+K: binance lists XRP/USDT, the terminal does not stream it; Enter adds it to Default
            dialog = press_ctrl_k(window)
            await until(dialog.isVisible, 5, "the Find symbol dialog")
            type_into(dialog.query, "xrp")
            assert results(dialog) == [("XRP/USDT", "binance", "spot", "")]
            assert "1 market(s)" in dialog.status.text()
            QTest.keyClick(dialog.query, Qt.Key.Key_Return)
            assert dialog.status.text() == "XRP/USDT (binance) added to Default.", dialog.status.text()
            assert results(dialog) == [("XRP/USDT", "binance", "spot", "yes")]
            type_into(dialog.query, "dogecoin")
            assert results(dialog) == [] and "No market matches 'dogecoin'" in dialog.status.text()
            QTest.keyClick(dialog, Qt.Key.Key_Escape)
            assert not dialog.isVisible()
            await until(lambda: ("XRP/USDT", "binance") in shown_rows(window)
                        and last(window, "XRP/USDT", "binance") != "—", 10,
                        "XRP/USDT quoting in the watchlist")
            assert 1.0 < float(last(window, "XRP/USDT", "binance")) < 5.0

            # choosing its row points the chart, the ladder and the ticket at it
            click_row(qtbot, window, "XRP/USDT", "binance")
            xrp = key(kernel, "XRP/USDT", "binance")
            assert window.chart.symbol == xrp and window.ladder.symbol == xrp
            assert window.ticket.symbol.currentText() == xrp

            # restart: XRP/USDT is in binance's saved symbols, so it streams again
            assert load_config(config_path(profile, "binance")).symbols == ["SOL/USDT", "XRP/USDT"]
            await kernel.venues.close()
            kernel, window = window_factory.restart(kernel, window)
            kernel.venues.start()
            await until(lambda: last(window, "XRP/USDT", "binance") != "—", 20, "XRP/USDT quoting again")
            assert shown_rows(window)[-2:] == [("SOL/USDT", "binance"), ("XRP/USDT", "binance")]

            # restart with binance disabled: its rows stay, greyed, saying why; the chart does not follow them
            await kernel.venues.close()
            set_enabled(profile, "binance", False)
            kernel, window = window_factory.restart(kernel, window)
            row = row_of(window, "XRP/USDT", "binance")
            item = window.watchlist.table.item(row, 0)
            assert window.watchlist.table.item(row, 2).text() == "unavailable"
            assert item.toolTip() == "binance is not connected: XRP/USDT shows here again when it is"
            assert item.foreground().color().name() == GREY
            click_row(qtbot, window, "ETH/USDT", "sim")
            click_row(qtbot, window, "XRP/USDT", "binance")
            assert window.chart.symbol == key(kernel, "ETH/USDT", "sim")
        finally:
            await kernel.venues.close()
            await fake.stop()

    run_async(journey())


def test_make_fill_edit_and_delete_named_lists_choose_columns_and_find_them_after_a_restart(qtbot,
                                                                                        window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 200)
    watchlist = window.watchlist
    assert list_names(window) == ["Default"]

    # ☰ → New list…: "Alts", shown, empty
    name_a_list(qtbot, window, "New list…", "Alts")
    assert watchlist.list_box.currentText() == "Alts" and shown_rows(window) == []

    # ☰ → Find symbol…: "usdt" finds both crypto pairs; Down, Enter adds the second; "600" + double-click
    pick_from_button_menu(qtbot, watchlist.lists_button, "Find symbol…")
    dialog = watchlist.find_dialog
    qtbot.waitExposed(dialog)
    assert dialog.add_button.text() == "Add to Alts"
    type_into(dialog.query, "usdt")
    assert results(dialog) == [("BTC/USDT", "sim", "spot", "yes"), ("ETH/USDT", "sim", "spot", "yes")]
    QTest.keyClick(dialog.query, Qt.Key.Key_Down)
    QTest.keyClick(dialog.query, Qt.Key.Key_Return)
    assert dialog.status.text() == "ETH/USDT (sim) added to Alts."
    QTest.keyClick(dialog.query, Qt.Key.Key_Return)  # again: it is there already
    assert dialog.status.text() == "ETH/USDT (sim) is in Alts already."
    type_into(dialog.query, "600")
    assert results(dialog) == [("600519.SH", "sim", "equity", "yes")]
    rect = dialog.table.visualItemRect(dialog.table.item(0, 0))
    qtbot.mouseClick(dialog.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a double-
    qtbot.mouseDClick(dialog.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # click
    assert dialog.status.text() == "600519.SH (sim) added to Alts."
    choose(dialog.venue, "sim")
    type_into(dialog.query, "btc")
    QTest.keyClick(dialog.query, Qt.Key.Key_Return)
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    pump(qtbot, kernel, window, 100)
    assert shown_rows(window) == [("ETH/USDT", "sim"), ("600519.SH", "sim"), ("BTC/USDT", "sim")]
    assert last(window, "BTC/USDT", "sim") != "—"  # quoting

    # the row menu: move up, remove, copy to another list
    click(qtbot, row_menu(qtbot, window, "BTC/USDT", "sim"), "Move up")
    assert shown_rows(window) == [("ETH/USDT", "sim"), ("BTC/USDT", "sim"), ("600519.SH", "sim")]
    menu = row_menu(qtbot, window, "ETH/USDT", "sim")
    assert not [a for a in menu.actions() if a.text() == "Move up"][0].isEnabled()  # the first row
    click(qtbot, menu, "Remove from Alts")
    assert shown_rows(window) == [("BTC/USDT", "sim"), ("600519.SH", "sim")]
    menu = row_menu(qtbot, window, "600519.SH", "sim")
    (add_to,) = [a.menu() for a in menu.actions() if a.text() == "Add to list"]
    assert [a.text() for a in add_to.actions()] == ["Default"]
    menu.close()

    # rename; a taken name is refused with the reason; a scratch list, deleted after a question
    name_a_list(qtbot, window, "Rename list…", "Coins")
    assert list_names(window) == ["Default", "Coins"] and watchlist.list_box.currentText() == "Coins"
    name_a_list(qtbot, window, "New list…", "Default")
    assert watchlist.message.isVisible() and "named Default already" in watchlist.message.text()
    assert list_names(window) == ["Default", "Coins"]
    name_a_list(qtbot, window, "New list…", "Scratch")
    assert not watchlist.message.isVisible()
    pick_from_button_menu(qtbot, watchlist.lists_button, "Delete list…")
    (box,) = visible(QMessageBox)
    qtbot.waitExposed(box)
    assert box.windowTitle() == "Delete watchlist"
    assert box.text().startswith("Delete the watchlist Scratch (0 entries)?")
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: list_names(window) == ["Default", "Coins"])

    # switch lists; choosing a row points the chart at it
    show_list(window, "Default")
    assert shown_rows(window) == [("BTC/USDT", "sim"), ("ETH/USDT", "sim"), ("600519.SH", "sim")]
    show_list(window, "Coins")
    click_row(qtbot, window, "600519.SH", "sim")
    moutai = key(kernel, "600519.SH", "sim")
    assert window.chart.symbol == moutai and window.ticket.symbol.currentText() == moutai

    # the header menu: Volume off, Name on
    header = watchlist.table.horizontalHeader()
    menu = context_menu(qtbot, header.viewport(), header.rect().center())
    assert not [a for a in menu.actions() if a.text() == "Symbol"][0].isEnabled()  # a row says what it is
    click(qtbot, menu, "Volume")
    click(qtbot, context_menu(qtbot, header.viewport(), header.rect().center()), "Name")
    assert watchlist.columns() == ["Symbol", "Last", "Chg %", "Bid", "Ask", "Venue", "Name"]
    assert header.isSectionHidden(5) and not header.isSectionHidden(7)

    # a restart finds the lists, the list shown and the columns as they were left
    kernel, window = window_factory.restart(kernel, window)
    watchlist = window.watchlist
    assert list_names(window) == ["Default", "Coins"] and watchlist.list_box.currentText() == "Coins"
    assert shown_rows(window) == [("BTC/USDT", "sim"), ("600519.SH", "sim")]
    assert watchlist.columns() == ["Symbol", "Last", "Chg %", "Bid", "Ask", "Venue", "Name"]
    assert watchlist.table.horizontalHeader().isSectionHidden(5)
