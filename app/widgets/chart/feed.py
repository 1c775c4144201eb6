"""The chart's feed: its symbol and timeframe, the live bars it follows from the engine, and the base bars resampled for
what is shown (a part of ``ChartWidget``).

On a real venue the engine puts the symbol's history under the live bars (``port.history``: the store's at
once, the venue's in the background); the chart rebuilds when bars were put under its own (``reshaped``), asks
for an older page when the view reaches past the oldest bar, and says on its tool bar when the history is
stored only ("as of <time>") and in its status what could not be refreshed."""
from __future__ import annotations

from app.engine.data.bar_files import utc_text
from app.engine.data.bars import Bars
from app.engine.data.resample import TIMEFRAMES_MS, timeframe_label
from app.widgets.chart.data import ChartSeries, Resampler
from app.widgets.chart.navigation import DEFAULT_VISIBLE, RIGHT_MARGIN
from app.widgets.common import new_symbols


class ChartFeed:
    """Symbol, timeframe and bars: what the chart shows and where its bars come from."""

    def set_symbol(self, symbol: str) -> None:
        """Follow ``symbol``'s live bars from the engine (timeframes are resampled from them)."""
        if self.port is None:
            raise RuntimeError("set_symbol needs the engine's port; use set_bars for a standalone chart")
        symbol = self.port.instrument_id(symbol)  # a bare symbol saved before ids: the instrument it meant
        self.symbol = symbol
        inst = self.port.instruments.get(symbol)
        if inst is not None:
            self.decimals = inst.price_decimals
        self.sessions = "ashare" if inst is not None and inst.rules == "ashare" else ""  # longer bars by session
        self._sync_prices_button(inst)
        if self.symbol_box.currentText() != symbol:
            self.symbol_box.blockSignals(True)
            self.symbol_box.setCurrentText(symbol)
            self.symbol_box.blockSignals(False)
        self._feed = self.port.bars.get(symbol)
        self._feed_seen, self._feed_n, self._feed_reshaped = -1, 0, self._feed.reshaped
        self._history_seen = self._native_seen = None
        self._history_text, self._serving = "", ""
        self.port.history.open(symbol)  # a real venue's history: stored at once, the venue's in the background
        if self.tf and self.tf != self.port.bars.timeframe_ms:
            self.port.history.open(symbol, self.tf, self.adjust_for(self.tf))  # the venue's own candles of it
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
        if self.base is None or s.n < self._feed_n or s.reshaped != self._feed_reshaped:
            keep = self.base is not None  # history put under the bars: the same bars stay in view
            self._feed_n, self._feed_reshaped = s.n, s.reshaped
            self._set_base(Bars.from_arrays(*cols), self.port.bars.timeframe_ms, keep_view=keep)
            return True
        start = max(self._feed_n - 1, 0)
        n_before = self.series.n
        for i in range(start, s.n):
            self.base.update(s.row(i))
        self._feed_n = s.n
        self._base_changed(start, n_before)
        return True

    def refresh(self) -> None:
        """Frame tick: pull new bars from the feed, redraw orders/markers if they changed."""
        if self.port is None:
            return
        added = new_symbols(self.symbol_box.count(), self.port.instruments)
        if added:  # a venue connected since start-up
            self.symbol_box.addItems(added)
        self._sync_feed()
        self._sync_serving()
        self._sync_history()
        self._sync_news()
        if self._readout_dirty:
            self._update_readout()
        if self.orders is None or self.series is None:
            return
        key = (self.orders.state_key(), self.port.alerts.version if self.port is not None else 0)
        if key != self._orders_seen:
            self._orders_seen = key
            self._marker_src = self.orders.markers()
            self._update_markers()
            self._update_lines()
        if self.orders.denied:
            ev = self.orders.denied[-1]
            self.orders.denied.clear()
            self.show_status(f"Modify denied [{ev.reason}]: {ev.message}", error=True)

    def _set_base(self, bars: Bars, base_tf: int, keep_view: bool = False) -> None:
        self.base, self.base_tf = bars, base_tf
        if not self.tf or self.tf < base_tf or self.tf % base_tf:
            self.tf = base_tf
        self._sync_tf_box()
        self._rebuild_display(keep_view=keep_view)

    def _sync_serving(self) -> None:
        """Say on the chart when another feed serves this instrument's data (failover: feeds.json), e.g.
        "data from okx" on BTC/USDT@binance while binance's feed is stale; its orders still go to binance."""
        feed = self.port.venues.board.active_feed(self.symbol)
        inst = self.port.instruments.get(self.symbol)
        serving = f"data from {feed}" if feed and inst is not None and feed != inst.venue else ""
        if serving != self._serving:
            self._serving = serving
            self._relabel()

    def _relabel(self) -> None:
        self.history_label.setText("; ".join(t for t in (self.prices_text(), self._serving, self._history_text)
                                             if t))  # said on the chart

    def _sync_history(self) -> None:
        """Say how the history stands, and ask for an older page when the view reaches past the oldest bar."""
        longer = self.tf if self.tf and self.tf != self.base_tf else None  # its own candles: see set_timeframe
        adjust = self.adjust_for(self.tf) if longer else "none"
        st = self.port.history.status(self.symbol, longer, adjust)
        if st is None:
            return
        if longer is not None:
            native = self.port.history.bars(self.symbol, longer, adjust)
            if native is not None and native.n and self.base is None:  # no live bars yet: the history alone
                self._feed_n = 0
                self._set_base(Bars(16), self.port.bars.timeframe_ms)
            elif native is not None and native.reshaped != self._native_seen and self.base is not None:
                self._rebuild_display(keep_view=True)
        if self.series is not None and self.series.n and self._x[0] < 0:
            self.port.history.older(self.symbol, longer, adjust)  # no-op while loading or with nothing older
        if (st.timeframe_ms, st.adjust, st.version) == self._history_seen:
            return
        self._history_seen = (st.timeframe_ms, st.adjust, st.version)
        if st.state == "loading":
            text = "loading history…"
        elif st.state == "offline" and st.as_of is not None:
            text = f"as of {utc_text(st.as_of)}"
        elif st.older_loading:
            text = "loading older bars…"
        else:
            text = ""
        self._history_text = text
        self._relabel()
        self.history_label.setToolTip(st.problem)
        if st.problem:
            self.show_status(st.problem, error=True)

    def set_timeframe(self, timeframe: str | int) -> None:
        """Show bars of ``timeframe`` ("5m", "1h"... or ms) resampled from the base bars."""
        ms = TIMEFRAMES_MS.get(timeframe, 0) if isinstance(timeframe, str) else int(timeframe)
        if not ms or ms == self.tf:
            self._sync_tf_box()
            return
        if ms < self.base_tf or ms % self.base_tf:
            self.show_status(f"{timeframe_label(ms)} cannot be built from {timeframe_label(self.base_tf)} bars", error=True)
            self._sync_tf_box()
            return
        self.tf = ms
        self._sync_tf_box()
        if self.port is not None and ms != self.base_tf:
            self.port.history.open(self.symbol, ms, self.adjust_for(ms))  # the venue's candles of it
        if self.base is not None:
            self._rebuild_display(keep_view=True)
        self.stateChanged.emit()

    def _sync_tf_box(self) -> None:
        label = timeframe_label(self.tf)
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
            adjust = self.adjust_for(self.tf)
            native = self.port.history.bars(self.symbol, self.tf, adjust) if self.port is not None else None
            self._native_seen = None if native is None else native.reshaped
            self.resampler = Resampler(self.base, self.tf, self.sessions, native,
                                       native_only=adjust == "backward")  # live bars are not on its scale
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
