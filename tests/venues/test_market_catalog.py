"""The market catalog and the symbol search over every running venue's markets (the sim's, the fake Binance's
through real ccxt, the fake akshare's A-share list through akshare's own code), and ``SubscribeMarket``: a
market found there becomes streamed and tradeable, and stays in the venue's saved symbols."""
from __future__ import annotations

import json
import statistics
import time

import pytest

from app.engine.core.instruments import Instrument
from app.engine.core.messages import BookSnapshot, CommandDone, CommandRefused, TradeTick
from app.engine.venues.catalog import Market, MarketCatalog
from app.engine.venues.events import SubscribeMarket
from tests.kit.venues import Session, make_fake, run
from tests.kit.wait import until
from tests.venues.fake_akshare import FakeAkshareHTTP


class Listed:
    """A venue adapter that lists ``markets`` (the catalog's only need of one)."""

    def __init__(self, markets: list[Market], version: object = 1) -> None:
        self._markets, self.markets_version = markets, version

    def markets(self) -> list[Market]:
        return self._markets

    def instruments(self) -> list[Instrument]:
        return []


def key(kernel, symbol: str, venue: str) -> str:
    """The instrument table's key of ``symbol`` on ``venue``: what bus messages and views carry for it (its id
    where the table is keyed by id)."""
    return next(k for k, i in kernel.instruments.items() if (i.symbol, i.venue) == (symbol, venue))


def found(catalog: MarketCatalog, text: str, **kw) -> list[str]:
    return [m.id for m in catalog.search(text, **kw)]


# ------------------------------------------------------------------------------------------- ranking
def test_search_ranks_the_symbol_then_its_base_then_prefixes_then_substrings():
    markets = [Market("x", s, b, q, t) for s, b, q, t in [
        ("WBTC/USDT", "WBTC", "USDT", "spot"), ("BTC/USDT:USDT", "BTC", "USDT", "swap"),
        ("BTCDOM/USDT", "BTCDOM", "USDT", "spot"), ("BTC/USDT", "BTC", "USDT", "spot"),
        ("ETH/BTC", "ETH", "BTC", "spot"), ("BTC/EUR", "BTC", "EUR", "spot"),
        ("ETH/USDT", "ETH", "USDT", "spot")]]
    catalog = MarketCatalog({"x": Listed(markets)}, {})

    assert found(catalog, "btc/usdt")[0] == "BTC/USDT@x"  # the symbol itself, whatever the case
    assert found(catalog, "btcusdt")[0] == "BTC/USDT@x"  # typed without the slash
    # the base itself (spot before the swap, shorter first), then a prefix, then a substring anywhere
    assert found(catalog, "BTC") == ["BTC/EUR@x", "BTC/USDT@x", "BTC/USDT:USDT@x", "BTCDOM/USDT@x",
                                     "ETH/BTC@x", "WBTC/USDT@x"]
    assert found(catalog, "btc", limit=2) == ["BTC/EUR@x", "BTC/USDT@x"]
    assert found(catalog, "eur") == ["BTC/EUR@x"]  # the quote
    assert found(catalog, "doge") == [] and found(catalog, "   ") == []


def test_search_by_venue_and_inactive_markets_last():
    catalog = MarketCatalog({
        "a": Listed([Market("a", "SOL/USDT", "SOL", "USDT", active=False),
                     Market("a", "SOL/BTC", "SOL", "BTC")]),
        "b": Listed([Market("b", "SOL/USDT", "SOL", "USDT")]),
    }, {})
    assert found(catalog, "sol") == ["SOL/BTC@a", "SOL/USDT@b", "SOL/USDT@a"]
    assert found(catalog, "sol", venue="b") == ["SOL/USDT@b"]
    assert found(catalog, "sol/usdt@a") == ["SOL/USDT@a"]  # an id: that venue's market only
    assert catalog.get("SOL/USDT@b").base == "SOL" and catalog.get("SOL/USDT@c") is None


def test_the_index_follows_a_venue_whose_markets_changed():
    venue = Listed([Market("a", "SOL/USDT", "SOL", "USDT")])
    venues = {"a": venue}
    catalog = MarketCatalog(venues, {})
    assert found(catalog, "ada") == []
    venue._markets, venue.markets_version = venue._markets + [Market("a", "ADA/USDT", "ADA", "USDT")], 2
    assert found(catalog, "ada") == ["ADA/USDT@a"]
    del venues["a"]  # disconnected: its markets are not offered
    assert found(catalog, "sol") == []


