"""Journey: a trader with no API keys connects Binance for paper trading from the Venues dock (the fake
Binance-shaped exchange on 127.0.0.1), places a limit and a market order from the ticket, and sees PAPER on
them in the blotter, on the position, beside the cash (the paper account) and in the status bar; the exchange
hears of no order. The window runs on a qasync loop, as the app does."""
from __future__ import annotations

import asyncio
import json

from PySide6.QtCore import QPoint, Qt

from tests.kit.journeys import click_venue, visible
from tests.kit.journeys import venue_state as state
from tests.kit.ui import choose, table_column, type_into
from tests.kit.venues import no_internet  # noqa: F401 (autouse: every socket must go to 127.0.0.1)
from tests.kit.wait import until
from tests.venues.fake_binance import FakeBinance

SOL = "SOL/USDT@binance-paper"


def test_paper_trading_from_the_connect_dialog_to_paper_on_every_order_position_and_the_status_bar(
        qtbot, window_factory, profile, run_async):
    from app.engine.core.messages import OrderStatus, TradingState
    from app.widgets.panels.venue_dialogs import ConnectDialog
    from app.widgets.trading.blotter import ORDER_HEADERS
    from app.widgets.trading.positions import HEADERS as POSITION_HEADERS

    async def journey() -> None:
        fake = await FakeBinance(("SOL/USDT",)).start()  # a market the sim does not have
        kernel, window = window_factory()
        kernel.venues.start()  # what the app does once its loop runs
        dock = window.venues_widget
        window.venues_dock.raise_()
        runner = None
        try:
            qtbot.mouseClick(dock.connect_button, Qt.MouseButton.LeftButton)
            (dlg,) = visible(ConnectDialog)
            dlg.exchange.setCurrentText("binance")
            box = dlg.paper  # "Paper trading (no keys)": a click on its box
            qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(6, box.height() // 2))
            assert dlg.paper.isChecked() and dlg.name.text() == "binance-paper"
            assert not dlg.api_key.isVisible() and not dlg.secret.isVisible()  # no keys asked for
            assert dlg.paper_balances.isVisible()
            type_into(dlg.paper_balances, "USDT 2000")
            dlg.symbols.clear()
            qtbot.keyClicks(dlg.symbols, "SOL/USDT")
            dlg.options.setPlainText(json.dumps(fake.venue_config()["ccxt"]))
            qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
            await until(lambda: not visible(ConnectDialog), 5, "the dialog to close")
            await until(lambda: state(dock, "binance-paper") == "connected", 20, "the paper venue connected")
            assert not kernel.venues.has_keys("binance-paper")
            click_venue(qtbot, dock, "binance-paper")
            assert "PAPER trading on binance's live market" in dock.row_of("binance-paper")[1]

            runner = asyncio.ensure_future(kernel.run())
            await until(lambda: kernel.risk.venue_states.get("binance-paper", (TradingState.ACTIVE,))[0]
                        is TradingState.ACTIVE and kernel.market.get(SOL).book is not None, 10, "tradable")

            # a limit below the market from the ticket: it rests, and the blotter says PAPER
            ticket = window.ticket
            await until(lambda: ticket.symbol.findText(SOL) >= 0, 5, "the paper market in the ticket")
            choose(ticket.symbol, SOL)
            choose(ticket.order_type, "LIMIT")
            type_into(ticket.quantity, "0.5")
            type_into(ticket.price, f"{kernel.market.get(SOL).book.best_bid * 0.98:.2f}")
            qtbot.mouseClick(ticket.buy_button, Qt.MouseButton.LeftButton)
            (limit,) = kernel.execution.orders.values()
            await until(lambda: limit.status is not OrderStatus.SUBMITTED, 10, "the paper order resting")
            assert limit.status is OrderStatus.ACCEPTED, (limit.status, limit.reason, ticket.status.text())
            assert limit.venue == "binance-paper" and limit.venue_order_id.startswith("P")

            def blotter(column: str) -> list[str]:
                window.frames.tick()
                return table_column(window.blotter.orders, ORDER_HEADERS.index(column))
            await until(lambda: blotter("Status") == ["ACCEPTED"], 5, "the order in the blotter")
            assert blotter("Mode") == ["PAPER"] and blotter("Symbol") == [SOL]

            # a market order fills against the live book: the position and the paper account say PAPER
            choose(ticket.order_type, "MARKET")
            type_into(ticket.quantity, "0.2")
            qtbot.mouseClick(ticket.buy_button, Qt.MouseButton.LeftButton)
            market = next(o for o in kernel.execution.orders.values() if o is not limit)
            await until(lambda: market.status is OrderStatus.FILLED, 10, "the paper fill")
            await until(lambda: sorted(blotter("Mode")) == ["PAPER", "PAPER"], 5, "both orders shown")
            positions = window.positions
            assert table_column(positions.table, 0) == [SOL]
            assert table_column(positions.table, POSITION_HEADERS.index("Mode")) == ["PAPER"]
            assert table_column(positions.table, POSITION_HEADERS.index("Qty")) == ["0.2"]
            assert "PAPER binance-paper" in positions.cash.text() and "0.2 SOL" in positions.cash.text()

            # the status bar names the paper venue as PAPER
            def status_bar() -> str:
                window.frames.tick()
                return window.status.venues.text()
            await until(lambda: "binance-paper PAPER connected" in status_bar(), 5, "PAPER in the status bar")
            assert "sim connected" in status_bar() and "sim PAPER" not in status_bar()

            assert not [r for r in fake.requests if r[1] in ("/api/v3/order", "/api/v3/openOrders",
                                                             "/api/v3/myTrades", "/api/v3/account")]
        finally:
            kernel.stop()
            if runner is not None:
                await runner
            await kernel.venues.close()
            await fake.stop()

    run_async(journey())
