"""Offline sentiment scorers: the language rule, the lexicon on known sentences and on the written evaluation
set, the data-only unpickler, and ONNX models that load, agree with scikit-learn, or are refused in words."""
from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from app.engine.news import lexicon
from app.engine.news.sentiment import (LexiconScorer, OnnxScorer, ScorerError, SentimentScorer, language,
                                       load_scorers, score_text)
from tests.kit.sentiment import export_text_model, headlines, text_classifier

# measured with the shipped lexicon (bench/eval_sentiment.py): en 0.613 / 0.551, zh 0.653 / 0.654;
# answering 0 everywhere gives 0.333 / 0.167
FLOORS = {"en": (0.58, 0.52), "zh": (0.62, 0.62)}


@pytest.fixture(scope="module")
def lex() -> LexiconScorer:
    s = LexiconScorer()
    s.warm()
    return s


@pytest.fixture(scope="module")
def en_model(tmp_path_factory) -> tuple[Path, object, list[str]]:
    """A TF-IDF + logistic regression fitted on the English set and exported as a trader would."""
    texts, y = headlines("en")
    pipe = text_classifier("en").fit(texts, y)
    path = export_text_model(pipe, tmp_path_factory.mktemp("models") / "tfidf_en.onnx")
    return path, pipe, texts


# ------------------------------------------------------------------------------------------------- language
@pytest.mark.parametrize("text, lang", [
    ("贵州茅台发布年报", "zh"),
    ("Apple beats estimates", "en"),
    ("", "en"),
    ("600519.SH 2024-03-01 +3.5%", "en"),          # no letters at all
    ("ABCDEFG 茅台", "en"),                          # 2 / 9 = 0.22 < 0.3
    ("ABCDEFG 茅台酒", "zh"),                        # 3 / 10 = 0.3, the boundary counts as Chinese
    ("宁德时代 CATL 发布 Q3 业绩", "zh"),
    ("NVIDIA and AMD rally; 英伟达", "en"),
    ("㐀㐁 ab", "zh"),                              # CJK extension A counts
    ("Ünïcödé façade", "en"),                       # non-ASCII Latin letters are not counted, still en
])
def test_language_rule(text, lang):
    assert language(text) == lang


# -------------------------------------------------------------------------------------------------- lexicon
@pytest.mark.parametrize("text, sign", [
    ("Profit gains as margins improve strongly", 1),
    ("Regulator probe finds fraud; the company reports a loss and recalls products", -1),
    ("The company will hold its annual meeting on Tuesday", 0),
    ("天衡锂业扭亏为盈，净利润同比增长", 1),
    ("华锦科技涉嫌违规被立案调查，股价暴跌", -1),
    ("公司将于下周召开股东大会", 0),
])
def test_lexicon_scores_known_sentences_with_the_right_sign(lex, text, sign):
    s = lex.score([text])
    assert s.dtype == np.float64 and s.shape == (1,)
    assert np.sign(s[0]) == sign, (text, lex.tokens(text), lex.counts(text))


def test_lexicon_score_is_pos_minus_neg_over_pos_plus_neg(lex):
    text = "Strong gains and a loss"  # strong, gains: positive; loss: negative
    assert lex.counts(text) == (2, 1)
    assert lex.score([text])[0] == pytest.approx(1 / 3)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_lexicon_beats_a_measured_floor_on_the_evaluation_set(lex, lang):
    from sklearn.metrics import accuracy_score, f1_score

    texts, y = headlines(lang)
    assert len(texts) == 150 and set(np.bincount(y + 1)) == {50}
    pred = np.sign(lex.score(texts)).astype(int)  # threshold t = 0
    acc, f1 = accuracy_score(y, pred), f1_score(y, pred, average="macro")
    assert acc >= FLOORS[lang][0] and f1 >= FLOORS[lang][1], (acc, f1)


def test_jieba_is_quiet_when_the_lexicon_loads(capfd):
    import jieba

    jieba.setLogLevel(logging.DEBUG)
    LexiconScorer().warm()
    assert "prefix dict" not in capfd.readouterr().err


