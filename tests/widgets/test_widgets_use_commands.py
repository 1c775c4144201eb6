"""Widgets change the engine only by commands on the bus: no widget calls the risk engine's kill switch,
reset, flatten or limits, loads or changes a strategy, registers a model, wires a venue, or decides an order's
fate itself; they send commands through the Port."""
from __future__ import annotations

import ast
from pathlib import Path

WIDGETS = Path(__file__).resolve().parents[2] / "app" / "widgets"
STATE_CHANGING = {"halt", "halt_strategy", "reset", "flatten", "update_limits", "execute", "on_submit",
                  "on_cancel", "cancel_all_orders", "record_denied", "register", "unload", "set_params",
                  "rescan", "add_ccxt", "add_venue", "set_setting", "publish"}


def test_no_widget_calls_a_state_changing_engine_method():
    calls = []
    for path in WIDGETS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in STATE_CHANGING:
                calls.append(f"{path.relative_to(WIDGETS)}:{node.lineno} .{node.func.attr}()")
    assert not calls, "widgets must send commands on the bus instead: " + ", ".join(calls)


ENGINE_INTERNALS = ("Kernel", "ExecutionEngine", "RiskEngine", "StrategyManager", "VenueManager", "Store",
                    "MessageBus", "Portfolio", "SimVenue", "CcxtVenue")


def test_no_widget_of_the_shown_window_holds_the_kernel_or_an_engine_part(window_factory, qtbot):
    """Every dock, dialog and chart of the real window gets the Port: none keeps a reference to the Kernel or
    to an engine object it could change state through (the execution engine, risk engine, store, bus...)."""
    from PySide6.QtWidgets import QWidget

    from app.engine.port import Port

    _kernel, window = window_factory()
    window.chart_docks.add({"symbol": "ETH/USDT@sim"})  # an extra chart dock too
    widgets = [window, *window.findChildren(QWidget)]
    held = []
    for w in widgets:
        for name, value in getattr(w, "__dict__", {}).items():
            kind = type(value).__name__
            if kind in ENGINE_INTERNALS:
                held.append(f"{type(w).__name__}.{name} is a {kind}")
    assert not held, "widgets must get the Port, not engine parts: " + ", ".join(held)
    assert isinstance(window.port, Port)
    assert sum(isinstance(getattr(w, "_port", None) or getattr(w, "port", None), Port) for w in widgets) >= 12
