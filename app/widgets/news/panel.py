"""The News dock: the chart symbol's news, the market flash, or everything, newest arrival first, coloured by
sentiment, new items in bold for a minute, a double click opens the link; the sources' state on one line (stale
ones say since when); Sources… adds a feed or akshare and shows each source's counts; the Fundamentals tab
for A-shares. A view only: the items are the engine's (``Port.news``)."""
from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QPushButton, QTableView, QTabWidget, QVBoxLayout, QWidget,
)

from app.engine.port import Port
from app.widgets.common import make_table, set_cell
from app.widgets.news.fundamentals import FundamentalsTab
from app.widgets.theme import ALERT, DOWN, MUTED, UP, css_color

HEADERS = ["Arrived", "Source", "Score", "Symbols", "Title"]
SOURCE_HEADERS = ["Name", "Kind", "State", "Stored", "Dup", "Skipped", "Last error", "Target"]
FILTERS = (("This symbol", "symbol"), ("Flash", "flash"), ("All", "all"))
NEW_FOR_S = 60.0
FUND_MIN_S = 60.0  # the Fundamentals tab's Refresh asks akshare at most this often per symbol
KIND_LABELS = {"rss": "RSS/Atom feed (URL)", "akshare-flash": "akshare: market flash news",
               "akshare-news": "akshare: A-share news (watched stocks)",
               "akshare-notices": "akshare: A-share announcements (watched stocks)"}


def _time(ms: int) -> str:
    if not ms:
        return ""
    d = dt.datetime.fromtimestamp(ms / 1000)
    return d.strftime("%H:%M:%S") if d.date() == dt.date.today() else d.strftime("%m-%d %H:%M")


def score_color(score: float):
    if math.isnan(score):
        return MUTED
    return UP if score > 0.05 else DOWN if score < -0.05 else MUTED


