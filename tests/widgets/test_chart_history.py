"""Defect 8: a chart sometimes opened with one bar of history on a fresh profile.

The sim's clock starts when the Kernel is built; ``Kernel.start`` advanced it to now before seeding the demo
history, so a trade printed during start-up (~50 ms on a fresh profile) opened the current bar, and the
seeding (only into an empty series) was skipped. These tests replay that start-up time deterministically."""
from __future__ import annotations

import pytest

from app.cli.selftest.runner import history_problem
from app.engine.core.clock import SimClock
from app.engine.kernel import SEED_BARS
from tests.kit.ui import pump

T0 = 1_750_000_000_000


class StartUpClock(SimClock):
    """Simulated wall time that runs while the terminal starts: every reading moves it on by ``tick_ms``
    (the wall clock moves on while a profile is created and plugins are scanned: the sim is built at one
    reading, started at the next), until ``freeze``."""

    def __init__(self, start_ms: int, tick_ms: int) -> None:
        super().__init__(start_ms)
        self.tick_ms = tick_ms

    def now_ms(self) -> int:
        self.advance(self.tick_ms)
        return super().now_ms()

    def freeze(self) -> None:
        self.tick_ms = 0


def sim_symbols(kernel) -> list[str]:
    return [s for s, i in kernel.instruments.items() if i.venue == "sim"]


@pytest.mark.parametrize("startup_ms", [0, 20, 50, 120, 300, 1_000, 4_000, 9_000])
def test_every_sim_symbol_has_its_history_however_long_start_up_took(tmp_path, startup_ms):
    from app.config import Settings
    from app.engine.kernel import Kernel

    clock = SimClock(T0)
    kernel = Kernel(tmp_path, Settings(), clock=clock)
    try:
        clock.advance(startup_ms)  # wall time between building the kernel and starting it
        kernel.start()
        tf = kernel.bars.timeframe_ms
        current = clock.now_ms() - clock.now_ms() % tf
        for symbol in sim_symbols(kernel):
            ts = kernel.bars.get(symbol).column("ts")
            before = ts[ts < current]
            assert len(before) == SEED_BARS, f"{symbol}: {len(before)} bars before the current one"
            assert before[-1] == current - tf  # the history runs up to the live bar, no gap
    finally:
        kernel.close()


@pytest.fixture
def build_window(qtbot, profile):
    from app.bootstrap import build, create_app

    create_app()
    made = []

    def make(clock):
        kernel, window = build(profile, clock=clock)
        qtbot.addWidget(window)
        window.show()
        made.append((kernel, window))
        return kernel, window

    def close(kernel, window):
        made.remove((kernel, window))
        window.close()
        kernel.close()

    make.close = close
    yield make
    for kernel, window in made:
        window.close()
        kernel.close()


def test_the_window_opens_with_the_history_in_every_chart(qtbot, build_window):
    """The window built the way the app builds it, with the clock running during start-up: the main chart
    and a chart dock restored from the saved layout (5m) show the seeded history (the self-test's check)."""
    clock = StartUpClock(T0, tick_ms=0)
    kernel, window = build_window(clock)
    extra = window.chart_docks.add()
    extra.set_timeframe("5m")
    extra.parent().setFloating(False)
    build_window.close(kernel, window)
    for tick_ms in (10, 60, 150, 400, 2_000):  # a restart each time, each start-up slower than the last
        clock.tick_ms = tick_ms
        kernel, window = build_window(clock)
        clock.freeze()
        pump(qtbot, kernel, window, 200)
        (extra,) = window.chart_docks.charts.values()
        for chart in (window.chart, extra):
            assert history_problem(kernel, chart) is None, (tick_ms, history_problem(kernel, chart))
        assert window.chart.series.n >= SEED_BARS
        assert extra.tf == 300_000 and extra.series.n >= SEED_BARS // 5
        build_window.close(kernel, window)


def test_the_self_test_check_fails_on_a_chart_without_its_history(qtbot, window_factory):
    """What the race left: a series with only the live bars. The self-test's chart check must refuse it
    (it used to pass with "chart 1 bars")."""
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 200)
    assert history_problem(kernel, window.chart) is None
    del kernel.bars.series["BTC/USDT@sim"]  # the aggregator starts a new series, filled from live trades only
    window.set_symbol("ETH/USDT@sim")
    window.set_symbol("BTC/USDT@sim")
    pump(qtbot, kernel, window, 500)
    assert window.chart.series.n >= 1
    problem = history_problem(kernel, window.chart)
    assert problem is not None and f"expected at least the {SEED_BARS} seeded" in problem
