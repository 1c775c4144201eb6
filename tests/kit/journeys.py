"""What the journeys showed in this session (filled by tests/journeys/conftest.py, read by
test_zz_every_dialog_is_shown.py): one module object, so both see the same sets."""
from __future__ import annotations

#: (class name, window title) of every dialog shown during this session's journeys
SHOWN: set[tuple[str, str]] = set()
#: the journey modules that ran in this session
RAN: set[str] = set()


def pick_in_combo(combo, text: str) -> None:
    """Arrow keys on the combo box until it shows ``text``."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    target = combo.findText(text)
    assert target >= 0, text
    combo.setFocus()
    key = Qt.Key.Key_Down if target > combo.currentIndex() else Qt.Key.Key_Up
    for _ in range(combo.count()):
        if combo.currentIndex() == target:
            break
        QTest.keyClick(combo, key)
    assert combo.currentText() == text


def click_entry(qtbot, menu, starts: str) -> None:
    """Click the entry of the open ``menu`` whose text starts with ``starts``."""
    from PySide6.QtCore import Qt

    (action,) = [a for a in menu.actions() if a.text().startswith(starts)]
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible())


def pick_from_button_menu(qtbot, button, starts: str) -> list[str]:
    """Click a tool button whose menu pops up (modal); in it, click the entry starting with ``starts``.
    Returns the menu's entries as shown."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QMenu

    seen = []

    def answer() -> None:
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            QTimer.singleShot(20, answer)
            return
        seen.append([a.text() for a in menu.actions()])
        click_entry(qtbot, menu, starts)

    QTimer.singleShot(20, answer)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen))
    return seen[0]


def visible(cls) -> list:
    """The shown top-level widgets of ``cls`` (a dialog a step opened)."""
    from PySide6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, cls) and w.isVisible()]


def click_venue(qtbot, dock, venue: str) -> None:
    """Click ``venue``'s row in the Venues dock."""
    from PySide6.QtCore import Qt

    dock.refresh()
    (item,) = dock.venues.findItems(venue, Qt.MatchFlag.MatchExactly)
    table = dock.venues
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center())
    assert dock.selected() == venue


def venue_state(dock, venue: str) -> str | None:
    """The State column of ``venue``'s row in the Venues dock (None: not listed)."""
    dock.refresh()
    row = dock.row_of(venue)
    return row[0] if row else None


def open_backtest(qtbot, window, plugin: str):
    """Strategies dock: choose ``plugin``, click Backtest…; the dialog, shown."""
    from PySide6.QtCore import Qt

    from tests.kit.ui import choose

    dock = window.strategies
    window.docks["strategies"].raise_()
    choose(dock.plugin_box, plugin)
    qtbot.mouseClick(dock.backtest_button, Qt.MouseButton.LeftButton)
    dialog = dock._dialog
    qtbot.addWidget(dialog)
    qtbot.waitExposed(dialog)
    return dialog


def current_tab(dialog) -> str:
    return dialog.tabs.tabText(dialog.tabs.currentIndex())


def fill_limit_ticket(qtbot, ticket, symbol: str, quantity: str, price: str) -> None:
    """The order ticket set for a limit order as a person types it: the instrument, LIMIT, quantity, price."""
    ticket.set_symbol(symbol)
    ticket.order_type.setCurrentText("LIMIT")
    ticket.quantity.selectAll()
    qtbot.keyClicks(ticket.quantity, quantity)
    ticket.price.selectAll()
    qtbot.keyClicks(ticket.price, price)


def click_buy(qtbot, ticket, kernel) -> str:
    """Click the ticket's Buy; the client id of the one order it made."""
    from PySide6.QtCore import Qt

    before = set(kernel.execution.orders)
    qtbot.mouseClick(ticket.buy_button, Qt.MouseButton.LeftButton)
    (cid,) = set(kernel.execution.orders) - before
    return cid
