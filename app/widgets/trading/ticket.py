"""Order ticket: symbol, type, quantity, price, Buy/Sell. It only publishes SubmitOrder; the risk engine
decides. The status line shows the outcome of the ticket's last order, denials with their reason code.

Nothing moves under the mouse: the status line has a fixed share of the ticket (a long message is cut
there, whole in its tooltip), so a message never pushes the fields or the Buy/Sell buttons."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from app.engine.core.messages import OrderDenied, OrderStatus, OrderType, OrderUpdated, Side, SubmitOrder
from app.engine.port import Port
from app.widgets.common import new_symbols
from app.widgets.frame import BusSubscriptions

LIMIT_HINT, MARKET_HINT = "limit price", "market: fills at the best price"
STATUS_LINES = 3


class TicketWidget(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._mine: set[str] = set()
        self._status: tuple[str, bool] | None = None
        self._limit_price = ""  # the limit price typed before switching to MARKET, restored on LIMIT
        self._subs = BusSubscriptions()
        self._subs.add(port.subscribe(OrderDenied, self._on_denied))
        self._subs.add(port.subscribe(OrderUpdated, self._on_update))
        self.destroyed.connect(self._subs.clear)

        self.symbol = QComboBox()
        self.symbol.addItems(list(port.instruments))
        self.order_type = QComboBox()
        self.order_type.addItems([OrderType.LIMIT.value, OrderType.MARKET.value])
        self.quantity = QLineEdit("0.01")
        self.price = QLineEdit()
        self.price.setPlaceholderText(LIMIT_HINT)
        self.buy_button = QPushButton("Buy")
        self.buy_button.setObjectName("buyButton")
        self.sell_button = QPushButton("Sell")
        self.sell_button.setObjectName("sellButton")
        self.status = QLabel("")
        self.status.setObjectName("ticketStatus")
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.status.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.status.setMinimumHeight(self.status.fontMetrics().lineSpacing() * STATUS_LINES)

        form = QFormLayout()
        form.addRow("Symbol", self.symbol)
        form.addRow("Type", self.order_type)
        form.addRow("Quantity", self.quantity)
        form.addRow("Price", self.price)
        buttons = QHBoxLayout()
        buttons.addWidget(self.buy_button)
        buttons.addWidget(self.sell_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status, 1)

        self.buy_button.clicked.connect(lambda: self.send(Side.BUY))
        self.sell_button.clicked.connect(lambda: self.send(Side.SELL))
        self.order_type.currentTextChanged.connect(self._on_type)
        self.symbol.currentTextChanged.connect(self._on_symbol)
        self._on_symbol(self.symbol.currentText())

    def set_symbol(self, symbol: str) -> None:
        self.symbol.setCurrentText(self._port.instrument_id(symbol))

    def set_price(self, price: float) -> None:
        inst = self._port.instruments[self.symbol.currentText()]
        text = f"{price:.{inst.price_decimals}f}"
        if self.price.isEnabled():
            self.price.setText(text)
        else:
            self._limit_price = text

    def _on_type(self, order_type: str) -> None:
        """MARKET has no price: the box is disabled and empty, and says so; LIMIT gets the typed price back."""
        limit = order_type == OrderType.LIMIT.value
        if limit == self.price.isEnabled():
            return
        if limit:
            self.price.setText(self._limit_price)
        else:
            self._limit_price = self.price.text()
            self.price.clear()
        self.price.setPlaceholderText(LIMIT_HINT if limit else MARKET_HINT)
        self.price.setEnabled(limit)

    def _on_symbol(self, symbol: str) -> None:
        inst = self._port.instruments.get(symbol)
        if inst is not None:
            self.quantity.setText(f"{inst.min_qty * (1 if inst.asset_class == 'equity' else 100):g}")
            st = self._port.market.symbols.get(symbol)
            if st and st.book and st.book.mid:
                self.set_price(inst.round_price(st.book.mid))

    def send(self, side: Side, actor: str = "ticket") -> str | None:
        """Parse the form and publish a SubmitOrder; bad text gets a clear message, not an exception.
        ``actor`` says where the order came from (the ladder sends through here too) for the blotter and
        the audit trail."""
        qty = _parse(self.quantity.text())
        otype = OrderType(self.order_type.currentText())
        price = _parse(self.price.text()) if otype is OrderType.LIMIT else None
        if qty is None:
            self._show(f"Quantity {self.quantity.text()!r} is not a number.", False)
            return None
        if otype is OrderType.LIMIT and price is None:
            self._show(f"Price {self.price.text()!r} is not a number.", False)
            return None
        cid = self._port.new_order_id()
        self._mine.add(cid)
        self._show(f"{side.value} {qty:g} {self.symbol.currentText()} sent…", True)
        inst = self._port.instruments[self.symbol.currentText()]
        self._port.send(SubmitOrder(cid, inst.symbol, inst.venue, side, otype, qty, price, actor,
                                             ts=self._port.now_ms()))
        return cid

    def _on_denied(self, ev: OrderDenied) -> None:
        if ev.client_order_id in self._mine:
            self._status = (f"Denied [{ev.reason}]: {ev.message}", False)

    def _on_update(self, ev: OrderUpdated) -> None:
        if ev.client_order_id not in self._mine or ev.status is OrderStatus.DENIED:
            return
        order = self._port.orders.get(ev.client_order_id)
        text = f"{ev.client_order_id}: {ev.status.value}"
        if ev.filled_qty:
            text += f" {ev.filled_qty:g} @ {ev.avg_price:g}"
        if order is not None and order.reason and ev.status in (OrderStatus.REJECTED, OrderStatus.CANCELED):
            text += f" ({order.reason})"
        self._status = (text, ev.status is not OrderStatus.REJECTED)

    def refresh(self) -> None:
        added = new_symbols(self.symbol.count(), self._port.instruments)
        if added:
            self.symbol.addItems(added)
        if self._status is not None:
            self._show(*self._status)
            self._status = None

    def _show(self, text: str, ok: bool) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setProperty("ok", "true" if ok else "false")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)


def _parse(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", ""))
    except ValueError:
        return None
    return value  # NaN and inf pass through: the risk engine denies them with a reason code
