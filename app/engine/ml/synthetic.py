"""Generated bars with a little learnable structure, for the bundled default model and for tests.

A log-price walk whose returns carry weak short-term momentum and weak mean reversion towards a moving
average, with GARCH(1,1) volatility and volume that rises with the size of the move. The structure is
deliberately small (a model trained on it reaches an out-of-sample AUC of roughly 0.55-0.6): enough for
the ML path to do something visible on first launch, and nothing a real market owes anyone. Seeded and
deterministic.
"""
from __future__ import annotations

import numpy as np

from app.engine.data.bars import Bars


def generated_bars(n: int = 20_000, seed: int = 7, timeframe_ms: int = 60_000, start_price: float = 100.0,
                   start_ts: int = 1_700_000_000_000, momentum: float = 0.15, reversion: float = 0.08,
                   symbol: str = "GEN") -> Bars:
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-7, 0.06, 0.92
    var = omega / (1 - alpha - beta)
    logp = np.empty(n + 1)
    logp[0] = np.log(start_price)
    rets = np.zeros(n)
    ma = logp[0]
    k = 2.0 / (20 + 1)
    eps = rng.standard_normal(n)
    for i in range(n):
        prev = rets[i - 1] if i else 0.0
        r = momentum * prev - reversion * (logp[i] - ma) + np.sqrt(var) * eps[i]
        rets[i] = r
        logp[i + 1] = logp[i] + r
        ma += k * (logp[i + 1] - ma)
        var = omega + alpha * r * r + beta * var
    close = np.exp(logp[1:])
    open_ = np.exp(logp[:-1])
    sd = np.sqrt(omega / (1 - alpha - beta))
    wick = np.abs(rng.standard_normal((2, n))) * sd * 0.7
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    volume = rng.gamma(2.0, 50.0, n) * (1.0 + np.abs(rets) / sd)
    ts = start_ts + timeframe_ms * np.arange(n, dtype=np.int64)
    return Bars.from_arrays(ts, open_, high, low, close, volume, timeframe_ms, symbol)
