"""Kestrel's public plugin API: the one module strategy plugins import.

Versioning (``API_VERSION`` = "MAJOR.MINOR"):

- MINOR goes up when something is *added* (a new callback, a new helper, a new optional argument).
  A plugin written for 1.0 keeps working under 1.3.
- MAJOR goes up when something is *removed or changes meaning*. The loader refuses a plugin whose
  declared major differs from ours and lists it with the reason; it never half-loads it.

A plugin is a ``.py`` file (or package) that defines one or more ``Strategy`` subclasses::

    from app.api import Strategy, Param

    class SmaCross(Strategy):
        name = "sma_cross"                 # unique id, shown in the strategy manager
        api_version = "1.0"                # the API this plugin was written for
        fast = Param(10, lo=1, hi=500, doc="fast SMA period")
        slow = Param(30, lo=2, hi=2000)

        def on_start(self):
            self.fast_ma = self.indicator("sma", timeperiod=self.p.fast)

        def on_bar(self, bar):
            ...
            self.buy(1.0)                  # goes through the risk gate like every order

What a strategy can do is exactly what ``Strategy``'s methods offer: read its parameters, market data,
its own position and the account, create streaming indicators (updated before each ``on_bar``), send and
cancel orders (only through the risk gate: ``buy``/``sell`` publish a ``SubmitOrder`` that the
RiskEngine checks like any other), keep JSON-serialisable ``state`` (saved on stop, restored on start and
on hot reload) and log. It is never handed the kernel, the risk engine or the settings: limits cannot
be changed from a plugin. (Python cannot stop a determined plugin from importing internals; a plugin
that does so is unsupported, and the audit trail shows every order's actor.)

The same strategy object runs live (strategy manager) and in the backtester: the host behind
``Strategy`` is the only thing that changes.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from app.engine import indicators as ta  # the vectorised indicators, for a strategy's `signals` form (lazy)
from app.engine.core.messages import (
    Bar,
    BookSnapshot,
    OrderDenied,
    OrderFilled,
    OrderStatus,
    OrderType,
    OrderUpdated,
    Side,
    TradeTick,
)

if TYPE_CHECKING:
    from app.engine.strategy.host import StrategyHost

API_VERSION = "1.1"  # 1.1 added Strategy.model(), history(), lot_size, round_qty(), Model and ta

__all__ = ["API_VERSION", "Strategy", "Param", "ParamError", "Indicator", "Model", "Bar", "TradeTick", "BookSnapshot",
           "OrderFilled", "OrderUpdated", "OrderDenied", "OrderStatus", "OrderType", "Side",
           "api_compatible", "ta"]


def api_compatible(declared: str) -> bool:
    """True when a plugin written for ``declared`` runs under this API (same major, minor <= ours)."""
    try:
        major, minor = (int(x) for x in str(declared).split(".", 1))
    except ValueError:
        return False
    our_major, our_minor = (int(x) for x in API_VERSION.split("."))
    return major == our_major and minor <= our_minor


class ParamError(ValueError):
    """A parameter value (or declaration) is invalid; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    """A typed strategy parameter. The type is the default's type (int, float, bool or str)."""

    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    def check_declaration(self, name: str) -> None:
        if self.kind not in (int, float, bool, str):
            raise ParamError(f"parameter {name!r}: default {self.default!r} must be an int, float, bool or str")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ParamError(f"parameter {name!r}: lo {self.lo} is above hi {self.hi}")
        self.coerce(name, self.default)

    def coerce(self, name: str, value: Any) -> Any:
        """Convert ``value`` (a Python value or the text a user typed) to the declared type, within bounds."""
        kind = self.kind
        try:
            if kind is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = low in ("true", "1", "yes")
                else:
                    value = bool(value)
            elif kind is int:
                f = float(value)
                if not f.is_integer():
                    raise ValueError
                value = int(f)
            elif kind is float:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise ParamError(f"parameter {name!r}: {value!r} is not a valid {kind.__name__}") from None
        if self.lo is not None and kind in (int, float) and value < self.lo:
            raise ParamError(f"parameter {name!r}: {value} is below its minimum {self.lo}")
        if self.hi is not None and kind in (int, float) and value > self.hi:
            raise ParamError(f"parameter {name!r}: {value} is above its maximum {self.hi}")
        if self.choices is not None and value not in self.choices:
            raise ParamError(f"parameter {name!r}: {value!r} is not one of {list(self.choices)}")
        return value


