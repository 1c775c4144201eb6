"""Screenshots of the real window for docs/: the main window, the chart, the ladder, two chart docks.

It builds the terminal on a simulated clock, trades for ~40 minutes of simulated market (fills at
different times, so the chart has markers), leaves two working orders and a position (order and position
lines), adds indicators, then shows the window on the X server and saves:

    docs/screenshot-main-window.png   the whole window (the long position protected: SL/TP in Positions, the
                                      blotter and dash-dot on the chart) (``--x11``: also the X screen, via
                                      `import`, in /tmp)
    docs/screenshot-chart.png         the chart: candles, volume, SMA/EMA/Bollinger, RSI and MACD panes,
                                      fill and order markers, working-order / position / last-price lines
    docs/screenshot-ladder.png        the DOM with our orders and the depth chart
    docs/screenshot-chart-docks.png   a second chart dock (ETH 5m) beside the main chart
    docs/screenshot-hotkeys.png       Trading -> Keyboard shortcuts…
    docs/screenshot-alerts.png        the Alerts dock (rules, what fired) and an alert's line on the chart
    docs/screenshot-news.png          the News dock (a feed's items scored and coloured) and the chart's news marks
    docs/screenshot-data-dialog.png   the Data dialog: stored series (an imported file, finished downloads)
                                      and a download in progress, from the test kit's fake Binance on
                                      127.0.0.1 (a profile of its own: the shots above stay sim-only)
    docs/screenshot-chart-history.png a real venue's chart (the same fake Binance, no trades streaming):
                                      SOL/USDT's history, loaded when the market was chosen

    Xvfb :98 -screen 0 1600x900x24 &
    DISPLAY=:98 QT_QPA_PLATFORM=xcb .venv/bin/python docs/screenshots.py
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs"
SYMBOL = "BTC/USDT"


def main() -> None:
    from PySide6.QtWidgets import QApplication

    from app.bootstrap import build, create_app
    from app.engine.core.clock import SimClock
    from app.engine.core.messages import OrderType, ProtectPosition, Side

    app = create_app()
    profile = Path(tempfile.mkdtemp(prefix="kestrel-shots-"))
    now = int(time.time() * 1000)
    clock = SimClock(now - 45 * 60_000)
    kernel, window = build(profile, clock=clock)
    window.resize(1600, 900)

    def run(minutes: float, every_s: float = 0.05) -> None:
        for _ in range(int(minutes * 60 / every_s)):
            clock.advance(int(every_s * 1000))
            kernel.step()

    news = NewsFeed(kernel, profile)
    plan = [(Side.BUY, 0.03), (Side.SELL, 0.01), (Side.BUY, 0.02), (Side.SELL, 0.02), (Side.BUY, 0.01)]
    for side, qty in plan:  # fills spread over the session
        run(7)
        news.arrive(2)  # news arriving through the session: marks along the chart's time axis
        kernel.submit(SYMBOL, side, OrderType.MARKET, qty)
    run(3)
    bars = kernel.bars.get(SYMBOL)
    lo, hi = bars.column("low")[-40:].min(), bars.column("high")[-40:].max()
    book = kernel.market.get(SYMBOL).book
    inst = kernel.instruments[SYMBOL]
    buy = inst.round_price(min(lo + 0.1 * (hi - lo), book.best_bid - 20 * inst.tick_size))
    sell = inst.round_price(max(hi - 0.1 * (hi - lo), book.best_ask + 20 * inst.tick_size))
    kernel.submit(SYMBOL, Side.BUY, OrderType.LIMIT, 0.02, buy)  # working orders inside the visible range
    kernel.submit(SYMBOL, Side.SELL, OrderType.LIMIT, 0.01, sell)
    run(0.2)
    # the long position protected by Kestrel (issue 20): a stop-loss and a take-profit, one cancelling the other
    last = kernel.market.get(SYMBOL).last
    kernel.bus.publish(ProtectPosition(SYMBOL, stop_loss=inst.round_price(min(lo + 0.25 * (hi - lo),
                                                                                last - 30 * inst.tick_size)),
                                       take_profit=inst.round_price(max(hi - 0.25 * (hi - lo),
                                                                        last + 30 * inst.tick_size))))
    run(0.2)

    chart = window.chart
    for name, params in [("sma", {"timeperiod": 20}), ("ema", {"timeperiod": 50}), ("bbands", {"timeperiod": 20}),
                         ("rsi", {"timeperiod": 14}), ("macd", {})]:
        chart.add_indicator(name, params, block=True)
    window.show()
    for _ in range(20):
        window.frames.tick()
        QApplication.processEvents()
    n = chart.series.n
    chart.set_x_range(n - 56, n - 1)
    chart.follow_latest()
    for _ in range(10):
        window.frames.tick()
        QApplication.processEvents()
        time.sleep(0.02)

    book = kernel.market.get(SYMBOL).book  # one more order near the touch, for the ladder
    kernel.submit(SYMBOL, Side.BUY, OrderType.LIMIT, 0.05, inst.round_price(book.best_bid - 4 * inst.tick_size))
    clock.advance(10)
    kernel.step()
    for _ in range(3):
        window.frames.tick()
        QApplication.processEvents()
    window.grab().save(str(DOCS / "screenshot-main-window.png"))
    if shutil.which("import") and "--x11" in sys.argv:  # the X server's view (cropped if the window is taller)
        subprocess.run(["import", "-window", "root", "/tmp/kestrel-main-window-x11.png"], check=False)
    chart.save_png(str(DOCS / "screenshot-chart.png"))
    window.ladder.grab().save(str(DOCS / "screenshot-ladder.png"))

    extra = window.chart_docks.add()
    extra.set_symbol("ETH/USDT")
    extra.set_timeframe("5m")
    extra.add_indicator("ema", {"timeperiod": 20}, block=True)
    dock = extra.parentWidget()
    dock.setFloating(False)
    window.tabifyDockWidget(window.docks["ladder"], dock)
    QApplication.processEvents()
    dock.raise_()
    for _ in range(10):
        window.frames.tick()
        QApplication.processEvents()
    window.grab().save(str(DOCS / "screenshot-chart-docks.png"))
    shortcuts = window.hotkeys.open_dialog()  # Trading -> Keyboard shortcuts…
    for _ in range(5):
        QApplication.processEvents()
    shortcuts.grab().save(str(DOCS / "screenshot-hotkeys.png"))
    shortcuts.reject()
    alerts_shot(kernel, window, run)
    news.arrive(2)
    news_shot(kernel, window)
    window.close()
    kernel.close()
    data_dialog_shot()
    history_chart_shot()
    print("saved screenshots in", DOCS)
    app.quit()


def alerts_shot(kernel, window, run) -> None:
    """The Alerts dock beside the chart (issue 21): a level drawn on the chart, a move, a fill alert; two fired."""
    from PySide6.QtWidgets import QApplication

    from app.engine.core.messages import SetAlert

    inst = kernel.instruments[SYMBOL]
    last = kernel.market.get(SYMBOL).last
    for rule in ({"kind": "price_above", "symbol": SYMBOL, "level": inst.round_price(last + 40 * inst.tick_size),
                  "note": "breakout?"},
                 {"kind": "price_below", "symbol": SYMBOL, "level": inst.round_price(last - 150 * inst.tick_size),
                  "note": "stop out?"},
                 {"kind": "pct_move", "symbol": SYMBOL, "level": 0.5, "window_s": 600, "repeat": True},
                 {"kind": "order_filled", "symbol": SYMBOL, "repeat": True, "cooldown_s": 5}):
        kernel.port.send(SetAlert(rule, "manual"))
    run(1)
    window.docks["alerts"].raise_()
    for _ in range(10):
        window.frames.tick()
        QApplication.processEvents()
    window.grab().save(str(DOCS / "screenshot-alerts.png"))


HEADLINES = [  # written for these pictures, not copied from any source
    "Bitcoin gains as ETF inflows beat forecasts",
    "ETH staking platform hacked, losses mount",
    "贵州茅台(600519)：前三季度净利润同比增长15%",
    "Fed minutes: officials see rates on hold into spring",
    "Bitcoin miners report record hashrate; shares rally",
    "Crypto lender files for bankruptcy after withdrawals freeze",
    "ETH developers schedule the next network upgrade",
    "Regulator opens probe into exchange's BTC order book",
    "比特币现货ETF资金流入创新高",
    "Bitcoin slips as traders take profits after the rally",
    "Stablecoin issuer publishes reserve attestation",
    "ETH futures open interest climbs to a six-month high",
]


class NewsFeed:
    """A feed file the profile polls (as a trader's RSS source): ``arrive(n)`` publishes n more headlines and runs
    the poll the News service would (parsed and scored in its worker process)."""

    def __init__(self, kernel, profile: Path) -> None:
        self.kernel, self.n = kernel, 0
        self.path = profile / "shots-feed.xml"
        self.path.write_text(self._xml(), encoding="utf-8")
        kernel.news.add_source("desk", "rss", self.path.as_uri())

    def _xml(self) -> str:
        items = "".join(f"<item><title>{t}</title><link>https://news.invalid/{i}</link></item>"
                        for i, t in enumerate(HEADLINES[:self.n]))
        return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>desk</title>{items}' \
               f"</channel></rss>"

    def arrive(self, n: int) -> None:
        import asyncio

        self.n = min(len(HEADLINES), self.n + n)
        self.path.write_text(self._xml(), encoding="utf-8")
        asyncio.run(self.kernel.news.poll(self.kernel.news.sources["desk"]))


def news_shot(kernel, window) -> None:
    """The News dock (All: coloured by score) beside the chart with its news marks (issue 22)."""
    from PySide6.QtWidgets import QApplication

    window.docks["news"].raise_()
    panel = window.news_panel
    panel.filter.setCurrentIndex(panel.filter.findData("all"))
    for _ in range(10):
        window.frames.tick()
        QApplication.processEvents()
        time.sleep(0.06)  # the chart's marks follow within half a second
    window.grab().save(str(DOCS / "screenshot-news.png"))


def data_dialog_shot() -> None:
    """The Data dialog on a profile whose venue "binance" is the fake exchange: a recorded file imported, two
    downloads done, a slow one caught mid-way."""
    import dataclasses
    import json

    from PySide6.QtWidgets import QApplication

    from app.bootstrap import build
    from app.engine.core.instruments import Instrument
    from app.engine.data.store_files import import_file
    from app.engine.venues.venue_config import parse_config, save_config, venues_dir
    from tests.kit.data import recorded
    from tests.kit.venues import FakeInThread

    srv = FakeInThread(symbols=("BTC/USDT", "ETH/USDT", "SOL/USDT"))
    fake = srv.fake
    profile = Path(tempfile.mkdtemp(prefix="kestrel-shots-data-"))
    save_config(profile, parse_config(fake.venue_config(stream="poll")))
    markets = [Instrument(s, "binance", s.split("/")[0], "USDT", 0.01, 0.0001, 0.0001, 1e6)
               for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")]
    rows = [dataclasses.asdict(m) for m in markets]
    (venues_dir(profile) / "binance.instruments.json").write_text(json.dumps(rows))
    kernel, window = build(profile)
    try:
        import_file(kernel.bar_store, recorded("ETH-BTC-5m.csv.gz"), "kraken", "ETH/BTC", 300_000)
        window.resize(1600, 900)
        window.show()
        dialog = window.open_data_dialog()
        dialog.show_download("ETH/USDT", "binance")
        day = 86_400_000
        start = fake.history_start_ms + 30 * day
        for symbols, tf, days in ((["ETH/USDT", "SOL/USDT"], "1h", 60), (["BTC/USDT"], "1m", 20)):
            if tf == "1m":
                srv.call(lambda: fake.slow("GET /api/v3/klines", 0.3))
            dialog.symbols.setText(", ".join(symbols))
            dialog.download_timeframe.setCurrentText(tf)
            dialog.download_since.setText(time.strftime("%Y-%m-%d", time.gmtime(start / 1000)))
            dialog.download_until.setText(time.strftime("%Y-%m-%d", time.gmtime((start + days * day) / 1000)))
            dialog.download_button.click()
            row = dialog.downloads[-1]
            end = time.monotonic() + 60
            while time.monotonic() < end and (row.running if tf == "1h" else row.progress.value() < 9_000):
                QApplication.processEvents()
                time.sleep(0.02)
        dialog.refresh_series()
        dialog.table.selectRow(0)
        for _ in range(10):
            QApplication.processEvents()
            time.sleep(0.02)
        dialog.grab().save(str(DOCS / "screenshot-data-dialog.png"))
        dialog.stop_downloads()
    finally:
        window.close()
        kernel.close()
        srv.stop()


def history_chart_shot() -> None:
    """A chart of a real venue's market (the fake Binance): its history, loaded when the market is chosen (the
    store's at once, then the venue's). At 1m: the fake's candles of each interval are a series of their own
    (so tests can tell native from resampled), which a longer timeframe's live-resampled last bar would show."""
    import dataclasses
    import json

    from PySide6.QtWidgets import QApplication

    from app.bootstrap import build
    from app.engine.core.instruments import Instrument
    from app.engine.venues.venue_config import parse_config, save_config, venues_dir
    from tests.kit.venues import FakeInThread

    srv = FakeInThread(symbols=("SOL/USDT",))
    profile = Path(tempfile.mkdtemp(prefix="kestrel-shots-history-"))
    save_config(profile, parse_config(srv.fake.venue_config(stream="poll")))
    rows = [dataclasses.asdict(Instrument("SOL/USDT", "binance", "SOL", "USDT", 0.01, 0.0001, 0.0001, 1e6))]
    (venues_dir(profile) / "binance.instruments.json").write_text(json.dumps(rows))
    kernel, window = build(profile)
    try:
        window.resize(1600, 900)
        window.show()
        chart = window.chart
        chart.set_symbol("SOL/USDT")
        end = time.monotonic() + 60
        while time.monotonic() < end:
            kernel.history.poll()
            QApplication.processEvents()
            st = kernel.history.status("SOL/USDT")
            if st is not None and st.state == "ready" and chart.series is not None and chart.series.n > 1000:
                break
            time.sleep(0.02)
        chart.add_indicator("EMA", {"timeperiod": 50}, block=True)
        for _ in range(10):
            QApplication.processEvents()
            time.sleep(0.02)
        chart.grab().save(str(DOCS / "screenshot-chart-history.png"))
    finally:
        window.close()
        kernel.close()
        srv.stop()


if __name__ == "__main__":
    main()
