"""Which zone the chart's times are in: the Time button on the tool bar, the same menu on a right click on the
time scale, and what the choice changes (a part of ``ChartWidget``).

The choice ("exchange", "local", "UTC"; ``zones.py``) starts from the profile's ``ui.chart_time_zone`` and is
saved with the chart's state when a trader picks another one for this chart (``ChartWidget.state``).
"""
from __future__ import annotations

from PySide6.QtWidgets import QMenu, QToolButton

from app.widgets.chart.axes import Tag, format_time
from app.widgets.chart.zones import CHOICES, TimeZone, offset_text, zone_for
from app.widgets.common import add_choices
from app.widgets.theme import TAG_BG, TEXT_BRIGHT

NAMES = {"exchange": "Exchange time", "local": "Local time", "UTC": "UTC"}


class ChartTimeZone:
    """The zone of the time scale, the crosshair's time tag and the readout."""

    def _zone_button(self, default: str) -> QToolButton:
        """The tool bar's Time button and its menu (also shown by a right click on the time scale)."""
        self.zone_default = default if default in CHOICES else "exchange"
        self.time_zone_choice = self.zone_default
        self.zone_menu = QMenu(self)
        self.zone_actions = add_choices(self.zone_menu, {c: NAMES[c] for c in CHOICES}, self.set_time_zone)
        self.zone_menu.aboutToShow.connect(self._name_zones)
        self.zone_button = QToolButton()
        self.zone_button.setToolTip("The zone of the time scale (also: right-click the time scale)")
        self.zone_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.zone_button.setMenu(self.zone_menu)
        self._sync_zone_controls()
        return self.zone_button

    @property
    def time_zone(self) -> TimeZone:
        """The zone shown: the choice, on this instrument (its exchange's zone follows its rules)."""
        return zone_for(self.time_zone_choice, self.sessions)

    def set_time_zone(self, choice: str) -> None:
        """Show times in ``choice``: "exchange" (the instrument's exchange), "local" (this computer) or
        "UTC". Ticks move to that zone's boundaries, the grid with them; the scale names the zone."""
        if choice not in CHOICES:
            raise ValueError(f"time zone must be one of {', '.join(CHOICES)}, got {choice!r}")
        if choice == self.time_zone_choice:
            self._sync_zone_controls()
            return
        self.time_zone_choice = choice
        self._sync_zone_controls()
        for pane in self.view.panes:
            pane.grid.invalidate()  # its vertical lines are the ticks (in the pane's base image)
        self.view.dirty(self.view.rect())
        if self._hover is not None and self.series is not None and self._hover < self.series.n:
            i = self._hover
            text = format_time(int(self.series.bars.ts[i]), self.tf, self.time_zone)
            self._set_tags(None, [Tag(float(i), text, TAG_BG, TEXT_BRIGHT)])
        self._update_readout()
        self.stateChanged.emit()

    def _sync_zone_controls(self) -> None:
        self.zone_button.setText(NAMES[self.time_zone_choice])
        action = self.zone_actions[self.time_zone_choice]
        if not action.isChecked():
            action.setChecked(True)

    def _name_zones(self) -> None:
        """Each entry says its offset now: "Exchange time (UTC+8)", "Local time (UTC+1)"."""
        newest = int(self.series.bars.ts[-1]) if self.series is not None and self.series.n else 0
        for choice, action in self.zone_actions.items():
            if choice != "UTC":
                zone = zone_for(choice, self.sessions)
                action.setText(f"{NAMES[choice]} ({offset_text(zone.offset_s(newest))})")

    def _time_menu_at(self, where) -> None:
        self.zone_menu.popup(where)
