"""SimVenue as the ExecutionEngine sees it, on a quiet book (market model off) so outcomes are exact."""
from __future__ import annotations

from typing import Any

import pytest

from app.engine.core.instruments import default_instruments
from app.engine.core.messages import (
    BookSnapshot,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderType,
    Side,
    TradeTick,
    VenueStatus,
)
from app.engine.venues.base import VenueAdapter, VenueOrder
from app.engine.venues.sim import SimVenue
from tests.kit.ids import sid

T0 = 1_700_000_000_000  # Wed 2023-11-15 06:13 Beijing time: the A-share market is closed
OPEN = 1_700_013_600_000  # Wed 2023-11-15 10:00 Beijing time: A-shares trade
BTC = "BTC/USDT"


class Venue:
    """A SimVenue plus everything it reported, with small helpers to place orders."""

    def __init__(self, latency_ms: int = 0, start_ts_ms: int = T0, **kw: Any) -> None:
        self.reports: list[Any] = []
        self.data: list[Any] = []
        self.ex = SimVenue(default_instruments(), self.reports.append, self.data.append,
                              latency_ms=latency_ms, start_ts_ms=start_ts_ms, market_model=False,
                              session="", **kw)  # ids as "S-000001", "T-1": pinned to compare reports
        self._n = 0

    def limit(self, side: Side, qty: float, price: float, symbol: str = BTC, cid: str | None = None) -> str:
        self._n += 1
        cid = cid or f"c{self._n}"
        self.ex.submit(VenueOrder(cid, symbol, side, OrderType.LIMIT, qty, price))
        return cid

    def market(self, side: Side, qty: float, symbol: str = BTC) -> str:
        self._n += 1
        cid = f"c{self._n}"
        self.ex.submit(VenueOrder(cid, symbol, side, OrderType.MARKET, qty, None))
        return cid

    def of(self, kind: type, cid: str | None = None) -> list[Any]:
        return [r for r in self.reports if isinstance(r, kind) and (cid is None or r.client_order_id == cid)]


def test_is_a_venue_adapter_with_the_sim_instruments() -> None:
    v = Venue()
    ex: VenueAdapter = v.ex
    assert ex.name == "sim" and ex.connected
    assert [i.symbol for i in ex.instruments()] == ["BTC/USDT", "ETH/USDT", "600519.SH"]


def test_limit_order_is_acknowledged_and_listed_as_open() -> None:
    v = Venue()
    cid = v.limit(Side.BUY, 0.5, 64_000.0)
    assert v.reports == [OrderAccepted(cid, "S-000001", BTC, T0)]
    (info,) = v.ex.open_orders()
    assert (info.client_order_id, info.venue_order_id, info.side, info.quantity, info.filled, info.price) == \
        (cid, "S-000001", Side.BUY, 0.5, 0.0, 64_000.0)
    assert v.ex.book(BTC).depth(1).own_bids == (0.5,)


def test_taker_and_maker_fees_are_exact() -> None:
    v = Venue()
    v.ex.external_order(BTC, Side.SELL, 0.5, 65_000.0)
    taker = v.market(Side.BUY, 0.2)
    (f,) = v.of(OrderFilled, taker)
    assert (f.side, f.price, f.quantity, f.liquidity, f.fee_currency, f.venue) == \
        (Side.BUY, 65_000.0, 0.2, "TAKER", "USDT", "sim")
    assert f.fee == pytest.approx(65_000.0 * 0.2 * 0.0005, rel=1e-12)  # 6.5 USDT
    maker = v.limit(Side.BUY, 0.3, 64_990.0)
    v.ex.external_order(BTC, Side.SELL, 0.3)
    (g,) = v.of(OrderFilled, maker)
    assert (g.price, g.quantity, g.liquidity) == (64_990.0, 0.3, "MAKER")
    assert g.fee == pytest.approx(64_990.0 * 0.3 * 0.0002, rel=1e-12)  # 3.8994 USDT
    ticks = {t.trade_id: t for t in v.data if isinstance(t, TradeTick)}
    assert f.trade_id != g.trade_id and ticks[f.trade_id].aggressor is Side.BUY
    assert ticks[g.trade_id].aggressor is Side.SELL and ticks[g.trade_id].price == 64_990.0