def test_scoring_writes_nothing_and_prints_nothing(en_model, tmp_path):
    """No jieba cache in the temp folder, no onnxruntime telemetry under HOME (app.engine.news opts out as
    app.engine.ml does), nothing on stderr."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
        from app.engine.news.sentiment import LexiconScorer, OnnxScorer
        print(LexiconScorer().score(["净利润大幅增长", "Profit gains"]), OnnxScorer({str(en_model[0])!r}).score(["x"]))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ORT_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), TMPDIR=str(tmp))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert list(home.rglob("*")) == [] and list(tmp.rglob("*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "tmp"]


def test_lexicon_loads_once_when_many_threads_score_first():
    s = LexiconScorer()
    calls = []
    load = s._load
    s._load = lambda: (calls.append(1), load())  # type: ignore[method-assign]
    gate = threading.Barrier(4)

    def first() -> float:
        gate.wait()
        return float(s.score(["净利润大幅增长"])[0])

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: first(), range(4))) == [1.0] * 4
    assert calls == [1]


# ------------------------------------------------------------------------------------------------ word lists
def test_the_word_lists_come_from_the_cntext_wheel_with_their_citations():
    en, zh = lexicon.load("lm_en"), lexicon.load("fin_zh")
    assert (len(en.lists["Positive"]), len(en.lists["Negative"])) == (354, 2355)
    assert "Loughran" in en.referer and "2018" in en.desc
    assert "姚加权" in zh.referer and len(zh.lists["正式-肯定情绪"]) > 3000


class _Evil:
    def __reduce__(self):
        return (print, ("ran code from a word list",))


def test_the_unpickler_refuses_any_global(tmp_path):
    assert lexicon.load_data_pickle(pickle.dumps({"a": ["x", "y"], "n": 1})) == {"a": ["x", "y"], "n": 1}
    with pytest.raises(pickle.UnpicklingError, match="refused to load builtins.print"):
        lexicon.load_data_pickle(pickle.dumps({"Lists": {"Positive": [_Evil()]}}))
    tampered = tmp_path / "Lists.pkl"
    tampered.write_bytes(pickle.dumps({"Lists": {"Positive": [_Evil()]}}))
    with pytest.raises(lexicon.LexiconError, match=r"Lists\.pkl.*refused.*pip install --no-deps cntext==1\.9\.2"):
        lexicon.read_word_lists(tampered)


def test_a_missing_cntext_is_a_clear_error_and_load_scorers_reports_it(monkeypatch, tmp_path):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(lexicon.LexiconError, match=r"cntext package, which is not installed.*cntext==1\.9\.2"):
        LexiconScorer().warm()
    scorers, refusals = load_scorers(tmp_path)
    assert scorers == [] and "cntext==1.9.2" in refusals[0]


# ----------------------------------------------------------------------------------------------------- onnx
def test_onnx_scores_agree_with_scikit_learn(en_model):
    path, pipe, texts = en_model
    scorer = OnnxScorer(path)
    assert isinstance(scorer, SentimentScorer) and scorer.name == "onnx:tfidf_en" and scorer.labels == (-1, 0, 1)
    p = pipe.predict_proba(texts)
    want = p[:, 2] - p[:, 0]
    got = scorer.score(texts)
    assert got.dtype == np.float64 and np.all(np.abs(got) <= 1)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    assert np.array_equal(np.sign(got), np.sign(want))


def test_onnx_takes_the_class_order_from_the_graph_without_a_sidecar(en_model, tmp_path):
    path, pipe, texts = en_model
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(OnnxScorer(bare).score(texts[:5]), OnnxScorer(path).score(texts[:5]))


def test_onnx_follows_the_sidecar_label_order_and_languages(en_model, tmp_path):
    path, _, texts = en_model
    flipped = tmp_path / "flipped.onnx"
    flipped.write_bytes(path.read_bytes())
    flipped.with_suffix(".json").write_text(json.dumps({"labels": [1, 0, -1], "langs": ["en"]}))
    s = OnnxScorer(flipped)
    np.testing.assert_allclose(s.score(texts[:5]), -OnnxScorer(path).score(texts[:5]), atol=1e-7)
    assert math.isnan(s.score(["华锦科技净利润增长"])[0])


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(ScorerError) as e:
        OnnxScorer(path)
    msg = str(e.value)
    assert str(path.parent) in msg and path.stem in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_damaged_missing_or_mismatched_models_are_refused_in_words(en_model, tmp_path):
    path, _, _ = en_model
    good = path.read_bytes()
    (tmp_path / "garbage.onnx").write_bytes(b"\x00not an onnx model\xff" * 50)
    _refused(tmp_path / "garbage.onnx", "not a usable ONNX model")
    (tmp_path / "truncated.onnx").write_bytes(good[: len(good) // 2])
    _refused(tmp_path / "truncated.onnx", "damaged or truncated")
    _refused(tmp_path / "absent.onnx", "does not exist")

    (tmp_path / "badjson.onnx").write_bytes(good)
    (tmp_path / "badjson.json").write_text("{labels: oops")
    _refused(tmp_path / "badjson.onnx", "sidecar is not readable JSON")
    for labels, words in (([-1, 1], "3 class probabilities"), ([-1, 1, 1], "distinct"),
                           ([2, 0, 1], "-1, 0, 1"), ("up", "-1, 0, 1")):
        (tmp_path / "badlabels.onnx").write_bytes(good)
        (tmp_path / "badlabels.json").write_text(json.dumps({"labels": labels}))
        _refused(tmp_path / "badlabels.onnx", words)


def test_a_model_that_is_not_a_text_model_is_refused(tmp_path):
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    lr = LogisticRegression().fit(rng.normal(size=(60, 3)), np.repeat([-1, 0, 1], 20))
    onx = convert_sklearn(lr, initial_types=[("x", FloatTensorType([None, 3]))], options={id(lr): {"zipmap": False}})
    (tmp_path / "floats.onnx").write_bytes(onx.SerializeToString())
    _refused(tmp_path / "floats.onnx", "not a text model's", "tensor(float)")

    # int64 token ids with no tokenizer, then with one while the tokenizers package is absent
    ids = onnx.helper.make_tensor_value_info("input_ids", onnx.TensorProto.INT64, [None, None])
    out = onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [None, 3])
    node = onnx.helper.make_node("Cast", ["input_ids"], ["logits"], to=onnx.TensorProto.FLOAT)
    graph = onnx.helper.make_graph([node], "ids", [ids], [out])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    (tmp_path / "ids.onnx").write_bytes(model.SerializeToString())
    _refused(tmp_path / "ids.onnx", "takes token ids", "tokenizer")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "ids.json").write_text(json.dumps({"labels": [-1, 0, 1], "tokenizer": "tokenizer.json"}))
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        _refused(tmp_path / "ids.onnx", "pip install tokenizers")
    else:
        _refused(tmp_path / "ids.onnx", "cannot be read")


def test_a_string_input_of_the_wrong_shape_is_refused(en_model, tmp_path):
    import onnx

    m = onnx.load_model_from_string(en_model[0].read_bytes())
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 4
    (tmp_path / "wide.onnx").write_bytes(m.SerializeToString())
    _refused(tmp_path / "wide.onnx", "shape [None, 4]", "takes [N, 1]")


def test_load_scorers_keeps_the_lexicon_and_reports_refused_models(en_model, tmp_path):
    folder = tmp_path / "models" / "sentiment"
    folder.mkdir(parents=True)
    (folder / "good.onnx").write_bytes(en_model[0].read_bytes())
    (folder / "good.json").write_text(json.dumps({"labels": [-1, 0, 1]}))
    (folder / "broken.onnx").write_bytes(b"PK\x03\x04 this is a zip, not a model")
    scorers, refusals = load_scorers(tmp_path)
    assert [s.name for s in scorers] == ["lexicon", "onnx:good"]
    assert len(refusals) == 1 and "broken.onnx" in refusals[0] and "not a usable ONNX model" in refusals[0]
    alone, none = load_scorers(tmp_path / "no such profile")
    assert [s.name for s in alone] == ["lexicon"] and none == []
    rows = score_text("Glenmoor Insurance raises earnings guidance on lower claims", scorers)
    assert [(n, lang) for n, lang, _ in rows] == [("lexicon", "en"), ("onnx:good", "en")]
    assert all(-1 <= s <= 1 for _, _, s in rows)


def test_scoring_runs_on_a_worker_thread(lex, en_model):
    path, _, texts = en_model
    zh, _ = headlines("zh")
    onnx_scorer = OnnxScorer(path)
    here = lex.score(texts + zh), onnx_scorer.score(texts)
    with ThreadPoolExecutor(1) as worker:
        there = worker.submit(lex.score, texts + zh).result(), worker.submit(onnx_scorer.score, texts).result()
    np.testing.assert_array_equal(here[0], there[0])
    np.testing.assert_array_equal(here[1], there[1])
