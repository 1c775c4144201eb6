"""Load what the first ML strategy start needs before anyone asks: onnxruntime, a session for the bundled
model and the indicator kernels of its features (~2 s of CPU on a cold process, mostly Numba loading
kernels from its cache). Runs in a daemon thread after the window is shown; the loop keeps running (the
longest GIL hold measured while it runs was ~0.1 s, once)."""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("kestrel.ml")


def _warm() -> None:
    try:
        from app.engine.ml.serve import ModelSource

        ModelSource().handle("default")
    except Exception:  # noqa: BLE001 - a warm-up failure only means the first start is slower
        log.exception("ML warm-up failed; the first ML strategy start will load what it needs itself")


def start_background_warmup() -> threading.Thread:
    t = threading.Thread(target=_warm, name="kestrel-ml-warmup", daemon=True)
    t.start()
    return t
