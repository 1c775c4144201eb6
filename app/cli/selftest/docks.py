"""The self-test's steps in the docks and dialogs of the shown window: each is driven as a person drives it
(clicks on its buttons, keys into its fields, the dialog as it opens) and checks what a person would see.
Every dialog opened must be shown, paint, and be closed again.

Whatever a step adds to the profile (an indicator, a strategy instance, a trained model) it removes again,
and registers how in ``undo`` first, so a step that fails halfway leaves nothing behind either:
``kestrel --self-test --profile P`` leaves P as it found it. No step touches the network: the Connect
dialog is opened, measured and canceled.
"""
from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QDockWidget, QMessageBox, QWidget

from app.cli.selftest.checks import StepFailed
from app.cli.selftest.hands import (
    choose, click, click_item, click_tab, colours, edit_cell, fits_small_screen, key, painted, pixels_of, shown,
    type_into,
)

PLUGIN = "sma_cross"  # its slow SMA needs 30 one-minute bars: started for a moment, it cannot trade
INDICATOR, PERIOD = "ema", 13
GRID, METRIC = "fast=5:10:5,slow=20:30:10", "total_return"  # 4 combinations
MODEL = "linear"  # the quickest to train
EQUITY_PEN = "#4fc3f7"  # backtest_report.equity_widget's curve


SELFTEST_TITLES = {"good": "Kestrel self-test: profits beat", "bad": "Kestrel self-test: losses",
                   "zh": "自检：贵州茅台净利润同比增长"}