def test_same_price_fills_in_arrival_order_better_price_first() -> None:
    v = Venue()
    first = v.limit(Side.BUY, 0.1, 64_000.0)
    v.ex.external_order(BTC, Side.BUY, 0.1, 64_000.0)  # queued behind ours
    second = v.limit(Side.BUY, 0.1, 64_000.0)
    best = v.limit(Side.BUY, 0.1, 64_000.5)  # better price, arrived last
    v.ex.external_order(BTC, Side.SELL, 0.25)
    filled = [(r.client_order_id, r.price, r.quantity) for r in v.of(OrderFilled)]
    assert filled == [(best, 64_000.5, 0.1), (first, 64_000.0, 0.1)]  # then 0.05 to the external bid
    v.ex.external_order(BTC, Side.SELL, 0.1)
    assert v.of(OrderFilled, second)[0].quantity == 0.05


def test_large_limit_sweeps_levels_then_rests_and_fills_as_maker() -> None:
    v = Venue()
    for px in (65_000.0, 65_000.1, 65_000.2):
        v.ex.external_order(BTC, Side.SELL, 0.1, px)
    cid = v.limit(Side.BUY, 0.5, 65_000.1)
    fills = v.of(OrderFilled, cid)
    assert [(f.price, f.quantity, f.liquidity) for f in fills] == [(65_000.0, 0.1, "TAKER"),
                                                                   (65_000.1, 0.1, "TAKER")]
    (info,) = v.ex.open_orders()
    assert (info.quantity, info.filled) == (0.5, 0.2)
    assert v.ex.book(BTC).best_bid() == 65_000.1 and v.ex.book(BTC).best_ask() == 65_000.2
    v.ex.external_order(BTC, Side.SELL, 1.0)
    assert [(f.quantity, f.liquidity) for f in v.of(OrderFilled, cid)][2:] == [(0.3, "MAKER")]
    assert v.ex.open_orders() == []
    assert v.of(OrderCanceled, cid) == []


def test_market_order_bigger_than_book_cancels_the_remainder() -> None:
    v = Venue()
    v.ex.external_order(BTC, Side.BUY, 0.1, 64_999.0)
    v.ex.external_order(BTC, Side.BUY, 0.2, 64_998.0)
    cid = v.market(Side.SELL, 1.0)
    assert [type(r).__name__ for r in v.reports] == ["OrderAccepted", "OrderFilled", "OrderFilled",
                                                     "OrderCanceled"]
    assert sum(f.quantity for f in v.of(OrderFilled, cid)) == pytest.approx(0.3)
    assert v.of(OrderCanceled, cid)[0].reason == "IOC remainder"
    assert v.ex.open_orders() == []


def test_canceled_order_no_longer_fills() -> None:
    v = Venue()
    cid = v.limit(Side.SELL, 0.1, 65_100.0)
    v.ex.cancel(cid)
    assert v.of(OrderCanceled, cid)[0].reason == "canceled" and v.ex.open_orders() == []
    v.ex.external_order(BTC, Side.BUY, 0.1)
    assert v.of(OrderFilled) == []
    v.ex.cancel(cid)
    assert v.of(CancelRejected, cid)[0].reason.startswith("order not open")


def test_cancel_of_filled_or_unknown_order_is_rejected() -> None:
    v = Venue()
    v.ex.external_order(BTC, Side.SELL, 0.1, 65_000.0)
    cid = v.market(Side.BUY, 0.1)
    v.ex.cancel(cid)
    v.ex.cancel("nope")
    assert [(r.client_order_id, r.reason) for r in v.of(CancelRejected)] == [
        (cid, "order not open: filled"), ("nope", "unknown order")]


def test_nothing_happens_before_the_latency_has_elapsed() -> None:
    v = Venue(latency_ms=5)
    cid = v.limit(Side.BUY, 0.1, 64_000.0)
    v.ex.advance_to(T0 + 4)
    assert v.reports == [] and v.ex.open_orders() == []
    v.ex.advance_to(T0 + 5)
    assert v.reports == [OrderAccepted(cid, "S-000001", BTC, T0 + 5)]
    v.ex.cancel(cid)
    v.ex.advance_to(T0 + 9)
    assert len(v.reports) == 1 and len(v.ex.open_orders()) == 1
    v.ex.advance_to(T0 + 20)
    assert v.reports[1] == OrderCanceled(cid, BTC, "canceled", T0 + 10)


