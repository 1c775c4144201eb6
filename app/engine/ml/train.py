"""Training: bars -> features -> labels -> honest splits -> scikit-learn -> ONNX -> artifact, with metrics.

``train(bars, TrainConfig(model="gbm", horizon=5), out_dir, progress)`` runs, in order:

1. features from the spec (vectorised kernels) and the look-ahead check (``splits.check_feature_lookahead``);
2. labels: direction (forward return > ``threshold``) for classifiers, the forward return for ``linear``;
3. a holdout: the last ``test_frac`` of the bars, purged of training rows whose label reaches into it;
4. walk-forward cross-validation on the training part (purged, embargoed, every split checked), and a
   scan for single features that predict the label too well to be true;
5. the final fit on the whole training part; holdout metrics;
6. ONNX export and the agreement check on the holdout rows (``export.TOLERANCE``);
7. permutation importances on the holdout; the drift reference from the training rows;
8. a backtest of the signal on the holdout bars through the event-driven backtester, with the bundled
   ``ml_signal`` strategy loading the exported model exactly as it would live.

News features (``TrainConfig.extra_features``, e.g. ``"news.sentiment:1h,news.count:1h"``) are appended to
the spec and computed from ``news``, the symbol's items by arrival time, at each bar's close; the news
look-ahead check recomputes them with only the items known at several bars' closes. The manifest lists
them under ``news`` (so whoever serves the model knows to feed it news). The signal backtest is skipped for
such models (the backtester does not deliver news yet), with a warning in the manifest.

Models: ``gbm`` (GradientBoostingClassifier), ``rf`` (RandomForestClassifier), ``logistic`` (scaled
LogisticRegression), ``linear`` (scaled Ridge on the forward return), ``ensemble`` (soft vote of the three
classifiers). ``small=True`` shrinks them for tests and quick looks. Everything is seeded.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.engine.data.bars import Bars
from app.engine.ml import CLASSIFIERS, MODELS
from app.engine.ml.artifact import write_artifact, write_manifest
from app.engine.ml.drift import DriftReference
from app.engine.ml.export import agreement, sklearn_scores, to_onnx
from app.engine.ml.features import (
    Feature,
    FeatureError,
    FeatureSpec,
    NewsSeries,
    default_spec,
    finite_rows,
    parse_news_features,
)
from app.engine.ml.labels import direction, forward_return
from app.engine.ml.splits import (
    LeakError,
    check_feature_lookahead,
    check_news_lookahead,
    check_split,
    suspicious_features,
    walk_forward_splits,
)

Progress = Callable[[float, str], None]


class TrainError(ValueError):
    """Training cannot run on this input; the message says why."""


@dataclass
class TrainConfig:
    model: str = "gbm"
    horizon: int = 5
    threshold: float = 0.0  # direction label: forward return above this
    test_frac: float = 0.25
    n_splits: int = 3
    embargo: int | None = None  # rows after each test block kept out of training (default: horizon)
    seed: int = 0
    small: bool = False
    fee: float = 0.001  # for the signal backtest
    backtest: bool = True
    importance_repeats: int = 5
    name: str | None = None
    spec: FeatureSpec | None = None
    # appended to the spec (default_spec() when None): features, or news text "news.sentiment:1h,news.count:30m"
    extra_features: tuple[Feature, ...] | str = ()
    news_scorer: str = "lexicon"  # whose scores the news series holds (recorded; serving feeds the same)

    def feature_spec(self) -> FeatureSpec:
        """The spec to train: ``spec`` (or the default one) followed by ``extra_features``."""
        base = self.spec or default_spec()
        extra = self.extra_features
        try:
            extra = parse_news_features(extra) if isinstance(extra, str) else tuple(extra)
            return FeatureSpec(base.features + tuple(extra), base.version) if extra else base
        except FeatureError as exc:
            raise TrainError(str(exc)) from None

    def check(self) -> None:
        if self.model not in MODELS:
            raise TrainError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.horizon < 1:
            raise TrainError(f"horizon must be at least 1 bar, got {self.horizon}")
        if not 0.05 <= self.test_frac <= 0.5:
            raise TrainError(f"test_frac must be between 0.05 and 0.5, got {self.test_frac}")
        if self.n_splits < 1:
            raise TrainError("n_splits must be at least 1")
        if not math.isfinite(self.threshold):
            raise TrainError(f"threshold must be a finite number, got {self.threshold}")
        if not 0 <= self.fee < 1:
            raise TrainError(f"fee must be a finite number of at least 0 and below 1, got {self.fee}")
        if self.name is not None:
            from app.engine.ml.model_registry import _NAME

            if not _NAME.match(self.name):
                raise TrainError(f"model name {self.name!r}: use letters, digits, '_', '-' and '.' (up to 64)")
        self.feature_spec()


@dataclass
class TrainResult:
    artifact: Path
    manifest: dict[str, Any]
    estimator: Any = field(repr=False)
    onnx_bytes: bytes = field(repr=False)


def make_estimator(kind: str, seed: int = 0, small: bool = False) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "gbm":
        return GradientBoostingClassifier(n_estimators=20 if small else 150, max_depth=2 if small else 3,
                                          learning_rate=0.1 if small else 0.05, subsample=0.8, random_state=seed)
    if kind == "rf":
        return RandomForestClassifier(n_estimators=15 if small else 150, max_depth=4 if small else 6,
                                      min_samples_leaf=20, n_jobs=1, random_state=seed)
    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    if kind == "linear":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    if kind == "ensemble":
        return VotingClassifier([(k, make_estimator(k, seed, small)) for k in ("gbm", "rf", "logistic")],
                                voting="soft", flatten_transform=False)
    raise TrainError(f"unknown model {kind!r}")


# ------------------------------------------------------------------------------------------------ metrics
def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        brier_score_loss,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    pred = (p >= 0.5).astype(float)
    both = len(np.unique(y)) == 2
    return {"rows": int(len(y)), "base_rate": float(np.mean(y)), "accuracy": float(accuracy_score(y, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else math.nan,
            "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
            "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0.0, 1.0])),
            "brier": float(brier_score_loss(y, p)),
            "precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred, zero_division=0))}


def regression_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score

    ic = float(np.corrcoef(y, yhat)[0, 1]) if len(y) > 2 and np.std(yhat) > 0 and np.std(y) > 0 else math.nan
    return {"rows": int(len(y)), "r2": float(r2_score(y, yhat)), "mae": float(mean_absolute_error(y, yhat)),
            "rmse": float(np.sqrt(np.mean((y - yhat) ** 2))),
            "direction_accuracy": float(np.mean(np.sign(yhat) == np.sign(y))), "ic": ic}


def _mean_metrics(folds: list[dict[str, float]]) -> dict[str, float]:
    keys = folds[0].keys() if folds else []
    return {k: float(np.nanmean([f[k] for f in folds])) if any(np.isfinite(f[k]) for f in folds) else math.nan
            for k in keys}


def ml_signal_class() -> type:
    """The bundled ``ml_signal`` strategy, loaded the way the terminal loads plugins."""
    from app.engine.strategy.plugins import discover

    for info in discover(None, entry_points=False):
        if info.name == "ml_signal" and info.source == "bundled":
            if not info.ok:
                raise TrainError(f"the bundled ml_signal plugin does not load: {info.error}")
            return info.cls
    raise TrainError("the bundled ml_signal plugin was not found")


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("sklearn", "skl2onnx", "onnxruntime", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - informational only
            out[mod] = "?"
    return out


# ------------------------------------------------------------------------------------------------- train
def train(bars: Bars, cfg: TrainConfig, out_dir: str | Path, progress: Progress | None = None,
          source: str = "", news: NewsSeries | None = None) -> TrainResult:
    """Train, check, export and evaluate a model on ``bars``; write the artifact to ``out_dir``.
    ``news``: the symbol's items (arrival time, score), needed when the spec has news features."""
    say = progress or (lambda _f, _m: None)
    cfg.check()
    spec = cfg.feature_spec()
    classifier = cfg.model in CLASSIFIERS
    h = cfg.horizon
    embargo = h if cfg.embargo is None else cfg.embargo
    n = len(bars)
    if n < 300:
        raise TrainError(f"{n} bars are too few to train and test a model; give at least 300 (thousands are better)")
    t_start = time.perf_counter()

    ret = forward_return(bars.close, h)
    y = direction(bars.close, h, cfg.threshold) if classifier else ret
    _check_labels_vary(y, np.flatnonzero(np.isfinite(y)), classifier, h, cfg.threshold)  # before any work

    say(0.02, "computing features")
    cols = bars.as_dict()
    tf = bars.timeframe_ms

    def compute(c: dict[str, np.ndarray], items: NewsSeries | None = news) -> np.ndarray:
        return spec.compute(c, news=items, timeframe_ms=tf) if spec.needs_news else spec.compute(c)

    try:
        X = compute(cols)
    except FeatureError as exc:
        raise TrainError(str(exc)) from None
    say(0.08, "checking features for look-ahead")
    check_feature_lookahead(compute, cols, spec.names)
    if spec.needs_news and news is not None:
        check_news_lookahead(lambda items: compute(cols, items), bars.ts + tf, news.until, spec.names)

    X32 = X.astype(np.float32).astype(np.float64)  # what serving feeds the model (see export.py)
    valid = finite_rows(X) & np.isfinite(y)
    pos = np.flatnonzero(valid)
    if len(pos) < 200:
        raise TrainError(f"only {len(pos)} bars have every feature and a label; give more data")
    _check_labels_vary(y, pos, classifier, h, cfg.threshold)

    # holdout: the last test_frac of the usable rows; training rows whose label reaches into it are purged
    a = int(pos[int(round(len(pos) * (1.0 - cfg.test_frac)))])
    test_pos = pos[pos >= a]
    train_pos = pos[(pos < a) & (pos + h < a)]
    check_split(train_pos, test_pos, h)

    say(0.12, "cross-validating (walk-forward, purged)")
    folds_pos, fold_metrics, warnings = _cross_validate(cfg, X32, y, train_pos, a, embargo, spec.names, say)

    say(0.55, f"fitting {cfg.model} on {len(train_pos):,} rows")
    est = make_estimator(cfg.model, cfg.seed, cfg.small)
    est.fit(X32[train_pos], y[train_pos])
    s = sklearn_scores(est, X32[test_pos], classifier)
    holdout_metrics = classification_metrics(y[test_pos], s) if classifier else regression_metrics(y[test_pos], s)

    say(0.7, "exporting to ONNX and checking agreement")
    onnx_bytes = to_onnx(est, len(spec.names), classifier)
    agree = agreement(est, onnx_bytes, X32[test_pos], classifier)

    say(0.75, "permutation importances")
    importances = _importances(est, X32[test_pos], y[test_pos], spec.names, classifier, cfg)
    reference = DriftReference.from_training(X32[train_pos])

    metrics = {"cv": _mean_metrics(fold_metrics), "cv_folds": fold_metrics, "holdout": holdout_metrics,
               "agreement": agree}
    if spec.needs_news and cfg.backtest:
        warnings.append("the signal backtest was skipped: backtests do not deliver news to a model yet")
    manifest = _manifest(cfg, spec, bars, source, est, train_pos=train_pos, test_pos=test_pos,
                         embargo=embargo, folds=len(folds_pos), metrics=metrics, importances=importances,
                         reference=reference, warnings=warnings)
    manifest["news"] = _news_manifest(spec, news, cfg.news_scorer)
    out = write_artifact(Path(out_dir), onnx_bytes, manifest)
    manifest = _reread(out)

    if cfg.backtest and not spec.needs_news:
        say(0.85, "backtesting the signal on the holdout bars")
        manifest["metrics"]["backtest"] = backtest_signal(out, bars.slice(int(test_pos[0]), n), cfg.fee)
    manifest["metrics"]["train_seconds"] = round(time.perf_counter() - t_start, 2)
    write_manifest(out / "manifest.json", manifest)
    say(1.0, "done")
    return TrainResult(out, manifest, est, onnx_bytes)


