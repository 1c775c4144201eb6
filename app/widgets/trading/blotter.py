"""Orders and fills blotter. Orders can be canceled from here (a CancelOrder on the bus, like any other).
Each order says what it is by its venue's mode ("Mode": PAPER, LIVE, SIM; ``VenuesView.mode``). A resting
paper order's Reason says, each frame, how much volume is estimated ahead of it in its level's queue (it
fills only after that has traded: docs/VENUES.md).

The selection is an order, not a row: rows move as orders arrive (working ones first, newest on top), and
"Cancel selected" must cancel the order the person picked, wherever it has moved since. "Edit…" moves it
(``ModifyOrder``: a limit's price and quantity, a stop's trigger), as the chart and ladder drags do."""
from __future__ import annotations

import datetime as dt

from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTabWidget,
    QVBoxLayout, QWidget,
)

from app.engine.core.messages import CancelOrder, ModifyOrder, OrderDenied, OrderFilled, OrderStatus, OrderType, Side
from app.engine.port import Port
from app.widgets.common import fit_column, id_samples, make_table, read_numbers, set_cell
from app.widgets.frame import BusSubscriptions
from app.widgets.theme import DOWN, MUTED, UP

# what a trader reads first, first; the client id (long, for looking an order up) last
ORDER_HEADERS = ["Time", "Symbol", "Side", "Type", "Qty", "Price", "Trigger", "Exec", "Filled", "Avg", "Status",
                 "Mode", "Source", "Reason", "Id"]
_C = {name: i for i, name in enumerate(ORDER_HEADERS)}
FILL_HEADERS = ["Time", "Order", "Symbol", "Side", "Qty", "Price", "Fee", "Liq", "Trade id"]
MAX_ROWS = 500


def source_of(actor: str) -> str:
    """Who sent an order, as the blotter shows it: a strategy by its instance name, the others by what they
    are ("ticket", "ladder", "flatten", "cli", ...)."""
    return actor.split(":", 1)[1] if actor.startswith("strategy:") else actor


TYPE_TEXT = {t: t.value.replace("_", " ").replace("TRAILING STOP", "TRAIL STOP").replace("TRAIL STOP LIMIT",
                                                                                        "TRAIL LIMIT")
             for t in OrderType}


def _editable(o) -> bool:  # noqa: ANN001 - an Order
    """A working limit or stop, or a stop Kestrel keeps (not a trailing one: its trigger follows the market)."""
    if o.status.value == "ARMED":
        return not o.order_type.is_trailing
    return o.status.is_working and o.status.value != "PENDING_CANCEL" and not o.fired and \
        o.order_type.value in ("LIMIT", "STOP", "STOP_LIMIT")


def _price_text(o, d: int) -> str:
    """A limit's price; a trailing stop's distance ("trail 60" or "trail 1.5%") while it has no limit yet."""
    if o.price is not None:
        return f"{o.price:,.{d}f}"
    if o.order_type.is_trailing:
        return f"trail {o.trail_pct:g}%" if o.trail_pct is not None else f"trail {o.trail_amount:,.{d}f}"
    return ""


