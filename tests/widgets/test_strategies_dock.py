"""The strategy manager dock on the real window: load, edit parameters (validated), start, kill, faults and
broken plugins are shown to the trader."""
from __future__ import annotations

from app.engine.strategy.runner import StrategyStatus
from tests.kit.ui import pump, table_column


def _plugin(profile, name, body):
    (profile / "plugins").mkdir(exist_ok=True)
    (profile / "plugins" / f"{name}.py").write_text("from app.api import Strategy, Param\n" + body)


def test_load_edit_start_and_kill_from_the_dock(window_factory, qtbot, profile):
    _plugin(profile, "broken", "import kestrel_missing_dep\n")
    kernel, window = window_factory()
    dock = window.strategies
    assert "sma_cross" in [dock.plugin_box.itemText(i) for i in range(dock.plugin_box.count())]
    assert "broken" in dock.broken.text() and "kestrel_missing_dep" in dock.broken.text()

    dock.plugin_box.setCurrentText("sma_cross")
    dock.load_button.click()
    pump(qtbot, kernel, window, 100)
    assert table_column(dock.table, 0) == ["sma_cross-1"]
    dock.select("sma_cross-1")
    params = {dock.params.item(r, 0).text(): r for r in range(dock.params.rowCount())}
    dock.params.item(params["fast"], 1).setText("0")  # below the declared minimum
    dock.apply_button.click()
    assert "'fast': 0 is below its minimum 1" in dock.message.text()
    dock.params.item(params["fast"], 1).setText("5")
    dock.apply_button.click()
    assert kernel.strategies.runners["sma_cross-1"].params["fast"] == 5

    dock.start_button.click()
    pump(qtbot, kernel, window, 100)
    assert table_column(dock.table, 3) == ["RUNNING"]

    dock.kill_selected(reason="dock kill test")
    pump(qtbot, kernel, window, 100)
    assert table_column(dock.table, 3) == ["STOPPED"]
    assert "risk: HALTED" in table_column(dock.table, 9)[0]
    assert kernel.risk.strategy_states["sma_cross-1"][0].value == "HALTED"


def test_a_faulted_strategy_shows_why(window_factory, qtbot, profile):
    _plugin(profile, "bomb", "class Bomb(Strategy):\n    name = 'bomb'\n"
                             "    def on_tick(self, tick):\n        raise KeyError('missing thing')\n")
    kernel, window = window_factory()
    dock = window.strategies
    kernel.strategies.load("bomb", "bomb-1", {"symbol": "BTC/USDT@sim"})
    kernel.strategies.start("bomb-1")
    pump(qtbot, kernel, window, 500)
    assert kernel.strategies.runners["bomb-1"].status is StrategyStatus.FAULTED
    assert table_column(dock.table, 3) == ["FAULTED"]
    assert "KeyError" in table_column(dock.table, 9)[0]
    dock.select("bomb-1")
    assert "FAULTED" in dock.log_view.toPlainText()
