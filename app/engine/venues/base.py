"""The venue adapter contract.

Only the ExecutionEngine calls ``submit``/``cancel`` on an adapter: every order reaches a venue through
``SubmitOrder -> RiskEngine -> ExecutionEngine -> adapter``. An adapter reports back through two callbacks
given at construction time:

- ``on_report(event)``: order events for *our* orders: ``OrderAccepted``, ``OrderRejected``, ``OrderFilled``,
  ``OrderCanceled``, ``CancelRejected``. The ExecutionEngine de-duplicates fills by ``trade_id``, drives the
  order state machine and publishes on the bus.
- ``on_data(msg)``: market data (``TradeTick``, ``BookSnapshot``, ``Bar``) and ``VenueStatus``, published
  on the bus as is.

Adapters never raise into the caller for venue-side problems: they report ``OrderRejected`` /
``CancelRejected`` instead. ``submit`` is fire-and-forget; acknowledgement arrives later as a report.

What an adapter takes beyond good-till-canceled MARKET and LIMIT orders is its ``order_features`` (a frozenset
of "IOC", "FOK", "post_only", "STOP", "STOP_LIMIT" (native stops); none if it has no such attribute):
the risk gate refuses the rest before they are journaled (``ORDER_SHAPE``), so no adapter is handed an order it
would have to misread.

One lifecycle for every adapter (``SimVenue``, ``ReplayVenue``, ``CcxtVenue``, ``AkshareVenue``, the backtest's
``BarVenue``): ``start()`` (synchronous; schedules its work on the running loop if it has any) and
``await close()``. ``VenueManager`` is the one place that registers adapters with the ExecutionEngine and
starts and closes them, for the window, headless runs and the Venues dock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from app.engine.core.instruments import Instrument
from app.engine.core.messages import OrderType, Side, TimeInForce

Report = Callable[[Any], None]
_NO_ID = frozenset({"", "none", "null", "nil", "undefined", "nan"})


def venue_id(value: object) -> str | None:
    """A venue order id as text, or None when the venue gave none: ``None``, ``""``, or the text a careless
    ``str()`` makes of a missing value (``"None"``, ``"null"``...). No order is journaled with such an id:
    every later request for it would ask the venue for ``orderId=None``."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _NO_ID else text


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """What the ExecutionEngine sends to a venue: already risk-checked and journaled."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: float
    price: float | None
    tif: TimeInForce = TimeInForce.GTC  # IOC / FOK: only where the venue's ``order_features`` has them
    post_only: bool = False
    trigger_price: float | None = None  # STOP / STOP_LIMIT ("STOP" in ``order_features``); a trailer's activation
    trail_amount: float | None = None  # TRAILING_STOP(_LIMIT): the distance in price ...
    trail_pct: float | None = None  # ... or in percent (2.0 is 2 %) of the best price since it was placed
    limit_offset: float | None = None  # TRAILING_STOP_LIMIT: its limit this far beyond the trigger
    oco: str | None = None  # one-cancels-other group, for a venue that links orders itself (the backtest's)


@dataclass(frozen=True, slots=True)
class OpenOrderInfo:
    """A venue's view of one open order, for reconciliation on (re)connect."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: float
    filled: float
    price: float | None


class VenueAdapter(Protocol):
    name: str

    @property
    def connected(self) -> bool: ...

    def instruments(self) -> list[Instrument]: ...

    def submit(self, order: VenueOrder) -> None: ...

    def cancel(self, client_order_id: str) -> None: ...

    def open_orders(self) -> list[OpenOrderInfo]: ...

    def start(self) -> None: ...

    async def close(self) -> None: ...
