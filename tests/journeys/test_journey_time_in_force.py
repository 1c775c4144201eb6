"""Journey: time in force and post-only from the order ticket in the shown window (issue 20, item 1). The
trader picks IOC for a buy larger than the best levels: it takes what is there at the price and the rest is
canceled, which the ticket and the blotter say. FOK for too much: nothing fills, and the ticket says how much
was there. Post-only at the ask: refused, never traded; below it: it rests. Post-only is offered only for a GTC
limit."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from app.engine.core.messages import OrderStatus
from app.widgets.trading.blotter import ORDER_HEADERS
from tests.kit.ui import choose, pump, table_column, type_into

SYMBOL = "BTC/USDT@sim"


def buy(qtbot, kernel, window, qty: float, price: float) -> str:
    t = window.ticket
    type_into(t.quantity, f"{qty:g}")
    type_into(t.price, f"{price:.1f}")
    before = set(kernel.execution.orders)
    qtbot.mouseClick(t.buy_button, Qt.MouseButton.LeftButton)
    pump(qtbot, kernel, window, 20, step=10)
    (cid,) = set(kernel.execution.orders) - before
    return cid


def blotter(window, cid: str, column: str) -> str:
    window.frames.tick()
    table = window.blotter.orders
    row = table_column(table, ORDER_HEADERS.index("Id")).index(cid)
    return table.item(row, ORDER_HEADERS.index(column)).text()


def test_ioc_fok_and_post_only_from_the_ticket(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    t = window.ticket
    t.set_symbol(SYMBOL)
    choose(t.order_type, "LIMIT")
    assert [t.tif.itemText(i) for i in range(t.tif.count())] == ["GTC", "IOC", "FOK", "DAY"]  # what the sim takes
    assert t.tif.isVisible() and t.post_only.isVisible() and t.post_only.isEnabled()

    # IOC: more than the two best ask levels, at the second: what is there fills, the rest is canceled
    book = kernel.market.get(SYMBOL).book
    (p1, s1), (p2, s2) = book.asks[:2]
    choose(t.tif, "IOC")
    assert not t.post_only.isEnabled()  # a post-only order rests: not with IOC
    cid = buy(qtbot, kernel, window, round(s1 + s2 + 0.05, 4), p2)
    order = kernel.execution.orders[cid]
    assert order.status is OrderStatus.CANCELED, (order.status, order.reason)
    assert abs(order.filled_qty - (s1 + s2)) < 1e-9
    assert "CANCELED" in t.status.text() and "IOC remainder" in t.status.text()
    assert blotter(window, cid, "Status") == "CANCELED" and blotter(window, cid, "Reason") == "IOC remainder"

    # FOK: too much: nothing fills, and the ticket says how much there was
    pump(qtbot, kernel, window, 200)
    (p1, s1), (p2, s2) = kernel.market.get(SYMBOL).book.asks[:2]  # the market moved meanwhile
    choose(t.tif, "FOK")
    cid = buy(qtbot, kernel, window, round(s1 + s2 + 0.05, 4), p2)
    order = kernel.execution.orders[cid]
    assert order.status is OrderStatus.CANCELED and order.filled_qty == 0.0
    assert "FOK: only" in t.status.text() and "nothing filled" in t.status.text()

    # post-only: at the ask it would take: refused; at the bid it rests
    choose(t.tif, "GTC")
    box = t.post_only
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(6, box.height() // 2))
    assert box.isChecked() and not t.tif.isEnabled()
    pump(qtbot, kernel, window, 200)
    top = kernel.market.get(SYMBOL).book
    cid = buy(qtbot, kernel, window, 0.01, top.best_ask)
    order = kernel.execution.orders[cid]
    assert order.status is OrderStatus.REJECTED and order.filled_qty == 0.0
    assert "post-only" in t.status.text() and "would take the ask" in t.status.text()
    cid = buy(qtbot, kernel, window, 0.01, kernel.market.get(SYMBOL).book.best_bid - 5)
    assert kernel.execution.orders[cid].status is OrderStatus.ACCEPTED
    assert kernel.store.orders(("ACCEPTED",))[-1]["post_only"] == 1  # journaled as post-only

    # MARKET: no post-only
    choose(t.order_type, "MARKET")
    assert not t.post_only.isEnabled() and not t.post_only.isChecked()
