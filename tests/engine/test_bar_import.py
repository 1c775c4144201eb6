"""Bar files as traders have them (issue 18, item 6): a few real-looking rows of each export, written here,
read into the bars they mean; the time's unit detected at its boundaries; naive times placed in a zone;
and every case that cannot be told refused with a message that says how to settle it."""
from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.engine.data import bar_import
from app.engine.data.bar_files import DataError, import_bars, load_bars
from app.engine.data.bar_times import BANDS, read_times

DAY = 86_400_000
JAN2 = 1_704_153_600_000  # 2024-01-02 00:00 UTC

YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,187.149994,188.440002,183.889999,185.639999,184.734970,82488700
2024-01-03,184.220001,185.880005,183.429993,184.250000,183.351746,58414500
2024-01-04,182.149994,183.089996,180.880005,181.910004,181.023178,71983600
2024-01-05,181.990005,182.759995,180.169998,181.179993,180.296707,62303300
"""
#: Binance spot BTCUSDT-1m: open time, o, h, l, c, volume, close time, quote volume, trades, taker base,
#: taker quote, ignore (no header)
BINANCE_MS = """1704067200000,42283.58000000,42298.62000000,42261.02000000,42298.61000000,35.92724000,1704067259999,1519032.48604380,1327,19.65402000,831016.49037950,0
1704067260000,42298.62000000,42320.00000000,42298.61000000,42320.00000000,21.07084000,1704067319999,891408.87880990,956,13.01356000,550542.03271960,0
1704067320000,42319.99000000,42331.54000000,42303.10000000,42303.11000000,20.43075000,1704067379999,864563.20209810,933,8.09009000,342374.42318130,0
"""
BINANCE_US = "\n".join(
    ",".join([str(int(line.split(",")[0]) * 1000), *line.split(",")[1:6], str(int(line.split(",")[6]) * 1000 + 999),
              *line.split(",")[7:]])
    for line in BINANCE_MS.splitlines()) + "\n"
TRADINGVIEW_S = """time,open,high,low,close,Volume,MA
1704153600,42.1,42.9,41.8,42.5,1200,
1704157200,42.5,43.2,42.4,43.0,1500,42.75
1704160800,43.0,43.1,42.2,42.3,900,42.65
"""
TRADINGVIEW_ISO = """time,open,high,low,close,Volume
2024-01-02T09:30:00-05:00,472.16,473.67,470.49,472.65,123623700
2024-01-03T09:30:00-05:00,470.43,471.19,468.17,468.79,103585900
2024-01-04T09:30:00-05:00,468.30,470.96,467.05,467.28,84232200
"""
MT5 = ("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
       "2024.01.02\t13:45:00\t1.10372\t1.10388\t1.10351\t1.10380\t612\t0\t0\n"
       "2024.01.02\t14:00:00\t1.10380\t1.10402\t1.10333\t1.10345\t705\t0\t0\n"
       "2024.01.02\t14:15:00\t1.10345\t1.10361\t1.10300\t1.10311\t688\t0\t1\n")
GENERIC = """DateTime;OPEN;High;low;Close;VOLUME
2024-01-02 00:00:00;10.0;10.5;9.8;10.2;300
2024-01-02 01:00:00;10.2;10.4;10.1;10.3;250
2024-01-02 02:00:00;10.3;10.9;10.2;10.8;410
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def report_text(imported) -> str:
    return "\n".join(imported.report.lines())


# ------------------------------------------------------------------------------------------------ layouts
def test_yahoo_reads_close_not_adj_close_and_says_so(tmp_path):
    got = import_bars(write(tmp_path, "AAPL.csv", YAHOO))
    b = got.bars
    assert b.ts.tolist() == [JAN2 + i * DAY for i in range(4)] and b.timeframe_ms == DAY
    assert b.close.tolist() == [185.639999, 184.25, 181.910004, 181.179993]
    assert b.volume[0] == 82488700 and b.symbol == "AAPL"
    text = report_text(got)
    assert "Yahoo Finance" in text and "dates YYYY-MM-DD (detected)" in text and "read as UTC" in text
    assert "'Adj Close' is not used" in text


