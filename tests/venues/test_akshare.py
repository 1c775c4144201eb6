"""The akshare venue with akshare's HTTP layer patched: its real request and parsing code runs; deadlines,
cache, backoff and fallback on bans and hangs; A-share paper rules through the real order path."""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from app.engine.core import ashare_rules as rules
from app.engine.core.messages import BookSnapshot, OrderStatus, OrderType, Side, TradeTick, VenueStatus
from app.engine.venues.akshare.client import AkshareCache, AkshareClient, AllSourcesFailed
from app.engine.venues.akshare.venue import AkshareVenue, ashare_instrument
from app.engine.venues.events import FeedStatus
from app.engine.venues.executor import CallTimedOut, DeadlineExecutor
from tests.kit.venues import run
from tests.kit.wait import until
from tests.venues.fake_akshare import FakeAkshareHTTP

S = OrderStatus
SH = dt.timezone(dt.timedelta(hours=8))


def at(y, m, d, hh, mm) -> int:
    return int(dt.datetime(y, m, d, hh, mm, tzinfo=SH).timestamp() * 1000)


@pytest.fixture
def http(monkeypatch):
    fake = FakeAkshareHTTP().install(monkeypatch)
    yield fake
    fake.release_hangs()


@pytest.fixture
def ashare_kernel(profile):
    """A real kernel on a simulated clock at Thu 2024-01-04 10:00 Beijing time, with the akshare venue."""
    from app.config import Settings
    from app.engine.core.clock import SimClock
    from app.engine.core.instruments import default_instruments
    from app.engine.kernel import Kernel

    clock = SimClock(at(2024, 1, 4, 10, 0))
    insts = [i for i in default_instruments() if i.symbol != "600519.SH"] + [ashare_instrument("600519.SH")]
    kernel = Kernel(profile, Settings(), clock=clock, instruments=insts)
    kernel.start()
    seen = []
    kernel.bus.subscribe(object, seen.append)
    kernel.seen = seen
    yield kernel
    kernel.close()


def make_venue(kernel, **kw):
    client = AkshareClient(AkshareCache(kernel.store.conn), DeadlineExecutor(workers=2, max_stuck=2),
                           deadline_s=kw.pop("deadline_s", 2.0), ban_base_s=kw.pop("ban_base_s", 0.2),
                           ban_cap_s=kw.pop("ban_cap_s", 1.0))
    venue = AkshareVenue(["600519.SH"], kernel.execution.on_report, kernel.bus.publish, client=client,
                         now_ms=kernel.clock.now_ms, fills=lambda: list(kernel.store.fills()), **kw)
    kernel.venues.add(venue, cache=False)
    return venue


# --------------------------------------------------------------------------------------------- data
def test_quote_parsed_by_akshare_becomes_book_and_trades(ashare_kernel, http):
    async def go():
        v = make_venue(ashare_kernel)
        await v.client.warm()
        await v.poll_once("600519.SH")
        http.volume_lots += 7
        await v.poll_once("600519.SH")
        assert v.connected
        await v.close()
        assert not v.connected  # closed: the Venues dock must not show it connected
        return v
    v = run(go())
    book = [b for b in ashare_kernel.seen if isinstance(b, BookSnapshot) and b.symbol == "600519.SH@akshare"][-1]
    assert book.bids[0] == (1499.99, 3000.0) and book.asks[0] == (1500.0, 2500.0) and len(book.bids) == 5
    ticks = [t for t in ashare_kernel.seen if isinstance(t, TradeTick) and t.symbol == "600519.SH@akshare"]
    assert ticks[-1].size == 700.0 and ticks[-1].price == 1500.0
    assert v.quotes["600519.SH"].prev_close == 1480.0
    assert ("eastmoney", "/api/qt/stock/get") in http.calls


def test_ban_falls_back_to_the_next_source_then_back(ashare_kernel, http):
    async def go():
        v = make_venue(ashare_kernel)
        await v.client.warm()
        http.mode["eastmoney"] = "ban"
        await v.poll_once("600519.SH")
        assert v.last_source["600519.SH"] == "sina"
        assert v.client.sources["eastmoney"].failures == 1 and v.client.sources["eastmoney"].paused_for > 0
        n = sum(1 for c in http.calls if c[0] == "eastmoney")
        await v.poll_once("600519.SH")  # eastmoney is paused: not even asked
        assert sum(1 for c in http.calls if c[0] == "eastmoney") == n
        http.mode["eastmoney"] = "ok"
        await until(lambda: v.client.sources["eastmoney"].paused_for == 0, 3, "the pause to end")
        await v.poll_once("600519.SH")
        assert v.last_source["600519.SH"] == "eastmoney"
        await v.close()
    run(go())
    states = [f.state for f in ashare_kernel.seen if isinstance(f, FeedStatus)]
    assert states == ["fallback", "live"]


