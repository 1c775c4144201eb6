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
With a port (the engine's) the chart follows the symbol's live bars (``refresh`` at frame rate), draws our fills and
orders, and lets a trader drag a working order's line to move it (cancel + replace through the risk gate).
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QRectF, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QVBoxLayout, QWidget,
)

from app.engine.data.bars import COLUMNS, Bars
from app.engine.data.resample import TIMEFRAMES_MS, base_timeframe_ms, timeframe_label
from app.widgets.chart.data import Buckets, ChartSeries, Resampler
from app.widgets.chart.feed import ChartFeed
from app.widgets.chart.indicator_jobs import ChartIndicators, IndicatorBridge
from app.widgets.chart.indicators import ChartIndicator
from app.widgets.chart.layers import CandleLayer, VolumeLayer
from app.widgets.chart.lod import level_for
from app.widgets.chart.news import ChartNews, NewsLayer
from app.widgets.chart.navigation import DEFAULT_VISIBLE, FOLLOW_STEP, RIGHT_MARGIN, ChartNavigation
from app.widgets.chart.order_lines import ChartOrderLines
from app.widgets.chart.overlays import MarkerLayer, PriceLinesLayer
from app.widgets.chart.view import ChartView, Pane
from app.widgets.chart.zone_choice import ChartTimeZone
from app.widgets.chart.prices_choice import ADJUSTS, ChartPrices
from app.widgets.chart.zones import CHOICES

log = logging.getLogger("kestrel.ui.chart")


