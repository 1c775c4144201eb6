"""The seeded market model, seen through SimVenue: lively, deterministic, refilling, clustering."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pytest

from app.engine.core.instruments import default_instruments
from app.engine.core.messages import BookSnapshot, OrderFilled, OrderRejected, OrderType, Side, TradeTick
from app.engine.venues.base import VenueOrder
from app.engine.venues.sim import DEFAULT_PARAMS, SimVenue
from tests.kit.ids import sid

T0 = 1_700_013_600_000  # Wed 2023-11-15 10:00 Beijing time: the A-share market is open (closed, it is quiet)
BTC, ETH, MOUTAI = "BTC/USDT", "ETH/USDT", "600519.SH"


def exchange(symbols: tuple[str, ...] = (BTC, ETH, MOUTAI), **kw: Any) -> tuple[SimVenue, list[Any]]:
    events: list[Any] = []
    inst = [i for i in default_instruments() if i.symbol in symbols]
    kw.setdefault("start_ts_ms", T0)
    kw.setdefault("session", "")  # trade ids name the run; pinned so two runs' events can be compared
    return SimVenue(inst, events.append, events.append, **kw), events


def run(ex: SimVenue, seconds: float, step_ms: int = 50) -> None:
    end = ex.now + int(seconds * 1000)
    while ex.now < end:
        ex.advance_to(min(end, ex.now + step_ms))


def scripted_session(seed: int, step_ms: int = 50, orders: bool = True) -> list[Any]:
    ex, events = exchange(seed=seed, latency_ms=5)
    run(ex, 3, step_ms)
    if orders:
        bid = ex.book(BTC).best_bid()
        ex.submit(VenueOrder("o1", BTC, Side.BUY, OrderType.LIMIT, 0.05, bid))
        ex.submit(VenueOrder("o2", ETH, Side.SELL, OrderType.MARKET, 2.0, None))
    run(ex, 7, step_ms)
    return events


def test_starts_with_a_full_book_near_the_reference_prices() -> None:
    ex, events = exchange()
    for sym, ref in ((BTC, 65_000.0), (ETH, 3_400.0), (MOUTAI, 1_500.0)):
        book = ex.book(sym)
        assert book.level_count(Side.BUY) == 20 and book.level_count(Side.SELL) == 20
        assert 1 <= book.best_ask_ticks() - book.best_bid_ticks() <= 5
        assert abs(book.mid() / ref - 1) < 1e-4
    run(ex, 0.05)
    snaps = {e.symbol: e for e in events if isinstance(e, BookSnapshot)}
    assert sorted(snaps) == sorted(map(sid, (BTC, ETH, MOUTAI)))  # market data names the instrument id
    assert all(len(s.bids) == 10 and len(s.asks) == 10 for s in snaps.values())


def test_same_seed_same_events_different_seed_different() -> None:
    a = scripted_session(7)
    assert a == scripted_session(7)
    assert a != scripted_session(8)
    kinds = {type(e).__name__ for e in a}
    assert {"BookSnapshot", "TradeTick", "OrderAccepted", "OrderFilled"} <= kinds


def test_market_does_not_depend_on_the_callers_frame_rate() -> None:
    def prints(step: int) -> list[TradeTick]:
        return [e for e in scripted_session(3, step, orders=False) if isinstance(e, TradeTick)]

    assert prints(50) == prints(16)


def test_market_is_lively() -> None:
    ex, events = exchange(seed=11)
    run(ex, 10)
    for sym, min_trades in ((BTC, 50), (ETH, 40), (MOUTAI, 10)):
        trades = [e for e in events if isinstance(e, TradeTick) and e.symbol == sid(sym)]
        snaps = [e for e in events if isinstance(e, BookSnapshot) and e.symbol == sid(sym)]
        assert len(trades) >= min_trades
        assert {t.aggressor for t in trades} == {Side.BUY, Side.SELL}
        assert len(snaps) >= 150  # of 200 frames
        assert len({s.mid for s in snaps}) > 5


def test_depth_refills_after_a_sweep() -> None:
    ex, events = exchange((BTC,), seed=5, latency_ms=0)
    run(ex, 1)
    book = ex.book(BTC)
    asks = book.depth(15).asks
    qty = round(sum(s for _, s in asks), 4)
    ex.submit(VenueOrder("sweep", BTC, Side.BUY, OrderType.MARKET, qty, None))
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert len(fills) >= 15 and {f.liquidity for f in fills} == {"TAKER"}
    assert fills[-1].price >= asks[14][0]
    assert book.best_ask() > asks[14][0] or book.level_count(Side.SELL) < 10
    run(ex, 3)
    assert book.level_count(Side.SELL) >= 10 and book.level_count(Side.BUY) >= 10
    assert book.best_ask_ticks() - book.best_bid_ticks() <= 10


def test_resting_order_is_filled_as_maker_by_synthetic_flow() -> None:
    ex, events = exchange((BTC,), seed=2, latency_ms=5)
    run(ex, 1)
    ex.submit(VenueOrder("join", BTC, Side.BUY, OrderType.LIMIT, 0.01, ex.book(BTC).best_bid()))
    for _ in range(120):
        run(ex, 1)
        if not ex.open_orders():
            break
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert fills and sum(f.quantity for f in fills) == pytest.approx(0.01)
    assert {f.liquidity for f in fills} == {"MAKER"}
    prints = {e.trade_id: e for e in events if isinstance(e, TradeTick)}
    assert all(prints[f.trade_id].aggressor is Side.SELL for f in fills)
    assert fills[0].fee == pytest.approx(fills[0].price * fills[0].quantity * 0.0002, rel=1e-12)


@pytest.fixture(scope="module")
def long_run() -> dict[str, np.ndarray]:
    """15 minutes of BTC sampled every second: mid, spread (ticks), model volatility ratio."""
    ex, _ = exchange((BTC,), seed=7)
    book, model = ex.book(BTC), ex.model(BTC)
    mids, spreads, vols = [], [], []
    for _ in range(900):
        run(ex, 1)
        mids.append(book.mid_ticks())
        spreads.append(book.best_ask_ticks() - book.best_bid_ticks())
        vols.append(model.vol_ratio)
    return {"mid": np.array(mids), "spread": np.array(spreads), "vol": np.array(vols)}


def test_volatility_clusters(long_run: dict[str, np.ndarray]) -> None:
    r = np.diff(np.log(long_run["mid"]))
    a = np.abs(r) - np.abs(r).mean()
    acf = [float(a[:-k] @ a[k:] / (a @ a)) for k in (1, 2, 5)]
    assert min(acf) > 0.1, acf
    v = long_run["vol"]
    assert np.percentile(v, 95) > 1.5 * np.percentile(v, 5)


def test_spread_is_a_few_ticks_and_widens_with_volatility(long_run: dict[str, np.ndarray]) -> None:
    s, v = long_run["spread"], long_run["vol"]
    assert np.median(s) <= 4 and s.min() >= 1
    assert np.corrcoef(s, v)[0, 1] > 0.3


def test_a_share_stays_inside_its_daily_limits_even_in_a_crash() -> None:
    wild = {MOUTAI: dataclasses.replace(DEFAULT_PARAMS[MOUTAI], vol_per_sqrt_s=1e-2)}
    ex, events = exchange((MOUTAI,), seed=4, model_params=wild)
    run(ex, 120)
    prices = [e.price for e in events if isinstance(e, TradeTick)]
    quotes = [p for e in events if isinstance(e, BookSnapshot) for p, _ in e.bids + e.asks]
    assert min(prices + quotes) >= 1_350.0 and max(prices + quotes) <= 1_650.0
    assert max(prices) == 1_650.0 or min(prices) == 1_350.0  # it did hit a limit
    ex.submit(VenueOrder("x", MOUTAI, Side.BUY, OrderType.LIMIT, 100, 1_650.01))
    run(ex, 0.05)
    assert [e.reason.split(":")[0] for e in events if isinstance(e, OrderRejected)] == ["price limit"]


def test_a_long_pause_is_skipped_not_simulated() -> None:
    ex, _ = exchange(seed=1)
    run(ex, 1)
    t = time.process_time()
    ex.advance_to(ex.now + 3_600_000)  # the laptop slept for an hour
    assert time.process_time() - t < 1.0
    run(ex, 1)
    assert ex.book(BTC).level_count(Side.SELL) >= 10