@pytest.mark.parametrize(("symbol", "order_type", "qty", "price", "reason"), [
    ("DOGE/USDT", OrderType.LIMIT, 1.0, 0.1, "unknown symbol"),
    (BTC, OrderType.LIMIT, 0.1, 64_000.05, "invalid price"),  # off the 0.1 tick
    (BTC, OrderType.LIMIT, 0.1, None, "invalid price"),
    (BTC, OrderType.LIMIT, 0.00015, 64_000.0, "invalid quantity"),  # off the 0.0001 lot
    (BTC, OrderType.LIMIT, 0.0, 64_000.0, "invalid quantity"),
    (BTC, OrderType.LIMIT, 101.0, 64_000.0, "invalid quantity"),  # above max_qty
    (BTC, OrderType.LIMIT, 0.0001, 10_000.0, "min notional"),  # 1 USDT < 5
    (BTC, OrderType.MARKET, 0.1, None, "no liquidity"),  # empty book
    ("600519.SH", OrderType.LIMIT, 150.0, 1_500.0, "invalid quantity"),  # not a 100-share lot
])
def test_invalid_orders_are_rejected(symbol: str, order_type: OrderType, qty: float, price: float | None,
                                     reason: str) -> None:
    v = Venue()
    v.ex.submit(VenueOrder("x", symbol, Side.BUY, order_type, qty, price))
    (r,) = v.reports
    assert isinstance(r, OrderRejected) and r.client_order_id == "x" and r.reason.startswith(reason)


def test_duplicate_client_order_id_is_rejected() -> None:
    v = Venue()
    v.limit(Side.BUY, 0.1, 64_000.0, cid="dup")
    v.limit(Side.BUY, 0.2, 64_000.0, cid="dup")
    assert v.of(OrderRejected, "dup")[0].reason.startswith("duplicate client order id")
    assert [o.quantity for o in v.ex.open_orders()] == [0.1]


def test_a_share_orders_outside_the_daily_price_limit_are_rejected() -> None:
    v = Venue(start_ts_ms=OPEN)  # in a session: outside one every A-share order is refused first
    assert v.ex.price_limits("600519.SH") == (1_350.0, 1_650.0)
    assert v.ex.price_limits(BTC) is None
    up = v.limit(Side.BUY, 100, 1_650.01, symbol="600519.SH")
    down = v.limit(Side.SELL, 100, 1_349.99, symbol="600519.SH")
    ok = v.limit(Side.BUY, 100, 1_650.0, symbol="600519.SH")
    assert v.of(OrderRejected, up)[0].reason.startswith("price limit")
    assert v.of(OrderRejected, down)[0].reason.startswith("price limit")
    assert v.of(OrderAccepted, ok)


def test_self_match_prevention_cancels_our_resting_order() -> None:
    v = Venue()
    resting = v.limit(Side.SELL, 0.1, 65_010.0)
    v.ex.external_order(BTC, Side.SELL, 0.1, 65_020.0)
    cid = v.limit(Side.BUY, 0.2, 65_020.0)
    assert v.of(OrderCanceled, resting)[0].reason == "self-match prevention"
    assert [(f.price, f.quantity) for f in v.of(OrderFilled, cid)] == [(65_020.0, 0.1)]
    assert v.of(OrderFilled, resting) == []
    assert [(o.client_order_id, o.filled) for o in v.ex.open_orders()] == [(cid, 0.1)]


def test_disconnect_rejects_orders_and_withholds_reports_until_reconnect() -> None:
    v = Venue()
    resting = v.limit(Side.BUY, 0.1, 64_000.0)
    v.ex.set_connected(False)
    assert not v.ex.connected and v.data[-1] == VenueStatus("sim", False, "disconnected", T0)
    cid = v.limit(Side.BUY, 0.1, 64_000.0)
    v.ex.cancel(resting)
    assert v.of(OrderRejected, cid)[0].reason == "venue disconnected"
    assert v.of(CancelRejected, resting)[0].reason == "venue disconnected"
    v.ex.external_order(BTC, Side.SELL, 0.1)  # fills our resting bid while we are offline
    v.ex.advance_to(T0 + 100)
    assert v.of(OrderFilled) == [] and not [d for d in v.data if isinstance(d, (TradeTick, BookSnapshot))]
    v.ex.set_connected(True)
    assert v.data[-1].connected and v.of(OrderFilled, resting)[0].quantity == 0.1
    v.ex.advance_to(T0 + 150)
    assert {d.symbol for d in v.data if isinstance(d, BookSnapshot)} == {sid("BTC/USDT"), sid("ETH/USDT"),
                                                                           sid("600519.SH")}


