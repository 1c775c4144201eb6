"""The up/down colour convention as a View menu choice: green up / red down, or red up / green down as
China's A-share screens show prices. The choice is the profile's ``ui.up_color_convention``
(settings.json), applied at once: the theme's price colours change in place (``theme.set_up_convention``)
and every chart, the watchlist and the positions redraw in them."""
from __future__ import annotations

import logging
from typing import Any

from PySide6.QtGui import QAction

from app.config import ConfigError, save_ui_settings
from app.widgets import theme
from app.widgets.chart.widget import ChartWidget
from app.widgets.common import add_choices

log = logging.getLogger("kestrel.ui")


class UpColors:
    """The View menu's "Up/down colours" entries for ``window`` (its port's profile holds the choice)."""

    def __init__(self, window: Any, convention: str) -> None:
        self.window = window
        theme.set_up_convention(convention)
        self.menu: Any = None
        self.actions: dict[str, QAction] = {}

    def add_to(self, menu: Any) -> None:
        sub = menu.addMenu("Up/down colours")
        self.actions = add_choices(sub, theme.UP_CONVENTIONS, self.choose)
        self.actions[theme.up_convention()].setChecked(True)
        self.menu = sub

    def choose(self, convention: str) -> None:
        """Save the choice in the profile, then redraw in it (nothing changes if it cannot be saved: the
        status bar says why)."""
        if convention == theme.up_convention():
            return
        try:
            save_ui_settings(self.window.port.profile, up_color_convention=convention)
        except ConfigError as exc:
            log.warning("colour convention not saved: %s", exc)
            self.actions[theme.up_convention()].setChecked(True)
            self.window.statusBar().showMessage(f"Up/down colours: {exc}", 15_000)
            return
        theme.set_up_convention(convention)
        self.actions[convention].setChecked(True)
        for view in (*self.window.findChildren(ChartWidget), self.window.watchlist, self.window.positions):
            view.restyle()
