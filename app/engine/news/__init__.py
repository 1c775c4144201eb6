"""News, sentiment and fundamentals: items from akshare and RSS/Atom feeds stored once in the profile with their
publication and arrival times, scored by offline lexicons or a trader's ONNX model (docs/NEWS.md).

lexicon     the sentiment word lists, read as data from the cntext wheel (never imported)
sentiment   ``language``, the scorers (lexicon, ONNX) and ``load_scorers``

Importing this package opts out of onnxruntime's telemetry, as ``app.engine.ml`` does (its docstring says why):
the ONNX scorer is a second path to onnxruntime that does not go through ``app.engine.ml``.
"""
import os as _os

_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
_os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")
