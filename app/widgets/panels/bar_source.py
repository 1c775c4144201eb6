"""Where a backtest's or a training's bars come from: a file, or a series of the profile's bar store.

Shared by the Backtest dialog and the Models dock. The list of stored series comes from the store's index
(``port.bar_store.series()``: no bars read) when the picker is shown and every few seconds while it is, so a
download finishing meanwhile appears. ``source()`` gives a file's path or a ``StoredRange`` checked against
the index; the bars themselves are read by the worker process that runs the job.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLineEdit, QPushButton, QSizePolicy,
                               QRadioButton, QWidget)

from app.engine.data.bar_files import utc_text
from app.engine.data.bar_store import BarStoreError, SeriesInfo
from app.engine.data.resample import timeframe_label
from app.engine.data.stored_range import StoredRange
from app.engine.data.time_text import parse_time

NO_HISTORY = "No stored history: use Data → Download, or `kestrel data download`"
FILE_HINT = "bar file: CSV, .gz, .zip or Parquet (Kestrel, Yahoo, Binance, TradingView, MT5, named columns)"
REFRESH_MS = 3000


def series_text(s: SeriesInfo) -> str:
    """ "binance · BTC/USDT · 1m (2024-01-01 00:00 – 2024-03-01 23:59 UTC, 86,400 bars)" """
    first = utc_text(s.first).removesuffix(" UTC")
    return (f"{s.venue} · {s.symbol} · {timeframe_label(s.timeframe_ms)} ({first} – {utc_text(s.last)}, "
            f"{s.bars:,} bars)")


class BarSourcePicker(QWidget):
    def __init__(self, bar_store: Any | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = bar_store  # the Port's read model; None: no store (the stored choice is disabled)
        self._series: list[SeriesInfo] = []
        self._listed = False
        self.file_choice = QRadioButton("File")
        self.stored_choice = QRadioButton("Stored series")
        # its text is "what to do" when there is no stored series (one long line): it is cut in a narrow dock
        # (the tooltip has it whole) rather than making the dock as wide as the sentence
        self.stored_choice.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stored_choice.setMinimumWidth(self.stored_choice.sizeHint().width())
        self.file_choice.setChecked(True)
        self.path = QLineEdit()
        self.path.setPlaceholderText(FILE_HINT)
        self.path.textChanged.connect(lambda _text: self.file_choice.setChecked(True))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.series_box = QComboBox()
        self.series_box.activated.connect(lambda _i: self.stored_choice.setChecked(True))
        self.series_box.currentTextChanged.connect(self.series_box.setToolTip)  # the whole text, when elided
        self.series_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.series_box.setMinimumContentsLength(20)  # long names elide; the since/until fields keep their room
        self.since = QLineEdit()
        self.since.setPlaceholderText("since, e.g. 2024-01-01")
        self.since.setToolTip("The first bar's time: ISO 8601 (UTC unless it has an offset) or epoch ms; "
                              "empty: the series' first bar")
        self.until = QLineEdit()
        self.until.setPlaceholderText("until (bars before it)")
        self.until.setToolTip("Bars opened before this time: ISO 8601 or epoch ms; empty: to the last bar")
        for field in (self.since, self.until):
            field.setMinimumWidth(field.fontMetrics().horizontalAdvance("2024-01-31T09:30+08:00"))
            field.textEdited.connect(lambda _text: self.stored_choice.setChecked(True))

        grid = self._grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(browse)
        stored_row = QHBoxLayout()
        stored_row.addWidget(self.series_box, 3)
        stored_row.addWidget(self.since, 1)
        stored_row.addWidget(self.until, 1)
        grid.addWidget(self.file_choice, 0, 0)
        grid.addLayout(file_row, 0, 1)
        grid.addWidget(self.stored_choice, 1, 0)
        grid.addLayout(stored_row, 1, 1)
        grid.setColumnStretch(1, 1)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh_series)
        self.refresh_series()

    def extend_rows(self, beside_file: QWidget, beside_stored: QWidget) -> None:
        """Put a host's own controls at the end of the two rows (the Models dock keeps its height)."""
        self._grid.addWidget(beside_file, 0, 2)
        self._grid.addWidget(beside_stored, 1, 2)

    # ------------------------------------------------------------------------------------------ series
    def refresh_series(self) -> None:
        """Read the stored series from the index; the combo is rebuilt only when they changed."""
        try:
            series = self._store.series() if self._store is not None else []
        except BarStoreError as exc:  # a damaged index: said where the series would be
            series, problem = [], f"The bar store cannot be read: {exc}"
        else:
            problem = NO_HISTORY
        if self._listed and series == self._series:
            return
        self._listed = True
        chosen = self.chosen_series()
        self._series = series
        self.series_box.blockSignals(True)
        self.series_box.clear()
        self.series_box.addItems([series_text(s) for s in series])
        keys = [(s.venue, s.symbol, s.timeframe_ms) for s in series]
        if chosen is not None and (chosen.venue, chosen.symbol, chosen.timeframe_ms) in keys:
            self.series_box.setCurrentIndex(keys.index((chosen.venue, chosen.symbol, chosen.timeframe_ms)))
        self.series_box.blockSignals(False)
        for w in (self.stored_choice, self.series_box, self.since, self.until):
            w.setEnabled(bool(series))
        self.stored_choice.setText("Stored series" if series else problem)
        self.stored_choice.setToolTip("" if series else problem)  # the whole text, where a narrow dock cuts it
        self.series_box.setVisible(bool(series))
        self.since.setVisible(bool(series))
        self.until.setVisible(bool(series))
        if not series and self.stored_choice.isChecked():
            self.file_choice.setChecked(True)

    def chosen_series(self) -> SeriesInfo | None:
        i = self.series_box.currentIndex()
        return self._series[i] if 0 <= i < len(self._series) else None

    def choose_series(self, venue: str, symbol: str, timeframe_ms: int) -> None:
        """Select that stored series (and the stored choice), as a person picking it in the combo does."""
        keys = [(s.venue, s.symbol, s.timeframe_ms) for s in self._series]
        self.series_box.setCurrentIndex(keys.index((venue, symbol, timeframe_ms)))
        self.stored_choice.setChecked(True)

    # ------------------------------------------------------------------------------------------ source
    @property
    def stored(self) -> bool:
        return self.stored_choice.isChecked()

    def source(self) -> str | StoredRange:
        """The file's path, or the stored range (checked against the index: it holds bars). ``ValueError``
        (a ``DataError`` for the store) says what to fix."""
        if not self.stored:
            path = self.path.text().strip()
            if not path:
                raise ValueError("choose a bar file (Browse…) or a stored series")
            return path
        info = self.chosen_series()
        if info is None:
            raise ValueError(NO_HISTORY)
        since = parse_time(self.since.text().strip() or None, "since")
        until = parse_time(self.until.text().strip() or None, "until")
        span = StoredRange.in_store(self._store, info.venue, info.symbol, info.timeframe_ms, since, until)
        span.check(self._store)
        return span

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Bar data", "", "Bar data (*.csv *.csv.gz *.zip *.txt *.tsv *.parquet);;All files (*)")
        if path:
            self.path.setText(path)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.refresh_series()
        self._timer.start(REFRESH_MS)
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._timer.stop()
        super().hideEvent(event)