def test_a_newest_first_export_is_reversed_and_said(tmp_path):
    lines = YAHOO.splitlines()
    got = import_bars(write(tmp_path, "AAPL.csv", "\n".join([lines[0], *reversed(lines[1:])]) + "\n"))
    assert got.bars.ts.tolist() == [JAN2 + i * DAY for i in range(4)]
    assert got.bars.close.tolist() == [185.639999, 184.25, 181.910004, 181.179993]
    assert "newest first" in report_text(got)


YFINANCE = """Price,Close,High,Low,Open,Volume
Ticker,AAPL,AAPL,AAPL,AAPL,AAPL
Date,,,,,
2024-01-02,184.29,187.32,182.88,186.33,82488700
2024-01-03,182.91,184.52,182.10,183.12,58414500
"""


def test_a_yfinance_download_with_its_three_header_lines(tmp_path):
    got = import_bars(write(tmp_path, "aapl.csv", YFINANCE))
    assert got.bars.ts.tolist() == [JAN2, JAN2 + DAY] and got.bars.open.tolist() == [186.33, 183.12]
    assert "Yahoo Finance (yfinance download, AAPL)" in report_text(got)
    two = YFINANCE.replace("Ticker,AAPL,AAPL,AAPL,AAPL,AAPL", "Ticker,AAPL,MSFT,AAPL,MSFT,AAPL")
    refused(tmp_path, "two.csv", two, r"a yfinance download of 2 tickers \(AAPL, MSFT\); a bar file holds one")


@pytest.mark.parametrize("text,unit", [(BINANCE_MS, "milliseconds"), (BINANCE_US, "microseconds")])
def test_binance_kline_dumps_in_ms_and_in_us(tmp_path, text, unit):
    got = import_bars(write(tmp_path, "BTCUSDT-1m-2024-01-01.csv", text))
    b = got.bars
    assert b.ts.tolist() == [1_704_067_200_000, 1_704_067_260_000, 1_704_067_320_000] and b.timeframe_ms == 60_000
    assert b.open[0] == 42283.58 and b.close[2] == 42303.11 and b.volume[1] == 21.07084
    assert "Binance kline dump (no header)" in report_text(got)
    assert f"epoch {unit} (detected); UTC" in report_text(got)


def test_binance_zip_as_downloaded(tmp_path):
    path = tmp_path / "BTCUSDT-1m-2024-01-01.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("BTCUSDT-1m-2024-01-01.csv", BINANCE_US)
    assert load_bars(path).ts[0] == 1_704_067_200_000


def test_tradingview_epoch_seconds_with_an_indicator_column(tmp_path):
    got = import_bars(write(tmp_path, "BATS_SPY, 60.csv", TRADINGVIEW_S))
    assert got.bars.ts.tolist() == [JAN2, JAN2 + 3_600_000, JAN2 + 7_200_000]
    assert got.bars.volume.tolist() == [1200, 1500, 900]
    assert "TradingView" in report_text(got) and "epoch seconds (detected)" in report_text(got)


def test_tradingview_iso_with_an_offset_is_converted_to_utc(tmp_path):
    got = import_bars(write(tmp_path, "SPY.csv", TRADINGVIEW_ISO), tz="Asia/Shanghai")
    assert got.bars.ts[0] == JAN2 + 14 * 3_600_000 + 30 * 60_000  # 09:30 -05:00 is 14:30 UTC; --tz not used
    assert "offsets in the file, converted to UTC" in report_text(got)


def test_metatrader5_tab_separated_uses_tick_volume_when_vol_is_all_zero(tmp_path):
    got = import_bars(write(tmp_path, "EURUSD_M15.csv", MT5))
    t0 = JAN2 + 13 * 3_600_000 + 45 * 60_000
    assert got.bars.ts.tolist() == [t0, t0 + 900_000, t0 + 1_800_000]
    assert got.bars.volume.tolist() == [612, 705, 688] and got.bars.close[0] == 1.10380
    text = report_text(got)
    assert "MetaTrader 5" in text and "'<TICKVOL>' (tick count: '<VOL>' is all zero" in text
    assert "broker's server time: say its zone with --tz" in text


