"""Alert rules a trader sets (issue 21): what each kind watches, checked once when it is set, stored as JSON.

KINDS         price_above / price_below   the last trade crosses ``level`` (from the other side: one set with the
                                          price already across waits for it to come back and cross again)
              pct_move                    the last trade moves ``level`` % (either way) within ``window_s`` seconds
              indicator                   ``expr`` (e.g. ``rsi(14) > 70``, ``close crosses sma(200)``) on the closed
                                          ``timeframe`` bars of ``symbol``: fires when it turns true
              daily_pnl_below             the day's PnL (base currency) falls below ``level`` (negative: a loss)
              drawdown_above              the drawdown from the day's peak equity exceeds ``level`` %
              exposure_above              gross exposure (base currency) exceeds ``level``
              order_filled / order_rejected   one of our orders fills / is refused (``symbol``: only that one)
              strategy_faulted            a strategy faults (``target``: only that instance)
              venue_down                  a venue disconnects, or one of its feeds is down or stale (``target``:
                                          only that venue)
              model_drift                 a model's feature PSI exceeds ``level`` (``target``: only that model)
              sentiment_above / _below    the mean sentiment (-1..1) of the news about ``symbol`` that arrived within
                                          ``window_s`` crosses ``level`` (checked as items arrive)
              news_keyword                a new item (about ``symbol``, or any) holds one of the words in ``expr``
                                          (comma-separated, any case)
ONCE/REPEAT   a rule fires once (then its state is "fired") unless ``repeat``; a repeating rule waits
              ``cooldown_s`` between firings. ``expires_ts`` (ms, 0: never) ends it ("expired").
CHANNELS      names of notification channels (their URLs live in the OS keyring, never here); the window (banner,
              sound, tray) always gets every alert.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

PRICE_KINDS = ("price_above", "price_below")
TICK_KINDS = PRICE_KINDS + ("pct_move",)
ACCOUNT_KINDS = ("daily_pnl_below", "drawdown_above", "exposure_above")
EVENT_KINDS = ("order_filled", "order_rejected", "strategy_faulted", "venue_down", "model_drift")
SENTIMENT_KINDS = ("sentiment_above", "sentiment_below")
NEWS_KINDS = SENTIMENT_KINDS + ("news_keyword",)
KINDS = TICK_KINDS + ("indicator",) + ACCOUNT_KINDS + EVENT_KINDS + NEWS_KINDS
STATES = ("armed", "fired", "expired", "disabled")
MIN_COOLDOWN_S = 1.0  # a repeating rule never fires more often than this, whatever it says


@dataclass(frozen=True)
class AlertRule:
    kind: str
    symbol: str = ""  # an instrument id ("BTC/USDT@sim") or "" for account and event kinds
    level: float | None = None
    expr: str = ""
    timeframe: str = ""  # "1m", "5m", "1h", "1d" (indicator rules)
    window_s: float = 0.0  # pct_move
    target: str = ""  # strategy instance, venue or model (event kinds); "" for any
    repeat: bool = False
    cooldown_s: float = 60.0
    expires_ts: int = 0
    note: str = ""
    channels: tuple[str, ...] = ()
    state: str = "armed"
    id: str = ""  # given by the store
    created_ts: int = 0
    updated_ts: int = 0
    last_fired_ts: int = 0
    actor: str = "manual"
    extra: dict = field(default_factory=dict, compare=False)

    # ----------------------------------------------------------------------------------------- checking
    def check(self) -> "AlertRule":
        """This rule, or ValueError saying what is wrong with it (as a trader would fix it)."""
        k = self.kind
        if k not in KINDS:
            raise ValueError(f"unknown alert kind {k!r}: one of {', '.join(KINDS)}")
        if self.state not in STATES:
            raise ValueError(f"unknown alert state {self.state!r}: one of {', '.join(STATES)}")
        if (k in TICK_KINDS or k == "indicator") and not self.symbol:
            raise ValueError(f"a {k} alert needs a symbol")
        if k in PRICE_KINDS + ("pct_move",) + ACCOUNT_KINDS + ("model_drift",):
            if self.level is None or not _finite(self.level):
                raise ValueError(f"a {k} alert needs a finite level, got {self.level!r}")
        if k in PRICE_KINDS and self.level <= 0:
            raise ValueError(f"a price level must be positive, got {self.level:g}")
        if k == "pct_move":
            if self.level <= 0 or self.level >= 100:
                raise ValueError(f"a move must be a percent above 0 and below 100, got {self.level:g}")
            if not _finite(self.window_s) or self.window_s <= 0:
                raise ValueError(f"a move needs a window in seconds above 0, got {self.window_s!r}")
        if k in ("drawdown_above",) and not 0 < self.level < 100:
            raise ValueError(f"a drawdown level is a percent above 0 and below 100, got {self.level:g}")
        if k in ("exposure_above", "model_drift") and self.level <= 0:
            raise ValueError(f"a {k} level must be positive, got {self.level:g}")
        if k in SENTIMENT_KINDS:
            if not self.symbol:
                raise ValueError(f"a {k} alert needs a symbol")
            if self.level is None or not _finite(self.level) or not -1 <= self.level <= 1:
                raise ValueError(f"a sentiment level is a score from -1 to 1, got {self.level!r}")
            if not _finite(self.window_s) or self.window_s <= 0:
                raise ValueError(f"a sentiment alert needs a window in seconds above 0, got {self.window_s!r}")
        if k == "news_keyword" and not keywords(self.expr):
            raise ValueError("a news keyword alert needs a word to look for, e.g. 'hack, exploit'")
        if k == "indicator":
            if not self.expr.strip():
                raise ValueError("an indicator alert needs a condition, e.g. 'rsi(14) > 70'")
            if not self.timeframe:
                raise ValueError("an indicator alert needs a timeframe, e.g. 5m")
            timeframe_ms(self.timeframe)
        if not _finite(self.cooldown_s) or self.cooldown_s < 0:
            raise ValueError(f"a cool-down is seconds, 0 or more, got {self.cooldown_s!r}")
        if self.expires_ts < 0:
            raise ValueError("an expiry is a time (ms since 1970), or 0 for none")
        for c in self.channels:
            if not c or not isinstance(c, str):
                raise ValueError(f"a channel is a name, got {c!r}")
        return self

    @property
    def cooldown(self) -> float:
        """The seconds between two firings of a repeating rule (never under ``MIN_COOLDOWN_S``)."""
        return max(self.cooldown_s, MIN_COOLDOWN_S)

    # ------------------------------------------------------------------------------------------ showing
    def describe(self) -> str:
        """One line a trader reads: what it watches."""
        k, s = self.kind, self.symbol
        if k == "price_above":
            what = f"{s} crosses above {self.level:,.10g}"
        elif k == "price_below":
            what = f"{s} crosses below {self.level:,.10g}"
        elif k == "pct_move":
            what = f"{s} moves {self.level:g} % within {duration_text(self.window_s)}"
        elif k == "indicator":
            what = f"{s} {self.timeframe}: {self.expr}"
        elif k == "daily_pnl_below":
            what = f"the day's PnL falls below {self.level:,.2f}"
        elif k == "drawdown_above":
            what = f"the drawdown exceeds {self.level:g} %"
        elif k == "exposure_above":
            what = f"gross exposure exceeds {self.level:,.2f}"
        elif k in SENTIMENT_KINDS:
            what = (f"{s} news sentiment over {duration_text(self.window_s)} crosses "
                    f"{'above' if k == 'sentiment_above' else 'below'} {self.level:+.2f}")
        elif k == "news_keyword":
            what = f"news{' about ' + s if s else ''} mentions {' or '.join(repr(w) for w in keywords(self.expr))}"
        else:
            noun = {"order_filled": "an order fills", "order_rejected": "an order is rejected",
                    "strategy_faulted": "a strategy faults", "venue_down": "a venue or its feed goes down",
                    "model_drift": f"a model's drift (PSI) exceeds {self.level or 0:g}"}[k]
            scope = s or self.target
            what = noun + (f" ({scope})" if scope else "")
        return what

    # ------------------------------------------------------------------------------------------- storing
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AlertRule":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown alert rule field(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(d["channels"] or ())
        if d.get("level") is not None:
            d["level"] = float(d["level"])
        return cls(**d)

    def with_(self, **changes: Any) -> "AlertRule":
        return replace(self, **changes)


TIMEFRAMES_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                 "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000}


def timeframe_ms(tf: str) -> int:
    """The bar length of ``tf`` ("5m"), or ValueError naming the ones Kestrel builds."""
    try:
        return TIMEFRAMES_MS[tf.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown timeframe {tf!r}: one of {', '.join(TIMEFRAMES_MS)}") from None


def keywords(expr: str) -> list[str]:
    """The words a news_keyword rule looks for (comma-separated, case-folded, blanks dropped)."""
    return [w.strip().casefold() for w in (expr or "").split(",") if w.strip()]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def duration_text(s: float) -> str:
    """A window in seconds as a trader reads it: "10 min", "1 h", "90 s"."""
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s / 60:g} min"
    return f"{s:g} s"
