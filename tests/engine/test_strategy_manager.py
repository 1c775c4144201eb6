"""The live strategy manager on a real kernel (sim venue, SQLite profile, SimClock): plugins load or are
listed with their error, orders go through the risk gate, faults stay contained, the watchdog interrupts a
stuck plugin, hot reload keeps state and position, kill switches stop strategies, restarts keep settings."""
from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from app.api import ParamError
from app.engine.core.messages import Alert, OrderDenied, OrderStatus
from app.engine.strategy.plugins import discover
from app.engine.strategy.runner import StrategyStatus
from tests.kit.kernel import advance
from tests.kit.ids import sid

HEADER = "from app.api import Strategy, Param, Bar, TradeTick, OrderDenied\n"


def write_plugin(profile: Path, name: str, body: str) -> Path:
    folder = profile / "plugins"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    old = path.stat().st_mtime if path.exists() else None
    path.write_text(HEADER + textwrap.dedent(body))
    if old is not None:  # make sure the change is visible even on coarse-mtime file systems
        os.utime(path, (old + 5, old + 5))
    return path


TICKER = """
class Ticker(Strategy):
    name = "ticker"
    qty = Param(0.001, lo=0.0, hi=10.0)
    raise_after = Param(0, lo=0, hi=1000, doc="raise in on_tick after this many ticks (0: never)")
    hang = Param(False)

    def on_start(self):
        self.state.setdefault("ticks", 0)
        self.state.setdefault("orders", [])
        self.denials = []

    def on_tick(self, tick):
        self.state["ticks"] += 1
        if self.p.hang:
            while True:
                pass
        if self.p.raise_after and self.state["ticks"] >= self.p.raise_after:
            raise RuntimeError("boom from the plugin")
        if not self.state["orders"]:
            self.state["orders"].append(self.buy(self.p.qty))

    def on_order(self, event):
        if isinstance(event, OrderDenied):
            self.denials.append(event.reason)
"""


# ------------------------------------------------------------------------------------------------ loader
def test_loader_lists_every_broken_plugin_with_its_error_and_never_raises(profile):
    write_plugin(profile, "syntax_bad", "class X(Strategy:\n    pass\n")
    write_plugin(profile, "import_bad", "import kestrel_no_such_module\n")
    write_plugin(profile, "api_bad", "class A(Strategy):\n    name = 'api_bad'\n    api_version = '2.0'\n")
    write_plugin(profile, "param_bad", "class B(Strategy):\n    name = 'param_bad'\n    n = Param(3, lo=5, hi=1)\n")
    write_plugin(profile, "exits", "import sys\nsys.exit(3)\n")
    write_plugin(profile, "empty", "x = 1\n")
    write_plugin(profile, "dup", "class D(Strategy):\n    name = 'sma_cross'\n")
    write_plugin(profile, "good", "class G(Strategy):\n    name = 'good'\n    n = Param(3, lo=1, hi=9)\n")

    found = {(i.name, i.source): i for i in discover(profile)}

    assert found[("good", "user")].ok
    assert found[("sma_cross", "bundled")].ok
    errors = {name: info.error for (name, src), info in found.items() if src == "user" and not info.ok}
    assert "SyntaxError" in errors["syntax_bad"] and "line" in errors["syntax_bad"]
    assert "kestrel_no_such_module" in errors["import_bad"]
    assert "2.0" in errors["api_bad"] and "update the plugin" in errors["api_bad"]
    assert "lo 5 is above hi 1" in errors["param_bad"]
    assert "SystemExit" in errors["exits"]
    assert "no Strategy subclass" in errors["empty"]
    assert "duplicate" in errors["sma_cross"] and "bundled" not in errors["sma_cross"]


