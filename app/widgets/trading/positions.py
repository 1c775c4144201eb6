"""Positions and account: quantity, average price, realized and unrealized PnL; cash and equity. A position
says what it is by its venue's mode (PAPER, LIVE, SIM); each paper venue's account is shown beside the
cash."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QVBoxLayout, QWidget

from app.engine.port import Port
from app.widgets.common import fmt, make_table, set_cell
from app.widgets.theme import DOWN, PRICE_DOWN, PRICE_UP, UP

HEADERS = ["Symbol", "Qty", "Avg price", "Mark", "Unrealized", "Realized", "Fees", "Mode"]


class PositionsWidget(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._seen = -1
        self.table = make_table(HEADERS)
        # the instrument id reads whole ("BTC/USDT@binance-paper"): as wide as the longest listed when it opens;
        # the numbers share what is left
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        metrics = self.table.fontMetrics()
        header.resizeSection(0, max(metrics.horizontalAdvance(t) for t in
                                    ["BTC/USDT@sim", "Symbol", *list(port.instruments)[:50]]) + 16)
        self.cash = QLabel()
        self.equity = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.cash)
        top.addStretch(1)
        top.addWidget(self.equity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table)

    def restyle(self) -> None:
        """The up/down colours changed: redraw every row at the next frame."""
        self._seen = -1

    def refresh(self) -> None:
        pf = self._port.portfolio
        if pf.version == self._seen:
            return
        self._seen = pf.version
        ccy = pf.base_currency
        text = "Cash  " + "   ".join(f"{v:,.2f} {k}" for k, v in sorted(pf.cash.items()))
        for venue, account in sorted(pf.paper_balances().items()):
            text += f"     PAPER {venue}  " + "   ".join(f"{v:,.8g} {k}" for k, v in sorted(account.items()))
        self.cash.setText(text)
        self.equity.setText(f"Equity  {pf.equity():,.2f} {ccy}")
        rows = [p for p in pf.positions.values() if p.quantity or p.realized_pnl]
        self.table.setRowCount(len(rows))
        for r, p in enumerate(rows):
            inst = self._port.instruments.get(p.symbol)
            d = inst.price_decimals if inst else 4
            set_cell(self.table, r, 0, p.symbol, None, False)
            set_cell(self.table, r, 1, f"{p.quantity:g}", UP if p.quantity > 0 else DOWN if p.quantity < 0 else None)
            set_cell(self.table, r, 2, fmt(p.avg_price, d))
            set_cell(self.table, r, 3, fmt(p.mark, d))
            set_cell(self.table, r, 4, fmt(p.unrealized_pnl, 2),
                     PRICE_UP if p.unrealized_pnl >= 0 else PRICE_DOWN)
            set_cell(self.table, r, 5, fmt(p.realized_pnl, 2),
                     PRICE_UP if p.realized_pnl >= 0 else PRICE_DOWN)
            set_cell(self.table, r, 6, fmt(p.fees, 4))
            mode = self._port.venues.mode(inst.venue).upper() if inst else ""
            set_cell(self.table, r, 7, mode, None, False)
