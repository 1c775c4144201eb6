"""``kestrel ml``: train, list and inspect models in the profile's registry.

    kestrel ml train BARS --model gbm --horizon N [--out DIR] [--name NAME] [--threshold R]
                     [--test-frac F] [--seed S] [--fee F] [--small] [--no-backtest] [--features TEXT]
    --features: features added to the default spec, e.g. news.sentiment:1h,news.count:30m,news.surprise:1h
          (news features read the symbol's stored news, by arrival time, from the profile: kestrel news fetch;
          --news-symbol S names the symbol when it is not the bars' own)
    BARS: --data FILE.csv [--time-unit s|ms|us|ns|iso] [--time-format FMT] [--tz ZONE] (data_files.py), or a
          series of the profile's bar store: --venue NAME --symbol S --timeframe TF [--since DATE] [--until DATE]
    kestrel ml list [--json]                 every registered model, its file verified against its sha256
    kestrel ml show REF [--json]             one model: spans, metrics, importances ("default" = the bundled one)

Exit codes: 0 done, 2 bad input (the message says what to fix), 1 the model failed a check (export
agreement, a damaged file).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def add_ml_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from app.cli.bar_source import add_source_options

    ml = sub.add_parser("ml", parents=[common], help="machine-learning models: train, list, show")
    msub = ml.add_subparsers(dest="ml_command", required=True)
    tr = msub.add_parser("train", parents=[common], help="train a model on a bar file or stored bars and "
                                                         "register it")
    add_source_options(tr)
    tr.add_argument("--model", default="gbm", help="gbm, rf, logistic, linear or ensemble (soft vote)")
    tr.add_argument("--horizon", type=int, default=5, help="label: the direction (or return) N bars ahead")
    tr.add_argument("--out", type=Path, default=None, help="also keep the artifact (model.onnx, manifest.json) here")
    tr.add_argument("--name", default=None, help="registry name (default: MODEL-hN)")
    tr.add_argument("--threshold", type=float, default=0.0, help="up means a forward return above this")
    tr.add_argument("--test-frac", type=float, default=0.25, help="share of the bars held out, at the end")
    tr.add_argument("--splits", type=int, default=3, help="walk-forward cross-validation folds")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--fee", type=float, default=0.001, help="fee rate for the signal backtest")
    tr.add_argument("--small", action="store_true", help="small, fast models (a quick look)")
    tr.add_argument("--no-backtest", action="store_true", help="skip the signal backtest")
    tr.add_argument("--json", type=Path, default=None, help="write the manifest (metrics, importances) here")
    tr.add_argument("--features", default="", metavar="TEXT",
                    help="features added to the default ones, comma-separated: news.sentiment:WINDOW, "
                         "news.count:WINDOW, news.surprise:WINDOW[:BASE_BARS] (WINDOW e.g. 30m, 1h, 1d); news "
                         "features use the symbol's stored news (kestrel news fetch)")
    tr.add_argument("--news-symbol", default=None, metavar="S",
                    help="whose stored news feeds the news features (default: the bars' symbol: --symbol, or "
                         "the bar file's name without its extension)")
    ls = msub.add_parser("list", parents=[common], help="registered models, files verified")
    ls.add_argument("--json", action="store_true", help="print JSON")
    sh = msub.add_parser("show", parents=[common], help="one model's details")
    sh.add_argument("ref", help="name, name@version, #id, a model folder, or 'default'")
    sh.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if math.isfinite(v) else str(v)
    return "-" if v is None else str(v)


def _day(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) if ms else "-"


def _progress(frac: float, msg: str) -> None:
    width = 30
    filled = int(width * frac)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {frac:4.0%} {msg:<48}")
    if frac >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _open_store(profile: Path):
    from app.engine.core.store import Store

    return Store(profile / "kestrel.db")


class NoNews(ValueError):
    """The profile holds no news for the symbol a model with news features is trained on."""


def _news_series(profile: Path, symbol: str, scorer: str = "lexicon"):
    """The symbol's stored news as a ``NewsSeries`` (arrival times, ``scorer``'s scores), from the
    profile's ``kestrel.db``; ``NoNews`` (exit 2) when there is no news store or it holds nothing for it."""
    from app.engine.ml.news_kernels import NewsSeries
    from app.engine.news.store import NewsStore
    from app.engine.news.text import NewsKey

    key = NewsKey.of(symbol)  # "BTC/USDT@binance" -> "BTC", "600519" -> "600519.SH": what news is filed under
    missing = NoNews(f"no news stored for {symbol}{f' ({key})' if key != symbol else ''} in this profile: run "
                     f"`kestrel news fetch` first")
    db = profile / "kestrel.db"
    if not db.exists():
        raise missing
    store = NewsStore(db)
    try:
        arrived, score = store.series(key, scorer=scorer)
    finally:
        store.close()
    if len(arrived) == 0:
        raise missing
    return NewsSeries(arrived, score)


