"""Widgets change the engine only by commands on the bus: no widget calls the risk engine's kill switch,
reset, flatten or limits, or decides an order's fate itself (the port the engine offers them)."""
from __future__ import annotations

import ast
from pathlib import Path

WIDGETS = Path(__file__).resolve().parents[2] / "app" / "widgets"
STATE_CHANGING = {"halt", "halt_strategy", "reset", "flatten", "update_limits", "execute", "on_submit",
                  "on_cancel", "cancel_all_orders", "record_denied"}


def test_no_widget_calls_a_state_changing_engine_method():
    calls = []
    for path in WIDGETS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in STATE_CHANGING:
                calls.append(f"{path.relative_to(WIDGETS)}:{node.lineno} .{node.func.attr}()")
    assert not calls, "widgets must send commands on the bus instead: " + ", ".join(calls)