def test_entry_point_plugins_are_found_and_broken_ones_listed(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "kestrel_ep_demo-0.1.dist-info").mkdir(parents=True)
    (site / "kestrel_ep_demo-0.1.dist-info" / "METADATA").write_text("Name: kestrel-ep-demo\nVersion: 0.1\n")
    (site / "kestrel_ep_demo-0.1.dist-info" / "entry_points.txt").write_text(
        "[kestrel.strategies]\ndemo = kestrel_ep_demo:Demo\nmissing = kestrel_ep_nowhere:X\n")
    (site / "kestrel_ep_demo.py").write_text(HEADER + "class Demo(Strategy):\n    name = 'ep_demo'\n")
    monkeypatch.syspath_prepend(str(site))

    found = {i.name: i for i in discover(None, bundled=None)}

    assert found["ep_demo"].ok and found["ep_demo"].source == "entry-point"
    assert not found["missing"].ok and "kestrel_ep_nowhere" in found["missing"].error


# ---------------------------------------------------------------------------------------------- orders
def test_strategy_orders_go_through_the_risk_gate_and_denials_come_back(make_kernel, profile):
    write_plugin(profile, "ticker", TICKER)
    k = make_kernel()
    k.strategies.rescan()
    denied: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, denied.append)
    big = k.strategies.load("ticker", "big", {"symbol": "BTC/USDT", "qty": 5.0})  # ~ far over 25k notional
    ok = k.strategies.load("ticker", "small", {"symbol": "BTC/USDT", "qty": 0.001})
    assert k.strategies.start("big") and k.strategies.start("small")

    advance(k, 3000)

    assert [d.actor for d in denied] == ["strategy:big"]
    assert denied[0].reason == "MAX_NOTIONAL"
    assert big.strategy.denials == ["MAX_NOTIONAL"] and big.denials == 1
    cid = ok.strategy.state["orders"][0]
    order = k.execution.orders[cid]
    assert order.actor == "strategy:small" and order.status is OrderStatus.FILLED
    assert ok.books[sid("BTC/USDT")].quantity == pytest.approx(0.001)
    assert k.portfolio.position("BTC/USDT").quantity == pytest.approx(0.001)
    assert "BTC/USDT" not in big.books  # the denied strategy owns no position


def test_closed_bars_reach_on_bar_with_streaming_indicators_equal_to_vectorised(make_kernel, profile):
    write_plugin(profile, "barrec", """
    class BarRec(Strategy):
        name = "barrec"
        def on_start(self):
            self.bars, self.smas = [], []
            self.sma = self.indicator("sma", timeperiod=2)
        def on_bar(self, bar):
            self.bars.append(bar)
            self.smas.append(self.sma.value)
    """)
    k = make_kernel()
    k.strategies.rescan()
    r = k.strategies.load("barrec", params={"symbol": "ETH/USDT"})
    primed = k.bar_history("ETH/USDT", 1000)  # what the start feeds the indicators (before any live bar)
    k.strategies.start(r.instance)

    advance(k, 4 * 60_000 + 500, step=250)

    import numpy as np

    from app.engine import indicators as ta

    bars = r.strategy.bars
    assert len(bars) >= 3 and all(b.closed and b.symbol == sid("ETH/USDT") for b in bars)
    assert all(b2.ts - b1.ts == 60_000 for b1, b2 in zip(bars, bars[1:]))
    series = k.bars.get("ETH/USDT")
    stored = {int(t): c for t, c in zip(series.column("ts"), series.column("close"))}
    assert all(stored[b.ts] == b.close for b in bars)  # the bar the strategy saw is the chart's bar
    expected = ta.sma(np.array([b.close for b in primed + bars]), 2)[len(primed):]
    np.testing.assert_array_equal(np.array(r.strategy.smas), expected)


