"""The ladder (DOM) and depth chart on a real kernel: sizes per level, our orders at their price, clicks
that trade and cancel through the risk gate, repaint at frame rate."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtTest import QTest

from app.engine.core.messages import OrderStatus, OrderType, Side
from app.widgets.trading.ladder import BEST_BG, BG, LAST_TEXT, LadderWidget
from tests.kit.kernel import advance
from tests.kit.ui import pump

SYMBOL = "BTC/USDT@sim"


def cell_pos(ladder: LadderWidget, column: str, price: float) -> QPoint:
    v = ladder.view
    row = v.row_of(v.model.ticks(price))
    assert row is not None, f"{price} is not on screen"
    names = ("Buy", "Bid", "Price", "Ask", "Sell")
    fracs = (0.16, 0.22, 0.24, 0.22, 0.16)
    x = sum(fracs[: names.index(column)]) * v.width() + fracs[names.index(column)] * v.width() / 2
    return QPoint(int(x), int(v.ROW_H + row * v.ROW_H + v.ROW_H / 2))


def shown_ladder(qtbot, make_kernel, height: int) -> tuple:
    """A real kernel 500 ms into its sim market and a ladder on it, 320 px wide, shown."""
    kernel = make_kernel(latency_ms=0)
    advance(kernel, 500)
    ladder = LadderWidget(kernel.port)
    qtbot.addWidget(ladder)
    ladder.resize(320, height)
    ladder.show()
    qtbot.waitExposed(ladder)
    return kernel, ladder


def test_sizes_per_level_match_the_book_and_the_depth_chart(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    ladder = window.ladder
    book = kernel.market.get(SYMBOL).book
    rows = {r["price"]: r for r in ladder.rows()}
    for price, size in book.bids[:5]:
        assert rows[price]["bid"] == size and rows[price]["ask"] is None
    for price, size in book.asks[:5]:
        assert rows[price]["ask"] == size and rows[price]["bid"] is None
    bp, bs, ap, as_ = ladder.depth_chart.curves()
    np.testing.assert_allclose(bs, np.cumsum([s for _, s in book.bids]))
    np.testing.assert_allclose(as_, np.cumsum([s for _, s in book.asks]))
    assert bp[0] == book.best_bid and ap[0] == book.best_ask
    assert "spread" in ladder.title.text()


def test_a_click_on_a_bid_buys_there_through_the_ticket_and_the_risk_gate(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    ladder, ticket = window.ladder, window.ticket
    ticket.quantity.setText("0.02")
    price = kernel.market.get(SYMBOL).book.bids[4][0]
    QTest.mouseClick(ladder.view, Qt.MouseButton.LeftButton, pos=cell_pos(ladder, "Bid", price))
    pump(qtbot, kernel, window, 10, step=10)
    (order,) = kernel.execution.orders.values()
    assert (order.side, order.order_type, order.price, order.quantity) == (Side.BUY, OrderType.LIMIT, price, 0.02)
    assert order.status is OrderStatus.ACCEPTED and order.actor == "ladder"
    assert 0.02 in [r["buy"] for r in ladder.rows()]  # shown on our side of the ladder at that price
    assert "ACCEPTED" in ticket.status.text()

    ask = kernel.market.get(SYMBOL).book.asks[6][0]
    QTest.mouseClick(ladder.view, Qt.MouseButton.LeftButton, pos=cell_pos(ladder, "Ask", ask))
    pump(qtbot, kernel, window, 10, step=10)
    sells = [o for o in kernel.execution.working_orders(SYMBOL) if o.side is Side.SELL]
    assert [(o.price, o.quantity) for o in sells] == [(ask, 0.02)]

    # cancel at the level: a click on our orders there
    QTest.mouseClick(ladder.view, Qt.MouseButton.LeftButton, pos=cell_pos(ladder, "Buy", price))
    pump(qtbot, kernel, window, 10, step=10)
    assert order.status is OrderStatus.CANCELED
    assert 0.02 not in [r["buy"] for r in ladder.rows()]


def test_a_denied_ladder_click_shows_in_the_ticket(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    window.ticket.quantity.setText("0.00015")  # not on the lot size
    price = kernel.market.get(SYMBOL).book.bids[2][0]
    window.ladder.click("Bid", price)
    pump(qtbot, kernel, window, 10, step=10)
    assert "QTY_NOT_ON_LOT" in window.ticket.status.text()
    assert window.ticket.status.property("ok") == "false"
    window.risk_panel.kill_button.click()
    window.ticket.quantity.setText("0.01")
    window.ladder.click("Ask", kernel.market.get(SYMBOL).book.asks[2][0])
    pump(qtbot, kernel, window, 10, step=10)
    assert "TRADING_HALTED" in window.ticket.status.text()
    assert not kernel.execution.working_orders(SYMBOL)


def test_our_orders_outside_the_top_levels_are_shown_at_their_price(qtbot, make_kernel):
    kernel, ladder = shown_ladder(qtbot, make_kernel, 1000)
    ladder.refresh()
    book = kernel.market.get(SYMBOL).book
    inst = kernel.instruments[SYMBOL]
    near = inst.round_price(book.bids[-1][0] - 8 * inst.tick_size)  # below the book's 10 levels
    far = inst.round_price(book.bids[-1][0] - 500 * inst.tick_size)  # far off screen
    kernel.submit(SYMBOL, Side.BUY, OrderType.LIMIT, 0.01, near)
    kernel.submit(SYMBOL, Side.BUY, OrderType.LIMIT, 0.03, far)
    advance(kernel, 50)
    ladder.refresh()
    rows = {r["price"]: r for r in ladder.rows()}
    assert near < min(p for p, _ in book.bids)
    assert rows[near]["buy"] == 0.01 and rows[near]["bid"] is None
    assert far not in rows
    # the edge says there is more below; clicking it scrolls there
    v = ladder.view
    QTest.mouseClick(v, Qt.MouseButton.LeftButton, pos=QPoint(v.width() // 2, v.ROW_H + (v.rows - 1) * v.ROW_H + 5))
    assert {r["price"]: r for r in ladder.rows()}[far]["buy"] == 0.03
    assert not v.follow
    ladder.centre_button.click()
    assert v.follow and v.center == v.model.mid()


def test_the_ladder_repaints_at_frame_rate_not_per_book_update(qtbot, window_factory):
    kernel, window = window_factory()
    window.frames.stop()  # frames only when this test ticks them
    pump(qtbot, kernel, window, 300)

    class Count(QObject):
        n = 0

        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint:
                Count.n += 1
            return False

    counter = Count()
    window.ladder.view.installEventFilter(counter)
    window.ladder.view.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # no hover repaints
    qtbot.wait(100)  # expose and activation repaints of the new window are done
    Count.n = 0
    v0 = kernel.market.get(SYMBOL).version
    for _ in range(40):  # many book updates, no frame
        kernel.clock.advance(50)
        kernel.step()
    qtbot.wait(5)
    assert kernel.market.get(SYMBOL).version - v0 >= 20 and Count.n == 0
    window.frames.tick()
    qtbot.wait(5)
    assert Count.n == 1


def test_the_price_column_is_never_stale_after_scrolls_resizes_and_symbol_switches(qtbot, make_kernel):
    """The prices are drawn from an image kept per ladder position (not ~30 texts a frame). Whatever moves the
    ladder, the screen matches a paint with that image drawn afresh."""
    from PySide6.QtWidgets import QApplication

    kernel, ladder = shown_ladder(qtbot, make_kernel, 600)
    v = ladder.view

    def same_as_fresh(what: str) -> None:
        QApplication.processEvents()
        ladder.refresh()
        shown = v.grab().toImage()
        v._column_key = ()  # the next paint draws the column afresh
        assert shown == v.grab().toImage(), f"stale price column after: {what}"
        m, x = v.model, int(v.width() * 0.40)  # inside the price column, left of the text
        for t in (m.best_bid, m.best_ask, m.best_bid - 3):  # the best prices are highlighted, others not
            row = v.row_of(t)
            if row is not None:
                want = BEST_BG if t in (m.best_bid, m.best_ask) else BG
                assert shown.pixelColor(x, v.ROW_H * (row + 1) + 2) == want, f"{what}: cell at {m.price(t)}"
        row = v.row_of(m.last)
        if row is not None:  # the last price is written in its own colour
            cells = shown.copy(int(v.width() * 0.38), v.ROW_H * (row + 1), int(v.width() * 0.24), v.ROW_H)
            assert LAST_TEXT.rgb() in {cells.pixel(i, j) for i in range(cells.width()) for j in range(cells.height())}

    def one_more_row() -> None:  # (one of two such steps keeps the top row's price where it was)
        rows = v.rows
        while v.rows == rows:
            ladder.resize(ladder.width(), ladder.height() + 1)
            QApplication.processEvents()

    same_as_fresh("the first paint")
    centre0 = v.center
    for what, change in [("the book moving for 20 s", lambda: advance(kernel, 20_000)),
                         ("a scroll up", lambda: v.scroll_rows(3)),
                         ("a scroll down", lambda: v.scroll_rows(-11)),
                         ("re-centring", ladder.centre),
                         ("a taller ladder", lambda: ladder.resize(320, 760)),
                         ("one row more", lambda: one_more_row()),
                         ("another row more", lambda: one_more_row()),
                         ("a narrower ladder", lambda: ladder.resize(260, 760)),
                         ("a switch to a symbol with another tick size", lambda: ladder.set_symbol("ETH/USDT@sim")),
                         ("a switch back", lambda: ladder.set_symbol("BTC/USDT@sim"))]:
        change()
        same_as_fresh(what)
    assert v.center != centre0  # the ladder did move
    assert v.row_of(v.model.last) is not None  # and the last price (drawn over the column) was on screen
