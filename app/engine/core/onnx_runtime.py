"""onnxruntime as Kestrel runs it, for every path to it (``app.engine.ml``'s models, ``app.engine.news``' scorers).

Importing this module opts out of onnxruntime's telemetry (``app.engine.ml``'s docstring says why) unless the
user set the variables; it must be imported before onnxruntime first is, so both packages import it in their
``__init__``. ``session_options`` are a desktop's: one thread, sequential, no spinning, errors only in the log.
"""
from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")


def session_options() -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only: skl2onnx graphs trigger harmless "unused initializer" warnings
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return so
