"""Candle history from a ccxt exchange (``app/engine/venues/ccxt/history.py``): real ccxt against the fake
Binance on 127.0.0.1, whose klines are a deterministic series (``FakeBinance.candles``) the download must
reproduce exactly: across pages, through a 429, around the exchange's own gaps, over overlapping pages,
across a dropped connection (resumed), resampled where the timeframe is not native."""
from __future__ import annotations

import time

import numpy as np
import pytest

from app.engine.data.resample import resample
from app.engine.venues.backoff import Backoff, RateGate
from app.engine.venues.ccxt.history import HistoryError, fetch_history
from tests.kit.venues import ccxt_exchange, make_fake, run
from tests.venues.fake_binance import HISTORY_START_MS

MIN = 60_000
DAY = 86_400_000
SINCE = HISTORY_START_MS + 3 * DAY + 17 * MIN  # an arbitrary, unaligned-to-the-day minute
KLINES = "GET /api/v3/klines"
FAST = {"backoff": Backoff(base_s=0.01, cap_s=0.02, floor_s=0.0)}


def expected(fake, interval: str, start: int, end: int) -> np.ndarray:
    """The fake's candles as (n, 6) floats: what ccxt parses from the same rows."""
    rows = fake.candles("BTCUSDT", interval, start, end)
    return np.array([[float(x) for x in r[:6]] for r in rows]).reshape(-1, 6)


class Pages:
    """``on_page``: keeps each page and checks that pages come in time order, each bar once."""

    def __init__(self) -> None:
        self.pages: list = []

    def __call__(self, bars) -> None:
        if self.pages and len(bars):
            assert bars.ts[0] > self.pages[-1].ts[-1], "a page overlaps the one before"
        self.pages.append(bars)

    def rows(self) -> np.ndarray:
        if not self.pages:
            return np.empty((0, 6))
        return np.column_stack([np.concatenate([b.column(c) for b in self.pages]).astype(np.float64)
                                for c in ("ts", "open", "high", "low", "close", "volume")])


async def download(fake_kw: dict | None = None, setup=None, ccxt: dict | None = None, **kw):
    """Start a fake, point ccxt at it, run ``fetch_history`` (after ``setup(fake)``); (fake, result, pages)."""
    fake = await make_fake(auto_market=False, **(fake_kw or {})).start()
    ex = await ccxt_exchange(fake, **(ccxt or {}))
    try:
        if setup is not None:
            setup(fake)
        pages = kw.pop("pages", None) or Pages()
        args = {"symbol": "BTC/USDT", "timeframe": "1m", "since_ms": SINCE, "until_ms": SINCE + 2500 * MIN}
        args.update(kw)
        result = await fetch_history(ex, args.pop("symbol"), args.pop("timeframe"), args.pop("since_ms"),
                                     args.pop("until_ms"), on_page=pages, **args)
        return fake, result, pages
    finally:
        await ex.close()
        await fake.stop()


def test_paging_over_several_pages_reproduces_the_exchange_series_exactly():
    seen = []
    fake, result, pages = run(download(page_limit=1000, progress=lambda done, total: seen.append((done, total))))
    want = expected(fake, "1m", SINCE, SINCE + 2500 * MIN)
    assert len(want) == 2500
    np.testing.assert_array_equal(pages.rows(), want)
    assert [len(p) for p in pages.pages] == [1000, 1000, 500]
    assert [int(r["startTime"]) for r in fake.kline_requests] == [SINCE, SINCE + 1000 * MIN, SINCE + 2000 * MIN]
    assert result.complete and result.bars == 2500 and result.gaps == () and result.dropped == 0
    assert result.next_since == SINCE + 2500 * MIN and result.last_ts == SINCE + 2499 * MIN
    assert pages.pages[0].timeframe_ms == MIN and pages.pages[0].symbol == "BTC/USDT"
    assert seen[-1] == (2500, 2500)


def test_the_page_size_defaults_to_the_exchanges_maximum():
    fake, result, _pages = run(download())
    assert {r["limit"] for r in fake.kline_requests} == {"1000"}
    assert result.pages == 3


def test_a_short_page_before_until_is_not_the_end():
    fake, result, pages = run(download(setup=lambda f: setattr(f, "kline_max_rows", 300), page_limit=1000))
    np.testing.assert_array_equal(pages.rows(), expected(fake, "1m", SINCE, SINCE + 2500 * MIN))
    assert result.complete and result.pages == 9  # 8 pages of 300 and one of 100


