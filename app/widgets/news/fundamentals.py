"""The Fundamentals tab: one A-share's valuation and report figures, each beside the date it describes, with when
they were fetched and whether they are stored ones served because the source did not answer. A view only: the
figures come from ``app.engine.news.fundamentals``; "Refresh" asks for new ones (``refresh_requested``)."""
from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.engine.news.fundamentals import FIELDS, LABELS, NOT_A_SHARE, Figure, format_value, is_a_share
from app.widgets.common import make_table, set_cell
from app.widgets.theme import ALERT, MUTED, css_color

HEADERS = ["Figure", "Value", "Date"]


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M") if ms else "never"


class FundamentalsTab(QWidget):
    refresh_requested = Signal(str)  # the symbol whose figures to fetch again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.symbol = ""
        self.header = QLabel("")
        self.header.setObjectName("fundamentalsHeader")
        self.stale = QLabel("")
        self.stale.setObjectName("fundamentalsStale")
        self.stale.setStyleSheet(css_color(ALERT))
        self.refresh = QPushButton("Refresh")
        self.refresh.setObjectName("fundamentalsRefresh")
        self.refresh.clicked.connect(self._refresh)
        self.message = QLabel("")
        self.message.setObjectName("fundamentalsMessage")
        self.message.setWordWrap(True)
        self.table = make_table(HEADERS, self)
        self.table.setObjectName("fundamentalsTable")
        self.errors = QLabel("")
        self.errors.setObjectName("fundamentalsErrors")
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet(css_color(MUTED))

        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.stale)
        top.addWidget(self.refresh)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.message)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.errors)
        self.show_figures("", {}, 0, False, [])

    def set_symbol(self, symbol: str) -> None:
        """Show ``symbol`` with nothing fetched yet (the caller then shows stored figures or asks for them)."""
        self.show_figures(symbol, {}, 0, False, [])

    def show_figures(self, symbol: str, figures: dict[str, Figure], fetched_ms: int, stale: bool,
                     errors: list[str]) -> None:
        self.symbol = symbol
        a_share = is_a_share(symbol)
        self.refresh.setEnabled(a_share)
        self.table.setVisible(a_share)
        if not a_share:
            self.header.setText(symbol)
            self.message.setText(NOT_A_SHARE if symbol else f"Choose an A-share. {NOT_A_SHARE}")
            self.message.setVisible(True)
            self.stale.setText("")
            self.errors.setText("")
            self.table.setRowCount(0)
            return
        self.header.setText(f"{symbol} · as of {_when(fetched_ms)}")
        self.stale.setText("⚠ stale: stored figures, the source did not answer" if stale else "")
        self.stale.setToolTip(f"fetched {_when(fetched_ms)}" if stale else "")
        shown = [figures[f] for f in FIELDS if f in figures]
        self.message.setText("" if shown else "No figures stored yet: press Refresh.")
        self.message.setVisible(not shown)
        self.errors.setText("\n".join(errors))
        self.table.setRowCount(len(shown))
        for row, fig in enumerate(shown):
            set_cell(self.table, row, 0, LABELS[fig.field], align_right=False)
            set_cell(self.table, row, 1, format_value(fig.field, fig.value))
            set_cell(self.table, row, 2, fig.report_date)
            self.table.item(row, 2).setToolTip(fig.source)

    def _refresh(self) -> None:
        if is_a_share(self.symbol):
            self.refresh_requested.emit(self.symbol)