def _cross_validate(cfg: TrainConfig, X32: np.ndarray, y: np.ndarray, train_pos: np.ndarray, a: int,
                    embargo: int, names: list[str],
                    say: Progress) -> tuple[list, list[dict[str, float]], list[str]]:
    """Walk-forward folds inside the training rows (``train_pos``, all before row ``a``), purged, embargoed
    and each checked: (the folds' rows, each fold's metrics, warnings about features that look leaked)."""
    classifier = cfg.model in CLASSIFIERS
    h = cfg.horizon
    first = int(train_pos[0])
    span = a - first
    folds_pos = []
    for tr, te in walk_forward_splits(span, cfg.n_splits, h, embargo=embargo):
        tr_p = np.intersect1d(tr + first, train_pos)
        te_p = np.intersect1d(te + first, train_pos)
        if len(tr_p) >= 50 and len(te_p) >= 20:
            check_split(tr_p, te_p, h, embargo)
            folds_pos.append((tr_p, te_p))
    fold_metrics = []
    for k, (tr_p, te_p) in enumerate(folds_pos):
        est = make_estimator(cfg.model, cfg.seed, cfg.small)
        if classifier and len(np.unique(y[tr_p])) < 2:
            continue
        est.fit(X32[tr_p], y[tr_p])
        s = sklearn_scores(est, X32[te_p], classifier)
        fold_metrics.append(classification_metrics(y[te_p], s) if classifier else regression_metrics(y[te_p], s))
        say(0.12 + 0.4 * (k + 1) / max(len(folds_pos), 1), f"cross-validation fold {k + 1}/{len(folds_pos)}")
    warnings = []
    if classifier and folds_pos:
        flagged = suspicious_features(X32, y, names, folds_pos)
        if flagged:
            warnings.append("these features alone predict the label almost perfectly, which real market features "
                            "never do; check them for a leak: " + "; ".join(flagged))
    return folds_pos, fold_metrics, warnings