def test_metatrader5_real_volume_when_there_is_some_and_the_server_zone(tmp_path):
    text = MT5.replace("\t612\t0\t", "\t612\t3\t")
    got = import_bars(write(tmp_path, "EURUSD_M15.csv", text), tz="Europe/Athens")
    assert got.bars.volume.tolist() == [3, 0, 0]
    assert "'<VOL>' ('<TICKVOL>', the tick count, is not used)" in report_text(got)
    assert got.bars.ts[0] == JAN2 + 11 * 3_600_000 + 45 * 60_000  # 13:45 in Athens (UTC+2 in winter)


def test_any_case_columns_with_semicolons(tmp_path):
    got = import_bars(write(tmp_path, "X.csv", GENERIC))
    assert got.bars.ts.tolist() == [JAN2, JAN2 + 3_600_000, JAN2 + 7_200_000]
    assert got.bars.high.tolist() == [10.5, 10.4, 10.9]
    assert "columns by name" in report_text(got) and "ISO 8601 times (detected)" in report_text(got)


def test_gzip(tmp_path):
    assert load_bars(write(tmp_path, "AAPL.csv.gz", YAHOO)).close[0] == 185.639999


def test_the_kestrel_file_reads_as_it_always_did(tmp_path):
    rows = [f"{JAN2 + i * 60_000},{10 + i},{11 + i},{9 + i},{10.5 + i},5" for i in range(3)]
    got = import_bars(write(tmp_path, "K.csv", "timestamp,open,high,low,close,volume\n" + "\n".join(rows)))
    assert got.bars.ts.tolist() == [JAN2, JAN2 + 60_000, JAN2 + 120_000]
    assert "time: column 'timestamp', epoch milliseconds (detected); UTC" in report_text(got)


def test_parquet_with_pyarrow(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(io.StringIO(YAHOO), parse_dates=["Date"]).set_index("Date")
    frame.to_parquet(tmp_path / "AAPL.parquet")
    got = import_bars(tmp_path / "AAPL.parquet")
    assert got.bars.ts.tolist() == [JAN2 + i * DAY for i in range(4)] and got.bars.symbol == "AAPL"


def test_parquet_without_pyarrow_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(bar_import, "has_pyarrow", lambda: False)
    path = tmp_path / "AAPL.parquet"
    path.write_bytes(b"PAR1 not read further")
    with pytest.raises(DataError, match="reading Parquet needs pyarrow: pip install pyarrow"):
        load_bars(path)


# ----------------------------------------------------------------------------------------- time detection
@pytest.mark.parametrize("value,unit", [
    (10 ** 8, "epoch seconds"), (10 ** 10 - 1, "epoch seconds"), (10 ** 11, "epoch milliseconds"),
    (10 ** 13 - 1, "epoch milliseconds"), (10 ** 14, "epoch microseconds"), (10 ** 16 - 1000, "epoch microseconds"),
    (10 ** 17, "epoch nanoseconds"), (9_000_000_000_000_000_000, "epoch nanoseconds")])
def test_the_unit_is_told_by_magnitude_at_each_band_edge(value, unit):
    got = read_times(pd.Series([value]), "t", "f")
    assert got.how == unit and got.detected
    expected = value * 1000 if unit == "epoch seconds" else value // {
        "epoch milliseconds": 1, "epoch microseconds": 1000, "epoch nanoseconds": 1_000_000}[unit]
    assert got.ms.tolist() == [expected]


@pytest.mark.parametrize("value", [10 ** 8 - 1, 10 ** 10, 10 ** 11 - 1, 10 ** 13, 10 ** 16, 0, -5])
def test_a_magnitude_between_the_bands_fits_no_unit(value):
    with pytest.raises(DataError, match=r"fits no epoch unit .*say its unit with --time-unit s, ms, us or ns"):
        read_times(pd.Series([value]), "t", "f")
    assert BANDS["s"] == (1e8, 1e10)


def test_yyyymmdd_numbers_are_dates_and_ns_stays_exact():
    assert read_times(pd.Series([20240102, 20240103]), "d", "f").ms.tolist() == [JAN2, JAN2 + DAY]
    ns = read_times(pd.Series([1_704_153_600_123_000_000]), "t", "f")
    assert ns.ms.tolist() == [JAN2 + 123]


