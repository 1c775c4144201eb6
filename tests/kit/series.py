"""Series made for the tests: hand-made bars and trades small enough to check by hand, and bar CSV files of
generated markets for the CLI, the dialogs and the backtester (the recorded data is in ``tests.kit.data``)."""
from __future__ import annotations

import numpy as np

T0 = 1_700_000_040_000  # toy series start (ms), on a minute boundary
MINUTE = 60_000


def toy_bars(opens, highs=None, lows=None, closes=None, step_ms: int = MINUTE, symbol: str = "TOY"):
    """A small hand-made bar series: one bar per ``step_ms`` from ``T0``; high/low default to the
    open/close envelope and close defaults to the open."""
    from app.engine.data.bar_files import bars_from_arrays

    o = np.asarray(opens, dtype=float)
    c = o if closes is None else np.asarray(closes, dtype=float)
    h = np.maximum(o, c) if highs is None else np.asarray(highs, dtype=float)
    low = np.minimum(o, c) if lows is None else np.asarray(lows, dtype=float)
    ts = T0 + step_ms * np.arange(len(o))
    return bars_from_arrays(ts, o, h, low, c, np.ones(len(o)), symbol=symbol)


def toy_trades(times_ms, prices, sizes=None, symbol: str = "TOY"):
    """Trade prints at ``T0 + times_ms``."""
    from app.engine.data.bar_files import TradeData

    p = np.asarray(prices, dtype=float)
    s = np.ones(len(p)) if sizes is None else np.asarray(sizes, dtype=float)
    return TradeData(T0 + np.asarray(times_ms, dtype=np.int64), p, s, symbol)


def ashare_daily_csv(path, n: int = 120, seed: int = 11):
    """``path`` (name it like ``600519.SH-1d.csv``): ``n`` daily bars of a random walk around 1,700 on trading
    days from 2024-03-04 (weekends and the Qingming and Labour Day holidays skipped), stamped at midnight
    Beijing time as akshare stamps daily bars."""
    import datetime as dt

    import numpy as np

    days, day = [], dt.date(2024, 3, 4)
    while len(days) < n:
        if day.weekday() < 5 and not (dt.date(2024, 4, 4) <= day <= dt.date(2024, 4, 6)) \
                and not (dt.date(2024, 5, 1) <= day <= dt.date(2024, 5, 5)):
            days.append(day)
        day += dt.timedelta(days=1)
    close = 1700 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.012, n)))
    lines = ["timestamp,open,high,low,close,volume"]
    beijing = dt.timezone(dt.timedelta(hours=8))
    for d, c in zip(days, close):
        ts = int(dt.datetime(d.year, d.month, d.day, tzinfo=beijing).timestamp() * 1000)
        o = round(c * 0.998, 2)
        lines.append(f"{ts},{o},{round(max(o, c) * 1.004, 2)},{round(min(o, c) * 0.996, 2)},{round(c, 2)},1000000")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_generated_bars(path, n: int = 1200, seed: int = 9):
    """``n`` bars of the ML module's synthetic market as a bar CSV (training and backtest input)."""
    import csv

    from app.engine.ml.synthetic import generated_bars

    b = generated_bars(n, seed=seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        w.writerows(zip(b.ts.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(), b.close.tolist(),
                        b.volume.tolist()))
    return path
