"""Journey: the Data dialog (issue 18, item 4). A trader opens Data… from the menu bar and sees the series
the profile stores; imports a recorded CSV and sees it listed with its bar count; exports it and reads the CSV
back; deletes a range and then the whole series after the confirmation says how many bars go. From the
watchlist's Download history… the dialog opens on the Download tab for that symbol; a download from the fake
Binance (127.0.0.1) shows its progress and its outcome in words; a slow one is canceled (what arrived is
stored) and closing the dialog with one running asks first and stops it."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from tests.kit.bar_store import MINUTE, T0, random_bars
from tests.kit.data import recorded
from tests.kit.ui import answer_modal, choose, table_column, type_file_name, type_into
from tests.kit.venues import FakeInThread, no_internet  # noqa: F401 (autouse: sockets go to 127.0.0.1 only)

HOUR = 3_600_000
RECORDED = "ETH-BTC-5m.csv.gz"  # 5,760 five-minute candles


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")


def open_data_from_the_menu(qtbot, window):
    """Click the menu bar's Data, then its Data… item, as a person does."""
    from app.widgets.panels.data_dialog import DataDialog

    bar = window.menuBar()
    (title,) = [a for a in bar.actions() if a.text() == "&Data"]
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(title).center())
    menu = title.menu()
    qtbot.waitUntil(menu.isVisible, timeout=2000)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(window.data_action).center())
    dialog = window.data_dialog
    assert isinstance(dialog, DataDialog) and dialog.isVisible()
    qtbot.waitExposed(dialog)
    return dialog


def listed(dialog) -> dict[tuple[str, ...], dict[str, str]]:
    """The stored-series table as a person reads it: (venue, symbol, timeframe) -> column -> text."""
    from app.widgets.panels.data_dialog import HEADERS

    cols = [table_column(dialog.table, c) for c in range(len(HEADERS))]
    return {row[:3]: dict(zip(HEADERS, row)) for row in zip(*cols)}


def click_tab(qtbot, dialog, title: str) -> None:
    bar = dialog.tabs.tabBar()
    (index,) = [i for i in range(bar.count()) if bar.tabText(i) == title]
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert dialog.tabs.currentIndex() == index


