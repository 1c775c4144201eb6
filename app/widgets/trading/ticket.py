"""Order ticket: symbol, type, quantity, price, time in force and post-only (what the instrument's venue takes:
GTC always; IOC, FOK and post-only where it has them), Buy/Sell. It only publishes SubmitOrder; the risk engine
decides. The status line shows the outcome of the ticket's last order, denials with their reason code.

Nothing moves under the mouse: the status line has a fixed share of the ticket (a long message is cut
there, whole in its tooltip), so a message never pushes the fields or the Buy/Sell buttons."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout,
    QWidget,
)

from app.engine.core.messages import (
    OrderDenied, OrderStatus, OrderType, OrderUpdated, Side, SubmitOrder, TimeInForce,
)
from app.engine.port import Port
from app.widgets.common import new_symbols, offer
from app.widgets.frame import BusSubscriptions

LIMIT_HINT, MARKET_HINT = "limit price", "market: fills at the best price"
TRIGGER_HINT, NO_TRIGGER_HINT = "stop: triggers when a trade prints here", "stop orders only"
PRICED = (OrderType.LIMIT.value, OrderType.STOP_LIMIT.value)
STOPS = (OrderType.STOP.value, OrderType.STOP_LIMIT.value)
TIF_TIPS = {"GTC": "good till canceled: works until it fills or you cancel it",
            "IOC": "immediate or cancel: fills what it can now, the rest is canceled",
            "FOK": "fill or kill: fills whole now, or not at all"}
POST_ONLY_TIP = "post-only: rests in the book as a maker order; refused if it would trade at once"
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
        self.trigger = QLineEdit()
        self.trigger.setPlaceholderText(NO_TRIGGER_HINT)
        self.trigger.setEnabled(False)
        self.trigger.setToolTip("STOP: a market order when a trade prints at or through this price; STOP_LIMIT: "
                                "a limit order at the price above. A sell stop sits below the market, a buy stop "
                                "above it.")
        self.tif = QComboBox()
        self.tif.addItem("GTC")
        self.tif.setToolTip(TIF_TIPS["GTC"])
        self.post_only = QCheckBox("Post-only")
        self.post_only.setToolTip(POST_ONLY_TIP)
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
        form.addRow("Trigger", self.trigger)
        tif_row = QHBoxLayout()
        tif_row.addWidget(self.tif, 1)
        tif_row.addWidget(self.post_only)
        form.addRow("Time in force", tif_row)
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
        self.order_type.currentTextChanged.connect(lambda _t: self._sync_flags())
        self.tif.currentTextChanged.connect(lambda _t: self._sync_flags())
        self.post_only.toggled.connect(lambda _on: self._sync_flags())
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
        """MARKET and STOP have no price: the box is disabled and empty, and says so; LIMIT and STOP_LIMIT get
        the typed price back. The trigger box is for the stops only."""
        stop = order_type in STOPS
        self.trigger.setEnabled(stop)
        self.trigger.setPlaceholderText(TRIGGER_HINT if stop else NO_TRIGGER_HINT)
        limit = order_type in PRICED
        if limit == self.price.isEnabled():
            return
        if limit:
            self.price.setText(self._limit_price)
        else:
            self._limit_price = self.price.text()
            self.price.clear()
        self.price.setPlaceholderText(LIMIT_HINT if limit else MARKET_HINT)
        self.price.setEnabled(limit)

    def _sync_flags(self) -> None:
        """Offer what the instrument's venue takes; post-only only for a GTC limit (it must rest)."""
        inst = self._port.instruments.get(self.symbol.currentText())
        has = self._port.venues.order_features(inst.venue) if inst is not None else frozenset()
        offered = ["GTC"] + [t for t in ("IOC", "FOK") if t in has and self.order_type.currentText() not in STOPS]
        types = [OrderType.LIMIT.value, OrderType.MARKET.value] + [t for t in STOPS if t in has]
        if offer(self.order_type, types, self.order_type.currentText()):  # LIMIT, first, if the type went
            self._on_type(self.order_type.currentText())
        offer(self.tif, offered, self.tif.currentText())  # GTC, first, if the choice went
        self.tif.setToolTip(TIF_TIPS[self.tif.currentText()])
        can_post = "post_only" in has and self.order_type.currentText() == OrderType.LIMIT.value \
            and self.tif.currentText() == "GTC"
        if not can_post and self.post_only.isChecked():
            self.post_only.setChecked(False)
        self.post_only.setEnabled(can_post)
        self.post_only.setToolTip(POST_ONLY_TIP if "post_only" in has or inst is None else
                                  f"{POST_ONLY_TIP} ({inst.venue} does not take post-only orders)")
        self.tif.setEnabled(not self.post_only.isChecked())

    def _on_symbol(self, symbol: str) -> None:
        self._sync_flags()
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
        price = _parse(self.price.text()) if otype.value in PRICED else None
        trigger = _parse(self.trigger.text()) if otype.value in STOPS else None
        if qty is None:
            self._show(f"Quantity {self.quantity.text()!r} is not a number.", False)
            return None
        if otype.value in PRICED and price is None:
            self._show(f"Price {self.price.text()!r} is not a number.", False)
            return None
        if otype.value in STOPS and trigger is None:
            self._show(f"Trigger {self.trigger.text()!r} is not a number: a stop needs the price it triggers at.",
                       False)
            return None
        cid = self._port.new_order_id()
        self._mine.add(cid)
        self._show(f"{side.value} {qty:g} {self.symbol.currentText()} sent…", True)
        inst = self._port.instruments[self.symbol.currentText()]
        self._port.send(SubmitOrder(cid, inst.symbol, inst.venue, side, otype, qty, price, actor,
                                    ts=self._port.now_ms(), tif=TimeInForce(self.tif.currentText()),
                                    trigger_price=trigger,
                                    post_only=self.post_only.isChecked() and self.post_only.isEnabled()))
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
