"""Wires config -> store -> bus -> engines -> (plugins) -> MainWindow, on one qasync loop.

Qt is imported here and only here for the GUI path; ``kestrel run --headless`` never imports this module.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
# pyqtgraph picks the first Qt binding it can import; finplot (optional) declares PyQt6, so pin ours before
# anything imports pyqtgraph (the backtest report does): one Qt in the process
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def create_app():
    """The QApplication with Kestrel's theme (created once per process)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Kestrel")
    app.setOrganizationName("Kestrel")
    from app.paths import resources_dir

    icon = resources_dir() / "icons" / "kestrel.png"
    if icon.exists() and app.windowIcon().isNull():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    qss = resources_dir() / "theme" / "dark.qss"
    if qss.exists():
        text = qss.read_text()
        if app.styleSheet() != text:  # re-setting it re-polishes every live widget for nothing
            app.setStyleSheet(text)
    if getattr(app, "_kestrel_gc", None) is None:  # cycles collected on the GUI thread only (app/gui_gc.py)
        from app.gui_gc import GuiCollector

        app._kestrel_gc = GuiCollector(app)
    return app


def build(profile: Path, clock=None):
    """Build the kernel and the window for ``profile``. Raises StoreError/ConfigError on a bad profile."""
    from app.config import load_settings
    from app.engine.core.logring import setup_logging
    from app.engine.kernel import Kernel
    from app.engine.venues.manager import kernel_instruments, startup_configs, stored_credentials
    from app.widgets.main_window import MainWindow
    from app.widgets.panels.venues import install_venue_ui

    ring = setup_logging(profile)
    configs = startup_configs(profile)  # venues saved from the Connect dialog (none: the sim alone)
    kernel = Kernel(profile, load_settings(profile), clock=clock,
                    instruments=kernel_instruments(profile, configs))
    kernel.start()
    window = MainWindow(kernel.port, ring)
    manager = kernel.venues
    for cfg in configs:
        manager.add_config(cfg, None if cfg.kind == "akshare" else stored_credentials(profile, cfg.name))
    install_venue_ui(window, kernel.port)  # connects when the loop runs (launch_gui)
    window.restore_layout()  # again: the Venues dock exists now
    return kernel, window


def schedule_indicator_warmup(app, delay_ms: int = 1500):
    """Fill the indicator kernels' Numba cache off the UI loop (DESIGN: first compilation leaves the loop).

    A cold cache costs ~50 s of compiling, mostly holding the GIL, so it runs in a low-priority child
    process (:mod:`app.engine.indicators.background`), started ``delay_ms`` after the window is shown
    (the cache check and the spawn run on a short-lived thread) and polled by a timer; this process
    only loads kernels from the cache, lazily, when first used.
    Nothing is spawned when the cache is already warm.  Never blocks start-up and never raises (a
    failure is logged; kernels then compile on first use).  ``KESTREL_INDICATOR_WARMUP``: ``1`` on,
    ``0`` off, default on except offscreen (tests, benchmarks, the self-test).  Returns the timer.
    """
    import logging
    import threading

    from PySide6.QtCore import QTimer

    mode = os.environ.get("KESTREL_INDICATOR_WARMUP", "auto").strip().lower()
    offscreen = os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    if mode in ("0", "off", "no", "false") or (mode == "auto" and offscreen):
        return None
    log = logging.getLogger("kestrel.indicators")
    poller = QTimer(app)
    poller.setInterval(500)
    started: list = []  # filled by the worker thread: the running warm-up, or None

    def check_and_spawn() -> None:  # worker thread: reads sources to check the cache (~20-40 ms)
        try:
            from app.engine.indicators import background

            started.append(background.start())
        except Exception:  # noqa: BLE001 - never let the warm-up disturb the app
            log.exception("indicator warm-up could not start; kernels compile on first use")
            started.append(None)

    def poll() -> None:
        if not started:
            return
        warmup = started[0]
        try:
            if warmup is None or warmup.poll():
                poller.stop()
        except Exception:  # noqa: BLE001
            log.exception("indicator warm-up: polling failed")
            poller.stop()

    def begin() -> None:
        threading.Thread(target=check_and_spawn, name="indicator-warmup", daemon=True).start()
        poller.start()

    def stop() -> None:  # the app quits: stop a child that still compiles (the next start resumes)
        if started and started[0] is not None:
            started[0].stop()

    poller.timeout.connect(poll)
    app.aboutToQuit.connect(stop)
    QTimer.singleShot(delay_ms, begin)
    return poller


