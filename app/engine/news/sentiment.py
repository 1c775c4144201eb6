"""Sentiment scorers that run offline: a lexicon scorer (English Loughran-McDonald, a Chinese financial
dictionary with jieba) and a trader's own ONNX model served by onnxruntime.

Every scorer maps texts to float64 scores in [-1, 1], NaN where it cannot score a text (a language it does
not read). Scorers are called on a worker thread (``ThreadPoolExecutor(1)``), never on the event loop: the
lexicon's first call loads jieba's dictionary (~0.6 s), so ``LexiconScorer.warm`` exists to do that early on
the same worker. A model that cannot be used is refused at load with a ``ScorerError`` naming its path and
the reason; ``load_scorers`` turns refusals into messages and keeps the lexicon.

The numbers behind the choices here (which Chinese lists, no negation rule, threshold 0) are in docs/ML.md,
"Sentiment scorers" (``bench/eval_sentiment.py`` on tests/data/headlines_*.csv).
"""
from __future__ import annotations

import json
import logging
import math
import re
import threading
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from app.engine.core.onnx_runtime import session_options
from app.engine.news import lexicon
from app.engine.news.text import language

LANGS = frozenset({"en", "zh"})
_EN_TOKEN = re.compile(r"[a-z]+")


class ScorerError(RuntimeError):
    """A scorer cannot be used; the message names the file and says why in plain words."""


@runtime_checkable
class SentimentScorer(Protocol):
    """Scores texts: float64 in [-1, 1] per text, NaN when this scorer cannot score that text."""

    name: str
    langs: frozenset[str]

    def score(self, texts: Sequence[str]) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------------------- lexicon
#: the Chinese lists that can be combined: name -> (cntext file key, positive list, negative list)
ZH_LISTS = {
    "formal": ("fin_zh", "正式-肯定情绪", "正式-否定情绪"),
    "informal": ("fin_zh", "非正式-肯定情绪", "非正式-否定情绪"),
    "lm_zh": ("lm_zh", "positive", "negative"),
}
#: the default union, chosen on the evaluation set (docs/ML.md, "Sentiment scorers")
ZH_DEFAULT = ("formal", "informal")
EN_NEGATORS = frozenset({"no", "not", "never", "without", "nor"})
ZH_NEGATORS = frozenset({"不", "未", "没有", "没", "无", "非", "并未", "未能", "不会"})
NEGATION_WINDOW = 2  # a negator up to this many tokens before a term flips it (only when negation=True)