class ChartWidget(ChartFeed, ChartIndicators, ChartNavigation, ChartOrderLines, ChartNews, ChartTimeZone,
                  ChartPrices, QWidget):
    """Candles + volume + indicator panes for one symbol and timeframe."""

    stateChanged = Signal()  # symbol, timeframe, scale or indicators changed: what ``state()`` returns

    def __init__(self, port: Any = None, parent: QWidget | None = None, symbol: str | None = None,
                 timeframe: str | None = None, async_indicators: bool | None = None,
                 time_zone: str | None = None) -> None:
        super().__init__(parent)
        self.port = port
        self.async_indicators = port is not None if async_indicators is None else async_indicators
        self.symbol = ""
        self.sessions = ""  # "ashare": timeframes resampled on the exchange's sessions (data/resample.py)
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
        self._init_news()
        self._hover: int | None = None
        self._failed_layout = False
        self._bridge = IndicatorBridge()
        self._bridge.done.connect(self._indicator_done)
        self._readout_dirty = False
        self._readout_timer = QTimer(self)  # standalone charts have no frame scheduler
        self._readout_timer.setSingleShot(True)
        self._readout_timer.setInterval(33)
        self._readout_timer.timeout.connect(self._update_readout)

        bar = self._tool_bar(time_zone or (port.ui.chart_time_zone if port is not None else "exchange"))
        self._drawing_surface()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.setFocusProxy(self.view)

        self.orders = None
        if port is not None:
            from app.widgets.chart.orders import ChartOrders

            self.orders = ChartOrders(port)
            self.symbol_box.addItems(list(port.instruments))
            self.destroyed.connect(self.orders.close)
            self.set_symbol(symbol or next(iter(port.instruments)))
            self.symbol_box.currentTextChanged.connect(self._symbol_chosen)
        else:
            self.symbol_box.hide()
        self.tf_box.currentTextChanged.connect(self.set_timeframe)

    def _tool_bar(self, time_zone: str) -> QHBoxLayout:
        """Symbol, timeframe, Indicators, Log, Time (zone) and PNG, then the title and the status."""
        self.title = QLabel()
        self.title.setObjectName("chartTitle")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.status = QLabel()
        self.status.setObjectName("chartStatus")
        self.history_label = QLabel()  # "as of <time>" when a real venue's history could not be refreshed
        self.history_label.setObjectName("chartHistory")
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
        zones, prices = self._zone_button(time_zone), self._prices_button()
        for w in (self.symbol_box, self.tf_box, self.ind_button, self.log_button, zones, prices, self.png_button):
            bar.addWidget(w)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.history_label)
        bar.addWidget(self.status)
        return bar

    def _drawing_surface(self) -> None:
        """The view with its price and volume panes and their layers; the view's signals wired here."""
        self.view = ChartView(self, self._ts_source, lambda: self.time_zone)
        self.glw = self.view  # the drawing surface (grab() it for an image)
        self.price = self.view.add_pane("price", 6.0)
        self.volume_pane = self.view.add_pane("volume", 1.4)
        self.candles = self.price.add(CandleLayer())
        self.markers = self.price.add(MarkerLayer())
        self.news_layer = self.price.add(NewsLayer())  # news marks on the time axis (chart/news.py)
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
        view.timeMenuRequested.connect(self._time_menu_at)
        view.priceMenuRequested.connect(self._price_menu_at)
        self.volume = self.volume_pane.add(VolumeLayer())

    def _price_menu_at(self, where, view_value: float) -> None:
        """Right click in the price pane: an alert at the price under the mouse."""
        if self.port is None or not self.symbol or self.symbol not in self.port.instruments:
            return
        inst = self.port.instruments[self.symbol]
        price = inst.round_price(self._price_of_view(view_value))
        menu = QMenu(self)
        menu.setObjectName("chartPriceMenu")
        action = menu.addAction(f"Alert when {inst.symbol} crosses {price:,.{self.decimals}f}")
        action.triggered.connect(lambda: self.alert_at(view_value))
        self.price_menu = menu
        menu.popup(where)

    # ------------------------------------------------------------------------------------------ public API
    def set_bars(self, df: Any) -> None:
        """Show ``df`` (columns ts [ms], open, high, low, close, volume; a DataFrame or a mapping of
        arrays), detached from any live feed. The timeframe of the rows is the base timeframe."""
        ts = np.asarray(df["ts"], dtype=np.int64)
        bars = Bars.from_arrays(ts, df["open"], df["high"], df["low"], df["close"], df["volume"])
        self._feed = None
        self._set_base(bars, base_timeframe_ms(ts))

    def update_bar(self, bar: Mapping[str, Any]) -> None:
        """Replace the last bar when ``bar['ts']`` matches it, else append ``bar``. O(1) in history."""
        if self.base is None:
            self.set_bars({k: [bar[k]] for k in COLUMNS})
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

    # ------------------------------------------------------------------------------------ data pipeline


    # ------------------------------------------------------------------------------------ view control


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
        self.news_layer.set_window(win, strip)
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
        if self.port is None and not self._readout_timer.isActive():
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

    # ------------------------------------------------------------------------------- crosshair, readout


    def _ts_source(self) -> tuple[np.ndarray, int]:
        if self.series is None:
            return np.empty(0, dtype=np.int64), self.tf or 60_000
        return self.series.bars.ts, self.tf

    def restyle(self) -> None:
        """The up/down colours changed: the candles and volume are drawn again in the new ones."""
        self.view.restyle()

    # ------------------------------------------------------------------------------------- PNG, state
    def save_png(self, path: str) -> bool:
        """Save the chart (all panes and scales) as a PNG image."""
        return self.view.grab().save(str(path), "PNG")

    def save_dialog(self) -> None:
        name = f"{self.symbol or 'chart'}-{timeframe_label(self.tf)}.png".replace("/", "-")
        path, _ = QFileDialog.getSaveFileName(self, "Save chart as PNG", name, "PNG images (*.png)")
        if path:
            ok = self.save_png(path)
            self.show_status(f"Saved {path}" if ok else f"Could not write {path}", error=not ok)

    def state(self) -> dict[str, Any]:
        """What to restore next time: symbol, timeframe, scale, indicators with parameters, and the time zone
        when it is not the profile's default (a chart left on the default follows the settings file)."""
        state = {"symbol": self.symbol, "timeframe": timeframe_label(self.tf), "log": self.log_scale,
                 "indicators": [{"name": i.name, "params": i.params} for i in self.indicators]}
        if self.time_zone_choice != self.zone_default:
            state["time_zone"] = self.time_zone_choice
        if self.adjust != "none":
            state["prices"] = self.adjust
        return state

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Apply a saved ``state()``. Each part stands alone: a symbol no longer configured, an unknown
        timeframe or an indicator the registry no longer has (or whose parameters it now refuses) is
        skipped with a log line, and the rest is restored."""
        if not isinstance(state, Mapping):
            log.warning("chart state ignored: expected a mapping, got %r", state)
            return
        symbol = state.get("symbol")
        if symbol and self.port is not None:
            if symbol in self.port.instruments:
                self.set_symbol(symbol)
            else:
                log.warning("chart: saved symbol %r is not configured now; showing %s", symbol, self.symbol)
        tf = state.get("timeframe")
        if tf:
            if isinstance(tf, str) and tf in TIMEFRAMES_MS:
                self.set_timeframe(tf)
            else:
                log.warning("chart %s: saved timeframe %r is unknown; showing %s", self.symbol, tf,
                            timeframe_label(self.tf))
        self.set_log_scale(bool(state.get("log", False)))
        if state.get("prices") in ADJUSTS:
            self.set_adjust(state["prices"])
        zone = state.get("time_zone")
        if zone in CHOICES:
            self.set_time_zone(zone)
        elif zone is not None:
            log.warning("chart %s: saved time zone %r is unknown; showing %s", self.symbol, zone,
                        self.time_zone_choice)
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
