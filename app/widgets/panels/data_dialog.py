"""The Data dialog: the profile's bar store in the window, as ``kestrel data`` has it on the command line.

Stored: every series (venue, symbol, timeframe, first, last, bars, gaps), exported as the backtester's CSV or
deleted (a range, or the whole series, after saying how many bars go). Import: a bar file stored as a series,
with what it was read as. Download: history from a venue (``Port.history``), a progress bar per download,
Cancel, and the outcome per symbol in words.

Nothing slow runs on the GUI thread: store operations run one at a time on the dialog's worker thread and
downloads on the engine's; one timer polls both. Closing the dialog while something runs asks first, and
stops the downloads (what arrived is stored; Download again resumes).
"""
from __future__ import annotations

from collections.abc import Callable
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox, QDialog, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
    QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget,
)

from app.engine.data.bar_files import utc_text
from app.engine.data.bar_store import BarStoreError
from app.engine.data.resample import parse_timeframe, timeframe_label
from app.engine.data.store_files import export_csv, import_file
from app.engine.data.time_text import parse_time
from app.engine.port import Port
from app.engine.venues.market_history import describe
from app.widgets.common import make_table, set_cell
from app.widgets.theme import DOWN, MUTED, css_color

TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
TIME_UNITS = ("detect", "s", "ms", "us", "ns", "iso")
HEADERS = ["Venue", "Symbol", "Timeframe", "First (UTC)", "Last (UTC)", "Bars", "Gaps"]
POLL_MS = 100
LIST_EVERY_S = 1.0  # the stored series are listed again this often while a download runs
TIME_TIP = "ISO 8601 (UTC unless it says, e.g. 2024-01-31 or 2024-01-31T09:30+08:00) or epoch milliseconds"


def _field(placeholder: str, tip: str = TIME_TIP) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setToolTip(tip)
    return edit


def _timeframes() -> QComboBox:
    box = QComboBox()
    box.setEditable(True)
    box.addItems(TIMEFRAMES)
    box.setToolTip("bar length: a number and s, m, h, d or w")
    return box


