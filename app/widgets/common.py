"""Small shared helpers for the views: tables, formatted cells, new symbols (colours: theme.py)."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHeaderView, QMenu, QTableWidget, QTableWidgetItem


def make_table(headers: list[str], parent=None) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(20)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return table


_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def set_cell(table: QTableWidget, row: int, col: int, text: str, color: QColor | None = None,
             align_right: bool = True) -> None:
    """Write a cell only if its text or colour changed (cheap repaint)."""
    item = table.item(row, col)
    if item is None:
        item = QTableWidgetItem()
        table.setItem(row, col, item)
    if item.text() != text:
        item.setText(text)
    if align_right and item.textAlignment() != _RIGHT:
        item.setTextAlignment(_RIGHT)
    if color is not None and item.foreground().color() != color:
        item.setForeground(color)


@contextmanager
def cells_changed_once(table: QTableWidget, first_row: int, last_row: int) -> Iterator[None]:
    """Write cells of rows ``first_row``..``last_row`` (text, colours, tooltips: no rows added or removed, no
    sorting) and tell the table's view and header once, at the end, that those rows changed.

    Every cell written otherwise tells them on its own, and a header re-measures its ``ResizeToContents``
    columns, every row of them, on each one (~0.35 ms a cell): a watchlist of 20 streaming instruments writes
    ~100 cells a frame, which cost ~37 ms of the event loop a frame. Here the model is silent while the cells
    are written; then one ``dataChanged``: each column is measured once, the rows repaint once."""
    model = table.model()
    silent = model.blockSignals(True)
    try:
        yield
    finally:
        model.blockSignals(silent)
        if not silent:
            model.dataChanged.emit(model.index(first_row, 0), model.index(last_row, model.columnCount() - 1))


def fit_column(table: QTableWidget, col: int, texts: list[str]) -> None:
    """Make column ``col`` as wide as the longest of ``texts`` and its header, once (resize-to-contents would
    measure every row on every change)."""
    name = table.horizontalHeaderItem(col).text()
    width = max(table.fontMetrics().horizontalAdvance(t) for t in [*texts, name]) + 16
    table.horizontalHeader().resizeSection(col, width)


def offer(combo: QComboBox, items: list[str], choice: str) -> bool:
    """Make ``items`` the choices of ``combo`` if they are not already, silently (rebuilding the list is not a
    person choosing), with ``choice`` selected, or the first item if it is not among them. True if rebuilt."""
    if [combo.itemText(i) for i in range(combo.count())] == items:
        return False
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    combo.setCurrentText(choice if choice in items else items[0])
    combo.blockSignals(False)
    return True


def id_samples(instruments) -> list[str]:  # noqa: ANN001 - the Port's InstrumentTable
    """Instrument ids to size a Symbol column by: the listed ones (the first 50) and a usual one."""
    return ["BTC/USDT@sim", *list(instruments)[:50]]


def fmt(value: float | None, decimals: int) -> str:
    if value is None or value != value:
        return "—"
    return f"{value:,.{decimals}f}"


def new_symbols(known: int, instruments: dict) -> list[str]:
    """Symbols added to the engine's instrument table since a view listed its first ``known`` ones (a venue
    connected after start-up adds its markets: they show up without a restart). Instruments are only ever
    added, and a dict keeps insertion order, so the new ones are the tail."""
    if len(instruments) <= known:
        return []
    return list(instruments)[known:]


def add_choices(menu: QMenu, choices: Mapping[str, str], pick: Callable[[str], None]) -> dict[str, QAction]:
    """Mutually exclusive, checkable entries in ``menu`` (key -> text); choosing one calls ``pick(key)``.
    Returns the actions by key (the caller checks the current one)."""
    group = QActionGroup(menu)  # exclusive; the menu keeps it
    actions = {}
    for key, text in choices.items():
        action = menu.addAction(text)
        action.setCheckable(True)
        group.addAction(action)
        action.triggered.connect(lambda _checked=False, k=key: pick(k))
        actions[key] = action
    return actions


def parse_number(text: str) -> float | None:
    """A number as a person types it ("65,000.5"); None when it is not one. NaN and inf pass through: the risk
    engine denies them with a reason code."""
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        return None


def read_numbers(boxes: list, error) -> list | None:  # noqa: ANN001 - (QLineEdit, name) pairs, a QLabel
    """The numbers in a form's boxes, ``(box, name)`` pairs: None for an empty or disabled box. None when one is
    not a number, the form's ``error`` label saying which."""
    values = []
    for box, name in boxes:
        if not box.text().strip() or not box.isEnabled():
            values.append(None)
            continue
        value = parse_number(box.text())
        if value is None:
            error.setText(f"The {name} {box.text()!r} is not a number.")
            return None
        values.append(value)
    return values
