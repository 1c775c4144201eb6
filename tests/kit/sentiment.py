"""The headline evaluation sets (tests/data/headlines_*.csv, guide in HEADLINES.md) and a TF-IDF + logistic
regression text classifier exported to ONNX the way a trader would, for the sentiment tests and benches."""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np

from tests.kit.data import recorded


def headlines(lang: str) -> tuple[list[str], np.ndarray]:
    """(texts, labels -1/0/+1) of the evaluation set for ``lang`` ("en" or "zh")."""
    with recorded(f"headlines_{lang}.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])


def text_classifier(lang: str):
    """An unfitted TF-IDF + logistic-regression pipeline: words for English, character 1-3 grams for Chinese.

    Kept to what skl2onnx 1.20 converts exactly (ONNX within 2e-7 of scikit-learn here): it converts neither
    a custom (jieba) tokenizer nor ``analyzer="char_wb"``, and both word bigrams (when sklearn drops
    one-letter tokens such as "a" or "2" between them) and ``sublinear_tf=True`` come out different, by up
    to 0.04 in P(+1) - P(-1)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 3)) if lang == "zh" else TfidfVectorizer()
    return Pipeline([("tfidf", tfidf), ("lr", LogisticRegression(C=10.0, max_iter=2000))])


def export_text_model(pipe, path: Path, sidecar: dict | None = None) -> Path:
    """Write the fitted ``pipe`` to ``path`` as ONNX (string input [N, 1], probabilities output) and, unless
    ``sidecar`` is {} , the sidecar ``<path>.json`` with the class order (default: the classifier's classes)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType

    tfidf, lr = pipe.named_steps["tfidf"], pipe.named_steps["lr"]
    # the locale option: the StringNormalizer op otherwise wants en_US.UTF-8, which this machine lacks
    with warnings.catch_warnings():  # "only tokenizer='word' is fully supported": checked, see text_classifier
        warnings.simplefilter("ignore", UserWarning)
        onx = convert_sklearn(pipe, initial_types=[("text", StringTensorType([None, 1]))],
                              options={id(tfidf): {"locale": "C.UTF-8"}, id(lr): {"zipmap": False}})
    path.write_bytes(onx.SerializeToString())
    meta = {"labels": [int(c) for c in lr.classes_]} if sidecar is None else sidecar
    if meta:
        path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return path