def test_time_unit_overrides_detection():
    got = read_times(pd.Series([1_704_153_600]), "t", "f", unit="s")
    assert got.ms.tolist() == [JAN2] and not got.detected and "(as given)" in got.describe()
    assert read_times(pd.Series([20240102]), "t", "f", unit="iso").ms.tolist() == [JAN2]


def test_naive_daily_dates_in_shanghai_land_at_1600_utc_the_day_before(tmp_path):
    got = import_bars(write(tmp_path, "600519.SH-1d.csv", YAHOO), tz="Asia/Shanghai")
    assert got.bars.ts[0] == JAN2 - 8 * 3_600_000  # 2024-01-01 16:00 UTC
    assert "read in Asia/Shanghai (--tz), stored as UTC" in report_text(got)


def test_day_first_is_told_by_a_day_above_12_and_time_format_settles_the_rest():
    dmy = read_times(pd.Series(["02/01/2024", "13/01/2024"]), "Date", "f")
    assert dmy.ms.tolist() == [JAN2, JAN2 + 11 * DAY] and "DD/MM/YYYY" in dmy.how
    mdy = read_times(pd.Series(["01/02/2024 09:30", "01/13/2024 09:30"]), "Date", "f")
    assert mdy.ms[0] == JAN2 + 9 * 3_600_000 + 30 * 60_000
    given = read_times(pd.Series(["01/02/2024", "02/02/2024"]), "Date", "f", time_format="%m/%d/%Y")
    assert given.ms.tolist() == [JAN2, JAN2 + 31 * DAY]


# --------------------------------------------------------------------------------------------- ambiguity
def refused(tmp_path, name: str, text: str, message: str, **options) -> None:
    with pytest.raises(DataError, match=message):
        load_bars(write(tmp_path, name, text), **options)


def yahoo_with_dates(dates: list[str]) -> str:
    lines = YAHOO.splitlines()
    return "\n".join([lines[0], *(d + line[10:] for d, line in zip(dates, lines[1:]))]) + "\n"


def test_day_and_month_that_cannot_be_told_apart(tmp_path):
    text = yahoo_with_dates(["01/02/2024", "01/03/2024", "01/04/2024", "01/05/2024"])
    refused(tmp_path, "a.csv", text, r"column 'Date' \('01/02/2024', \.\.\.\) can be read as day/month/year or "
            r"as month/day/year: no row has a field above 12 to tell which. Say which with --time-format "
            r"'%d/%m/%Y' or --time-format '%m/%d/%Y'")
    assert load_bars(write(tmp_path, "a.csv", text), time_format="%d/%m/%Y").ts[0] == JAN2 + 30 * DAY  # 1 February


def test_day_and_month_orders_that_contradict_each_other(tmp_path):
    text = yahoo_with_dates(["13/01/2024", "01/14/2024", "01/15/2024", "01/16/2024"])
    refused(tmp_path, "a.csv", text, r"fit neither day/month nor month/day order \(data row 1 '13/01/2024' starts "
            r"with a day, data row 2 '01/14/2024' with a month\)")


def test_mixed_units_name_both_rows(tmp_path):
    text = TRADINGVIEW_S.replace("1704157200,", "1704157200000,")
    refused(tmp_path, "tv.csv", text, r"mix units: data row 1 \(1704153600\) reads as epoch seconds, data row 2 "
            r"\(1704157200000\) as epoch milliseconds")


def test_a_duplicate_bar_names_both_rows(tmp_path):
    lines = YAHOO.splitlines()
    refused(tmp_path, "d.csv", "\n".join([*lines[:3], lines[2], *lines[3:]]) + "\n",
            r"data row 3 \(1704240000000, 2024-01-03 00:00 UTC\) is the same time as row 2 .*remove the duplicate")


def test_time_going_back_midway_is_refused_not_sorted(tmp_path):
    lines = YAHOO.splitlines()
    refused(tmp_path, "d.csv", "\n".join([lines[0], lines[1], lines[3], lines[2], lines[4]]) + "\n",
            r"data row 3 \(1704240000000, 2024-01-03 00:00 UTC\) is not after row 2 .*sort the file by time")


