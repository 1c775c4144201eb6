"""The chart's indicators: added from the registry, their history computed in a worker thread (first use compiles
Numba kernels: never on the UI thread), their panes, the Indicators menu and dialog (a part of ``ChartWidget``)."""
from __future__ import annotations

import logging
import concurrent.futures
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QColor

from app.widgets.chart.dialogs import IndicatorDialog
from app.widgets.chart.indicators import ChartIndicator, compute, snapshot, views
from app.widgets.chart.layers import LineLayer
from app.widgets.chart.view import Pane


# reaches the right edge (a fifth of the span as empty margin, like a chart shift), not by one bar per bar:
# between steps a new bar draws into the margin, so an append repaints a strip instead of the whole chart
log = logging.getLogger("kestrel.ui.chart")
_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """One worker for indicator history (first use compiles Numba kernels: never on the UI thread)."""
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kestrel-indicators")
    return _EXECUTOR


class IndicatorBridge(QObject):
    done = Signal(object)  # worker thread -> UI thread (queued)


class ChartIndicators:
    """Indicators on the chart: add, remove, compute in the background, the menu and the dialog."""

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
