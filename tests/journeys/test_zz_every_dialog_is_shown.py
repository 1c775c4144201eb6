"""Every dialog in ``app/widgets`` is shown by some journey: a dialog no test ever put on screen is where the
Backtest dialog's crash hid (it painted only when a person opened it).

Two kinds: the ``QDialog`` subclasses ``app/widgets`` defines, and the stock dialogs it opens (message boxes,
input and file dialogs), which are found in the source by their constructor or static call and named by
the title they show. Runs last in this folder (its name) and checks what the journeys before it recorded
(tests/journeys/conftest.py); run on a part of the journeys it skips, saying which did not run."""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from tests.kit.journeys import RAN, SHOWN

WIDGETS = Path(__file__).resolve().parents[2] / "app" / "widgets"

#: every stock dialog opened in app/widgets: (file, the title it shows, or the start of it). A new dialog
#: site must be added here and shown by a journey; ``test_the_stock_dialog_table_is_complete`` enforces it.
STOCK = [
    ("panels/bar_source.py", "Bar data"),  # the bar file of the Backtest dialog and the Models dock
    ("panels/data_dialog.py", "Export bars as CSV"),
    ("panels/data_dialog.py", "Delete stored bars"),
    ("panels/data_dialog.py", "Bar file to import"),
    ("panels/data_dialog.py", "Close the Data dialog"),
    ("chart/widget.py", "Save chart as PNG"),
    ("panels/risk.py", "Flatten every position"),
    ("panels/strategies.py", "Kill strategy"),
    ("panels/strategies.py", "Remove strategy"),
    ("panels/venues.py", "Disable "),
    ("panels/venue_dialogs.py", "Credentials passphrase"),
    ("trading/watchlist.py", "New watchlist"),  # the same site asks for a list's new name: "Rename watchlist"
    ("trading/watchlist.py", "Delete watchlist"),
    ("trading/positions.py", "Close position"),  # the same site asks "Reverse position"
    ("trading/ticket.py", "Stop would trigger at once"),  # "Send anyway?" (test_journey_emulated_stops)
    ("panels/alerts.py", "Delete alert"),  # (test_journey_alerts)
]
_SITE = re.compile(r"\b(QMessageBox|QInputDialog|QFileDialog)(\.(question|warning|critical|information|get\w+))?\(")


def dialog_classes() -> list[type]:
    from PySide6.QtWidgets import QDialog

    import app.widgets as pkg

    found = []
    for mod in pkgutil.walk_packages(pkg.__path__, "app.widgets."):
        module = importlib.import_module(mod.name)
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, QDialog) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def stock_sites() -> list[tuple[str, int]]:
    sites = []
    for path in sorted(WIDGETS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _SITE.fullmatch(_dotted(node.func) + "("):
                sites.append((path.relative_to(WIDGETS).as_posix(), node.lineno))
    return sites


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def test_the_stock_dialog_table_is_complete():
    """Each QMessageBox/QInputDialog/QFileDialog opened in app/widgets has a row in ``STOCK``."""
    per_file: dict[str, int] = {}
    for name, _line in stock_sites():
        per_file[name] = per_file.get(name, 0) + 1
    listed: dict[str, int] = {}
    for name, _title in STOCK:
        listed[name] = listed.get(name, 0) + 1
    assert per_file == listed, f"dialog sites in app/widgets {per_file} != STOCK {listed}: add the new dialog " \
                               f"to STOCK and show it in a journey"


def test_every_dialog_was_shown_by_a_journey():
    journeys = {p.stem for p in Path(__file__).parent.glob("test_journey_*.py")}
    missing_runs = journeys - RAN
    if missing_runs:
        pytest.skip(f"only part of the journeys ran (not: {', '.join(sorted(missing_runs))}); run "
                    f"tests/journeys whole to check dialog coverage")
    shown_classes = {cls for cls, _title in SHOWN}
    not_shown = [c.__name__ for c in dialog_classes() if c.__name__ not in shown_classes]
    titles = [title for _cls, title in SHOWN]
    stock_not_shown = [f"{f}: {t!r}" for f, t in STOCK if not any(s.startswith(t) for s in titles)]
    assert not not_shown and not stock_not_shown, (
        f"never shown by a journey: dialogs {not_shown}, stock dialogs {stock_not_shown}; shown: "
        f"{sorted(SHOWN)}")