def test_reject_next_cancel_fault() -> None:
    v = Venue()
    cid = v.limit(Side.BUY, 0.1, 64_000.0)
    v.ex.reject_next_cancel(1)
    v.ex.cancel(cid)
    v.ex.cancel(cid)
    assert [type(r).__name__ for r in v.reports] == ["OrderAccepted", "CancelRejected", "OrderCanceled"]


def test_dropped_reports_are_lost_but_the_venue_state_is_true() -> None:
    v = Venue()
    cid = v.limit(Side.BUY, 0.1, 64_000.0)
    v.ex.drop_reports(True)
    v.ex.external_order(BTC, Side.SELL, 0.04)
    assert v.of(OrderFilled) == []
    assert [(o.client_order_id, o.filled) for o in v.ex.open_orders()] == [(cid, 0.04)]
    v.ex.drop_reports(False)
    v.ex.external_order(BTC, Side.SELL, 0.06)
    assert [f.quantity for f in v.of(OrderFilled, cid)] == [0.06]


def test_snapshots_only_for_books_that_changed() -> None:
    v = Venue()
    v.ex.advance_to(T0 + 50)  # first frame: every book
    v.data.clear()
    v.ex.advance_to(T0 + 100)
    assert v.data == []
    v.limit(Side.BUY, 0.1, 64_000.0)
    v.limit(Side.SELL, 0.2, 64_000.5)
    v.ex.advance_to(T0 + 150)
    assert v.data == [BookSnapshot(sid(BTC), ((64_000.0, 0.1),), ((64_000.5, 0.2),), T0 + 150)]


def test_book_levels_limits_snapshot_depth() -> None:
    v = Venue(book_levels=3)
    for i in range(6):
        v.ex.external_order(BTC, Side.BUY, 0.1, 64_000.0 - i)
    v.ex.advance_to(T0 + 1)
    snap = next(d for d in v.data if isinstance(d, BookSnapshot) and d.symbol == sid(BTC))
    assert snap.bids == ((64_000.0, 0.1), (63_999.0, 0.1), (63_998.0, 0.1)) and snap.asks == ()


def test_orders_sent_from_inside_a_report_callback_run_after_the_current_event() -> None:
    reports: list[Any] = []

    def react(report: Any) -> None:  # a strategy reacting synchronously on the bus
        reports.append(report)
        if isinstance(report, OrderFilled) and report.client_order_id == "a":
            ex.submit(VenueOrder("b", BTC, Side.BUY, OrderType.MARKET, 0.1, None))

    ex = SimVenue(default_instruments(), react, lambda d: None, latency_ms=0, start_ts_ms=T0,
                     market_model=False)
    ex.external_order(BTC, Side.SELL, 0.1, 65_000.0)
    ex.external_order(BTC, Side.SELL, 0.1, 65_001.0)
    ex.submit(VenueOrder("a", BTC, Side.BUY, OrderType.MARKET, 0.1, None))
    assert [(r.client_order_id, r.price) for r in reports if isinstance(r, OrderFilled)] == \
        [("a", 65_000.0), ("b", 65_001.0)]


def test_a_failing_subscriber_does_not_corrupt_the_venue(caplog: pytest.LogCaptureFixture) -> None:
    reports: list[Any] = []

    def broken(msg: Any) -> None:
        raise RuntimeError("widget bug")

    ex = SimVenue(default_instruments(), reports.append, broken, latency_ms=0, start_ts_ms=T0,
                     market_model=False)
    ex.external_order(BTC, Side.SELL, 0.1, 65_000.0)
    ex.external_order(BTC, Side.SELL, 0.1, 65_000.1)
    ex.submit(VenueOrder("a", BTC, Side.BUY, OrderType.LIMIT, 0.3, 65_000.1))
    ex.advance_to(T0 + 50)
    assert [r.quantity for r in reports if isinstance(r, OrderFilled)] == [0.1, 0.1]
    assert ex.book(BTC).depth(1).bids == ((65_000.1, 0.1),) and ex.book(BTC).best_ask() is None
    assert "widget bug" in caplog.text


def test_last_price_follows_trades() -> None:
    v = Venue()
    assert v.ex.last_price(BTC) is None
    v.ex.external_order(BTC, Side.SELL, 0.1, 65_000.0)
    v.ex.external_order(BTC, Side.BUY, 0.1, 64_999.0)
    assert v.ex.last_price(BTC) == 64_999.5  # mid before any trade
    v.market(Side.BUY, 0.1)
    assert v.ex.last_price(BTC) == 65_000.0
