"""Journey: Backtest… and Run sweep from the Strategies dock, to their plots (issue 16, defect 6).

The dialog is shown and painted while it works (``BacktestDialog.metric`` once shadowed
``QWidget::metric()``, which Qt calls while painting: the terminal died with SIGSEGV). The numbers it shows
are the engine's own for the same file and parameters; the equity curve and the heatmap are drawn."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from tests.kit.journeys import current_tab, open_backtest
from tests.kit.ui import choose, pump, table_column, type_into

PLUGIN = "sma_cross"
GRID = "fast=5:15:5,slow=20:40:10"
EQUITY_PEN = (0x4F, 0xC3, 0xF7)  # backtest_report.equity_widget's curve


def bar_file(folder, n: int = 3000, seed: int = 16):
    """A random-walk bar file (1-minute bars, timestamps in ms) in the format the dialog asks for."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.001, n)) * close
    ts = 1_700_000_000_000 + 60_000 * np.arange(n)
    path = folder / "WALK-USDT-1m.csv"
    with path.open("w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for row in zip(ts, open_, np.maximum(open_, close) + spread, np.minimum(open_, close) - spread, close,
                       rng.uniform(1, 10, n)):
            f.write(f"{row[0]},{row[1]:.6f},{row[2]:.6f},{row[3]:.6f},{row[4]:.6f},{row[5]:.4f}\n")
    return path






def pen_pixels(widget, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of ``widget`` as painted are close to ``rgb``."""
    image = widget.grab().toImage()
    ptr = image.constBits()
    pixels = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())[:, : image.width() * 4]
    bgr = pixels.reshape(image.height(), image.width(), 4)[:, :, :3].astype(int)
    return int((np.abs(bgr - np.array(rgb[::-1])).sum(axis=2) < tolerance).sum())


def distinct_colours(widget) -> int:
    image = widget.grab().toImage()
    step = 7
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


def test_backtest_and_sweep_from_the_strategies_dock_to_their_plots(qtbot, window_factory, tmp_path):
    from app.engine.backtest.options import BacktestConfig
    from app.engine.backtest.sweep import PluginRef, parse_grid, run_sweep
    from app.engine.backtest.workers import backtest_job
    from app.engine.data.bar_files import load_bars

    kernel, window = window_factory()
    pump(qtbot, kernel, window, 200)
    data = bar_file(tmp_path)
    dialog = open_backtest(qtbot, window, PLUGIN)
    assert dialog.windowTitle() == f"Backtest {PLUGIN}"
    assert not dialog.grab().isNull()  # painted: Qt asked the dialog for its metrics

    # the backtest, to its equity plot
    type_into(dialog.path, str(data))
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert "worker process" in dialog.status.text()
    qtbot.waitUntil(lambda: current_tab(dialog) == "Equity", timeout=180_000)
    info = kernel.strategies.plugin(PLUGIN)
    cfg = BacktestConfig(cash=dialog.cash.value(), fee=dialog.fee.value())
    expected = backtest_job(PluginRef(info.name, info.origin, info.source), {}, str(data), cfg)
    assert expected.stats["trades"] > 10  # the file makes the strategy trade
    stats = dict(zip(table_column(dialog.stats, 0), table_column(dialog.stats, 1)))
    assert stats["trades"] == str(expected.stats["trades"])
    assert dialog.status.text() == f"{expected.stats['trades']} trades, equity {expected.equity_final:,.2f}"
    plot = dialog.tabs.currentWidget()
    assert plot.isVisible() and plot.width() > 300
    assert pen_pixels(plot, EQUITY_PEN) > 200  # the equity curve is drawn

    # the sweep, to its heatmap
    type_into(dialog.grid, GRID)
    choose(dialog.metric_combo, "total_return")
    qtbot.mouseClick(dialog.sweep_button, Qt.MouseButton.LeftButton)
    assert dialog.progress.maximum() == 9 and "sweeping 9 combinations" in dialog.status.text()
    qtbot.waitUntil(lambda: current_tab(dialog) == "Heatmap", timeout=180_000)
    assert dialog.progress.value() == 9
    best = run_sweep(info.cls, load_bars(data), parse_grid(GRID), cfg, "total_return", workers=1).best
    assert dialog.status.text().startswith("best total_return ")
    assert dialog.status.text().endswith(f"at {best['params']}")
    heatmap = dialog.tabs.currentWidget()
    assert heatmap.isVisible() and distinct_colours(heatmap) > 8  # cells of several colours
    assert not dialog.grab().isNull()
