"""News, sentiment and fundamentals: items from akshare and RSS/Atom feeds stored once in the profile with their
publication and arrival times, scored by offline lexicons or a trader's ONNX model (docs/NEWS.md).

lexicon     the sentiment word lists, read as data from the cntext wheel (never imported)
sentiment   ``language``, the scorers (lexicon, ONNX) and ``load_scorers``

Importing this package opts out of onnxruntime's telemetry, as ``app.engine.ml`` does (``core/onnx_runtime.py``):
the ONNX scorer is a second path to onnxruntime that does not go through ``app.engine.ml``.
"""
from app.engine.core import onnx_runtime as _onnx_runtime  # noqa: F401 - imported for its opt-out, first
