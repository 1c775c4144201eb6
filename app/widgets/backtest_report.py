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

    win = pg.GraphicsLayoutWidget()
    win.setBackground("#14171c")
    x = result.ts / 1000.0
    eq = win.addPlot(row=0, col=0, title=title or "Equity", axisItems={"bottom": pg.DateAxisItem()})
    eq.plot(x, result.equity, pen=pg.mkPen("#4fc3f7", width=1.5))
    eq.showGrid(x=True, y=True, alpha=0.2)
    eq.setLabel("left", "equity")
    for t in result.trades:
        eq.addItem(pg.InfiniteLine(t["entry_time"] / 1000.0, pen=pg.mkPen("#2e7d32", width=0.5)))
    dd = win.addPlot(row=1, col=0, title="Drawdown", axisItems={"bottom": pg.DateAxisItem()})
    dd.plot(x, result.drawdown * 100.0, pen=pg.mkPen("#ef5350"), fillLevel=0, brush=(239, 83, 80, 80))
    dd.setLabel("left", "%")
    dd.setXLink(eq)
    win.ci.layout.setRowStretchFactor(0, 3)
    win.ci.layout.setRowStretchFactor(1, 1)
    return win


def heatmap_widget(sweep, x: str, y: str):
    import pyqtgraph as pg

    xs, ys, z = sweep.heatmap(x, y)
    win = pg.GraphicsLayoutWidget()
    win.setBackground("#14171c")
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
