"""Immutable messages that travel on the bus.

Naming follows the domain: identifiers are nouns, commands are imperative (``SubmitOrder``), events are past
tense (``OrderFilled``). Every message is a frozen, slotted dataclass, so a handler can never mutate what
another handler sees. Times are integer milliseconds since the Unix epoch (UTC) on the venue's/sim clock.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Side(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"  # a market order when the trigger price trades (issue 20)
    STOP_LIMIT = "STOP_LIMIT"  # a limit order at ``price`` when ``trigger_price`` trades
    TRAILING_STOP = "TRAILING_STOP"  # a stop that follows the best price since arming by a distance
    TRAILING_STOP_LIMIT = "TRAILING_STOP_LIMIT"  # the same, a limit at the trigger +- limit_offset

    @property
    def is_triggered(self) -> bool:
        """Waits for a trigger price before it becomes a market or limit order."""
        return self in _TRIGGERED

    @property
    def is_trailing(self) -> bool:
        return self in (OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT)


_TRIGGERED = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP,
                        OrderType.TRAILING_STOP_LIMIT})


class TimeInForce(str, enum.Enum):
    """How long an order works: GTC until canceled; IOC fills what it can at once and cancels the rest; FOK fills
    whole at once or not at all; DAY until the end of the trading day (``expire_ts``)."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"


class TriggerSource(str, enum.Enum):
    """What a trigger watches: LAST (trade prints), BID_ASK (a sell stop the bid, a buy stop the ask), MARK
    (contracts' mark price; native only)."""

    LAST = "LAST"
    BID_ASK = "BID_ASK"
    MARK = "MARK"


class Emulation(str, enum.Enum):
    """Where a trigger lives, as the sender asks: AUTO (native where the venue has it), NATIVE, EMULATED (in the
    engine). The order records what it got (``Order.emulated``)."""

    AUTO = "AUTO"
    NATIVE = "NATIVE"
    EMULATED = "EMULATED"


class TradingState(str, enum.Enum):
    """ACTIVE trades normally; REDUCING accepts only exposure-shrinking orders; HALTED refuses all new orders."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class OrderStatus(str, enum.Enum):
    INITIALIZED = "INITIALIZED"  # created, not yet through risk
    DENIED = "DENIED"  # refused by our risk engine: never left the process
    SUBMITTED = "SUBMITTED"  # journaled and sent to the venue, no answer yet
    ACCEPTED = "ACCEPTED"  # venue acknowledged, working
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"  # refused by the venue
    UNKNOWN = "UNKNOWN"  # outcome unknown (timeout, crash): must be reconciled, never re-sent
    ARMED = "ARMED"  # an emulated trigger, journaled and waiting in the engine's trigger book (issue 20)
    WAITING = "WAITING"  # a bracket child whose entry has not filled yet: nothing armed, nothing sent
    PENDING_REPLACE = "PENDING_REPLACE"  # the new half of a cancel-then-replace: journaled, not sent yet

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_working(self) -> bool:
        """At a venue, or possibly (sent, answer unknown)."""
        return self in _WORKING

    @property
    def is_open(self) -> bool:
        """Not ended: working at a venue, or armed, waiting or pending in the engine."""
        return self in _WORKING or self in _PENDING


_TERMINAL = frozenset({OrderStatus.DENIED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})
_WORKING = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL,
     OrderStatus.UNKNOWN}
)
_PENDING = frozenset({OrderStatus.ARMED, OrderStatus.WAITING, OrderStatus.PENDING_REPLACE})


# --------------------------------------------------------------------------------------------- market data
@dataclass(frozen=True, slots=True)
class TradeTick:
    symbol: str
    price: float
    size: float
    aggressor: Side
    trade_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Top levels of an L2 book: ``bids`` best (highest) first, ``asks`` best (lowest) first."""

    symbol: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    ts: int

    @property
    def best_bid(self) -> float | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> float | None:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2.0
        return None


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    timeframe_ms: int
    ts: int  # bar open time
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool = True  # False while the bar is still forming


# ------------------------------------------------------------------------------------------------ commands
@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """The only way to ask for an order. It goes to the RiskEngine, never straight to a venue."""

    client_order_id: str
    symbol: str
    venue: str
    side: Side
    order_type: OrderType
    quantity: float
    price: float | None = None  # required for LIMIT and STOP_LIMIT
    actor: str = "manual"  # "manual", "strategy:<name>", "kill-switch", ...
    reduce_only: bool = False
    ts: int = 0
    # issue 20 (docs/design/issue20-orders.md); the defaults are today's plain orders
    trigger_price: float | None = None  # STOP, STOP_LIMIT; a trailing stop's activation price
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False  # a LIMIT that must rest: refused rather than take liquidity
    trigger_source: TriggerSource = TriggerSource.LAST
    trail_amount: float | None = None  # a trailing stop's distance in price ...
    trail_pct: float | None = None  # ... or in percent of the best price since arming
    limit_offset: float | None = None  # TRAILING_STOP_LIMIT: the limit this far beyond the trigger
    emulation: Emulation = Emulation.AUTO
    allow_marketable: bool = False  # a stop that would trigger at once is sent anyway (a person confirmed)
    expire_ts: int | None = None  # DAY: the end of the trading day (filled in by the gate)
    replaces: str | None = None  # a move (ModifyOrder): sent only once this working order's cancel is confirmed
    list_id: str | None = None  # the bracket or OCO it belongs to (SubmitBracket, ProtectPosition) ...
    role: str | None = None  # ... as its ENTRY, TP (take-profit) or SL (stop-loss)


