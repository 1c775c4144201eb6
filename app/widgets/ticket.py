"""Order ticket: symbol, type, quantity, price, Buy/Sell. It only publishes SubmitOrder; the risk engine
decides. The status line shows the outcome of the ticket's last order, denials with their reason code."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from app.engine.kernel import Kernel
from app.engine.messages import OrderDenied, OrderStatus, OrderType, OrderUpdated, Side, SubmitOrder
from app.widgets.common import new_symbols
from app.widgets.frame import BusSubscriptions


class TicketWidget(QWidget):
    def __init__(self, kernel: Kernel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kernel = kernel
        self._mine: set[str] = set()
        self._status: tuple[str, bool] | None = None
        self._subs = BusSubscriptions()
        self._subs.add(kernel.bus.subscribe(OrderDenied, self._on_denied))
        self._subs.add(kernel.bus.subscribe(OrderUpdated, self._on_update))
        self.destroyed.connect(self._subs.clear)

        self.symbol = QComboBox()
        self.symbol.addItems(list(kernel.instruments))
        self.order_type = QComboBox()
        self.order_type.addItems([OrderType.LIMIT.value, OrderType.MARKET.value])
        self.quantity = QLineEdit("0.01")
        self.price = QLineEdit()
        self.price.setPlaceholderText("limit price")
        self.buy_button = QPushButton("Buy")
        self.buy_button.setObjectName("buyButton")
        self.sell_button = QPushButton("Sell")
        self.sell_button.setObjectName("sellButton")
        self.status = QLabel("")
        self.status.setObjectName("ticketStatus")
        self.status.setWordWrap(True)

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
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.buy_button.clicked.connect(lambda: self.send(Side.BUY))
        self.sell_button.clicked.connect(lambda: self.send(Side.SELL))
        self.order_type.currentTextChanged.connect(lambda t: self.price.setEnabled(t == OrderType.LIMIT.value))
        self.symbol.currentTextChanged.connect(self._on_symbol)
        self._on_symbol(self.symbol.currentText())

    def set_symbol(self, symbol: str) -> None:
        self.symbol.setCurrentText(symbol)

    def set_price(self, price: float) -> None:
        inst = self._kernel.instruments[self.symbol.currentText()]
        self.price.setText(f"{price:.{inst.price_decimals}f}")

    def _on_symbol(self, symbol: str) -> None:
        inst = self._kernel.instruments.get(symbol)
        if inst is not None:
            self.quantity.setText(f"{inst.min_qty * (1 if inst.asset_class == 'equity' else 100):g}")
            st = self._kernel.market.symbols.get(symbol)
            if st and st.book and st.book.mid:
                self.set_price(inst.round_price(st.book.mid))

    def send(self, side: Side) -> str | None:
        """Parse the form and publish a SubmitOrder; bad text gets a clear message, not an exception."""
        qty = _parse(self.quantity.text())
        otype = OrderType(self.order_type.currentText())
        price = _parse(self.price.text()) if otype is OrderType.LIMIT else None
        if qty is None:
            self._show(f"Quantity {self.quantity.text()!r} is not a number.", False)
            return None
        if otype is OrderType.LIMIT and price is None:
            self._show(f"Price {self.price.text()!r} is not a number.", False)
            return None
        cid = self._kernel.new_order_id()
        self._mine.add(cid)
        self._show(f"{side.value} {qty:g} {self.symbol.currentText()} sent…", True)
        inst = self._kernel.instruments[self.symbol.currentText()]
        self._kernel.bus.publish(SubmitOrder(cid, inst.symbol, inst.venue, side, otype, qty, price, "manual",
                                             ts=self._kernel.clock.now_ms()))
        return cid

    def _on_denied(self, ev: OrderDenied) -> None:
        if ev.client_order_id in self._mine:
            self._status = (f"Denied [{ev.reason}]: {ev.message}", False)

    def _on_update(self, ev: OrderUpdated) -> None:
        if ev.client_order_id not in self._mine or ev.status is OrderStatus.DENIED:
            return
        order = self._kernel.execution.orders.get(ev.client_order_id)
        text = f"{ev.client_order_id}: {ev.status.value}"
        if ev.filled_qty:
            text += f" {ev.filled_qty:g} @ {ev.avg_price:g}"
        if order is not None and order.reason and ev.status in (OrderStatus.REJECTED, OrderStatus.CANCELED):
            text += f" ({order.reason})"
        self._status = (text, ev.status is not OrderStatus.REJECTED)

    def refresh(self) -> None:
        added = new_symbols(self.symbol.count(), self._kernel.instruments)
        if added:
            self.symbol.addItems(added)
        if self._status is not None:
            self._show(*self._status)
            self._status = None

    def _show(self, text: str, ok: bool) -> None:
        self.status.setText(text)
        self.status.setProperty("ok", "true" if ok else "false")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)


def _parse(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", ""))
    except ValueError:
        return None
    return value  # NaN and inf pass through: the risk engine denies them with a reason code
