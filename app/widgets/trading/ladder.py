"""Price ladder (DOM): one row per price tick, anchored so rows do not jump with every quote.

Columns: our buy orders | bid size | price | ask size | our sell orders. The ladder is price-anchored, not
"top N levels": every tick between the visible edges has a row, so our working orders show at their
price even when they sit outside the book's top levels; orders beyond the visible rows are summarised at
the top or bottom edge (click there to scroll to them). The view re-centres when the mid leaves its middle
half, unless the trader scrolled it (the wheel); ``Centre`` (or the space bar) re-centres and follows again.

Clicks, all routed through the risk gate: a bid cell buys at that price, an ask cell sells at that price
(the window sends them through the order ticket, with its quantity, so a denial shows there); Ctrl+click
places a stop there instead (a buy stop in the bid column above the market, a sell stop in the ask column
below it); a click on our orders at a level cancels them (CancelOrder on the bus), a drag moves them (our stops
show at their trigger, ◆ kept by the venue, ◇ by Kestrel). Everything repaints at frame rate: book updates
between two frames cost one repaint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from app.engine.core.messages import CancelOrder, Side
from app.engine.port import Port
from app.widgets.chart.axes import shared_labels
from app.widgets.theme import (
    ASK_BAR, ASK_BG, ASK_TEXT, BEST_BG, BG, BID_BAR, BID_BG, BID_TEXT, GRID, LAST_TEXT, MINE_BG, TEXT, TEXT_DIM,
)
from app.widgets.trading.depth import DepthChart

HOVER = QColor(255, 255, 255, 18)
COLUMNS = ("Buy", "Bid", "Price", "Ask", "Sell")
WIDTHS = (0.16, 0.22, 0.24, 0.22, 0.16)


@dataclass
class LadderModel:
    """What the ladder shows, in integer ticks (no float keys)."""

    tick: float = 0.01
    decimals: int = 2
    bids: dict[int, float] = field(default_factory=dict)
    asks: dict[int, float] = field(default_factory=dict)
    mine: dict[tuple[Side, int], list[tuple[str, float]]] = field(default_factory=dict)  # -> [(cid, leaves)]
    # our stops among ``mine`` (at their trigger's row): client id -> True when Kestrel keeps it (emulated)
    stops: dict[str, bool] = field(default_factory=dict)
    best_bid: int | None = None
    best_ask: int | None = None
    last: int | None = None
    max_size: float = 1.0

    def ticks(self, price: float) -> int:
        return int(round(price / self.tick))

    def price(self, ticks: int) -> float:
        return round(ticks * self.tick, self.decimals)

    def mid(self) -> int | None:
        if self.best_bid is not None and self.best_ask is not None:
            return (self.best_bid + self.best_ask) // 2
        return self.best_bid if self.best_bid is not None else self.best_ask


class LadderView(QWidget):
    """The painted ladder rows."""

    clicked = Signal(str, int)  # (column name, price ticks)
    alertClicked = Signal(int)  # right click on a price row: its ticks (an alert there)
    dragged = Signal(str, int, int)  # our orders' column, from ticks, to ticks: a move (ModifyOrder)
    ROW_H = 18

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LadderModel()
        self._prices: dict[int, str] = {}
        self._geometry: tuple = (None, [], [])
        self._column: QImage | None = None
        self._column_key: tuple = ()
        self.center: int | None = None
        self.follow = True
        self.hover_row: int | None = None
        f = QFont()
        f.setPointSizeF(9.0)
        self.labels = shared_labels(f)
        bold = QFont(f)
        bold.setBold(True)
        self.bold = shared_labels(bold)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMinimumSize(260, 200)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    # ----------------------------------------------------------------------------------------- geometry
    @property
    def rows(self) -> int:
        return max((self.height() - self.ROW_H) // self.ROW_H, 3)

    def row_ticks(self, row: int) -> int | None:
        if self.center is None:
            return None
        return self.center + self.rows // 2 - row

    def row_of(self, ticks: int) -> int | None:
        if self.center is None:
            return None
        row = self.center + self.rows // 2 - ticks
        return row if 0 <= row < self.rows else None

    def column_at(self, x: float) -> str:
        xs, _cw = self._columns()
        return next((name for name, right in zip(COLUMNS, xs[1:]) if x < right), COLUMNS[-1])

    def visible_prices(self) -> list[float]:
        return [self.model.price(self.row_ticks(r)) for r in range(self.rows)] if self.center is not None else []

    def recenter(self, force: bool = False) -> None:
        mid = self.model.mid()
        if mid is None:
            return
        band = max(self.rows // 4, 1)
        if force or self.center is None or (self.follow and abs(mid - self.center) > band):
            self.center = mid
        if force:
            self.follow = True

    def scroll_rows(self, rows: int) -> None:
        if self.center is not None:
            self.center += rows
            self.follow = False
            self.update()

    # ------------------------------------------------------------------------------------------- paint
    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _columns(self) -> tuple[list[float], list[float]]:
        """Column left edges (and the right edge) and widths, for the current width."""
        w = self.width()
        if self._geometry[0] != w:
            xs = [0.0]
            for frac in WIDTHS:
                xs.append(xs[-1] + frac * w)
            self._geometry = (w, xs, [xs[i + 1] - xs[i] for i in range(5)])
        return self._geometry[1], self._geometry[2]

    def _price_text(self, t: int) -> str:
        text = self._prices.get(t)
        if text is None:  # formatting is a good part of a row's cost
            if len(self._prices) > 4096:
                self._prices.clear()
            text = self._prices[t] = f"{self.model.price(t):.{self.model.decimals}f}"
        return text

    def _price_column(self, top_t: int, rows: int, xs: list[float], cw: list[float]) -> tuple[QImage, int]:
        """The price column's cells (background and price) as one image, and its left edge in pixels.

        Prices only move when the ladder scrolls or re-centres, so the ~30 texts are drawn once per position, not
        once per frame; the best bid, best ask and last-price cells are drawn over the image every frame.
        """
        x0, x1 = math.floor(xs[2]), math.ceil(xs[3])
        dpr = self.devicePixelRatioF()
        key = (top_t, rows, x0, x1, dpr, self.model.tick, self.model.decimals)
        if self._column_key != key:
            rh = self.ROW_H
            img = QImage(round((x1 - x0) * dpr), round(rows * rh * dpr), QImage.Format.Format_RGB32)
            img.setDevicePixelRatio(dpr)
            img.fill(BG)
            q = QPainter(img)
            try:
                q.setFont(self.labels.font)
                q.setPen(TEXT)
                xc, ty = xs[2] + cw[2] / 2 - x0, (rh - self.labels.height) / 2
                for row in range(rows):
                    self.labels.draw(q, self._price_text(top_t - row), xc, row * rh + ty, 2)
            finally:
                q.end()
            self._column, self._column_key = img, key
        return self._column, x0

    def _paint_sizes(self, p: QPainter, top_t: int, rows: int, xs: list, cw: list, ty: float) -> None:
        """Size bars and numbers: one pass per side over the book's levels (not the rows), one pen each."""
        m, rh, labels = self.model, self.ROW_H, self.labels
        scale = 1.0 / m.max_size
        for levels, pen, bar, left in ((m.bids, BID_TEXT, BID_BAR, True), (m.asks, ASK_TEXT, ASK_BAR, False)):
            p.setPen(pen)
            full = cw[1] if left else cw[3]
            for t, size in levels.items():
                row = top_t - t
                if size and 0 <= row < rows:
                    y = rh + row * rh
                    bw = full * min(size * scale, 1.0)
                    if left:
                        p.fillRect(QRectF(xs[2] - bw, y + 2, bw, rh - 4), bar)
                        labels.draw(p, f"{size:g}", xs[2] - 6, y + ty, 1)
                    else:
                        p.fillRect(QRectF(xs[3], y + 2, bw, rh - 4), bar)
                        labels.draw(p, f"{size:g}", xs[3] + 6, y + ty, 0)

    def _paint_ours(self, p: QPainter, top_t: int, rows: int, xs: list, cw: list, ty: float) -> tuple[int, int]:
        """Our working orders at their rows; returns how many lie above and below the rows shown."""
        m, rh, bold = self.model, self.ROW_H, self.bold
        p.setFont(bold.font)
        above = below = 0
        for (side, t), orders in m.mine.items():
            row = top_t - t
            if not 0 <= row < rows:
                if t > top_t:
                    above += len(orders)
                else:
                    below += len(orders)
                continue
            y = rh + row * rh
            ci = 0 if side is Side.BUY else 4
            p.fillRect(QRectF(xs[ci] + 1, y + 1, cw[ci] - 2, rh - 2), MINE_BG)
            qty = sum(q for _cid, q in orders)
            text = f"{qty:g}" + (f" ×{len(orders)}" if len(orders) > 1 else "")
            kinds = [m.stops[cid] for cid, _q in orders if cid in m.stops]
            if kinds:  # a stop waits here: ◆ the venue keeps it, ◇ Kestrel does
                text = ("◇" if any(kinds) else "◆") + text
            p.setPen(BID_TEXT if side is Side.BUY else ASK_TEXT)
            bold.draw(p, text, xs[1] - 6 if ci == 0 else xs[4] + 6, y + ty, 1 if ci == 0 else 0)
        return above, below

    def _paint(self, p: QPainter) -> None:
        m, rh, w = self.model, self.ROW_H, float(self.width())
        labels, bold = self.labels, self.bold
        p.fillRect(self.rect(), BG)
        xs, cw = self._columns()
        th = labels.height
        ty = (rh - th) / 2
        p.setFont(labels.font)  # the label caches draw in their own font
        p.setPen(TEXT_DIM)
        for i, name in enumerate(COLUMNS):
            labels.draw(p, name, xs[i] + cw[i] / 2, ty, 2)
        if self.center is None:
            return
        rows = self.rows
        top_t = self.center + rows // 2  # ticks of row 0
        column, x0 = self._price_column(top_t, rows, xs, cw)
        p.drawImage(QPointF(x0, rh), column)
        # the bid side (at and below the best bid) and the ask side (at and above the best ask): one rect each
        if m.best_bid is not None:
            r0 = max(top_t - m.best_bid, 0)
            if r0 < rows:
                p.fillRect(QRectF(xs[1], rh + r0 * rh, cw[1], (rows - r0) * rh), BID_BG)
        if m.best_ask is not None:
            r1 = min(top_t - m.best_ask, rows - 1)
            if r1 >= 0:
                p.fillRect(QRectF(xs[3], rh, cw[3], (r1 + 1) * rh), ASK_BG)
        xc = xs[2] + cw[2] / 2
        p.setPen(TEXT)
        for t in (m.best_bid, m.best_ask):
            if t is not None and t != m.last and 0 <= top_t - t < rows:
                y = rh + (top_t - t) * rh
                p.fillRect(QRectF(xs[2], y, cw[2], rh), BEST_BG)
                labels.draw(p, self._price_text(t), xc, y + ty, 2)
        self._paint_sizes(p, top_t, rows, xs, cw, ty)
        above, below = self._paint_ours(p, top_t, rows, xs, cw, ty)
        if m.last is not None and 0 <= top_t - m.last < rows:
            y = rh + (top_t - m.last) * rh
            p.fillRect(QRectF(xs[2], y, cw[2], rh), BEST_BG if m.last in (m.best_bid, m.best_ask) else BG)
            p.setPen(LAST_TEXT)
            bold.draw(p, self._price_text(m.last), xc, y + ty, 2)
        if self.hover_row is not None:
            p.fillRect(QRectF(0, rh + self.hover_row * rh, w, rh), HOVER)
        p.setPen(QPen(GRID, 0))
        for x in xs[1:-1]:
            p.drawLine(QPointF(x, rh), QPointF(x, self.height()))
        p.setFont(labels.font)
        for label, n, y in (("▲", above, rh), ("▼", below, rh + (rows - 1) * rh)):
            if n:
                r = QRectF(0, y, w, rh)
                p.fillRect(r, MINE_BG)
                p.setPen(TEXT)
                labels.draw(p, f"{label} {n} of our order(s) beyond this edge — click to show", w / 2, y + ty, 2)

    # ------------------------------------------------------------------------------------------- mouse
    def mousePressEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.RightButton and self.center is not None:
            row = int((ev.position().y() - self.ROW_H) // self.ROW_H)
            if ev.position().y() >= self.ROW_H and 0 < row < self.rows - 1:
                self.alertClicked.emit(self.row_ticks(row))
            return
        if ev.button() != Qt.MouseButton.LeftButton or self.center is None:
            return
        y = ev.position().y()
        row = int((y - self.ROW_H) // self.ROW_H)
        if y < self.ROW_H or row >= self.rows:
            return
        if row == 0 or row == self.rows - 1:  # edge summary: scroll to the nearest order beyond it
            target = self._beyond(up=row == 0)
            if target is not None:
                self.center = target
                self.follow = False
                self.update()
                return
        t = self.row_ticks(row)
        column = self.column_at(ev.position().x())
        self.ctrl = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)  # Ctrl+click: a stop there
        if column in ("Buy", "Sell") and self.model.mine.get((Side.BUY if column == "Buy" else Side.SELL, t)):
            self._press = (column, t)  # our orders: a click cancels them, a drag moves them (on release)
            return
        self.clicked.emit(column, t)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802
        press, self._press = getattr(self, "_press", None), None
        if press is None or ev.button() != Qt.MouseButton.LeftButton or self.center is None:
            return
        row = int((ev.position().y() - self.ROW_H) // self.ROW_H)
        to = self.row_ticks(row) if 0 < row < self.rows - 1 else press[1]
        if to == press[1]:
            self.clicked.emit(*press)
        else:
            self.dragged.emit(press[0], press[1], to)

    def _beyond(self, up: bool) -> int | None:
        ts = [t for (_s, t) in self.model.mine if self.row_of(t) is None and (t > self.center) == up]
        if not ts:
            return None
        return min(ts) if up else max(ts)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802
        row = int((ev.position().y() - self.ROW_H) // self.ROW_H)
        row = row if 0 <= row < self.rows and ev.position().y() >= self.ROW_H else None
        if row != self.hover_row:
            self.hover_row = row
            self.update()

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self.hover_row = None
        self.update()

    def wheelEvent(self, ev) -> None:  # noqa: N802
        self.scroll_rows(int(math.copysign(3, ev.angleDelta().y())) if ev.angleDelta().y() else 0)

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        if ev.key() == Qt.Key.Key_Space:
            self.recenter(force=True)
            self.update()
        else:
            super().keyPressEvent(ev)


class LadderWidget(QWidget):
    """The DOM dock: title, ladder, cumulative depth chart. ``refresh`` runs at frame rate."""

    tradeRequested = Signal(object, float)  # (Side, price): the window sends it through the ticket
    stopRequested = Signal(object, float)  # (Side, trigger): Ctrl+click, a stop through the ticket
    alertRequested = Signal(str, float)  # (instrument id, price): right click on a row, an alert there

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self.symbol = next(iter(port.instruments))
        self._seen: tuple = ()
        self.title = QLabel()
        self.title.setObjectName("ladderTitle")
        self.centre_button = QPushButton("Centre")
        self.centre_button.setToolTip("Re-centre on the mid and follow it (space)")
        self.centre_button.clicked.connect(self.centre)
        self.view = LadderView()
        self.view.clicked.connect(self._on_click)
        self.view.alertClicked.connect(lambda ticks: self.alertRequested.emit(self.symbol,
                                                                               self.view.model.price(ticks)))
        self.view.dragged.connect(self._on_drag)
        self.moved: list[str] = []  # the ids the last drag's orders continue under
        self.depth_chart = DepthChart()
        head = QHBoxLayout()
        head.setContentsMargins(4, 2, 4, 2)
        head.addWidget(self.title, 1)
        head.addWidget(self.centre_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.depth_chart)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(head)
        layout.addWidget(split, 1)
        self.set_symbol(self.symbol)

    def set_symbol(self, symbol: str) -> None:
        symbol = self.symbol = self._port.instrument_id(symbol)
        inst = self._port.instruments[symbol]
        self.view.model = LadderModel(inst.tick_size, inst.price_decimals)
        self.view._prices = {}
        self.view.center = None
        self.view.follow = True
        self._seen = ()
        self.refresh()

    def centre(self) -> None:
        self.view.recenter(force=True)
        self.view.update()

    # ------------------------------------------------------------------------------------------ frames
    def refresh(self) -> None:
        st = self._port.market.symbols.get(self.symbol)
        orders = self._port.orders
        key = (st.version if st else -1, orders.version)
        if key == self._seen:
            return
        self._seen = key
        m = self.view.model
        book = st.book if st else None
        m.bids = {m.ticks(p): s for p, s in book.bids} if book else {}
        m.asks = {m.ticks(p): s for p, s in book.asks} if book else {}
        m.best_bid = m.ticks(book.best_bid) if book and book.bids else None
        m.best_ask = m.ticks(book.best_ask) if book and book.asks else None
        m.last = m.ticks(st.last) if st and st.last else None
        sizes = list(m.bids.values()) + list(m.asks.values())
        m.max_size = max(sizes) if sizes else 1.0
        mine: dict[tuple[Side, int], list[tuple[str, float]]] = {}
        stops: dict[str, bool] = {}
        for o in orders.open(self.symbol):
            if o.order_type.is_triggered and not o.fired:  # a waiting stop: at its trigger's row, marked
                trigger = orders.trigger_of(o)
                if trigger is None:
                    continue  # a trailing stop waiting for its activation price
                mine.setdefault((o.side, m.ticks(trigger)), []).append((o.client_order_id, o.leaves_qty))
                stops[o.client_order_id] = o.emulated
            elif o.price is not None and o.status.is_working:
                mine.setdefault((o.side, m.ticks(o.price)), []).append((o.client_order_id, o.leaves_qty))
        m.mine, m.stops = mine, stops
        self.view.recenter()
        spread = (m.best_ask - m.best_bid) * m.tick if m.best_ask is not None and m.best_bid is not None else None
        self.title.setText(f"  {self.symbol}   " + (f"spread {spread:.{m.decimals}f}" if spread is not None
                                                     else "no two-sided book"))
        self.view.update()
        self.depth_chart.set_book(book, m.decimals)

    # ------------------------------------------------------------------------------------------ clicks
    def _on_click(self, column: str, ticks: int) -> None:
        m = self.view.model
        price = m.price(ticks)
        ctrl, self.view.ctrl = getattr(self.view, "ctrl", False), False
        if column in ("Bid", "Ask") and ctrl:
            self.stopRequested.emit(Side.BUY if column == "Bid" else Side.SELL, price)
        elif column == "Bid":
            self.tradeRequested.emit(Side.BUY, price)
        elif column == "Ask":
            self.tradeRequested.emit(Side.SELL, price)
        elif column in ("Buy", "Sell"):
            side = Side.BUY if column == "Buy" else Side.SELL
            self.cancel_level(side, price)

    def _on_drag(self, column: str, from_ticks: int, to_ticks: int) -> None:
        """Our orders dragged from one price to another: each is moved (``ModifyOrder``: the engine checks it
        and, where the venue cannot amend, cancels it before the new one goes out)."""
        from app.widgets.chart.orders import replace_order

        m = self.view.model
        side = Side.BUY if column == "Buy" else Side.SELL
        price = m.price(to_ticks)
        self.moved = []
        for cid, _q in m.mine.get((side, from_ticks), []):
            answer = replace_order(self._port, cid, price, "ladder")
            if isinstance(answer, str):
                self.moved.append(answer)

    def cancel_level(self, side: Side, price: float) -> list[str]:
        """Cancel our working orders on ``side`` at ``price`` (through the risk engine's cancel path)."""
        m = self.view.model
        orders = m.mine.get((side, m.ticks(price)), [])
        now = self._port.now_ms()
        for cid, _q in orders:
            self._port.send(CancelOrder(cid, "ladder", ts=now))
        return [cid for cid, _q in orders]

    # -------------------------------------------------------------------------------------- inspection
    def rows(self) -> list[dict]:
        """The visible rows as the trader sees them (tests, self-test)."""
        m, out = self.view.model, []
        if self.view.center is None:
            return out
        for r in range(self.view.rows):
            t = self.view.row_ticks(r)
            out.append({"price": m.price(t), "bid": m.bids.get(t), "ask": m.asks.get(t),
                        "buy": sum(q for _c, q in m.mine.get((Side.BUY, t), [])),
                        "sell": sum(q for _c, q in m.mine.get((Side.SELL, t), []))})
        return out

    def click(self, column: str, price: float) -> None:
        """What a click on ``column`` at ``price`` does (tests)."""
        self._on_click(column, self.view.model.ticks(price))
