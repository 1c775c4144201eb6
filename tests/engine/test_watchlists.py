"""Named watchlists on a real profile database: the default list, edits kept across a restart, new instruments
joining once, entries of venues not connected kept, and saved values that cannot be read (nothing crashes,
the person is told, the default is shown)."""
from __future__ import annotations

import pytest

from app.engine.core.instruments import InstrumentTable, default_instruments
from app.engine.core.store import Store
from app.engine.core.watchlists import SETTING, Watchlists, WatchlistError
from app.engine.venues.akshare.venue import ashare_instrument

SIM = ["BTC/USDT@sim", "ETH/USDT@sim", "600519.SH@sim"]


@pytest.fixture
def store(profile):
    s = Store(profile / "kestrel.db")
    yield s
    s.close()


@pytest.fixture
def table():
    return InstrumentTable(default_instruments())


def reopened(store, table) -> Watchlists:
    """The watchlists as a restarted terminal reads them from the same profile."""
    return Watchlists(store, table)


def test_with_nothing_saved_one_default_list_holds_the_instrument_table(store, table):
    w = Watchlists(store, table)
    assert (w.names, w.current, w.ids(), w.problem) == (["Default"], "Default", SIM, "")
    assert store.get_setting(SETTING) is None  # nothing written until a person changes a list


def test_lists_are_created_renamed_deleted_and_edited_and_kept_for_the_next_start(store, table):
    w = Watchlists(store, table)
    assert w.create("  Crypto ") == "Crypto" and w.current == "Crypto" and w.ids() == []
    assert w.add("ETH/USDT@sim") and w.add("BTC/USDT@sim") and not w.add("BTC/USDT@sim")
    w.move("BTC/USDT@sim", 0)
    assert w.ids() == ["BTC/USDT@sim", "ETH/USDT@sim"]
    assert w.remove("600519.SH@sim", "Default") and w.ids("Default") == ["BTC/USDT@sim", "ETH/USDT@sim"]
    w.create("Scratch")
    assert w.rename("Crypto", "Coins") == "Coins" and w.names == ["Default", "Coins", "Scratch"]
    w.delete("Scratch")
    assert w.current == "Default"  # the list shown was deleted: the first one is shown
    w.select("Coins")

    again = reopened(store, table)
    assert again.names == ["Default", "Coins"] and again.current == "Coins"
    assert again.ids("Coins") == ["BTC/USDT@sim", "ETH/USDT@sim"]
    assert again.ids("Default") == ["BTC/USDT@sim", "ETH/USDT@sim"]  # 600519.SH stays removed


def test_refused_edits_say_why_and_change_nothing(store, table):
    w = Watchlists(store, table)
    with pytest.raises(WatchlistError, match="needs a name"):
        w.create("   ")
    with pytest.raises(WatchlistError, match="named Default already"):
        w.create("Default")
    with pytest.raises(WatchlistError, match="only list"):
        w.delete("Default")
    with pytest.raises(WatchlistError, match="no watchlist named 'Nope'"):
        w.add("BTC/USDT@sim", "Nope")
    assert w.names == ["Default"] and w.ids() == SIM and store.get_setting(SETTING) is None


def test_an_instrument_new_to_the_table_joins_default_once(store, table):
    w = Watchlists(store, table)
    w.remove("ETH/USDT@sim")
    table.add(ashare_instrument("000001.SZ", "akshare"))  # a venue connected, or a market subscribed
    assert w.ids() == ["BTC/USDT@sim", "600519.SH@sim", "000001.SZ@akshare"]
    w.remove("000001.SZ@akshare")
    table.add(ashare_instrument("000858.SZ", "akshare"))
    assert w.ids() == ["BTC/USDT@sim", "600519.SH@sim", "000858.SZ@akshare"]  # the removed one stays removed

    grown = InstrumentTable([*default_instruments(), ashare_instrument("000001.SZ", "akshare")])
    assert reopened(store, grown).ids() == ["BTC/USDT@sim", "600519.SH@sim", "000858.SZ@akshare"]


