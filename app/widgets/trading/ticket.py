"""Order ticket: symbol, type, quantity, price, time in force and post-only (what the instrument's venue takes:
GTC always; IOC, FOK and post-only where it has them), Buy/Sell. It only publishes SubmitOrder; the risk engine
decides. The status line shows the outcome of the ticket's last order, denials with their reason code.

Stops (STOP, STOP LIMIT, TRAILING STOP): a trigger (a trailing stop's is optional: the price it starts trailing
at), a trail distance in price or percent, what the trigger watches (the last trade, or bid/ask), and who keeps
it: "auto" (the venue where it can, else Kestrel), "native" or "emulated". A line under them says which it will
be before it is sent. A stop that would trigger at once is refused by the gate; the ticket then asks whether to
send it anyway (it triggers at the next trade).

Nothing moves under the mouse: the status line has a fixed share of the ticket (a long message is cut
there, whole in its tooltip), so a message never pushes the fields or the Buy/Sell buttons."""
from __future__ import annotations

from PySide6.QtCore import Qt
from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QSizePolicy,
    QVBoxLayout, QWidget,
)

from app.engine.core.messages import (
    Emulation, OrderDenied, OrderStatus, OrderType, OrderUpdated, Side, SubmitBracket, SubmitOrder, TimeInForce,
    TriggerSource,
)
from app.engine.port import Port
from app.widgets.common import new_symbols, offer, parse_number
from app.widgets.frame import BusSubscriptions

LIMIT_HINT, MARKET_HINT = "limit price", "market: fills at the best price"
TRIGGER_HINT, NO_TRIGGER_HINT = "stop: triggers when a trade prints here", "stop orders only"
ACTIVATION_HINT = "optional: starts trailing when this trades"
PRICED = (OrderType.LIMIT.value, OrderType.STOP_LIMIT.value)
FIXED_STOPS = (OrderType.STOP.value, OrderType.STOP_LIMIT.value)
STOPS = FIXED_STOPS + (OrderType.TRAILING_STOP.value,)
SOURCES = {"last trade": TriggerSource.LAST, "bid/ask": TriggerSource.BID_ASK}
EXECS = {"auto": Emulation.AUTO, "native": Emulation.NATIVE, "emulated": Emulation.EMULATED}
EXEC_TIP = ("Who keeps the stop until it triggers. native: the venue (it works while Kestrel is closed); emulated: "
            "Kestrel, which fires it on the first trade through its trigger and checks it again then (it works "
            "only while this terminal runs); auto: the venue where it keeps this kind of stop, else Kestrel.")
