"""Venue configs: one JSON file per venue in ``<profile>/venues/<name>.json`` (the Connect dialog edits it;
the Venues dock disables, enables and removes it).

A config's ``kind`` says which adapter runs it: "ccxt" (the default: files written before akshare could be
saved have no ``kind`` and stay ccxt configs) or "akshare" (China A-shares: quotes polled through akshare,
paper trading under the A-share rules; no keys). ``VenueConfig`` is either.

``ccxt`` is passed to the ccxt constructor as is (``urls``, ``options``, ``timeout``, ``headers``,
``proxies``...), so anything ccxt can be told, a venue config can say. Credentials are refused here: they
live in the keyring (``kestrel keys set``), never in a file a person might share or commit.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CREDENTIAL_FIELDS = ("apiKey", "secret", "password", "uid", "login", "privateKey", "walletAddress", "token",
                     "twofa", "accountId")
log = logging.getLogger("kestrel.venues")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_ASHARE = re.compile(r"^\d{6}\.(SH|SZ|BJ)$")


class VenueConfigError(ValueError):
    pass


class CcxtVenueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., description="Kestrel's name for the venue (orders, positions and keys use it)")
    exchange: str = Field(..., description="the ccxt exchange id, e.g. binance, okx, kraken")
    kind: Literal["ccxt"] = "ccxt"
    symbols: list[str] = Field(default_factory=list, description="unified ccxt symbols, e.g. BTC/USDT")
    ccxt: dict[str, Any] = Field(default_factory=dict, description="ccxt constructor options, no credentials")
    sandbox: bool = Field(False, description="ccxt set_sandbox_mode(True): the exchange's testnet")
    enabled: bool = Field(True, description="false: disabled in the Venues dock; never connected, at start "
                          "or otherwise, until enabled again (its config and keys are kept)")
    autoconnect: bool = Field(True, description="the window connects this venue when it starts")
    stream: Literal["auto", "ws", "poll"] = Field("auto", description="auto: ccxt.pro where supported")
    feed_process: bool = Field(True, description="run the websocket streams in a child process that hands the "
                               "terminal the latest book per symbol and every trade, in batches (the window "
                               "stays smooth at any message rate); false: on the terminal's own loop")
    poll_interval_s: float = Field(1.0, gt=0, description="market data by REST polling: this often")
    order_poll_s: float = Field(1.0, gt=0, description="open orders and fills are re-read this often")
    book_depth: int = Field(10, ge=1, le=1000)
    reconnect_base_s: float = Field(0.25, gt=0, description="first reconnect within U(0, this); doubles")
    reconnect_cap_s: float = Field(30.0, gt=0)
    history_retry_base_s: float = Field(0.5, gt=0, description="a candle download's retry after an interruption "
                                        "waits about this long, doubling up to 10 s, 5 times in a row at most")
    stale_after_s: float = Field(15.0, gt=0, description="a stream silent this long is restarted")
    unknown_grace_s: float = Field(15.0, gt=0, description="an UNKNOWN create with no order found by its "
                                   "client order id after this long was not placed")
    time_sync_s: float = Field(300.0, gt=0, description="re-measure the clock offset this often")
    client_order_id_param: str = Field("clientOrderId", description="ccxt param carrying our client order id")
    lookup_by_client_id: Literal["param", "scan"] = Field(
        "param", description="param: fetch_order(None, symbol, {client_order_id_param: id}); scan: search "
                             "open and recent orders")
    max_failures: int = Field(3, ge=1, description="failed polls in a row before the venue counts as lost")
    paper: bool = Field(False, description="paper trading on the exchange's live market: no keys, nothing is "
                        "sent to the exchange; its live book and trades fill paper orders (docs/VENUES.md)")
    paper_balances: dict[str, float] = Field(default_factory=lambda: {"USDT": 10_000.0},
                                             description="a paper venue's starting balances per currency")
    paper_latency_ms: int = Field(50, ge=0, le=60_000, description="a paper order or cancel reaches the "
                                  "paper exchange this long after it is sent")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("lower-case letters, digits, '_', '.', '-' (at most 40)")
        return v

    @field_validator("ccxt")
    @classmethod
    def _no_credentials(cls, v: dict[str, Any]) -> dict[str, Any]:
        found = [k for k in v if k in CREDENTIAL_FIELDS]
        if found:
            raise ValueError(f"credentials ({', '.join(found)}) do not belong in a venue config: store them "
                             f"with `kestrel keys set <venue>` or the Connect dialog")
        return v

    @field_validator("paper_balances")
    @classmethod
    def _balances(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [f"{k}: {x}" for k, x in v.items() if not (x >= 0 and x != float("inf"))]
        if bad:
            raise ValueError(f"paper balances must be finite amounts of at least 0 ({', '.join(bad)})")
        return {k.strip().upper(): float(x) for k, x in v.items() if k.strip()}

    @property
    def mode(self) -> str:
        """"paper" (a paper venue on the live market) or "live"."""
        return "paper" if self.paper else "live"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


class AkshareVenueConfig(BaseModel):
    """China A-shares through akshare: quotes polled every ``quote_interval_s``, minute and daily bars, and
    paper trading under the A-share rules (``core/ashare_rules.py``). No keys: there is no real broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("akshare", description="Kestrel's name for the venue (orders and positions use it)")
    kind: Literal["akshare"] = "akshare"
    symbols: list[str] = Field(default_factory=list, description="A-share codes, e.g. 600519.SH, 000001.SZ")
    quote_interval_s: float = Field(3.0, ge=0.5, le=3600,
                                    description="each symbol's quote is read this often")
    fee_rate: float = Field(0.00025, ge=0, le=0.01, description="the paper broker's commission rate")
    enabled: bool = Field(True, description="false: disabled in the Venues dock; never connected until "
                          "enabled")
    autoconnect: bool = Field(True, description="the window connects this venue when it starts")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return CcxtVenueConfig._name(v)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        v = [s.strip().upper() for s in v if s.strip()]
        bad = [s for s in v if not _ASHARE.match(s)]
        if bad:
            raise ValueError(f"not an A-share code: {', '.join(bad)} (six digits and the exchange, e.g. "
                             f"600519.SH, 000001.SZ, 430047.BJ)")
        return list(dict.fromkeys(v))

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


