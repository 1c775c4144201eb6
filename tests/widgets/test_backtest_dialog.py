"""Backtest and sweep from the strategy dock: the work runs in worker processes, the dialog shows stats, the
equity/drawdown plot, a progress bar and the sweep heatmap, and bad input is explained."""
from __future__ import annotations

from tests.kit.data import recorded

DATA = recorded("XRP-ETH-1m.csv.gz")


def test_backtest_and_sweep_run_off_the_gui_loop_and_show_results(window_factory, qtbot):
    from app.widgets.panels.backtest_dialog import BacktestDialog

    kernel, window = window_factory()
    dialog = BacktestDialog(kernel.port.strategies, "sma_cross", {"fast": 10, "slow": 30})
    qtbot.addWidget(dialog)
    dialog.path.setText(str(DATA))

    dialog.run_backtest()
    assert dialog._futures  # submitted to the pool; the GUI loop is free meanwhile
    qtbot.waitUntil(lambda: dialog.backtest_result is not None, timeout=120_000)
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert "Equity" in titles
    assert dialog.backtest_result.stats["trades"] == 57  # the same run as the CLI and the oracles

    dialog.grid.setText("fast=5:15:5,slow=20:40:10")
    dialog.run_sweep()
    assert dialog.progress.maximum() == 9
    qtbot.waitUntil(lambda: dialog.sweep_result is not None, timeout=120_000)
    assert dialog.progress.value() == 9
    assert "Heatmap" in [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert len(dialog.sweep_result.rows) == 9 and not any(r["error"] for r in dialog.sweep_result.rows)


def test_bad_input_is_explained_not_raised(window_factory, qtbot, tmp_path):
    from app.widgets.panels.backtest_dialog import BacktestDialog

    kernel, window = window_factory()
    dialog = BacktestDialog(kernel.port.strategies, "sma_cross", {})
    qtbot.addWidget(dialog)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high\n1,2,3\n")
    dialog.path.setText(str(bad))
    dialog.run_backtest()
    assert "missing column" in dialog.status.text()
    dialog.path.setText(str(DATA))
    dialog.params.setText("fast=zero")
    dialog.run_backtest()
    assert "'fast'" in dialog.status.text() and not dialog._futures


def test_the_a_share_box_backtests_under_the_a_share_rules(window_factory, qtbot, tmp_path):
    """Ticked, the dialog's run trades whole 100-share lots and pays the stamp duty on its sells."""
    from PySide6.QtCore import QPoint, Qt

    from app.widgets.panels.backtest_dialog import BacktestDialog
    from tests.kit.series import ashare_daily_csv

    kernel, window = window_factory()
    dialog = BacktestDialog(kernel.port.strategies, "sma_cross", {"fast": 10, "slow": 30})
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.params.setText("fast=3,slow=8")
    dialog.path.setText(str(ashare_daily_csv(tmp_path / "600519.SH-1d.csv")))
    dialog.cash.setValue(1_000_000)
    qtbot.mouseClick(dialog.ashare, Qt.MouseButton.LeftButton, pos=dialog.ashare.rect().topLeft() + QPoint(8, 8))
    assert dialog.ashare.isChecked()
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.backtest_result is not None or "rror" in dialog.status.text(), timeout=120_000)
    assert dialog.backtest_result is not None, dialog.status.text()
    fills = dialog.backtest_result.fills
    assert fills and all(f["qty"] % 100 == 0 for f in fills)
    sell = next(f for f in fills if f["side"] == "SELL")
    assert sell["fee"] > sell["price"] * sell["qty"] * 0.0005  # the stamp duty alone is 0.05%
