"""Small shared helpers for the views: tables, formatted cells, new symbols (colours: theme.py)."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableWidget, QTableWidgetItem


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