def test_429_with_retry_after_waits_at_least_that_long_then_completes_without_duplicates():
    gate = RateGate()

    def setup(fake):
        fake.fault(KLINES, "429", 1, retry_after=1, after=1)  # the second page is refused

    fake, result, pages = run(download(setup=setup, rate=gate, **FAST))
    np.testing.assert_array_equal(pages.rows(), expected(fake, "1m", SINCE, SINCE + 2500 * MIN))
    times = [t for t, route in fake.arrived if route == KLINES]
    assert len(times) == 4  # 3 pages + the refused one
    assert times[2] - times[1] >= 1.0, "asked again before the Retry-After was over"
    assert result.complete and result.rate_limited == 1 and result.waited_s == 1.0
    assert "429" in gate.reason  # the venue's gate was closed too: a live venue on this exchange waits


def test_429_without_a_gate_still_waits_the_retry_after():
    fake, result, pages = run(download(setup=lambda f: f.fault(KLINES, "429", 1, retry_after=1, after=2), **FAST))
    times = [t for t, route in fake.arrived if route == KLINES]
    assert times[3] - times[2] >= 1.0
    assert result.complete and len(pages.rows()) == 2500


def test_rate_limit_waits_are_bounded():
    _fake, result, _pages = run(download(setup=lambda f: f.fault(KLINES, "429", 10, retry_after=0.05, after=1),
                                       max_rate_waits=2, **FAST))
    assert not result.complete and result.bars == 1000 and result.next_since == SINCE + 1000 * MIN
    assert "rate limit exceeded (429)" in result.stopped and "gave up after 2 waits" in result.stopped


def test_an_exchange_gap_is_reported_and_nothing_is_invented():
    a, b = SINCE + 900 * MIN, SINCE + 2400 * MIN  # longer than a page, across page boundaries
    fake, result, pages = run(download(setup=lambda f: f.kline_gap(a, b), until_ms=SINCE + 3000 * MIN))
    got = pages.rows()
    np.testing.assert_array_equal(got, expected(fake, "1m", SINCE, SINCE + 3000 * MIN))
    assert not np.any((got[:, 0] >= a) & (got[:, 0] < b))
    assert len(got) == 1500
    assert result.gaps == ((a, b),)
    assert result.complete


def test_overlapping_pages_and_repeated_bars_are_deduplicated():
    def setup(fake):
        fake.kline_overlap = 5  # 5 bars before startTime (ccxt's binance drops these itself)
        fake.kline_repeat = 3  # the last 3 bars of each page sent again

    fake, result, pages = run(download(setup=setup))
    np.testing.assert_array_equal(pages.rows(), expected(fake, "1m", SINCE, SINCE + 2500 * MIN))
    assert result.dropped >= 3  # the last page's repeats (ccxt cuts a full page to the limit itself)
    assert result.gaps == () and result.complete


def test_a_connection_dropped_half_way_resumes_from_where_it_stopped():
    async def scenario():
        fake = await make_fake(auto_market=False).start()
        ex = await ccxt_exchange(fake)
        try:
            until = SINCE + 3500 * MIN
            fake.fault(KLINES, "drop", 10, after=2)  # the third page never answers, however often asked
            first = Pages()
            r1 = await fetch_history(ex, "BTC/USDT", "1m", SINCE, until, on_page=first, max_retries=3, **FAST)
            fake.reset_faults()
            second = Pages()
            r2 = await fetch_history(ex, "BTC/USDT", "1m", SINCE, until, on_page=second,
                                     resume_from=r1.next_since, **FAST)
            return fake, r1, first, r2, second
        finally:
            await ex.close()
            await fake.stop()

    fake, r1, first, r2, second = run(scenario())
    assert not r1.complete and r1.bars == 2000 and r1.retries == 4
    assert r1.next_since == SINCE + 2000 * MIN
    assert "network" in r1.stopped.lower() or "unreachable" in r1.stopped.lower()
    assert r2.complete and r2.start_ms == r1.next_since and r2.bars == 1500
    both = np.concatenate([first.rows(), second.rows()])
    np.testing.assert_array_equal(both, expected(fake, "1m", SINCE, SINCE + 3500 * MIN))


def test_a_few_5xx_are_retried_within_one_call():
    fake, result, pages = run(download(setup=lambda f: f.fault(KLINES, "5xx", 2, after=1), **FAST))
    np.testing.assert_array_equal(pages.rows(), expected(fake, "1m", SINCE, SINCE + 2500 * MIN))
    assert result.complete and result.retries == 2