class LexiconScorer:
    """Counts positive and negative dictionary terms: score = (pos - neg) / (pos + neg), 0 when none.

    English: lowercase ``[a-z]+`` tokens against Loughran-McDonald (2018) Positive/Negative; the lists hold
    the inflected forms already (loss, losses; improve, improved), so nothing is stemmed. Chinese: jieba
    tokens against the union of ``zh_lists`` (default ``ZH_DEFAULT``); the dictionary's words are added to
    a private jieba tokenizer so multi-character terms (扭亏为盈, 立案调查) come out whole, and a word in both
    the positive and the negative union counts for neither. ``negation`` flips a term preceded within
    ``NEGATION_WINDOW`` tokens by a negator; off by default (it did not help on the evaluation set).

    Loading is lazy and thread-safe; ``warm()`` does it (lists and jieba's dictionary) on the caller's thread.
    """

    name = "lexicon"
    langs = LANGS

    def __init__(self, zh_lists: Sequence[str] = ZH_DEFAULT, negation: bool = False) -> None:
        unknown = [z for z in zh_lists if z not in ZH_LISTS]
        if unknown or not zh_lists:
            raise ValueError(f"unknown Chinese word lists {unknown}; choose from {sorted(ZH_LISTS)}")
        self.zh_lists = tuple(zh_lists)
        self.negation = negation
        self._lock = threading.Lock()
        self._words: dict[str, tuple[frozenset[str], frozenset[str]]] | None = None
        self._jieba: Any = None
        self.sources: list[lexicon.WordLists] = []

    def warm(self) -> None:
        """Load the word lists and jieba's dictionary now (call it on the scoring worker, not the loop)."""
        self._ready()

    def _ready(self) -> tuple[dict[str, tuple[frozenset[str], frozenset[str]]], Any]:
        if self._words is None:
            with self._lock:
                if self._words is None:
                    self._load()
        return self._words, self._jieba  # type: ignore[return-value]

    def _load(self) -> None:
        en = lexicon.load("lm_en")
        lm = en.lists
        sources = [en]
        pos: set[str] = set()
        neg: set[str] = set()
        for key, p, n in (ZH_LISTS[z] for z in self.zh_lists):
            wl = lexicon.load(key)
            if wl not in sources:
                sources.append(wl)
            pos |= wl.lists[p]
            neg |= wl.lists[n]
        both = pos & neg
        zh_pos, zh_neg = frozenset(pos - both), frozenset(neg - both)
        self._jieba = _jieba_tokenizer(zh_pos | zh_neg)
        self.sources = sources
        self._words = {"en": (lm["Positive"], lm["Negative"]), "zh": (zh_pos, zh_neg)}

    def tokens(self, text: str, lang: str | None = None) -> list[str]:
        """The tokens the scorer matches for ``text`` (its language by ``language`` unless given)."""
        _, jb = self._ready()
        lang = lang or language(text)
        if lang == "zh":
            return [t for t in jb.lcut(text) if t.strip()]
        return _EN_TOKEN.findall(text.lower())

    def counts(self, text: str, lang: str | None = None) -> tuple[int, int]:
        """(positive, negative) term counts for ``text``."""
        words, _ = self._ready()
        lang = lang or language(text)
        pos_words, neg_words = words[lang]
        negators = ZH_NEGATORS if lang == "zh" else EN_NEGATORS
        toks = self.tokens(text, lang)
        pos = neg = 0
        for i, t in enumerate(toks):
            sign = 1 if t in pos_words else -1 if t in neg_words else 0
            if sign and self.negation and any(u in negators for u in toks[max(0, i - NEGATION_WINDOW):i]):
                sign = -sign
            pos += sign > 0
            neg += sign < 0
        return pos, neg

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            p, n = self.counts(text)
            out[i] = (p - n) / (p + n) if p + n else 0.0
        return out


def _jieba_tokenizer(words: frozenset[str]) -> Any:
    """A private jieba tokenizer (the global one is left alone) with the dictionary's words added, quiet.

    Its prefix dictionary is built from the dictionary inside the jieba package, not through ``initialize``,
    which reads and writes a ``jieba.cache`` in the shared temp folder (a file any local user could plant):
    the same time here (0.65 s against 0.58 s from the cache), and nothing is written."""
    import jieba

    jieba.setLogLevel(logging.WARNING)  # jieba logs "Building prefix dict ..." to stderr when any tokenizer initialises
    tok = jieba.Tokenizer()
    with tok.lock:
        tok.FREQ, tok.total = tok.gen_pfdict(tok.get_dict_file())
        tok.initialized = True
    for w in sorted(words):
        if not w.isascii():
            tok.add_word(w, freq=_ADD_FREQ)
    return tok


_ADD_FREQ = 1000  # high enough that jieba keeps a dictionary term whole rather than splitting it


# ------------------------------------------------------------------------------------------------------- onnx
def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