def main_ml_command(args: argparse.Namespace, profile: Path) -> int:
    from app.engine.core.store import StoreError

    try:
        if args.ml_command == "train":
            return _train(args, profile)
        if args.ml_command == "list":
            return _list(args, profile)
        return _show(args, profile)
    except StoreError as exc:
        print(f"kestrel ml: {exc}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace, profile: Path) -> int:
    """Every input and output is checked before training starts (a run can take minutes): the options, the
    output paths, the profile's database (opened here, kept open until the model is registered) and the
    bar file. A bad one exits 2 at once, not after the training."""
    from app.cli.bar_source import check_source, read_source
    from app.cli.output import check_output_file, check_output_folder
    from app.engine.data.bar_files import DataError
    from app.engine.data.bar_store import BarStoreError
    from app.engine.ml.export import ExportError
    from app.engine.ml.model import ModelError
    from app.engine.ml.model_registry import ModelRegistry
    from app.engine.ml.train import TrainConfig, TrainError, train

    cfg = TrainConfig(model=args.model, horizon=args.horizon, threshold=args.threshold, test_frac=args.test_frac,
                      n_splits=args.splits, seed=args.seed, small=args.small, fee=args.fee,
                      backtest=not args.no_backtest, name=args.name, extra_features=args.features or "")
    try:
        cfg.check()
        check_source(args)
        check_output_file(args.json, "--json")
        check_output_folder(args.out, "--out")
        check_output_folder(profile / "models", "the profile's models folder")
    except (TrainError, ValueError) as exc:
        print(f"kestrel ml train: {exc}", file=sys.stderr)
        return 2
    store = _open_store(profile)  # a StoreError exits 2 (main_ml_command) before any training
    try:
        try:
            data = read_source(args, profile)
            news = (_news_series(profile, args.news_symbol or data.bars.symbol, cfg.news_scorer)
                    if cfg.feature_spec().needs_news else None)
        except (DataError, ValueError, BarStoreError) as exc:  # NoNews is a ValueError
            print(f"kestrel ml train: {exc}", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="kestrel-ml-") as tmp:
            out = args.out or Path(tmp) / "artifact"
            try:
                result = train(data.bars, cfg, out, _progress, source=data.source, news=news)
            except (TrainError, ValueError) as exc:  # LeakError is a ValueError
                sys.stderr.write("\n")
                print(f"kestrel ml train: {exc}", file=sys.stderr)
                return 2
            except ExportError as exc:
                sys.stderr.write("\n")
                print(f"kestrel ml train: {exc}", file=sys.stderr)
                return 1
            try:
                rec = ModelRegistry(store.conn).register(result.artifact, profile / "models", source=data.source)
            except ModelError as exc:
                print(f"kestrel ml train: {exc}", file=sys.stderr)
                return 1
    finally:
        store.close()
    m = rec.manifest
    print(f"registered {rec.name}@{rec.version} (#{rec.id}) -> {rec.path}")
    _print_summary(m)
    if args.json:
        from app.engine.ml.artifact import dumps

        args.json.write_text(dumps(m))
    return 0


def _print_summary(m: dict[str, Any]) -> None:
    span, test = m.get("train_span", {}), m.get("test_span", {})
    print(f"  model {m.get('model')} ({m.get('task')}), horizon {m.get('horizon')} bars, "
          f"{len(m.get('features', []))} features")
    print(f"  trained on {span.get('rows')} rows {_day(span.get('start_ts'))} .. {_day(span.get('end_ts'))}; "
          f"tested on {test.get('rows')} rows {_day(test.get('start_ts'))} .. {_day(test.get('end_ts'))}")
    metrics = m.get("metrics", {})
    for part in ("cv", "holdout"):
        vals = metrics.get(part) or {}
        keys = [k for k in ("roc_auc", "accuracy", "balanced_accuracy", "log_loss", "brier", "r2", "ic",
                            "direction_accuracy") if k in vals]
        print(f"  {part:<8} " + "  ".join(f"{k} {_fmt(vals[k])}" for k in keys))
    bt = metrics.get("backtest")
    if bt:
        print(f"  backtest return {_fmt(bt.get('total_return'))} (buy and hold {_fmt(bt.get('buy_and_hold_return'))})"
              f", sharpe {_fmt(bt.get('sharpe'))}, max drawdown {_fmt(bt.get('max_drawdown'))}, "
              f"{bt.get('trades')} trades")
    ag = metrics.get("agreement") or {}
    if ag:
        print(f"  ONNX vs scikit-learn: max difference {ag.get('max_abs_diff', 0):.2g} on {ag.get('rows')} rows "
              f"(tolerance {ag.get('tolerance'):g})")
    imps = m.get("importances") or []
    if imps:
        print("  top features: " + ", ".join(f"{d['feature']} {d['mean']:+.4f}" for d in imps[:5]))
    for w in m.get("warnings") or []:
        print(f"  WARNING: {w}")


def _status(path: str, sha: str) -> str:
    from app.engine.core.files import sha256_file

    try:
        return "ok" if sha256_file(Path(path)) == sha else "DAMAGED (sha256 mismatch)"
    except FileNotFoundError:
        return "MISSING"
    except OSError as exc:
        return f"UNREADABLE ({exc})"


def _list(args: argparse.Namespace, profile: Path) -> int:
    from app.engine.ml.model_registry import ModelRegistry
    from app.engine.ml.serve import BUNDLED_DIR

    rows = []
    if (profile / "kestrel.db").exists():
        store = _open_store(profile)
        try:
            recs = ModelRegistry(store.conn).list()
        finally:
            store.close()
        for r in recs:
            auc = (r.metrics.get("holdout") or {}).get("roc_auc", (r.metrics.get("holdout") or {}).get("r2"))
            rows.append({"id": r.id, "name": r.name, "version": r.version, "kind": r.kind, "task": r.task,
                         "horizon": r.horizon, "train_start": r.train_start, "train_end": r.train_end,
                         "n_train": r.n_train, "holdout": auc, "sha256": r.sha256, "path": r.path,
                         "created_ms": r.created_ms, "status": _status(r.path, r.sha256)})
    bundled = BUNDLED_DIR / "manifest.json"
    if bundled.exists():
        m = json.loads(bundled.read_text())
        rows.append({"id": None, "name": "default", "version": m.get("version", 1), "kind": m.get("model"),
                     "task": m.get("task"), "horizon": m.get("horizon"), "n_train": m["train_span"]["rows"],
                     "train_start": m["train_span"]["start_ts"], "train_end": m["train_span"]["end_ts"],
                     "holdout": m["metrics"]["holdout"].get("roc_auc"), "sha256": m["onnx"]["sha256"],
                     "path": str(BUNDLED_DIR / m["onnx"]["file"]), "created_ms": m.get("created_ms"),
                     "status": _status(str(BUNDLED_DIR / m["onnx"]["file"]), m["onnx"]["sha256"]) + " (bundled)"})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'id':>4}  {'model':<24} {'kind':<9} {'h':>3} {'rows':>7}  {'trained on':<36} {'holdout':>7}  "
          f"{'sha256':<12}  status")
    for r in rows:
        ident = f"#{r['id']}" if r["id"] is not None else "-"
        print(f"{ident:>4}  {r['name'] + '@' + str(r['version']):<24} {r['kind'] or '':<9} {r['horizon'] or 0:>3} "
              f"{r['n_train'] or 0:>7}  {_day(r['train_start']) + ' .. ' + _day(r['train_end']):<36} "
              f"{_fmt(r['holdout']):>7}  {r['sha256'][:12]:<12}  {r['status']}")
    return 0


def _show(args: argparse.Namespace, profile: Path) -> int:
    from app.engine.ml.serve import ModelError, ModelSource

    store = _open_store(profile) if (profile / "kestrel.db").exists() else None
    try:
        loaded = ModelSource(conn=store.conn if store else None).load(args.ref)
    except ModelError as exc:
        print(f"kestrel ml show: {exc}", file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.close()
    if args.json:
        from app.engine.ml.artifact import dumps

        print(dumps(loaded.manifest))
        return 0
    print(f"{loaded.label} ({loaded.origin}) {loaded.path}  sha256 {loaded.sha256}  verified")
    _print_summary(loaded.manifest)
    return 0