TIF_TIPS = {"GTC": "good till canceled: works until it fills or you cancel it",
            "IOC": "immediate or cancel: fills what it can now, the rest is canceled",
            "FOK": "fill or kill: fills whole now, or not at all",
            "DAY": "day: works until the end of the trading day (00:00 UTC for crypto), then expires"}
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
        self.trail = QLineEdit()
        self.trail.setPlaceholderText("trailing stops only")
        self.trail.setEnabled(False)
        self.trail.setToolTip("How far the stop follows behind the best price since it was placed: a sell "
                              "trailing stop fires this far below the highest trade, a buy one this far above the "
                              "lowest.")
        self.trail_unit = QComboBox()
        self.trail_unit.addItems(["price", "%"])
        self.trail_unit.setEnabled(False)
        self.source = QComboBox()
        self.source.addItems(list(SOURCES))
        self.source.setToolTip("What the trigger watches: trade prints, or the bid (a sell stop) / the ask (a buy "
                               "stop).")
        self.exec = QComboBox()
        self.exec.addItems(list(EXECS))
        self.exec.setToolTip(EXEC_TIP)
        self.exec_line = QLabel("")  # who will keep it, in a word ("native" / "emulated"); the sentence in its tip
        self.exec_line.setObjectName("ticketExec")
        self.confirm_box: QMessageBox | None = None
        self._sent: dict[str, SubmitOrder] = {}
        # protection sent with the order (a bracket): armed by Kestrel as it fills, one cancelling the other
        self.stop_loss = QLineEdit()
        self.stop_loss.setPlaceholderText("stop-loss")
        self.take_profit = QLineEdit()
        self.take_profit.setPlaceholderText("take-profit")
        for box in (self.stop_loss, self.take_profit):
            box.setToolTip("Attach protection to a limit or market order: Kestrel arms a stop-loss and a "
                           "take-profit for what the order fills, one cancelling the other (kept by Kestrel: "
                           "they fire only while this terminal runs). Empty: none.")
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
        trail_row = QHBoxLayout()
        trail_row.addWidget(self.trail, 1)
        trail_row.addWidget(self.trail_unit)
        form.addRow("Trail", trail_row)
        stop_row = QHBoxLayout()
        stop_row.addWidget(self.source, 1)
        stop_row.addWidget(self.exec, 1)
        stop_row.addWidget(self.exec_line)
        form.addRow("Stop on", stop_row)
        attach_row = QHBoxLayout()
        attach_row.addWidget(self.stop_loss, 1)
        attach_row.addWidget(self.take_profit, 1)
        form.addRow("Attach", attach_row)
        tif_row = QHBoxLayout()
        tif_row.addWidget(self.tif, 1)
        tif_row.addWidget(self.post_only)
        form.addRow("Time in force", tif_row)
        # only the rows an order type uses are shown (six at most: the ticket's height stays what it was)
        self._form = form
        self._rows = {"price": 3, "trigger": 4, "trail": 5, "stop": 6, "attach": 7, "tif": 8}
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
        self.source.currentTextChanged.connect(lambda _t: self._sync_flags())
        self.exec.currentTextChanged.connect(lambda _t: self._sync_flags())
        for edit in (self.trail, self.trigger):  # a trailing stop's distance and activation: native or emulated
            edit.textChanged.connect(lambda _t: self._sync_flags())
        self.trail_unit.currentTextChanged.connect(lambda _t: self._sync_flags())
        self.symbol.currentTextChanged.connect(self._on_symbol)
        self._on_symbol(self.symbol.currentText())
        self._on_type(self.order_type.currentText())

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
        trailing = order_type == OrderType.TRAILING_STOP.value
        self.trigger.setEnabled(stop)
        self.trigger.setPlaceholderText(ACTIVATION_HINT if trailing else TRIGGER_HINT if stop else NO_TRIGGER_HINT)
        self.trail.setEnabled(trailing)
        self.trail_unit.setEnabled(trailing)
        self.trail.setPlaceholderText("distance behind the best price" if trailing else "trailing stops only")
        self.source.setEnabled(stop)
        self.exec.setEnabled(stop)
        self.stop_loss.setEnabled(not stop)
        self.take_profit.setEnabled(not stop)
        shown = {"price": not trailing, "trigger": stop, "trail": trailing, "stop": stop, "attach": not stop,
                 "tif": not stop}
        for name, row in self._rows.items():
            self._form.setRowVisible(row, shown[name])
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
        stop = self.order_type.currentText() in STOPS  # a stop is good till canceled
        offered = ["GTC"] + [t for t in ("IOC", "FOK", "DAY") if t in has and not stop]
        ashare = inst is not None and inst.rules == "ashare"  # China's exchanges take limit and market orders only
        types = [OrderType.LIMIT.value, OrderType.MARKET.value] + ([] if ashare else list(STOPS))
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
        sentence = self._exec_text(inst)
        self.exec_line.setText(sentence.split(":", 1)[0])
        self.exec_line.setToolTip(sentence)

    def _exec_text(self, inst) -> str:  # noqa: ANN001
        """Who will keep the stop on the form, as the gate will decide it (``VenuesView.keeps_stop``)."""
        otype = self.order_type.currentText()
        if otype not in STOPS or inst is None:
            return ""
        trail = activation = None
        if otype == OrderType.TRAILING_STOP.value:
            trail = parse_number(self.trail.text()) if self.trail.text().strip() else None
            activation = parse_number(self.trigger.text()) if self.trigger.text().strip() else None
        pct = self.trail_unit.currentText() == "%"
        native_ok = self._port.venues.keeps_stop(inst.venue, OrderType(otype), SOURCES[self.source.currentText()],
                                                 None if pct else trail, trail if pct else None, activation)
        want = EXECS[self.exec.currentText()]
        if want is Emulation.NATIVE and not native_ok:
            return f"native: {inst.venue} does not keep this stop; it will be refused"
        if want is Emulation.EMULATED or not native_ok:
            return "emulated: Kestrel keeps it and fires it; it works only while this terminal runs"
        return f"native: {inst.venue} keeps it, also while Kestrel is closed"

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
        qty = parse_number(self.quantity.text())
        otype = OrderType(self.order_type.currentText())
        price = parse_number(self.price.text()) if otype.value in PRICED else None
        trailing = otype is OrderType.TRAILING_STOP
        trigger = parse_number(self.trigger.text()) if otype.value in STOPS and self.trigger.text().strip() else None
        trail = parse_number(self.trail.text()) if trailing else None
        if qty is None:
            self._show(f"Quantity {self.quantity.text()!r} is not a number.", False)
            return None
        if otype.value in PRICED and price is None:
            self._show(f"Price {self.price.text()!r} is not a number.", False)
            return None
        if (otype.value in FIXED_STOPS or self.trigger.text().strip()) and otype.value in STOPS and trigger is None:
            self._show(f"Trigger {self.trigger.text()!r} is not a number: a stop needs the price it triggers at.",
                       False)
            return None
        if trailing and trail is None:
            self._show(f"Trail {self.trail.text()!r} is not a number: a trailing stop needs its distance.", False)
            return None
        pct = trailing and self.trail_unit.currentText() == "%"
        attach = {}
        if otype.value not in STOPS:
            for box, name in ((self.stop_loss, "stop_loss"), (self.take_profit, "take_profit")):
                if box.text().strip():
                    attach[name] = parse_number(box.text())
                    if attach[name] is None:
                        self._show(f"The {name.replace('_', '-')} {box.text()!r} is not a number.", False)
                        return None
        cid = self._port.new_order_id()
        self._mine.add(cid)
        self._show(f"{side.value} {qty:g} {self.symbol.currentText()} sent…", True)
        inst = self._port.instruments[self.symbol.currentText()]
        stop = otype.value in STOPS
        cmd = SubmitOrder(cid, inst.symbol, inst.venue, side, otype, qty, price, actor, ts=self._port.now_ms(),
                          tif=TimeInForce(self.tif.currentText()), trigger_price=trigger,
                          post_only=self.post_only.isChecked() and self.post_only.isEnabled(),
                          trail_amount=None if pct or not trailing else trail, trail_pct=trail if pct else None,
                          trigger_source=SOURCES[self.source.currentText()] if stop else TriggerSource.LAST,
                          emulation=EXECS[self.exec.currentText()] if stop else Emulation.AUTO)
        self._sent[cid] = cmd
        if attach:
            self._port.send(SubmitBracket(f"B{cid}", cmd, attach.get("take_profit"), attach.get("stop_loss"), actor,
                                          self._port.now_ms()))
        else:
            self._port.send(cmd)
        return cid

    def _confirm_marketable(self, ev: OrderDenied) -> None:
        """The gate refused a stop that would trigger at once: ask whether to send it anyway."""
        cmd = self._sent.get(ev.client_order_id)
        if cmd is None or cmd.allow_marketable:
            return
        box = self.confirm_box = QMessageBox(
            QMessageBox.Icon.Question, "Stop would trigger at once",
            f"{ev.message}\n\nSend it anyway? Kestrel keeps it and fires it at the next trade, as a "
            f"{'market' if cmd.order_type is not OrderType.STOP_LIMIT else 'limit'} order (a venue refuses a stop "
            f"that would trigger at once).",
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, self)
        box.button(QMessageBox.StandardButton.Ok).setText("Send anyway")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.accepted.connect(lambda: self._resend_marketable(cmd))
        box.open()

    def _resend_marketable(self, cmd: SubmitOrder) -> None:
        cid = self._port.new_order_id()
        self._mine.add(cid)
        again = replace(cmd, client_order_id=cid, allow_marketable=True, ts=self._port.now_ms(),
                        emulation=Emulation.EMULATED)
        self._sent[cid] = again
        self._show(f"{cmd.side.value} stop {cmd.quantity:g} {cmd.symbol} sent (confirmed marketable)…", True)
        self._port.send(again)

    def _on_denied(self, ev: OrderDenied) -> None:
        if ev.client_order_id in self._mine:
            self._status = (f"Denied [{ev.reason}]: {ev.message}", False)
            if ev.reason == "STOP_MARKETABLE":
                self._confirm_marketable(ev)
            self._sent.pop(ev.client_order_id, None)

    def _on_update(self, ev: OrderUpdated) -> None:
        if ev.client_order_id not in self._mine or ev.status is OrderStatus.DENIED:
            return
        if ev.status.is_terminal or ev.status.is_working:
            self._sent.pop(ev.client_order_id, None)
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