def click_series(qtbot, dialog, venue: str, symbol: str, timeframe: str) -> None:
    table = dialog.table
    row = next(r for r in range(table.rowCount())
               if [table.item(r, c).text() for c in range(3)] == [venue, symbol, timeframe])
    pos = table.visualItemRect(table.item(row, 1)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert dialog.selected()[:2] == (venue, symbol)


def answer_box(button_text: str, texts: list):
    """Answer a QMessageBox with the button ``button_text``; its text is appended to ``texts``."""
    def respond(box: QMessageBox) -> None:
        texts.append(box.text())
        (button,) = [b for b in box.buttons() if b.text() == button_text]
        button.click()
    return respond


def test_list_import_export_and_delete_stored_bars_from_the_data_menu(qtbot, window_factory, profile,
                                                                      tmp_path):
    from app.engine.data.bar_files import load_bars
    from app.engine.data.bar_store import BarStore

    prefilled = BarStore(profile)
    prefilled.write("binance", "BTC/USDT", MINUTE, random_bars(3000), "test")
    prefilled.write("binance", "ETH/USDT", HOUR, random_bars(500, HOUR, seed=1, symbol="ETH/USDT"), "test")
    kernel, window = window_factory()
    store = kernel.bar_store

    # Data… from the menu bar: the stored series are listed
    dialog = open_data_from_the_menu(qtbot, window)
    assert dialog.windowTitle() == "Data"
    rows = listed(dialog)
    assert set(rows) == {("binance", "BTC/USDT", "1m"), ("binance", "ETH/USDT", "1h")}
    btc = rows["binance", "BTC/USDT", "1m"]
    assert btc["Bars"] == "3,000" and btc["Gaps"] == "0"
    assert btc["First (UTC)"] == "2024-01-01 00:00 UTC" and btc["Last (UTC)"] == "2024-01-03 01:59 UTC"
    assert not dialog.export_button.isEnabled() and not dialog.delete_button.isEnabled()  # nothing chosen

    # import a recorded file: the file dialog, the series' names, a wrong timeframe refused in words
    click_tab(qtbot, dialog, "Import")
    seen: list = []
    answer_modal(qtbot, type_file_name(qtbot, recorded(RECORDED)), seen)
    browse = next(b for b in dialog.findChildren(type(dialog.import_button)) if b.text() == "Browse…")
    qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)
    assert seen == [("QFileDialog", "Bar file to import", False)]
    assert dialog.file.text() == str(recorded(RECORDED))
    type_into(dialog.import_venue.lineEdit(), "kraken")
    type_into(dialog.import_symbol, "ETH/BTC")
    choose(dialog.import_timeframe, "1m")
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog._work is None, timeout=20_000)
    refusal = "the file's bars are 5m apart, Timeframe says 1m; nothing was stored"
    assert dialog.status.text().startswith(refusal) and "Traceback" not in dialog.status.text()
    assert dialog.import_report.toPlainText().startswith(refusal)
    assert store.info("kraken", "ETH/BTC", MINUTE) is None

    choose(dialog.import_timeframe, "5m")
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    # the click returned with the import still running (on the worker thread): the dialog says so
    assert dialog.busy.isVisible() and not dialog.import_button.isEnabled()
    assert dialog.status.text() == f"importing {recorded(RECORDED)}…"
    qtbot.waitUntil(lambda: dialog._work is None, timeout=20_000)
    report = dialog.import_report.toPlainText()
    assert report.startswith(f"data {RECORDED}: Kestrel (timestamp, open, high, low, close, volume), "
                             f"5760 bars, 2018-01-10 04:55 UTC .. 2018-01-30 04:50 UTC"), report  # layout
    assert "time: column 'timestamp', epoch milliseconds (detected); UTC" in report, report  # unit, zone
    assert "stored 5,760 bars of ETH/BTC 5m on kraken" in report
    assert "stored 5,760 bars" in dialog.status.text()
    assert listed(dialog)["kraken", "ETH/BTC", "5m"]["Bars"] == "5,760"  # refreshed after the import

    # export it (the whole series) and read the CSV back: the backtester's format, the stored bars exactly
    click_series(qtbot, dialog, "kraken", "ETH/BTC", "5m")
    out = tmp_path / "exported ETH-BTC.csv"
    seen = []
    answer_modal(qtbot, type_file_name(qtbot, out), seen)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert seen and seen[0][:2] == ("QFileDialog", "Export bars as CSV")
    qtbot.waitUntil(lambda: dialog._work is None, timeout=20_000)
    assert dialog.status.text() == (f"wrote 5,760 bars of ETH/BTC 5m (2018-01-10 04:55 UTC .. 2018-01-30 "
                                    f"04:50 UTC) to {out}"), dialog.status.text()
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    stored = store.read("kraken", "ETH/BTC", 5 * MINUTE).as_dict()
    assert np.array_equal(frame["timestamp"].to_numpy(), stored["ts"])
    assert np.array_equal(frame["close"].to_numpy(), stored["close"])
    again = load_bars(out)  # what `kestrel backtest --data` reads
    assert len(again) == 5760 and np.array_equal(again.ts, stored["ts"])

    # delete a range of BTC/USDT: the confirmation says how many bars go
    click_series(qtbot, dialog, "binance", "BTC/USDT", "1m")
    type_into(dialog.since, iso(T0 + 1000 * MINUTE))
    type_into(dialog.until, iso(T0 + 1500 * MINUTE))
    texts: list = []
    answer_modal(qtbot, answer_box("Delete", texts), seen := [])
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert seen[0][:2] == ("QMessageBox", "Delete stored bars")
    assert texts[0].startswith("Delete 500 bars of BTC/USDT 1m on binance (that range)?"), texts
    qtbot.waitUntil(lambda: dialog._work is None, timeout=20_000)
    assert dialog.status.text() == "deleted 500 bars of BTC/USDT 1m on binance (that range)"
    btc = listed(dialog)["binance", "BTC/USDT", "1m"]
    assert btc["Bars"] == "2,500" and btc["Gaps"] == "1"
    assert store.gaps("binance", "BTC/USDT", MINUTE) == [(T0 + 1000 * MINUTE, T0 + 1500 * MINUTE)]

    # Cancel in the confirmation keeps the bars
    type_into(dialog.since, "")
    type_into(dialog.until, "")
    click_series(qtbot, dialog, "kraken", "ETH/BTC", "5m")
    answer_modal(qtbot, answer_box("Cancel", texts := []), seen := [])
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert texts[0].startswith("Delete 5,760 bars of ETH/BTC 5m on kraken (the whole series)?"), texts
    assert store.info("kraken", "ETH/BTC", 5 * MINUTE).bars == 5760 and dialog._work is None

    # and the whole series, confirmed: it leaves the list
    answer_modal(qtbot, answer_box("Delete", texts := []), seen := [])
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog._work is None, timeout=20_000)
    assert dialog.status.text() == "deleted 5,760 bars of ETH/BTC 5m on kraken (the whole series)"
    assert ("kraken", "ETH/BTC", "5m") not in listed(dialog)
    assert store.info("kraken", "ETH/BTC", 5 * MINUTE) is None

    # a bad time is said, nothing deleted
    click_series(qtbot, dialog, "binance", "ETH/USDT", "1h")
    type_into(dialog.since, "yesterday")
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    assert dialog.status.text().startswith("From 'yesterday': write an ISO 8601 time")
    assert store.info("binance", "ETH/USDT", HOUR).bars == 500