def test_search_over_3000_markets_takes_under_5_ms():
    rng = __import__("random").Random(7)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    markets = []
    for i in range(3000):
        base = "".join(rng.choice(letters) for _ in range(rng.randint(2, 6)))
        quote = rng.choice(["USDT", "USDC", "BTC", "ETH", "EUR"])
        kind = rng.choice(["spot", "spot", "swap", "future"])
        sym = f"{base}/{quote}" + (f":{quote}" if kind != "spot" else "")
        markets.append(Market(f"v{i % 3}", sym, base, quote, kind, f"{base.title()} coin {i}"))
    venues = {f"v{k}": Listed([m for m in markets if m.venue == f"v{k}"]) for k in range(3)}
    catalog = MarketCatalog(venues, {})
    catalog.search("warm the index")
    queries = ["btc", "usdt", "a", "xy", "coin 12", "zzzz", "ab/usdt", "e"] * 10
    times = []
    for q in queries:
        t0 = time.perf_counter()
        catalog.search(q)
        times.append(time.perf_counter() - t0)
    assert len(catalog.search("usdt")) == 200  # limited
    assert statistics.median(times) < 0.005 and max(times) < 0.05, (statistics.median(times), max(times))


# ------------------------------------------------------------------------------------------- the sim
def test_the_sims_markets_are_searchable_through_the_port(make_kernel):
    kernel = make_kernel()
    markets = kernel.port.markets
    assert [m.id for m in markets.search("eth")] == ["ETH/USDT@sim"]
    (btc,) = markets.search("BTC/USDT")
    assert (btc.base, btc.quote, btc.type) == ("BTC", "USDT", "spot") and markets.subscribed(btc)
    (moutai,) = markets.search("600519")
    assert moutai.type == "equity" and moutai.id == "600519.SH@sim"
    done = kernel.port.send(SubscribeMarket("sim", "ETH/USDT"))  # subscribed already: nothing changes
    assert isinstance(done, CommandDone) and done.detail == "ETH/USDT@sim"
    refused = kernel.port.send(SubscribeMarket("sim", "DOGE/USDT"))
    assert isinstance(refused, CommandRefused) and refused.reason == "sim does not list DOGE/USDT"
    refused = kernel.port.send(SubscribeMarket("okx", "BTC/USDT"))
    assert isinstance(refused, CommandRefused) and "okx is not connected" in refused.reason


# ------------------------------------------------------------------------------------------- ccxt
def test_a_ccxt_venues_whole_market_list_is_searched_and_a_market_found_is_subscribed(profile):
    from app.engine.venues.venue_config import config_path, save_config

    async def go():
        fake = await make_fake(symbols=("SOL/USDT", "XRP/USDT", "ADA/USDT")).start()
        s = await Session(profile, fake, symbols=["SOL/USDT"]).start()
        try:
            save_config(profile, s.venue.config)  # as the Connect dialog saved it
            markets = s.kernel.port.markets
            (xrp,) = markets.search("xrp")
            assert (xrp.id, xrp.base, xrp.quote, xrp.type, xrp.active) == ("XRP/USDT@binance", "XRP", "USDT",
                                                                          "spot", True)
            assert not markets.subscribed(xrp) and "XRP/USDT" not in s.kernel.instruments
            assert [m.id for m in markets.search("usdt", venue="binance")] == [
                "ADA/USDT@binance", "SOL/USDT@binance", "XRP/USDT@binance"]

            done = s.kernel.port.send(SubscribeMarket("binance", "XRP/USDT"))
            assert isinstance(done, CommandDone) and done.detail == "XRP/USDT@binance", done
            inst = s.kernel.instruments["XRP/USDT"]
            assert (inst.venue, inst.tick_size) == ("binance", 0.01) and markets.subscribed(xrp)
            xrp_key = key(s.kernel, "XRP/USDT", "binance")
            await until(lambda: any(b.symbol == xrp_key for b in s.of(BookSnapshot))
                        and any(t.symbol == xrp_key for t in s.of(TradeTick)), 5, "XRP/USDT streamed")
            saved = json.loads(config_path(profile, "binance").read_text())
            assert saved["symbols"] == ["SOL/USDT", "XRP/USDT"] and s.venue.config.symbols == saved["symbols"]
            cached = json.loads((profile / "venues" / "binance.instruments.json").read_text())
            assert sorted(r["symbol"] for r in cached) == ["SOL/USDT", "XRP/USDT"]

            refused = s.kernel.port.send(SubscribeMarket("binance", "DOGE/USDT"))
            assert isinstance(refused, CommandRefused) and refused.reason == "binance does not list DOGE/USDT"
        finally:
            await s.close()
            await fake.stop()
    run(go())


# ------------------------------------------------------------------------------------------- akshare
@pytest.fixture
def http(monkeypatch):
    fake = FakeAkshareHTTP().install(monkeypatch)
    yield fake
    fake.release_hangs()