@dataclass(frozen=True, slots=True)
class SubmitBracket:
    """An entry with its protection: a take-profit and/or a stop-loss (absolute prices) that Kestrel arms as the
    entry fills, sized to what it filled, one cancelling the other (orders/groups.py). The gate checks it whole:
    refused, nothing of it is placed."""

    list_id: str
    entry: SubmitOrder
    take_profit: float | None = None
    stop_loss: float | None = None
    actor: str = "manual"
    ts: int = 0
    trail: float | None = None  # instead of ``stop_loss``: a trailing stop-loss this far (in price) behind


@dataclass(frozen=True, slots=True)
class ProtectPosition:
    """Attach (or replace) a position's protection: a stop-loss and/or a take-profit for the whole position, one
    cancelling the other. Both None: remove it."""

    symbol: str
    stop_loss: float | None = None
    take_profit: float | None = None
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class CancelOrder:
    client_order_id: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class CancelAllOrders:
    actor: str = "manual"
    strategy: str | None = None  # None: every strategy and manual orders
    ts: int = 0


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Move a working limit order to ``price`` (and ``quantity``: None keeps what is left to fill), or a stop to
    ``trigger_price`` (a stop-limit's limit to ``price``; None keeps it). Where the venue cannot amend (none
    yet), the engine checks ``new_client_order_id`` through every pre-trade check, holds it (PENDING_REPLACE),
    cancels the old one, and sends the new one only once the venue confirmed the cancel, less what the old one
    filled meanwhile: the two never work at once, so a move never fills twice. A stop armed in Kestrel moves in
    place (same id, checked like a new trigger). A widget never does that itself."""

    client_order_id: str
    price: float | None
    new_client_order_id: str
    actor: str = "manual"
    quantity: float | None = None
    ts: int = 0
    trigger_price: float | None = None


@dataclass(frozen=True, slots=True)
class Halt:
    """The kill switch (K1): HALTED persisted first, new orders refused, every working order canceled."""

    reason: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class HaltStrategy:
    """One strategy's kill switch (K2)."""

    strategy: str
    reason: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class Reset:
    """Back to ACTIVE: a person's action with a written reason (``scope``: "global" or "strategy:<name>")."""

    reason: str
    actor: str = "manual"
    scope: str = "global"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class Flatten:
    """Close every position with reduce-only market orders. Publishing it is the confirmation: ask first."""

    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Close one position at market (``reverse``: and open the same size the other way), from the Positions
    dock. Its working stops are canceled first; the order goes out once they have ended, for what is left.
    Publishing it is the confirmation: ask first."""

    symbol: str
    reverse: bool = False
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class LoadStrategy:
    """Load an instance of plugin ``plugin`` (it starts STOPPED). Answered by a ``CommandDone`` whose
    ``detail`` is the instance's name, or a ``CommandRefused``."""

    plugin: str
    params: dict = field(default_factory=dict)
    instance: str | None = None  # None: the plugin's name, numbered if taken
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class StartStrategy:
    instance: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class StopStrategy:
    """Stop a strategy: its orders are canceled, its state saved."""

    instance: str
    reason: str = "stopped by a person"
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class RemoveStrategy:
    """Stop and forget an instance (its saved state too)."""

    instance: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class SetStrategyParams:
    """New parameters for an instance (validated against what the plugin declares; text is converted)."""

    instance: str
    params: dict = field(default_factory=dict)
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class ReloadPlugin:
    """Re-import a changed plugin file; its instances restart on the new code (``CommandDone`` says how)."""

    plugin: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class RescanPlugins:
    """Look for plugins again (new files in the profile)."""

    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class RegisterModel:
    """Register a trained artifact (a folder with its manifest and ONNX file) as the next version of its model
    in the profile's registry. Answered by a ``CommandDone`` whose ``detail`` is the record's id."""

    artifact: str
    source: str = ""  # the data it was trained on (shown in the Models dock)
    actor: str = "manual"
    ts: int = 0


# -------------------------------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class CommandRefused:
    """A command the engine did not carry out (a reset with no reason, a modify of an order no longer working,
    ...): ``command`` is its class name, ``reason`` says why for the person who sent it."""

    command: str
    reason: str
    actor: str
    ts: int = 0

    @classmethod
    def to(cls, cmd: object, reason: str, ts: int) -> "CommandRefused":
        """The refusal of ``cmd``, for the actor who sent it."""
        return cls(type(cmd).__name__, reason, getattr(cmd, "actor", ""), ts)