class NewsModel(QAbstractTableModel):
    """The shown items as a model: a burst of hundreds resets it in one call and the view paints only the rows
    in sight (a QTableWidget wrote every cell: ~20 ms per refresh at 300 rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []
        self.new: set[int] = set()  # ids shown in bold
        self._bold = QFont()
        self._bold.setBold(True)

    def set_rows(self, rows: list[Any], new: set[int]) -> None:
        self.beginResetModel()
        self.rows, self.new = rows, new
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None

    def text(self, row: int, col: int) -> str:
        r = self.rows[row]
        if col == 0:
            return _time(r.arrived_ms)
        if col == 1:
            return r.source
        if col == 2:
            return "" if math.isnan(r.score) else f"{r.score:+.2f}"
        if col == 3:
            return " ".join(r.symbols)
        return r.title

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, col)
        r = self.rows[row]
        if role == Qt.ItemDataRole.ForegroundRole and col in (2, 4):
            return score_color(r.score)
        if role == Qt.ItemDataRole.FontRole and r.id in self.new:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == 4:
            return (r.summary[:600] + ("\n" if r.summary else "") + r.url +
                    f"\npublished {_time(r.published_ms)} · arrived {_time(r.arrived_ms)}")
        return None


class SourcesDialog(QDialog):
    """The news sources: each one's state and counts; add a feed or an akshare kind; remove; poll now."""

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self.setWindowTitle("News sources")
        self.table = make_table(SOURCE_HEADERS, self)
        self.table.setObjectName("newsSources")
        header = self.table.horizontalHeader()
        for c in range(len(SOURCE_HEADERS)):  # a few rows: the short columns fit their contents, the error stretches
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch if SOURCE_HEADERS[c] == "Last error"
                                        else QHeaderView.ResizeMode.ResizeToContents)
        self.kind = QComboBox()
        self.kind.setObjectName("newsSourceKind")
        for k, label in KIND_LABELS.items():
            self.kind.addItem(label, k)
        self.name = QLineEdit()
        self.name.setObjectName("newsSourceName")
        self.name.setPlaceholderText("a short name, e.g. coindesk")
        self.target = QLineEdit()
        self.target.setObjectName("newsSourceTarget")
        self.target.setPlaceholderText("https://… (a feed); for akshare: blank, or A-share codes 600519,000001")
        self.message = QLabel()
        self.message.setObjectName("newsSourcesMessage")
        self.message.setWordWrap(True)
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.poll_button = QPushButton("Poll now")
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("Name", self.name)
        form.addRow("Feed / symbols", self.target)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.poll_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.message)
        lay.addWidget(close)
        self.add_button.clicked.connect(self.add)
        self.remove_button.clicked.connect(self.remove)
        self.poll_button.clicked.connect(self.poll)
        self.resize(860, 380)
        self.refresh()
        self._timer = QTimer(self)  # states, pauses and counts as they change while it is open
        self._timer.timeout.connect(self.refresh)
        self._timer.start(1000)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(css_color(DOWN if error else UP))

    def add(self) -> None:
        kind = self.kind.currentData()
        name = self.name.text().strip() or (kind if kind != "rss" else "")
        if not name:
            self._say("Give the source a name.", error=True)
            return
        try:
            self._port.news.add_source(name, kind, self.target.text().strip())
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self._port.news.poll_now(name)
        self._say(f"Added {name}: polled within a second.")
        self.refresh()

    def _selected(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        item = self.table.item(rows[0].row(), 0) if rows else None
        return item.text() if item is not None else ""

    def remove(self) -> None:
        name = self._selected()
        if name:
            self._port.news.remove_source(name)
            self._say(f"Removed {name} (its stored items stay).")
            self.refresh()

    def poll(self) -> None:
        name = self._selected()
        if name:
            self._port.news.poll_now(name)
            self._say(f"Polling {name}.")

    def refresh(self) -> None:
        rows = self._port.news.sources()
        t = self.table
        t.setRowCount(len(rows))
        for i, r in enumerate(rows):
            st = r["status"]
            state = st.get("state", "waiting")
            if state == "paused":
                state = f"paused {st.get('paused_s', 0):.0f} s"
            skipped = sum(int(st.get(k, 0)) for k in ("empty", "unreadable"))
            color = UP if state == "ok" else DOWN if state.startswith(("paused", "retrying")) else MUTED
            for c, text in enumerate((r["name"], r["kind"], state, str(st.get("stored", 0)),
                                      str(st.get("duplicates", 0)), str(skipped),
                                      st.get("last_error") or st.get("last_problem") or "", r["target"])):
                set_cell(t, i, c, text, color if c == 2 else None, align_right=c in (3, 4, 5))
                if c in (6, 7) and t.item(i, c).toolTip() != text:
                    t.item(i, c).setToolTip(text)  # the whole error or URL


class NewsPanel(QWidget):
    """News items and the sources' state; the Fundamentals tab beside them."""

    linkOpened = Signal(str)

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._seen: tuple = ()
        self._checked = 0.0
        self._known: set[int] = set()
        self._first_seen: dict[int, float] = {}
        self.current_symbol = lambda: ""  # the window: its chart's symbol
        self.open_url = QDesktopServices.openUrl  # tests replace it (no browser)
        self.filter = QComboBox()
        self.filter.setObjectName("newsFilter")
        for label, key in FILTERS:
            self.filter.addItem(label, key)
        self.sources_button = QPushButton("Sources…")
        self.sources_button.setObjectName("newsSourcesButton")
        self.status = QLabel()
        self.status.setObjectName("newsStatus")
        self.status.setWordWrap(True)
        self.model = NewsModel()
        self.table = QTableView()
        self.table.setObjectName("newsTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()  # fixed widths: sizing to contents re-measures every row per change
        for c, width in enumerate((104, 120, 52, 96)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(c, width)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda index: self._open_row(index.row(), index.column()))
        self.fundamentals = FundamentalsTab()
        self.fundamentals.refresh_requested.connect(self._refresh_fundamentals)
        self.sources_dialog: SourcesDialog | None = None
        news = QWidget()
        nl = QVBoxLayout(news)
        nl.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.filter)
        top.addWidget(self.status, 1)
        top.addWidget(self.sources_button)
        nl.addLayout(top)
        nl.addWidget(self.table, 1)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("newsTabs")
        self.tabs.addTab(news, "News")
        self.tabs.addTab(self.fundamentals, "Fundamentals")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.tabs)
        self.filter.currentIndexChanged.connect(lambda _i: self.refresh(force=True))
        self.sources_button.clicked.connect(self.open_sources)
        self.tabs.currentChanged.connect(lambda _i: self._show_fundamentals())
        self._fund_symbol = ""
        self._fund_task: asyncio.Task | None = None

    # ------------------------------------------------------------------------------------------ actions
    def open_sources(self) -> SourcesDialog:
        self.sources_dialog = SourcesDialog(self._port, self)
        self.sources_dialog.open()
        return self.sources_dialog

    def _open_row(self, row: int, _col: int) -> None:
        rows = self.model.rows
        if 0 <= row < len(rows) and rows[row].url:
            url = rows[row].url
            self.open_url(QUrl(url))
            self.linkOpened.emit(url)

    # ------------------------------------------------------------------------------------------ refresh
    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < 0.25:
            return
        self._checked = now
        news = self._port.news
        mode = self.filter.currentData()
        symbol = self.current_symbol() if mode == "symbol" else ""
        key = (news.version, mode, symbol, int(now // 10))  # and every 10 s: "new" fades, pauses count down
        if key == self._seen and not force:
            return
        self._seen = key
        if self.tabs.currentWidget() is self.fundamentals and symbol != self._fund_symbol:
            self._show_fundamentals()
        if mode == "symbol":
            rows = news.recent(symbol, limit=200) if symbol else []
        elif mode == "flash":
            rows = news.recent(None, kinds=("flash",), limit=200)
        else:
            rows = news.recent(None, limit=300)
        first = not self._known
        for r in rows:
            if r.id not in self._known:
                self._known.add(r.id)
                if not first:
                    self._first_seen[r.id] = now
        new = {r.id for r in rows if now - self._first_seen.get(r.id, -1e9) < NEW_FOR_S}
        self.model.set_rows(rows, new)
        self._show_status(rows, mode, symbol)

    def new_rows(self) -> list[int]:
        """Rows shown in bold (arrived in the last minute while the dock was open)."""
        m = self.model
        return [i for i in range(m.rowCount()) if m.data(m.index(i, 4), Qt.ItemDataRole.FontRole) is not None]

    def column(self, col: int) -> list[str]:
        """The texts of one column, top to bottom, as shown."""
        m = self.model
        return [m.data(m.index(i, col)) for i in range(m.rowCount())]

    def row_rect(self, row: int, col: int = 4):
        """Where a cell is on the table's viewport (for a click)."""
        return self.table.visualRect(self.model.index(row, col))

    def _show_status(self, rows: list[Any], mode: str, symbol: str) -> None:
        sources = self._port.news.sources()
        parts, stale = [], []
        for s in sources:
            st = s["status"]
            if st.get("state") in ("paused", "retrying"):
                since = _time(int(st.get("last_ok_ms") or 0))
                stale.append(f"{s['name']}: {st.get('last_error', '')} "
                             + (f"(stale since {since})" if since else "(nothing fetched yet)"))
            elif st.get("state") == "ok":
                parts.append(s["name"])
        if not sources:
            text = "No news sources: Sources… adds a feed (RSS/Atom) or akshare (A-shares)."
        elif stale:
            text = "Stale — " + "; ".join(stale) + (f". OK: {', '.join(parts)}" if parts else "")
        else:
            text = f"{len(rows)} items" + (f" about {self._port.news.key(symbol)}" if symbol else "") + \
                (f" · {', '.join(parts)} ok" if parts else "")
        if mode == "symbol" and not symbol:
            text = "No symbol on the chart. " + text
        problems = self._port.news.scorer_problems()
        if problems:
            text += " · scorer refused: " + problems[0]
        if self.status.text() != text:
            self.status.setText(text)
            self.status.setStyleSheet(css_color(ALERT if stale else MUTED))

    # ------------------------------------------------------------------------------------ fundamentals
    def _show_fundamentals(self) -> None:
        symbol = self.current_symbol()
        self._fund_symbol = symbol
        key = self._port.news.key(symbol) if symbol else ""
        figures, fetched = self._port.news.fundamentals(symbol) if symbol else ({}, None)
        self.fundamentals.show_figures(key, figures, fetched or 0, False, [])

    def _refresh_fundamentals(self, symbol: str) -> None:
        if self._fund_task is not None and not self._fund_task.done():
            return
        _figures, fetched = self._port.news.fundamentals(symbol)
        age = time.time() - fetched / 1000 if fetched else math.inf  # fetched_ms is the wall clock
        if 0 <= age < FUND_MIN_S:  # eastmoney and sina ban rapid callers: once a minute is plenty for these figures
            self.fundamentals.errors.setText(f"Fetched {age:.0f} s ago; Refresh again in {FUND_MIN_S - age:.0f} s.")
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.fundamentals.show_figures(symbol, *self._port.news.fundamentals(symbol)[:1], 0, True,
                                           ["no event loop: cannot fetch here"])
            return
        self.fundamentals.refresh.setEnabled(False)
        self.fundamentals.refresh.setText("Fetching…")

        async def go() -> None:
            try:
                r = await self._port.news.refresh_fundamentals(symbol)
                self.fundamentals.show_figures(r.symbol, r.figures, r.fetched_ms, r.stale, list(r.errors))
            except Exception as exc:  # noqa: BLE001 - shown, never raised into the loop
                figures, fetched = self._port.news.fundamentals(symbol)
                self.fundamentals.show_figures(self._port.news.key(symbol), figures, fetched or 0, True, [str(exc)])
            finally:
                self.fundamentals.refresh.setEnabled(True)
                self.fundamentals.refresh.setText("Refresh")

        self._fund_task = loop.create_task(go())
