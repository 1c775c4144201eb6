"""A removed strategy instance takes its saved state with it. The state used to stay in the profile under
``strategy_state.<name>``, and the next instance given that name (the dock names them ``<plugin>-1``,
``-2``...) started with it: a loaded-afresh sma_cross could buy at once on a signal its predecessor had
pending; the self-test, which loads and removes an instance on a trader's profile, left it behind."""
from __future__ import annotations

import textwrap

from app.engine.strategy.runner import StrategyStatus
from tests.kit.kernel import advance

BUYS_ONCE = '''
from app.api import Param, Strategy


class BuysOnce(Strategy):
    name = "buys_once"
    qty = Param(0.001, lo=0.0, hi=1.0)

    def on_start(self):
        self.state.setdefault("orders", [])

    def on_tick(self, tick):
        if not self.state["orders"]:
            self.state["orders"].append(self.buy(self.p.qty))
'''


def test_a_removed_instance_leaves_no_state_and_its_namesake_starts_afresh(make_kernel, profile):
    (profile / "plugins").mkdir()
    (profile / "plugins" / "buys_once.py").write_text(textwrap.dedent(BUYS_ONCE))
    k = make_kernel()
    k.strategies.rescan()
    first = k.strategies.load("buys_once", params={"symbol": "BTC/USDT"})
    name = first.instance
    k.strategies.start(name)
    advance(k, 1000)
    (bought,) = first.strategy.state["orders"]
    k.strategies.stop(name)
    assert k.store.get_setting(f"strategy_state.{name}") == {"orders": [bought]}  # kept while it exists

    k.strategies.unload(name)  # the dock's Remove
    assert k.store.get_setting(f"strategy_state.{name}") is None

    again = k.strategies.load("buys_once", params={"symbol": "BTC/USDT"})
    assert again.instance == name  # the same name again
    k.strategies.start(name)
    advance(k, 1000)
    assert again.status is StrategyStatus.RUNNING
    (its_own,) = again.strategy.state["orders"]
    assert its_own != bought  # a new instance, with its own first order
