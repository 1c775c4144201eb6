"""The backtest equity picture: trades marked on the curve, and a big run drawn with a handful of items."""
from __future__ import annotations

from app.engine.backtest.engine import run_backtest
from app.engine.data.bar_files import load_bars
from plugins.sma_cross import SmaCross
from tests.kit.data import recorded

DATA = recorded("XRP-ETH-1m.csv.gz")


def test_trades_are_marked_on_the_equity_curve_with_one_item_per_kind(qtbot):
    import numpy as np
    import pyqtgraph as pg

    from app.widgets.panels.backtest_report import equity_widget, trade_marks

    result = run_backtest(SmaCross, {"fast": 10, "slow": 30}, load_bars(DATA))
    (ex, ey), (xx, xy) = trade_marks(result)
    trades = result.trades
    assert len(ex) == len(trades) == 57 and len(xx) == sum(t["exit_time"] is not None for t in trades)
    # each mark sits on the curve at the bar of its fill
    first = trades[0]
    i = int(np.searchsorted(result.ts, first["entry_time"], side="right") - 1)
    assert ex[0] == first["entry_time"] / 1000.0 and ey[0] == result.equity[i]

    win = equity_widget(result, "SMA")
    qtbot.addWidget(win)
    plot = win.ci.getItem(0, 0)
    items = plot.items
    assert not any(isinstance(it, pg.InfiniteLine) for it in items)  # was one line item per trade
    scatters = [it for it in items if isinstance(it, pg.ScatterPlotItem)]
    assert sorted(len(s.data) for s in scatters) == sorted([len(ex), len(xx)])
