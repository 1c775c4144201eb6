"""The ``Model`` a strategy gets from ``Strategy.model()`` (re-exported by ``app.api``; ``ml.serve.ModelHandle``
implements it), and ``ModelError``: a model that cannot be used, with the reason."""
from __future__ import annotations

import math

from app.engine.core.messages import Bar, BookSnapshot


class ModelError(RuntimeError):
    """A model cannot be used: missing, damaged, mismatched or unreadable. The message says which and why."""


class Model:
    """A trained model from the registry, bound to one strategy (``self.model(ref)`` in ``on_start``).

    It owns the model's feature pipeline: feed it your closed bars with ``update`` (and books with
    ``on_book`` if the model uses book features); it computes the features with the same indicator kernels
    used in training and scores them with onnxruntime. ``score`` is the probability of an up move over the
    model's horizon (``task == "classify"``) or the predicted return (``"regress"``); NaN while warming up.
    Loading verifies the model file's sha256: a damaged or mismatched model raises, so the strategy does not
    start.
    """

    name: str = ""
    version: int = 0
    task: str = "classify"
    horizon: int = 0
    feature_names: tuple[str, ...] = ()
    score: float = math.nan
    needs_news: bool = False  # the model has news features (see on_news)

    @property
    def ready(self) -> bool:
        return self.score == self.score

    def update(self, bar: Bar) -> float:
        """Feed a closed bar; returns the new score."""
        raise NotImplementedError

    def preview(self, bar: Bar) -> float:
        """Score a still-forming bar as if it closed now; nothing is committed."""
        raise NotImplementedError

    def on_book(self, book: BookSnapshot) -> None:
        """The latest book (for book features); it counts for the next ``update``/``preview``."""
        raise NotImplementedError

    def on_news(self, arrived_ms: int, score: float) -> None:
        """A news item of the symbol (for news features; the terminal feeds these itself): it counts for
        every bar that closes at or after ``arrived_ms``."""
        raise NotImplementedError
