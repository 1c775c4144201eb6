"""Independent implementations of the SMA-cross rule in backtrader and vectorbt, under Kestrel's fill
conventions (signal at bar t's close, all-in market order filled at bar t+1's open, quantity =
cash / (open x (1 + fee)), fee on notional). Used as test oracles and in bench/bench_backtest.py."""
from __future__ import annotations

import numpy as np
import pandas as pd


def frame(data) -> pd.DataFrame:
    idx = pd.to_datetime(data.ts, unit="ms")
    return pd.DataFrame({"open": data.open, "high": data.high, "low": data.low, "close": data.close,
                         "volume": data.volume}, index=idx)


def backtrader_sma_cross(data, fast: int, slow: int, fee: float, cash: float):
    """Returns (trades, final value): trades as dicts of entry/exit time (ms), qty, prices, pnl."""
    import backtrader as bt

    trades: list[dict] = []
    sizes: list[float] = []

    class SmaCross(bt.Strategy):
        def __init__(self):
            self.f = bt.ind.SMA(self.data.close, period=fast)
            self.s = bt.ind.SMA(self.data.close, period=slow)
            self.pending = None
            self.entry = None

        def next(self):
            if len(self) <= max(fast, slow):
                return
            f0, s0, f1, s1 = self.f[-1], self.s[-1], self.f[0], self.s[0]
            if f0 <= s0 and f1 > s1:
                self.pending = "buy"
            elif f0 >= s0 and f1 < s1:
                self.pending = "sell"

        def next_open(self):
            if self.pending == "buy" and not self.position:
                # backtrader refuses (Margin) an order whose cost exceeds cash by a rounding error; ask
                # for 1e-12 less. It moves pnl by ~1e-12 relative, far inside the tests' tolerance.
                self.buy(size=self.broker.getcash() / (self.data.open[0] * (1.0 + fee)) * (1.0 - 1e-12))
            elif self.pending == "sell" and self.position:
                self.close()
            self.pending = None

        def notify_trade(self, trade):
            if trade.isclosed:
                trades.append({"entry_time": int(bt.num2date(trade.dtopen).timestamp() * 1000),
                               "exit_time": int(bt.num2date(trade.dtclose).timestamp() * 1000),
                               "pnl": trade.pnlcomm, "entry_price": trade.price})
            elif trade.justopened:
                sizes.append(trade.size)

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame(data)))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=fee)
    cerebro.broker.set_checksubmit(False)
    cerebro.run()
    for t, size in zip(trades, sizes):
        t["qty"] = size
    return trades, cerebro.broker.getvalue()


def vectorbt_signals(close: np.ndarray, fast: int, slow: int):
    import vectorbt as vbt

    c = pd.Series(close)
    f = vbt.MA.run(c, fast).ma.to_numpy()
    s = vbt.MA.run(c, slow).ma.to_numpy()
    f0, s0 = np.r_[np.nan, f[:-1]], np.r_[np.nan, s[:-1]]
    with np.errstate(invalid="ignore"):
        return (f0 <= s0) & (f > s), (f0 >= s0) & (f < s)


def vectorbt_sma_cross(data, fast: int, slow: int, fee: float, cash: float):
    import vectorbt as vbt

    entries, exits = vectorbt_signals(data.close, fast, slow)
    idx = pd.to_datetime(data.ts, unit="ms")
    shift = lambda a: pd.Series(np.r_[False, a[:-1]], index=idx)  # noqa: E731 - act at the next bar's open
    pf = vbt.Portfolio.from_signals(pd.Series(data.close, index=idx), shift(entries), shift(exits),
                                    price=pd.Series(data.open, index=idx), size=np.inf, fees=fee,
                                    init_cash=cash, freq=f"{data.timeframe_ms}ms")
    rec = pf.trades.records_readable
    closed = rec[rec["Status"] == "Closed"]
    trades = [{"entry_time": int(pd.Timestamp(r["Entry Timestamp"]).value // 1_000_000),
               "exit_time": int(pd.Timestamp(r["Exit Timestamp"]).value // 1_000_000),
               "qty": float(r["Size"]), "entry_price": float(r["Avg Entry Price"]),
               "exit_price": float(r["Avg Exit Price"]), "pnl": float(r["PnL"])}
              for _, r in closed.iterrows()]
    return trades, float(pf.final_value())
