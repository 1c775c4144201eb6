"""A real venue's history in the running terminal (``MarketHistory``), against the fake Binance on 127.0.0.1:
the store's bars at once, the venue's candles topped up in the background, older pages, offline "as of",
closed live bars stored, Strategy.history() from the store, and the Data dialog's downloads."""
from __future__ import annotations

import numpy as np

from app.engine.core.messages import Bar, VenueStatus
from app.engine.data.bar_store import BarStore
from app.engine.data.bars import Bars
from app.engine.venues.market_history import PAGE
from tests.kit.venues import run, running
from tests.kit.wait import until

TF = 60_000
SYM = "BTC/USDT"  # the venue's symbol: what the exchange and the bar store know
ID = "BTC/USDT@binance"  # the instrument: what the kernel, the bus and the chart name


def _candles(fake, start: int, end: int) -> Bars:
    rows = fake.candles(SYM, "1m", start, end)
    cols = list(zip(*rows))
    return Bars.from_arrays([int(t) for t in cols[0]], *([float(x) for x in cols[i]] for i in range(1, 6)),
                            timeframe_ms=TF, symbol=SYM)


def _forming(now_ms: int) -> int:
    return now_ms - now_ms % TF


def test_opening_a_symbol_puts_the_venues_candles_under_the_live_bars_and_stores_them(profile):
    async def go():
        async with running(profile, stream="poll") as s:
            fake = s.fake
            k = s.kernel
            assert k.history.open(ID)
            await until(lambda: k.history.status(ID).state == "ready", 15, "the history loaded")
            until_ts = _forming(k.clock.now_ms())
            want = _candles(fake, until_ts - PAGE * TF, until_ts)
            series = k.bars.get(ID)
            held = series.ts[series.ts < want.ts[-1] + 1]
            assert len(held) >= PAGE - 1  # a page of the venue's candles now under the live bars
            got_close = dict(zip(series.ts.tolist(), series.close.tolist()))
            for t, c in zip(want.ts.tolist()[:-1], want.close.tolist()[:-1]):  # the last may have closed live
                assert got_close[t] == c
            assert np.all(np.diff(series.ts) > 0)
            stored = BarStore(profile).read("binance", SYM, TF)
            assert stored.ts.tolist()[: PAGE - 1] == want.ts.tolist()[: PAGE - 1]
            asked = len(fake.kline_requests)
            assert not k.history.open(ID) or k.history.status(ID).state == "ready"
            assert len(fake.kline_requests) == asked  # once per session
    run(go(), timeout=60)


def test_scrolling_back_loads_the_page_before_the_oldest_bar(profile):
    async def go():
        async with running(profile, stream="poll") as s:
            fake = s.fake
            k = s.kernel
            k.history.open(ID)
            await until(lambda: k.history.status(ID).state == "ready", 15, "the history loaded")
            first = int(k.bars.get(ID).ts[0])
            assert k.history.older(ID)
            await until(lambda: not k.history.status(ID).older_loading, 15, "the older page")
            series = k.bars.get(ID)
            assert int(series.ts[0]) == first - PAGE * TF
            want = _candles(fake, first - PAGE * TF, first)
            assert series.ts[:PAGE].tolist() == want.ts.tolist()
            assert series.close[:PAGE].tolist() == want.close.tolist()
    run(go(), timeout=60)


def test_offline_the_stored_bars_are_shown_as_of_their_time_and_the_reason_is_said(profile):
    async def go():
        async with running(profile, stream="poll") as s:
            fake = s.fake
            k = s.kernel
            now = _forming(k.clock.now_ms())
            stored = _candles(fake, now - 300 * TF, now - 100 * TF)  # the last 100 minutes not stored
            BarStore(profile).write("binance", SYM, TF, stored)
            fake.fault("GET /api/v3/klines", "not_found", 50)  # the venue refuses every candle request
            k.history.open(ID)
            await until(lambda: k.history.status(ID).state == "offline", 20, "the refresh to fail")
            st = k.history.status(ID)
            assert st.as_of == int(stored.ts[-1]) + TF
            assert "could not be refreshed from binance" in st.problem
            series = k.bars.get(ID)
            assert set(stored.ts.tolist()) <= set(series.ts.tolist())  # what is stored is shown
            fake.reset_faults()
            assert k.history.open(ID)  # opening again retries
            await until(lambda: k.history.status(ID).state == "ready", 20, "the retry")
            assert k.history.status(ID).as_of is None and not k.history.status(ID).problem
    run(go(), timeout=60)


