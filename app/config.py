"""Settings: one typed, validated place, with defaults that run offline on the simulated exchange.

Settings live in ``<profile>/settings.json``. A missing file means defaults (written out so a trader can
see and edit them); an invalid one raises ``ConfigError`` naming each bad field, and is never overwritten.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError


class ConfigError(RuntimeError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _rule(kind: type, gt: float | None, ge: float | None, le: float | None, lt: float | None) -> str:
    if ge is not None and le is not None:
        parts = [f"from {ge:g} to {le:g}"]
    else:
        parts = [text for text in (gt is not None and f"greater than {gt:g}", ge is not None and f"at least {ge:g}",
                                   le is not None and f"at most {le:g}", lt is not None and f"below {lt:g}") if text]
    bounds = " and ".join(parts)
    noun = "a whole number" if kind is int else "a finite number"
    return f"{noun}{' of' if bounds.startswith('at least') else ''}{' ' if bounds else ''}{bounds}"


def bounded(kind: type = float, *, gt: float | None = None, ge: float | None = None, le: float | None = None,
            lt: float | None = None) -> Any:
    """A number type that refuses non-finite values (inf, nan: ``1e400`` in JSON is inf) and values outside
    its range, with one message naming the allowed range ("must be a finite number greater than 0, got
    inf"); the error's location names the setting. Every path that builds settings (settings.json, ``kestrel
    risk set``, the risk panel) goes through it."""
    rule = _rule(kind, gt, ge, le, lt)

    def check(value: Any, handler: Any) -> Any:
        try:
            number = handler(value)
        except ValidationError:
            number = None
        fine = (number is not None and not isinstance(value, bool) and math.isfinite(number)
                and (gt is None or number > gt) and (ge is None or number >= ge)
                and (le is None or number <= le) and (lt is None or number < lt))
        if not fine:
            got = repr(value) if isinstance(value, str) else str(value)
            raise PydanticCustomError("out_of_range", "must be {rule}, got {got}", {"rule": rule, "got": got})
        return number

    return Annotated[kind, WrapValidator(check)]


def check_number(name: str, value: Any, kind: type = float, **bounds: float) -> Any:
    """``value`` as ``bounded(kind, **bounds)`` would accept it, else ``ValueError`` ("--cash must be a finite
    number greater than 0, got nan"): the same rule and words for command-line numbers as for settings."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(bounded(kind, **bounds)).validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"{name} {exc.errors()[0]['msg']}") from None


