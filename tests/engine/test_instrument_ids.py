"""Instrument ids (issue 19, step 2 of docs/design/issue19-instrument-ids-and-paper.md): ``symbol@venue``, split
on the last ``@``, and the table that finds an instrument by id or by a bare symbol only one venue lists."""
from __future__ import annotations

import dataclasses

import pytest

from app.engine.core.instruments import (
    AmbiguousSymbol, Instrument, InstrumentTable, ashare_instrument, default_instruments, make_id, split_id,
)


def binance(symbol: str = "BTC/USDT") -> Instrument:
    return Instrument(symbol, "binance", symbol.split("/")[0], "USDT", 0.01, 1e-05, 1e-05, 9000.0)


def test_an_id_names_the_venue_and_splits_on_the_last_at():
    assert binance().id == "BTC/USDT@binance"
    assert ashare_instrument("600519.SH", "akshare").id == "600519.SH@akshare"
    assert split_id("BTC/USDT:USDT@okx") == ("BTC/USDT:USDT", "okx")
    assert split_id("odd@name@binance") == ("odd@name", "binance")
    assert split_id("BTC/USDT") == ("BTC/USDT", None)
    assert split_id("@binance") == ("@binance", None) and split_id("BTC/USDT@") == ("BTC/USDT@", None)
    assert make_id(*split_id("ETH/USDT@sim")) == "ETH/USDT@sim"


def test_the_sims_and_binances_btc_coexist_and_a_bare_symbol_finds_only_an_unambiguous_one():
    table = InstrumentTable(default_instruments() + [binance()])
    assert table["BTC/USDT@sim"].venue == "sim" and table["BTC/USDT@binance"].venue == "binance"
    assert table["ETH/USDT"].id == "ETH/USDT@sim"  # only the sim lists it
    assert "600519.SH" in table and table.get("ETH/USDT").venue == "sim"
    with pytest.raises(AmbiguousSymbol, match="BTC/USDT@binance, BTC/USDT@sim"):
        table.resolve("BTC/USDT")
    with pytest.raises(AmbiguousSymbol):
        table.get("BTC/USDT")  # never a silent pick of one venue
    assert table.get("SOL/USDT") is None and "SOL/USDT" not in table and "BTC/USDT@okx" not in table
    with pytest.raises(KeyError):
        table["SOL/USDT@binance"]
    assert sorted(table) == sorted(i.id for i in table.values())  # keyed by id


def test_market_says_whose_data_a_paper_venue_trades_and_old_cached_rows_still_load():
    paper = dataclasses.replace(binance(), venue="binance-paper", market="binance")
    assert paper.id == "BTC/USDT@binance-paper" and paper.data_venue == "binance"
    assert binance().data_venue == "binance"
    row = dataclasses.asdict(binance())
    del row["market"]  # an instruments cache written before the field existed
    assert Instrument(**row) == binance()


def test_read_models_keyed_by_id_find_an_entry_by_a_bare_symbol_one_venue_lists():
    from dataclasses import replace

    from app.engine.core.instruments import IdKeyed, InstrumentTable, default_instruments

    table = InstrumentTable(default_instruments())
    positions = IdKeyed(table.canonical)
    positions["ETH/USDT@sim"] = "eth"
    assert positions.get("ETH/USDT") == "eth" and "ETH/USDT" in positions and positions["ETH/USDT"] == "eth"
    assert positions.get("BTC/USDT@sim") is None and positions.get("BTC/USDT", "none") == "none"
    assert positions.key_of("BTC/USDT") == "BTC/USDT@sim"  # where a new entry goes
    table.add(replace(table["ETH/USDT"], venue="binance"))  # two venues list it now: a bare symbol finds none
    assert positions.get("ETH/USDT") is None and positions.get("ETH/USDT@sim") == "eth"
