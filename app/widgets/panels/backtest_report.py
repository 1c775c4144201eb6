"""Backtest and sweep pictures: equity + drawdown, and a sweep heatmap. Used by the GUI and by
``kestrel backtest --plot`` / ``kestrel sweep --plot`` (rendered offscreen when there is no display)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _app():
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def equity_widget(result, title: str = ""):
    import pyqtgraph as pg

    from app.widgets.theme import ENTRY, EQUITY, EXIT, PLOT_BG

    win = pg.GraphicsLayoutWidget()
    win.setBackground(PLOT_BG)
    x = result.ts / 1000.0
    eq = win.addPlot(row=0, col=0, title=title or "Equity", axisItems={"bottom": pg.DateAxisItem()})
    # a million-bar run draws like a thousand-bar one: peak-preserving downsampling to the pixels, and only
    # the visible part
    eq.setDownsampling(auto=True, mode="peak")
    eq.setClipToView(True)
    eq.plot(x, result.equity, pen=pg.mkPen(EQUITY, width=1.5))
    eq.showGrid(x=True, y=True, alpha=0.2)
    eq.setLabel("left", "equity")
    entries, exits = trade_marks(result)
    for (tx, ty), symbol, color in ((entries, "t1", ENTRY), (exits, "t", EXIT)):
        if len(tx):  # one item per kind, however many trades (not one line item per trade)
            eq.addItem(pg.ScatterPlotItem(tx, ty, symbol=symbol, size=7, pen=None, brush=color))
    dd = win.addPlot(row=1, col=0, title="Drawdown", axisItems={"bottom": pg.DateAxisItem()})
    dd.setDownsampling(auto=True, mode="peak")
    dd.setClipToView(True)
    dd.plot(x, result.drawdown * 100.0, pen=pg.mkPen(EXIT), fillLevel=0, brush=(239, 83, 80, 80))
    dd.setLabel("left", "%")
    dd.setXLink(eq)
    win.ci.layout.setRowStretchFactor(0, 3)
    win.ci.layout.setRowStretchFactor(1, 1)
    return win


def trade_marks(result) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x seconds, equity) where each round trip was entered, and where it was exited (open trades have no
    exit), placed on the equity curve at the bar of the fill."""
    ts = np.asarray(result.ts)
    equity = np.asarray(result.equity)

    def at(times: list) -> tuple[np.ndarray, np.ndarray]:
        if not len(ts) or not times:
            return np.empty(0), np.empty(0)
        t = np.asarray(times, dtype=np.int64)
        i = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 1)
        return t / 1000.0, equity[i]

    trades = result.trades
    return (at([t["entry_time"] for t in trades]),
            at([t["exit_time"] for t in trades if t.get("exit_time") is not None]))


def heatmap_widget(sweep, x: str, y: str):
    import pyqtgraph as pg

    from app.widgets.theme import PLOT_BG

    xs, ys, z = sweep.heatmap(x, y)
    win = pg.GraphicsLayoutWidget()
    win.setBackground(PLOT_BG)
    plot = win.addPlot(title=f"{sweep.metric} by {x} (x) and {y} (y); best {sweep.best.get('params', {})}")
    img = pg.ImageItem(np.nan_to_num(z.T, nan=np.nanmin(z) if np.isfinite(z).any() else 0.0))
    img.setColorMap(pg.colormap.get("viridis"))
    plot.addItem(img)
    img.setRect(min(xs), min(ys), (max(xs) - min(xs)) or 1, (max(ys) - min(ys)) or 1)
    plot.setLabel("bottom", x)
    plot.setLabel("left", y)
    bar = pg.ColorBarItem(values=(float(np.nanmin(z)), float(np.nanmax(z))) if np.isfinite(z).any() else (0, 1),
                          colorMap=pg.colormap.get("viridis"))
    bar.setImageItem(img, insert_in=plot)
    return win


def _save(widget, path: Path) -> None:
    widget.resize(1200, 700)
    widget.show()
    app = _app()
    app.processEvents()
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    widget.close()


def save_equity_plot(result, path: Path, title: str = "") -> None:
    _app()
    _save(equity_widget(result, title), Path(path))


def save_heatmap(sweep, x: str, y: str, path: Path) -> None:
    _app()
    _save(heatmap_widget(sweep, x, y), Path(path))
