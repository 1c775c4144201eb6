"""Status bar: each venue's connection (PAPER after a paper venue's name), the trading state, messages per
second, event-loop lag, and the strategy path's latency (a market event reaching the strategies -> its order
past risk at the venue)."""
from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QStatusBar

from app.engine.port import Port


class StatusBar(QStatusBar):
    def __init__(self, port: Port) -> None:
        super().__init__()
        self._port = port
        self.venues = QLabel()
        self.state = QLabel()
        self.state.setObjectName("tradingState")
        self.rate = QLabel()
        self.lag = QLabel()
        self.e2e = QLabel()
        self.e2e.setToolTip("Tick -> indicators -> features -> model -> strategy -> risk -> venue: p50/p99 over the "
                            "last 2,000 strategy orders (the sim acknowledges inside this time when its latency is 0)")
        for w in (self.venues, self.state, self.rate, self.lag, self.e2e):
            self.addPermanentWidget(w)
        self._last = (time.monotonic(), port.health.published)
        self.msgs_per_s = 0.0
        self._shown_state = None

    def refresh(self) -> None:
        now = time.monotonic()
        t0, n0 = self._last
        if now - t0 >= 1.0:
            self.msgs_per_s = (self._port.health.published - n0) / (now - t0)
            self._last = (now, self._port.health.published)
            self.rate.setText(f"{self.msgs_per_s:,.0f} msg/s")
            self.lag.setText(f"loop lag p99 {self._port.health.loop_lag_p99():.1f} ms")
            lat = self._port.health.order_latency
            self.e2e.setText(f"tick→venue p50 {lat.percentile_us(0.5):,.0f} µs p99 {lat.percentile_us(0.99):,.0f} µs"
                             if lat.samples else "tick→venue —")
            venues = self._port.venues
            parts = [f"{'●' if s.connected else '○'} {v}{' PAPER' if venues.mode(v) == 'paper' else ''} "
                     f"{'connected' if s.connected else 'DISCONNECTED'}" for v, s in venues.status.items()]
            self.venues.setText("   ".join(parts))
        state = self._port.risk.state.value
        if state != self._shown_state:
            self._shown_state = state
            self.state.setText(f" {state} ")
            self.state.setProperty("state", state)
            self.state.style().unpolish(self.state)
            self.state.style().polish(self.state)
