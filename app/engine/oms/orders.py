"""Orders and their state machine.

An ``Order`` is the OMS's mutable record of one client order. Every status change goes through
``Order.transition``, which refuses moves the table below does not allow, so a late or duplicated venue
report can never resurrect a filled order or un-cancel a canceled one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.engine.core.instruments import make_id, split_id
from app.engine.core.messages import OrderStatus, OrderType, Side, TimeInForce, TriggerSource

_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.INITIALIZED: frozenset({OrderStatus.DENIED, OrderStatus.SUBMITTED, OrderStatus.ARMED,
                                        OrderStatus.WAITING, OrderStatus.PENDING_REPLACE}),
    # issue 20: an emulated trigger fires (SUBMITTED), is canceled, or its fire is refused (DENIED); a bracket
    # child waits for its entry; the new half of a cancel-then-replace waits for the cancel
    OrderStatus.ARMED: frozenset({OrderStatus.SUBMITTED, OrderStatus.CANCELED, OrderStatus.DENIED}),
    OrderStatus.WAITING: frozenset({OrderStatus.ARMED, OrderStatus.SUBMITTED, OrderStatus.CANCELED,
                                    OrderStatus.DENIED}),
    OrderStatus.PENDING_REPLACE: frozenset({OrderStatus.SUBMITTED, OrderStatus.CANCELED, OrderStatus.DENIED}),
    OrderStatus.SUBMITTED: frozenset({OrderStatus.ACCEPTED, OrderStatus.REJECTED,
                                      OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED,
                                      OrderStatus.PENDING_CANCEL, OrderStatus.UNKNOWN}),
    OrderStatus.ACCEPTED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                     OrderStatus.PENDING_CANCEL, OrderStatus.CANCELED, OrderStatus.UNKNOWN}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                             OrderStatus.PENDING_CANCEL, OrderStatus.CANCELED,
                                             OrderStatus.UNKNOWN}),
    OrderStatus.PENDING_CANCEL: frozenset({OrderStatus.CANCELED, OrderStatus.PARTIALLY_FILLED,
                                           OrderStatus.FILLED, OrderStatus.ACCEPTED, OrderStatus.UNKNOWN,
                                           OrderStatus.PENDING_CANCEL}),
    OrderStatus.UNKNOWN: frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                    OrderStatus.CANCELED, OrderStatus.REJECTED}),
    OrderStatus.DENIED: frozenset(),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
}


class InvalidTransition(RuntimeError):
    pass


@dataclass(slots=True)
class Order:
    client_order_id: str
    symbol: str
    venue: str
    side: Side
    order_type: OrderType
    quantity: float
    price: float | None
    actor: str
    status: OrderStatus = OrderStatus.INITIALIZED
    filled_qty: float = 0.0
    avg_price: float = 0.0
    venue_order_id: str | None = None
    reason: str = ""
    created_ts: int = 0
    updated_ts: int = 0
    fees: float = 0.0
    status_before_cancel: OrderStatus | None = field(default=None, repr=False)
    booked: tuple | None = field(default=None, repr=False, compare=False)  # see working.WorkingExposure
    # issue 20 (docs/design/issue20-orders.md 2.2); the defaults are a plain GTC order, as every schema-2 row
    trigger_price: float | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    trigger_source: TriggerSource = TriggerSource.LAST
    trail_amount: float | None = None
    trail_pct: float | None = None
    limit_offset: float | None = None
    trail_ref: float | None = None  # a trailing stop's best price since arming (its water mark)
    emulated: bool = False  # its trigger lives in the engine, not at the venue
    list_id: str | None = None  # the OCO / bracket it belongs to
    role: str | None = None  # in its list: ENTRY, TP, SL, LEG
    parent_id: str | None = None  # a bracket child's entry
    expire_ts: int | None = None  # DAY orders: when the trading day ends
    triggered_ts: int | None = None  # when its trigger fired
    trigger_print: float | None = None  # the print that fired it
    replaces: str | None = None  # cancel-then-replace: the order this one replaces ...
    replaced_by: str | None = None  # ... and the order that replaced this one

    @property
    def leaves_qty(self) -> float:
        return max(self.quantity - self.filled_qty, 0.0)

    @property
    def is_working(self) -> bool:
        return self.status.is_working

    @property
    def described(self) -> str:
        """The order in words, for alarms: "stop limit sell 0.05 BTC/USDT@sim"."""
        return f"{self.order_type.value.lower().replace('_', ' ')} {self.side.value.lower()} {self.quantity:g} " \
               f"{self.symbol}"

    @property
    def fired(self) -> bool:
        """An emulated trigger that fired: at the venue it is the plain order it became (``venue_type``)."""
        return self.emulated and self.triggered_ts is not None

    @property
    def venue_type(self) -> OrderType:
        """The type the venue holds: a fired emulated stop is a market order, a fired stop-limit a limit."""
        if self.emulated and self.triggered_ts is not None:
            return _FIRED_AS[self.order_type]
        return self.order_type

    def transition(self, new: OrderStatus) -> None:
        if new not in _ALLOWED[self.status]:
            raise InvalidTransition(f"order {self.client_order_id}: {self.status.value} -> {new.value} is not allowed")
        if new is OrderStatus.PENDING_CANCEL and self.status is not OrderStatus.PENDING_CANCEL:
            self.status_before_cancel = self.status
        self.status = new

    def apply_fill(self, price: float, qty: float, fee: float) -> None:
        total = self.filled_qty + qty
        self.avg_price = (self.avg_price * self.filled_qty + price * qty) / total
        self.filled_qty = total
        self.fees += fee
        if self.filled_qty >= self.quantity - 1e-12:
            self.transition(OrderStatus.FILLED)
        elif self.status is not OrderStatus.PENDING_CANCEL:
            self.transition(OrderStatus.PARTIALLY_FILLED)

    def journal_row(self) -> tuple:
        """The row of the orders table, in ``store.ORDER_COLUMNS`` order. (``_value_`` is the enum's value
        without ``Enum.value``'s Python-level property call: this runs for every order.) The journal keeps the
        venue's symbol beside the venue; ``from_row`` composes the id again."""
        return (self.client_order_id, split_id(self.symbol)[0], self.venue, self.side._value_,
                self.order_type._value_, self.quantity, self.price, self.actor, self.status._value_, self.filled_qty,
                self.avg_price, self.venue_order_id, self.reason, self.created_ts, self.updated_ts,
                self.trigger_price, self.tif._value_, int(self.post_only), int(self.reduce_only),
                self.trigger_source._value_, self.trail_amount, self.trail_pct, self.limit_offset, self.trail_ref,
                int(self.emulated), self.list_id, self.role, self.parent_id, self.expire_ts, self.triggered_ts,
                self.trigger_print, self.replaces, self.replaced_by)

    def to_row(self) -> dict:
        return {"client_order_id": self.client_order_id, "symbol": self.symbol, "venue": self.venue,
                "side": self.side.value, "order_type": self.order_type.value, "quantity": self.quantity,
                "price": self.price, "actor": self.actor, "status": self.status.value,
                "filled_qty": self.filled_qty, "avg_price": self.avg_price, "venue_order_id": self.venue_order_id,
                "reason": self.reason, "created_ts": self.created_ts, "updated_ts": self.updated_ts,
                **{k: getattr(self, k) for k in _V3_PLAIN}, "tif": self.tif.value, "post_only": self.post_only,
                "reduce_only": self.reduce_only, "trigger_source": self.trigger_source.value,
                "emulated": self.emulated}

    @classmethod
    def from_row(cls, row: dict) -> "Order":
        symbol = row["symbol"] if "@" in row["symbol"] else make_id(row["symbol"], row["venue"])
        return cls(client_order_id=row["client_order_id"], symbol=symbol, venue=row["venue"],
                   side=Side(row["side"]), order_type=OrderType(row["order_type"]), quantity=row["quantity"],
                   price=row["price"], actor=row["actor"], status=OrderStatus(row["status"]),
                   filled_qty=row["filled_qty"] or 0.0, avg_price=row["avg_price"] or 0.0,
                   venue_order_id=row["venue_order_id"], reason=row["reason"] or "",
                   created_ts=row["created_ts"] or 0, updated_ts=row["updated_ts"] or 0,
                   **{k: row.get(k) for k in _V3_PLAIN}, tif=TimeInForce(row.get("tif") or "GTC"),
                   post_only=bool(row.get("post_only")), reduce_only=bool(row.get("reduce_only")),
                   trigger_source=TriggerSource(row.get("trigger_source") or "LAST"),
                   emulated=bool(row.get("emulated")))


_FIRED_AS = {OrderType.STOP: OrderType.MARKET, OrderType.TRAILING_STOP: OrderType.MARKET,
             OrderType.STOP_LIMIT: OrderType.LIMIT, OrderType.TRAILING_STOP_LIMIT: OrderType.LIMIT,
             OrderType.MARKET: OrderType.MARKET, OrderType.LIMIT: OrderType.LIMIT}

# schema-3 columns read and written as they are (no enum, no flag)
_V3_PLAIN = ("trigger_price", "trail_amount", "trail_pct", "limit_offset", "trail_ref", "list_id", "role",
             "parent_id", "expire_ts", "triggered_ts", "trigger_print", "replaces", "replaced_by")