@pytest.fixture
def fake_binance(profile):
    """The fake Binance on its own thread, saved in the profile as the venue "binance" with its markets
    remembered from an earlier connection (so the window lists SOL/USDT and ETH/USDT from binance); the
    window never connects it (no loop runs), the history worker asks it for candles."""
    from app.engine.core.instruments import Instrument
    from app.engine.venues.venue_config import parse_config, save_config, venues_dir

    srv = FakeInThread(symbols=("SOL/USDT", "ETH/USDT"))
    save_config(profile, parse_config(srv.fake.venue_config(stream="poll")))
    markets = [Instrument(sym, "binance", sym.split("/")[0], "USDT", 0.01, 0.001, 0.001, 1e6)
               for sym in ("SOL/USDT", "ETH/USDT")]
    rows = [dataclasses.asdict(i) for i in markets]
    (venues_dir(profile) / "binance.instruments.json").write_text(json.dumps(rows))
    yield srv
    srv.stop()


def right_click_row(qtbot, table, text: str) -> QMenu:
    """Right-click the row showing ``text`` in its first column; the context menu that opens."""
    from PySide6.QtGui import QContextMenuEvent

    (item,) = table.findItems(text, Qt.MatchFlag.MatchExactly)
    pos = table.visualItemRect(item).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.RightButton, pos=pos)
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    if not menus:  # the offscreen platform turns no right button press into a context-menu event: send it
        QApplication.sendEvent(table.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                                   table.viewport().mapToGlobal(pos)))
        menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    (menu,) = menus
    return menu


