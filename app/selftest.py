"""``kestrel --self-test``: start the real window offscreen and drive every subsystem, step by step.

Steps: window -> feed -> chart -> ticket order -> fill -> position -> kill switch -> reset (the window and the
one order path), then audit (the hash-chained trail of those orders verifies), indicators (numba kernels
compiled or loaded from the per-user cache, which the line says), ML inference (the bundled model through
onnxruntime), plugins (every bundled plugin loads, one runs a backtest), user plugin (a probe file in
``<profile>/plugins`` loads and runs, then is removed), worker process (a backtest in a ``spawn`` worker,
started at the beginning and running alongside), venue libraries (ccxt, akshare with its calendar and JS
engine, scikit-learn, skl2onnx) and secrets (OS keyring, or the encrypted-file fallback).

Each step prints its name and time; the first failure is printed with its step name and the exit code is 1.
Without ``--profile`` it runs in a temporary profile, so a trader's own orders and kill state are never
touched. It is the installers' acceptance test: ``packaging/`` runs it on the frozen build.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from app import selftest_checks as checks
from app.selftest_checks import StepFailed


def run_self_test(profile: Path | None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    t_start = time.perf_counter()
    tmp = None
    if profile is None:
        tmp = tempfile.TemporaryDirectory(prefix="kestrel-selftest-")
        profile = Path(tmp.name)
    scratch = tempfile.TemporaryDirectory(prefix="kestrel-selftest-work-")
    from app.bootstrap import build, create_app

    app = create_app()
    try:
        kernel, window = build(profile)
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        print(f"FAIL start: {exc}", flush=True)
        return 1
    window.show()
    steps = SelfTest(app, kernel, window, Path(profile), Path(scratch.name))
    ok = steps.run()
    window.close()
    kernel.close()
    print(f"self-test {'passed' if ok else 'FAILED'} in {time.perf_counter() - t_start:.2f} s", flush=True)
    scratch.cleanup()
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


class SelfTest:
    def __init__(self, app, kernel, window, profile: Path, scratch: Path) -> None:
        self.app, self.kernel, self.window = app, kernel, window
        self.profile, self.scratch = profile, scratch
        self.worker: checks.Worker | None = None

    def pump(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Run the engine and the UI (as the qasync loop would) until ``until()`` or the deadline."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.kernel.step()
            self.window.frames.tick()
            self.app.processEvents()
            if until is not None and until():
                return True
            time.sleep(0.01)
        return until is None

    def run(self) -> bool:
        self.worker = checks.Worker(self.scratch)  # a spawn process: runs while the window is being driven
        steps = [("window", self.window_shown), ("feed", self.feed), ("chart", self.chart),
                 ("ticket order", self.ticket_order), ("fill", self.fill), ("position", self.position),
                 ("kill switch", self.kill_switch), ("reset", self.reset),
                 ("audit", lambda: checks.audit(self.kernel, self.profile)),
                 ("indicators", checks.indicators),
                 ("ML inference", lambda: checks.ml_inference(self.profile)),
                 ("plugins", lambda: checks.plugins(self.profile)),
                 ("user plugin", lambda: checks.user_plugin(self.profile)),
                 ("worker process", self.worker.process_step),
                 ("venue libraries", self.worker.libraries_step),
                 ("secrets", lambda: checks.secrets(self.profile))]
        try:
            for name, step in steps:
                t0 = time.perf_counter()
                try:
                    detail = step()
                except Exception as exc:  # noqa: BLE001
                    print(f"FAIL {name}: {exc}", flush=True)
                    return False
                print(f"ok   {name:<15} {1000 * (time.perf_counter() - t0):7.1f} ms  {detail}", flush=True)
            return True
        finally:
            self.worker.close()

    # -------------------------------------------------------------------------------------------- steps
    def window_shown(self) -> str:
        w = self.window
        self.app.processEvents()
        if not w.isVisible():
            raise StepFailed("the main window is not visible")
        image = w.grab().toImage()
        if image.isNull() or image.width() < 400 or image.height() < 300:
            raise StepFailed("the main window did not render")
        from PySide6.QtWidgets import QDockWidget

        docks = [d.windowTitle() for d in w.findChildren(QDockWidget) if not d.isHidden()]
        if not docks:
            raise StepFailed("the main window shows no docks")
        return f"{image.width()}x{image.height()} px, {len(docks)} docks ({', '.join(docks[:6])}...)"

    def feed(self) -> str:
        k = self.kernel
        trades0 = sum(s.trades for s in k.market.symbols.values())
        ok = self.pump(5.0, lambda: all(k.market.get(s).book and k.market.get(s).book.mid for s in k.instruments)
                       and sum(s.trades for s in k.market.symbols.values()) > trades0)
        if not ok:
            raise StepFailed("no two-sided book and trades for every instrument within 5 s")
        return f"{len(k.instruments)} instruments quoting"

    def chart(self) -> str:
        from app.widgets.chart import tf_label

        chart = self.window.chart
        self.window.set_symbol("BTC/USDT")
        v0 = chart.series.version
        if not self.pump(5.0, lambda: chart.series.version > v0):
            raise StepFailed("the chart's bar series did not update from the feed within 5 s")
        self.window.frames.tick()
        image = chart.glw.grab().toImage()
        if image.isNull() or image.width() < 100:
            raise StepFailed("the chart did not render")
        colors = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
        if len(colors) < 4:
            raise StepFailed("the chart rendered blank")
        for c in [chart, *self.window.chart_docks.charts.values()]:
            problem = history_problem(self.kernel, c)
            if problem:
                raise StepFailed(problem)
        return (f"{chart.series.n} bars at {tf_label(chart.tf)} ({chart.base.n} base bars), "
                f"{image.width()}x{image.height()} px rendered")

    def _send(self, side_name: str, qty: str) -> str:
        from app.engine.messages import Side

        t = self.window.ticket
        t.set_symbol("BTC/USDT")
        t.order_type.setCurrentText("MARKET")
        t.quantity.setText(qty)
        cid = t.send(Side(side_name))
        if cid is None:
            raise StepFailed(f"the ticket refused to send: {t.status.text()}")
        return cid

    def ticket_order(self) -> str:
        self.cid = self._send("BUY", "0.01")
        order = self.kernel.execution.orders.get(self.cid)
        if order is None:
            denial = next((d for d in self.kernel.risk.denials if d.client_order_id == self.cid), None)
            raise StepFailed(f"order not accepted by risk: {denial.message if denial else 'unknown'}")
        return f"{self.cid} {order.status.value}"

    def fill(self) -> str:
        k = self.kernel
        if not self.pump(5.0, lambda: k.execution.orders[self.cid].status.value == "FILLED"):
            o = k.execution.orders[self.cid]
            raise StepFailed(f"order {self.cid} not filled within 5 s (status {o.status.value} {o.reason})")
        self.window.frames.tick()
        table = self.window.blotter.fills
        if not any(table.item(r, 1) and table.item(r, 1).text() == self.cid for r in range(table.rowCount())):
            raise StepFailed("the fill is not shown in the blotter")
        o = k.execution.orders[self.cid]
        return f"{o.filled_qty:g} @ {o.avg_price:g}"

    def position(self) -> str:
        pos = self.kernel.portfolio.position("BTC/USDT")
        if abs(pos.quantity - 0.01) > 1e-9:
            raise StepFailed(f"BTC/USDT position is {pos.quantity}, expected 0.01")
        self.window.frames.tick()
        t = self.window.positions.table
        if not any(t.item(r, 0) and t.item(r, 0).text() == "BTC/USDT" for r in range(t.rowCount())):
            raise StepFailed("the position is not shown")
        return f"BTC/USDT {pos.quantity:g} avg {pos.avg_price:g}"

    def kill_switch(self) -> str:
        k = self.kernel
        st = k.market.get("BTC/USDT")
        resting = k.instruments["BTC/USDT"].round_price(st.book.best_bid * 0.99)
        t = self.window.ticket
        t.order_type.setCurrentText("LIMIT")
        t.quantity.setText("0.01")
        t.set_price(resting)
        from app.engine.messages import Side

        working = t.send(Side.BUY)
        self.pump(2.0, lambda: k.execution.orders[working].status.value == "ACCEPTED")
        self.window.risk_panel.kill_button.click()
        if k.store.load_risk_state().state != "HALTED":
            raise StepFailed("HALTED was not persisted")
        if not self.pump(3.0, lambda: k.execution.orders[working].status.value == "CANCELED"):
            raise StepFailed("the working order was not canceled by the kill switch")
        cid = self._send("BUY", "0.01")
        denial = next((d for d in k.risk.denials if d.client_order_id == cid), None)
        if denial is None or denial.reason != "TRADING_HALTED":
            raise StepFailed("an order was not refused while HALTED")
        self.window.frames.tick()
        if "TRADING_HALTED" not in t.status.text():
            raise StepFailed("the ticket does not say why the order was refused")
        return "HALTED persisted, working order canceled, new order denied"

    def reset(self) -> str:
        k = self.kernel
        k.risk.reset("self-test reset", actor="self-test")
        if k.store.load_risk_state().state != "ACTIVE":
            raise StepFailed("reset was not persisted")
        cid = self._send("SELL", "0.01")
        if not self.pump(5.0, lambda: k.execution.orders.get(cid) is not None
                         and k.execution.orders[cid].status.value == "FILLED"):
            raise StepFailed("an order after reset did not fill")
        return f"ACTIVE again; closing sell filled, BTC/USDT position {k.portfolio.position('BTC/USDT').quantity:g}"


def history_problem(kernel, chart) -> str | None:
    """What is wrong with the history ``chart`` shows, or None. A sim symbol starts with ``SEED_BARS`` bars
    of base-timeframe history (``Kernel.start``); the chart must show all of them, resampled to its
    timeframe: at least ``SEED_BARS * base / timeframe`` bars."""
    from app.engine.kernel import SEED_BARS
    from app.widgets.chart import tf_label

    inst = kernel.instruments.get(chart.symbol)
    if inst is None or inst.venue != "sim":
        return None
    feed = kernel.bars.get(chart.symbol)
    if feed.n < SEED_BARS:
        return (f"{chart.symbol} has {feed.n} bars of history, expected at least the {SEED_BARS} seeded "
                f"at start")
    base = chart.base.n if chart.base is not None else 0
    if base < feed.n - 1:  # the feed may have opened a bar since the last frame
        return f"the {chart.symbol} chart holds {base} of its {feed.n} bars"
    want = max(1, SEED_BARS * kernel.bars.timeframe_ms // chart.tf)
    shown = chart.series.n if chart.series is not None else 0
    if shown < want:
        return (f"the {chart.symbol} chart shows {shown} bars at {tf_label(chart.tf)}, expected at least "
                f"{want} (its {SEED_BARS} seeded bars)")
    return None


if __name__ == "__main__":
    sys.exit(run_self_test(None))
