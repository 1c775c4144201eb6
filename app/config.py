"""Settings: one typed, validated place, with defaults that run offline on the simulated exchange.

Settings live in ``<profile>/settings.json``. A missing file means defaults (written out so a trader can
see and edit them); an invalid one raises ``ConfigError`` naming each bad field, and is never overwritten.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(RuntimeError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimSettings(_Model):
    seed: int = 7
    latency_ms: int = Field(5, ge=0, le=5_000)
    step_ms: int = Field(50, ge=5, le=1_000, description="how often the sim market advances in live mode")
    starting_cash: dict[str, float] = {"USDT": 100_000.0, "CNY": 1_000_000.0}


class StrategyPermissions(_Model):
    """What one strategy may trade. ``["*"]`` allows everything."""

    symbols: list[str] = ["*"]
    venues: list[str] = ["*"]
    order_types: list[str] = ["*"]


class StrategyLimits(_Model):
    """Per-strategy overrides of the per-strategy limits; a field left out uses the global value."""

    max_notional: float | None = Field(None, gt=0)
    max_msgs_per_s: int | None = Field(None, ge=1)
    max_working_orders: int | None = Field(None, ge=1)
    max_fills_per_min: int | None = Field(None, ge=1)
    daily_loss_pct: float | None = Field(None, gt=0)
    max_rejects_per_min: int | None = Field(None, ge=1)
    max_throttle_trips_per_10s: int | None = Field(None, ge=1)


STRATEGY_DEFAULTS = {  # StrategyLimits field -> the global RiskSettings field it overrides
    "max_notional": "max_notional_strategy", "max_msgs_per_s": "max_msgs_per_s_strategy",
    "max_working_orders": "max_working_orders_strategy", "max_fills_per_min": "max_fills_per_min_strategy",
    "daily_loss_pct": "daily_loss_strategy_pct", "max_rejects_per_min": "max_rejects_per_min_strategy",
    "max_throttle_trips_per_10s": "max_throttle_trips_per_10s",
}


class RiskSettings(_Model):
    """Pre-trade limits and automatic kill triggers. Changed only by a person (risk panel or CLI)."""

    max_notional_manual: float = Field(50_000.0, gt=0, description="per order, in the base currency")
    max_notional_strategy: float = Field(25_000.0, gt=0, description="per order, in the base currency")
    price_collar_pct: float = Field(5.0, gt=0, le=100)
    quote_max_age_s: float = Field(5.0, gt=0)
    max_order_qty: dict[str, float] = {"BTC/USDT": 5.0, "ETH/USDT": 100.0, "600519.SH": 50_000.0}
    max_position: dict[str, float] = {"BTC/USDT": 10.0, "ETH/USDT": 200.0, "600519.SH": 100_000.0}
    max_gross_exposure_x_equity: float = Field(1.0, gt=0)
    max_msgs_per_s_strategy: int = Field(10, ge=1)
    max_msgs_per_s_total: int = Field(50, ge=1)
    max_fills_per_min_strategy: int = Field(50, ge=1)
    duplicate_window_s: float = Field(1.0, ge=0)
    max_working_orders_strategy: int = Field(20, ge=1)
    max_working_orders_total: int = Field(100, ge=1)
    daily_loss_halt_pct: float = Field(2.0, gt=0, description="global halt at this % of start-of-day equity")
    daily_loss_strategy_pct: float = Field(0.5, gt=0, description="strategy halt at this % of start-of-day equity")
    max_drawdown_pct: float = Field(5.0, gt=0, description="global halt at this % below peak equity")
    max_rejects_per_min_strategy: int = Field(20, ge=1)
    max_throttle_trips_per_10s: int = Field(3, ge=1)
    stale_data_s: float = Field(5.0, gt=0, description="market data older than this puts the venue in REDUCING")
    cancel_alarm_s: float = Field(5.0, gt=0, description="alarm if a kill leaves an order live this long")
    permissions: dict[str, StrategyPermissions] = {}
    strategy_limits: dict[str, StrategyLimits] = {}

    def for_strategy(self, name: str, field: str) -> float:
        """The limit ``field`` (a StrategyLimits name) in force for strategy ``name``."""
        override = self.strategy_limits.get(name)
        value = getattr(override, field) if override is not None else None
        return value if value is not None else getattr(self, STRATEGY_DEFAULTS[field])


class UiSettings(_Model):
    frame_hz: int = Field(30, ge=1, le=60, description="widgets repaint at most this often")
    chart_timeframe_s: int = Field(60, ge=1)
    theme: str = "dark"


class Settings(_Model):
    base_currency: str = "USDT"
    fx_to_base: dict[str, float] = {"USDT": 1.0, "CNY": 0.14}
    sim: SimSettings = SimSettings()
    risk: RiskSettings = RiskSettings()
    ui: UiSettings = UiSettings()


def default_profile_dir() -> Path:
    env = os.environ.get("KESTREL_PROFILE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("kestrel", appauthor=False)) / "default"


def load_settings(profile: Path) -> Settings:
    path = profile / "settings.json"
    if not path.exists():
        settings = Settings()
        profile.mkdir(parents=True, exist_ok=True)
        path.write_text(settings.model_dump_json(indent=2))
        return settings
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}). Fix it, or move it away to use the defaults.") from exc
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path} has invalid settings: {problems}. Fix them, or move the file away to use "
                          f"the defaults.") from exc
