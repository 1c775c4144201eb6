"""Journey: a trader opens a chart of a real venue's market (the fake Binance-shaped exchange on 127.0.0.1).
Stored bars from an earlier session show at once; with the exchange refusing candles the chart says "as of" the
last stored bar and why; when the exchange answers again, reopening the market tops the history up to now;
Home scrolls past the oldest bar and an older page loads; a daily chart shows the venue's own daily candles. The window runs on a qasync loop and a live clock,
as the app does."""
from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import Qt

from app.engine.data.bar_files import utc_text
from app.engine.data.bar_store import BarStore
from app.engine.data.bars import Bars
from app.engine.venues.market_history import PAGE
from tests.kit.journeys import pick_in_combo
from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.kit.wait import until
from tests.venues.fake_binance import FakeBinance

TF = 60_000
SYM = "SOL/USDT"  # a market the sim does not have (the venue's symbol)
SOL = "SOL/USDT@binance"  # the instrument, as the chart lists it


def candles(fake: FakeBinance, start: int, end: int) -> Bars:
    cols = list(zip(*fake.candles(SYM, "1m", start, end)))
    return Bars.from_arrays([int(t) for t in cols[0]], *([float(x) for x in cols[i]] for i in range(1, 6)),
                            timeframe_ms=TF, symbol=SYM)


def test_a_real_venue_chart_shows_stored_history_at_once_tops_it_up_and_pages_back(qtbot, profile, run_async):
    from app.bootstrap import build, create_app
    from app.engine.venues.venue_config import parse_config

    async def journey() -> None:
        fake = await FakeBinance((SYM,)).start()
        now = int(time.time() * 1000)
        now -= now % TF
        stored = candles(fake, now - 1_500 * TF, now - 600 * TF)  # an earlier session's bars
        BarStore(profile).write("binance", SYM, TF, stored)
        fake.fault("GET /api/v3/klines", "not_found", 1_000)  # the exchange refuses candles for now
        create_app()
        kernel, window = build(profile)
        qtbot.addWidget(window)
        window.show()
        runner = asyncio.ensure_future(kernel.run())
        try:
            await kernel.venues.connect(parse_config(fake.venue_config(stream="poll")))
            chart = window.chart
            await until(lambda: chart.symbol_box.findText(SOL) >= 0, 20, "the venue's market in the chart")

            pick_in_combo(chart.symbol_box, SOL)
            await until(lambda: chart.history_label.text().startswith("as of"), 20, "the chart offline")
            assert chart.history_label.isVisible()
            assert chart.history_label.text() == f"as of {utc_text(now - 600 * TF)}"
            assert "SOL/USDT history could not be refreshed from binance" in chart.status.text()
            assert int(chart.base.ts[0]) == int(stored.ts[0])  # the stored bars, shown at once
            assert set(stored.ts.tolist()) <= set(chart.base.ts.tolist())

            fake.reset_faults()  # the exchange answers again: choosing the market again refreshes it
            pick_in_combo(chart.symbol_box, "BTC/USDT@sim")
            pick_in_combo(chart.symbol_box, SOL)
            await until(lambda: chart.history_label.text() == "" and chart.base.n > PAGE - 5, 20, "topped up")
            want = candles(fake, now - PAGE * TF, now)
            shown = dict(zip(chart.base.ts.tolist(), chart.base.close.tolist()))
            assert all(shown[t] == c for t, c in zip(want.ts.tolist(), want.close.tolist()))  # up to now
            assert int(chart.base.ts[0]) == now - PAGE * TF

            first = int(chart.base.ts[0])
            chart.view.setFocus()
            qtbot.keyClick(chart.view, Qt.Key.Key_Home)  # past the oldest bar: an older page loads
            await until(lambda: int(chart.base.ts[0]) < first, 20, "an older page")
            older = candles(fake, first - PAGE * TF, first)
            assert chart.base.ts[:PAGE].tolist() == older.ts.tolist()
            assert chart.base.close[:PAGE].tolist() == older.close.tolist()
            assert chart.series.index_of(first) < chart._x[1]  # the bars in view stayed in view

            pick_in_combo(chart.tf_box, "1d")  # a daily chart: the venue's own daily candles, years of them
            day = 86_400_000
            await until(lambda: chart.series.n > 300, 20, "the venue's daily candles")
            assert any(r.get("interval") == "1d" for r in fake.kline_requests)  # fetched natively
            days = fake.candles(SYM, "1d", 0, now - now % day)
            shown = dict(zip(chart.series.bars.ts.tolist(), chart.series.bars.close.tolist()))
            assert all(shown[int(r[0])] == float(r[4]) for r in days[-300:])
            assert chart.series.bars.ts[-1] == now - now % day  # today: from the live bars
            assert "as of" not in chart.history_label.text()
        finally:
            kernel.stop()
            await runner
            await kernel.venues.close()
            await fake.stop()
            made.append((kernel, window))

    made: list = []
    run_async(journey())
    for kernel, window in made:  # after the loop: closing the last window quits it
        window.close()
        kernel.close()