class OnnxScorer:
    """A trader's sentiment classifier in ONNX, served by onnxruntime: score = P(+1) - P(-1).

    Accepted graphs: one string input of shape ``[N, 1]`` (skl2onnx text pipelines, e.g. TF-IDF + logistic
    regression) fed the raw texts; or int64 token-id inputs (``input_ids`` and optionally ``attention_mask``
    / ``token_type_ids``) with a HuggingFace ``tokenizers`` JSON file, which needs the ``tokenizers`` package.
    One output must be the class probabilities, shape ``[N, k]``. The class order comes from the sidecar
    ``<model>.json`` (``{"labels": [-1, 0, 1]}``, optional ``"langs": ["zh"]``, optional ``"tokenizer":
    "<file>"`` beside the model), or, without a sidecar, from the classifier node's integer class labels.
    Every check runs at load, including one trial run, so a model that would fail later is refused now.
    """

    def __init__(self, model_path: Path | str, tokenizer_path: Path | str | None = None) -> None:
        path = Path(model_path)
        self.path = path
        self.name = f"onnx:{path.stem}"
        meta = _read_sidecar(path)
        self.langs = frozenset(meta.get("langs") or LANGS)
        if tokenizer_path is None and meta.get("tokenizer"):
            tokenizer_path = path.parent / str(meta["tokenizer"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ScorerError(f"{path}: the model file does not exist") from None
        except OSError as e:
            raise ScorerError(f"{path}: the model file cannot be read ({_first_line(e)})") from None
        import onnxruntime as ort  # app.engine.news (this package) opted out of its telemetry on import

        try:
            self._session = ort.InferenceSession(data, session_options(), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for damaged or unsupported graphs
            raise ScorerError(f"{path}: not a usable ONNX model, the file is damaged or truncated or uses "
                              f"operators this onnxruntime lacks ({_first_line(e)})") from None
        self._inputs = self._check_inputs(path, tokenizer_path)
        self._output, k = self._check_output(path)
        labels = meta.get("labels")
        if labels is None:
            labels = _graph_labels(data)
            if labels is None:
                raise ScorerError(f"{path}: the class order is unknown; write {path.with_suffix('.json').name} "
                                  f'beside it with {{"labels": [-1, 0, 1]}} in the order of its probability columns')
        if len(labels) != k or not {-1, 1} <= set(labels) or len(set(labels)) != len(labels):
            raise ScorerError(f"{path}: the labels {labels} do not fit the model: it gives {k} class "
                              "probabilities, and the labels must be distinct and include -1 and 1")
        self.labels = tuple(labels)
        self._neg, self._pos = self.labels.index(-1), self.labels.index(1)
        try:
            probe = self._probs(["probe", "试一试"])
        except Exception as e:
            raise ScorerError(f"{path}: the model fails on a trial run ({_first_line(e)})") from None
        if probe.shape != (2, k):
            raise ScorerError(f"{path}: the probabilities have shape {probe.shape} for 2 texts, expected (2, {k})")

    def _check_inputs(self, path: Path, tokenizer_path: Path | str | None) -> list[Any]:
        inputs = self._session.get_inputs()
        types = {i.name: i.type for i in inputs}
        if len(inputs) == 1 and inputs[0].type == "tensor(string)":
            shape = inputs[0].shape
            if len(shape) != 2 or shape[1] not in (1, None) and not isinstance(shape[1], str):
                raise ScorerError(f"{path}: its string input has shape {shape}; a text model takes [N, 1]")
            self._tokenizer = None
            return inputs
        if "input_ids" in types and all(t == "tensor(int64)" for t in types.values()):
            self._tokenizer = _read_tokenizer(path, tokenizer_path)
            return inputs
        raise ScorerError(f"{path}: its inputs {types} are not a text model's: expected one string tensor "
                          "[N, 1] (a skl2onnx text pipeline) or int64 input_ids with a tokenizer")

    def _check_output(self, path: Path) -> tuple[str, int]:
        outs = self._session.get_outputs()
        cands = [o for o in outs if o.type in ("tensor(float)", "tensor(double)") and len(o.shape) == 2]
        named = [o for o in cands if o.name in ("probabilities", "probs", "logits")]
        pick = (named or cands or [None])[0]
        if pick is None:
            raise ScorerError(f"{path}: no output gives class probabilities [N, k] (outputs: "
                              f"{[(o.name, o.type, o.shape) for o in outs]}); export with zipmap off")
        k = pick.shape[1]
        if not isinstance(k, int) or k < 2:
            raise ScorerError(f"{path}: the probabilities output {pick.name} has {k!r} columns; expected 2 or 3")
        self._softmax = pick.name == "logits"
        return pick.name, k

    def _feed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if self._tokenizer is None:
            return {self._inputs[0].name: np.asarray(texts, dtype=object).reshape(-1, 1)}
        enc = self._tokenizer.encode_batch(list(texts))
        cols = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        return {i.name: np.asarray([getattr(e, cols.get(i.name, "ids")) for e in enc], dtype=np.int64)
                for i in self._inputs}

    def _probs(self, texts: Sequence[str]) -> np.ndarray:
        p = np.asarray(self._session.run([self._output], self._feed(texts))[0], dtype=np.float64)
        if self._softmax:
            p = np.exp(p - p.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        return p

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full(len(texts), np.nan)
        idx = [i for i, t in enumerate(texts) if language(t) in self.langs]
        if idx:
            p = self._probs([texts[i] for i in idx])
            out[idx] = np.clip(p[:, self._pos] - p[:, self._neg], -1.0, 1.0)
        return out


def _read_sidecar(path: Path) -> dict:
    side = path.with_suffix(".json")
    if not side.exists():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ScorerError(f"{side}: the model's sidecar is not readable JSON ({_first_line(e)})") from None
    if not isinstance(meta, dict):
        raise ScorerError(f'{side}: the sidecar must be a JSON object like {{"labels": [-1, 0, 1]}}')
    labels = meta.get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and x in (-1, 0, 1) for x in labels)):
        raise ScorerError(f"{side}: \"labels\" must list the classes -1, 0, 1 in the order of the model's "
                          f"probability columns, got {labels!r}")
    langs = meta.get("langs")
    if langs is not None and (not isinstance(langs, list) or not langs or not set(langs) <= LANGS):
        raise ScorerError(f"{side}: \"langs\" must be a non-empty list from {sorted(LANGS)}, got {langs!r}")
    return meta


def _graph_labels(data: bytes) -> list[int] | None:
    """The integer class labels of the graph's classifier node (skl2onnx writes them), or None."""
    try:
        import onnx

        model = onnx.load_model_from_string(data)
    except Exception:
        return None
    for node in model.graph.node:
        for a in node.attribute:
            if a.name == "classlabels_ints":
                return [int(x) for x in a.ints]
    return None


def _read_tokenizer(path: Path, tokenizer_path: Path | str | None) -> Any:
    if tokenizer_path is None:
        raise ScorerError(f"{path}: the model takes token ids; give it its tokenizer (a HuggingFace "
                          f"tokenizer.json, named in the sidecar as \"tokenizer\"), or export a model "
                          "that takes raw text (one string input [N, 1], e.g. a skl2onnx TF-IDF pipeline)")
    try:
        import tokenizers
    except ImportError:
        raise ScorerError(f"{path}: the model takes token ids and reading its tokenizer needs the "
                          "'tokenizers' package, which is not installed (pip install tokenizers), or export "
                          "a model that takes raw text (one string input [N, 1])") from None
    try:
        tok = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        tok.enable_padding()
        tok.enable_truncation(512)
    except Exception as e:
        raise ScorerError(f"{path}: its tokenizer {tokenizer_path} cannot be read ({_first_line(e)})") from None
    return tok


# -------------------------------------------------------------------------------------------------- loading
def load_scorers(profile_dir: Path) -> tuple[list[SentimentScorer], list[str]]:
    """The lexicon scorer, plus each ``<profile>/models/sentiment/*.onnx`` that loads.

    Returns (scorers, refusals): one message per model (or lexicon) that cannot be used, naming the file and
    the reason. A refused model never stops the others or the lexicon."""
    scorers: list[SentimentScorer] = []
    refusals: list[str] = []
    try:
        for key in {ZH_LISTS[z][0] for z in ZH_DEFAULT} | {"lm_en"}:
            lexicon.cntext_file(lexicon.FILES[key])
        scorers.append(LexiconScorer())
    except lexicon.LexiconError as e:
        refusals.append(str(e))
    folder = Path(profile_dir) / "models" / "sentiment"
    for model in sorted(folder.glob("*.onnx")) if folder.is_dir() else ():
        try:
            scorers.append(OnnxScorer(model))
        except ScorerError as e:
            refusals.append(str(e))
    return scorers, refusals


def score_text(text: str, scorers: Sequence[SentimentScorer]) -> list[tuple[str, str, float]]:
    """(scorer name, language, score) for one text; NaN where a scorer does not read that language."""
    lang = language(text)
    return [(s.name, lang, float(s.score([text])[0]) if lang in s.langs else math.nan) for s in scorers]
