"""The bar store on a real profile folder: exact round trips, merges, refusals, gaps, ranges, damaged files,
a writer killed mid-write and two writers at once."""
from __future__ import annotations

import json
import os
import random
import time

import numpy as np
import pytest

from app.engine.data import bar_store as bar_store_module
from app.engine.data.bar_index import safe_name
from app.engine.data.bar_store import BarStore, BarStoreError
from app.engine.data.bars import COLUMNS, Bars
from tests.kit.bar_store import MINUTE, T0, batch_bars, random_bars, start_batch_writer, start_racer

HOUR = 60 * MINUTE
DAY = 24 * HOUR
FEB_1 = 1_706_745_600_000  # 2024-02-01 00:00 UTC
MAR_1 = 1_709_251_200_000


def same(a: Bars, b: Bars) -> bool:
    """Bit for bit: the same times and the same float bits in every column."""
    return len(a) == len(b) and all(a.column(c).tobytes() == b.column(c).tobytes() for c in COLUMNS)


def columns(bars: Bars) -> dict[str, np.ndarray]:
    return {c: arr.copy() for c, arr in bars.as_dict().items()}


def files_of(profile) -> dict[str, bytes]:
    return {str(p.relative_to(profile)): p.read_bytes() for p in sorted(profile.rglob("*")) if p.is_file()
            and not p.name.endswith(".lock")}


@pytest.fixture
def store(profile) -> BarStore:
    return BarStore(profile)


# ------------------------------------------------------------------------------------------ round trips
def test_round_trip_is_exact_and_the_store_lives_in_bars_apart_from_the_journal(store, profile):
    bars = random_bars(50_000)
    bars.column("volume")[:3] = [0.0, 5e-324, 1e300]  # zero, the smallest subnormal, a huge value
    store.write("binance", "BTC/USDT", MINUTE, bars, "test")
    back = BarStore(profile).read("binance", "BTC/USDT", MINUTE)
    assert same(back, bars)
    assert back.timeframe_ms == MINUTE and back.symbol == "BTC/USDT"
    [january] = profile.rglob("2024-01.*.npy")  # a chunk opens by hand too, column by column
    assert np.load(january)["close"].tobytes() == bars.close[: 31 * 24 * 60].tobytes()
    assert {p.parts[0] for p in (q.relative_to(profile) for q in profile.rglob("*"))} == {"bars"}
    assert not (profile / "kestrel.db").exists()


def test_a_million_bars_round_trip(store):
    bars = random_bars(1_000_000, seed=3)
    store.write("binance", "BTC/USDT", MINUTE, bars, "test")
    assert same(store.read("binance", "BTC/USDT", MINUTE), bars)
    [info] = store.series()
    assert (info.first, info.last, info.bars, info.gaps) == (T0, T0 + 999_999 * MINUTE, 1_000_000, ())
    assert store.info("binance", "BTC/USDT", MINUTE) == info  # one series, as the listing has it


def test_an_unknown_series_reads_as_no_bars(store):
    assert len(store.read("binance", "ETH/USDT", MINUTE)) == 0
    assert store.series() == [] and store.gaps("binance", "ETH/USDT", MINUTE) == []
    assert store.info("binance", "ETH/USDT", MINUTE) is None


# ------------------------------------------------------------------------------------------ merging
def test_writing_the_same_bars_twice_changes_nothing(store, profile):
    bars = random_bars(100_000)
    store.write("binance", "BTC/USDT", MINUTE, bars, "test")
    store.write("binance", "BTC/USDT", MINUTE, bars, "test")
    assert same(store.read("binance", "BTC/USDT", MINUTE), bars)
    assert store.series()[0].bars == 100_000
    npy = [p for p in profile.rglob("*.npy")]
    assert len(npy) == 3  # Jan, Feb, Mar 2024: superseded chunks are removed


