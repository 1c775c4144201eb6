"""Journey: two venues list BTC/USDT, the sim too; the trader watches Binance's (BTC/USDT@binance) on the chart.
Binance's feed goes silent: the backup venue's data serves the chart and the chart says "data from backup";
an order from the ticket for BTC/USDT@binance still goes to binance. Binance comes back: the chart says nothing
more. The sim's BTC/USDT@sim and the backup's own BTC/USDT@backup are listed beside it throughout."""
from __future__ import annotations

import asyncio
import json

from app.engine.core.messages import OrderStatus
from tests.kit.journeys import click_buy, fill_limit_ticket, pick_in_combo
from tests.kit.venues import KEY, SECRET, no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.kit.wait import until
from tests.venues.fake_binance import FakeBinance

ID = "BTC/USDT@binance"


def test_a_stalled_feed_is_served_by_the_backup_said_on_the_chart_and_orders_stay_on_their_venue(
        qtbot, profile, run_async):
    from app.bootstrap import build, create_app
    from app.engine.venues.credentials import Credentials
    from app.engine.venues.venue_config import parse_config

    (profile / "venues").mkdir(parents=True, exist_ok=True)
    (profile / "venues" / "feeds.json").write_text(json.dumps(
        {"stale_s": 1.0, "recover_s": 1.0, "symbols": {ID: ["binance", "backup"]}}))

    async def journey() -> None:
        main = await FakeBinance(("BTC/USDT",), api_key=KEY, secret=SECRET).start()
        backup = await FakeBinance(("BTC/USDT",), seed=2, prices={"BTC": 90_000.0}).start()
        create_app()
        kernel, window = build(profile)
        qtbot.addWidget(window)
        window.show()
        runner = asyncio.ensure_future(kernel.run())
        try:
            await kernel.venues.connect(parse_config(main.venue_config(reconnect_base_s=0.05)),
                                        Credentials(KEY, SECRET))
            await kernel.venues.connect(parse_config(backup.venue_config(name="backup", reconnect_base_s=0.05)))
            kernel.venues.start()
            chart = window.chart
            await until(lambda: chart.symbol_box.findText(ID) >= 0 and chart.symbol_box.findText("BTC/USDT@backup")
                        >= 0, 20, "both venues' BTC/USDT in the chart")
            assert chart.symbol_box.findText("BTC/USDT@sim") >= 0
            pick_in_combo(chart.symbol_box, ID)
            await until(lambda: kernel.market.get(ID).book is not None, 10, "Binance's book")
            assert kernel.market.get(ID).book.mid < 80_000
            assert "data from" not in chart.history_label.text()

            main.ws_silent = True
            await until(lambda: "data from backup" in chart.history_label.text(), 15, "the chart to say so")
            assert chart.history_label.isVisible()
            await until(lambda: kernel.market.get(ID).book.mid > 80_000, 5, "the backup's prices under the id")

            fill_limit_ticket(qtbot, window.ticket, ID, "0.001", "59000.00")
            cid = click_buy(qtbot, window.ticket, kernel)
            order = kernel.execution.orders[cid]
            assert order.venue == "binance"
            if order.status is not OrderStatus.DENIED:  # the gate may refuse it (stale quote): never rerouted
                await until(lambda: main.order_by_client_id(cid) is not None, 10, "the order at binance")
            assert backup.order_by_client_id(cid) is None and not backup.orders

            main.ws_silent = False
            await until(lambda: "data from" not in chart.history_label.text(), 20, "binance serving again")
        finally:
            kernel.stop()
            await runner
            await kernel.venues.close()
            await main.stop()
            await backup.stop()
            made.append((kernel, window))

    made: list = []
    run_async(journey())
    for kernel, window in made:
        window.close()
        kernel.close()
