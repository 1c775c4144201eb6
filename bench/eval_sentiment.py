"""Accuracy and macro-F1 of the sentiment scorers on the headline evaluation sets (tests/data/headlines_*.csv).

    python bench/eval_sentiment.py [--folds 5] [--seed 0]

Lexicon: the score maps to a class by a threshold t (|s| < t -> 0, else its sign); t = 0, fixed before
looking (the lexicon gives exactly 0 when it finds no term). Every Chinese list union and the negation rule
are shown so the default can be checked; only the default is the shipped scorer.

ONNX: a TF-IDF + logistic-regression classifier (tests/kit/sentiment.py) trained on one language's set with
stratified k-fold cross-validation; each fold is exported to ONNX and served by ``OnnxScorer`` on the rows it
was not trained on, so every number is out of fold. Two decisions: the model's own (argmax of the three
probabilities) and the scorer's score P(+1) - P(-1) with t = 0.25 (fixed before looking).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import table

from app.engine.news.sentiment import ZH_DEFAULT, LexiconScorer, OnnxScorer
from tests.kit.sentiment import export_text_model, headlines, text_classifier

ONNX_T = 0.25


def classes(scores: np.ndarray, t: float) -> np.ndarray:
    return np.where(np.abs(scores) < t, 0, np.sign(scores)).astype(int) if t > 0 else np.sign(scores).astype(int)


def metrics(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return accuracy_score(y, pred), f1_score(y, pred, average="macro", labels=[-1, 0, 1], zero_division=0)


def lexicon_rows(lang: str, texts: list[str], y: np.ndarray) -> list[list[object]]:
    variants = [(ZH_DEFAULT, False), (ZH_DEFAULT, True)]
    if lang == "zh":
        variants += [(z, False) for z in (("formal",), ("informal",), ("lm_zh",), ("formal", "informal", "lm_zh"))]
    rows = []
    for zh, neg in variants:
        s = LexiconScorer(zh_lists=zh, negation=neg)
        acc, f1 = metrics(y, classes(s.score(texts), 0.0))
        covered = float(np.mean([sum(s.counts(t)) > 0 for t in texts]))
        what = "lexicon" + (f" zh={'+'.join(zh)}" if lang == "zh" else "") + (" +negation" if neg else "")
        if (zh, neg) == (ZH_DEFAULT, False):
            what += " (default)"
        rows.append([lang, what, "t=0", f"{acc:.3f}", f"{f1:.3f}", f"{covered:.0%}"])
    return rows


def onnx_rows(lang: str, texts: list[str], y: np.ndarray, folds: int, seed: int) -> list[list[object]]:
    from sklearn.model_selection import StratifiedKFold

    score = np.full(len(y), np.nan)
    argmax = np.zeros(len(y), dtype=int)
    with tempfile.TemporaryDirectory() as tmp:
        for k, (train, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, y)):
            pipe = text_classifier(lang).fit([texts[i] for i in train], y[train])
            scorer = OnnxScorer(export_text_model(pipe, Path(tmp) / f"tfidf_lr_{lang}_{k}.onnx"))
            held = [texts[i] for i in test]
            score[test] = scorer.score(held)
            argmax[test] = np.asarray(scorer.labels)[scorer._probs(held).argmax(axis=1)]
    assert not np.isnan(score).any()
    a1, f1 = metrics(y, argmax)
    a2, f2 = metrics(y, classes(score, ONNX_T))
    name = f"onnx tf-idf+LR ({folds}-fold out of fold)"
    return [[lang, name, "argmax", f"{a1:.3f}", f"{f1:.3f}", "-"],
            [lang, name, f"t={ONNX_T}", f"{a2:.3f}", f"{f2:.3f}", "-"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = []
    for lang in ("en", "zh"):
        texts, y = headlines(lang)
        rows += lexicon_rows(lang, texts, y)
        rows += onnx_rows(lang, texts, y, args.folds, args.seed)
        rows.append([lang, "always 0 (majority baseline)", "-", *(f"{v:.3f}" for v in metrics(y, 0 * y)), "-"])
    print(table(["lang", "scorer", "decision", "accuracy", "macro-F1", "texts with a term"], rows))


if __name__ == "__main__":
    main()
