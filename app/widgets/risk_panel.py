"""Risk panel: the trading state, the kill switch and its reset, the limits, and recent denials."""
from __future__ import annotations

import datetime as dt

from PySide6.QtWidgets import (
    QHBoxLayout, QInputDialog, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget,
)

from app.engine.kernel import Kernel
from app.widgets.common import MUTED, make_table, set_cell

DENIAL_HEADERS = ["Time", "Order", "Symbol", "Reason", "Limit", "Observed", "Actor"]


class RiskPanel(QWidget):
    def __init__(self, kernel: Kernel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kernel = kernel
        self._seen = -1
        self.state_label = QLabel()
        self.state_label.setObjectName("tradingState")
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.kill_button = QPushButton("KILL SWITCH  (Ctrl+Shift+K)")
        self.kill_button.setObjectName("killButton")
        self.kill_button.setToolTip("Halt trading: persist HALTED, refuse new orders, cancel every working order")
        self.reset_button = QPushButton("Reset…")
        self.kill_button.clicked.connect(self.engage_kill_switch)
        self.reset_button.clicked.connect(self.ask_reset)
        limits = kernel.settings.risk
        self.limits_label = QLabel(
            f"Max notional: manual {limits.max_notional_manual:,.0f} / strategy {limits.max_notional_strategy:,.0f}"
            f"   Collar ±{limits.price_collar_pct}% of mid   Quote max age {limits.quote_max_age_s:g} s\n"
            "Max order qty: " + ", ".join(f"{k} {v:g}" for k, v in limits.max_order_qty.items()))
        self.limits_label.setWordWrap(True)
        self.denials = make_table(DENIAL_HEADERS)

        head = QHBoxLayout()
        head.addWidget(QLabel("Trading state:"))
        head.addWidget(self.state_label)
        head.addStretch(1)
        head.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.kill_button)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.limits_label)
        layout.addWidget(QLabel("Recent denials"))
        layout.addWidget(self.denials, 1)

    def engage_kill_switch(self) -> None:
        self._kernel.risk.halt("kill switch pressed", actor="manual")
        self.refresh()

    def ask_reset(self) -> None:
        """A reset needs a confirmation and a written reason (audited)."""
        if self._kernel.risk.state.value == "ACTIVE":
            return
        reason, ok = QInputDialog.getText(self, "Reset the kill switch",
                                          "Trading will accept orders again. Strategies stay stopped.\n"
                                          "Why is it safe to resume?")
        if not ok or not reason.strip():
            return
        if QMessageBox.question(self, "Confirm reset", f"Resume trading?\nReason: {reason}") \
                == QMessageBox.StandardButton.Yes:
            self._kernel.risk.reset(reason, actor="manual")

    def refresh(self) -> None:
        risk = self._kernel.risk
        if risk.version == self._seen:
            return
        self._seen = risk.version
        state = risk.state.value
        self.state_label.setText(state)
        self.state_label.setProperty("state", state)
        self.state_label.style().unpolish(self.state_label)
        self.state_label.style().polish(self.state_label)
        self.reason_label.setText(f"Reason: {risk.state_reason}")
        self.reset_button.setEnabled(state != "ACTIVE")
        rows = risk.denials[::-1][:100]
        self.denials.setRowCount(len(rows))
        for r, d in enumerate(rows):
            t = dt.datetime.fromtimestamp(d.ts / 1000, tz=dt.timezone.utc).strftime("%H:%M:%S")
            for c, text in enumerate([t, d.client_order_id, d.symbol, d.reason, d.limit, d.observed, d.actor]):
                set_cell(self.denials, r, c, text, MUTED if c == 0 else None, False)
            self.denials.item(r, 3).setToolTip(d.message)