class Params:
    """Read-only attribute access to a strategy's validated parameters (``self.p.fast``)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("parameters are read-only; change them in the strategy manager")

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


class Indicator:
    """A streaming indicator bound to the strategy's bars: updated with each closed bar before ``on_bar``.

    ``value`` is the latest output (a float, or a tuple for multi-output indicators such as bbands);
    ``prev`` is the one before. NaN during warm-up. The numbers equal the vectorised function's exactly.
    """

    __slots__ = ("name", "stream", "inputs", "value", "prev", "feed", "_single")

    def __init__(self, name: str, stream: Any) -> None:
        self.name = name
        self.stream = stream
        self.inputs: tuple[str, ...] = tuple(stream.inputs)
        self._single = len(stream.outputs) == 1
        nan = math.nan if self._single else tuple(math.nan for _ in stream.outputs)
        self.value: Any = nan
        self.prev: Any = nan
        self.feed: Any = None  # set by the host: bar -> the indicator's new value

    @property
    def ready(self) -> bool:
        v = self.value if self._single else self.value[0]
        return not math.isnan(v)


class Model:
    """A trained model from the registry, bound to one strategy (``self.model(ref)`` in ``on_start``).

    It owns the model's feature pipeline: feed it your closed bars with ``update`` (and books with
    ``on_book`` if the model uses book features); it computes the features with the same indicator kernels
    used in training and scores them with onnxruntime. ``score`` is the probability of an up move over the
    model's horizon (``task == "classify"``) or the predicted return (``"regress"``); NaN while warming up.
    Loading verifies the model file's sha256: a damaged or mismatched model raises, so the strategy does not
    start.
    """

    name: str = ""
    version: int = 0
    task: str = "classify"
    horizon: int = 0
    feature_names: tuple[str, ...] = ()
    score: float = math.nan

    @property
    def ready(self) -> bool:
        return self.score == self.score

    def update(self, bar: Bar) -> float:
        """Feed a closed bar; returns the new score."""
        raise NotImplementedError

    def preview(self, bar: Bar) -> float:
        """Score a still-forming bar as if it closed now; nothing is committed."""
        raise NotImplementedError

    def on_book(self, book: BookSnapshot) -> None:
        """The latest book (for book features); it counts for the next ``update``/``preview``."""
        raise NotImplementedError


def declared_params(cls: type) -> dict[str, Param]:
    """The ``Param`` attributes of a strategy class, base classes first, in declaration order."""
    out: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, Param):
                out[key] = value
    return out


def validate_params(cls: type, given: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``given``, each coerced and bounds-checked; unknown names are errors."""
    decl = declared_params(cls)
    given = dict(given or {})
    unknown = sorted(set(given) - set(decl))
    if unknown:
        raise ParamError(f"unknown parameter(s) {', '.join(unknown)}; {cls.name or cls.__name__} takes "
                         f"{', '.join(decl) or 'none'}")
    return {k: p.coerce(k, given.get(k, p.default)) for k, p in decl.items()}