def test_a_starting_strategy_s_indicators_are_primed_from_history(make_kernel, profile):
    """A 200-bar SMA is valid at the first live bar (fed the terminal's closed bars at start, without
    on_bar), and equals the vectorised SMA over history and live bars together."""
    write_plugin(profile, "slowma", """
    class SlowMa(Strategy):
        name = "slowma"
        def on_start(self):
            self.sma = self.indicator("sma", timeperiod=200)
            self.at_start = self.sma.value
            self.seen = []
        def on_bar(self, bar):
            self.seen.append((bar.close, self.sma.value))
    """)
    import math

    import numpy as np

    from app.engine import indicators as ta

    k = make_kernel()
    k.strategies.rescan()
    r = k.strategies.load("slowma", params={"symbol": "BTC/USDT"})
    history = k.bar_history("BTC/USDT", 1000)
    assert len(history) >= 200  # the sim's seeded history
    k.strategies.start(r.instance)
    assert math.isnan(r.strategy.at_start)  # on_start runs before the priming: nothing was fed yet
    assert r.strategy.sma.ready  # ... and after it, before any live bar, the 200-bar SMA is valid
    expected_now = ta.sma(np.array([b.close for b in history]), 200)[-1]
    assert r.strategy.sma.value == expected_now
    advance(k, 2 * 60_000 + 500, step=250)
    closes = [b.close for b in history] + [c for c, _ in r.strategy.seen]
    assert r.strategy.seen and not any(math.isnan(v) for _, v in r.strategy.seen)
    np.testing.assert_array_equal([v for _, v in r.strategy.seen], ta.sma(np.array(closes), 200)[len(history):])


# ---------------------------------------------------------------------------------------------- faults
def test_an_exception_faults_only_that_strategy_and_cancels_its_orders(make_kernel, profile):
    write_plugin(profile, "maker", """
    class Maker(Strategy):
        name = "maker"
        fail = Param(False)
        def on_start(self):
            self.ticks = 0
        def on_tick(self, tick):
            self.ticks += 1
            if self.ticks == 1:
                self.state["cid"] = self.buy(0.001, round(tick.price * 0.97, 1))
            elif self.p.fail:
                raise ZeroDivisionError("plugin bug")
    """)
    k = make_kernel()
    k.strategies.rescan()
    alerts: list[Alert] = []
    k.bus.subscribe(Alert, alerts.append)
    bad = k.strategies.load("maker", "bad", {"symbol": "BTC/USDT", "fail": True})
    good = k.strategies.load("maker", "good", {"symbol": "BTC/USDT"})
    k.strategies.start("bad")
    k.strategies.start("good")

    advance(k, 3000)

    assert bad.status is StrategyStatus.FAULTED and "ZeroDivisionError: plugin bug" in bad.reason
    assert k.execution.orders[bad.strategy.state["cid"]].status is OrderStatus.CANCELED
    assert good.status is StrategyStatus.RUNNING and good.strategy.ticks > 5
    assert k.execution.orders[good.strategy.state["cid"]].status is OrderStatus.ACCEPTED
    assert any("bad faulted" in a.title for a in alerts)


def test_the_watchdog_interrupts_a_plugin_stuck_in_a_loop(make_kernel, profile):
    write_plugin(profile, "ticker", TICKER)
    k = make_kernel()
    k.strategies.rescan()
    k.strategies.host.watchdog_s = 0.3
    stuck = k.strategies.load("ticker", "stuck", {"symbol": "BTC/USDT", "hang": True})
    k.strategies.start("stuck")

    t0 = time.monotonic()
    advance(k, 1000)
    took = time.monotonic() - t0

    assert stuck.status is StrategyStatus.FAULTED
    assert "watchdog" in stuck.reason and "on_tick" in stuck.reason
    assert took < 5.0
    assert k.strategies.host.stuck_reports
    advance(k, 500)  # the terminal goes on


# ------------------------------------------------------------------------------------------ hot reload
def test_hot_reload_runs_new_code_and_keeps_state_and_position(make_kernel, profile):
    v1 = TICKER.replace('name = "ticker"', 'name = "ticker"\n    version = 1')
    path = write_plugin(profile, "ticker", v1)
    k = make_kernel()
    k.strategies.rescan()
    r = k.strategies.load("ticker", "t1", {"symbol": "BTC/USDT", "qty": 0.002})
    k.strategies.start("t1")
    advance(k, 2000)
    first_order = r.strategy.state["orders"][0]
    assert r.books[sid("BTC/USDT")].quantity == pytest.approx(0.002)

    write_plugin(profile, "ticker", v1.replace("version = 1", "version = 2"))
    k.strategies.tick(k.clock.now_ms())
    k.strategies._last_poll = 0.0
    k.strategies.tick(k.clock.now_ms())
    assert "ticker" in k.strategies.changed  # the dock says "file changed on disk: Reload"
    msg = k.strategies.reload("ticker")
    advance(k, 1000)

    assert "t1" in msg and r.status is StrategyStatus.RUNNING
    assert type(r.strategy).version == 2
    assert r.strategy.state["orders"] == [first_order]  # state carried over: no second buy
    assert r.books[sid("BTC/USDT")].quantity == pytest.approx(0.002)
    assert r.params["qty"] == 0.002

    path.write_text(HEADER + "class Broken(Strategy:\n")
    msg = k.strategies.reload("ticker")
    assert "not reloaded" in msg and "SyntaxError" in msg
    assert r.status is StrategyStatus.RUNNING and type(r.strategy).version == 2