def _manifest(cfg: TrainConfig, spec: FeatureSpec, bars: Bars, source: str, est: Any, *,
              train_pos: np.ndarray, test_pos: np.ndarray, embargo: int, folds: int, metrics: dict[str, Any],
              importances: Any, reference: DriftReference, warnings: list[str]) -> dict[str, Any]:
    """What the artifact says about the model: its task and label, features, data, splits, metrics,
    importances, drift reference, parameters and the versions that made it."""
    classifier = cfg.model in CLASSIFIERS
    h = cfg.horizon
    name = cfg.name or f"{cfg.model}-h{h}"
    return {
        "name": name, "version": 1, "model": cfg.model, "task": "classify" if classifier else "regress",
        "horizon": h, "label": {"kind": "direction" if classifier else "forward_return", "horizon": h,
                                "threshold": cfg.threshold if classifier else None},
        "spec": spec.to_json(), "spec_digest": spec.digest, "features": spec.names,
        "onnx": {"input": "X", "n_features": len(spec.names), "dtype": "float32"},
        "data": {"source": source, "symbol": bars.symbol, "timeframe_ms": bars.timeframe_ms,
                 "bars": len(bars)},
        "train_span": {"start_ts": int(bars.ts[train_pos[0]]), "end_ts": int(bars.ts[train_pos[-1]]),
                       "rows": int(len(train_pos))},
        "test_span": {"start_ts": int(bars.ts[test_pos[0]]), "end_ts": int(bars.ts[test_pos[-1]]),
                      "rows": int(len(test_pos))},
        "splits": {"holdout_frac": cfg.test_frac, "cv": "walk-forward", "n_splits": folds,
                   "purge": h, "embargo": embargo},
        "metrics": metrics,
        "importances": importances, "drift_reference": reference.to_json(), "warnings": warnings,
        "params": {k: v for k, v in est.get_params(deep=False).items() if isinstance(v, (int, float, str, bool))},
        "seed": cfg.seed, "created_ms": int(time.time() * 1000), "versions": _versions(),
    }