def problems(exc: ValidationError) -> str:
    """A validation error as one line a person can act on: ``risk.max_drawdown_pct: must be ..., got inf``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


Positive = bounded(gt=0)
NonNegative = bounded(ge=0)
Count = bounded(int, ge=1)


class SimSettings(_Model):
    seed: int = 7
    latency_ms: bounded(int, ge=0, le=5_000) = 5
    step_ms: bounded(int, ge=5, le=1_000) = Field(50, description="how often the sim market advances in live mode")
    starting_cash: dict[str, NonNegative] = {"USDT": 100_000.0, "CNY": 1_000_000.0}


class StrategyPermissions(_Model):
    """What one strategy may trade. ``["*"]`` allows everything."""

    symbols: list[str] = ["*"]
    venues: list[str] = ["*"]
    order_types: list[str] = ["*"]


class StrategyLimits(_Model):
    """Per-strategy overrides of the per-strategy limits; a field left out uses the global value."""

    max_notional: Positive | None = None
    max_msgs_per_s: Count | None = None
    max_working_orders: Count | None = None
    max_fills_per_min: Count | None = None
    daily_loss_pct: Positive | None = None
    max_rejects_per_min: Count | None = None
    max_throttle_trips_per_10s: Count | None = None


STRATEGY_DEFAULTS = {  # StrategyLimits field -> the global RiskSettings field it overrides
    "max_notional": "max_notional_strategy", "max_msgs_per_s": "max_msgs_per_s_strategy",
    "max_working_orders": "max_working_orders_strategy", "max_fills_per_min": "max_fills_per_min_strategy",
    "daily_loss_pct": "daily_loss_strategy_pct", "max_rejects_per_min": "max_rejects_per_min_strategy",
    "max_throttle_trips_per_10s": "max_throttle_trips_per_10s",
}


class RiskSettings(_Model):
    """Pre-trade limits and automatic kill triggers. Changed only by a person (risk panel or CLI).

    Every number is finite and inside its range (``bounded``): a limit of inf or nan would silently switch
    a check off (every comparison with nan is false), and a zero or negative one would refuse everything."""

    max_notional_manual: Positive = Field(50_000.0, description="per order, in the base currency")
    max_notional_strategy: Positive = Field(25_000.0, description="per order, in the base currency")
    price_collar_pct: bounded(gt=0, le=100) = 5.0
    quote_max_age_s: Positive = 5.0
    max_order_qty: dict[str, Positive] = {"BTC/USDT": 5.0, "ETH/USDT": 100.0, "600519.SH": 50_000.0}
    max_position: dict[str, Positive] = {"BTC/USDT": 10.0, "ETH/USDT": 200.0, "600519.SH": 100_000.0}
    max_gross_exposure_x_equity: Positive = 1.0
    max_msgs_per_s_strategy: Count = 10
    max_msgs_per_s_total: Count = 50
    max_fills_per_min_strategy: Count = 50
    duplicate_window_s: NonNegative = 1.0
    max_working_orders_strategy: Count = 20
    max_working_orders_total: Count = 100
    max_armed_triggers_strategy: Count = Field(100, description="stops a strategy may keep armed in Kestrel")
    max_armed_triggers_total: Count = Field(1000, description="stops Kestrel keeps armed (emulated) in all")
    daily_loss_halt_pct: Positive = Field(2.0, description="global halt at this % of start-of-day equity")
    daily_loss_strategy_pct: Positive = Field(0.5, description="strategy halt at this % of start-of-day equity")
    max_drawdown_pct: Positive = Field(5.0, description="global halt at this % below peak equity")
    max_rejects_per_min_strategy: Count = 20
    max_throttle_trips_per_10s: Count = 3
    stale_data_s: Positive = Field(5.0, description="market data older than this puts the venue in REDUCING")
    cancel_alarm_s: Positive = Field(5.0, description="alarm if a kill leaves an order live this long")
    permissions: dict[str, StrategyPermissions] = {}
    strategy_limits: dict[str, StrategyLimits] = {}

    def for_strategy(self, name: str, field: str) -> float:
        """The limit ``field`` (a StrategyLimits name) in force for strategy ``name``."""
        override = self.strategy_limits.get(name)
        value = getattr(override, field) if override is not None else None
        return value if value is not None else getattr(self, STRATEGY_DEFAULTS[field])


class OrderSettings(_Model):
    fallback_to_emulation: bool = Field(
        False, description="when a venue refuses a native stop (for another reason than funds or a rate limit), "
                           "Kestrel keeps it instead (emulated: it fires only while this terminal runs), and says so")


class UiSettings(_Model):
    frame_hz: bounded(int, ge=1, le=60) = Field(30, description="widgets repaint at most this often")
    chart_timeframe_s: bounded(int, ge=1, le=86_400) = 60
    chart_time_zone: Literal["exchange", "local", "UTC"] = Field(
        "exchange", description="the charts' time scale: the instrument's exchange time (Shanghai for "
                                "A-shares, UTC for crypto), the computer's local time, or UTC; a chart's "
                                "Time button changes it for that chart")
    theme: str = "dark"
    up_color_convention: Literal["green_up", "red_up"] = Field(
        "green_up", description="rising prices green and falling red (green_up), or red up and green down as "
                                "China's A-share screens show them (red_up): candles, volume, change %, PnL")


SETTINGS_VERSION = 1  # settings.json's format; a newer file is refused, never rewritten


class Settings(_Model):
    version: int = SETTINGS_VERSION
    base_currency: str = "USDT"
    fx_to_base: dict[str, Positive] = {"USDT": 1.0, "CNY": 0.14}
    sim: SimSettings = SimSettings()
    risk: RiskSettings = RiskSettings()
    orders: OrderSettings = OrderSettings()
    ui: UiSettings = UiSettings()


def default_profile_dir() -> Path:
    env = os.environ.get("KESTREL_PROFILE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("kestrel", appauthor=False)) / "default"


def save_ui_settings(profile: Path, **changes: Any) -> Settings:
    """Change ``ui`` settings in the profile's settings.json (validated first; the rest of the file is kept
    as it is). Raises ``ConfigError`` saying what to fix when the value is invalid or the file cannot be
    written."""
    path = Path(profile) / "settings.json"
    settings = load_settings(profile)
    raw = json.loads(path.read_text())
    raw["ui"] = {**raw.get("ui", {}), **changes}
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"Not saved: {problems(exc)}") from None
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(raw, indent=2))
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"Cannot save the settings to {path}: {exc.strerror or exc}. The profile folder must "
                          f"be writable.") from None
    return settings


def load_settings(profile: Path) -> Settings:
    """The profile's settings; defaults (written out) when it has none. Raises ``ConfigError`` saying what to
    fix when the profile or its settings.json cannot be used."""
    path = profile / "settings.json"
    if profile.exists() and not profile.is_dir():
        raise ConfigError(f"The profile {profile} is a file, not a folder. Use another --profile.")
    if not path.exists():
        settings = Settings()
        try:
            profile.mkdir(parents=True, exist_ok=True)
            path.write_text(settings.model_dump_json(indent=2))
        except OSError as exc:
            raise ConfigError(f"Cannot write the default settings to {path}: {exc.strerror or exc}. The profile "
                              f"folder must be writable; check its permissions, or use another --profile.") from None
        return settings
    if not path.is_file():
        raise ConfigError(f"{path} is not a file. Move it away to use the defaults.")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: invalid JSON, or bytes that are not UTF-8
        raise ConfigError(f"{path} is not valid JSON ({exc}). Fix it, or move it away to use the defaults.") from None
    version = raw.get("version") if isinstance(raw, dict) else None
    if type(version) is int and version > SETTINGS_VERSION:
        raise ConfigError(f"{path} was written by a newer Kestrel (settings version {version}, this one reads up "
                          f"to {SETTINGS_VERSION}). Kestrel left it untouched. Upgrade Kestrel, or use another "
                          f"--profile.")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path} has invalid settings: {problems(exc)}. Fix them, or move the file away to use "
                          f"the defaults.") from None