@dataclass(frozen=True, slots=True)
class CommandDone:
    """A command carried out whose outcome is news for the person who sent it: ``detail`` is e.g. the name a
    loaded strategy got, or what a reload did."""

    command: str
    detail: str
    actor: str
    ts: int = 0

    @classmethod
    def to(cls, cmd: object, detail: str, ts: int) -> "CommandDone":
        """What came of ``cmd``, for the actor who sent it."""
        return cls(type(cmd).__name__, detail, getattr(cmd, "actor", ""), ts)


@dataclass(frozen=True, slots=True)
class OrderDenied:
    """Our risk engine refused the order; it never reached a venue. ``reason`` is a stable code."""

    client_order_id: str
    symbol: str
    reason: str
    message: str
    limit: str = ""
    observed: str = ""
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderSubmitted:
    client_order_id: str
    symbol: str
    venue: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    client_order_id: str
    venue_order_id: str
    symbol: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The venue refused the order."""

    client_order_id: str
    symbol: str
    reason: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderFilled:
    client_order_id: str
    venue_order_id: str
    trade_id: str  # venue trade id: fills are de-duplicated on (venue, trade_id)
    symbol: str
    venue: str
    side: Side
    price: float
    quantity: float
    fee: float
    fee_currency: str
    liquidity: str  # "MAKER" or "TAKER"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    client_order_id: str
    symbol: str
    reason: str = ""
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderAmended:
    """The venue changed a working order in place (``ModifyOrder`` where it amends): the same id, its new price and
    total quantity."""

    client_order_id: str
    symbol: str
    price: float
    quantity: float
    ts: int = 0


@dataclass(frozen=True, slots=True)
class AmendRejected:
    """The venue refused to amend the order; it works as it was."""

    client_order_id: str
    reason: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class CancelRejected:
    client_order_id: str
    reason: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    """Emitted by the OMS after any change of an order's state; views subscribe to this one."""

    client_order_id: str
    status: OrderStatus
    filled_qty: float
    avg_price: float
    ts: int = 0


@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    """``scope`` is "global", "strategy:<name>" or "venue:<name>"."""

    state: TradingState
    previous: TradingState
    reason: str
    actor: str
    ts: int = 0
    scope: str = "global"


@dataclass(frozen=True, slots=True)
class RiskLimitsChanged:
    """A person changed a limit (risk panel or CLI); old and new values for the log and the audit trail."""

    name: str
    old: str
    new: str
    actor: str
    reason: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class VenueStatus:
    venue: str
    connected: bool
    message: str = ""
    ts: int = 0


@dataclass(frozen=True, slots=True)
class PositionChanged:
    symbol: str
    quantity: float
    avg_price: float
    realized_pnl: float
    unrealized_pnl: float
    ts: int = 0


@dataclass(frozen=True, slots=True)
class AccountChanged:
    cash: float
    equity: float
    currency: str
    ts: int = 0


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a trader must see (kill trips, cancel failures, data problems)."""

    level: str  # "info", "warning", "critical"
    title: str
    message: str
    ts: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)


# ------------------------------------------------------------------------------------------------------ alerts
@dataclass(frozen=True, slots=True)
class SetAlert:
    """Command: add an alert rule, or replace the one with the same id (``rule``: ``AlertRule.to_dict()``)."""

    rule: dict
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class RemoveAlert:
    """Command: delete alert rule ``rule_id``."""

    rule_id: str
    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class AlertChannelsChanged:
    """Command: the notification channels in the keyring changed (the Channels dialog): read them again."""

    actor: str = "manual"
    ts: int = 0


@dataclass(frozen=True, slots=True)
class AlertRuleChanged:
    """An alert rule was set, changed, removed, armed after a restart or expired (``action``), and what it is now.
    ``note``: what the trader should know, e.g. that the price is already across the level."""

    rule_id: str
    action: str  # "set", "removed", "armed", "expired", "disabled"
    rule: dict
    actor: str = ""
    note: str = ""
    ts: int = 0


@dataclass(frozen=True, slots=True)
class AlertFired:
    """An alert rule's condition came true: what the trader is told (``title``, ``message``), where it goes
    (``channels``), and how many firings the rule's flood limit merged into this one (``throttled``)."""

    rule_id: str
    kind: str
    symbol: str
    title: str
    message: str
    value: float = float("nan")
    channels: tuple = ()
    throttled: int = 0
    ts: int = 0



# -------------------------------------------------------------------------------------------------------- news
@dataclass(frozen=True, slots=True)
class NewsRecord:
    """A stored news item. ``arrived_ms`` is when it reached Kestrel (features and alerts use only this);
    ``published_ms`` is what the source claims. ``symbols`` are the keys it is about (``600519.SH``, ``BTC``);
    ``score`` the default scorer's sentiment in [-1, 1] (NaN: not scored yet)."""

    id: int
    source: str
    kind: str  # "news" | "flash" | "notice"
    title: str
    summary: str
    url: str
    published_ms: int
    arrived_ms: int
    symbols: tuple = ()
    lang: str = ""
    score: float = float("nan")
    flags: int = 0


@dataclass(frozen=True, slots=True)
class NewsArrived:
    """Items stored for the first time, in one batch (one poll of one source, or their scores)."""

    items: tuple
    source: str = ""
    ts: int = 0