def test_every_source_down_serves_the_cache_marked_stale(ashare_kernel, http):
    async def go():
        v = make_venue(ashare_kernel)
        await v.client.warm()
        await v.poll_once("600519.SH")  # cached
        http.mode.update(eastmoney="forbidden", sina="garbage")
        got = await v.client.fetch("quote", "600519.SH")
        assert got.stale and got.source == "cache" and got.value.last == 1500.0 and len(got.errors) == 2
        await until(lambda: all(s.paused_for == 0 for s in v.client.sources.values()), 3, "pauses over")
        await v.poll_once("600519.SH")
        assert not v.connected
        await v.close()
    run(go())
    feeds = [f for f in ashare_kernel.seen if isinstance(f, FeedStatus)]
    assert feeds[-1].state == "stale" and "cache" in feeds[-1].message
    status = [s for s in ashare_kernel.seen if isinstance(s, VenueStatus) and s.venue == "akshare"][-2]
    assert not status.connected and status.message.startswith("stale:") and "cached" in status.message


def test_nothing_cached_and_every_source_down_is_a_clear_error(profile, http):
    async def go():
        client = AkshareClient(None, DeadlineExecutor(), ban_base_s=0.1)
        await client.warm()
        http.mode.update(eastmoney="ban", tencent="ban")
        with pytest.raises(AllSourcesFailed, match="no akshare source answered for daily"):
            await client.fetch("daily", "600519.SH")
        client.executor.shutdown()
    run(go())


def test_a_hang_is_cut_at_the_deadline_and_the_loop_keeps_running(ashare_kernel, http):
    async def go():
        v = make_venue(ashare_kernel, deadline_s=0.5)
        await v.client.warm()
        http.mode["eastmoney"] = "hang_hard"  # ignores socket timeouts: only the executor deadline helps
        lags = []

        async def ticker():
            loop = asyncio.get_running_loop()
            while True:
                t = loop.time()
                await asyncio.sleep(0.005)
                lags.append((loop.time() - t - 0.005) * 1000)
        tick = asyncio.get_running_loop().create_task(ticker())
        t0 = time.monotonic()
        await v.poll_once("600519.SH")  # eastmoney hangs -> cut at 0.5 s -> sina answers
        took = time.monotonic() - t0
        tick.cancel()
        assert took < 1.5 and v.last_source["600519.SH"] == "sina"
        assert v.client.executor.stuck == 1 and "hung" in v.client.sources["eastmoney"].last_error
        assert sorted(lags)[int(0.99 * len(lags))] < 50
        http.release_hangs()
        await until(lambda: v.client.executor.stuck == 0, 3, "the abandoned call to end")
        await v.close()
    run(go())


def test_requests_without_timeout_get_the_call_deadline(http):
    async def go():
        ex = DeadlineExecutor(workers=1, max_stuck=1)
        http.mode["eastmoney"] = "hang"  # honours the socket timeout, which akshare never sets

        def call():
            import requests
            t = time.monotonic()
            try:
                requests.get("https://push2.eastmoney.com/api/qt/stock/get?secid=1.600519")
            except requests.ReadTimeout:
                return time.monotonic() - t
        took = await ex.call(call, deadline_s=0.4)
        assert took is not None and took < 0.6  # the thread ended on its own: nothing stuck
        assert ex.stuck == 0
        with pytest.raises(CallTimedOut):
            await ex.call(time.sleep, 1.0, deadline_s=0.1)
        ex.shutdown()
    run(go())


def test_daily_and_minute_bars_parse_and_fall_back(ashare_kernel, http):
    async def go():
        v = make_venue(ashare_kernel)
        await v.client.warm()
        daily = await v.history("600519.SH", "daily")
        minute = await v.history("600519.SH", "minute")
        http.mode["eastmoney"] = "ban"
        daily_tx = await v.history("600519.SH", "daily", "20240101", "20241231")
        minute_sina = await v.history("600519.SH", "minute")
        await v.close()
        return daily, minute, daily_tx, minute_sina
    daily, minute, daily_tx, minute_sina = run(go())
    assert [b.close for b in daily] == [1685.01, 1694.0, 1669.0] and daily[0].volume == 3_215_800
    assert daily[0].ts == at(2024, 1, 2, 0, 0)
    assert [b.close for b in minute] == [1693.0, 1690.5, 1691.2]
    assert [b.close for b in daily_tx][:2] == [1685.01, 1694.0]
    assert minute_sina[0].ts == at(2024, 1, 4, 9, 30)


