"""Which A-share prices a daily chart shows: as traded, forward adjusted (前复权) or backward adjusted (后复权) —
the Prices button on the tool bar, shown for A-shares of a real venue (akshare), and said on the chart (a part
of ``ChartWidget``).

Adjusted prices come from akshare each time (``port.history``; never stored: they change with each dividend and
split) and apply to daily bars; intraday bars are as traded, and the chart says so. Forward-adjusted prices end
at today's traded price, so today's bar (from the live bars) joins them; backward-adjusted prices do not, so a
backward-adjusted chart shows the adjusted days only. The choice is saved with the chart's state.
"""
from __future__ import annotations

from PySide6.QtWidgets import QMenu, QToolButton

from app.widgets.common import add_choices

DAY_MS = 86_400_000
ADJUSTS = ("none", "forward", "backward")
NAMES = {"none": "As traded", "forward": "Forward-adjusted (前复权)", "backward": "Backward-adjusted (后复权)"}
SHORT = {"none": "", "forward": "forward-adjusted", "backward": "backward-adjusted"}


class ChartPrices:
    """The Prices choice of an A-share chart."""

    def _prices_button(self) -> QToolButton:
        self.adjust = "none"
        self.prices_menu = QMenu(self)
        self.prices_actions = add_choices(self.prices_menu, {a: NAMES[a] for a in ADJUSTS}, self.set_adjust)
        self.prices_button = QToolButton()
        self.prices_button.setText("Prices")
        self.prices_button.setToolTip("A-share daily prices: as traded, forward or backward adjusted")
        self.prices_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.prices_button.setMenu(self.prices_menu)
        self.prices_button.hide()
        self.prices_actions["none"].setChecked(True)
        return self.prices_button

    def adjust_for(self, timeframe_ms: int) -> str:
        """The adjustment the bars of ``timeframe_ms`` are shown with (daily and longer only)."""
        return self.adjust if timeframe_ms >= DAY_MS and self.prices_button.isVisibleTo(self) else "none"

    def set_adjust(self, adjust: str) -> None:
        """Show daily bars ``adjust``ed ("none", "forward", "backward"), asked of akshare for this chart."""
        if adjust not in ADJUSTS:
            raise ValueError(f"prices must be one of {', '.join(ADJUSTS)}, got {adjust!r}")
        self.prices_actions[adjust].setChecked(True)
        if adjust == self.adjust:
            return
        self.adjust = adjust
        if self.port is not None and self.tf >= DAY_MS and self.adjust_for(self.tf) != "none":
            self.port.history.open(self.symbol, self.tf, adjust)
        self._history_seen = None
        if self.base is not None:
            self._rebuild_display(keep_view=False)
        self.stateChanged.emit()

    def _sync_prices_button(self, inst) -> None:
        """Shown for A-shares with a history source (not the sim's demo market)."""
        self.prices_button.setVisible(inst is not None and inst.rules == "ashare" and inst.venue != "sim")

    def prices_text(self) -> str:
        """What the chart says about its prices ("" for a chart that has no choice)."""
        if not self.prices_button.isVisibleTo(self) or self.adjust == "none":
            return ""
        if self.tf < DAY_MS:
            return f"as traded ({SHORT[self.adjust]}: 1d)"
        return SHORT[self.adjust] + (", history only" if self.adjust == "backward" else "")