def _t(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%H:%M:%S")


class BlotterWidget(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._seen_version = -1
        self._fills: list[OrderFilled] = []
        self._fills_dirty = True
        self._row_ids: list[str] = []
        self._queue_rows: list[tuple[int, str, str]] = []  # (row, client id, venue): working paper orders
        self._selected: str | None = None  # the selected order's client id
        self._drawing = False
        self._subs = BusSubscriptions()
        self._subs.add(port.subscribe(OrderFilled, self._on_fill))
        self.destroyed.connect(self._subs.clear)
        self._load_fills()

        self.orders = make_table(ORDER_HEADERS)
        self.fills = make_table(FILL_HEADERS)
        # every column but the last reads whole at its usual widths ("PARTIALLY_FILLED", "BTC/USDT@binance",
        # "65,081.25", "0.00125"): each as wide as its longest usual text (resize-to-contents would measure
        # every row on every change), a person may drag them; the client id takes what is left, and a narrow
        # dock scrolls sideways rather than eliding quantities and prices to "0…"
        header = self.orders.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        numbers = ["100,000.00", "0.000001"]
        for name, texts in (("Status", [s.value for s in OrderStatus]), ("Symbol", id_samples(port.instruments)),
                            ("Mode", ["PAPER"]), ("Side", ["SELL"]), ("Type", ["TRAIL LIMIT"]), ("Exec", ["emulated"]),
                            ("Time", ["00:00:00"]), ("Qty", numbers), ("Price", numbers), ("Trigger", numbers),
                            ("Filled", numbers), ("Avg", numbers), ("Source", ["ticket"]),
                            ("Reason", ["paper queue: 0.123456 ahead"])):
            fit_column(self.orders, _C[name], texts)
        self.cancel_button = QPushButton("Cancel selected")
        self.cancel_button.setToolTip("Cancel the selected working order")
        self.cancel_button.setEnabled(False)
        self.cancel_all_button = QPushButton("Cancel all")
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip("Move the selected order: a limit's price and quantity, a stop's trigger "
                                    "(checked by the risk gate; where the venue cannot amend, it is canceled "
                                    "first and the new one sent once that is confirmed)")
        self.edit_button.setEnabled(False)
        self.edit_button.clicked.connect(self.edit_selected)
        self.edit_dialog: QDialog | None = None
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.orders.cellDoubleClicked.connect(lambda row, _c: self.cancel_row(row))
        self.orders.itemSelectionChanged.connect(self._on_selection)

        order_page = QWidget()
        ol = QVBoxLayout(order_page)
        ol.setContentsMargins(0, 0, 0, 0)
        ol.addWidget(self.orders)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.edit_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.cancel_all_button)
        ol.addLayout(row)
        self.tabs = QTabWidget()
        self.tabs.addTab(order_page, "Orders")
        self.tabs.addTab(self.fills, "Fills")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

    def _load_fills(self) -> None:
        for row in self._port.orders.fills():
            self._fills.append(OrderFilled(row["client_order_id"], "", row["trade_id"], row["symbol"], row["venue"],
                                           Side(row["side"]), row["price"], row["quantity"], row["fee"],
                                           row["fee_currency"], row["liquidity"], row["ts"]))

    def _on_fill(self, fill: OrderFilled) -> None:
        self._fills.append(fill)
        del self._fills[:-MAX_ROWS]
        self._fills_dirty = True

    # ----------------------------------------------------------------------------------------- selection
    def selected_order(self) -> str | None:
        """The client id of the order the person selected (None: none, or it left the table)."""
        return self._selected

    def _on_selection(self) -> None:
        if self._drawing:
            return
        rows = self.orders.selectionModel().selectedRows()
        row = rows[0].row() if rows else -1
        self._selected = self._row_ids[row] if 0 <= row < len(self._row_ids) else None
        self._update_cancel_button()

    def _follow_selection(self) -> None:
        """After the rows moved: select the selected order's new row (or nothing, if it left the table)."""
        row = self._row_ids.index(self._selected) if self._selected in self._row_ids else -1
        rows = self.orders.selectionModel().selectedRows()
        if [r.row() for r in rows] != ([row] if row >= 0 else []):
            if row >= 0:
                self.orders.selectRow(row)
            else:
                self.orders.clearSelection()
                self._selected = None
        self._update_cancel_button()

    def _update_cancel_button(self) -> None:
        order = self._port.orders.get(self._selected) if self._selected else None
        self.cancel_button.setEnabled(order is not None and order.status.is_open)
        self.edit_button.setEnabled(order is not None and _editable(order))

    # ------------------------------------------------------------------------------------------ commands
    def edit_selected(self) -> QDialog | None:
        """A form with the selected order's price, trigger and quantity as they are; OK sends ``ModifyOrder``. The
        engine's refusal, or the gate's denial of the moved order, is shown in the form."""
        order = self._port.orders.get(self._selected) if self._selected else None
        if order is None or not _editable(order):
            return None
        inst = self._port.instruments.get(order.symbol)
        d = inst.price_decimals if inst is not None else 8
        dialog = self.edit_dialog = QDialog(self)
        dialog.setWindowTitle(f"Edit {order.client_order_id}")
        stop = order.order_type.is_triggered
        price = QLineEdit("" if order.price is None else f"{order.price:.{d}f}")
        price.setObjectName("editPrice")
        price.setEnabled(order.price is not None and (not stop or order.order_type.value == "STOP_LIMIT"))
        trigger = QLineEdit("" if order.trigger_price is None else f"{order.trigger_price:.{d}f}")
        trigger.setObjectName("editTrigger")
        trigger.setEnabled(stop and not order.order_type.is_trailing)
        qty = QLineEdit(f"{order.leaves_qty:g}")
        qty.setObjectName("editQty")
        error = QLabel("")
        error.setObjectName("editError")
        error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        form = QFormLayout(dialog)
        form.addRow(QLabel(f"{order.side.value} {TYPE_TEXT[order.order_type]} {order.symbol}"))
        form.addRow("Price", price)
        form.addRow("Trigger", trigger)
        form.addRow("Quantity", qty)
        form.addRow(error)
        form.addRow(buttons)
        seen: list = []
        unsub = self._port.subscribe(OrderDenied, seen.append)

        def send() -> None:
            numbers = read_numbers([(price, "price"), (trigger, "trigger"), (qty, "quantity")], error)
            if numbers is None:
                return
            values = dict(zip(("price", "trigger", "quantity"), numbers))
            if values["quantity"] is not None and abs(values["quantity"] - order.leaves_qty) < 1e-12:
                values["quantity"] = None  # unchanged
            new_id = self._port.new_order_id()
            seen.clear()
            answer = self._port.send(ModifyOrder(order.client_order_id, values["price"], new_id, "blotter",
                                                 values["quantity"], self._port.now_ms(),
                                                 trigger_price=values["trigger"]))
            if answer is not None and type(answer).__name__ == "CommandRefused":
                error.setText(answer.reason)
                return
            denied = [e for e in seen if e.client_order_id == new_id]
            if denied:
                error.setText(f"Denied [{denied[0].reason}]: {denied[0].message}")
                return
            dialog.accept()

        buttons.accepted.connect(send)
        buttons.rejected.connect(dialog.reject)
        dialog.finished.connect(lambda _r: unsub())
        dialog.open()
        return dialog

    def cancel_row(self, row: int) -> None:
        if 0 <= row < len(self._row_ids):
            self._cancel(self._row_ids[row])

    def cancel_selected(self) -> None:
        if self._selected is not None:
            self._cancel(self._selected)

    def cancel_all(self) -> None:
        for order in self._port.orders.open():
            self._cancel(order.client_order_id)

    def _cancel(self, client_order_id: str) -> None:
        self._port.send(CancelOrder(client_order_id, "blotter", self._port.now_ms()))

    # ------------------------------------------------------------------------------------------- drawing
    def refresh(self) -> None:
        orders_view = self._port.orders
        if orders_view.version != self._seen_version:
            self._seen_version = orders_view.version
            orders = sorted(orders_view.all(), key=lambda o: (not o.status.is_open, -o.created_ts))[:MAX_ROWS]
            self._row_ids = [o.client_order_id for o in orders]
            self._drawing = True
            try:
                self._draw_orders(orders)
            finally:
                self._drawing = False
            self._follow_selection()
        if self._queue_rows:
            self._draw_queues()
        if self._fills_dirty:
            self._draw_fills()

    def _draw_orders(self, orders: list) -> None:
        t = self.orders
        t.setRowCount(len(orders))
        modes: dict[str, str] = {}
        self._queue_rows = []
        for r, o in enumerate(orders):
            d = self._port.instruments[o.symbol].price_decimals if o.symbol in self._port.instruments else 4
            side_color = UP if o.side is Side.BUY else DOWN
            mode = modes.get(o.venue)
            if mode is None:
                mode = modes[o.venue] = self._port.venues.mode(o.venue).upper()
            set_cell(t, r, _C["Time"], _t(o.created_ts), MUTED, False)
            set_cell(t, r, _C["Symbol"], o.symbol, None, False)
            set_cell(t, r, _C["Side"], o.side.value, side_color, False)
            set_cell(t, r, _C["Type"], TYPE_TEXT[o.order_type] + (f" ({o.role})" if o.role in ("TP", "SL") else ""),
                     None, False)
            set_cell(t, r, _C["Qty"], f"{o.quantity:g}")
            set_cell(t, r, _C["Price"], _price_text(o, d))
            trigger = self._port.orders.trigger_of(o)
            set_cell(t, r, _C["Trigger"], "" if trigger is None else f"{trigger:,.{d}f}")
            set_cell(t, r, _C["Exec"], "emulated" if o.emulated else "native" if o.order_type.is_triggered else "",
                     MUTED, False)
            set_cell(t, r, _C["Filled"], f"{o.filled_qty:g}")
            set_cell(t, r, _C["Avg"], f"{o.avg_price:,.{d}f}" if o.filled_qty else "")
            set_cell(t, r, _C["Status"], o.status.value, UP if o.status.is_open else MUTED, False)
            set_cell(t, r, _C["Mode"], mode, None, False)
            set_cell(t, r, _C["Source"], source_of(o.actor), None, False)
            set_cell(t, r, _C["Reason"], o.reason, MUTED, False)
            set_cell(t, r, _C["Id"], o.client_order_id, MUTED, False)
            if mode == "PAPER" and o.is_working and not o.reason:
                self._queue_rows.append((r, o.client_order_id, o.venue))

    def _draw_queues(self) -> None:
        """The Reason of each working paper order: the volume estimated ahead of it, as it is now."""
        t, venues = self.orders, self._port.venues
        reason = _C["Reason"]
        for r, cid, venue in self._queue_rows:
            ahead = venues.queue_ahead(venue, cid)
            if ahead is not None:
                text = f"paper queue: {ahead:.6g} ahead"
            else:
                order = self._port.orders.get(cid)
                text = "paper queue: below the book shown" if order is not None and order.price is not None \
                    and order.status is not OrderStatus.SUBMITTED else ""
            set_cell(t, r, reason, text, MUTED, False)

    def _draw_fills(self) -> None:
        self._fills_dirty = False
        fills = self._fills[::-1][:MAX_ROWS]
        t = self.fills
        t.setRowCount(len(fills))
        for r, f in enumerate(fills):
            set_cell(t, r, 0, _t(f.ts), MUTED, False)
            set_cell(t, r, 1, f.client_order_id, None, False)
            set_cell(t, r, 2, f.symbol, None, False)
            set_cell(t, r, 3, f.side.value, UP if f.side is Side.BUY else DOWN, False)
            set_cell(t, r, 4, f"{f.quantity:g}")
            set_cell(t, r, 5, f"{f.price:g}")
            set_cell(t, r, 6, f"{f.fee:.4f} {f.fee_currency}")
            set_cell(t, r, 7, f.liquidity, MUTED, False)
            set_cell(t, r, 8, f.trade_id, MUTED, False)