# ------------------------------------------------------------------------------------------ kill switch
def test_kill_switches_stop_strategies_and_a_reset_restarts_nothing(make_kernel, profile):
    write_plugin(profile, "ticker", TICKER)
    k = make_kernel()
    k.strategies.rescan()
    a = k.strategies.load("ticker", "a", {"symbol": "BTC/USDT"})
    b = k.strategies.load("ticker", "b", {"symbol": "ETH/USDT"})
    k.strategies.start("a")
    k.strategies.start("b")
    advance(k, 500)

    k.risk.halt_strategy("a", "K2 test")
    assert a.status is StrategyStatus.STOPPED and "K2 test" in a.reason
    assert b.status is StrategyStatus.RUNNING

    k.risk.halt("K1 test")
    assert b.status is StrategyStatus.STOPPED and "K1 test" in b.reason
    k.risk.reset("all clear", actor="manual")
    advance(k, 500)
    assert a.status is StrategyStatus.STOPPED and b.status is StrategyStatus.STOPPED


# ------------------------------------------------------------------------------------------ persistence
def test_instances_params_and_state_survive_a_restart_stopped(make_kernel, profile):
    write_plugin(profile, "ticker", TICKER)
    k = make_kernel()
    k.strategies.rescan()
    k.strategies.load("ticker", "keep", {"symbol": "ETH/USDT", "qty": 0.01})
    k.strategies.start("keep")
    advance(k, 1000)
    ticks = k.strategies.runners["keep"].strategy.state["ticks"]
    k.close()

    k2 = make_kernel()
    r = k2.strategies.runners["keep"]
    assert r.status is StrategyStatus.STOPPED and r.params["qty"] == 0.01 and r.symbol == sid("ETH/USDT")
    k2.strategies.start("keep")
    assert r.strategy.state["ticks"] >= ticks  # restored before on_start
    assert len(r.strategy.state["orders"]) == 1  # and it does not buy again


def test_an_instance_whose_plugin_breaks_is_kept_not_deleted(make_kernel, profile):
    write_plugin(profile, "ticker", TICKER)
    k = make_kernel()
    k.strategies.rescan()
    k.strategies.load("ticker", "keepme", {"symbol": "ETH/USDT", "qty": 0.01})
    k.close()
    write_plugin(profile, "ticker", "import kestrel_no_such_module\n")

    k2 = make_kernel()
    assert "keepme" not in k2.strategies.runners
    assert k2.strategies.orphans[0]["instance"] == "keepme"
    k2.strategies.load("sma_cross", "other")  # saving again must not drop the broken one
    k2.close()
    write_plugin(profile, "ticker", TICKER)
    k3 = make_kernel()
    assert k3.strategies.runners["keepme"].params["qty"] == 0.01


def test_parameters_are_validated_against_the_declaration(make_kernel, profile):
    write_plugin(profile, "ticker", TICKER)
    k = make_kernel()
    k.strategies.rescan()
    k.strategies.load("ticker", "p", {"symbol": "ETH/USDT"})
    with pytest.raises(ParamError, match="'qty': 50.0 is above its maximum 10"):
        k.strategies.set_params("p", {"qty": "50"})
    with pytest.raises(ParamError, match="unknown parameter"):
        k.strategies.set_params("p", {"nope": 1})
    with pytest.raises(ParamError, match="'raise_after': 'x' is not a valid int"):
        k.strategies.load("ticker", "q", {"raise_after": "x"})
    assert k.strategies.set_params("p", {"qty": "0.5"})["qty"] == 0.5
    k.strategies.start("p")
    with pytest.raises(ValueError, match="stop p before"):
        k.strategies.set_params("p", {"qty": 1})


