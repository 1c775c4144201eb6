"""Parameter cases per indicator and the TA-Lib reference call for each (shared by tests)."""
from __future__ import annotations

import numpy as np

# name -> list of parameter dicts (first = defaults)
CASES: dict[str, list[dict]] = {
    "sma": [{}, {"timeperiod": 1}, {"timeperiod": 7}],
    "ema": [{}, {"timeperiod": 1}, {"timeperiod": 9}],
    "wma": [{}, {"timeperiod": 1}, {"timeperiod": 6}],
    "dema": [{}, {"timeperiod": 5}],
    "tema": [{}, {"timeperiod": 5}],
    "kama": [{}, {"timeperiod": 1}, {"timeperiod": 10}],
    "trima": [{}, {"timeperiod": 1}, {"timeperiod": 6}, {"timeperiod": 7}],
    "bbands": [{}, {"timeperiod": 20}, {"timeperiod": 9, "nbdevup": 1.5, "nbdevdn": 2.5, "matype": 1}],
    "stddev": [{}, {"timeperiod": 20, "nbdev": 2.0}],
    "midprice": [{}, {"timeperiod": 3}],
    "sar": [{}, {"acceleration": 0.05, "maximum": 0.3}],
    "rsi": [{}, {"timeperiod": 2}, {"timeperiod": 30}],
    "macd": [{}, {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5}, {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1}],
    "apo": [{}, {"matype": 0}, {"fastperiod": 3, "slowperiod": 10, "matype": 1}],
    "ppo": [{}, {"matype": 0}, {"fastperiod": 3, "slowperiod": 10, "matype": 1}],
    "mom": [{}, {"timeperiod": 1}],
    "roc": [{}, {"timeperiod": 1}],
    "trix": [{}, {"timeperiod": 5}],
    "cci": [{}, {"timeperiod": 20}],
    "ultosc": [{}, {"timeperiod1": 3, "timeperiod2": 40, "timeperiod3": 2}],
    "willr": [{}, {"timeperiod": 3}],
    "stoch": [{}, {"fastk_period": 14, "slowk_period": 1, "slowd_period": 5, "slowd_matype": 1},
              {"fastk_period": 9, "slowk_period": 3, "slowk_matype": 1, "slowd_period": 3}],
    "stochf": [{}, {"fastk_period": 14, "fastd_period": 1}, {"fastk_period": 5, "fastd_period": 4, "fastd_matype": 1}],
    "stochrsi": [{}, {"timeperiod": 9, "fastk_period": 3, "fastd_period": 4, "fastd_matype": 1}],
    "aroon": [{}, {"timeperiod": 5}],
    "adx": [{}, {"timeperiod": 5}],
    "dx": [{}, {"timeperiod": 5}],
    "plus_di": [{}, {"timeperiod": 1}, {"timeperiod": 5}],
    "minus_di": [{}, {"timeperiod": 1}, {"timeperiod": 5}],
    "atr": [{}, {"timeperiod": 1}, {"timeperiod": 5}],
    "natr": [{}, {"timeperiod": 5}],
    "trange": [{}],
    "obv": [{}],
    "ad": [{}],
    "adosc": [{}, {"fastperiod": 10, "slowperiod": 3}],
    "mfi": [{}, {"timeperiod": 5}, {"timeperiod": 60}],
    # ours (not in TA-Lib)
    "kdj": [{}, {"fastk_period": 5, "signalk_period": 2, "signald_period": 4}],
    "vwap": [{}, {"timeperiod": 20}],
    "supertrend": [{}, {"timeperiod": 7, "multiplier": 1.5}],
    "keltner": [{}, {"timeperiod": 10, "atrperiod": 14, "multiplier": 1.0}],
    "donchian": [{}, {"timeperiod": 5}],
    "ichimoku": [{}, {"tenkan_period": 3, "kijun_period": 7, "senkou_period": 11}],
    "heikin_ashi": [{}],
}

# TA-Lib function names / parameter renames where ours differ
TALIB_PARAMS = {"stoch": {}, "stochf": {}}

# natural scale of each output for the 1e-9 relative tolerance: "price" (median |close|),
# "osc" (100), "pct" (1), "flow" (largest |reference value|, for cumulative volume lines)
SCALE = {
    "rsi": "osc", "cci": "osc", "ultosc": "osc", "willr": "osc", "stoch": "osc", "stochf": "osc",
    "stochrsi": "osc", "aroon": "osc", "adx": "osc", "dx": "osc", "plus_di": "osc", "minus_di": "osc",
    "mfi": "osc", "natr": "osc", "roc": "pct", "ppo": "pct", "trix": "pct",
    "obv": "flow", "ad": "flow", "adosc": "flow",
}


def scale_for(name: str, data: dict, ref: np.ndarray) -> float:
    kind = SCALE.get(name, "price")
    if kind == "osc":
        return 100.0
    if kind == "pct":
        return 1.0
    if kind == "flow":
        m = np.nanmax(np.abs(ref)) if np.isfinite(ref).any() else 1.0
        return float(max(m, 1.0))
    c = np.abs(data["close"])
    c = c[np.isfinite(c)]
    return float(np.median(c)) if len(c) else 1.0


def assert_close(name: str, ours, ref, scale: float, rtol: float = 1e-9) -> None:
    ours = ours if isinstance(ours, tuple) else (ours,)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    assert len(ours) == len(ref), f"{name}: {len(ours)} outputs, TA-Lib has {len(ref)}"
    for k, (a, b) in enumerate(zip(ours, ref)):
        assert a.dtype == np.float64 and a.shape == b.shape, f"{name}[{k}] dtype/shape"
        na, nb = np.isnan(a), np.isnan(b)
        bad = np.nonzero(na != nb)[0]
        assert len(bad) == 0, f"{name}[{k}]: NaN positions differ at {bad[:10]} (ours {a[bad[:3]]}, ta {b[bad[:3]]})"
        m = ~na
        tol = rtol * np.maximum(np.abs(b[m]), scale)
        err = np.abs(a[m] - b[m])
        worst = np.argmax(err - tol) if m.any() else 0
        assert (err <= tol).all(), (f"{name}[{k}]: max err {err.max():.3e} > tol at idx "
                                    f"{np.nonzero(m)[0][worst]} (ours {a[m][worst]!r} ta {b[m][worst]!r})")
