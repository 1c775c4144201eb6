"""Journey: the order ticket in the shown window, driven with clicks and keys (issue 16, defect 10).

A limit order rests and shows in the blotter as the ticket's; a market order fills; bad input is explained
in red and sends nothing; a long message never moves the fields or Buy/Sell under the mouse; in MARKET the
price box is visibly disabled and says why it is empty."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from app.engine.core.messages import OrderStatus
from app.widgets.trading.blotter import ORDER_HEADERS
from tests.kit.ui import choose, pump, table_column, type_into

SYMBOL = "BTC/USDT@sim"






def click(qtbot, button) -> None:
    assert button.isVisible() and button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def blotter_row(window, client_order_id: str) -> dict[str, str]:
    table = window.blotter.orders
    ids = table_column(table, ORDER_HEADERS.index("Id"))
    row = ids.index(client_order_id)
    return {h: table.item(row, c).text() if table.item(row, c) else "" for c, h in enumerate(ORDER_HEADERS)}


def place(qtbot, kernel, window, order_type: str, qty: str, price: str | None, side: str = "Buy") -> None:
    t = window.ticket
    choose(t.order_type, order_type)
    type_into(t.quantity, qty)
    if price is not None:
        type_into(t.price, price)
    click(qtbot, t.buy_button if side == "Buy" else t.sell_button)
    pump(qtbot, kernel, window, 10, step=10)


def interior_color(field) -> QColor:
    """The colour a person sees inside a text box, away from its text and border."""
    image = field.grab().toImage()
    return QColor(image.pixel(image.width() - 12, image.height() // 2))


def test_limit_then_market_orders_from_the_ticket(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    ticket = window.ticket
    bid = kernel.market.get(SYMBOL).book.bids[3][0]  # a level the ladder shows, off the touch

    place(qtbot, kernel, window, "LIMIT", "0.02", f"{bid:.1f}")
    (limit,) = kernel.execution.orders.values()
    assert "ACCEPTED" in ticket.status.text() and ticket.status.property("ok") == "true"
    row = blotter_row(window, limit.client_order_id)
    assert (row["Side"], row["Type"], row["Qty"], row["Price"], row["Status"], row["Source"]) == \
        ("BUY", "LIMIT", "0.02", f"{bid:,.1f}", "ACCEPTED", "ticket")

    place(qtbot, kernel, window, "MARKET", "0.03", None)
    pump(qtbot, kernel, window, 100)
    market = next(o for o in kernel.execution.orders.values() if o is not limit)
    assert market.status is OrderStatus.FILLED
    assert "FILLED" in ticket.status.text()
    row = blotter_row(window, market.client_order_id)
    assert (row["Side"], row["Type"], row["Status"], row["Source"]) == ("BUY", "MARKET", "FILLED", "ticket")
    assert "0.03" in table_column(window.positions.table, 1)


def test_bad_input_is_explained_and_sends_nothing(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    ticket = window.ticket
    for order_type, qty, price, expected in [
        ("MARKET", "abc", None, "Quantity 'abc' is not a number"),
        ("MARKET", "0", None, "INVALID_QUANTITY"),
        ("MARKET", "-1", None, "INVALID_QUANTITY"),
        ("MARKET", "0.00015", None, "QTY_NOT_ON_LOT"),
        ("LIMIT", "0.01", "sixty", "Price 'sixty' is not a number"),
        ("LIMIT", "0.01", "65000.05", "PRICE_NOT_ON_TICK"),
    ]:
        place(qtbot, kernel, window, order_type, qty, price)
        assert expected in ticket.status.text(), (qty, price)
        assert ticket.status.property("ok") == "false"  # shown in red
    assert not [o for o in kernel.execution.orders.values() if o.status is not OrderStatus.DENIED]
    assert kernel.portfolio.position(SYMBOL).quantity == 0
    assert "PRICE_NOT_ON_TICK" in table_column(window.risk_panel.denials, 3)


def test_a_long_message_moves_nothing_under_the_mouse(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    ticket = window.ticket
    parts = [ticket.symbol, ticket.order_type, ticket.quantity, ticket.price, ticket.buy_button,
             ticket.sell_button]

    def where() -> list[tuple[int, int, int, int]]:
        return [(*w.mapTo(window, QPoint(0, 0)).toTuple(), w.width(), w.height()) for w in parts]

    place(qtbot, kernel, window, "MARKET", "0.01", None)
    pump(qtbot, kernel, window, 100)
    before = where()
    place(qtbot, kernel, window, "MARKET", "4", None)  # far above the manual notional limit
    text = ticket.status.text()
    assert "MAX_NOTIONAL" in text  # the ticket is a person: the manual limit applies
    limit = f"{kernel.risk.limits.max_notional_manual:,.2f}"
    assert limit in text and limit.replace(",", "") in table_column(window.risk_panel.denials, 4)
    assert ticket.status.fontMetrics().horizontalAdvance(text) > ticket.status.width()  # it wraps
    assert where() == before
    place(qtbot, kernel, window, "MARKET", "0.01", None)
    assert where() == before


def test_market_mode_greys_the_price_box_and_says_why_it_is_empty(qtbot, window_factory):
    kernel, window = window_factory()
    pump(qtbot, kernel, window, 500)
    ticket = window.ticket
    choose(ticket.order_type, "LIMIT")
    type_into(ticket.price, "64000.5")
    editable = interior_color(ticket.price)

    choose(ticket.order_type, "MARKET")
    box = ticket.price
    assert not box.isEnabled()
    assert box.text() == "" and "market" in box.placeholderText()
    disabled = interior_color(box)
    assert abs(disabled.lightness() - editable.lightness()) >= 10, (disabled.name(), editable.name())

    choose(ticket.order_type, "LIMIT")  # the typed limit price comes back
    assert box.isEnabled() and box.text() == "64000.5"
    assert interior_color(box) == editable