class Strategy:
    """Base class of every strategy plugin. Override the ``on_*`` callbacks you need.

    Callbacks run on the terminal's event loop. An exception in any of them moves this strategy (only) to
    FAULTED: its orders are canceled and the reason is shown; the terminal and other strategies go on.
    A callback that runs for more than a few seconds is reported by the watchdog and interrupted.
    """

    name: str = ""
    api_version: str = API_VERSION
    description: str = ""
    symbol = Param("BTC/USDT", doc="the instrument this strategy trades")

    # ---------------------------------------------------------------------------------- set by the host
    def _bind(self, host: "StrategyHost", instance: str, params: dict[str, Any]) -> None:
        self._host = host
        self.instance = instance
        self.p = Params(params)
        self.state: dict[str, Any] = {}
        self.log = logging.getLogger(f"kestrel.strategy.{instance}")
        self._indicators: list[Indicator] = []

    # ------------------------------------------------------------------------------------------ callbacks
    def on_start(self) -> None:
        """Called when the strategy starts (state is already restored). Create indicators here."""

    def on_stop(self) -> None:
        """Called when it stops (by a person, the kill switch, a fault elsewhere is not a stop)."""

    def on_bar(self, bar: Bar) -> None:
        """A closed bar of ``self.p.symbol`` (indicators are already updated with it)."""

    def on_tick(self, tick: TradeTick) -> None:
        """A trade print. In a bar backtest, each bar's open is delivered as a tick at the bar's open time."""

    def on_book(self, book: BookSnapshot) -> None:
        """An order-book snapshot of the strategy's symbol (live and tick backtests)."""

    def on_order(self, event: OrderUpdated | OrderDenied) -> None:
        """One of this strategy's orders changed state, or the risk gate denied it."""

    def on_fill(self, fill: OrderFilled) -> None:
        """One of this strategy's orders (partly) filled; ``self.position()`` already includes it."""

    def on_timer(self, now_ms: int) -> None:
        """Called every ``timer_s`` seconds (see ``set_timer``)."""

    # ---------------------------------------------------------------------------------------- market data
    def indicator(self, name: str, **params: Any) -> Indicator:
        """A streaming indicator from the registry, fed with this strategy's closed bars."""
        ind = self._host.make_indicator(name, params)
        self._indicators.append(ind)
        return ind

    def history(self, bars: int = 500) -> list[Bar]:
        """Up to ``bars`` closed bars of ``self.p.symbol`` from before now, oldest first (live: the terminal's
        bar history, so indicators and models can warm up at start; a backtest has none before its data)."""
        return self._host.history(self.p.symbol, bars)

    def model(self, ref: str = "default") -> Model:
        """A registered model (``name``, ``name@version``, registry id, a model folder/file, or
        ``"default"`` for the bundled one), verified against its sha256. Raises with a clear message when it
        is missing, damaged or mismatched: call it in ``on_start`` so such a strategy does not start."""
        return self._host.load_model(self.instance, ref)

    @property
    def now_ms(self) -> int:
        return self._host.now_ms()

    def last_price(self, symbol: str | None = None) -> float:
        return self._host.last_price(symbol or self.p.symbol)

    # ------------------------------------------------------------------------------------------- account
    def position(self, symbol: str | None = None) -> float:
        """This strategy's own signed position (other strategies' and manual trades are not in it)."""
        return self._host.position(self.instance, symbol or self.p.symbol)

    @property
    def cash(self) -> float:
        """Account cash in the quote currency of this strategy's symbol."""
        return self._host.cash(self.p.symbol)

    @property
    def equity(self) -> float:
        return self._host.equity()

    @property
    def tick_size(self) -> float:
        """The price grid of this strategy's symbol (0.0: no grid, e.g. a backtest of raw CSV data)."""
        return self._host.tick_size(self.p.symbol)

    @property
    def lot_size(self) -> float:
        """The quantity grid of this strategy's symbol (0.0: no grid). Added in 1.1."""
        return self._host.lot_size(self.p.symbol)

    def round_qty(self, quantity: float) -> float:
        """``quantity`` rounded down to the symbol's lot grid (unchanged where there is none). Added in 1.1."""
        lot = self.lot_size
        if lot <= 0.0 or quantity <= 0.0:
            return quantity
        return round(math.floor(quantity / lot + 1e-9) * lot, 12)

    @property
    def fee_rate(self) -> float:
        """The taker fee rate of this strategy's symbol (a fraction of notional)."""
        return self._host.fee_rate(self.p.symbol)

    def open_orders(self) -> list[Any]:
        return self._host.open_orders(self.instance)

    # -------------------------------------------------------------------------------------------- orders
    def buy(self, quantity: float, price: float | None = None, symbol: str | None = None) -> str:
        """Send a buy (market when ``price`` is None) through the risk gate; returns the client order id.
        A denial arrives as ``on_order(OrderDenied)``."""
        return self._host.submit(self.instance, symbol or self.p.symbol, Side.BUY, quantity, price)

    def sell(self, quantity: float, price: float | None = None, symbol: str | None = None) -> str:
        return self._host.submit(self.instance, symbol or self.p.symbol, Side.SELL, quantity, price)

    def cancel(self, client_order_id: str) -> None:
        self._host.cancel(self.instance, client_order_id)

    def cancel_all(self) -> None:
        self._host.cancel_all(self.instance)

    def set_timer(self, seconds: float | None) -> None:
        """Call ``on_timer`` every ``seconds`` (None stops it)."""
        self._host.set_timer(self.instance, seconds)

    def subscribe(self, symbols: Iterable[str]) -> None:
        """Also receive ticks and books of other symbols (bars always come for ``self.p.symbol``)."""
        self._host.subscribe(self.instance, list(symbols))
