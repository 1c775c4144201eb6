"""The chart's programmatic API, level of detail, timeframes and indicators, on a real widget (offscreen)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.engine.data.resample import resample
from app.widgets.chart.lod import Pyramid
from app.widgets.chart.widget import ChartWidget

T0 = 1_750_000_000_000 - 1_750_000_000_000 % 86_400_000  # a UTC midnight


def make_bars(n: int, seed: int = 1, tf_ms: int = 60_000, gaps: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, n))
    steps = rng.choice([1, 1, 1, 2, 7], n) if gaps else np.ones(n, dtype=np.int64)
    ts = T0 + tf_ms * np.cumsum(steps).astype(np.int64)
    return pd.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.gamma(2.0, 1.0, n)})


@pytest.fixture
def chart(qtbot):
    c = ChartWidget()
    qtbot.addWidget(c)
    c.resize(1200, 700)
    c.show()
    qtbot.waitExposed(c)
    return c


def paint(qtbot, chart) -> None:
    chart.view.repaint()
    qtbot.wait(1)


# ------------------------------------------------------------------------------------------------ the API
def test_set_bars_update_bar_and_set_x_range(qtbot, chart):
    df = make_bars(2_000)
    chart.set_bars(df)
    assert chart.series.n == 2_000
    assert chart.bar(10) == pytest.approx({k: float(df[k].iloc[10]) for k in df.columns})

    last = chart.bar(1_999)
    replaced = dict(last, close=last["close"] * 1.01, high=max(last["high"], last["close"] * 1.01))
    chart.update_bar(replaced)  # same timestamp: replaces the last bar
    assert chart.series.n == 2_000
    assert chart.bar(1_999)["close"] == pytest.approx(replaced["close"])

    appended = dict(replaced, ts=last["ts"] + 60_000, open=1.0, high=2.0, low=0.5, close=1.5)
    chart.update_bar(appended)  # a new timestamp: appends
    assert chart.series.n == 2_001
    assert chart.bar(2_000)["close"] == 1.5

    with pytest.raises(ValueError):
        chart.update_bar(dict(appended, ts=last["ts"] - 60_000))  # bars only move forward

    chart.set_x_range(100, 400)
    assert chart.visible_span() == (100, 400)
    paint(qtbot, chart)
    lo, hi = chart.price.y0, chart.price.y1
    assert lo < df["low"].iloc[100:401].min() and df["high"].iloc[100:401].max() < hi  # y fitted to the span


def test_update_bar_keeps_the_view_following_the_last_bar(qtbot, chart):
    chart.set_bars(make_bars(500))
    n = chart.series.n
    chart.set_x_range(n - 100, n - 1)
    last = chart.bar(n - 1)
    for j in range(1, 4):
        chart.update_bar(dict(last, ts=last["ts"] + j * 60_000))
    assert chart.visible_span()[1] == n + 2  # the new bars are in view


def _append(chart, bar, j=1):
    chart.update_bar(dict(bar, ts=bar["ts"] + j * 60_000))


def test_following_keeps_the_newest_bar_in_view_and_steps_the_view(qtbot, chart):
    """Following, new bars fill the right margin; when the newest reaches the edge the view steps by
    FOLLOW_STEP of its span (most appends do not move the chart), never leaving the newest bar out."""
    from app.widgets.chart.navigation import FOLLOW_STEP

    chart.set_bars(make_bars(500))
    chart.set_x_range(350, 499)  # at the right edge: following
    span = chart._x[1] - chart._x[0]
    last, moves = chart.bar(499), 0
    for j in range(1, 121):
        before = chart._x
        _append(chart, last, j)
        n = chart.series.n
        x0, x1 = chart._x
        assert chart.visible_span()[1] == n - 1 and x1 >= n + 0.5  # the newest bar and an empty slot
        assert x1 - x0 == pytest.approx(span)
        if (x0, x1) != before:
            moves += 1
            assert x1 - (n - 0.5) == pytest.approx(round(FOLLOW_STEP * span))  # a fifth of the span free
    assert 0 < moves <= 120 / (FOLLOW_STEP * span - 1) + 1


def test_a_view_scrolled_back_stays_put_on_new_bars(qtbot, chart):
    chart.set_bars(make_bars(500))
    chart.set_x_range(100, 250)
    before, last = chart._x, chart.bar(499)
    for j in range(1, 31):
        _append(chart, last, j)
    assert chart._x == before and chart.visible_span() == (100, 250) and not chart._follow
    QTest.keyClick(chart.view, Qt.Key.Key_End)  # back to the newest bar: following again
    _append(chart, last, 31)
    assert chart._follow and chart.visible_span()[1] == chart.series.n - 1


def test_an_append_into_the_margin_repaints_a_strip_and_a_step_the_chart(qtbot, chart):
    chart.set_bars(make_bars(500))
    chart.follow_latest()
    paint(qtbot, chart)
    view, last = chart.view, chart.bar(499)
    whole = view.width() * view.height()
    _append(chart, last)  # into the margin (RIGHT_MARGIN empty slots)
    strip = sum(r.width() * r.height() for r in view._dirty if r != view.time_rect.toAlignedRect())
    assert strip < 0.15 * whole
    paint(qtbot, chart)
    for j in range(2, 10):  # up to the step
        x = chart._x
        _append(chart, last, j)
        if chart._x != x:
            break
    assert sum(r.width() * r.height() for r in view._dirty) >= 0.8 * whole


def test_live_updates_draw_what_a_full_repaint_draws(qtbot, chart):
    """The partial repaints of update_bar (strips, the last-price line, tags, new time ticks and grid lines
    in the margin, view steps) leave on screen exactly what painting the whole chart gives."""
    df = make_bars(1_400, seed=5)
    chart.set_bars(df.iloc[:1_200])
    chart.add_indicator("sma", {"timeperiod": 20})
    chart.set_x_range(1_080, 1_199)
    paint(qtbot, chart)
    app = QApplication.instance()
    for i in range(1_200, 1_400):
        chart.update_bar({k: df[k].iloc[i].item() for k in df.columns})
        app.processEvents()
    rng, bar = np.random.default_rng(2), chart.bar(1_399)
    for _ in range(30):  # ticks of the last bar
        c = bar["close"] * (1 + rng.normal(0, 0.001))
        chart.update_bar(dict(bar, close=c, high=max(bar["high"], c), low=min(bar["low"], c)))
        app.processEvents()
    qtbot.wait(50)
    shown, full = _shown_and_fresh(chart)
    from PySide6.QtGui import QPainter

    for img in (shown, full):  # legends are text updated by a timer: not what this test is about
        p = QPainter(img)
        for pane in chart.panes:
            p.fillRect(pane.legend.extent.translated(pane.rect.topLeft()), Qt.GlobalColor.black)
        p.end()
    assert shown == full


def _shown_and_fresh(chart):
    """What is on screen, and the whole chart painted afresh (every layer mapped again from the data, no
    pane's base image reused)."""
    view = chart.view
    top = view.mapTo(view.window(), QPoint(0, 0))
    win = view.window().winId()
    shown = view.screen().grabWindow(win, top.x(), top.y(), view.width(), view.height()).toImage()
    for pane in chart.panes:
        pane._key = None  # a new view for the layers: each maps all its buckets
        for layer in pane.layers:
            layer.dirty = True
        pane.mark_stale(None)
    full = view.grab().toImage().convertToFormat(shown.format())
    return shown, full


def test_the_base_image_under_the_last_bar_legend_and_crosshair_is_never_stale(qtbot, chart):
    """Repaints copy the static layers from each pane's base image and draw only the live bar, the price
    lines, the legend and the crosshair; a tick rewrites the last bucket's candle, volume bar and line
    segments in place. Through ticks, appends, a y-range jump, the mouse moving over the chart and legend
    refreshes, the screen stays exactly what mapping and painting everything afresh gives."""
    from PySide6.QtCore import QPointF

    df = make_bars(700, seed=9)
    chart.set_bars(df.iloc[:600])
    chart.add_indicator("sma", {"timeperiod": 20})
    chart.add_indicator("ema", {"timeperiod": 50})
    chart.set_markers(df["ts"].iloc[[520, 560, 590]], df["close"].iloc[[520, 560, 590]], [0, 1, 0])
    chart.set_x_range(480, 599)
    paint(qtbot, chart)
    app = QApplication.instance()
    rng, bar = np.random.default_rng(4), chart.bar(599)
    view = chart.view
    for step in range(120):
        if step % 15 == 14:  # a new bar
            i = 600 + step // 15
            bar = {k: df[k].iloc[i].item() for k in df.columns}
        else:
            c = bar["close"] * (1 + rng.normal(0, 0.0015))
            if step == 60:  # a spike out of the range: the scale moves, the whole pane repaints
                c = bar["close"] * 1.05
            bar = dict(bar, close=c, high=max(bar["high"], c), low=min(bar["low"], c), volume=bar["volume"] + 0.5)
        chart.update_bar(bar)
        if step % 4 == 0:  # the mouse wanders over the chart (crosshair and legend follow it)
            chart._hover_at(QPointF(rng.uniform(0, view.plot_width), rng.uniform(5, view.height() - 40)))
        elif step % 4 == 2:
            chart._hover_at(None)
        if step % 10 == 0:
            chart._update_readout()
        app.processEvents()
        if step in (30, 61, 119):
            chart._update_readout()
            app.processEvents()
            assert all(p._base is not None for p in chart.panes)  # repaints went through the base images
            shown, full = _shown_and_fresh(chart)
            assert shown == full, f"stale pixels after step {step}"


def test_update_bar_is_incremental_and_exact(qtbot, chart):
    """Block extremes updated in place (O(log n) per bar) equal a rebuild from scratch."""
    df = make_bars(5_000)
    chart.set_bars(df)
    rng = np.random.default_rng(3)
    last = chart.bar(4_999)
    for j in range(300):
        if j % 7 == 0:
            last = dict(last, ts=last["ts"] + 60_000)
        c = last["close"] * (1 + rng.normal(0, 0.003))
        last = dict(last, close=c, high=max(last["high"], c) if j % 7 else c * 1.001,
                    low=min(last["low"], c) if j % 7 else c * 0.999, volume=last["volume"] + 1)
        chart.update_bar(last)
    s = chart.series
    for lod, col in ((s.high, "high"), (s.low, "low"), (s.volume, "volume")):
        pyr = lod.pyramid()
        fresh = Pyramid(pyr.op)
        fresh.build(s.bars.column(col))
        assert sorted(pyr.levels) == sorted(fresh.levels)
        for k in fresh.levels:
            np.testing.assert_allclose(pyr.level(k), fresh.level(k))


# ------------------------------------------------------------------------------------------ level of detail
@pytest.mark.parametrize("span", [300, 5_000, 60_000, 199_999])
def test_level_of_detail_never_loses_the_highest_high_or_lowest_low(qtbot, chart, span):
    n = 200_000
    df = make_bars(n, seed=7)
    rng = np.random.default_rng(span)
    first = int(rng.integers(0, n - span))
    spike, dip = first + span // 3, first + 2 * span // 3 + 1
    df.loc[spike, "high"] = df["high"].max() * 1.5  # one bar's wick far above everything
    df.loc[dip, "low"] = df["low"].min() * 0.5
    chart.set_bars(df)
    chart.set_x_range(first, first + span)
    paint(qtbot, chart)
    win = chart._window
    if span > 5_000:
        assert win.k > 0 and len(win.x) < chart.view.plot_width  # aggregated: buckets, not bars
    sl = slice(first, first + span + 1)
    assert win.high.max() == df["high"].iloc[sl].max() == df.loc[spike, "high"]
    assert win.low.min() == df["low"].iloc[sl].min() == df.loc[dip, "low"]
    assert chart.price.y0 < win.low.min() and win.high.max() < chart.price.y1
    # and the drawn wicks reach both extremes (pixel rows of the spike and the dip)
    m = chart.price.mapper()
    wick_tops = min(chart.candles._wicks[f].a[: chart.candles._wicks[f].n, 1].min()
                    for f in (True, False) if chart.candles._wicks[f].n)
    wick_bottoms = max(chart.candles._wicks[f].a[: chart.candles._wicks[f].n, 3].max()
                       for f in (True, False) if chart.candles._wicks[f].n)
    assert wick_tops == pytest.approx(m.py(np.float64(df.loc[spike, "high"])))
    assert wick_bottoms == pytest.approx(m.py(np.float64(df.loc[dip, "low"])))


def test_lod_edges_hold_only_visible_bars(qtbot, chart):
    """The buckets the span cuts are recomputed from the bars inside it: a spike just off screen is not
    pulled into the view."""
    n = 100_000
    df = make_bars(n, seed=2)
    first, last = 30_001, 70_003  # not aligned to any block
    df.loc[first - 1, "high"] = 1e6
    df.loc[last + 1, "low"] = 1e-6
    chart.set_bars(df)
    chart.set_x_range(first, last)
    win = chart._window
    assert win.k > 0
    assert win.high.max() == df["high"].iloc[first : last + 1].max() < 1e6
    assert win.low.min() == df["low"].iloc[first : last + 1].min() > 1e-6


# ------------------------------------------------------------------------------------------------ timeframes
def reference_resample(df: pd.DataFrame, tf_ms: int) -> pd.DataFrame:
    """An independent implementation (pandas groupby on UTC-aligned keys)."""
    key = df["ts"] - df["ts"] % tf_ms
    g = df.groupby(key, sort=True)
    return pd.DataFrame({"ts": g["ts"].first().index, "open": g["open"].first().values,
                         "high": g["high"].max().values, "low": g["low"].min().values,
                         "close": g["close"].last().values, "volume": g["volume"].sum().values})


def displayed(chart) -> pd.DataFrame:
    b = chart.series.bars
    return pd.DataFrame({"ts": b.ts.copy(), **{c: b.column(c).copy() for c in
                                                        ("open", "high", "low", "close", "volume")}})


@pytest.mark.parametrize("tf", ["5m", "15m", "30m", "1h", "4h", "1d"])
def test_timeframes_are_consistent_with_the_base_bars(qtbot, chart, tf):
    from app.engine.data.resample import TIMEFRAMES_MS

    df = make_bars(6_000, seed=5, gaps=True)  # gaps: some buckets have fewer bars
    chart.set_bars(df)
    chart.set_timeframe(tf)
    assert chart.tf_box.currentText() == tf
    pd.testing.assert_frame_equal(displayed(chart), reference_resample(df, TIMEFRAMES_MS[tf]), check_dtype=False)
    # live updates of the base bars keep the resampled bars equal to a full resample
    rng = np.random.default_rng(11)
    base = df.copy()
    last = {k: base[k].iloc[-1] for k in base.columns}
    for j in range(400):
        if j % 9 == 0:
            last = dict(last, ts=int(last["ts"]) + 60_000 * int(rng.choice([1, 3, 61])))
        c = float(last["close"]) * (1 + rng.normal(0, 0.002))
        last = dict(last, close=c, high=max(float(last["high"]), c), low=min(float(last["low"]), c),
                    volume=float(last["volume"]) + 0.5)
        chart.update_bar(last)
        if base["ts"].iloc[-1] == last["ts"]:
            base.iloc[-1] = [last[k] for k in base.columns]
        else:
            base.loc[len(base)] = [last[k] for k in base.columns]
    pd.testing.assert_frame_equal(displayed(chart), reference_resample(base, TIMEFRAMES_MS[tf]), check_dtype=False)
    chart.set_timeframe("1m")  # back to the base: exactly the base bars
    pd.testing.assert_frame_equal(displayed(chart), base, check_dtype=False)


def test_a_timeframe_shorter_than_the_base_is_refused(qtbot, chart):
    df = make_bars(500, tf_ms=3_600_000)
    chart.set_bars(df)
    chart.set_timeframe("5m")
    assert chart.tf == 3_600_000 and "cannot be built" in chart.status.text()


def test_resample_function_matches_reference():
    df = make_bars(10_000, seed=9, gaps=True)
    for tf in (300_000, 3_600_000, 86_400_000):
        cols = resample(*(df[c].to_numpy() for c in df.columns), tf)
        got = pd.DataFrame(dict(zip(df.columns, cols)))
        pd.testing.assert_frame_equal(got, reference_resample(df, tf), check_dtype=False)


# ------------------------------------------------------------------------------------------------ indicators
def test_overlays_and_subpanes_from_the_registry_stay_exact_on_live_updates(qtbot, chart):
    from app.engine import indicators as ta

    df = make_bars(3_000, seed=4)
    chart.set_bars(df)
    sma = chart.add_indicator("sma", {"timeperiod": 20})
    bb = chart.add_indicator("bbands", {"timeperiod": 20})
    rsi = chart.add_indicator("rsi", {"timeperiod": 14})
    macd = chart.add_indicator("macd")
    obv = chart.add_indicator("obv")
    assert [p.kind for p in chart.panes] == ["price", "volume", "indicator", "indicator", "indicator"]
    assert sma.pane is chart.price and bb.pane is chart.price and rsi.pane is not chart.price
    rng = np.random.default_rng(8)
    last = chart.bar(2_999)
    for j in range(120):
        if j % 10 == 0:
            last = dict(last, ts=last["ts"] + 60_000, volume=0.0)
        c = last["close"] * (1 + rng.normal(0, 0.003))
        last = dict(last, close=c, high=max(last["high"], c), low=min(last["low"], c), volume=last["volume"] + 1)
        chart.update_bar(last)
    b = chart.series.bars
    close, vol = b.column("close"), b.column("volume")
    np.testing.assert_allclose(sma.column(0), ta.sma(close, 20), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(bb.column(0), ta.bbands(close, 20)[0], rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(rsi.column(0), ta.rsi(close, 14), rtol=1e-9, atol=1e-9, equal_nan=True)
    for j, ref in enumerate(ta.macd(close)):
        np.testing.assert_allclose(macd.column(j), ref, rtol=1e-8, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(obv.column(0), ta.obv(close, vol), rtol=1e-10, equal_nan=True)
    paint(qtbot, chart)
    chart.remove_indicator(rsi)
    assert len(chart.panes) == 4


def test_indicator_dialog_lists_the_registry_with_bounded_parameters(qtbot):
    from app.engine.indicators import registry
    from app.widgets.chart.dialogs import IndicatorDialog

    dlg = IndicatorDialog(name="bbands")
    qtbot.addWidget(dlg)
    assert dlg.list.count() == len(registry)
    assert dlg.name == "bbands"
    assert set(dlg.editors) == {"timeperiod", "nbdevup", "nbdevdn", "matype"}
    dlg.editors["timeperiod"].setValue(10**9)  # clamped to the registry's bound
    assert dlg.params()["timeperiod"] == registry["bbands"].params[0].max


# ------------------------------------------------------------------------------------------ trader tools
def test_crosshair_readout_keyboard_and_mouse(qtbot, chart):
    df = make_bars(1_000)
    chart.set_bars(df)
    chart.add_indicator("ema", {"timeperiod": 10})
    paint(qtbot, chart)
    view = chart.view
    x0, x1 = view.x0, view.x1
    i = 950
    px = int((i - x0) / (x1 - x0) * view.plot_width)
    QTest.mouseMove(view, QPoint(px, 100))
    qtbot.waitUntil(lambda: chart._hover == i)
    d = chart.decimals
    qtbot.waitUntil(lambda: f"C {df['close'].iloc[i]:,.{d}f}" in chart.readout())  # at frame rate
    assert chart.price.vline.pos == i and chart.price.hline.pos is not None
    assert chart.price.legend.rows[1][0][0].startswith("EMA(10)")
    assert any(t.crosshair for t in chart.price.scale.tags)

    span = chart._x[1] - chart._x[0]
    QTest.keyClick(view, Qt.Key.Key_Left)
    assert chart._x[1] < x1 and not chart._follow
    QTest.keyClick(view, Qt.Key.Key_Up)  # zoom in
    assert chart._x[1] - chart._x[0] < span
    QTest.keyClick(view, Qt.Key.Key_End)
    assert chart._follow
    before = chart._x
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(600, 200))
    QTest.mouseMove(view, QPoint(700, 200))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(700, 200))
    assert chart._x[0] < before[0]  # dragged right: earlier bars come into view


def test_log_scale_and_png(qtbot, chart, tmp_path):
    df = make_bars(800)
    df[["open", "high", "low", "close"]] *= np.linspace(1, 50, 800)[:, None]  # a wide range
    chart.set_bars(df)
    chart.set_x_range(0, 799)
    chart.log_button.click()
    assert chart.log_scale and chart.price.scale.log_scale
    assert chart.price.y1 == pytest.approx(np.log10(df["high"].max()), abs=0.2)
    path = tmp_path / "chart.png"
    assert chart.save_png(str(path))
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    assert img.width() > 500 and len({img.pixel(x, y) for x in range(0, img.width(), 13)
                                      for y in range(0, img.height(), 13)}) > 5


def test_a_million_candles_build_and_draw(qtbot, chart):
    """Smoke at the benchmark's size (speed is measured in bench/, not asserted)."""
    n = 1_000_000
    ts = T0 + 60_000 * np.arange(n, dtype=np.int64)
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.1, n))
    chart.set_bars({"ts": ts, "open": close, "high": close + 0.2, "low": close - 0.2, "close": close,
                    "volume": np.ones(n)})
    chart.set_x_range(0, n - 1)
    paint(qtbot, chart)
    assert len(chart._window.x) < 1_000 and chart._window.high.max() == pytest.approx(close.max() + 0.2)


def test_legend_text_stays_inside_the_area_it_repaints(qtbot, chart):
    """A legend's repaint area is measured in the label font; the text must be drawn in that same font, or a
    longer text overruns the area and its tail stays on screen after the next update (a stale "%")."""
    from PySide6.QtGui import QColor, QFont, QImage, QPainter

    chart.set_bars(make_bars(300))
    chart.add_indicator("sma", {"timeperiod": 20})
    paint(qtbot, chart)
    pane = chart.price
    legend = pane.legend
    qtbot.waitUntil(lambda: bool(legend.rows), timeout=2_000)  # the readout follows on a frame timer
    assert legend.extent.width() > 0
    img = QImage(int(pane.rect.width()), int(pane.rect.height()), QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    big = QFont()
    big.setPointSizeF(20.0)  # whatever font the painter had before (the widget's, another layer's)
    p.setFont(big)
    legend.draw(p, pane.mapper())
    p.end()
    painted = [x for x in range(img.width()) for y in range(0, int(legend.extent.height()), 2)
               if QColor.fromRgba(img.pixel(x, y)).alpha() > 0]
    assert painted and max(painted) <= legend.extent.right()