VenueConfig = CcxtVenueConfig | AkshareVenueConfig


def venues_dir(profile: Path) -> Path:
    return Path(profile) / "venues"


def config_path(profile: Path, name: str) -> Path:
    return venues_dir(profile) / f"{name}.json"


def parse_config(raw: dict[str, Any], source: str = "venue config") -> VenueConfig:
    """A ccxt config (no ``kind``, or "ccxt") or an akshare one (``kind`` "akshare")."""
    raw = dict(raw)
    kind = raw.get("kind", "ccxt")
    if kind not in ("ccxt", "akshare"):
        raise VenueConfigError(f"{source} is invalid: kind: {kind!r} is not a venue kind (ccxt, akshare)")
    model: type[BaseModel] = AkshareVenueConfig if kind == "akshare" else CcxtVenueConfig
    if kind == "ccxt":
        raw.setdefault("name", raw.get("exchange", ""))
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise VenueConfigError(f"{source} is invalid: {problems}") from None


def load_config(path: Path) -> VenueConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise VenueConfigError(f"Cannot read the venue config {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise VenueConfigError(f"The venue config {path} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise VenueConfigError(f"The venue config {path} must be a JSON object")
    return parse_config(raw, str(path))


def resolve_config(profile: Path, venue: str, file: Path | None = None) -> VenueConfig:
    """``--venue ID [--venue-config FILE]``: the file if given, else the profile's config of that name, else
    a default config for the ccxt exchange id ``venue`` (public data works without one)."""
    if file is not None:
        cfg = load_config(file)
        same = cfg.name == venue or venue == getattr(cfg, "exchange", None)
        return cfg if same else cfg.model_copy(update={"name": venue})
    path = config_path(profile, venue)
    if path.exists():
        return load_config(path)
    return parse_config({"name": venue, "exchange": venue}, f"venue {venue!r}")


def save_config(profile: Path, cfg: VenueConfig) -> Path:
    path = config_path(profile, cfg.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(cfg.to_json())
    tmp.replace(path)
    return path


def set_enabled(profile: Path, name: str, enabled: bool) -> VenueConfig:
    """Disable or enable the saved venue ``name`` (VenueConfigError if it has no readable config)."""
    cfg = load_config(config_path(profile, name)).model_copy(update={"enabled": enabled})
    save_config(profile, cfg)
    return cfg


def delete_config(profile: Path, name: str) -> list[Path]:
    """Delete the venue's config and its instrument cache; returns the files deleted. Its keys are the
    credential store's (``CredentialStore.delete``); its orders and fills stay in the journal."""
    gone = []
    for path in (config_path(profile, name), venues_dir(profile) / f"{name}.instruments.json"):
        try:
            path.unlink()
            gone.append(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise VenueConfigError(f"Cannot delete {path}: {exc.strerror}") from None
    return gone


def list_configs(profile: Path) -> list[VenueConfig]:
    out = []
    for path in sorted(venues_dir(profile).glob("*.json")):
        if path.name.endswith(".instruments.json"):
            continue
        try:
            out.append(load_config(path))
        except VenueConfigError as exc:
            log.warning("venue config skipped: %s", exc)
    return out


def exchange_known(exchange_id: str) -> bool:
    """Does the installed ccxt have this exchange? (Checked without importing ccxt, which takes ~1 s.)"""
    import importlib.util

    if not re.match(r"^[a-z0-9_]+$", exchange_id or ""):
        return False
    spec = importlib.util.find_spec("ccxt")  # a top-level lookup imports nothing
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(list(spec.submodule_search_locations)[0])
    return (root / "async_support" / f"{exchange_id}.py").exists()