def test_overlapping_bars_replace_the_stored_ones(store):
    old = random_bars(1000, seed=1)
    new = random_bars(1000, start=T0 + 500 * MINUTE, seed=2)
    store.write("binance", "BTC/USDT", MINUTE, old, "test")
    store.write("binance", "BTC/USDT", MINUTE, new, "test")
    back = store.read("binance", "BTC/USDT", MINUTE)
    assert len(back) == 1500
    assert same(back.slice(0, 500), old.slice(0, 500))
    assert same(back.slice(500), new)


def test_out_of_order_input_is_sorted_and_the_later_of_two_equal_times_wins(store):
    bars = random_bars(5000)
    cols = columns(bars)
    order = np.random.default_rng(7).permutation(5000)
    shuffled = {c: arr[order] for c, arr in cols.items()}
    dup = {c: np.r_[shuffled[c], cols[c][10]] for c in COLUMNS}  # bar 10 again, changed, last
    dup["close"][-1] = dup["open"][-1] = cols["low"][10]
    store.write("binance", "BTC/USDT", MINUTE, dup, "test")
    back = store.read("binance", "BTC/USDT", MINUTE)
    assert np.array_equal(back.ts, bars.ts)
    assert back.close[10] == cols["low"][10]
    assert np.array_equal(np.delete(back.close, 10), np.delete(bars.close, 10))


@pytest.mark.parametrize("column, row, value, says", [
    ("close", 7, np.nan, "not a finite number"),
    ("high", 7, np.inf, "not a finite number"),
    ("volume", 7, np.nan, "not a finite number"),
    ("low", 7, 1e9, "high is below low"),
    ("open", 7, 1e-9, "open or close is outside"),
    ("volume", 7, -1.0, "volume is negative"),
    ("ts", 7, T0 + 7 * MINUTE + 1, "not on the 60000 ms grid"),
])
def test_a_bad_row_refuses_the_whole_write_and_names_the_row(store, profile, column, row, value, says):
    store.write("binance", "BTC/USDT", MINUTE, random_bars(10, seed=9), "test")
    before = files_of(profile)
    cols = columns(random_bars(20, start=T0 + 5 * MINUTE))
    cols[column][row] = value
    with pytest.raises(BarStoreError, match=f"row {row} \\(ts {int(cols['ts'][row])}.*{says}"):
        store.write("binance", "BTC/USDT", MINUTE, cols, "test")
    assert files_of(profile) == before


def test_a_bad_live_bar_is_refused(store):
    with pytest.raises(BarStoreError, match="high is below low"):
        store.append_bar("binance", "BTC/USDT", MINUTE, T0, 10, 9, 11, 10, 1)
    assert store.series() == []


def test_bars_from_one_hour_up_may_sit_off_the_utc_grid_as_their_first_bars_do(store):
    beijing_midnight = T0 - 8 * HOUR  # akshare stamps daily bars at midnight in Beijing
    daily = random_bars(300, timeframe_ms=DAY, start=beijing_midnight, symbol="600519.SH")
    store.write("akshare", "600519.SH", DAY, daily, "test")
    assert same(store.read("akshare", "600519.SH", DAY), daily)
    assert len(list(store.root.rglob("*.npy"))) == 2  # partitioned by year: 2023-12-31 and 2024
    with pytest.raises(BarStoreError, match="grid of the series"):
        store.append_bar("akshare", "600519.SH", DAY, T0 + 400 * DAY, 1, 1, 1, 1, 1)
    with pytest.raises(BarStoreError, match="not on the 60000 ms grid"):
        store.write("binance", "BTC/USDT", MINUTE, random_bars(5, start=T0 + 1000), "test")