def test_adjusted_history_is_what_was_asked_for_or_a_clear_refusal(ashare_kernel, http):
    """Forward/backward adjusted bars come from a source that adjusts (eastmoney, then tencent); a source that
    cannot (sina's minutes) is skipped, never used to stand in; adjusted bars are never served from the cache
    of unadjusted ones; 1-minute bars cannot be adjusted anywhere and are refused before any call."""
    async def go():
        v = make_venue(ashare_kernel)
        await v.client.warm()
        out = {"none": await v.history("600519.SH", "daily"),
               "forward": await v.history("600519.SH", "daily", adjust="forward"),
               "backward": await v.history("600519.SH", "daily", adjust="backward")}
        five = await v.fetch_history("600519.SH", "minute", "5", adjust="forward")
        calls = len(http.calls)
        with pytest.raises(ValueError, match="1-minute A-share bars come unadjusted"):
            await v.history("600519.SH", "minute", "1", adjust="forward")
        with pytest.raises(ValueError, match="choose one of none, forward, backward"):
            await v.history("600519.SH", "daily", adjust="qfq")
        assert len(http.calls) == calls  # refused before any source was asked
        http.mode["eastmoney"] = "ban"
        tencent = await v.fetch_history("600519.SH", "daily", "20240101", "20241231", adjust="forward")
        with pytest.raises(AllSourcesFailed) as minute_failed:
            await v.history("600519.SH", "minute", "5", adjust="forward")
        http.mode["tencent"] = "ban"
        with pytest.raises(AllSourcesFailed):  # the cache holds unadjusted bars only: not served as adjusted
            await v.history("600519.SH", "daily", adjust="forward")
        cached = await v.fetch_history("600519.SH", "daily")
        await v.close()
        return out, five, tencent, str(minute_failed.value), cached
    out, five, tencent, minute_failed, cached = run(go())
    assert [b.close for b in out["none"]] == [1685.01, 1694.0, 1669.0]
    assert [b.close for b in out["forward"]] == [round(c * 0.9, 2) for c in (1685.01, 1694.0, 1669.0)]
    assert [b.close for b in out["backward"]] == [round(c * 2.0, 2) for c in (1685.01, 1694.0, 1669.0)]
    assert five.source == "eastmoney" and five.value[0].close == round(1690.0 * 0.9, 2)
    assert tencent.source == "tencent" and [b.close for b in tencent.value] == [1516.51, 1524.6]
    assert "sina: gives no forward-adjusted bars" in minute_failed
    assert cached.stale and cached.source == "cache" and [b.close for b in cached.value] == [1685.01, 1694.0,
                                                                                              1669.0]


# -------------------------------------------------------------------------------------------- rules
def test_sessions_and_calendar():
    assert rules.session_state(at(2024, 1, 4, 9, 29)) == "closed"
    assert rules.session_state(at(2024, 1, 4, 9, 30)) == "open"
    assert rules.session_state(at(2024, 1, 4, 11, 30)) == "lunch break"
    assert rules.session_state(at(2024, 1, 4, 13, 0)) == "open"
    assert rules.session_state(at(2024, 1, 4, 15, 0)) == "closed"
    assert rules.session_state(at(2024, 1, 6, 10, 0)) == "holiday"  # Saturday
    assert rules.session_state(at(2024, 2, 12, 10, 0)) == "holiday"  # Spring Festival, on akshare's calendar
    assert rules.previous_trading_day(dt.date(2024, 2, 19)) == dt.date(2024, 2, 8)


def test_price_limits_by_board():
    assert rules.price_limits(1480.0, "600519") == (1332.0, 1628.0)
    assert rules.price_limits(10.05, "300750") == (8.04, 12.06)
    assert rules.price_limits(10.05, "688981") == (8.04, 12.06)
    assert rules.price_limits(10.0, "830799") == (7.0, 13.0)
    assert rules.price_limits(3.33, "600001", "ST 某某") == (3.16, 3.5)