def _news_manifest(spec: FeatureSpec, news: NewsSeries | None, scorer: str) -> dict[str, Any] | None:
    """What a served model needs to know about its news: which columns, and what it was trained on."""
    if not spec.needs_news:
        return None
    a, s = news.arrived_ms, news.score  # news is not None: compute() refused a spec with news features
    return {"features": spec.news_columns, "clock": "arrived_ms", "scorer": scorer, "items": int(len(a)),
            "scored": int(np.count_nonzero(~np.isnan(s))),
            "first_arrived_ms": int(a[0]) if len(a) else None, "last_arrived_ms": int(a[-1]) if len(a) else None}


def _check_labels_vary(y: np.ndarray, rows: np.ndarray, classifier: bool, horizon: int, threshold: float) -> None:
    """Refuse labels that never vary: any model "predicts" them perfectly (accuracy 1, r2 1) and learns
    nothing, and such a model would be registered as if it were excellent."""
    if len(rows) == 0 or len(np.unique(y[rows])) >= 2:
        return
    first = y[rows][0]
    what = (f"every bar's direction {horizon} bars ahead is {'up' if first else 'not up'} (threshold "
            f"{threshold:g})" if classifier else f"every forward return over {horizon} bars is {first:g}")
    raise TrainError(f"the labels do not vary: {what}, so there is nothing to learn (constant prices?). Train "
                     f"on data whose prices move.")


