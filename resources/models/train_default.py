"""Train the bundled default model: ``python resources/models/train_default.py``.

Generated bars (``app.engine.ml.synthetic``, seed 7, 20,000 one-minute bars), the default feature spec,
gradient boosting on the 5-bar direction. Writes ``resources/models/default/model.onnx`` and
``manifest.json``; the bundled ``ml_signal`` strategy uses them when its ``model_ref`` is "default", so the
ML path works on first launch with no network. Deterministic: the same libraries give the same model.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = Path(__file__).resolve().parent / "default"


def main(argv: list[str] | None = None) -> int:
    from app.engine.ml.synthetic import generated_bars
    from app.engine.ml.train import TrainConfig, train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--bars", type=int, default=20_000)
    args = ap.parse_args(argv)
    bars = generated_bars(args.bars, seed=7)

    def progress(frac: float, msg: str) -> None:
        print(f"[{frac:4.0%}] {msg}", flush=True)

    result = train(bars, TrainConfig(model="gbm", horizon=5, seed=7, name="default"), args.out, progress,
                   source=f"generated (app.engine.ml.synthetic, seed 7, {args.bars} bars)")
    m = result.manifest["metrics"]
    print(f"holdout AUC {m['holdout']['roc_auc']:.3f}, accuracy {m['holdout']['accuracy']:.3f}; "
          f"backtest return {m['backtest']['total_return']:.3%} vs buy-and-hold "
          f"{m['backtest']['buy_and_hold_return']:.3%}; ONNX agreement {m['agreement']['max_abs_diff']:.2g}")
    print(f"wrote {result.artifact}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
