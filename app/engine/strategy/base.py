"""The ``Strategy`` base every plugin subclasses, and the ``Indicator`` it creates: what a strategy can do is
exactly what these methods offer (see ``app.api`` for the whole contract). A strategy talks to a host (the
live ``StrategyHost`` or the backtester's), never to the kernel. Re-exported by ``app.api``."""
from __future__ import annotations

import logging
import math
from typing import Any, Iterable

from app.engine.core.messages import Bar, BookSnapshot, OrderDenied, OrderFilled, OrderUpdated, Side, TradeTick
from app.engine.ml.model import Model
from app.engine.strategy.params import API_VERSION, Param, Params


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
    def _bind(self, host: Any, instance: str, params: dict[str, Any]) -> None:
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

    # ------------------------------------------------------------------------------------------------ news
    def news(self, symbol: str | None = None, since: Any = None, limit: int = 100) -> list[Any]:
        """News items (``NewsRecord``: title, summary, url, source, kind, published_ms, arrived_ms, score) about
        ``symbol`` that had *arrived* by now, newest first; ``since``: epoch ms, a date or ISO text, or seconds
        before now as a negative number. In a backtest, only what had arrived by the bar. [] without news."""
        reader = self._host.news
        return [] if reader is None else reader.news(symbol or self.p.symbol, since, limit)

    def sentiment(self, symbol: str | None = None, window: float = 3600.0) -> float:
        """The mean sentiment score in [-1, 1] of the items about ``symbol`` that arrived within the last
        ``window`` seconds (the ``news.sentiment`` feature's rule); NaN when there is none."""
        reader = self._host.news
        return math.nan if reader is None else reader.sentiment(symbol or self.p.symbol, window)

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
    def buy(self, quantity: float, price: float | None = None, symbol: str | None = None, *,
            stop_loss: float | None = None, take_profit: float | None = None, trail: float | None = None,
            tif: str = "GTC", post_only: bool = False, reduce_only: bool = False) -> str:
        """Send a buy (market when ``price`` is None) through the risk gate; returns the client order id.
        A denial arrives as ``on_order(OrderDenied)``.

        Added in 1.2: ``stop_loss`` / ``take_profit`` (absolute prices) or ``trail`` (a trailing stop-loss this
        far, in price, behind the best price) make it a bracket: Kestrel arms them as the order fills, sized to
        what filled, one cancelling the other (in backtests: docs/STRATEGIES.md, "Brackets in backtests").
        ``tif``: "GTC", "IOC" or "FOK"; ``post_only``; ``reduce_only``."""
        return self._host.submit(self.instance, symbol or self.p.symbol, Side.BUY, quantity, price,
                                 stop_loss=stop_loss, take_profit=take_profit, trail=trail, tif=tif,
                                 post_only=post_only, reduce_only=reduce_only)

    def sell(self, quantity: float, price: float | None = None, symbol: str | None = None, *,
             stop_loss: float | None = None, take_profit: float | None = None, trail: float | None = None,
             tif: str = "GTC", post_only: bool = False, reduce_only: bool = False) -> str:
        """The mirror of ``buy``."""
        return self._host.submit(self.instance, symbol or self.p.symbol, Side.SELL, quantity, price,
                                 stop_loss=stop_loss, take_profit=take_profit, trail=trail, tif=tif,
                                 post_only=post_only, reduce_only=reduce_only)

    def stop(self, side: str, quantity: float, trigger: float | None = None, limit: float | None = None,
             symbol: str | None = None, *, trail: float | None = None, trail_pct: float | None = None,
             reduce_only: bool = False, source: str = "last") -> str:
        """A stop (added in 1.2): ``side`` "buy" or "sell"; a market order when a trade prints at or through
        ``trigger`` (a stop-limit at ``limit`` when given); with ``trail`` (price) or ``trail_pct`` (percent) a
        trailing stop, ``trigger`` then being its optional activation price. ``source``: "last" (trades) or
        "bid_ask". Kept by the venue where it can, else by Kestrel. Returns the client order id."""
        return self._host.submit_stop(self.instance, symbol or self.p.symbol, Side(side.upper()), quantity, trigger,
                               limit, trail, trail_pct, reduce_only, source)

    def modify(self, client_order_id: str, *, price: float | None = None, quantity: float | None = None,
               trigger: float | None = None) -> str:
        """Move a working limit order (``price``, ``quantity``) or a stop (``trigger``) (added in 1.2). Returns the
        id the order continues under: the same for a stop Kestrel keeps, a new one where the venue cannot amend
        (the old one is canceled first). A refusal arrives as ``on_order``."""
        return self._host.modify_order(self.instance, client_order_id, price, quantity, trigger)

    def close_position(self, symbol: str | None = None) -> str | None:
        """Close this strategy's own position in ``symbol`` at market, reduce-only (added in 1.2); None when it
        is flat."""
        sym = symbol or self.p.symbol
        pos = self.position(sym)
        if not pos:
            return None
        return self.sell(abs(pos), symbol=sym, reduce_only=True) if pos > 0 else \
            self.buy(abs(pos), symbol=sym, reduce_only=True)

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