# ------------------------------------------------------------------------------------------ live closes
def test_live_closes_append_without_rewriting_a_chunk_and_a_repeat_replaces_the_bar(store):
    bars = random_bars(100)
    store.write("binance", "BTC/USDT", MINUTE, bars.slice(0, 90), "test")
    chunks = sorted(p.name for p in store.root.rglob("*.npy"))
    for i in range(90, 100):
        r = bars.row(i)
        store.append_bar("binance", "BTC/USDT", MINUTE, r["ts"], r["open"], r["high"], r["low"], r["close"],
                         r["volume"])
    assert sorted(p.name for p in store.root.rglob("*.npy")) == chunks
    assert same(store.read("binance", "BTC/USDT", MINUTE), bars)
    store.append_bar("binance", "BTC/USDT", MINUTE, int(bars.ts[-1]), 1.0, 2.0, 0.5, 1.5, 7.0)
    back = store.read("binance", "BTC/USDT", MINUTE)
    assert len(back) == 100 and back.row(-1) == {"ts": int(bars.ts[-1]), "open": 1.0, "high": 2.0, "low": 0.5,
                                                  "close": 1.5, "volume": 7.0}
    assert store.series()[0].bars == 100
    assert same(store.read("binance", "BTC/USDT", MINUTE, since=T0 + 95 * MINUTE, until=T0 + 99 * MINUTE),
                bars.slice(95, 99))


def test_the_live_tail_is_folded_into_chunks(store, monkeypatch):
    monkeypatch.setattr(bar_store_module, "TAIL_FOLD", 50)
    bars = random_bars(120)
    for i in range(120):
        r = bars.row(i)
        store.append_bar("binance", "BTC/USDT", MINUTE, r["ts"], r["open"], r["high"], r["low"], r["close"],
                         r["volume"])
    tails = list(store.root.rglob("tail.*"))
    assert len(tails) == 1 and tails[0].stat().st_size == 20 * 48
    assert same(store.read("binance", "BTC/USDT", MINUTE), bars)
    store.write("binance", "BTC/USDT", MINUTE, bars.slice(0, 1), "test")
    assert not list(store.root.rglob("tail.*"))
    assert same(store.read("binance", "BTC/USDT", MINUTE), bars)


