"""What a backtest runs with (cash, fees, slippage, latency, the limits it applies, market rules), shared by the
backtester, its bar venue, sweeps and the look-ahead check."""
from __future__ import annotations

from dataclasses import dataclass

from app.config import RiskSettings


@dataclass
class BacktestConfig:
    cash: float = 10_000.0
    fee: float = 0.001
    maker_fee: float | None = None  # None: same as ``fee``
    slippage_bps: float = 0.0
    latency_ms: int = 0
    live_limits: RiskSettings | None = None  # the profile's limits, or None for backtest limits
    model_db: str | None = None  # a profile database: Strategy.model() may name registered models
    rules: str = ""  # "ashare": the data is a China A-share, traded under its rules (module docstring)
    trail_on: str = "close"  # a trailing stop follows each bar's "close", or its high/low ("extremes")


def backtest_limits() -> RiskSettings:
    """The profile defaults with the size limits lifted (see the module docstring)."""
    return RiskSettings(max_notional_manual=1e300, max_notional_strategy=1e300, max_order_qty={},
                        max_position={}, max_gross_exposure_x_equity=1.0, daily_loss_halt_pct=1e300,
                        daily_loss_strategy_pct=1e300, max_drawdown_pct=1e300)
