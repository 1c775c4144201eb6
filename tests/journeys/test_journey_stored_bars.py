"""Journey: a backtest and a training on the profile's stored history instead of a file (issue 18, item 5).

The Backtest dialog and the Models dock list the bar store's series; the trader picks one (and a since),
runs, and sees the result the engine gives for those stored bars. With nothing stored the choice says how to
get history and cannot be picked; a series stored while the dialog is open appears in it."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt

from tests.kit.bar_store import MINUTE, T0, random_bars
from tests.kit.journeys import current_tab, open_backtest
from tests.kit.ui import choose, pump, table_column, type_into

PLUGIN = "sma_cross"
NO_HISTORY = "No stored history: use Data → Download, or `kestrel data download`"


def store_walk(profile, hole: tuple[int, int] = (1500, 1560)):
    """3000 one-minute bars of sim WALK/USDT in the profile's store, less a hole; the bars written."""
    from app.engine.data.bar_store import BarStore

    bars = random_bars(3000, MINUTE, seed=16, symbol="WALK/USDT")
    store = BarStore(profile)
    store.write("sim", "WALK/USDT", MINUTE, bars.slice(0, hole[0]), "test")
    store.write("sim", "WALK/USDT", MINUTE, bars.slice(hole[1], len(bars)), "test")
    return bars


def test_backtest_a_stored_series_from_the_strategies_dock(qtbot, window_factory, profile):
    from app.engine.backtest.engine import run_backtest
    from app.engine.backtest.options import BacktestConfig
    from app.engine.data.bar_store import BarStore

    bars = store_walk(profile)
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 200)
    dialog = open_backtest(qtbot, window, PLUGIN)
    picker = dialog.data_source
    assert picker.stored_choice.isEnabled() and picker.stored_choice.text() == "Stored series"
    assert [picker.series_box.itemText(i) for i in range(picker.series_box.count())] == [
        "sim · WALK/USDT · 1m (2024-01-01 00:00 – 2024-01-03 01:59 UTC, 2,940 bars)"]

    # a range with no bars is refused at once, saying what is stored
    qtbot.mouseClick(picker.stored_choice, Qt.MouseButton.LeftButton)
    type_into(picker.since, "2025-01-01")
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.status.text() == ("no stored bars of sim WALK/USDT 1m from 2025-01-01 00:00 UTC on: the series "
                                    "holds 2024-01-01 00:00 UTC .. 2024-01-03 01:59 UTC (2,940 bars)")
    assert not dialog._futures

    # from bar 500 on, across the hole, to the equity plot
    since = int(bars.ts[500])
    type_into(picker.since, "2024-01-01T08:20")
    assert picker.stored and not picker.file_choice.isChecked()
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert "worker process" in dialog.status.text()
    qtbot.waitUntil(lambda: current_tab(dialog) == "Equity", timeout=180_000)
    info = kernel.strategies.plugin(PLUGIN)
    stored = BarStore(profile).read("sim", "WALK/USDT", MINUTE, since)
    assert len(stored) == 2500 - 60
    expected = run_backtest(info.cls, {}, stored, BacktestConfig(cash=dialog.cash.value(), fee=dialog.fee.value()))
    assert expected.stats["trades"] > 10
    shown = dict(zip(table_column(dialog.stats, 0), table_column(dialog.stats, 1)))
    assert shown["bars"] == str(len(stored)) and shown["trades"] == str(expected.stats["trades"])
    assert dialog.status.text() == f"{expected.stats['trades']} trades, equity {expected.equity_final:,.2f}"
    assert dialog.tabs.currentWidget().isVisible()

    # typing a file's path goes back to the file choice
    type_into(dialog.path, "/nowhere.csv")
    assert picker.file_choice.isChecked() and not picker.stored


def test_with_nothing_stored_the_choice_says_how_to_get_history_until_a_series_arrives(qtbot, window_factory,
                                                                                     profile):
    kernel, window = window_factory()
    dialog = open_backtest(qtbot, window, PLUGIN)
    picker = dialog.data_source
    assert picker.stored_choice.text() == NO_HISTORY and not picker.stored_choice.isEnabled()
    assert not picker.series_box.isVisible()
    qtbot.mouseClick(picker.stored_choice, Qt.MouseButton.LeftButton)
    assert picker.file_choice.isChecked()
    panel = window.ml_panel
    window.docks["ml"].raise_()
    assert panel.data_source.stored_choice.text() == NO_HISTORY
    assert not panel.data_source.stored_choice.isEnabled()

    store_walk(profile)  # a download (another process) finishes while the dialog is open
    qtbot.waitUntil(lambda: picker.stored_choice.isEnabled(), timeout=10_000)
    assert picker.stored_choice.text() == "Stored series" and picker.series_box.isVisible()
    assert picker.series_box.currentText().startswith("sim · WALK/USDT · 1m (")


def test_train_a_model_on_a_stored_series_from_the_models_dock(qtbot, window_factory, profile):
    from app.engine.data.bar_store import BarStore
    from app.engine.data.bars import Bars
    from app.engine.ml.synthetic import generated_bars

    gen = generated_bars(1200, seed=9)  # the ML module's synthetic market, moved onto the UTC minute grid
    bars = Bars.from_arrays(gen.ts - gen.ts[0] + T0, gen.open, gen.high, gen.low, gen.close, gen.volume, MINUTE,
                            "GEN/USD")
    BarStore(profile).write("sim", "GEN/USD", MINUTE, bars, "test")
    kernel, window = window_factory()
    window.docks["ml"].raise_()
    panel = window.ml_panel
    pump(qtbot, kernel, window, 100)
    picker = panel.data_source
    assert picker.isVisible() and picker.series_box.currentText().startswith("sim · GEN/USD · ")
    qtbot.mouseClick(picker.stored_choice, Qt.MouseButton.LeftButton)
    panel.kind.setFocus()
    choose(panel.kind, "logistic")
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.job is not None, panel.status.text()
    assert panel.status.text().startswith("training logistic (horizon 5) on bar store: sim GEN/USD ")

    end = time.monotonic() + 180
    while panel.job is not None and time.monotonic() < end:
        pump(qtbot, kernel, window, 100)
    assert panel.job is None, "training did not finish within 180 s"
    assert panel.status.text().startswith("registered logistic-h5@1 (#1)"), panel.status.text()
    rec = panel.overview.record(1)
    assert rec.source.startswith("bar store: sim GEN/USD ")
    assert rec.manifest["data"]["source"].startswith("bar store: sim GEN/USD ")
    assert rec.manifest["data"]["symbol"] == "GEN/USD" and rec.n_train > 0