def test_a_torn_last_live_row_is_ignored_then_dropped(store):
    bars = random_bars(3)
    for i in range(2):
        r = bars.row(i)
        store.append_bar("binance", "BTC/USDT", MINUTE, r["ts"], r["open"], r["high"], r["low"], r["close"],
                         r["volume"])
    [tail] = store.root.rglob("tail.*")
    with open(tail, "ab") as fh:
        fh.write(b"\x01" * 20)  # a kill in the middle of an append
    assert same(store.read("binance", "BTC/USDT", MINUTE), bars.slice(0, 2))
    r = bars.row(2)
    store.append_bar("binance", "BTC/USDT", MINUTE, r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
    assert same(store.read("binance", "BTC/USDT", MINUTE), bars)


# ------------------------------------------------------------------------------------------ ranges
def test_since_until_is_half_open_across_chunk_boundaries(store):
    bars = random_bars(90_000)  # 2024-01-01 .. 2024-03-03: three monthly chunks
    store.write("binance", "BTC/USDT", MINUTE, bars, "test")
    ts = bars.ts
    for since, until in [(None, None), (FEB_1, None), (None, FEB_1), (FEB_1 - MINUTE, FEB_1 + MINUTE),
                         (T0 + 17 * MINUTE, MAR_1 + 5 * MINUTE), (FEB_1, MAR_1), (FEB_1 + 1, MAR_1 - 1),
                         (0, T0), (ts[-1] + MINUTE, None), (FEB_1, FEB_1)]:
        lo = -(2**62) if since is None else since
        hi = 2**62 if until is None else until
        want = np.flatnonzero((ts >= lo) & (ts < hi))
        got = store.read("binance", "BTC/USDT", MINUTE, since=since, until=until)
        assert same(got, bars.slice(want[0], want[-1] + 1) if len(want) else bars.slice(0, 0)), (since, until)


def test_delete_a_range_across_chunks_then_the_whole_series(store, profile):
    bars = random_bars(90_000)
    store.write("binance", "BTC/USDT", MINUTE, bars, "test")
    store.write("binance", "ETH/USDT", MINUTE, random_bars(10), "test")
    r = bars.row(-1)  # a live close repeating the last bar: in the tail and in a chunk, counted once
    store.append_bar("binance", "BTC/USDT", MINUTE, r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
    assert store.delete("binance", "BTC/USDT", MINUTE, since=FEB_1 - 10 * MINUTE, until=MAR_1 + 10 * MINUTE) \
        == 29 * 24 * 60 + 20
    back = store.read("binance", "BTC/USDT", MINUTE)
    keep = (bars.ts < FEB_1 - 10 * MINUTE) | (bars.ts >= MAR_1 + 10 * MINUTE)
    assert np.array_equal(back.ts, bars.ts[keep]) and np.array_equal(back.close, bars.close[keep])
    assert store.gaps("binance", "BTC/USDT", MINUTE) == [(FEB_1 - 10 * MINUTE, MAR_1 + 10 * MINUTE)]
    assert store.delete("binance", "BTC/USDT", MINUTE) == 90_000 - 29 * 24 * 60 - 20
    assert [s.symbol for s in store.series()] == ["ETH/USDT"]
    assert not (store.root / "binance" / "BTC-USDT" / "60000ms").exists()
    assert len(store.read("binance", "ETH/USDT", MINUTE)) == 10


# ------------------------------------------------------------------------------------------ gaps
def test_gaps_are_found_and_ranges_marked_empty_are_left_out(store):
    bars = random_bars(1000)
    cols = columns(bars)
    keep = np.ones(1000, bool)
    keep[100:160] = keep[500:501] = keep[700:800] = False
    store.write("binance", "BTC/USDT", MINUTE, {c: a[keep] for c, a in cols.items()}, "test")

    def at(i: int) -> int:
        return T0 + i * MINUTE

    want = [(at(100), at(160)), (at(500), at(501)), (at(700), at(800))]
    assert store.gaps("binance", "BTC/USDT", MINUTE) == want
    assert store.series()[0].gaps == tuple(want) and store.series()[0].bars == 839
    store.mark_empty("binance", "BTC/USDT", MINUTE, at(100), at(160))  # e.g. the venue was down
    store.mark_empty("binance", "BTC/USDT", MINUTE, at(720), at(750))
    assert store.gaps("binance", "BTC/USDT", MINUTE) == [(at(500), at(501)), (at(700), at(720)),
                                                          (at(750), at(800))]
    assert store.gaps("binance", "BTC/USDT", MINUTE, since=at(0) - 50 * MINUTE, until=at(1100)) == [
        (at(-50), at(0)), (at(500), at(501)), (at(700), at(720)), (at(750), at(800)), (at(1000), at(1100))]
    store.mark_empty("binance", "BTC/USDT", MINUTE, at(1000), at(5000))  # delisted after bar 999
    assert store.gaps("binance", "BTC/USDT", MINUTE, since=at(990), until=at(1100)) == []
    assert store.gaps("binance", "BTC/USDT", MINUTE, since=at(499) + 1, until=at(505)) == [(at(500), at(501))]


def test_gaps_across_chunks_and_with_live_bars(store):
    store.write("binance", "BTC/USDT", MINUTE, random_bars(10, start=FEB_1 - 10 * MINUTE), "test")
    store.write("binance", "BTC/USDT", MINUTE, random_bars(10, start=FEB_1 + 5 * MINUTE), "test")
    assert store.gaps("binance", "BTC/USDT", MINUTE) == [(FEB_1, FEB_1 + 5 * MINUTE)]
    store.append_bar("binance", "BTC/USDT", MINUTE, FEB_1 + 20 * MINUTE, 1, 1, 1, 1, 1)
    store.append_bar("binance", "BTC/USDT", MINUTE, FEB_1 + 2 * MINUTE, 1, 1, 1, 1, 1)
    assert store.gaps("binance", "BTC/USDT", MINUTE) == [(FEB_1, FEB_1 + 2 * MINUTE),
                                                          (FEB_1 + 3 * MINUTE, FEB_1 + 5 * MINUTE),
                                                          (FEB_1 + 15 * MINUTE, FEB_1 + 20 * MINUTE)]
    [info] = store.series()
    assert (info.first, info.last, info.bars) == (FEB_1 - 10 * MINUTE, FEB_1 + 20 * MINUTE, 22)
    assert store.gaps("binance", "ETH/USDT", MINUTE, since=T0 + 30_000, until=T0 + 3 * MINUTE) == \
        [(T0 + MINUTE, T0 + 3 * MINUTE)]


# ------------------------------------------------------------------------------------------ names
def test_names_become_safe_folders_and_keep_their_originals(store):
    store.write("binance", "BTC/USDT", MINUTE, random_bars(5, seed=1), "test")
    store.write("binance", "BTC-USDT", MINUTE, random_bars(5, seed=2), "test")  # the same folder name
    assert (store.root / "binance" / "BTC-USDT" / "60000ms").is_dir()
    assert [s.symbol for s in store.series()] == ["BTC-USDT", "BTC/USDT"]
    assert same(store.read("binance", "BTC/USDT", MINUTE), random_bars(5, seed=1))
    assert same(store.read("binance", "BTC-USDT", MINUTE), random_bars(5, seed=2))
    assert safe_name("600519.SH", "symbol") == "600519.SH" and safe_name("con", "venue") == "_con"


@pytest.mark.parametrize("venue, symbol", [("..", "BTC/USDT"), ("binance", "../../etc"), ("/abs", "X"),
                                           ("binance", ""), ("binance", "a\x00b"), ("binance", "a/./b")])
def test_names_that_could_leave_the_store_are_refused(store, profile, venue, symbol):
    with pytest.raises(BarStoreError, match="not allowed|non-empty"):
        store.write(venue, symbol, MINUTE, random_bars(5), "test")
    assert not [p for p in profile.rglob("*") if p.suffix in (".npy", ".json")]


# ------------------------------------------------------------------------------------------ damage
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "wrong shape", "wrong dtype", "pickle",
                                    "same size, other dtype", "times out of order"])