def _error_text(exc: BaseException) -> str:
    """An operation's failure as a person reads it: the message of our own errors, the kind of any other."""
    if isinstance(exc, (ValueError, OSError, BarStoreError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class DownloadRow(QWidget):
    """One download: what it fetches, a progress bar and Cancel while it runs, then the outcome per symbol."""

    def __init__(self, job: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job, self.venue, self.tf = job, job.venue, timeframe_label(job.timeframe_ms)
        self.title = QLabel()
        self.title.setFixedWidth(320)  # the rows' progress bars line up
        self.title.setWordWrap(True)
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        keep = self.cancel_button.sizePolicy()
        keep.setRetainSizeWhenHidden(True)
        self.cancel_button.setSizePolicy(keep)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addLayout(top)
        layout.addWidget(self.outcome)
        self._shown = 0
        self.lines: list[str] = []
        self.ended = False  # the job's end has been shown
        self.refresh()

    @property
    def running(self) -> bool:
        return self.job.state == "running"

    def cancel(self) -> None:
        self.job.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Stopping…")

    def refresh(self) -> bool:
        """Follow the job; True when something new finished (a symbol or the whole download)."""
        job = self.job
        state, done, total = job.state, int(job.done), int(job.total)
        symbol = job.symbol or ""
        self.title.setText(f"{symbol} {self.tf} on {self.venue}" if state == "running" else
                           f"{', '.join(job.symbols)} {self.tf} on {self.venue}: {state}")
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress.setFormat(f"{min(done, total):,} / {total:,} bars")
        elif state == "running":
            self.progress.setRange(0, 0)  # busy until the download knows how many bars it asks for
        reports = list(job.reports)
        news = len(reports) > self._shown
        for report in reports[self._shown:]:
            self.lines.append(describe(report, self.venue, self.job.timeframe_ms))
        self._shown = len(reports)
        if state != "running" and not self.ended:
            self.ended = True
            self.cancel_button.hide()
            if self.progress.maximum() == 0:
                self.progress.setRange(0, 1)
                self.progress.setValue(1 if state == "done" else 0)
            if job.message and (state == "canceled" or not reports):  # else the lines above say it
                self.lines.append(job.message)
            news = True
        if news:
            self.outcome.setText("\n".join(self.lines))
            failed = state in ("failed", "canceled") or any(not r.complete for r in reports)
            self.outcome.setStyleSheet(css_color(DOWN if failed else None))
        return news


class DataDialog(QDialog):
    """The stored series on top (with Export and Delete), the Download and Import tabs below, so a download's
    bars are seen arriving in the list. One per window (``MainWindow.open_data_dialog``)."""

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Data")
        self.resize(1100, 760)
        self.port = port
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="data-dialog")
        self._work: tuple[str, Future, Callable[[Any], None], Callable[[str], None] | None] | None = None
        self.downloads: list[DownloadRow] = []
        self.series: list[Any] = []
        self._listed_at = 0.0
        self.tabs = QTabWidget()
        self.tabs.addTab(self._download_tab(), "Download")
        self.tabs.addTab(self._import_tab(), "Import")
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(self._stored_box())
        split.addWidget(self.tabs)
        split.setSizes([330, 400])
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.busy)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.refresh_series()

    # ------------------------------------------------------------------------------------------- tabs
    def _stored_box(self) -> QWidget:
        self.table = make_table(HEADERS)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.since = _field("from the first bar")
        self.until = _field("to the last bar (bars before this time)")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("the selected series (in the range, if given) as the backtester's CSV")
        self.export_button.clicked.connect(self.export_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("remove the selected series' bars (in the range, if given); asks first")
        self.delete_button.clicked.connect(self.delete_selected)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_series)
        row = QHBoxLayout()
        row.addWidget(QLabel("From"))
        row.addWidget(self.since, 1)
        row.addWidget(QLabel("Before"))
        row.addWidget(self.until, 1)
        row.addWidget(self.export_button)
        row.addWidget(self.delete_button)
        row.addWidget(refresh)
        box = QGroupBox("Stored series")
        layout = QVBoxLayout(box)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        self._selection_changed()
        return box

    def _import_tab(self) -> QWidget:
        self.file = QLineEdit()
        self.file.setPlaceholderText("a bar file: CSV (.gz, .zip) or Parquet; Kestrel, Yahoo, Binance, "
                                     "TradingView, MT5 or named columns")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_import)
        self.import_venue = QComboBox()
        self.import_venue.setEditable(True)
        self.import_venue.lineEdit().setPlaceholderText("the venue the bars are of, e.g. binance")
        self.import_symbol = QLineEdit()
        self.import_symbol.setPlaceholderText("e.g. BTC/USDT or 600519.SH")
        self.import_timeframe = _timeframes()
        self.import_tz = QLineEdit()
        self.import_tz.setPlaceholderText("UTC")
        self.import_tz.setToolTip("IANA zone of times written without an offset, e.g. Asia/Shanghai")
        self.import_unit = QComboBox()
        self.import_unit.addItems(TIME_UNITS)
        self.import_unit.setToolTip("the time column's unit: epoch s, ms, us, ns or iso text; detect reads "
                                    "it from the values (and says so)")
        self.import_button = QPushButton("Import")
        self.import_button.clicked.connect(self.import_chosen)
        self.import_report = QPlainTextEdit()
        self.import_report.setReadOnly(True)
        self.import_report.setPlaceholderText("what the file was read as: layout, time unit and zone, rows")
        pick = QHBoxLayout()
        pick.addWidget(self.file, 1)
        pick.addWidget(browse)
        form = QFormLayout()
        form.addRow("File", pick)
        form.addRow("Venue", self.import_venue)
        form.addRow("Symbol", self.import_symbol)
        form.addRow("Timeframe", self.import_timeframe)
        form.addRow("Time zone", self.import_tz)
        form.addRow("Time unit", self.import_unit)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(form)
        layout.addWidget(self.import_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.import_report, 1)
        return tab

    def _download_tab(self) -> QWidget:
        self.source = QComboBox()
        self.source.setToolTip("the venues that serve history: the ccxt venues configured, and akshare")
        self.symbols = QLineEdit()
        self.symbols.setPlaceholderText("comma-separated, e.g. BTC/USDT, ETH/USDT")
        self.download_timeframe = _timeframes()
        self.download_since = _field("the stored series' first bar (its holes are filled, then topped up)")
        self.download_until = _field("now")
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.start_download)
        form = QFormLayout()
        form.addRow("Venue", self.source)
        form.addRow("Symbols", self.symbols)
        form.addRow("Timeframe", self.download_timeframe)
        form.addRow("From", self.download_since)
        form.addRow("Before", self.download_until)
        self.download_list = QVBoxLayout()
        self.download_list.addStretch(1)
        holder = QWidget()
        holder.setLayout(self.download_list)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(form)
        layout.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(scroll, 1)
        return tab

    # ------------------------------------------------------------------------------------ stored series
    def refresh_series(self) -> None:
        """The table from the store's index (no bars read), keeping the selected series selected."""
        try:
            rows = self.port.bar_store.series()
        except Exception as exc:  # noqa: BLE001 - a damaged index is said, not raised
            self._say(_error_text(exc), error=True)
            return
        chosen = self.selected()
        self.series = rows
        self.table.setRowCount(len(rows))
        for r, s in enumerate(rows):
            for c, text in enumerate((s.venue, s.symbol, timeframe_label(s.timeframe_ms), utc_text(s.first),
                                      utc_text(s.last), f"{s.bars:,}", str(len(s.gaps)))):
                set_cell(self.table, r, c, text, align_right=c >= 5)
            gaps = (f"{utc_text(a)} .. {utc_text(b)}" for a, b in s.gaps[:20])
            self.table.item(r, 6).setToolTip("\n".join(gaps))
            if chosen and (s.venue, s.symbol, s.timeframe_ms) == chosen:
                self.table.selectRow(r)
        venues = sorted({s.venue for s in rows})
        if venues != [self.import_venue.itemText(i) for i in range(self.import_venue.count())]:
            current = self.import_venue.currentText()
            self.import_venue.clear()
            self.import_venue.addItems(venues)
            self.import_venue.setEditText(current)
        self._listed_at = time.monotonic()
        self._selection_changed()

    def selected(self) -> tuple[str, str, int] | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or not 0 <= rows[0].row() < len(self.series):
            return None
        s = self.series[rows[0].row()]
        return s.venue, s.symbol, s.timeframe_ms

    def _selection_changed(self) -> None:
        chosen = self.selected() is not None and self._work is None
        self.export_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    def _span(self) -> tuple[int | None, int | None]:
        return parse_time(self.since.text(), "From"), parse_time(self.until.text(), "Before")

    def export_selected(self) -> None:
        venue, symbol, tf = self.selected()
        try:
            since, until = self._span()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        name = f"{symbol.replace('/', '-')}-{timeframe_label(tf)}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export bars as CSV", name, "CSV (*.csv *.csv.gz)")
        if not path:
            return
        store = self.port.bar_store
        self._run("export", f"exporting {symbol} {timeframe_label(tf)}…",
                  lambda: export_csv(store, venue, symbol, tf, since, until, path), self._say)

    def delete_selected(self) -> None:
        venue, symbol, tf = self.selected()
        try:
            since, until = self._span()
            bars = self._count(venue, symbol, tf, since, until)
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        what = f"{symbol} {timeframe_label(tf)} on {venue}"
        where = "the whole series" if since is None and until is None else "that range"
        if not bars:
            self._say(f"no stored bars of {what} in that range: nothing to delete", error=True)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete stored bars",
                          f"Delete {bars:,} bars of {what} ({where})?\n\nThey are removed from the profile's "
                          f"bar store; a download or an import can bring them back.", parent=self)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is not delete:
            return
        store = self.port.bar_store
        self._run("delete", f"deleting {bars:,} bars of {what}…",
                  lambda: store.delete(venue, symbol, tf, since, until),
                  lambda removed: self._say(f"deleted {removed:,} bars of {what} ({where})"))

    def _count(self, venue: str, symbol: str, tf: int, since: int | None, until: int | None) -> int:
        """How many bars a delete of [since, until) removes: from the index for the whole series, else by
        reading the range's timestamps."""
        info = self.port.bar_store.info(venue, symbol, tf)
        if info is None:
            return 0
        if since is None and until is None:
            return info.bars
        return len(self.port.bar_store.read(venue, symbol, tf, since, until))

    # ------------------------------------------------------------------------------------------ import
    def _browse_import(self) -> None:
        kinds = "Bar data (*.csv *.csv.gz *.zip *.txt *.tsv *.parquet);;All files (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Bar file to import", "", kinds)
        if path:
            self.file.setText(path)

    def import_chosen(self) -> None:
        path, venue, symbol = self.file.text().strip(), self.import_venue.currentText().strip(), \
            self.import_symbol.text().strip()
        missing = [name for name, value in (("a file", path), ("the venue", venue), ("the symbol", symbol))
                   if not value]
        if missing:
            self._say(f"give {', '.join(missing)} to import", error=True)
            return
        try:
            tf = parse_timeframe(self.import_timeframe.currentText())
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        unit = None if self.import_unit.currentText() == "detect" else self.import_unit.currentText()
        tz = self.import_tz.text().strip() or None
        store = self.port.bar_store
        self.import_report.clear()
        self._run("import", f"importing {path}…",
                  lambda: import_file(store, path, venue, symbol, tf, time_unit=unit, tz=tz,
                                      timeframe_field="Timeframe"),
                  self._imported, on_error=self.import_report.setPlainText)

    def _imported(self, stored: Any) -> None:
        self.import_report.setPlainText("\n".join([*stored.report.lines(), "", stored.summary()]))
        self._say(stored.summary())

    # ---------------------------------------------------------------------------------------- download
    def show_download(self, symbol: str | None = None, venue: str | None = None) -> None:
        """Open on the Download tab, with ``symbol`` and its ``venue`` filled in (the watchlist's Download
        history…). A venue that serves no history is said; the venue list stays as it is."""
        self._fill_sources()
        self.tabs.setCurrentIndex(0)
        if symbol:
            self.symbols.setText(symbol)
        if venue:
            if self.source.findText(venue) >= 0:
                self.source.setCurrentText(venue)
                self._say("")
            else:
                self._say(f"{venue} serves no history to download: choose a venue that does", error=True)
        self.symbols.setFocus()

    def _fill_sources(self) -> None:
        current = self.source.currentText()
        self.source.clear()
        self.source.addItems(self.port.history.sources())
        if current:
            self.source.setCurrentText(current)

    def start_download(self) -> None:
        venue = self.source.currentText()
        symbols = [s.strip() for s in self.symbols.text().split(",") if s.strip()]
        try:
            if not venue:
                raise ValueError("choose a venue to download from")
            if not symbols:
                raise ValueError("give the symbols to download, e.g. BTC/USDT")
            tf = parse_timeframe(self.download_timeframe.currentText())
            since = parse_time(self.download_since.text(), "From")
            until = parse_time(self.download_until.text(), "Before")
            job = self.port.history.download(venue, symbols, tf, since, until)
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        row = DownloadRow(job)
        self.download_list.insertWidget(0, row)
        self.downloads.append(row)
        self._say(f"downloading {', '.join(symbols)} {timeframe_label(tf)} from {venue}…")
        self._timer.start()

    # -------------------------------------------------------------------------------- background work
    def _run(self, what: str, doing: str, work: Callable[[], Any], done: Callable[[Any], None],
             on_error: Callable[[str], None] | None = None) -> None:
        """``work`` (an export, delete or import) on the worker thread, ``doing`` said meanwhile; ``done``
        with its result on the GUI thread, or the error said (and handed to ``on_error``)."""
        if self._work is not None:
            self._say(f"wait for the {self._work[0]} running now", error=True)
            return
        future = self._executor.submit(work)
        self._work = (what, future, done, on_error)
        self.import_button.setEnabled(False)
        self._selection_changed()
        self.busy.show()
        self._say(doing)
        self._timer.start()

    def _poll(self) -> None:
        if self._work is not None and self._work[1].done():
            _doing, future, done, on_error = self._work
            self._work = None
            self.busy.hide()
            self.import_button.setEnabled(True)
            try:
                value = future.result()
            except Exception as exc:  # noqa: BLE001 - a failure is shown as its message, never a traceback
                self._say(_error_text(exc), error=True)
                if on_error is not None:
                    on_error(_error_text(exc))
            else:
                done(value)
            self.refresh_series()
        finished = False
        for row in self.downloads:
            if row.refresh():
                finished = True
        if finished or (self.running_downloads() and time.monotonic() - self._listed_at >= LIST_EVERY_S):
            self.refresh_series()  # a running download's bars are seen arriving
            if not self.running_downloads():
                last = self.downloads[-1].job
                self._say(last.message or f"download {last.state}", error=last.state != "done")
        if self._work is None and not self.running_downloads():
            self._timer.stop()

    def running_downloads(self) -> list[DownloadRow]:
        return [row for row in self.downloads if row.running]

    def busy_with(self) -> str:
        """What runs now, in words ("" when nothing does)."""
        parts = []
        n = len(self.running_downloads())
        if n:
            parts.append(f"{n} download{'s' if n > 1 else ''}")
        if self._work is not None:
            parts.append(f"an {self._work[0]}" if self._work[0][0] in "aeiou" else f"a {self._work[0]}")
        return ", ".join(parts)

    def stop_downloads(self) -> None:
        for row in self.running_downloads():
            row.cancel()

    def reject(self) -> None:  # Esc and the window's close button
        """Closing while something runs asks first; closing then stops the downloads (a store operation runs
        to its end: a write is whole or not at all)."""
        running = self.busy_with()
        if running:
            text = (f"Running now: {running}. Close and stop the downloads? What arrived is stored; Download "
                    f"again resumes.")
            if self._work is not None:
                text += f" The {self._work[0]} runs to its end (a store write is whole or not at all)."
            box = QMessageBox(QMessageBox.Icon.Question, "Close the Data dialog", text, parent=self)
            close = box.addButton("Stop and close", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Keep open", QMessageBox.ButtonRole.RejectRole)
            box.exec()
            if box.clickedButton() is not close:
                return
            self.stop_downloads()
        super().reject()

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(css_color(DOWN if error else MUTED if not text else None))