def click_menu_item(qtbot, menu: QMenu, text: str) -> None:
    (action,) = [a for a in menu.actions() if a.text() == text]
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def test_download_history_from_the_watchlist_with_progress_cancel_and_close(qtbot, window_factory, profile,
                                                                            fake_binance):
    from app.widgets.panels.data_dialog import DataDialog

    fake = fake_binance.fake
    kernel, window = window_factory()
    store = kernel.bar_store
    start = fake.history_start_ms + 10 * 86_400_000

    # right-click SOL/USDT in the watchlist: Download history… opens the Download tab for it, on binance
    menu = right_click_row(qtbot, window.watchlist.table, "SOL/USDT")  # the Symbol column; Venue: binance
    click_menu_item(qtbot, menu, "Download history…")
    dialog = window.data_dialog
    assert isinstance(dialog, DataDialog) and dialog.isVisible()
    qtbot.waitExposed(dialog)
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Download"
    assert dialog.symbols.text() == "SOL/USDT" and dialog.source.currentText() == "binance"

    # a download: its progress bar moves while pages arrive, then the outcome in words
    fake_binance.call(lambda: fake.slow("GET /api/v3/klines", 0.15))
    fake.kline_max_rows = 200  # 15 short pages
    choose(dialog.download_timeframe, "1m")
    type_into(dialog.download_since, iso(start))
    type_into(dialog.download_until, iso(start + 3000 * MINUTE))
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    (row,) = dialog.downloads
    qtbot.waitUntil(row.isVisible, timeout=2000)
    assert row.cancel_button.isVisible()
    qtbot.waitUntil(lambda: 0 < row.progress.value() < row.progress.maximum(), timeout=20_000)
    assert row.progress.maximum() == 3000 and row.title.text() == "SOL/USDT 1m on binance"
    assert row.progress.text() == f"{row.progress.value():,} / 3,000 bars"
    qtbot.waitUntil(lambda: not row.cancel_button.isVisible(), timeout=60_000)  # it ended
    assert row.outcome.text() == "SOL/USDT 1m on binance: 3,000 bars stored", row.outcome.text()
    assert not row.cancel_button.isVisible() and row.progress.value() == 3000
    assert dialog.status.text() == "SOL/USDT 1m on binance: 3,000 bars stored"
    # the list was refreshed when it finished (the chart, pointed at SOL/USDT by the right click, stores the
    # venue's newest bars of it too)
    held = store.info("binance", "SOL/USDT", MINUTE).bars
    assert listed(dialog)["binance", "SOL/USDT", "1m"]["Bars"] == f"{held:,}"
    rows = fake.candles("SOL/USDT", "1m", start, start + 3000 * MINUTE)
    stored = store.read("binance", "SOL/USDT", MINUTE, start, start + 3000 * MINUTE).as_dict()
    assert stored["ts"].tolist() == [r[0] for r in rows]
    assert np.allclose(stored["close"], [float(r[4]) for r in rows])

    # a slow one, canceled mid-way: "canceled", and what arrived is stored
    fake_binance.call(lambda: fake.slow("GET /api/v3/klines", 0.4))
    type_into(dialog.symbols, "ETH/USDT")
    type_into(dialog.download_until, iso(start + 20_000 * MINUTE))
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    row = dialog.downloads[-1]
    qtbot.waitUntil(lambda: row.progress.value() >= 400, timeout=30_000)
    qtbot.waitUntil(lambda: ("binance", "ETH/USDT", "1m") in listed(dialog), timeout=5_000)  # seen arriving
    assert row.cancel_button.isVisible()  # still running
    qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not row.cancel_button.isVisible(), timeout=10_000)
    assert row.title.text() == "ETH/USDT 1m on binance: canceled"
    assert "Canceled" in row.outcome.text()
    assert "What arrived is stored; Download again resumes." in row.outcome.text()
    qtbot.waitUntil(lambda: store.info("binance", "ETH/USDT", MINUTE) is not None, timeout=5_000)
    kept = store.info("binance", "ETH/USDT", MINUTE).bars
    assert 400 <= kept < 20_000

    # Download again resumes where it stopped; closing the dialog while it runs asks, then stops it
    asked = len(fake.kline_requests)
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    row = dialog.downloads[-1]

    def resumed_from() -> int | None:
        eth = (int(r["startTime"]) for r in fake.kline_requests[asked:] if r.get("symbol") == "ETHUSDT")
        return next(eth, None)
    qtbot.waitUntil(lambda: resumed_from() is not None, timeout=10_000)
    assert resumed_from() >= start + kept * MINUTE  # not from the start again
    texts: list = []
    answer_modal(qtbot, answer_box("Keep open", texts), seen := [])
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert seen[0][:2] == ("QMessageBox", "Close the Data dialog")
    assert texts[0].startswith("Running now: 1 download. Close and stop the downloads? What arrived is "
                               "stored")
    assert dialog.isVisible() and row.running
    answer_modal(qtbot, answer_box("Stop and close", texts := []), seen := [])
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert texts and not dialog.isVisible()
    qtbot.waitUntil(lambda: row.job.state == "canceled", timeout=10_000)
    assert store.info("binance", "ETH/USDT", MINUTE).bars >= kept