def test_a_damaged_chunk_is_refused_with_its_name_and_never_overwritten(store, damage):
    bars = random_bars(90_000)
    store.write("binance", "BTC/USDT", MINUTE, bars, "test")
    [feb] = store.root.rglob("2024-02.*.npy")
    data = feb.read_bytes()
    if damage == "truncated":
        feb.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        feb.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        feb.write_bytes(b"")
    elif damage == "wrong shape":
        with open(feb, "wb") as fh:
            np.save(fh, np.zeros((2, 3)))
    elif damage == "wrong dtype":
        with open(feb, "wb") as fh:
            np.save(fh, np.zeros(29 * 24 * 60))
    elif damage == "pickle":
        with open(feb, "wb") as fh:
            np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif damage == "same size, other dtype":
        with open(feb, "wb") as fh:
            np.save(fh, np.zeros(6 * 29 * 24 * 60))
        short = feb.stat().st_size  # its header is shorter: pad the data to the chunk's size
        with open(feb, "wb") as fh:
            np.save(fh, np.zeros(6 * 29 * 24 * 60 + (len(data) - short) // 8))
        assert feb.stat().st_size == len(data)
    else:
        record = np.load(feb)
        record["ts"][[5, 6]] = record["ts"][[6, 5]]
        with open(feb, "wb") as fh:
            np.save(fh, record)
    damaged = feb.read_bytes()
    for act in (lambda: store.read("binance", "BTC/USDT", MINUTE),
                lambda: store.read("binance", "BTC/USDT", MINUTE, since=FEB_1 + HOUR, until=FEB_1 + 2 * HOUR),
                lambda: store.write("binance", "BTC/USDT", MINUTE, bars.slice(50_000, 50_010), "test")):
        says = {"same size, other dtype": "holds float64", "times out of order": "do not increase",
                "truncated": "bytes long", "wrong dtype": "holds float64"}.get(damage, "")
        with pytest.raises(BarStoreError, match=f"bar chunk {feb}.*damaged.*{says}.*Delete that period") as err:
            act()
        assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)
    assert feb.read_bytes() == damaged
    assert same(store.read("binance", "BTC/USDT", MINUTE, until=FEB_1), bars.slice(0, 31 * 24 * 60))
    store.delete("binance", "BTC/USDT", MINUTE, since=FEB_1, until=MAR_1)  # the way out: unread, dropped
    assert not feb.exists()
    assert store.gaps("binance", "BTC/USDT", MINUTE) == [(FEB_1, MAR_1)]


DAMAGED_INDEXES = {
    "empty": b"",
    "truncated": b'{"format": "kestrel-bars", "vers',
    "garbage": b"\x00\xff garbage",
    "not an index": b"[1, 2, 3]",
    "malformed series": b'{"format": "kestrel-bars", "version": 1, "series": {"k": {"venue": "x"}}}',
    "newer version": b'{"format": "kestrel-bars", "version": 9, "series": {}}',
}


@pytest.mark.parametrize("damage", DAMAGED_INDEXES.values(), ids=DAMAGED_INDEXES.keys())
def test_a_damaged_index_is_refused_with_its_name_and_never_overwritten(store, profile, damage):
    store.write("binance", "BTC/USDT", MINUTE, random_bars(100), "test")
    store.index_path.write_bytes(damage)
    before = files_of(profile)
    fresh = BarStore(profile)
    for act in (lambda: fresh.read("binance", "BTC/USDT", MINUTE), fresh.series,
                lambda: fresh.gaps("binance", "BTC/USDT", MINUTE),
                lambda: fresh.write("binance", "BTC/USDT", MINUTE, random_bars(5), "test"),
                lambda: fresh.write("binance", "ETH/USDT", MINUTE, random_bars(5), "test"),
                lambda: fresh.append_bar("binance", "BTC/USDT", MINUTE, T0, 1, 1, 1, 1, 1),
                lambda: fresh.delete("binance", "BTC/USDT", MINUTE)):
        said = "was written by a newer Kestrel" if damage == DAMAGED_INDEXES["newer version"] else "is damaged"
        with pytest.raises(BarStoreError, match=f"index {store.index_path} {said}.*untouched"):
            act()
    assert files_of(profile) == before


def test_a_chunk_the_index_names_but_that_is_gone_is_reported(store):
    store.write("binance", "BTC/USDT", MINUTE, random_bars(100), "test")
    [chunk] = store.root.rglob("*.npy")
    chunk.unlink()
    with pytest.raises(BarStoreError, match=f"bar file {chunk} is missing.*delete that period"):
        store.read("binance", "BTC/USDT", MINUTE)


# ------------------------------------------------------------------------------------------ processes
def test_a_writer_killed_mid_write_loses_nothing_it_had_written(profile):
    """A child writes half-overlapping batches of 150k bars in a loop and is killed with SIGKILL after a
    random delay, three times on the same store: each time the store reads as exactly the batches whose write
    had returned, plus the one in flight either whole or not at all."""
    size = 150_000
    rng = random.Random(18)
    done = -1  # the last batch known to be stored
    for _ in range(3):
        child = start_batch_writer(profile, done + 1, size)
        time.sleep(rng.uniform(0.8, 2.5))
        child.kill()  # SIGKILL (TerminateProcess on Windows): no handler, no flush, no cleanup
        child.wait()
        printed = [int(x) for x in child.stdout.read().split()]
        child.stdout.close()
        last_returned = printed[-1] if printed else done
        store = BarStore(profile)
        back = store.read("binance", "BTC/USDT", MINUTE)
        candidates = [last_returned, last_returned + 1]
        m = batches_state(back, size) if len(back) else -1
        matched = m if m in candidates else None
        assert matched is not None, f"after the kill the store holds neither batch {candidates} state"
        assert matched >= done
        done = matched
        assert store.gaps("binance", "BTC/USDT", MINUTE) == []
    assert done >= 1, "the child never completed a write: make the batches smaller or the delays longer"
    store.write("binance", "BTC/USDT", MINUTE, batch_bars(done + 1, size), "test")  # a write cleans up
    [entry] = json.loads(store.index_path.read_bytes())["series"].values()
    named = {c["file"] for c in entry["chunks"].values()}
    assert {p.name for p in (store.root / "binance" / "BTC-USDT" / "60000ms").iterdir()} == named


def batches_state(back: Bars, size: int) -> int | None:
    """m if ``back`` is exactly what batches 0..m of ``batch_bars`` leave, else None."""
    half = size // 2
    if len(back) < size or (len(back) - size) % half:
        return None
    m = (len(back) - size) // half
    idx = np.arange(m * half + size, dtype=np.int64)
    k = np.minimum(m, idx // half)
    ok = np.array_equal(back.ts, T0 + MINUTE * idx) and np.array_equal(back.volume, k.astype(float)) \
        and np.array_equal(back.close, 100.0 + (idx % 1000) * 0.01 + k)
    return m if ok else None


def test_a_reader_beside_a_writer_sees_whole_writes_only(profile):
    size = 40_000
    child = start_batch_writer(profile, 0, size)
    try:
        store, seen = BarStore(profile), []
        deadline = time.monotonic() + 30
        while len(set(seen)) < 4 and time.monotonic() < deadline:
            back = store.read("binance", "BTC/USDT", MINUTE)
            if len(back):
                m = batches_state(back, size)
                assert m is not None, f"a read saw a torn state ({len(back)} bars)"
                assert not seen or m >= seen[-1]
                seen.append(m)
        assert len(set(seen)) >= 4, f"the reader saw too few writes: {sorted(set(seen))}"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


@pytest.mark.parametrize("same_series", [False, True])
def test_two_processes_writing_at_once_lose_nothing(profile, same_series):
    """Two children at once: one writes even batches with ``write``, the other odd batches bar by bar with
    ``append_bar`` (same series: they share months, so chunks, tail and index are all contended)."""
    batches, size = 8, 1500
    a = start_racer(profile, "BTC/USDT", 0, batches, size, append=False)
    b = start_racer(profile, "BTC/USDT" if same_series else "ETH/USDT", 1, batches, size, append=True)
    for child in (a, b):
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0 and out.strip() == "done", err
    store = BarStore(profile)
    for symbol, ks in ([("BTC/USDT", range(batches))] if same_series else
                       [("BTC/USDT", range(0, batches, 2)), ("ETH/USDT", range(1, batches, 2))]):
        back = store.read("binance", symbol, MINUTE)
        want = [random_bars(size, start=T0 + k * size * MINUTE, seed=k) for k in ks]
        assert len(back) == size * len(want)
        at = {int(t): i for i, t in enumerate(back.ts)}
        for bars in want:
            i = at[int(bars.ts[0])]
            assert same(back.slice(i, i + size), bars)


def test_an_index_update_keeps_what_another_process_committed_meanwhile(profile):
    """The terminal's store commits its series just after a download beside it committed another one: the
    index is re-read under its lock, so neither series is lost."""
    terminal, download = BarStore(profile), BarStore(profile)
    terminal.write("binance", "BTC/USDT", MINUTE, random_bars(10), "test")
    real_lock, ran = terminal._index_lock, []

    def download_first():
        if not ran:
            ran.append(1)
            download.write("binance", "ETH/USDT", MINUTE, random_bars(10, seed=5), "test")
        return real_lock()

    terminal._index_lock = download_first
    terminal.append_bar("binance", "BTC/USDT", MINUTE, T0 + 10 * MINUTE, 1, 1, 1, 1, 1)
    assert [(s.symbol, s.bars) for s in BarStore(profile).series()] == [("BTC/USDT", 11), ("ETH/USDT", 10)]
