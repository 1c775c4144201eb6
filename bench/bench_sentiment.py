"""Sentiment scoring speed: items per second and p99 per item for each scorer, on a worker thread.

    python bench/bench_sentiment.py [--runs 3] [--repeat 20]

Each scorer runs on a ``ThreadPoolExecutor(1)`` worker, as the news room calls it: the lexicon on the English
and on the Chinese evaluation headlines (tests/data/headlines_*.csv), and TF-IDF + logistic-regression ONNX
models (English words, Chinese character 1-3 grams; fitted on the set, served by ``OnnxScorer``). Per item:
each headline scored alone (``score([text])``), the set ``--repeat`` times, p50/p99 of those calls.
Throughput: the whole set in one batch call, ``--repeat`` times. Median of ``--runs`` runs. Warm-up (jieba's
dictionary, the word lists, the ONNX session) is timed once and reported apart.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import median, pct, table

from app.engine.news.sentiment import LexiconScorer, OnnxScorer
from tests.kit.sentiment import export_text_model, headlines, text_classifier


def one_run(scorer, texts: list[str], repeat: int) -> tuple[float, float, float]:
    """(items/s in batches, p50 µs per single item, p99 µs per single item)."""
    t0 = time.perf_counter()
    for _ in range(repeat):
        scorer.score(texts)
    rate = repeat * len(texts) / (time.perf_counter() - t0)
    lat = []
    for _ in range(repeat):
        for t in texts:
            a = time.perf_counter()
            scorer.score([t])
            lat.append((time.perf_counter() - a) * 1e6)
    return rate, pct(lat, 0.50), pct(lat, 0.99)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    en, y_en = headlines("en")
    zh, y_zh = headlines("zh")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as worker:
        t0 = time.perf_counter()
        lex = LexiconScorer()
        worker.submit(lex.warm).result()
        warm_lex = time.perf_counter() - t0
        path = export_text_model(text_classifier("en").fit(en, y_en), Path(tmp) / "tfidf_en.onnx")
        t0 = time.perf_counter()
        onnx = worker.submit(OnnxScorer, path).result()
        warm_onnx = time.perf_counter() - t0
        onnx_zh = OnnxScorer(export_text_model(text_classifier("zh").fit(zh, y_zh), Path(tmp) / "tfidf_zh.onnx"))
        rows = []
        for name, scorer, texts in (("lexicon en", lex, en), ("lexicon zh", lex, zh), ("onnx tf-idf+LR en", onnx, en),
                                     ("onnx tf-idf+LR zh (chars)", onnx_zh, zh)):
            runs = [worker.submit(one_run, scorer, texts, args.repeat).result() for _ in range(args.runs)]
            rate, p50, p99 = (median([r[i] for r in runs]) for i in range(3))
            rows.append([name, len(texts), f"{rate:,.0f}", f"{p50:.0f}", f"{p99:.0f}"])
    print(table(["scorer", "items", "items/s (batch)", "p50 µs/item (alone)", "p99 µs/item (alone)"], rows))
    print(f"warm-up on the worker: lexicon (word lists + jieba) {warm_lex * 1e3:.0f} ms, "
          f"ONNX session + trial run {warm_onnx * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
