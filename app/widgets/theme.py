"""Every colour the widgets paint with, in one place (dark theme). The stock Qt widgets are styled by
``resources/theme/dark.qss``; what our own code paints (chart, ladder, depth, tables' numbers, plots, status
lines) takes its colours from here, so a colour changes in one line.
"""
from __future__ import annotations

from PySide6.QtGui import QColor

# ----------------------------------------------------------------------------------------------- surfaces
BG = QColor("#0d1117")  # painted views: chart, ladder, depth chart
PLOT_BG = "#14171c"  # pyqtgraph plots (the backtest report)
GRID = QColor("#1c2128")
SEPARATOR = QColor("#2d333b")  # between chart panes, axis lines
TAG_BG = QColor("#30363d")  # the crosshair's value tags
BEST_BG = QColor("#21262d")  # the ladder's best bid/ask rows
MINE_BG = QColor("#1f3a5f")  # rows holding our working orders
BID_BG, ASK_BG = QColor("#0f2a1b"), QColor("#2e1214")
BID_BAR, ASK_BAR = QColor("#1f5134"), QColor("#5a2226")  # size bars
BID_FILL, ASK_FILL = QColor("#173a24"), QColor("#442022")  # depth areas: opaque, pre-blended on BG (cheaper)

# ------------------------------------------------------------------------------------------------- text
TEXT = QColor("#c9d1d9")
TEXT_BRIGHT = QColor("#e6edf3")
TEXT_MUTED = QColor("#8b949e")  # axes, the chart's readout, the depth chart's labels
TEXT_DIM = QColor("#6e7681")  # column headers, the crosshair
LAST_TEXT = QColor("#f2cc60")  # the last trade's price
BID_TEXT, ASK_TEXT = QColor("#7ee2a8"), QColor("#ff9b9b")

# ---------------------------------------------------------------------------------------------- meaning
UP, DOWN, MUTED = QColor("#4ade80"), QColor("#f87171"), QColor("#9aa3ad")  # good/bad: states, messages
ALERT = QColor("#fbbf24")  # a trader's price alert on the chart
# A price's direction, in the trader's convention (settings ``ui.up_color_convention``): green up / red down,
# or red up / green down as China's A-share screens draw it. ``set_up_convention`` recolours these objects
# in place, so every view that imported them draws the new convention at its next paint.
PRICE_UP, PRICE_DOWN = QColor("#4ade80"), QColor("#f87171")  # change %, PnL
CANDLE_UP, CANDLE_DOWN = QColor("#26a69a"), QColor("#ef5350")  # candles, volume, the last price's line
_GREEN, _RED = ("#4ade80", "#26a69a"), ("#f87171", "#ef5350")  # (numbers, candles)
UP_CONVENTIONS = {"green_up": "Green up, red down", "red_up": "Red up, green down (China A-shares)"}
BUY, SELL = QColor("#3fb950"), QColor("#f85149")  # order lines, fill markers, depth lines, the bar readout
POSITION = QColor("#58a6ff")  # the position's average-price line
EQUITY, ENTRY, EXIT = "#4fc3f7", "#66bb6a", "#ef5350"  # the backtest report
KILL_TEXT, KILL_BG = QColor("#fecaca"), QColor("#7f1d1d")  # a kill switch button
INDICATOR_PALETTE = ["#f2cc60", "#58a6ff", "#d2a8ff", "#ff9e64", "#7ee787", "#ff7b72", "#a5d6ff", "#e3b341"]


def css_color(color: QColor | None) -> str:
    """A style-sheet ``color:`` for a message label (empty: the theme's own)."""
    return f"color: {color.name()}" if color is not None else ""


def set_up_convention(convention: str) -> None:
    """Colour rising prices green ("green_up") or red ("red_up"); the falling ones the other colour."""
    if convention not in UP_CONVENTIONS:
        raise ValueError(f"unknown colour convention {convention!r}: one of {', '.join(UP_CONVENTIONS)}")
    up, down = (_RED, _GREEN) if convention == "red_up" else (_GREEN, _RED)
    PRICE_UP.setRgb(QColor(up[0]).rgb())
    PRICE_DOWN.setRgb(QColor(down[0]).rgb())
    CANDLE_UP.setRgb(QColor(up[1]).rgb())
    CANDLE_DOWN.setRgb(QColor(down[1]).rgb())


def up_convention() -> str:
    """The convention the colours follow now."""
    return "red_up" if CANDLE_UP.name() == _RED[1] else "green_up"
