"""The chart: candles, volume, indicators, our orders; a million candles pan and zoom like a thousand.

What a frame costs follows the screen, not the history:
- the visible span is cut into buckets aligned to power-of-two blocks of bars (``chart_lod``); each bucket
  keeps first open, last close, highest high, lowest low, summed volume, so no extreme is ever lost;
- the y-axes fit to the buckets' extremes (exact for the visible span) in O(buckets) when the view moves,
  in O(1) when only the last bar changed (``chart_data.Buckets``);
- layers draw numpy-mapped arrays in one QPainter call each (``chart_items``) on one painted widget
  (``chart_view``), dirty rect by dirty rect; the scales draw cached labels (``chart_axes``);
- ``update_bar`` (replace the last bar or append) updates the block extremes in O(log n), indicators in
  O(tail), and repaints only the last bar's strip when no axis had to move.

Programmatic API (tests, benchmarks): ``set_bars(df)``, ``update_bar(bar)``, ``set_x_range(first, last)``.
With a kernel the chart follows the symbol's live bars (``refresh`` at frame rate), draws our fills and
orders, and lets a trader drag a working order's line to move it (cancel + replace through the risk gate).
"""
from __future__ import annotations

import concurrent.futures
import logging
import math
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QVBoxLayout, QWidget,
)

from app.engine.data.resample import TIMEFRAMES_MS, base_timeframe_ms
from app.widgets.chart.axes import Tag, format_time
from app.widgets.chart.data import Bars, Buckets, ChartSeries, Resampler
from app.widgets.chart.dialogs import IndicatorDialog
from app.widgets.chart.indicators import ChartIndicator, compute, snapshot, views
from app.widgets.chart.layers import DOWN, UP, CandleLayer, LineLayer, VolumeLayer
from app.widgets.chart.overlays import MarkerLayer, PriceLine, PriceLinesLayer
from app.widgets.chart.lod import level_for
from app.widgets.chart.view import ChartView, Pane
from app.widgets.common import new_symbols

log = logging.getLogger("kestrel.ui.chart")

DEFAULT_VISIBLE = 150
RIGHT_MARGIN = 4  # empty bars right of the last one when the view jumps to it (End, double-click, new data)
FOLLOW_STEP = 0.2  # following live bars, the view steps left by this share of its span when the newest bar
# reaches the right edge (a fifth of the span as empty margin, like a chart shift), not by one bar per bar:
# between steps a new bar draws into the margin, so an append repaints a strip instead of the whole chart
_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """One worker for indicator history (first use compiles Numba kernels: never on the UI thread)."""
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kestrel-indicators")
    return _EXECUTOR


def tf_label(ms: int) -> str:
    for label, v in TIMEFRAMES_MS.items():
        if v == ms:
            return label
    return f"{ms // 60_000}m" if ms % 86_400_000 else f"{ms // 86_400_000}d"


class _Bridge(QObject):
    done = Signal(object)  # worker thread -> UI thread (queued)