def test_a_timeframe_the_exchange_does_not_serve_is_resampled_and_said():
    until = SINCE + 3000 * MIN
    fake, result, pages = run(download(timeframe="10m", until_ms=until))
    assert result.fetched_timeframe == "5m" and result.resampled
    assert "10m" in result.note and "5m" in result.note
    assert {r["interval"] for r in fake.kline_requests} == {"5m"}
    start = -(-SINCE // (10 * MIN)) * (10 * MIN)
    base = expected(fake, "5m", start, until)
    want = np.column_stack(resample(*(base[:, i] for i in range(6)), 10 * MIN))
    got = pages.rows()
    np.testing.assert_array_equal(got, want)
    assert len(got) == -(-(until - start) // (10 * MIN))  # the last bar opens before until: whole, as native
    assert all(p.timeframe_ms == 10 * MIN for p in pages.pages)


def test_a_native_timeframe_is_asked_as_is():
    fake, result, pages = run(download(timeframe="1h", since_ms=SINCE, until_ms=SINCE + 1200 * 60 * MIN))
    assert result.fetched_timeframe == "1h" and not result.resampled and result.note == ""
    np.testing.assert_array_equal(pages.rows(), expected(fake, "1h", SINCE, SINCE + 1200 * 60 * MIN))


def test_the_forming_candle_is_left_out_unless_asked_for():
    now = time.time() * 1000
    since = int(now // DAY * DAY - 10 * DAY)
    _fake, result, pages = run(download(timeframe="1d", since_ms=since, until_ms=None))
    closed = pages.rows()
    today = int(time.time() * 1000 // DAY * DAY)
    assert closed[-1, 0] + DAY <= time.time() * 1000
    assert closed[-1, 0] in (today - DAY, today - 2 * DAY)  # (a midnight during the test moves "today")
    assert result.complete
    _fake, result, pages = run(download(timeframe="1d", since_ms=since, until_ms=None, include_forming=True))
    assert pages.rows()[-1, 0] + DAY > time.time() * 1000 - 60_000  # today's bar, still forming


def test_an_unknown_symbol_gives_a_clear_error():
    with pytest.raises(HistoryError, match=r"does not list 'BTC/USDX'.*Did you mean BTC/USDT"):
        run(download(symbol="BTC/USDX"))


def test_a_timeframe_nothing_can_build_gives_a_clear_error():
    with pytest.raises(HistoryError, match="7x"):
        run(download(timeframe="7x"))


def test_a_refusal_mid_download_raises_and_says_how_far_it_got():
    async def scenario():
        fake = await make_fake(auto_market=False).start()
        ex = await ccxt_exchange(fake)
        pages = Pages()

        def on_page(bars):
            pages(bars)
            fake.fail_next(KLINES, 400, -1121, "Invalid symbol.")  # the exchange delists it mid-download

        try:
            with pytest.raises(HistoryError) as info:
                await fetch_history(ex, "BTC/USDT", "1m", SINCE, SINCE + 2500 * MIN, on_page=on_page, **FAST)
            return info.value, pages, fake
        finally:
            await ex.close()
            await fake.stop()

    error, _pages, fake = run(scenario())
    assert "does not list this symbol" in str(error) and "Invalid symbol" in str(error)
    assert error.result is not None and not error.result.complete
    assert error.result.bars == 1000 and error.result.next_since == SINCE + 1000 * MIN
    assert fake.served[KLINES] == 2  # a refusal is not retried


def test_a_resampled_download_interrupted_resumes_on_a_whole_bar():
    async def scenario():
        fake = await make_fake(auto_market=False).start()
        ex = await ccxt_exchange(fake)
        try:
            until = SINCE + 7000 * MIN
            fake.fault(KLINES, "5xx", 10, after=1)
            first = Pages()
            r1 = await fetch_history(ex, "BTC/USDT", "10m", SINCE, until, on_page=first, max_retries=1,
                                     page_limit=999, **FAST)  # 999 5m candles: the page ends half-way a 10m bar
            fake.reset_faults()
            second = Pages()
            r2 = await fetch_history(ex, "BTC/USDT", "10m", SINCE, until, on_page=second,
                                     resume_from=r1.next_since, page_limit=999, **FAST)
            return fake, r1, first, r2, second
        finally:
            await ex.close()
            await fake.stop()

    fake, r1, first, r2, second = run(scenario())
    start = -(-SINCE // (10 * MIN)) * (10 * MIN)
    until = SINCE + 7000 * MIN
    # the unfinished 10m bar at the end of the first page was held back, and the resume starts on it
    assert not r1.complete and r1.next_since % (10 * MIN) == 0 and r1.next_since == first.rows()[-1, 0] + 10 * MIN
    assert r2.complete and r2.start_ms == r1.next_since
    base = expected(fake, "5m", start, -(-until // (10 * MIN)) * (10 * MIN))
    want = np.column_stack(resample(*(base[:, i] for i in range(6)), 10 * MIN))
    np.testing.assert_array_equal(np.concatenate([first.rows(), second.rows()]), want)