def _reread(folder: Path) -> dict[str, Any]:
    from app.engine.ml.artifact import read_manifest

    return read_manifest(folder)[0]


def _importances(est: Any, X: np.ndarray, y: np.ndarray, names: list[str], classifier: bool,
                 cfg: TrainConfig) -> list[dict[str, Any]]:
    from sklearn.inspection import permutation_importance

    if len(X) > 3000:  # evenly spaced rows keep the cost bounded and the whole test span represented
        keep = np.linspace(0, len(X) - 1, 3000).astype(int)
        X, y = X[keep], y[keep]
    scoring = ("roc_auc" if len(np.unique(y)) == 2 else "accuracy") if classifier else "r2"
    r = permutation_importance(est, X, y, scoring=scoring, n_repeats=cfg.importance_repeats,
                               random_state=cfg.seed, n_jobs=1)
    rows = [{"feature": n, "mean": float(m), "std": float(s)}
            for n, m, s in zip(names, r.importances_mean, r.importances_std)]
    rows.sort(key=lambda d: -d["mean"])
    for d in rows:
        d["scoring"] = scoring
    return rows


def backtest_signal(artifact: Path, bars: Bars, fee: float) -> dict[str, Any]:
    """The bundled ``ml_signal`` strategy with this model, all-in, on ``bars`` (event-driven backtester)."""
    from app.engine.backtest.engine import run_backtest
    from app.engine.backtest.options import BacktestConfig

    cls = ml_signal_class()
    result = run_backtest(cls, {"model_ref": str(artifact), "fraction": 1.0, "warmup": False}, bars,
                          BacktestConfig(fee=fee))
    keep = ("total_return", "annual_return", "sharpe", "max_drawdown", "trades", "win_rate", "profit_factor",
            "exposure", "fees", "bars")
    stats = {k: result.stats.get(k) for k in keep}
    stats["buy_and_hold_return"] = float(bars.close[-1] / bars.open[0] - 1.0)
    stats["equity_final"] = result.equity_final
    stats["fee"] = fee
    return stats


__all__ = ["TrainConfig", "TrainResult", "TrainError", "LeakError", "MODELS", "train", "make_estimator",
           "classification_metrics", "regression_metrics", "backtest_signal", "ml_signal_class"]