# ------------------------------------------------------------------------------------- bundled plugins
@pytest.mark.parametrize("plugin", ["sma_cross", "rsi_reversion", "bollinger_breakout", "market_maker"])
def test_every_bundled_plugin_runs_live_on_the_sim_without_faulting(make_kernel, plugin):
    k = make_kernel()
    params = {"symbol": "BTC/USDT"}
    if plugin in ("sma_cross", "rsi_reversion", "bollinger_breakout"):
        params.update({"sma_cross": {"fast": 2, "slow": 3}, "rsi_reversion": {"period": 2},
                       "bollinger_breakout": {"period": 2}}[plugin])
    r = k.strategies.load(plugin, params=params)
    assert k.strategies.start(r.instance)
    advance(k, 4 * 60_000, step=250)
    assert r.status is StrategyStatus.RUNNING, r.reason
    if plugin == "market_maker":
        quotes = k.strategies.host.open_orders(r.instance)
        assert {o.side.value for o in quotes} == {"BUY", "SELL"}
        inst = k.instruments["BTC/USDT"]
        assert all(inst.is_on_tick(o.price) for o in quotes)
        assert r.denials == 0


def test_the_watchdog_does_not_count_indicator_compilation_against_the_plugin(make_kernel, profile, monkeypatch):
    write_plugin(profile, "slowind", """
    class SlowInd(Strategy):
        name = "slowind"
        def on_start(self):
            self.ma = self.indicator("sma", timeperiod=3)
    """)
    k = make_kernel()
    k.strategies.rescan()
    k.strategies.host.watchdog_s = 0.3
    from app.engine.strategy.host import StrategyHost

    real = StrategyHost.make_indicator

    def cold_compile(self, name, params):  # what a cold Numba cache costs on a slow machine
        time.sleep(0.8)
        return real(self, name, params)

    monkeypatch.setattr(StrategyHost, "make_indicator", cold_compile)
    r = k.strategies.load("slowind", params={"symbol": "BTC/USDT"})
    assert k.strategies.start(r.instance), r.reason
    assert r.status is StrategyStatus.RUNNING


def test_round_qty_floors_to_the_venues_lot_grid(make_kernel):
    k = make_kernel()
    r = k.strategies.load("sma_cross", params={"symbol": "600519.SH"})  # A-share: 100-share lots
    k.strategies.start(r.instance)
    s = r.strategy
    assert s.lot_size == 100
    assert s.round_qty(399.99) == 300 and s.round_qty(400.0) == 400 and s.round_qty(50.0) == 0


def test_bundled_plugins_import_only_the_public_api():
    import ast

    from app.engine.strategy.plugins import BUNDLED_DIR

    for path in sorted(BUNDLED_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("app") or name == "app.api", f"{path.name} imports {name}"


def test_a_strategy_added_before_its_venue_lists_the_symbol_gets_its_bars_once_started_after(make_kernel):
    """Added while no venue listed SOL/USDT, a strategy kept the bare symbol and, started after the venue
    connected, never saw a bar (the bus names SOL/USDT@binance). Starting resolves it again."""
    from app.engine.core.instruments import Instrument

    k = make_kernel()
    runner = k.strategies.load("sma_cross", "early", {"symbol": "SOL/USDT"})
    assert runner.symbol == "SOL/USDT"  # nothing lists it yet
    k.venues._add_instruments("binance", [Instrument("SOL/USDT", "binance", "SOL", "USDT", 0.01, 0.01, 0.01, 1e6)],
                              cache=False)  # what a ccxt venue does once its markets load
    assert k.strategies.start("early")
    assert runner.symbol == "SOL/USDT@binance"
    assert k.strategies.host._by_symbol.get("SOL/USDT@binance") == [runner]  # the venue's bars reach it