def test_missing_columns_say_what_the_file_has(tmp_path):
    refused(tmp_path, "m.csv", YAHOO.replace(",Volume", ",Vol_x"),
            r"missing column\(s\) volume; .*the file has: Date, Open, High, Low, Close, Adj Close, Vol_x")
    refused(tmp_path, "m.csv", YAHOO.replace("Date,", "Day,"), r"missing column\(s\) time; a bar file needs a "
            r"time column \(named open_time, timestamp, datetime, date_time, time, date\)")


def test_a_non_numeric_cell_names_row_and_column(tmp_path):
    refused(tmp_path, "n.csv", YAHOO.replace("184.250000", "null"),  # pandas reads null as missing
            r"column 'Close' has a missing or non-numeric value at data row 2 \(nan\)")
    refused(tmp_path, "n.csv", YAHOO.replace("184.250000", "184.25 USD"),
            r"column 'Close' has a missing or non-numeric value at data row 2 \('184.25 USD'\)")
    refused(tmp_path, "tv.csv", TRADINGVIEW_S.replace("1704157200,", "1704157200s,"),
            r"column 'time' has a missing or non-numeric value at data row 2 \('1704157200s'\)")
    refused(tmp_path, "b.csv", BINANCE_MS.replace("42298.61000000,35", "x,35"),
            r"column 'close \(column 5\)' has a missing or non-numeric value at data row 1 \('x'\)")


def test_offsets_on_some_rows_only(tmp_path):
    refused(tmp_path, "o.csv", TRADINGVIEW_ISO.replace("2024-01-03T09:30:00-05:00", "2024-01-03T09:30:00"),
            r"some times in column 'time' carry a UTC offset and some do not \(data row 1 .* has one, data row 2 "
            r"'2024-01-03T09:30:00' has none\)")


def test_text_that_is_no_time(tmp_path):
    refused(tmp_path, "t.csv", YAHOO.replace("2024-01-03,", "Jan 3rd,"),
            r"the time in column 'Date' at data row 2 \('Jan 3rd'\) is not ISO 8601 .*Say the form with --time-format")


def test_a_local_time_the_clocks_skip(tmp_path):
    text = GENERIC.replace("2024-01-02 0", "2024-03-10 0")  # 02:00 does not exist in New York that night
    refused(tmp_path, "g.csv", text, r"data row 3 \(2024-03-10 02:00:00\) happens twice or not at all in "
            r"America/New_York", tz="America/New_York")


def test_options_that_do_not_fit_the_file(tmp_path):
    refused(tmp_path, "a.csv", YAHOO, r"--time-unit s needs epoch numbers, but column 'Date' holds text",
            time_unit="s")
    refused(tmp_path, "a.csv", YAHOO, r"--tz Mars/Base: unknown time zone; give an IANA name", tz="Mars/Base")
    refused(tmp_path, "a.csv", YAHOO, r"data row 1 \('2024-01-02'\) does not match --time-format '%d/%m/%Y'",
            time_format="%d/%m/%Y")


def test_sub_millisecond_times_are_refused_not_rounded(tmp_path):
    text = BINANCE_US.replace("1704067260000000,", "1704067260000500,")
    refused(tmp_path, "b.csv", text, r"data row 2 \(1704067260000500\) is not a whole number of milliseconds")


def test_a_headerless_file_that_is_not_a_binance_dump(tmp_path):
    refused(tmp_path, "h.csv", "1704153600000,1,2,0.5,1.5,10\n1704153660000,1,2,0.5,1.5,10\n",
            r"the first line holds numbers, not column names, and its 6 columns are not a Binance kline dump's 12")


def test_the_sample_rows_are_real_bars():
    """The samples above are valid as written (so each refusal is the one its test names)."""
    for text in (YAHOO, TRADINGVIEW_S, TRADINGVIEW_ISO, GENERIC):
        frame = pd.read_csv(io.StringIO(text), sep=None, engine="python")
        o, h, lo, c = (frame[next(k for k in frame.columns if k.lower() == n)] for n in ("open", "high", "low", "close"))
        assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