def test_closed_live_bars_are_stored_but_not_one_the_feed_saw_only_part_of(profile):
    async def go():
        async with running(profile, stream="poll") as s:
            k = s.kernel
            base = _forming(k.clock.now_ms()) - 10 * TF

            def bar(i: int) -> Bar:
                return Bar(ID, TF, base + i * TF, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.0, True)
            for i in range(3):  # the first began before the terminal listened: partial
                k.bus.publish(bar(i))
            k.bus.publish(VenueStatus("binance", False, "connection lost", k.clock.now_ms()))
            for i in range(3, 7):  # 3 and 4 straddle the outage
                k.bus.publish(bar(i))
            store = BarStore(profile)
            await until(lambda: store.info("binance", SYM, TF) is not None
                        and store.info("binance", SYM, TF).bars == 4, 10, "the live bars stored")
            got = store.read("binance", SYM, TF)
            assert got.ts.tolist() == [base + i * TF for i in (1, 2, 5, 6)]
            assert got.close.tolist() == [100.5 + i for i in (1, 2, 5, 6)]
    run(go(), timeout=60)


def test_strategy_history_comes_from_the_store_on_a_real_venue(profile):
    async def go():
        async with running(profile, stream="poll") as s:
            fake = s.fake
            k = s.kernel
            now = _forming(k.clock.now_ms())
            stored = _candles(fake, now - 500 * TF, now)
            BarStore(profile).write("binance", SYM, TF, stored)
            got = k.bar_history(ID, 200)
            assert len(got) == 200
            closes = dict(zip(stored.ts.tolist(), stored.close.tolist()))
            assert all(closes[b.ts] == b.close for b in got if b.ts in closes)
            assert sum(b.ts in closes for b in got) >= 198  # the live minute or two are the feed's
            assert [b.ts for b in got] == sorted({b.ts for b in got})
    run(go(), timeout=60)


def test_a_download_job_reports_progress_stores_everything_and_can_be_canceled(profile):
    async def go():
        async with running(profile, stream="poll") as s:
            fake = s.fake
            k = s.kernel
            start = fake.history_start_ms + 86_400_000
            start -= start % TF
            end = start + 2_500 * TF
            job = k.history.download("binance", [SYM], TF, start, end)
            await until(lambda: job.state != "running", 20, "the download")
            assert job.state == "done", job.message
            assert job.done == job.total == 2_500
            assert "BTC/USDT 1m on binance: 2,500 bars stored" in job.message
            assert BarStore(profile).read("binance", SYM, TF, start, end).ts.tolist() == \
                _candles(fake, start, end).ts.tolist()
            fake.slow("GET /api/v3/klines", 0.3)
            job = k.history.download("binance", ["ETH/USDT"], TF, start, end)
            await until(lambda: job.done > 0, 20, "a first page")
            job.cancel()
            await until(lambda: job.state != "running", 10, "the cancel")
            assert job.state == "canceled" and "What arrived is stored" in job.message
            kept = BarStore(profile).info("binance", "ETH/USDT", TF)
            assert kept is not None and 0 < kept.bars < 2_500
    run(go(), timeout=60)


def test_a_damaged_store_is_said_on_the_chart_and_left_alone_and_strategies_start_on_live_bars(profile):
    async def go():
        async with running(profile, stream="poll") as s:
            fake = s.fake
            k = s.kernel
            now = _forming(k.clock.now_ms())
            BarStore(profile).write("binance", SYM, TF, _candles(fake, now - 300 * TF, now - 100 * TF))
            index = profile / "bars" / "index.json"
            index.write_text("{ not json")
            k.history.open(ID)
            await until(lambda: k.history.status(ID).state == "offline", 20, "the damaged store said")
            assert "index" in k.history.status(ID).problem  # names what is damaged
            assert index.read_text() == "{ not json"  # never overwritten
            assert k.bar_history(ID, 50) == [] or all(b.symbol == ID for b in k.bar_history(ID, 50))
    run(go(), timeout=60)


def test_the_data_dialog_can_download_from_a_saved_venue_that_is_not_connected(profile):
    """Candles need no connection: a venue saved in the profile but disabled is offered, as akshare is; the sim
    never is."""
    from app.engine.venues.venue_config import parse_config, save_config

    async def go():
        async with running(profile, stream="poll") as s:
            fake = s.fake
            wrong = fake.venue_config(stream="poll")
            wrong["ccxt"]["urls"] = {"api": {k: "http://127.0.0.1:9/api" for k in ("public", "private", "v1")}}
            save_config(profile, parse_config({**wrong, "name": "binance-2"}))
            assert s.kernel.history.sources() == ["akshare", "binance", "binance-2"]
            save_config(profile, parse_config({**fake.venue_config(stream="poll"), "name": "binance-2"}))
            s.kernel.bus.publish(VenueStatus("binance-2", True, "connected", s.kernel.clock.now_ms()))  # new settings
            start = fake.history_start_ms + 86_400_000
            start -= start % TF
            job = s.kernel.history.download("binance-2", [SYM], TF, start, start + 100 * TF)
            await until(lambda: job.state != "running", 20, "the download")
            assert job.state == "done" and BarStore(profile).info("binance-2", SYM, TF).bars == 100
    run(go(), timeout=60)
