"""Bars, the one bar container: live aggregation, views, the column mapping, pickling for worker processes."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from app.engine.core.bus import MessageBus
from app.engine.core.messages import Bar, Side, TradeTick
from app.engine.data.bars import COLUMNS, BarAggregator, Bars

T0 = 1_700_000_040_000  # a minute boundary


def five() -> Bars:
    ts = T0 + 60_000 * np.arange(5)
    c = np.arange(5) + 100.0
    return Bars.from_arrays(ts, c, c + 1, c - 1, c + 0.5, np.ones(5), 60_000, "X")


def test_trades_fold_into_the_forming_bar_and_a_later_bar_closes_it():
    bus = MessageBus()
    closed: list[Bar] = []
    bus.subscribe(Bar, closed.append)
    bars = BarAggregator(bus, 60_000)
    for ts, price in ((T0 + 1, 10.0), (T0 + 2, 12.0), (T0 + 3, 9.0), (T0 + 60_000, 11.0)):
        bus.publish(TradeTick("X", price, 1.0, Side.BUY, str(ts), ts))
    series = bars.get("X")
    assert series.ts.dtype == np.int64 and list(series.ts) == [T0, T0 + 60_000]
    assert closed == [Bar("X", 60_000, T0, 10.0, 12.0, 9.0, 9.0, 3.0, True)]
    version = series.version
    series.add_trade(T0, 50.0, 1.0)  # a late print for a closed bar is ignored
    assert series.row(0)["high"] == 12.0 and series.version == version + 1


def test_a_slice_is_a_view_and_as_dict_names_every_column():
    bars = five()
    part = bars.slice(1, 3)
    assert part.symbol == "X" and part.timeframe_ms == 60_000 and len(part) == 2
    assert list(part.as_dict()) == list(COLUMNS)
    assert np.shares_memory(part.close, bars.close) and part.ts[0] == bars.ts[1]
    assert list(bars.slice(-2).ts) == list(bars.ts[-2:])


def test_update_replaces_the_last_bar_or_appends_and_refuses_an_older_one():
    bars = five()
    last = bars.row(-1)
    assert not bars.update(dict(last, close=1.0)) and bars.close[-1] == 1.0
    assert bars.update(dict(last, ts=last["ts"] + 60_000)) and len(bars) == 6
    with pytest.raises(ValueError, match="older"):
        bars.update(dict(last, ts=T0))


def test_bars_pickle_without_their_headroom():
    bars = five()
    back = pickle.loads(pickle.dumps(bars))
    assert all(len(a) == 5 for a in back._cols.values())
    assert (back.symbol, back.timeframe_ms) == ("X", 60_000)
    np.testing.assert_array_equal(back.close, bars.close)


def test_merge_history_puts_closed_bars_under_the_live_ones_and_keeps_the_forming_bar():
    from app.engine.data.bars import Bars

    live = Bars.from_arrays([300, 360, 420], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1.5, 2.5, 3.5], [1, 1, 1])
    history = Bars.from_arrays([120, 180, 240, 300, 420], [9] * 5, [9] * 5, [9] * 5, [9] * 5, [5] * 5)
    before = live.reshaped
    assert live.merge_history(history) == 3
    assert live.ts.tolist() == [120, 180, 240, 300, 360, 420]
    assert live.close.tolist() == [9, 9, 9, 9, 2.5, 3.5]  # the venue's whole candle replaced the partial 300
    assert live.reshaped == before + 1
    assert live.merge_history(Bars.from_arrays([420], [0], [0], [0], [0], [0])) == 0  # the forming bar stays
    assert live.close[-1] == 3.5 and live.reshaped == before + 1
