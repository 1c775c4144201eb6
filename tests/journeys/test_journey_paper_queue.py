"""Journey: a trader practising on Binance's live book (paper, no keys) places a limit at a price that others
already bid, and reads in the blotter how much volume is ahead of it in the queue. The prints at that price
use the queue up and the number shown goes down with them; the order fills only once it is used up. The
paper venue's streams run in their own process, as they do in the product (``feed_process``)."""
from __future__ import annotations

import asyncio
import re

from tests.kit.journeys import fill_limit_ticket, click_buy
from tests.kit.ui import table_column
from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.kit.wait import until
from tests.venues.fake_binance import FakeBinance

SOL = "SOL/USDT@binance-paper"


def test_a_resting_paper_order_shows_the_queue_ahead_of_it_going_down_with_the_prints_until_it_fills(
        qtbot, window_factory, profile, run_async):
    from app.engine.core.messages import OrderStatus, TradingState
    from app.engine.venues.venue_config import parse_config
    from app.widgets.trading.blotter import ORDER_HEADERS

    async def journey() -> None:
        fake = await FakeBinance(("SOL/USDT",), auto_market=False).start()  # a still book; prints by hand
        kernel, window = window_factory()
        runner = None
        try:
            cfg = fake.venue_config(name="binance-paper", paper=True, symbols=["SOL/USDT"], feed_process=True,
                                    paper_latency_ms=20, paper_balances={"USDT": 10_000.0})
            await kernel.venues.connect(parse_config(cfg))
            runner = asyncio.ensure_future(kernel.run())
            await until(lambda: kernel.risk.venue_states.get("binance-paper", (TradingState.ACTIVE,))[0]
                        is TradingState.ACTIVE and kernel.market.get(SOL).book is not None, 20, "tradable")
            assert kernel.venues.venues["binance-paper"].data.feed.pid is not None  # its own process

            bids = fake.markets["SOLUSDT"].bids
            price = max(bids)
            ahead = bids[price]  # the level's displayed size: all of it is ahead of a new order
            fill_limit_ticket(qtbot, window.ticket, SOL, "0.5", f"{price:.2f}")
            cid = click_buy(qtbot, window.ticket, kernel)
            order = kernel.execution.orders[cid]
            await until(lambda: order.status is OrderStatus.ACCEPTED, 10, "the paper order resting")

            def reason() -> str:
                window.frames.tick()
                (text,) = table_column(window.blotter.orders, ORDER_HEADERS.index("Reason"))
                return text

            def shown_ahead() -> float | None:
                m = re.fullmatch(r"paper queue: ([0-9.e+-]+) ahead", reason())
                return float(m.group(1)) if m else None
            await until(lambda: shown_ahead() is not None, 5, "the queue in the blotter")
            assert shown_ahead() == round(ahead, 6) or abs(shown_ahead() - ahead) < 1e-6, reason()

            # a print at our bid uses up part of the queue: the blotter shows what is left, and nothing filled
            half = round(ahead / 2, 4)
            await fake.print_trade("SOL/USDT", price, half, "sell")
            await until(lambda: shown_ahead() is not None and shown_ahead() < ahead - 1e-9, 10,
                        "the queue shown shorter")
            assert abs(shown_ahead() - (ahead - half)) < 1e-6, reason()
            assert order.filled_qty == 0.0
            assert table_column(window.blotter.orders, ORDER_HEADERS.index("Filled")) == ["0"]

            # the next print uses up the rest and 0.2 more: 0.2 is ours; the rest of the order is at the front
            await fake.print_trade("SOL/USDT", price, round(ahead - half + 0.2, 4), "sell")
            await until(lambda: order.filled_qty > 0, 10, "the first paper fill")
            await until(lambda: table_column(window.blotter.orders, ORDER_HEADERS.index("Filled")) == ["0.2"]
                        and reason() == "paper queue: 0 ahead", 5, "the fill and the front of the queue shown")
            await fake.print_trade("SOL/USDT", price, 0.5, "sell")
            await until(lambda: order.status is OrderStatus.FILLED, 10, "the order filled")
            await until(lambda: reason() == "", 5, "no queue shown for a filled order")
        finally:
            kernel.stop()
            if runner is not None:
                await runner
            await kernel.venues.close()
            await fake.stop()

    run_async(journey())