def test_entries_of_a_venue_not_connected_are_kept_and_shown_unavailable(store, table):
    w = Watchlists(store, table)
    w.add("SOL/USDT@binance")
    row = w.rows()[-1]
    assert (row.id, row.symbol, row.venue, row.available, row.key) == ("SOL/USDT@binance", "SOL/USDT",
                                                                      "binance", False, None)
    again = reopened(store, table)  # restarted without binance: kept, not dropped
    assert again.ids()[-1] == "SOL/USDT@binance" and not again.rows()[-1].available

    from app.engine.core.instruments import Instrument

    sol = Instrument("SOL/USDT", "binance", "SOL", "USDT", 0.01, 0.001, 0.001, 1e6)
    table.add(sol)  # binance connected
    row = again.rows()[-1]
    assert row.available and row.instrument is sol and row.key == "SOL/USDT@binance"
    assert again.ids().count("SOL/USDT@binance") == 1  # not added a second time by joining the table


@pytest.mark.parametrize("saved, why", [
    ("garbage", "a str is not a set of lists"),
    (42, "a int is not a set of lists"),
    ([["Default", ["BTC/USDT@sim"]]], "a list is not a set of lists"),
    ({"lists": {}}, "it holds no list"),
])
def test_a_saved_value_that_cannot_be_read_falls_back_to_the_default(store, table, saved, why):
    store.set_setting(SETTING, saved)
    w = Watchlists(store, table)
    assert w.names == ["Default"] and w.ids() == SIM
    assert w.problem.startswith("The saved watchlists could not be read: " + why), w.problem
    assert store.get_setting(SETTING) == saved  # left for a person to look at until they change a list
    w.create("Fresh")
    assert reopened(store, table).names == ["Default", "Fresh"]


def test_a_settings_row_that_is_not_json_is_reported_not_raised(store, table):
    store.conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (SETTING, "{not json"))
    w = Watchlists(store, table)
    assert "could not be read: it is not readable" in w.problem and w.ids() == SIM


def test_what_can_be_read_of_a_damaged_value_is_kept(store, table):
    store.set_setting(SETTING, {"lists": {"Mine": ["ETH/USDT@sim", 7, "", "SOL/USDT@okx"], "Bad": "x",
                                          "": ["BTC/USDT@sim"]}, "current": "Gone", "seen": "?"})
    w = Watchlists(store, table)
    assert w.names == ["Mine"] and w.current == "Mine" and w.ids() == ["ETH/USDT@sim", "SOL/USDT@okx"]
    assert "left out" in w.problem and "2 entries of Mine" in w.problem and "list 'Bad'" in w.problem


def test_the_migrations_bare_form_is_read(store, table):
    store.set_setting(SETTING, {"Default": ["ETH/USDT@sim"], "Crypto": ["BTC/USDT@sim", "BTC/USDT@binance"]})
    w = Watchlists(store, table)
    assert w.names == ["Default", "Crypto"] and w.current == "Default" and w.problem == ""
    # a table instrument no list holds joins Default (nobody removed it); one in another list does not
    assert w.ids() == ["ETH/USDT@sim", "600519.SH@sim"]
    assert w.ids("Crypto") == ["BTC/USDT@sim", "BTC/USDT@binance"]


def test_a_bare_symbol_saved_before_ids_resolves_when_one_venue_lists_it(store, table):
    from app.engine.core.instruments import Instrument

    store.set_setting(SETTING, {"Mine": ["SOL/USDT"]})
    w = Watchlists(store, table)
    (row,) = w.rows("Mine")
    assert (row.id, row.available) == ("SOL/USDT", False)  # no venue lists it yet: kept as saved
    table.add(Instrument("SOL/USDT", "binance", "SOL", "USDT", 0.01, 0.001, 0.001, 1e6))
    (row,) = w.rows("Mine")
    assert row.available and row.key == "SOL/USDT@binance" and row.instrument.venue == "binance"