def test_lots_and_t_plus_one():
    h = rules.Holding(quantity=300, bought_today=200)
    open_ts = at(2024, 1, 4, 10, 0)

    def code(*args):
        return getattr(rules.check_order(*args), "code", None)
    assert code("600519.SH", "BUY", 150, None, open_ts, h) == rules.LOT
    assert code("688981.SH", "BUY", 150, None, open_ts, h) == rules.LOT  # STAR: at least 200
    assert code("688981.SH", "BUY", 201, None, open_ts, h) is None  # ... then any share
    assert code("600519.SH", "SELL", 200, None, open_ts, h) == rules.T1
    assert code("600519.SH", "SELL", 100, None, open_ts, h) is None
    assert code("600519.SH", "SELL", 500, None, open_ts, h) == rules.NO_SHORT
    odd = rules.Holding(quantity=150)
    assert code("600519.SH", "SELL", 150, None, open_ts, odd) is None  # the whole holding
    assert code("600519.SH", "SELL", 50, None, open_ts, odd) is None  # the whole odd remainder, in one go
    assert code("600519.SH", "SELL", 30, None, open_ts, odd) == rules.LOT  # part of it
    limits = rules.DailyLimits.of("akshare", "600519.SH", dt.date(2024, 1, 4), 1480.0, open_ts)
    assert code("600519.SH", "BUY", 100, 1700.0, open_ts, h, limits) == rules.PRICE_LIMIT
    assert code("600519.SH", "BUY", 100, None, at(2024, 1, 4, 12, 0), h) == rules.CLOSED


# -------------------------------------------------------------------------------------- paper trading
def test_paper_trading_follows_a_share_rules_through_the_order_path(ashare_kernel, http):
    k = ashare_kernel

    async def go():
        v = make_venue(k)
        await v.client.warm()
        await v.poll_once("600519.SH")
        buy = k.submit("600519.SH", Side.BUY, OrderType.MARKET, 200)
        assert k.execution.orders[buy].status is S.FILLED
        fills = [f for f in k.store.fills() if f["client_order_id"] == buy]
        assert [(f["price"], f["quantity"]) for f in fills] == [(1500.0, 200.0)]
        # 300,000 CNY: commission 0.025% = 75.00 (above the 5 CNY minimum) + transfer fee 0.001% = 3.00
        assert fills[0]["fee"] == 78.0

        sell = k.submit("600519.SH", Side.SELL, OrderType.MARKET, 100)  # refused before the venue now
        assert k.execution.orders[sell].status is S.DENIED and "T+1" in k.execution.orders[sell].reason
        odd = k.submit("600519.SH", Side.BUY, OrderType.LIMIT, 150, 1500.0)
        assert k.execution.orders[odd].status in (S.DENIED, S.REJECTED)  # the risk gate already knows lots
        assert "lot size" in k.execution.orders[odd].reason

        rest = k.submit("600519.SH", Side.BUY, OrderType.LIMIT, 200, 1499.0)
        assert k.execution.orders[rest].status is S.ACCEPTED
        http.last = 1498.0  # the market comes down through the resting bid
        k.clock.advance(3_000)
        await v.poll_once("600519.SH")
        assert k.execution.orders[rest].status is S.FILLED and k.execution.orders[rest].avg_price == 1498.0

        late = k.submit("600519.SH", Side.BUY, OrderType.LIMIT, 100, 1490.0)
        k.clock.set_time(at(2024, 1, 4, 15, 1))
        await v.poll_once("600519.SH")
        assert k.execution.orders[late].status is S.CANCELED and "15:00" in k.execution.orders[late].reason
        closed = k.submit("600519.SH", Side.BUY, OrderType.MARKET, 100)
        assert "market closed" in k.execution.orders[closed].reason

        k.clock.set_time(at(2024, 1, 5, 9, 45))  # the next trading day: yesterday's 400 shares can be sold
        await v.poll_once("600519.SH")
        sell2 = k.submit("600519.SH", Side.SELL, OrderType.MARKET, 200)  # (400 would break the notional limit)
        assert k.execution.orders[sell2].status is S.FILLED
        await v.close()
    run(go())
    assert abs(k.portfolio.positions["600519.SH"].quantity - 200) < 1e-9


