"""Risk panel: trading states (global, venues, strategies), every limit with its utilization, recent denials,
and the kill, flatten and reset controls. The reset dialog asks for a written reason and says so, in the
dialog, when there is none."""
from __future__ import annotations

import datetime as dt

from PySide6.QtWidgets import (
    QDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox, QPushButton, QTabWidget, QVBoxLayout,
    QWidget,
)

from app.engine.core.messages import Flatten, Halt, Reset
from app.engine.port import Port
from app.widgets.common import make_table, set_cell
from app.widgets.theme import DOWN, MUTED, UP, css_color

DENIAL_HEADERS = ["Time", "Order", "Symbol", "Reason", "Limit", "Observed", "Actor"]
LIMIT_HEADERS = ["Limit", "In use", "Max", "%"]
NO_REASON = ("Nothing was reset: a reset needs a written reason. Write why it is safe to resume, then press "
             "Resume trading.")


class ResetDialog(QDialog):
    """Reset the global kill switch: a person's confirmation with a written reason (logged and audited).
    Without a reason nothing happens, and the dialog says so and stays open."""

    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self.setWindowTitle("Reset the kill switch")
        risk = port.risk
        self.prompt = QLabel(f"Trading is {risk.state.value} ({risk.state_reason}).\n"
                             "Trading will accept orders again. Strategies stay stopped.\n"
                             "Why is it safe to resume?")
        self.prompt.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("the reason (recorded in the log and the audit trail)")
        self.error = QLabel("")
        self.error.setObjectName("resetError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(css_color(DOWN))
        self.resume_button = QPushButton("Resume trading")
        self.resume_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.reason)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.resize(460, self.sizeHint().height())

    def resume(self) -> None:
        reason = self.reason.text().strip()
        if not reason:
            self.error.setText(NO_REASON)
            self.reason.setFocus()
            return
        refused = self._port.send(Reset(reason, "manual", ts=self._port.now_ms()))
        if refused is not None:
            self.error.setText(f"Nothing was reset: {refused.reason}.")
            return
        self.accept()


class RiskPanel(QWidget):
    def __init__(self, port: Port, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._port = port
        self._seen = -1
        self._frames = 0
        self.reset_dialog: ResetDialog | None = None
        self.state_label = QLabel()
        self.state_label.setObjectName("tradingState")
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.scopes_label = QLabel()
        self.scopes_label.setWordWrap(True)
        self.kill_button = QPushButton("KILL SWITCH  (Ctrl+Shift+K)")
        self.kill_button.setObjectName("killButton")
        self.kill_button.setToolTip("Halt trading: persist HALTED, refuse new orders, cancel every working order")
        self.flatten_button = QPushButton("Flatten…")
        self.flatten_button.setToolTip("Close every position with market orders (asks for confirmation)")
        self.reset_button = QPushButton("Reset…")
        self.kill_button.clicked.connect(self.engage_kill_switch)
        self.flatten_button.clicked.connect(self.ask_flatten)
        self.reset_button.clicked.connect(lambda: self.ask_reset())
        self.limits = make_table(LIMIT_HEADERS)
        self.limits.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.denials = make_table(DENIAL_HEADERS)
        tabs = QTabWidget()
        tabs.addTab(self.limits, "Limits")
        tabs.addTab(self.denials, "Denials")
        self.tabs = tabs

        head = QHBoxLayout()
        head.addWidget(QLabel("Trading state:"))
        head.addWidget(self.state_label)
        head.addStretch(1)
        head.addWidget(self.flatten_button)
        head.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.kill_button)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.scopes_label)
        layout.addWidget(tabs, 1)

    # ------------------------------------------------------------------------------------------ actions
    def engage_kill_switch(self) -> None:
        self._port.send(Halt("kill switch pressed", "manual", ts=self._port.now_ms()))
        self.refresh()

    def ask_flatten(self) -> None:
        n = sum(1 for p in self._port.portfolio.positions.values() if p.quantity)
        if not n:
            return
        if QMessageBox.question(self, "Flatten every position",
                                f"Send market orders to close {n} position(s)? They go through the risk gate.") \
                == QMessageBox.StandardButton.Yes:
            self._port.send(Flatten("manual", ts=self._port.now_ms()))

    def ask_reset(self, parent: QWidget | None = None) -> ResetDialog | None:
        """Open the reset dialog (window-modal, not blocking the loop); None when trading is ACTIVE."""
        if self._port.risk.state.value == "ACTIVE":
            return None
        if self.reset_dialog is not None:
            self.reset_dialog.close()
        self.reset_dialog = ResetDialog(self._port, parent or self.window())
        self.reset_dialog.finished.connect(lambda _r: self.refresh())
        self.reset_dialog.open()
        return self.reset_dialog

    # ------------------------------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        risk = self._port.risk
        self._frames += 1
        if risk.version != self._seen:
            self._seen = risk.version
            self._draw_state()
            self._draw_denials()
        if self._frames % 10 == 1:  # utilization moves with the market: a few times a second is plenty
            self._draw_limits()

    def _draw_state(self) -> None:
        risk = self._port.risk
        state = risk.state.value
        self.state_label.setText(state)
        self.state_label.setProperty("state", state)
        self.state_label.style().unpolish(self.state_label)
        self.state_label.style().polish(self.state_label)
        self.reason_label.setText(f"Reason: {risk.state_reason}")
        scopes = [f"Every venue and strategy: {state} (global)"] if state != "ACTIVE" else []
        scopes += [f"venue {v}: {s.value} ({why})" for v, (s, why) in risk.venue_states.items()
                   if s.value != "ACTIVE"]
        scopes += [f"strategy {n}: {s.value} ({why})" for n, (s, why) in risk.strategy_states.items()
                   if s.value != "ACTIVE"]
        self.scopes_label.setText("\n".join(scopes) or "All venues and strategies ACTIVE")
        self.reset_button.setEnabled(state != "ACTIVE")

    def _draw_denials(self) -> None:
        rows = self._port.risk.denials[::-1][:100]
        self.denials.setRowCount(len(rows))
        for r, d in enumerate(rows):
            t = dt.datetime.fromtimestamp(d.ts / 1000, tz=dt.timezone.utc).strftime("%H:%M:%S")
            for c, text in enumerate([t, d.client_order_id, d.symbol, d.reason, d.limit, d.observed, d.actor]):
                set_cell(self.denials, r, c, text, MUTED if c == 0 else None, False)
            self.denials.item(r, 3).setToolTip(d.message)

    def utilization(self) -> list[tuple[str, float, float]]:
        """(name, in use, max) for every limit that has a current level: the risk engine's read model."""
        return self._port.risk.utilization()

    def _draw_limits(self) -> None:
        rows = self.utilization()
        self.limits.setRowCount(len(rows))
        for r, (name, used, cap) in enumerate(rows):
            pct = 100.0 * used / cap if cap else 0.0
            color = DOWN if pct >= 90 else (UP if pct < 60 else None)
            set_cell(self.limits, r, 0, name, None, False)
            set_cell(self.limits, r, 1, _num(used))
            set_cell(self.limits, r, 2, _num(cap))
            set_cell(self.limits, r, 3, f"{pct:.0f}%" if used else "", color)


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.4g}"