def schedule_ml_warmup(delay_ms: int = 4000) -> None:
    """Load onnxruntime and the bundled model's kernels in a background thread once the window is up, so
    the first ML strategy start does not stall the loop. ``KESTREL_ML_WARMUP``: ``1`` on, ``0`` off,
    default on except offscreen (tests, benchmarks)."""
    from PySide6.QtCore import QTimer

    mode = os.environ.get("KESTREL_ML_WARMUP", "auto").strip().lower()
    if mode in ("0", "off", "no", "false") or (mode == "auto" and os.environ.get("QT_QPA_PLATFORM") == "offscreen"):
        return
    from app.engine.ml.warmup import start_background_warmup

    QTimer.singleShot(delay_ms, start_background_warmup)


def launch_gui(profile: Path) -> int:
    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from app.config import ConfigError
    from app.engine.core.store import StoreError
    from app.qt_platform import check_xcb

    if not check_xcb():  # Qt would abort without naming the missing system libraries
        return 2
    app = create_app()
    try:
        kernel, window = build(profile)
    except Exception as exc:  # noqa: BLE001 - a dialog and one line, never a bare traceback
        if isinstance(exc, (StoreError, ConfigError)):
            text = str(exc)
        else:
            import logging

            logging.getLogger("kestrel").exception("the terminal could not start")
            text = (f"Kestrel could not start: {type(exc).__name__}: {exc}. The details are in "
                    f"{profile / 'logs' / 'kestrel.log'}; please report them.")
        print(f"kestrel: {text}", file=sys.stderr)
        if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            QMessageBox.critical(None, "Kestrel cannot start", text)
        return 2
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window.show()
    shown = time.perf_counter() - T0
    schedule_indicator_warmup(app)
    schedule_ml_warmup()
    from app.gui_gc import freeze_startup

    QTimer.singleShot(6000, freeze_startup)  # after the warm-ups: start-up's objects out of every full collection
    if os.environ.get("KESTREL_EXIT_AFTER_SHOWN"):
        def report() -> None:
            print(f"window shown {shown:.3f} s after the GUI code loaded (bench/bench_startup.py times the whole "
                  f"process from outside)", flush=True)
            app.quit()
        QTimer.singleShot(0, report)
    if os.environ.get("KESTREL_QUIT_AFTER_S"):  # benchmarks and screenshots: a clean, timed run
        QTimer.singleShot(int(float(os.environ["KESTREL_QUIT_AFTER_S"]) * 1000), app.quit)
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)
    with loop:
        install_quit_signals(loop, window)
        task = loop.create_task(kernel.run())
        loop.call_soon(kernel.venues.start)
        loop.run_until_complete(closing.wait())
        window.close()  # layout saved (a signal or a log-out quits without closing the window first)
        loop.run_until_complete(kernel.shutdown())  # strategies stopped, cancels answered, venues closed
        task.cancel()
    import logging

    logging.getLogger("kestrel").info("closing: %d frames, event-loop lag p99 %.1f ms", window.frames.frames,
                                      kernel.loop_monitor.p99())
    kernel.close()
    return 0


def install_quit_signals(loop, window) -> None:
    """SIGTERM (shutdown, a service manager), SIGINT (Ctrl+C in the shell that started it) and SIGHUP (that
    shell closed, log-out) close the terminal as the window's close does: layout saved, strategies stopped,
    cancels answered, venues closed, the journal committed, exit 0. (Without this, SIGTERM killed the
    process with the default action, exit 143.) Qt's own log-out path (the session manager) ends in
    ``aboutToQuit`` like a closed window."""
    import logging
    import signal

    from PySide6.QtWidgets import QApplication

    def quit_on(sig: int) -> None:
        logging.getLogger("kestrel").warning("%s received: closing", signal.Signals(sig).name)
        QApplication.quit()

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, quit_on, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows: no loop signal handlers
            pass
