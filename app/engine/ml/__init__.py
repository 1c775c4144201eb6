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
"""