def akshare_venue(kernel, **kw):
    from app.engine.venues.akshare.client import AkshareCache, AkshareClient
    from app.engine.venues.akshare.venue import AkshareVenue
    from app.engine.venues.executor import DeadlineExecutor

    client = AkshareClient(AkshareCache(kernel.store.conn), DeadlineExecutor(workers=2, max_stuck=2),
                           deadline_s=2.0, ban_base_s=0.2, ban_cap_s=1.0, list_deadline_s=5.0)
    venue = AkshareVenue(["600519.SH"], kernel.execution.on_report, kernel.bus.publish, client=client,
                         now_ms=kernel.clock.now_ms, **kw)
    kernel.venues.add(venue, cache=False)
    return venue


def test_a_shares_are_found_by_chinese_name_code_and_prefix(make_kernel, http):
    kernel = make_kernel()

    async def go():
        v = akshare_venue(kernel)
        await v.client.warm()
        await v.refresh_names()
        await v.close()
        return v
    v = run(go())
    assert v.ashare_names["600519.SH"] == "贵州茅台" and v.ashare_names["430047.BJ"] == "诺思兰德"
    assert ("eastmoney", "/api/qt/clist/get") in http.calls
    markets = kernel.port.markets
    # the sim's 600519.SH is named from akshare's list too
    assert [(m.id, m.name) for m in markets.search("茅台")] == [("600519.SH@akshare", "贵州茅台"),
                                                               ("600519.SH@sim", "贵州茅台")]
    assert [m.name for m in markets.search("平安")] == ["平安银行", "中国平安"]
    assert [m.id for m in markets.search("300750")] == ["300750.SZ@akshare"]
    assert [m.id for m in markets.search("60", venue="akshare")] == ["600519.SH@akshare", "601318.SH@akshare"]
    (star,) = markets.search("中芯")
    assert (star.symbol, star.base, star.quote, star.type) == ("688981.SH", "688981", "CNY", "equity")


def test_an_a_share_found_is_subscribed_and_quoted(make_kernel, http):
    kernel = make_kernel()
    seen = []
    kernel.bus.subscribe(BookSnapshot, seen.append)

    async def go():
        v = akshare_venue(kernel)
        await v.client.warm()
        await v.refresh_names()
        refused = kernel.port.send(SubscribeMarket("akshare", "000999.SZ"))
        assert isinstance(refused, CommandRefused) and "akshare does not list 000999.SZ" in refused.reason
        refused = kernel.port.send(SubscribeMarket("akshare", "BTC/USDT"))
        assert isinstance(refused, CommandRefused) and "not an A-share code" in refused.reason
        done = kernel.port.send(SubscribeMarket("akshare", "000858.SZ"))
        assert isinstance(done, CommandDone) and done.detail == "000858.SZ@akshare"
        assert v.symbols == ["600519.SH", "000858.SZ"]
        await v.poll_once("000858.SZ")
        await v.close()
    run(go())
    inst = kernel.instruments["000858.SZ"]
    assert (inst.venue, inst.rules, inst.lot_size) == ("akshare", "ashare", 100.0)
    assert any(b.symbol == key(kernel, "000858.SZ", "akshare") for b in seen)


def test_the_a_share_list_is_cached_and_a_failed_fetch_keeps_it(make_kernel, http):
    kernel = make_kernel()

    async def go():
        v = akshare_venue(kernel)
        await v.client.warm()
        await v.refresh_names()
        await v.close()
        fetched = sum(1 for c in http.calls if c[1] == "/api/qt/clist/get")
        # another start on the same profile: the list is there at once, and a day-fresh one is not fetched
        kernel.venues.venues.pop("akshare")
        again = akshare_venue(kernel)
        assert again.ashare_names == v.ashare_names
        await again.refresh_names()
        assert sum(1 for c in http.calls if c[1] == "/api/qt/clist/get") == fetched
        # a day old and eastmoney answering garbage: the cached list is kept, and why is said
        http.mode["eastmoney"] = "garbage"
        await again.refresh_names(max_age_ms=0)
        assert again.ashare_names == v.ashare_names and "cached" in again.names_problem
        await again.close()
    run(go())


def test_no_list_at_all_leaves_the_subscribed_symbols_searchable(make_kernel, http):
    kernel = make_kernel()
    http.mode["eastmoney"] = "garbage"

    async def go():
        v = akshare_venue(kernel)
        await v.client.warm()
        await v.refresh_names()
        await v.close()
        return v
    v = run(go())
    assert v.ashare_names == {} and "could not be fetched" in v.names_problem
    assert [m.id for m in kernel.port.markets.search("600519", venue="akshare")] == ["600519.SH@akshare"]