SELFTEST_FEED = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>self-test</title>
<item><title>{SELFTEST_TITLES["good"]} forecasts, strong gains</title><link>https://kestrel.invalid/1</link></item>
<item><title>{SELFTEST_TITLES["bad"]} and a default after the fraud probe</title><link>https://kestrel.invalid/2</link>
</item><item><title>{SELFTEST_TITLES["zh"]}，股价大涨</title><link>https://kestrel.invalid/3</link></item>
</channel></rss>"""


def bring_up(dock: QDockWidget) -> None:
    """Show a dock as a person does: View > its name if the trader closed it, then its tab to the front (the
    self-test puts the trader's layout back when it ends)."""
    if dock.isHidden():
        dock.toggleViewAction().trigger()
    dock.raise_()
    QApplication.processEvents()
    if not dock.isVisible():
        raise StepFailed(f"the {dock.windowTitle()} dock cannot be shown")


# ------------------------------------------------------------------------------------------------- steps
class DockSteps:
    """The dock and dialog steps; ``test`` is the running :class:`app.cli.selftest.runner.SelfTest` (its window,
    kernel, ``pump`` and scratch folder)."""

    def __init__(self, test, bars_csv: Path) -> None:
        self.test = test
        self.window, self.kernel = test.window, test.kernel
        self.bars_csv = bars_csv
        self.undo: list[tuple[str, Callable[[], None]]] = []
        self.keep_open: list[QWidget] = []  # a dialog a step leaves open for the next one
        self.backtest_dialog = None
        self.training_error: Exception | None = None
        self.training_started = 0.0
        self.known_models: set[int] = set()
        self.forget_model: Callable[[], None] = lambda: None

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [("indicator dialog", self.indicator_dialog), ("strategies", self.strategies),
                ("backtest", self.backtest), ("sweep", self.sweep), ("venues", self.venues),
                ("data", self.data), ("alerts", self.alerts), ("news", self.news),
                ("model training", self.model_training)]

    def undo_all(self) -> list[str]:
        """Take back what the steps added (latest first); what could not be taken back, one line each."""
        problems = []
        while self.undo:
            what, fn = self.undo.pop()
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - the others are still undone
                problems.append(f"{what}: {type(exc).__name__}: {exc}")
        return problems

    def _wait(self, seconds: float, until: Callable[[], bool]) -> bool:
        return self.test.pump(seconds, until)

    # -------------------------------------------------------------------------------------- chart
    def indicator_dialog(self) -> str:
        """Chart > Add indicator…: pick EMA, set its period, OK; it is drawn with its value in the legend.
        Then Remove it from the chart's Indicators menu: the chart is as it was."""
        from app.widgets.chart.dialogs import IndicatorDialog

        chart = self.window.chart
        before, existing = chart.state(), list(chart.indicators)
        self.undo.append(("the self-test's indicator", lambda: [chart.remove_indicator(i) for i in
                                                                list(chart.indicators) if i not in existing]))
        self.window.chart_docks.indicator_action.trigger()  # Chart > Add indicator…
        dialogs = shown(IndicatorDialog)
        if len(dialogs) != 1:
            raise StepFailed("Chart > Add indicator… did not open the indicator dialog")
        dialog = dialogs[0]
        size = painted(dialog, "the indicator dialog")
        items = [dialog.list.item(r) for r in range(dialog.list.count())
                 if dialog.list.item(r).data(Qt.ItemDataRole.UserRole) == INDICATOR]
        if not items:
            raise StepFailed(f"the indicator dialog does not list {INDICATOR.upper()}")
        click_item(dialog.list, items[0], INDICATOR.upper())
        if dialog.name != INDICATOR or "timeperiod" not in dialog.editors:
            raise StepFailed(f"the dialog shows {dialog.name!r} with {sorted(dialog.editors)}")
        type_into(dialog.editors["timeperiod"], str(PERIOD))
        click(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok), "the dialog's OK")
        if not self._wait(2.0, lambda: not shown(IndicatorDialog)):
            raise StepFailed("the indicator dialog stayed open after OK")
        label = f"{INDICATOR.upper()}({PERIOD})"
        added = [i for i in chart.indicators if i not in existing]
        if [i.label for i in added] != [label]:
            raise StepFailed(f"OK put {[i.label for i in added]} on the chart, expected [{label}]")
        ind = added[0]
        if not chart.wait_indicators(20.0):
            raise StepFailed(f"{label} was not computed within 20 s")
        self._wait(0.2, None)
        legend = "  ".join(t for row in ind.pane.legend.rows for t, _c in row)
        match = re.search(re.escape(label) + r" ([-\d,.]+)", legend)
        if match is None or not math.isfinite(float(match.group(1).replace(",", ""))):
            raise StepFailed(f"the legend does not show {label}'s value: {legend!r}")
        chart.view.repaint()
        drawn = pixels_of(chart.view, ind.colors[0], tolerance=30)
        if drawn < 20:
            raise StepFailed(f"{label} is in the legend but its line is not drawn")

        menu = chart.ind_menu
        menu.popup(chart.ind_button.mapToGlobal(chart.ind_button.rect().bottomLeft()))  # fills it
        remove = next((a for a in menu.actions() if a.text() == f"Remove {label}"), None)
        if remove is None:
            menu.close()
            raise StepFailed(f"the chart's Indicators menu has no 'Remove {label}'")
        remove.trigger()
        menu.close()
        self._wait(0.05, None)
        if chart.state() != before:
            raise StepFailed(f"after Remove {label} the chart is {chart.state()}, it was {before}")
        saved = (self.kernel.store.get_setting("ui.charts") or {}).get("main")
        if saved != before:
            raise StepFailed(f"the profile keeps {saved} for the chart, it had {before}")
        return (f"dialog {size} px; {label} drawn ({drawn} px), legend '{match.group(0)}'; removed from the "
                f"Indicators menu, chart as before")

    # --------------------------------------------------------------------------------- strategies
    def strategies(self) -> str:
        """Load a bundled plugin, edit a parameter, Start, Stop, Remove (confirmed in its box)."""
        from app.engine.strategy.runner import StrategyStatus

        manager = self.kernel.strategies
        bring_up(self.window.docks["strategies"])
        dock = self.window.strategies
        self._wait(0.05, None)
        before = set(manager.runners)
        choose(dock.plugin_box, PLUGIN, "the Strategies dock's plugin list")
        click(dock.load_button, "Load")
        new = sorted(set(manager.runners) - before)
        if len(new) != 1:
            raise StepFailed(f"Load added {new or 'no instance'}: {dock.message.text()}")
        name = new[0]
        self.undo.append((f"strategy {name}", lambda: self._unload(name)))
        runner = manager.runners[name]
        dock.refresh()
        row = dock.table.findItems(name, Qt.MatchFlag.MatchExactly)
        if not row:
            raise StepFailed(f"{name} is loaded but not listed")
        click_item(dock.table, row[0], name)

        click_tab(dock.details, "Parameters")
        edit_cell(dock.params, "fast", "8")
        click(dock.apply_button, "Apply parameters")
        if dock.message.text() != f"{name}: parameters saved" or runner.params.get("fast") != 8:
            raise StepFailed(f"Apply parameters: {dock.message.text()!r}, fast={runner.params.get('fast')}")

        click_tab(dock.details, "Instances")

        def status() -> str:
            dock.refresh()
            item = dock.table.findItems(name, Qt.MatchFlag.MatchExactly)
            return dock.table.item(item[0].row(), 3).text() if item else "not listed"

        click(dock.start_button, "Start")
        if status() != "RUNNING" or dock.message.text() != f"{name} started":
            raise StepFailed(f"Start: {name} is {status()}: {dock.message.text()}")
        self._wait(0.3, None)  # it sees the market
        if runner.status is not StrategyStatus.RUNNING:
            raise StepFailed(f"{name} stopped by itself: {runner.status.value} {runner.reason}")
        click(dock.stop_button, "Stop")
        if status() != "STOPPED" or dock.message.text() != f"{name} stopped":
            raise StepFailed(f"Stop: {name} is {status()}: {dock.message.text()}")

        click(dock.remove_button, "Remove")
        boxes = shown(QMessageBox)
        if len(boxes) != 1 or f"Remove {name}?" not in boxes[0].text():
            raise StepFailed(f"Remove did not ask first ({[b.text() for b in boxes]})")
        painted(boxes[0], "the Remove box")
        click(boxes[0].button(QMessageBox.StandardButton.Yes), "Yes")
        self._wait(0.05, None)
        if name in manager.runners or status() != "not listed" or dock.message.text() != f"{name} removed":
            raise StepFailed(f"Remove: {name} is {status()}: {dock.message.text()}")
        left = self.kernel.store.get_setting(f"strategy_state.{name}")
        if left is not None:
            raise StepFailed(f"{name} was removed but its saved state stays in the profile: {left}")
        return f"{name}: loaded, fast=8 applied, started, stopped, removed"

    def _unload(self, name: str) -> None:
        if name in self.kernel.strategies.runners:
            self.kernel.strategies.unload(name)

    # ---------------------------------------------------------------------------- backtest, sweep
    def backtest(self) -> str:
        """Backtest… from the Strategies dock on the self-test's bar file: run in a worker process to the
        equity plot; the stats shown are the worker's."""
        from app.widgets.panels.backtest_dialog import BacktestDialog

        dock = self.window.strategies
        bring_up(self.window.docks["strategies"])
        dock.table.clearSelection()  # the plugin chosen above, not an instance of the trader's
        choose(dock.plugin_box, PLUGIN, "the Strategies dock's plugin list")
        click(dock.backtest_button, "Backtest…")
        dialogs = shown(BacktestDialog)
        if len(dialogs) != 1:
            raise StepFailed("Backtest… did not open its dialog")
        dialog = self.backtest_dialog = dialogs[0]
        self.undo.append(("the Backtest dialog", dialog.close))
        size = painted(dialog, "the Backtest dialog")
        if dialog.windowTitle() != f"Backtest {PLUGIN}":
            raise StepFailed(f"the dialog is titled {dialog.windowTitle()!r}")
        type_into(dialog.path, str(self.bars_csv))
        click(dialog.run_button, "Run backtest")
        if "worker process" not in dialog.status.text():
            raise StepFailed(f"Run backtest: {dialog.status.text()}")
        self._wait_for_tab(dialog, "Equity", 60.0)
        result = dialog.backtest_result
        stats = {dialog.stats.item(r, 0).text(): dialog.stats.item(r, 1).text() for r in range(dialog.stats.rowCount())}
        if result is None or not result.stats.get("trades") or stats.get("trades") != str(result.stats["trades"]):
            raise StepFailed(f"the backtest shows {stats.get('trades')} trades ({dialog.status.text()})")
        plot = dialog.tabs.currentWidget()
        drawn = pixels_of(plot, EQUITY_PEN)
        if not plot.isVisible() or drawn < 100:
            raise StepFailed(f"the equity curve is not drawn ({drawn} px of it)")
        self.keep_open.append(dialog)
        return f"dialog {size} px; {dialog.status.text()}; equity curve drawn ({drawn} px)"

    def _wait_for_tab(self, dialog, title: str, seconds: float) -> None:
        def ended() -> bool:
            return (dialog.tabs.tabText(dialog.tabs.currentIndex()) == title
                    or dialog.status.text().startswith("failed"))

        if not self._wait(seconds, ended):
            raise StepFailed(f"no {title} plot within {seconds:.0f} s ({dialog.status.text()})")
        if dialog.status.text().startswith("failed"):
            raise StepFailed(f"the worker {dialog.status.text()}")

    def sweep(self) -> str:
        """Run sweep in the same dialog: 4 combinations in worker processes, to the heatmap; then close."""
        dialog = self.backtest_dialog
        if dialog is None or not dialog.isVisible():
            raise StepFailed("the Backtest dialog is not open")
        type_into(dialog.grid, GRID)
        choose(dialog.metric_combo, METRIC, "Optimise")
        click(dialog.sweep_button, "Run sweep")
        if not dialog.status.text().startswith("sweeping 4 combinations"):
            raise StepFailed(f"Run sweep: {dialog.status.text()}")
        self._wait_for_tab(dialog, "Heatmap", 60.0)
        if dialog.progress.value() != 4 or not dialog.status.text().startswith(f"best {METRIC} "):
            raise StepFailed(f"the sweep ended at {dialog.progress.value()}/4: {dialog.status.text()}")
        heatmap = dialog.tabs.currentWidget()
        shades = colours(heatmap)
        if not heatmap.isVisible() or shades < 6:
            raise StepFailed(f"the heatmap is not drawn ({shades} colours)")
        painted(dialog, "the Backtest dialog after the sweep")
        said = dialog.status.text()
        key(dialog, Qt.Key.Key_Escape)
        if dialog.isVisible():
            raise StepFailed("Escape did not close the Backtest dialog")
        self.keep_open.remove(dialog)
        return f"{said}; heatmap drawn ({shades} colours); dialog closed"

    # ------------------------------------------------------------------------------------- venues
    def venues(self) -> str:
        """The sim is listed in the Venues dock; Connect… opens its dialog, which fits a small screen, and
        Cancel closes it without saving or connecting anything."""
        from app.engine.venues.venue_config import list_configs
        from app.widgets.panels.venue_dialogs import ConnectDialog

        bring_up(self.window.venues_dock)
        dock = self.window.venues_widget
        self._wait(0.05, None)
        dock.refresh()
        sim = dock.row_of("sim")
        if sim is None:
            raise StepFailed(f"the sim is not listed in the Venues dock ({dock.names})")
        saved = [c.name for c in list_configs(self.kernel.profile)]
        running = set(self.kernel.venues.venues)  # the sim, and any venue already connected
        click(dock.connect_button, "Connect…")
        dialogs = shown(ConnectDialog)
        if len(dialogs) != 1:
            raise StepFailed("Connect… did not open its dialog")
        dialog = dialogs[0]
        self.undo.append(("the Connect dialog", lambda: [d.reject() for d in shown(ConnectDialog)]))
        painted(dialog, "the Connect dialog")
        fits = fits_small_screen(dialog, "the Connect dialog")
        click(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel), "Cancel")
        if not self._wait(1.0, lambda: not shown(ConnectDialog)):
            raise StepFailed("Cancel did not close the Connect dialog")
        now = [c.name for c in list_configs(self.kernel.profile)]
        if now != saved or set(self.kernel.venues.venues) - running:
            raise StepFailed(f"Cancel saved or connected a venue: {sorted(set(now) - set(saved))}")
        return f"sim listed ({sim[0]}); Connect dialog {fits}; canceled, nothing saved"

    def data(self) -> str:
        """Data → Data… opens the Data dialog; the self-test's bar file imported on its Import tab is listed
        with its bar count (stored in the profile's bar store, then deleted again: the profile is left as it
        was found)."""
        from app.widgets.panels.data_dialog import DataDialog

        store = self.kernel.bar_store
        venue, symbol = "kestrel-self-test", "SELFTEST/USD"
        if store.info(venue, symbol, 60_000) is not None:
            raise StepFailed(f"the bar store already holds {venue} {symbol}: not touching it")
        self.window.data_action.trigger()  # what a click on Data → Data… does
        dialogs = shown(DataDialog)
        if len(dialogs) != 1:
            raise StepFailed("Data → Data… did not open the Data dialog")
        dialog = dialogs[0]
        self.undo.append(("the Data dialog", dialog.hide))
        self.undo.append(("the imported bars", lambda: store.delete(venue, symbol, 60_000)))
        painted(dialog, "the Data dialog")
        click_tab(dialog.tabs, "Import")
        type_into(dialog.file, str(self.bars_csv))
        type_into(dialog.import_venue.lineEdit(), venue)
        type_into(dialog.import_symbol, symbol)
        choose(dialog.import_timeframe, "1m", "the import timeframe")
        click(dialog.import_button, "Import")

        def listed() -> bool:
            return any(dialog.table.item(r, 0).text() == venue and dialog.table.item(r, 1).text() == symbol
                       for r in range(dialog.table.rowCount()))
        if not self._wait(20.0, listed):
            raise StepFailed(f"the imported file is not listed: {dialog.status.text()!r}")
        info = store.info(venue, symbol, 60_000)
        dialog.close()  # the window's close button: nothing running, so it closes without asking
        if not self._wait(1.0, lambda: not shown(DataDialog)):
            raise StepFailed("the Data dialog did not close")
        return f"dialog {dialog.width()}x{dialog.height()} px; a bar file imported and listed ({info.bars:,} bars)"

    # ------------------------------------------------------------------------------------- alerts
    def alerts(self) -> str:
        """The Alerts dock: New… sets an alert on the chart's symbol far above its market (it never fires), the
        dock lists it and the chart draws its line; Delete asks first, then it is gone: the trader's own rules
        are left as they were."""
        from app.engine.core.messages import RemoveAlert
        from app.widgets.panels.alerts import AlertDialog

        bring_up(self.window.docks["alerts"])
        panel, rules = self.window.alerts_panel, self.kernel.alerts.rules
        before = dict(rules)
        click(panel.new_button, "New…")
        dialogs = shown(AlertDialog)
        if len(dialogs) != 1:
            raise StepFailed("New… did not open the alert dialog")
        dialog = dialogs[0]
        self.undo.append(("the alert dialog", lambda: [d.reject() for d in shown(AlertDialog)]))
        painted(dialog, "the alert dialog")
        fits = fits_small_screen(dialog, "the alert dialog")
        choose(dialog.kind, "Price crosses above", "the alert's kind")
        symbol = dialog.symbol.currentText()
        st = self.kernel.market.get(symbol)
        if st is None or not st.last:
            raise StepFailed(f"no price of {symbol} to set an alert against")
        level = round(st.last * 10, 2)
        type_into(dialog.level, f"{level:.2f}")
        click(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok), "OK")
        new = [rid for rid in rules if rid not in before]
        if len(new) != 1 or shown(AlertDialog):
            raise StepFailed(f"OK set {new or 'no alert'}: {dialog.error.text()!r}")
        rid = new[0]
        self.undo.append((f"alert {rid}", lambda: self.kernel.port.send(RemoveAlert(rid, "self-test"))
                          if rid in self.kernel.alerts.rules else None))
        self._wait(0.3, lambda: any(ln.order_id == f"alert:{rid}" for ln in self.window.chart.lines.lines))
        drawn = any(ln.order_id == f"alert:{rid}" for ln in self.window.chart.lines.lines)
        if symbol == self.window.chart.symbol and not drawn:
            raise StepFailed(f"alert {rid} is not drawn on the {symbol} chart")
        items = panel.rules.findItems(rid, Qt.MatchFlag.MatchExactly)
        if not items:
            raise StepFailed(f"alert {rid} is not listed in the Alerts dock")
        click_item(panel.rules, items[0], f"alert {rid}")
        click(panel.delete_button, "Delete")
        boxes = shown(QMessageBox)
        if len(boxes) != 1 or f"Delete alert {rid}" not in boxes[0].text():
            raise StepFailed(f"Delete did not ask first ({[b.text() for b in boxes]})")
        painted(boxes[0], "the Delete box")
        click(next(b for b in boxes[0].buttons() if b.text() == "Delete"), "Delete")
        self._wait(0.1, None)
        if rid in rules or {k: v for k, v in rules.items()} != before:
            raise StepFailed(f"Delete left the rules as {sorted(rules)} (before: {sorted(before)})")
        return (f"alert {rid} set from New… on {symbol} above {level:,.2f}, listed"
                f"{', its line on the chart' if drawn else ''}; dialog {fits}; deleted after asking")

    # --------------------------------------------------------------------------------------- news
    def news(self) -> str:
        """The News dock: Sources… adds a feed (a file written here: no network), its poll stores and scores the
        items (the lexicons of the plain install: English and Chinese), the dock lists them coloured by score;
        then the source and its items are removed: the trader's news is left as it was."""
        import asyncio

        from app.widgets.news.panel import SourcesDialog

        name = "kestrel-self-test-feed"
        feed = self.test.scratch / "selftest-feed.xml"
        feed.write_text(SELFTEST_FEED, encoding="utf-8")
        bring_up(self.window.docks["news"])
        panel, news = self.window.news_panel, self.kernel.news
        click(panel.sources_button, "Sources…")
        dialogs = shown(SourcesDialog)
        if len(dialogs) != 1:
            raise StepFailed("Sources… did not open the news sources dialog")
        dialog = dialogs[0]
        self.undo.append(("the news sources dialog", lambda: [d.reject() for d in shown(SourcesDialog)]))
        self.undo.append((f"news source {name}", lambda: (news.remove_source(name), news.store.forget(name))))
        painted(dialog, "the news sources dialog")
        choose(dialog.kind, "RSS/Atom feed (URL)", "the source's kind")
        type_into(dialog.name, name)
        type_into(dialog.target, feed.as_uri())
        click(dialog.add_button, "Add")
        if name not in news.sources:
            raise StepFailed(f"Add did not add the feed: {dialog.message.text()!r}")
        dialog.reject()
        records = asyncio.run(news.poll(news.sources[name]))  # the poll the service's task runs
        if len(records) != 3:
            st = news.sources[name]
            raise StepFailed(f"the feed's poll stored {len(records)} of 3 items ({st.last_error or st.last_problem})")
        choose(panel.filter, "All", "the news filter")
        self._wait(1.0, lambda: {r.title for r in records} <= set(panel.column(4)))
        shown_titles = panel.column(4)
        scores = {r.title: r.score for r in records}
        want = {"good": 1, "bad": -1, "zh": 1}
        got = {k: next(scores[t] for t in scores if t.startswith(SELFTEST_TITLES[k])) for k in want}
        wrong = [k for k, sign in want.items() if not got[k] * sign > 0]
        if wrong or not all(r.title in shown_titles for r in records):
            raise StepFailed(f"news scores {got} (want the signs {want}); listed: {shown_titles[:5]}")
        news.remove_source(name)
        gone = news.store.forget(name)
        self.undo.pop()
        return (f"a feed added in Sources… ({feed.name}), 3 items stored and listed, lexicon scores "
                f"{got['good']:+.2f} / {got['bad']:+.2f} / zh {got['zh']:+.2f}; source and its {gone} items removed")

    # ------------------------------------------------------------------------------------- models
    def start_training(self) -> None:
        """Train in the Models dock (the quickest model, on the self-test's bar file): clicked at the start,
        it trains in its worker process while the other steps run, and the "model training" step waits for
        it. What goes wrong here is that step's failure."""
        try:
            self._click_train()
        except Exception as exc:  # noqa: BLE001 - reported by the "model training" step
            self.training_error = exc

    def _click_train(self) -> None:
        dock = self.window.docks["ml"]
        on_top = [d for d in self.window.tabifiedDockWidgets(dock) if d.isVisible()]
        closed = dock.isHidden()
        bring_up(dock)
        panel = self.window.ml_panel
        self._wait(0.05, None)
        models_dir = self.kernel.profile / "models"
        known, had_dir = {r.id for r in panel.overview.registry.list()}, models_dir.exists()
        self.forget_model = lambda: self._forget_models(known, models_dir, had_dir)
        self.undo.append(("the self-test's model", self.forget_model))
        self.known_models = known
        type_into(panel.data_path, str(self.bars_csv))
        choose(panel.kind, MODEL, "the Models dock's model list")
        click(panel.train_button, "Train")
        if panel.job is None:
            raise StepFailed(f"Train: {panel.status.text()}")
        self.training_started = time.monotonic()
        for other in on_top:  # the window as it opened
            other.raise_()
        if closed:
            dock.toggleViewAction().trigger()

    def model_training(self) -> str:
        """The training started at the beginning ends in the Models dock with the registered model shown,
        its metrics and importances; the model is then deleted from the registry again."""
        if self.training_error is not None:
            raise self.training_error
        bring_up(self.window.docks["ml"])
        panel = self.window.ml_panel
        if not self._wait(120.0, lambda: panel.job is None):
            raise StepFailed(f"training did not finish within 120 s ({panel.status.text()})")
        took = time.monotonic() - self.training_started
        said = panel.status.text()
        registry = panel.overview.registry
        new = [r for r in registry.list() if r.id not in self.known_models and r.source == str(self.bars_csv)]
        if not said.startswith("registered ") or len(new) != 1:
            raise StepFailed(f"training ended with: {said}")
        rec = new[0]
        self._wait(0.05, None)
        if rec.name not in panel.model_box.currentText() or f"{rec.name} v{rec.version}" not in panel.info.text():
            raise StepFailed(f"the trained model is not the one shown ({panel.model_box.currentText()})")
        painted(panel, "the Models dock")
        metrics = {panel.metrics.item(r, 0).text(): panel.metrics.item(r, 1).text()
                   for r in range(panel.metrics.rowCount())}
        holdout = {k: v for k, v in metrics.items() if k.startswith("holdout.") and v != "—"}
        if not holdout or panel.importances.rowCount() == 0:
            raise StepFailed(f"the trained model shows no holdout metrics or importances ({sorted(metrics)})")
        self.forget_model()  # delete it now (the undo finds nothing left), and check that it is gone
        panel.refresh()
        if any(f"#{rec.id})" in panel.model_box.itemText(i) for i in range(panel.model_box.count())):
            raise StepFailed(f"{rec.name} v{rec.version} is still listed after it was deleted")
        metric, value = next(iter(holdout.items()))
        return (f"{rec.name} v{rec.version} trained in its worker within {took:.1f} s of Train (clicked at the "
                f"start), shown with {metric} {value}; deleted again")

    def _forget_models(self, known: set[int], models_dir: Path, had_dir: bool) -> None:
        panel = self.window.ml_panel
        if panel.job is not None:
            panel.cancel_training()
        registry = panel.overview.registry
        for rec in registry.list():  # its own: not one another process registered meanwhile
            if rec.id not in known and rec.source == str(self.bars_csv):
                registry.remove(rec.id)
        panel.overview.reload()
        if not had_dir and models_dir.is_dir() and not any(models_dir.iterdir()):
            models_dir.rmdir()
