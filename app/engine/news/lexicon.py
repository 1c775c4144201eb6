"""Sentiment word lists read as data from the cntext 1.9.2 wheel, without importing cntext.

cntext's ``__init__`` imports gensim, matplotlib and friends, which Kestrel does not install; its word lists
are plain pickles under ``cntext/files/`` and that is all we use. The pickles hold only dicts, lists and
strings, so they are read with an unpickler that refuses every global (``_DataOnly``): a tampered file
cannot run code, it is refused with a ``LexiconError``.

Each list keeps its source (cntext's ``Desc`` and ``Referer``) so the docs and ``kestrel news score`` can
cite it (docs/ML.md, "Sentiment scorers").
"""
from __future__ import annotations

import importlib.metadata
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "cntext"
VERSION = "1.9.2"
FIX = f"install the data wheel: pip install --no-deps {PACKAGE}=={VERSION}"

#: the cntext files Kestrel reads: key -> file stem (the stem is also the pickle's top-level key)
FILES = {
    "lm_en": "Loughran_McDonald_Financial_Sentiment",
    "fin_zh": "ChineseFinancialFormalUnformalSentiment",
    "lm_zh": "Chinese_Loughran_McDonald_Financial_Sentiment",
}


class LexiconError(RuntimeError):
    """A word list cannot be read: the package is missing, or a file is missing, unreadable or not data."""


@dataclass(frozen=True)
class WordLists:
    """The named lists of one cntext file, with where they come from."""

    name: str                               # the file stem
    lists: dict[str, frozenset[str]]        # list name -> words
    desc: str                               # cntext's description of the dictionary
    referer: str                            # the citation cntext gives


class _DataOnly(pickle.Unpickler):
    """Builds dicts, lists, strings and numbers only: any global (a class or function) is refused."""

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle's hook
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a word list holds only data")


def load_data_pickle(data: bytes) -> object:
    """Unpickle ``data`` allowing no globals; raises ``pickle.UnpicklingError`` on anything else."""
    return _DataOnly(io.BytesIO(data)).load()


def cntext_file(stem: str) -> Path:
    """The path of ``cntext/files/<stem>.pkl`` in the installed wheel; ``LexiconError`` if it is not there."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise LexiconError(f"the sentiment word lists come from the {PACKAGE} package, which is not installed: "
                           f"{FIX}") from None
    path = Path(str(dist.locate_file(f"{PACKAGE}/files/{stem}.pkl")))
    if not path.is_file():
        raise LexiconError(f"{path} is missing from the installed {PACKAGE} {dist.version}: {FIX}")
    return path


def read_word_lists(path: Path) -> WordLists:
    """Read one cntext word-list pickle: ``{<stem>: {list name: [words]}, "Desc": str, "Referer": str}``."""
    stem = path.stem
    try:
        obj = load_data_pickle(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as e:
        raise LexiconError(f"cannot read the word lists in {path} ({e}); reinstall them: {FIX}") from None
    body = obj.get(stem) if isinstance(obj, dict) else None
    if not isinstance(body, dict) or not all(isinstance(v, list) for v in body.values()):
        raise LexiconError(f"{path} does not hold the word lists expected (a dict of lists under {stem!r}); "
                           f"reinstall them: {FIX}")
    lists = {str(k): frozenset(w.strip() for w in v if isinstance(w, str) and w.strip()) for k, v in body.items()}
    return WordLists(stem, lists, str(obj.get("Desc", "")), str(obj.get("Referer", "")))


def load(key: str) -> WordLists:
    """The word lists of ``FILES[key]`` from the installed cntext wheel."""
    return read_word_lists(cntext_file(FILES[key]))
