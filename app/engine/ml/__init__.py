"""Models in the loop: features from the live indicator kernels, scikit-learn training with honest splits,
ONNX export, a model registry in the profile database, and onnxruntime inference on the strategy path.

features   FeatureSpec: declared once; vectorised for training, streaming live, identical numbers
labels     forward return / direction over a horizon
splits     purged, embargoed, time-ordered splits; look-ahead and split-leak checks
train      scikit-learn models (gbm, rf, logistic, linear, soft-voting ensemble), metrics, signal backtest
export     skl2onnx export; ONNX vs scikit-learn agreement
artifact   a trained model on disk: model.onnx + manifest.json (spec, span, metrics, importances, drift bins)
registry   the ``ml_models`` table in the profile database; loading verifies the sha256
serve      onnxruntime session (desktop threads), single-row fast path, the model handle strategies use
drift      population stability (PSI) of live features against the training distribution

Importing this package is cheap: scikit-learn, skl2onnx and onnxruntime load inside the functions that
need them.

onnxruntime >= 1.29 on Linux/macOS starts a telemetry uploader when it initialises, which writes a device id
and an event database under ``~/.cache/Microsoft/DeveloperTools`` and tries to reach Microsoft's servers.
A trading terminal that works offline must not do either unasked, so importing this package opts out
(``ORT_DISABLE_TELEMETRY=1``, which 1.31 honours before anything is written; ``ORT_TELEMETRY_DISABLED=1``
for versions that read that name) unless the user set those variables. It must run before onnxruntime is
first imported; every Kestrel path to onnxruntime goes through this package
(``tests/engine/ml/test_serve.py`` checks that nothing lands under ``HOME``).
"""
from app.engine.core import onnx_runtime as _onnx_runtime  # noqa: F401 - imported for its opt-out, first

MODELS = ("gbm", "rf", "logistic", "linear", "ensemble")  # what ``kestrel ml train --model`` accepts
CLASSIFIERS = ("gbm", "rf", "logistic", "ensemble")  # the others predict a return
