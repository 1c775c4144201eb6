"""Tables whose columns fit their contents: many cells written in a frame are measured once, not per cell (the
watchlist of 20 streaming instruments spent ~37 ms of the event loop a frame re-measuring its columns)."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QHeaderView, QTableWidget

from app.widgets.common import cells_changed_once, set_cell
from tests.kit.ui import pump


class CountingTable(QTableWidget):
    """Counts how often its header measures a column (``sizeHintForColumn``)."""

    measured = 0

    def sizeHintForColumn(self, column: int) -> int:  # noqa: N802 - Qt API
        self.measured += 1
        return super().sizeHintForColumn(column)


def fitted_table(qtbot) -> CountingTable:
    table = CountingTable(4, 3)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    qtbot.addWidget(table)
    table.show()
    for r in range(4):
        for c in range(3):
            set_cell(table, r, c, "x")
    qtbot.wait(1)
    return table


def write(table: QTableWidget, texts: dict[tuple[int, int], str]) -> None:
    for (r, c), text in texts.items():
        set_cell(table, r, c, text)


TEXTS = {(r, c): "9" * (4 + 3 * r + c) for r in (1, 2) for c in range(3)}  # wider than "x": columns grow


def test_cells_written_in_a_block_are_measured_once_and_fit_as_if_written_one_by_one(qtbot):
    one_by_one, batched = fitted_table(qtbot), fitted_table(qtbot)
    one_by_one.measured = batched.measured = 0
    write(one_by_one, TEXTS)
    signals = []
    batched.model().dataChanged.connect(lambda tl, br, *_: signals.append((tl.row(), tl.column(), br.row(),
                                                                           br.column())))
    with cells_changed_once(batched, 1, 2):
        write(batched, TEXTS)
        assert batched.measured == 0 and signals == []  # nothing said while writing
    qtbot.wait(1)
    assert signals == [(1, 0, 2, 2)]  # once, for the rows written
    assert batched.measured <= 3 < one_by_one.measured  # each column once (6 cells one by one: 20+)
    assert [batched.columnWidth(c) for c in range(3)] == [one_by_one.columnWidth(c) for c in range(3)]
    assert batched.columnWidth(0) > fitted_table(qtbot).columnWidth(0)  # the column grew to its new text
    assert batched.item(2, 1).text() == TEXTS[(2, 1)]


def test_a_failure_while_writing_still_tells_the_view_and_leaves_the_model_speaking(qtbot):
    table = fitted_table(qtbot)
    signals = []
    table.model().dataChanged.connect(lambda *a: signals.append(a))
    with pytest.raises(RuntimeError):
        with cells_changed_once(table, 0, 0):
            set_cell(table, 0, 0, "written before the failure")
            raise RuntimeError("a view's bug")
    assert len(signals) == 1 and not table.model().signalsBlocked()
    set_cell(table, 3, 0, "later")
    assert len(signals) == 2


def test_a_watchlist_frame_tells_its_table_once_however_many_rows_changed(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 300)
    table = window.watchlist.table
    signals = []
    table.model().dataChanged.connect(lambda *a: signals.append(a))
    for _ in range(5):
        kernel.clock.advance(50)
        kernel.step()
    window.watchlist._seen.clear()  # every row redrawn this frame
    window.watchlist.refresh()
    assert len(signals) == 1
    header = table.horizontalHeader()
    assert all(header.sectionResizeMode(c) == QHeaderView.ResizeMode.ResizeToContents
               for c in range(header.count()))
    row = list(kernel.instruments).index("BTC/USDT@sim")
    assert float(table.item(row, 1).text().replace(",", "")) > 0
