"""The self-test's hands and eyes: clicks and keys delivered to the widgets as Qt delivers a person's (mouse
and key events; Qt's own QtTest module is not in the installed bundle), and what a person checks by looking:
a dialog shown and painted, a line drawn, a dialog that fits a small laptop screen. A widget that is hidden,
disabled or covered cannot be clicked, as for a person."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractButton, QApplication, QComboBox, QDialog, QLineEdit, QTableWidget, QTabWidget, QWidget,
)

from app.cli.selftest.checks import StepFailed

SCREEN = (1366, 768)  # the smallest laptop screen a dialog must fit on,
DECORATION = (0, 48 + 32)  # less a task bar and the dialog's title bar


def mouse_click(widget: QWidget, pos: QPoint | None = None, double: bool = False) -> None:
    """A left click (or double click) at ``pos`` in ``widget`` (its middle by default)."""
    pos = widget.rect().center() if pos is None else pos
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    kinds = [(QEvent.Type.MouseButtonPress, left), (QEvent.Type.MouseButtonRelease, none)]
    if double:
        kinds += [(QEvent.Type.MouseButtonDblClick, left), (QEvent.Type.MouseButtonRelease, none)]
    for kind, buttons in kinds:
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                                                   Qt.MouseButton.LeftButton, buttons,
                                                   Qt.KeyboardModifier.NoModifier))


def key(widget: QWidget, code: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
        text: str = "") -> None:
    """Press and release a key on ``widget``; ``text`` is what it types."""
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(widget, QKeyEvent(kind, code, modifiers, text))


def _key_of(char: str) -> Qt.Key:
    try:
        return Qt.Key(ord(char.upper()))  # printable ASCII: Qt's key code is the character's
    except ValueError:
        return Qt.Key.Key_unknown


def click(widget: QWidget, what: str) -> None:
    """Click ``widget`` as a person would; one that is hidden, disabled or covered cannot be clicked."""
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        raise StepFailed(f"{what} is not on screen")
    if not widget.isEnabled():
        raise StepFailed(f"{what} is disabled")
    top = widget.window()
    if top.childAt(widget.mapTo(top, widget.rect().center())) not in (widget, *widget.findChildren(QWidget)):
        raise StepFailed(f"{what} is covered by another widget")
    mouse_click(widget)


def type_into(field: QWidget, text: str) -> None:
    """Select what the field holds and type ``text`` over it."""
    field.setFocus()
    key(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    for char in text:
        key(field, _key_of(char), text=char)


def choose(combo: QComboBox, text: str, what: str) -> None:
    """Arrow keys on a drop-down until it shows ``text``."""
    combo.setFocus()
    key(combo, Qt.Key.Key_Home)
    for _ in range(combo.count()):
        if combo.currentText() == text:
            return
        key(combo, Qt.Key.Key_Down)
    if combo.currentText() != text:
        offered = [combo.itemText(i) for i in range(combo.count())]
        raise StepFailed(f"{what} does not offer {text!r} (it offers {offered})")


def click_item(view, item, what: str) -> None:
    """Click a row of a list or a table."""
    view.scrollToItem(item)
    mouse_click(view.viewport(), view.visualItemRect(item).center())
    if view.currentItem() is not item and item not in view.selectedItems():
        raise StepFailed(f"clicking {what} did not select it")


def click_tab(tabs: QTabWidget, title: str) -> None:
    bar = tabs.tabBar()
    index = next((i for i in range(tabs.count()) if tabs.tabText(i) == title), -1)
    if index < 0:
        raise StepFailed(f"there is no {title!r} tab")
    mouse_click(bar, bar.tabRect(index).center())
    if tabs.currentIndex() != index:
        raise StepFailed(f"clicking the {title!r} tab did not show it")


def edit_cell(table: QTableWidget, name: str, text: str) -> None:
    """Double-click the value next to ``name``, type over it, Enter."""
    found = table.findItems(name, Qt.MatchFlag.MatchExactly)
    if not found:
        raise StepFailed(f"the parameter table has no {name!r}")
    cell = table.item(found[0].row(), 1)
    where = table.visualItemRect(cell).center()
    mouse_click(table.viewport(), where)
    mouse_click(table.viewport(), where, double=True)
    QApplication.processEvents()
    editor = next((e for e in table.findChildren(QLineEdit) if e.isVisible()), None)
    if editor is None:
        raise StepFailed(f"double-clicking {name!r} did not open an editor")
    type_into(editor, text)
    key(editor, Qt.Key.Key_Return, text="\r")
    QApplication.processEvents()  # the delegate commits on the next turn of the event loop
    if cell.text() != text:
        raise StepFailed(f"typing {text!r} into {name!r} left {cell.text()!r}")


def shown(cls: type) -> list:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, cls) and w.isVisible()]


def open_dialogs() -> list[QWidget]:
    return shown(QDialog)


def painted(widget: QWidget, what: str) -> str:
    """``widget`` is on screen and paints (Qt asks a dialog for its metrics while painting: a shadowed
    ``metric`` once killed the terminal there). Returns its size."""
    QApplication.processEvents()
    if not widget.isVisible():
        raise StepFailed(f"{what} was not shown")
    image = widget.grab()
    if image.isNull() or image.width() < 50 or image.height() < 30:
        raise StepFailed(f"{what} did not paint")
    return f"{image.width()}x{image.height()}"


def pixels_of(widget: QWidget, color: str, tolerance: int = 40) -> int:
    """How many pixels of ``widget``, as painted now, are close to ``color`` (a line that was drawn)."""
    import numpy as np

    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    bgra = rows[:, : 4 * image.width()].reshape(image.height(), image.width(), 4).astype(int)
    want = QColor(color)
    diff = abs(bgra[..., 2] - want.red()) + abs(bgra[..., 1] - want.green()) + abs(bgra[..., 0] - want.blue())
    return int((diff < tolerance).sum())


def colours(widget: QWidget, step: int = 7) -> int:
    image = widget.grab().toImage()
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


def fits_small_screen(dialog: QWidget, what: str) -> str:
    """The dialog as shown, and as small as it can be made, fit a 1366x768 screen, its buttons inside it."""
    room_w, room_h = SCREEN[0] - DECORATION[0], SCREEN[1] - DECORATION[1]
    for label, size in (("opens at", dialog.frameGeometry().size()), ("cannot shrink below", dialog.minimumSizeHint())):
        if size.width() > room_w or size.height() > room_h:
            raise StepFailed(f"{what} {label} {size.width()}x{size.height()} px: more than a {SCREEN[0]}x{SCREEN[1]} "
                             f"screen has room for ({room_w}x{room_h})")
    for button in dialog.findChildren(QAbstractButton):
        if button.isVisible() and not dialog.rect().contains(button.geometry().translated(
                button.parentWidget().mapTo(dialog, QPoint(0, 0)))):
            raise StepFailed(f"{what}: its {button.text()!r} button lies outside it")
    return f"{dialog.width()}x{dialog.height()} px fits {SCREEN[0]}x{SCREEN[1]}"
