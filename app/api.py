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
from app.engine.ml.model import Model
from app.engine.strategy.base import Indicator, Strategy
from app.engine.strategy.params import (
    API_VERSION,
    Param,
    ParamError,
    api_compatible,
    declared_params,
    parse_params,
    validate_params,
)

__all__ = ["API_VERSION", "Strategy", "Param", "ParamError", "Indicator", "Model", "Bar", "TradeTick", "BookSnapshot",
           "OrderFilled", "OrderUpdated", "OrderDenied", "OrderStatus", "OrderType", "Side",
           "api_compatible", "declared_params", "parse_params", "validate_params", "ta"]