class ChartWidget(QWidget):
    """Candles + volume + indicator panes for one symbol and timeframe."""

    stateChanged = Signal()  # symbol, timeframe, scale or indicators changed: what ``state()`` returns

    def __init__(self, kernel: Any = None, parent: QWidget | None = None, symbol: str | None = None,
                 timeframe: str | None = None, async_indicators: bool | None = None) -> None:
        super().__init__(parent)
        self.kernel = kernel
        self.async_indicators = kernel is not None if async_indicators is None else async_indicators
        self.symbol = ""
        self.base: Bars | None = None
        self.base_tf = 60_000
        self.tf = TIMEFRAMES_MS.get(timeframe or "", 0)
        self.resampler: Resampler | None = None
        self.series: ChartSeries | None = None
        self.generation = 0
        self.indicators: list[ChartIndicator] = []
        self.log_scale = False
        self.decimals = 2
        self.status_text = ""
        self._follow = True
        self._x = (0.0, float(DEFAULT_VISIBLE))
        self._buckets: Buckets | None = None
        self._feed = None
        self._feed_seen = -1
        self._feed_n = 0
        self._orders_seen: tuple | None = None
        self._marker_src: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._hover: int | None = None
        self._failed_layout = False
        self._bridge = _Bridge()
        self._bridge.done.connect(self._indicator_done)
        self._readout_dirty = False
        self._readout_timer = QTimer(self)  # standalone charts have no frame scheduler
        self._readout_timer.setSingleShot(True)
        self._readout_timer.setInterval(33)
        self._readout_timer.timeout.connect(self._update_readout)

        self.title = QLabel()
        self.title.setObjectName("chartTitle")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.status = QLabel()
        self.status.setObjectName("chartStatus")
        self.symbol_box = QComboBox()
        self.tf_box = QComboBox()
        self.tf_box.addItems(list(TIMEFRAMES_MS))
        self.ind_button = QToolButton()
        self.ind_button.setText("Indicators")
        self.ind_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.ind_menu = QMenu(self)
        self.ind_menu.aboutToShow.connect(self._fill_indicator_menu)
        self.ind_button.setMenu(self.ind_menu)
        self.log_button = QToolButton()
        self.log_button.setText("Log")
        self.log_button.setCheckable(True)
        self.log_button.toggled.connect(self.set_log_scale)
        self.png_button = QToolButton()
        self.png_button.setText("PNG")
        self.png_button.setToolTip("Save the chart as a PNG image")
        self.png_button.clicked.connect(self.save_dialog)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        for w in (self.symbol_box, self.tf_box, self.ind_button, self.log_button, self.png_button):
            bar.addWidget(w)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.status)

        self.view = ChartView(self, self._ts_source)
        self.glw = self.view  # the drawing surface (grab() it for an image)
        self.price = self.view.add_pane("price", 6.0)
        self.volume_pane = self.view.add_pane("volume", 1.4)
        self.candles = self.price.add(CandleLayer())
        self.markers = self.price.add(MarkerLayer())
        self.lines = self.price.add(PriceLinesLayer(self._on_line_dragged, self._on_line_cancel))
        self.lines.format_value = self._fmt_view
        view = self.view
        view.lines = self.lines
        view.resized.connect(self._layout)
        view.panRequested.connect(self.pan_pixels)
        view.zoomRequested.connect(self.zoom)
        view.followRequested.connect(self.follow_latest)
        view.hovered.connect(self._hover_at)
        view.cancelLineRequested.connect(self._on_line_cancel)
        view.keyPressed.connect(lambda ev: ev.setAccepted(self._key(ev)))
        self.volume = self.volume_pane.add(VolumeLayer())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.setFocusProxy(self.view)

        self.orders = None
        if kernel is not None:
            from app.widgets.chart.orders import ChartOrders

            self.orders = ChartOrders(kernel)
            self.symbol_box.addItems(list(kernel.instruments))
            self.destroyed.connect(self.orders.close)
            self.set_symbol(symbol or next(iter(kernel.instruments)))
            self.symbol_box.currentTextChanged.connect(self._symbol_chosen)
        else:
            self.symbol_box.hide()
        self.tf_box.currentTextChanged.connect(self.set_timeframe)

    # ------------------------------------------------------------------------------------------ public API
    def set_bars(self, df: Any) -> None:
        """Show ``df`` (columns timestamp [ms], open, high, low, close, volume; a DataFrame or a mapping of
        arrays), detached from any live feed. The timeframe of the rows is the base timeframe."""
        ts = np.asarray(df["timestamp"], dtype=np.int64)
        bars = Bars.from_arrays(ts, df["open"], df["high"], df["low"], df["close"], df["volume"])
        self._feed = None
        self._set_base(bars, base_timeframe_ms(ts))

    def update_bar(self, bar: Mapping[str, Any]) -> None:
        """Replace the last bar when ``bar['timestamp']`` matches it, else append ``bar``. O(1) in history."""
        if self.base is None:
            self.set_bars({k: [bar[k]] for k in ("timestamp", "open", "high", "low", "close", "volume")})
            return
        n_before = self.series.n
        self.base.update(bar)
        self._base_changed(self.base.n - 1, n_before)

    def set_x_range(self, first_index: int, last_index: int) -> None:
        """Show bars ``first_index..last_index`` (display timeframe indices)."""
        n = self.series.n if self.series else 0
        self._follow = last_index >= n - 1
        self._x = (first_index - 0.5, last_index + 0.5)
        self._layout()

    @property
    def _window(self):
        """The visible window's buckets (what the candles and the y-axis use)."""
        return self._buckets.win if self._buckets is not None else None

    def visible_span(self) -> tuple[int, int] | None:
        """The bar indices drawn (inclusive), or None."""
        w = self._window
        return (w.i0, w.i1) if w is not None else None

    def bar(self, i: int) -> dict[str, float]:
        return self.series.bars.row(i)

    # ---------------------------------------------------------------------------------------- symbol/feed
    def set_symbol(self, symbol: str) -> None:
        """Follow ``symbol``'s live bars from the kernel (timeframes are resampled from them)."""
        if self.kernel is None:
            raise RuntimeError("set_symbol needs a kernel; use set_bars for a standalone chart")
        self.symbol = symbol
        inst = self.kernel.instruments.get(symbol)
        if inst is not None:
            self.decimals = inst.price_decimals
        if self.symbol_box.currentText() != symbol:
            self.symbol_box.blockSignals(True)
            self.symbol_box.setCurrentText(symbol)
            self.symbol_box.blockSignals(False)
        self._feed = self.kernel.bars.get(symbol)
        self._feed_seen, self._feed_n = -1, 0
        self.base = None
        self.series = None
        self._follow = True
        self.orders.set_symbol(symbol)
        self._orders_seen = None
        self._marker_src = None
        self.refresh()
        self.stateChanged.emit()

    def _symbol_chosen(self, symbol: str) -> None:
        if symbol and symbol != self.symbol:
            self.set_symbol(symbol)

    def _sync_feed(self) -> bool:
        s = self._feed
        if s is None or s.version == self._feed_seen or s.n == 0:
            return False
        self._feed_seen = s.version
        cols = [s.column(c) for c in ("ts", "open", "high", "low", "close", "volume")]
        if self.base is None or s.n < self._feed_n:
            self._feed_n = s.n
            self._set_base(Bars.from_arrays(*cols), self.kernel.bars.timeframe_ms)
            return True
        start = max(self._feed_n - 1, 0)
        n_before = self.series.n
        for i in range(start, s.n):
            self.base.update({"timestamp": int(cols[0][i]), "open": cols[1][i], "high": cols[2][i],
                              "low": cols[3][i], "close": cols[4][i], "volume": cols[5][i]})
        self._feed_n = s.n
        self._base_changed(start, n_before)
        return True

    def refresh(self) -> None:
        """Frame tick: pull new bars from the feed, redraw orders/markers if they changed."""
        if self.kernel is None:
            return
        added = new_symbols(self.symbol_box.count(), self.kernel.instruments)
        if added:  # a venue connected since start-up
            self.symbol_box.addItems(added)
        self._sync_feed()
        if self._readout_dirty:
            self._update_readout()
        if self.orders is None or self.series is None:
            return
        key = self.orders.state_key()
        if key != self._orders_seen:
            self._orders_seen = key
            self._marker_src = self.orders.markers()
            self._update_markers()
            self._update_lines()
        if self.orders.denied:
            ev = self.orders.denied[-1]
            self.orders.denied.clear()
            self.show_status(f"Modify denied [{ev.reason}]: {ev.message}", error=True)

    # ------------------------------------------------------------------------------------ data pipeline
    def _set_base(self, bars: Bars, base_tf: int) -> None:
        self.base, self.base_tf = bars, base_tf
        if not self.tf or self.tf < base_tf or self.tf % base_tf:
            self.tf = base_tf
        self._sync_tf_box()
        self._rebuild_display(keep_view=False)

    def set_timeframe(self, timeframe: str | int) -> None:
        """Show bars of ``timeframe`` ("5m", "1h"... or ms) resampled from the base bars."""
        ms = TIMEFRAMES_MS.get(timeframe, 0) if isinstance(timeframe, str) else int(timeframe)
        if not ms or ms == self.tf:
            self._sync_tf_box()
            return
        if ms < self.base_tf or ms % self.base_tf:
            self.show_status(f"{tf_label(ms)} cannot be built from {tf_label(self.base_tf)} bars", error=True)
            self._sync_tf_box()
            return
        self.tf = ms
        self._sync_tf_box()
        if self.base is not None:
            self._rebuild_display(keep_view=True)
        self.stateChanged.emit()

    def _sync_tf_box(self) -> None:
        label = tf_label(self.tf)
        self.tf_box.blockSignals(True)
        if self.tf_box.findText(label) < 0:
            self.tf_box.addItem(label)
        self.tf_box.setCurrentText(label)
        self.tf_box.blockSignals(False)

    def _rebuild_display(self, keep_view: bool) -> None:
        center_ts = None
        if keep_view and self.series is not None and self.series.n and not self._follow:
            c = int(min(max((self._x[0] + self._x[1]) / 2, 0), self.series.n - 1))
            center_ts, span_ms = int(self.series.bars.ts[c]), (self._x[1] - self._x[0]) * self.series.timeframe_ms
        self.generation += 1
        if self.tf == self.base_tf:
            self.resampler, bars = None, self.base
        else:
            self.resampler = Resampler(self.base, self.tf)
            bars = self.resampler.bars
        self.series = ChartSeries(bars, self.tf)
        self.view.time_ticks.data_version += 1
        for ind in self.indicators:
            ind.ready = False
            self._compute(ind)
        n = self.series.n
        if center_ts is not None:
            c = int(self.series.index_of(center_ts))
            half = max(span_ms / self.tf / 2, 10)
            self._x = (c - half, c + half)
        else:
            self._follow = True
            x1 = n - 0.5 + RIGHT_MARGIN
            self._x = (max(x1 - DEFAULT_VISIBLE, -1.5), x1)  # a short history fills the view
        self._update_markers()
        self._layout()

    def _base_changed(self, start: int, n_before: int) -> None:
        """Base bars from ``start`` on changed; the display series had ``n_before`` bars before."""
        s = self.series
        dstart = self.resampler.base_changed(start) if self.resampler else start
        s.changed(dstart)
        for ind in self.indicators:
            if ind.ready and ind.generation == self.generation:
                ind.update(s.bars, dstart)
        grew = s.n - n_before
        if grew:
            self.view.time_ticks.data_version += 1
            src = self._marker_src  # markers after the old last bar's open now fall in a new bar
            if src is not None and len(src[0]) and n_before and src[0].max() >= s.bars.ts[n_before - 1]:
                self._update_markers()
        self._layout(tail_only=True, appended=grew if self._follow else 0, grew=grew)

    # ------------------------------------------------------------------------------------- indicators
    def add_indicator(self, name: str, params: dict[str, Any] | None = None, block: bool = False
                      ) -> ChartIndicator:
        """Add registry indicator ``name`` (overlay on price, or its own pane). ``block``: compute now on
        this thread even when the chart computes indicators in the background."""
        ind = ChartIndicator(name, params, color_index=sum(len(i.outputs) for i in self.indicators))
        pane = self.price if ind.kind == "overlay" else self.view.add_pane("indicator", 1.8)
        ind.pane = pane
        pane.indicators.append(ind)
        for j, out in enumerate(ind.outputs):
            layer = LineLayer(QColor(ind.colors[j]), hist=out.endswith("hist"))
            layer.yfun = self._yfun if pane is self.price else (lambda y: y)
            pane.lines[id(ind), j] = pane.add(layer)
        self.indicators.append(ind)
        if self.series is not None:
            self._compute(ind, block)
        self.stateChanged.emit()
        return ind

    def remove_indicator(self, ind: ChartIndicator) -> None:
        if ind not in self.indicators:
            return
        self.indicators.remove(ind)
        pane = ind.pane
        pane.indicators.remove(ind)
        for j in range(len(ind.outputs)):
            pane.remove(pane.lines.pop((id(ind), j)))
        if pane.kind == "indicator" and not pane.indicators:
            self.view.remove_pane(pane)
        self._layout()
        self.stateChanged.emit()

    def wait_indicators(self, timeout_s: float = 60.0) -> bool:
        """Block until background indicator computations are installed (tests, screenshots)."""
        import time

        from PySide6.QtWidgets import QApplication

        end = time.monotonic() + timeout_s
        while any(not i.ready for i in self.indicators) and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.005)
        return all(i.ready for i in self.indicators)

    def _compute(self, ind: ChartIndicator, block: bool = False) -> None:
        gen, bars = self.generation, self.series.bars
        if not self.async_indicators or block:
            try:
                ind.install(compute(ind.spec, ind.params, views(bars, 0, bars.n)), gen)
            except Exception as exc:  # noqa: BLE001 - bad parameters or data: say so, keep the chart
                self._indicator_failed(ind, exc)
            self._layout()
            return
        n = bars.n
        fut = _executor().submit(compute, ind.spec, ind.params, snapshot(bars))
        fut.add_done_callback(lambda f: self._bridge.done.emit((ind, gen, n, f)))

    def _indicator_done(self, payload: tuple) -> None:
        ind, gen, n, fut = payload
        if ind not in self.indicators or gen != self.generation:
            return
        try:
            values = fut.result()
        except Exception as exc:  # noqa: BLE001
            self._indicator_failed(ind, exc)
            return
        ind.install(values, gen)
        ind.update(self.series.bars, max(n - 1, 0))  # bars that changed or came in meanwhile
        self._layout()

    def _indicator_failed(self, ind: ChartIndicator, exc: Exception) -> None:
        log.warning("indicator %s failed: %s", ind.label, exc)
        self.show_status(f"{ind.label}: {exc}", error=True)
        self.remove_indicator(ind)

    def _fill_indicator_menu(self) -> None:
        m = self.ind_menu
        m.clear()
        m.addAction("Add indicator…", self.open_indicator_dialog)
        if self.indicators:
            m.addSeparator()
        for ind in list(self.indicators):
            act = QAction(f"Remove {ind.label}", m)
            act.triggered.connect(lambda _=False, i=ind: self.remove_indicator(i))
            m.addAction(act)

    def open_indicator_dialog(self) -> IndicatorDialog:
        """Show the indicator dialog (window-modal, not a nested event loop); OK adds its choice."""
        dlg = IndicatorDialog(self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.accepted.connect(lambda: self._add_from_dialog(dlg.name, dlg.params()))
        dlg.open()
        return dlg

    def _add_from_dialog(self, name: str, params: dict[str, Any]) -> None:
        try:
            self.add_indicator(name, params)
        except ValueError as exc:
            self.show_status(str(exc), error=True)

    @property
    def panes(self) -> list[Pane]:
        return self.view.panes

    def set_volume_visible(self, on: bool) -> None:
        """Show or hide the volume pane."""
        if on == (self.volume_pane in self.view.panes):
            return
        if on:
            self.view.panes.insert(1, self.volume_pane)
            self.view.relayout()
        else:
            self.view.remove_pane(self.volume_pane)
        self._layout()

    # ------------------------------------------------------------------------------------ view control
    def zoom(self, factor: float, anchor: float | None = None) -> None:
        n = self.series.n if self.series else 0
        x0, x1 = self._x
        span = x1 - x0
        new = min(max(span * factor, 8.0), max(n * 1.2, 50.0))
        if anchor is None or self._follow:
            anchor = x1 if self._follow else (x0 + x1) / 2
        t = (anchor - x0) / span if span else 1.0
        nx0 = anchor - t * new
        self._set_x(nx0, nx0 + new, keep_follow=self._follow)

    def pan_pixels(self, dx_px: float) -> None:
        w = max(self.view.plot_width, 1.0)
        d = dx_px * (self._x[1] - self._x[0]) / w
        self._set_x(self._x[0] + d, self._x[1] + d)

    def pan_bars(self, bars: float) -> None:
        self._set_x(self._x[0] + bars, self._x[1] + bars)

    def follow_latest(self) -> None:
        n = self.series.n if self.series else 0
        span = self._x[1] - self._x[0]
        self._follow = True
        self._x = (n - 0.5 + RIGHT_MARGIN - span, n - 0.5 + RIGHT_MARGIN)
        self._layout()

    def _set_x(self, x0: float, x1: float, keep_follow: bool = False) -> None:
        n = self.series.n if self.series else 0
        span = x1 - x0
        if x1 < 2:
            x0, x1 = 2 - span, 2.0
        if x0 > n - 3:
            x0, x1 = n - 3.0, n - 3.0 + span
        self._follow = keep_follow or x1 >= n - 0.5
        self._x = (x0, x1)
        self._layout()

    def set_log_scale(self, on: bool) -> None:
        if on == self.log_scale:
            return
        self.log_scale = on
        if self.log_button.isChecked() != on:
            self.log_button.setChecked(on)
        self.price.scale.log_scale = on
        self._layout()
        self._update_lines()
        self.stateChanged.emit()

    def _yfun(self, y: np.ndarray) -> np.ndarray:
        if not self.log_scale:
            return y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.where(y > 0, y, np.nan))

    def _fmt_view(self, v: float) -> str:
        p = 10.0 ** v if self.log_scale else v
        return f"{p:,.{self.decimals}f}"

    def _key(self, ev) -> bool:
        k, span = ev.key(), self._x[1] - self._x[0]
        big = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if k == Qt.Key.Key_Left:
            self.pan_bars(-span * (0.5 if big else 0.1))
        elif k == Qt.Key.Key_Right:
            self.pan_bars(span * (0.5 if big else 0.1))
        elif k in (Qt.Key.Key_Up, Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(0.8)
        elif k in (Qt.Key.Key_Down, Qt.Key.Key_Minus):
            self.zoom(1.25)
        elif k == Qt.Key.Key_Home:
            self._set_x(-0.5, -0.5 + span)
        elif k == Qt.Key.Key_End:
            self.follow_latest()
        elif k == Qt.Key.Key_L:
            self.set_log_scale(not self.log_scale)
        else:
            return False
        return True

    # ------------------------------------------------------------------------------------------ layout
    def _layout(self, tail_only: bool = False, appended: int = 0, grew: int = 0) -> None:
        """Fit every pane to the visible buckets and hand the layers their window.

        ``tail_only``: only the last bar changed or ``grew`` bars were appended; if neither the x-range nor a
        pane's y-range has to move, only the strip of those bars is repainted. ``appended`` bars while
        following: the new bars fill the right margin; when the newest reaches the edge the view steps
        (``FOLLOW_STEP``; a full repaint: a blit of the old frame was tried and cost as much)."""
        try:
            self._layout_unguarded(tail_only, appended, grew)
        except Exception:  # noqa: BLE001 - a bad bar must not take the window down
            if not self._failed_layout:
                self._failed_layout = True
                log.exception("chart layout failed; keeping the last good view")

    def _layout_unguarded(self, tail_only: bool, appended: int, grew: int) -> None:
        s = self.series
        if s is None or s.n == 0:
            return
        n = s.n
        x0, x1 = self._x
        if appended:
            x0, x1 = self._x = _follow(x0, x1, n)
        ticks_before = self.view.time_ticks.last
        i0 = min(max(int(math.floor(x0 + 0.5)), 0), n - 1)
        i1 = max(min(int(math.ceil(x1 - 0.5)), n - 1), i0)
        k = level_for(i1 - i0 + 1, self.view.plot_width)
        key = (i0, i1, k, n, self.generation, tuple(id(i) for i in self.indicators if self._drawn(i)))
        c = self._buckets
        refreshed = tail_only and c is not None and c.key == key
        if refreshed:
            c.refresh_last(s)  # only the last bar changed: O(1), not O(buckets)
        else:
            c = self._buckets = Buckets(key, s, i0, i1, k, [(i, i.pane.lines) for i in self.indicators
                                                               if self._drawn(i)], self.price, self.volume_pane)
        win = c.win
        for ind in self.indicators:
            if not self._drawn(ind):
                for j in range(len(ind.outputs)):
                    ind.pane.lines[id(ind), j].set_data(win.x[:0], win.x[:0], win.x[:0], win.k)
        y_moved = False
        for pane, y in zip(self.panes, c.y_ranges(self.panes, self.log_scale)):
            y_moved |= self._set_y(pane, y, tail_only)
        moved = self.view.set_x(x0, x1) or y_moved
        first = n - 1 - grew  # the last bar before, and any after it
        strip = self._tail_strip(win, first) if tail_only and not moved else None
        live_x = math.floor((strip if grew == 0 and strip is not None else self._tail_strip(win, n - 1)).left()) - 1
        for pane in self.panes:
            pane.set_live_x(live_x)
        if strip is not None and grew:
            self._time_ticks_grew(ticks_before, first, strip)
        for item in (self.candles, self.volume, self.markers):
            item.yfun = self._yfun
        last_only = refreshed and strip is not None and grew == 0  # the layers rewrite one bucket in place
        self.candles.set_window(win, strip, last_only)
        self.volume.set_window(win, strip, last_only)
        self.markers.set_window(win, strip)
        m = len(win.x)
        for item, mn, mx in c.lines:
            item.set_data(win.x[: len(mn)], mn[:m], mx[:m], win.k, strip, last_only)
        self._update_last()
        self._mark_readout()

    def _drawn(self, ind: ChartIndicator) -> bool:
        return ind.ready and ind.generation == self.generation

    def _mark_readout(self) -> None:
        """The readout and legends follow at frame rate (``refresh``), not per update."""
        self._readout_dirty = True
        if self.kernel is None and not self._readout_timer.isActive():
            self._readout_timer.start()

    def _set_y(self, pane: Pane, y: tuple[float, float, float, float], tail_only: bool) -> bool:
        """Fit ``pane`` to ``y`` (y0, y1, lo, hi). On a live tick the scale stays still while the window's
        extremes stay inside it and it is still a snug fit: a tick that moves the scale repaints the pane,
        a trending last bar would otherwise do so on every tick."""
        y0, y1, lo, hi = y
        if tail_only and pane.y0 <= lo and hi <= pane.y1:
            if y1 - y0 > 0.7 * (pane.y1 - pane.y0):
                return False
        return pane.set_y(y0, y1)

    def _tail_strip(self, win, first: int) -> QRectF:
        """The columns of the bars from ``first`` on (their buckets), with the bucket before them (a line
        segment ends there)."""
        m = self.price.mapper()
        spacing = (1 << win.k) * m.sx
        j = max(min(int(np.searchsorted(win.last, first)), len(win.x) - 1) - 1, 0)
        left = float(m.px(np.float64(win.x[j]))) - spacing - 3
        right = float(m.px(np.float64(win.x[-1]))) + spacing + 3
        return QRectF(left, 0, max(right - left, 1.0), 100_000)

    def _time_ticks_grew(self, before: tuple[list[float], list[str]], first: int, strip: QRectF) -> None:
        """Bars were appended into the margin: a calendar boundary among them adds a tick (grid line and
        label) there; any other change of the ticks repaints the panes."""
        v = self.view
        after = v.time_ticks.get(v.x0, v.x1, v.plot_width)
        if after == before:
            return
        k = len(before[0])
        only_new = after[0][:k] == before[0] and after[1][:k] == before[1] and all(x >= first for x in after[0][k:])
        for pane in self.panes:
            pane.grid.invalidate(strip if only_new else None)
        v.dirty(v.time_rect.toAlignedRect())

    # ------------------------------------------------------------------------------ lines and markers
    def _update_last(self) -> None:
        s = self.series
        if s is None or s.n == 0:
            return
        b = s.bars
        close, open_ = float(b.col("close")[-1]), float(b.col("open")[-1])
        up = close >= open_
        self._last_line = PriceLine(close, UP if up else DOWN, "", Qt.PenStyle.DotLine)
        self._update_lines()

    def _update_lines(self) -> None:
        lines: list[PriceLine] = []
        if self.orders is not None and self.series is not None:
            lines = self.orders.lines(self.decimals)
        last = getattr(self, "_last_line", None)
        f = self._yfun
        shown = []
        for ln in lines + ([last] if last is not None else []):
            v = float(f(np.float64(ln.value)))
            shown.append(PriceLine(v, ln.color, ln.label, ln.style, ln.order_id))
        self.lines.set_lines(shown)
        tags = [Tag(ln.value, self._fmt_view(ln.value), ln.color) for ln in shown]
        hover = [t for t in self.price.scale.tags if t.crosshair]
        self._set_tags(self.price, tags + hover)

    def _set_tags(self, pane: Pane | None, tags: list[Tag]) -> None:
        """Price tags of ``pane`` (None: time tags); repaints only where tags appear or disappear."""
        scale = pane.scale if pane is not None else self.view.time_scale
        old = {(t.value, t.text) for t in scale.tags}
        if old == {(t.value, t.text) for t in tags}:
            return
        scale.tags = tags
        if pane is None:
            self.view.dirty(self.view.time_rect.toAlignedRect())
            return
        for value, _text in old ^ {(t.value, t.text) for t in tags}:
            pane.repaint_scale(pane.scale.tag_rect(pane.scale_rect, pane.y0, pane.y1, value))

    def _update_markers(self) -> None:
        src = self._marker_src
        if src is None or self.series is None or len(src[0]) == 0:
            self.markers.set_markers(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int8))
            return
        ts, price, kind = src
        idx = np.asarray(self.series.index_of(ts), dtype=np.int64)
        ok = idx >= 0
        self.markers.set_markers(idx[ok], price[ok], kind[ok])

    def set_markers(self, ts_ms: Any, prices: Any, kinds: Any) -> None:
        """Markers at times/prices (kinds: 0 buy fill, 1 sell fill, 2 buy order, 3 sell order)."""
        self._marker_src = (np.asarray(ts_ms, dtype=np.int64), np.asarray(prices, dtype=np.float64),
                            np.asarray(kinds, dtype=np.int8))
        self._update_markers()

    def _on_line_dragged(self, order_id: str, view_value: float) -> None:
        if self.kernel is None:
            return
        from app.widgets.chart.orders import replace_order

        inst = self.kernel.instruments[self.symbol]
        price = inst.round_price(10.0 ** view_value if self.log_scale else view_value)
        order = self.kernel.execution.orders.get(order_id)
        if order is None or order.price is None or abs(price - order.price) < inst.tick_size / 2:
            self._orders_seen = None
            return
        new_id = self.kernel.new_order_id()
        self.orders.mine.add(new_id)
        text = (f"Moved {order.side.value} {order.leaves_qty:g} to {price:.{self.decimals}f} "
                f"(cancel {order_id}, new {new_id})")
        if replace_order(self.kernel, order_id, price, new_id=new_id) is None:
            self.show_status(f"{order_id} is no longer working", error=True)
        elif not self.orders.denied:  # a denial (synchronous) is shown by refresh
            self.show_status(text)
        self._orders_seen = None
        self.refresh()

    def _on_line_cancel(self, order_id: str) -> None:
        from app.engine.core.messages import CancelOrder

        self.kernel.bus.publish(CancelOrder(order_id, "manual", ts=self.kernel.clock.now_ms()))
        self.show_status(f"Cancel {order_id} sent")

    def show_status(self, text: str, error: bool = False) -> None:
        self.status_text = text
        self.status.setText(text)
        self.status.setStyleSheet("color: #f85149;" if error else "color: #8b949e;")

    # ------------------------------------------------------------------------------- crosshair, readout
    def _hover_at(self, pos: QPointF | None) -> None:
        """Crosshair and readout for the mouse at ``pos`` (widget pixels of the view; None: left)."""
        s = self.series
        pane = self.view.pane_at(pos) if pos is not None else None
        if s is None or s.n == 0 or pane is None:
            self._set_hover(None, None)
            return
        i = min(max(int(round(self.view.x_at(pos.x()))), 0), s.n - 1)
        y_px = pos.y() - pane.rect.top()
        self._set_hover(i, (pane, y_px, pane.mapper().to_y(y_px)))

    def _set_hover(self, i: int | None, where: tuple | None) -> None:
        if i == self._hover and where is None and self._hover is None:
            return
        self._hover = i
        for p in self.panes:
            y_px = where[1] if where is not None and where[0] is p else None
            p.vline.set_position(i)
            p.hline.set_position(y_px)
            tags = [t for t in p.scale.tags if not t.crosshair]
            if y_px is not None:
                v = where[2]
                text = self._fmt_view(v) if p is self.price else f"{v:,.2f}"
                tags.append(Tag(v, text, QColor("#30363d"), QColor("#e6edf3"), crosshair=True))
            self._set_tags(p, tags)
        ttags = []
        if i is not None and self.series is not None:
            ttags = [Tag(float(i), format_time(int(self.series.bars.ts[i]), self.tf), QColor("#30363d"),
                         QColor("#e6edf3"))]
        self._set_tags(None, ttags)
        self._update_readout()

    def _update_readout(self) -> None:
        """OHLC of the hovered bar (else the last) and each indicator's values, in the panes' legends; they
        are painted with the chart (a QLabel's relayout would cost more than the whole tick)."""
        self._readout_dirty = False
        title = f" {self.symbol} · {tf_label(self.tf)}" if self.symbol else f" {tf_label(self.tf)}"
        if self.title.text() != title:
            self.title.setText(title)
        s = self.series
        if s is None or s.n == 0:
            return
        i = self._hover if self._hover is not None and self._hover < s.n else s.n - 1
        b = s.bars
        o, h, l, c, v = (float(b.col(k)[i]) for k in ("open", "high", "low", "close", "volume"))
        prev = float(b.col("close")[i - 1]) if i > 0 else o
        chg = (c / prev - 1.0) * 100.0 if prev else 0.0
        d = self.decimals
        tone = QColor("#3fb950") if c >= o else QColor("#f85149")
        muted = QColor("#8b949e")
        ohlc = [(format_time(int(b.ts[i]), self.tf), muted),
                (f"O {o:,.{d}f}  H {h:,.{d}f}  L {l:,.{d}f}  C {c:,.{d}f}  {chg:+.2f}%", tone)]
        for pane in self.panes:
            rows = [ohlc] if pane is self.price else []
            segs = [(f"Vol {v:,.3f}", muted)] if pane is self.volume_pane else []
            for ind in pane.indicators:
                vals = ind.at(i)
                txt = " ".join(f"{x:,.{d if pane is self.price else 2}f}" for x in vals) if vals else "…"
                segs.append((f"{ind.label} {txt}", QColor(ind.colors[0])))
            pane.legend.set_rows(rows + ([segs] if segs else []))

    def readout(self) -> str:
        """The price pane's legend as text (what the trader reads at the top-left)."""
        return "  ".join(t for row in self.price.legend.rows for t, _c in row)

    def _ts_source(self) -> tuple[np.ndarray, int]:
        if self.series is None:
            return np.empty(0, dtype=np.int64), self.tf or 60_000
        return self.series.bars.ts, self.tf

    # ------------------------------------------------------------------------------------- PNG, state
    def save_png(self, path: str) -> bool:
        """Save the chart (all panes and scales) as a PNG image."""
        return self.view.grab().save(str(path), "PNG")

    def save_dialog(self) -> None:
        name = f"{self.symbol or 'chart'}-{tf_label(self.tf)}.png".replace("/", "-")
        path, _ = QFileDialog.getSaveFileName(self, "Save chart as PNG", name, "PNG images (*.png)")
        if path:
            ok = self.save_png(path)
            self.show_status(f"Saved {path}" if ok else f"Could not write {path}", error=not ok)

    def state(self) -> dict[str, Any]:
        """What to restore next time: symbol, timeframe, scale, indicators with parameters."""
        return {"symbol": self.symbol, "timeframe": tf_label(self.tf), "log": self.log_scale,
                "indicators": [{"name": i.name, "params": i.params} for i in self.indicators]}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Apply a saved ``state()``. Each part stands alone: a symbol no longer configured, an unknown
        timeframe or an indicator the registry no longer has (or whose parameters it now refuses) is
        skipped with a log line, and the rest is restored."""
        if not isinstance(state, Mapping):
            log.warning("chart state ignored: expected a mapping, got %r", state)
            return
        symbol = state.get("symbol")
        if symbol and self.kernel is not None:
            if symbol in self.kernel.instruments:
                self.set_symbol(symbol)
            else:
                log.warning("chart: saved symbol %r is not configured now; showing %s", symbol, self.symbol)
        tf = state.get("timeframe")
        if tf:
            if isinstance(tf, str) and tf in TIMEFRAMES_MS:
                self.set_timeframe(tf)
            else:
                log.warning("chart %s: saved timeframe %r is unknown; showing %s", self.symbol, tf,
                            tf_label(self.tf))
        self.set_log_scale(bool(state.get("log", False)))
        specs = state.get("indicators") or []
        for spec in specs if isinstance(specs, list) else [specs]:
            try:
                self.add_indicator(spec["name"], dict(spec.get("params") or {}))
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                log.warning("chart %s: saved indicator %r skipped: %s", self.symbol, spec, _why(exc))


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):  # the registry's "unknown indicator 'x'", or the entry's missing "name"
        return "the entry has no name" if exc.args == ("name",) else str(exc.args[0])
    return str(exc)


def _follow(x0: float, x1: float, n: int) -> tuple[float, float]:
    """The x-range after bars were appended while following ``n`` bars: unchanged while the newest bar has
    an empty slot right of it, else stepped so that ``FOLLOW_STEP`` of the span is empty margin again."""
    if n + 0.5 <= x1:
        return x0, x1
    span = x1 - x0
    right = n - 0.5 + max(RIGHT_MARGIN, round(FOLLOW_STEP * span))
    return right - span, right
