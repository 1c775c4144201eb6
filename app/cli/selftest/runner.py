"""``kestrel --self-test``: start the real window offscreen and drive every subsystem, step by step.

Steps: window -> feed -> chart (with the history it must show) -> ticket order -> fill -> position -> kill
switch (the tool bar's button) -> reset (the reset dialog: refused without a reason, then with one), then
the docks and dialogs as a person drives them (``selftest_docks``): indicator dialog (add, drawn, removed),
strategies (load, edit a parameter, start, stop, remove), backtest and sweep (Backtest… in worker
processes, to the equity plot and the heatmap), venues (the sim listed; the Connect dialog fits a small
screen and is canceled), model training (the Models dock, in its worker; the model deleted again). Then
audit (the hash-chained trail of those orders verifies), indicators (numba kernels compiled or loaded from
the per-user cache, which the line says), ML inference (the bundled model through onnxruntime), plugins
(every bundled plugin loads, one runs a backtest), user plugin (a probe file in ``<profile>/plugins`` loads
and runs, then is removed), worker process (a backtest in a ``spawn`` worker, started at the beginning and
running alongside), venue libraries (ccxt, akshare with its calendar and JS engine, scikit-learn, skl2onnx)
and secrets (OS keyring, or the encrypted-file fallback).

Each step prints its name and time; the first failure is printed with its step name and the exit code is 1.
Without ``--profile`` it runs in a temporary profile, so a trader's own orders and kill state are never
touched; with one, the profile is left as it was found: what the steps add they take back, and the
window's layout (which closing the window saves) is put back as it was. It is the installers' acceptance
test: ``packaging/`` runs it on the frozen build.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from app.cli.selftest import checks
from app.cli.selftest.checks import StepFailed
from app.cli.selftest.docks import DockSteps
from app.cli.selftest.hands import click, open_dialogs, painted, type_into

SYMBOL = "BTC/USDT@sim"  # the instrument the self-test trades: the sim's BTC/USDT
BAR_FILE_ROWS = 600  # the Backtest dialog's and the Models dock's file: enough to train on, quick to sweep
LAYOUT_SETTINGS = ("ui.geometry", "ui.window_state", "ui.charts")  # what closing the window saves


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
    layout = {key: kernel.store.get_setting(key) for key in LAYOUT_SETTINGS}
    window.show()
    steps = SelfTest(app, kernel, window, Path(profile), Path(scratch.name))
    ok = steps.run()
    window.close()
    for key, value in layout.items():  # the trader's layout, not the offscreen window's
        if value is None:
            kernel.store.delete_setting(key)
        else:
            kernel.store.set_setting(key, value)
    kernel.close()
    shutdown_backtest_workers(finished=ok)
    print(f"self-test {'passed' if ok else 'FAILED'} in {time.perf_counter() - t_start:.2f} s", flush=True)
    scratch.cleanup()
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


def shutdown_backtest_workers(finished: bool) -> None:
    """The Backtest dialog's worker processes live for the session: end them now, not at interpreter exit;
    after a failure one may still be working, so they are terminated and the exit is prompt."""
    from app.widgets.panels.backtest_dialog import shutdown_pool

    shutdown_pool(finished)


class SelfTest:
    def __init__(self, app, kernel, window, profile: Path, scratch: Path) -> None:
        self.app, self.kernel, self.window = app, kernel, window
        self.profile, self.scratch = profile, scratch
        self.worker: checks.Worker | None = None
        self.docks: DockSteps | None = None

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
        from app.widgets.panels.backtest_dialog import pool

        bars = checks.write_bars(self.scratch / "selftest-bars.csv", BAR_FILE_ROWS)
        self.worker = checks.Worker(bars, pool())  # a spawn process: runs while the window is being driven
        self.docks = DockSteps(self, bars)
        self.docks.start_training()  # in its worker process, alongside the steps before "model training"
        steps = [("window", self.window_shown), ("feed", self.feed), ("chart", self.chart),
                 ("ticket order", self.ticket_order), ("fill", self.fill), ("position", self.position),
                 ("kill switch", self.kill_switch), ("reset", self.reset),
                 *self.docks.steps(),
                 ("audit", lambda: checks.audit(self.kernel, self.profile)),
                 ("indicators", checks.indicators),
                 ("ML inference", lambda: checks.ml_inference(self.profile)),
                 ("plugins", lambda: checks.plugins(self.profile)),
                 ("user plugin", lambda: checks.user_plugin(self.profile)),
                 ("worker process", self.worker.process_step),
                 ("venue libraries", self.worker.libraries_step),
                 ("secrets", lambda: checks.secrets(self.profile))]
        try:
            ok = self.run_steps(steps)
        finally:
            problems = self.docks.undo_all()
        for problem in problems:  # what a step added and could not take back: the profile is not as found
            print(f"FAIL cleanup: {problem}", flush=True)
        return ok and not problems

    def run_steps(self, steps: list[tuple[str, Callable[[], str]]]) -> bool:
        """Each step in turn, timed; the first failure (an exception, or a dialog left open) ends the run."""
        for name, step in steps:
            t0 = time.perf_counter()
            try:
                detail = step()
                left = [d.windowTitle() for d in open_dialogs() if d not in self.docks.keep_open]
                if left:
                    raise StepFailed(f"it left {', '.join(repr(t) for t in left)} open")
            except Exception as exc:  # noqa: BLE001
                print(f"FAIL {name}: {exc}", flush=True)
                return False
            print(f"ok   {name:<16} {1000 * (time.perf_counter() - t0):7.1f} ms  {detail}", flush=True)
        return True

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
        from app.engine.data.resample import timeframe_label

        chart = self.window.chart
        self.window.set_symbol(SYMBOL)
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
        return (f"{chart.series.n} bars at {timeframe_label(chart.tf)} ({chart.base.n} base bars), "
                f"{image.width()}x{image.height()} px rendered")

    def _send(self, side_name: str, qty: str) -> str:
        from app.engine.core.messages import Side

        t = self.window.ticket
        t.set_symbol(SYMBOL)
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
        pos = self.kernel.portfolio.position(SYMBOL)
        if abs(pos.quantity - 0.01) > 1e-9:
            raise StepFailed(f"{SYMBOL} position is {pos.quantity}, expected 0.01")
        self.window.frames.tick()
        t = self.window.positions.table
        if not any(t.item(r, 0) and t.item(r, 0).text() == SYMBOL for r in range(t.rowCount())):
            raise StepFailed("the position is not shown")
        return f"{SYMBOL} {pos.quantity:g} avg {pos.avg_price:g}"

    def kill_switch(self) -> str:
        """The main tool bar's kill button (there in every layout): HALTED persisted and shown, the working
        order canceled, a new order refused with the reason on the ticket."""
        k, w = self.kernel, self.window
        st = k.market.get(SYMBOL)
        resting = k.instruments[SYMBOL].round_price(st.book.best_bid * 0.99)
        t = w.ticket
        t.order_type.setCurrentText("LIMIT")
        t.quantity.setText("0.01")
        t.set_price(resting)
        from app.engine.core.messages import Side

        working = t.send(Side.BUY)
        self.pump(2.0, lambda: k.execution.orders[working].status.value == "ACCEPTED")
        click(w.kill_button, "the tool bar's kill button")
        if k.store.load_risk_state().state != "HALTED":
            raise StepFailed("HALTED was not persisted")
        if not self.pump(3.0, lambda: k.execution.orders[working].status.value == "CANCELED"):
            raise StepFailed("the working order was not canceled by the kill switch")
        w.frames.tick()
        if not (w.trading_state.shown() and "HALTED" in w.trading_state.label.text()
                and w.risk_panel.state_label.text() == "HALTED"):
            raise StepFailed(f"the window does not show HALTED ({w.risk_panel.state_label.text()})")
        cid = self._send("BUY", "0.01")
        denial = next((d for d in k.risk.denials if d.client_order_id == cid), None)
        if denial is None or denial.reason != "TRADING_HALTED":
            raise StepFailed("an order was not refused while HALTED")
        w.frames.tick()
        if "TRADING_HALTED" not in t.status.text():
            raise StepFailed("the ticket does not say why the order was refused")
        return "tool bar button: HALTED persisted and shown, working order canceled, new order denied"

    def reset(self) -> str:
        """The reset dialog: Resume with no reason resets nothing and says so; with a reason trading is
        ACTIVE again (persisted, shown) and an order fills."""
        k, w = self.kernel, self.window
        dialog = w.risk_panel.ask_reset(w)
        if dialog is None:
            raise StepFailed("the reset dialog did not open")
        size = painted(dialog, "the reset dialog")
        click(dialog.resume_button, "Resume trading")
        if not dialog.isVisible() or "Nothing was reset" not in dialog.error.text():
            raise StepFailed(f"Resume without a reason did not say why nothing happened ({dialog.error.text()!r})")
        if k.risk.state.value != "HALTED":
            raise StepFailed(f"a reset without a reason left trading {k.risk.state.value}")
        type_into(dialog.reason, "kestrel --self-test: kill switch checked")
        click(dialog.resume_button, "Resume trading")
        if dialog.isVisible():
            raise StepFailed(f"the reset dialog stayed open: {dialog.error.text()}")
        if k.store.load_risk_state().state != "ACTIVE":
            raise StepFailed("reset was not persisted")
        w.frames.tick()
        if w.trading_state.shown() or w.risk_panel.state_label.text() != "ACTIVE":
            raise StepFailed(f"the window still shows {w.risk_panel.state_label.text()} after the reset")
        cid = self._send("SELL", "0.01")
        if not self.pump(5.0, lambda: k.execution.orders.get(cid) is not None
                         and k.execution.orders[cid].status.value == "FILLED"):
            raise StepFailed("an order after reset did not fill")
        return (f"dialog {size} px: no reason refused ('Nothing was reset'), reset with one; ACTIVE again, closing "
                f"sell filled, {SYMBOL} position {k.portfolio.position(SYMBOL).quantity:g}")


def history_problem(kernel, chart) -> str | None:
    """What is wrong with the history ``chart`` shows, or None. A sim symbol starts with ``SEED_BARS`` bars
    of base-timeframe history (``Kernel.start``); the chart must show all of them, resampled to its
    timeframe: at least ``SEED_BARS * base / timeframe`` bars."""
    from app.engine.kernel import SEED_BARS
    from app.engine.data.resample import timeframe_label

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
        return (f"the {chart.symbol} chart shows {shown} bars at {timeframe_label(chart.tf)}, expected at least "
                f"{want} (its {SEED_BARS} seeded bars)")
    return None


if __name__ == "__main__":
    sys.exit(run_self_test(None))
