"""An akshare venue saved in the profile like a ccxt one: the config says its kind, ccxt files written before
akshare could be saved still read as ccxt, and the VenueManager connects either through ConnectVenue."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import zoneinfo

import pytest

from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.venues.fake_akshare import FakeAkshareHTTP


@pytest.fixture
def sim_clock():
    """Thursday 2024-01-04 10:00 in Shanghai: the sim's 600519.SH is trading (and printing books) then."""
    from app.engine.core.clock import SimClock

    return SimClock(int(dt.datetime(2024, 1, 4, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")).timestamp()
                        * 1000))


def test_a_ccxt_config_without_kind_still_reads_as_ccxt_and_akshare_round_trips(profile):
    from app.engine.venues.venue_config import (
        AkshareVenueConfig, CcxtVenueConfig, VenueConfigError, list_configs, parse_config, save_config,
    )

    (profile / "venues").mkdir()
    (profile / "venues" / "binance.json").write_text(json.dumps({"name": "binance", "exchange": "binance",
                                                                 "symbols": ["BTC/USDT"]}))
    save_config(profile, parse_config({"kind": "akshare", "symbols": ["600519.sh", "000001.SZ"],
                                       "quote_interval_s": 5}))
    by_name = {c.name: c for c in list_configs(profile)}
    assert isinstance(by_name["binance"], CcxtVenueConfig) and by_name["binance"].kind == "ccxt"
    ak = by_name["akshare"]
    assert isinstance(ak, AkshareVenueConfig)
    assert ak.symbols == ["600519.SH", "000001.SZ"] and ak.quote_interval_s == 5.0
    with pytest.raises(VenueConfigError, match="not an A-share code: BTC/USDT"):
        parse_config({"kind": "akshare", "symbols": ["BTC/USDT"]})
    with pytest.raises(VenueConfigError, match="not a venue kind"):
        parse_config({"kind": "ibkr", "name": "x"})


def test_connect_venue_starts_akshare_beside_the_sims_instrument_of_the_same_code(make_kernel, monkeypatch):
    """600519.SH on akshare and on the sim are two instruments (600519.SH@akshare, 600519.SH@sim): connecting
    akshare adds its own, with its own books; the sim's goes on printing under its own id, never under akshare's."""
    from app.engine.core.instruments import AmbiguousSymbol
    from app.engine.core.messages import BookSnapshot
    from app.engine.venues.events import ConnectVenue, DisconnectVenue
    from app.engine.venues.venue_config import parse_config

    FakeAkshareHTTP().install(monkeypatch)
    k = make_kernel()
    assert k.instruments["600519.SH"].venue == "sim"  # one venue lists it: the bare code finds it
    books: dict[str, list] = {}
    k.bus.subscribe(BookSnapshot, lambda b: books.setdefault(b.symbol, []).append(b))
    k.sim.advance_to(k.clock.now_ms() + 60_000)
    assert books.get("600519.SH@sim"), "the sim prints its 600519.SH books"

    async def go():
        cfg = parse_config({"kind": "akshare", "symbols": ["600519.SH"], "quote_interval_s": 0.5})
        k.port.send(ConnectVenue(cfg))
        for _ in range(400):
            await asyncio.sleep(0.05)
            status = k.venue_status.get("akshare")
            if status is not None and status.connected and books.get("600519.SH@akshare"):
                break
        assert k.venue_status["akshare"].connected, k.venue_status.get("akshare")
        assert k.instruments["600519.SH@akshare"].venue == "akshare"
        assert k.instruments["600519.SH@sim"].venue == "sim"
        with pytest.raises(AmbiguousSymbol, match="600519.SH@akshare, 600519.SH@sim"):
            k.instruments["600519.SH"]  # two venues list it now: the trader must say which
        assert books.get("600519.SH@akshare"), "akshare's quotes become its instrument's books"
        sim_before = len(books["600519.SH@sim"])
        akshare_mids = {b.mid for b in books["600519.SH@akshare"]}
        k.sim.advance_to(k.clock.now_ms() + 120_000)  # the sim keeps its own market under its own id
        assert len(books["600519.SH@sim"]) > sim_before
        assert {b.mid for b in books["600519.SH@akshare"]} == akshare_mids  # no sim price under akshare's id
        k.port.send(DisconnectVenue("akshare"))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if "akshare" not in k.venues.venues:
                break
        assert "akshare" not in k.venues.venues
    asyncio.run(go())