def test_headless_akshare_venue_smoke(profile, http, capsys):
    from app.cli import main

    rc = main(["run", "--headless", "--venue", "akshare", "--symbols", "600519.SH", "--duration", "2",
               "--profile", str(profile)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "venue akshare: CONNECTED (quotes via eastmoney)" in out
    assert "'600519.SH@akshare': 1500.0" in out


def test_kestrel_data_download_stores_a_shares_daily_bars_and_knows_the_non_trading_days(tmp_path, http, capsys):
    """`kestrel data download --venue akshare`: the daily bars land in the bar store at 00:00 exchange time;
    the days around them the exchange did not trade are marked, so the series has no gaps and a second run
    asks for nothing; a minute timeframe is refused saying why."""
    from app.cli.main import main
    from app.engine.data.bar_store import BarStore

    profile = tmp_path / "profile"
    args = ["data", "download", "--venue", "akshare", "--symbols", "600519.SH", "--timeframe", "1d",
            "--since", "2024-01-01T00:00+08:00", "--until", "2024-01-10T00:00+08:00", "--profile", str(profile)]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "600519.SH 1d on akshare: 3 bars stored" in first.out and "via eastmoney" in first.err
    store = BarStore(profile)
    bars = store.read("akshare", "600519.SH", 86_400_000)
    assert bars.ts.tolist() == [at(2024, 1, 2, 0, 0), at(2024, 1, 3, 0, 0), at(2024, 1, 4, 0, 0)]
    assert bars.column("close").tolist() == [1685.01, 1694.0, 1669.0]
    assert store.gaps("akshare", "600519.SH", 86_400_000) == []
    assert store.gaps("akshare", "600519.SH", 86_400_000, at(2024, 1, 1, 0, 0), at(2024, 1, 10, 0, 0)) == []
    calls = len(http.calls)
    assert main(args) == 0 and "0 bars stored (0 missing range(s)" in capsys.readouterr().out
    assert len(http.calls) == calls  # nothing was missing: akshare was not asked again
    assert main(args[:7] + ["1m"] + args[8:]) == 2
    assert "akshare downloads are daily bars" in capsys.readouterr().err


def test_a_daily_chart_of_an_a_share_gets_akshares_daily_bars_up_to_yesterday(ashare_kernel, http):
    """The window's history of an A-share at a longer timeframe (``MarketHistory.open(symbol, 1d)``, what a
    daily chart asks for): akshare's daily bars at 00:00 exchange time, stored, and not today's, which is
    still trading at 10:00."""
    from app.engine.data.bar_store import BarStore

    k, day = ashare_kernel, 86_400_000
    assert k.history.sources() == ["akshare"]
    assert k.history.open("600519.SH", day)

    async def wait() -> None:
        def loaded() -> bool:
            k.history.poll()
            return k.history.status("600519.SH", day).state != "loading"
        await until(loaded, 20, "akshare's daily bars")
    run(wait())
    assert k.history.status("600519.SH", day).state == "ready", k.history.status("600519.SH", day).problem
    bars = k.history.bars("600519.SH", day)
    assert bars.ts.tolist() == [at(2024, 1, 2, 0, 0), at(2024, 1, 3, 0, 0)]
    assert bars.column("close").tolist() == [1685.01, 1694.0]
    assert BarStore(k.profile).read("akshare", "600519.SH", day).ts.tolist() == bars.ts.tolist()


def test_adjusted_daily_bars_come_from_akshare_each_time_and_are_never_stored(ashare_kernel, http):
    """Forward and backward adjusted A-share daily bars (what the chart's Prices choice asks for): the sources'
    adjusted prices (the fake moves them by 0.9 and 2.0), kept apart from the unadjusted series and out of the
    bar store; a failure says which adjustment could not be had."""
    from app.engine.data.bar_store import BarStore

    k, day = ashare_kernel, 86_400_000

    def load(adjust: str) -> None:
        assert k.history.open("600519.SH", day, adjust)

        async def wait() -> None:
            def loaded() -> bool:
                k.history.poll()
                return k.history.status("600519.SH", day, adjust).state != "loading"
            await until(loaded, 20, f"{adjust} bars")
        run(wait())

    load("none")
    load("forward")
    load("backward")
    plain = k.history.bars("600519.SH", day).column("close").tolist()
    assert plain == [1685.01, 1694.0]
    assert k.history.bars("600519.SH", day, "forward").column("close").tolist() == [round(c * 0.9, 2) for c in plain]
    assert k.history.bars("600519.SH", day, "backward").column("close").tolist() == [round(c * 2.0, 2) for c in plain]
    assert [s.symbol for s in BarStore(k.profile).series()] == ["600519.SH"]
    assert BarStore(k.profile).read("akshare", "600519.SH", day).column("close").tolist() == plain
    with pytest.raises(ValueError, match="adjust"):
        k.history.open("600519.SH", None, "forward")  # the live minute bars are as traded


def test_an_a_share_daily_chart_offers_adjusted_prices_and_says_which_it_shows(ashare_kernel, http, qtbot):
    """The chart of an akshare A-share, shown: a daily chart of akshare's days; the Prices button (only on
    A-shares of a real venue) switches to forward-adjusted prices, said on the chart, and back."""
    from app.widgets.chart.widget import ChartWidget
    from tests.kit.journeys import pick_from_button_menu, pick_in_combo

    k, day = ashare_kernel, 86_400_000
    chart = ChartWidget(k.port, symbol="600519.SH")
    qtbot.addWidget(chart)
    chart.resize(900, 500)
    chart.show()

    def frames_until(cond, what: str) -> None:
        async def wait() -> None:
            def done() -> bool:
                k.history.poll()
                chart.refresh()
                return cond()
            await until(done, 20, what)
        run(wait())

    assert chart.prices_button.isVisible()
    pick_in_combo(chart.tf_box, "1d")
    frames_until(lambda: chart.series is not None and chart.series.n >= 2, "akshare's days on the chart")
    closes = dict(zip(chart.series.bars.ts.tolist(), chart.series.bars.close.tolist()))
    assert closes[at(2024, 1, 2, 0, 0)] == 1685.01 and closes[at(2024, 1, 3, 0, 0)] == 1694.0
    frames_until(lambda: chart.history_label.text() == "", "as traded: nothing to say (no older days either)")

    entries = pick_from_button_menu(qtbot, chart.prices_button, "Forward-adjusted")
    assert entries == ["As traded", "Forward-adjusted (前复权)", "Backward-adjusted (后复权)"]
    frames_until(lambda: chart.series.n >= 2 and chart.series.bars.close[0] == round(1685.01 * 0.9, 2),
                 "forward-adjusted prices")
    frames_until(lambda: chart.history_label.text() == "forward-adjusted", "the adjustment said on the chart")
    assert chart.history_label.isVisible()
    assert chart.state()["prices"] == "forward"
    pick_in_combo(chart.tf_box, "1m")
    frames_until(lambda: chart.history_label.text() == "as traded (forward-adjusted: 1d)", "intraday said")

    sim_chart = ChartWidget(k.port, symbol="BTC/USDT")  # the sim's market: no adjusted prices to choose
    qtbot.addWidget(sim_chart)
    sim_chart.show()
    assert not sim_chart.prices_button.isVisible()


def test_close_ends_a_poll_loop_that_swallowed_the_cancel(ashare_kernel, http):
    """Python 3.11's ``wait_for`` (the akshare executor's deadline) can return a result that arrives together with
    the cancel, and the poll loop went on: ``close`` waited for it forever and the venue stayed "connected"
    (the A-share journey's disable step timed out 1 run in 3). Close cancels until the loop is done."""
    async def go():
        v = make_venue(ashare_kernel)
        swallowed = []

        async def stubborn() -> None:  # what the loop did when the cancel was swallowed: carry on polling
            while True:
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    if swallowed:
                        raise
                    swallowed.append(1)  # as wait_for did once: the cancel lost, the loop goes round again
        v._task = asyncio.get_running_loop().create_task(stubborn())
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        await asyncio.wait_for(v.close(), 5)
        assert time.monotonic() - t0 < 2.0  # not only when something else gave up on it
        assert v._task.done() and swallowed and not v.connected
    run(go())


def test_headless_without_a_venue_connects_the_venues_saved_in_the_profile(profile, http, capsys):
    """Headless parity with the window: `kestrel run --headless` on a profile where the trader connected akshare
    from the Connect dialog runs akshare too (it used to run the sim alone); a disabled one stays off."""
    from app.cli import main
    from app.engine.venues.venue_config import parse_config, save_config

    save_config(profile, parse_config({"kind": "akshare", "symbols": ["600519.SH"], "quote_interval_s": 0.5}))
    rc = main(["run", "--headless", "--duration", "2", "--profile", str(profile)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "venues saved in the profile: akshare" in out
    assert "venue akshare: CONNECTED (quotes via eastmoney)" in out and "'600519.SH@akshare': 1500.0" in out
    save_config(profile, parse_config({"kind": "akshare", "symbols": ["600519.SH"], "enabled": False}))
    rc = main(["run", "--headless", "--duration", "1", "--profile", str(profile)])
    out = capsys.readouterr().out
    assert rc == 0 and "akshare" not in out, out
