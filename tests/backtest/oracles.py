"""Independent implementations of the SMA-cross rule in backtrader and vectorbt, under Kestrel's fill
conventions (signal at bar t's close, all-in market order filled at bar t+1's open, quantity =
cash / (open x (1 + fee)), fee on notional). Used as test oracles and in bench/bench_backtest.py.

``backtrader_sma_bracket``: the same crosses trading a fixed quantity through backtrader's ``buy_bracket``
(tests/backtest/test_brackets_vs_backtrader.py)."""
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


def _ms(num: float) -> int:
    """A backtrader date number (the feed's naive UTC times) as epoch ms."""
    import datetime as dt

    import backtrader as bt

    return round(bt.num2date(num).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def backtrader_sma_bracket(data, fast: int, slow: int, qty: float, stop: float, take: float, fee: float,
                           cash: float):
    """The SMA cross with a bracket: on a cross-up at bar t's close, when flat, ``buy_bracket`` for ``qty`` (a
    market parent, filled at bar t+1's open: cheat_on_open) with a stop-loss at close_t x (1 - ``stop``) and a
    take-profit at close_t x (1 + ``take``); on a cross-down, when long, close at bar t+1's open and cancel the
    children. backtrader's own conventions (bbroker.py): the children work from the bar after the parent filled;
    each bar, the stop child is tried before the limit child over the whole bar (its open, then its range).

    Returns (trades, final value): trades as dicts of entry/exit time (ms, the bar's open time), entry and exit
    price, qty, pnl (net of both legs' fees) and ``exit`` ("stop", "limit" or "close": which order closed it); a
    trade still open at the end comes last, its exit time, exit price, pnl and exit None.
    """
    import backtrader as bt

    trades: list[dict] = []
    exits: list[tuple[float, str]] = []  # (price, how) of each completed sell

    class SmaBracket(bt.Strategy):
        def __init__(self):
            self.f = bt.ind.SMA(self.data.close, period=fast)
            self.s = bt.ind.SMA(self.data.close, period=slow)
            self.pending = None
            self.children = []
            self.names = {}

        def next(self):
            if len(self) <= max(fast, slow):
                return
            f0, s0, f1, s1 = self.f[-1], self.s[-1], self.f[0], self.s[0]
            if f0 <= s0 and f1 > s1:
                self.pending = ("buy", self.data.close[0])
            elif f0 >= s0 and f1 < s1:
                self.pending = ("sell", None)

        def next_open(self):
            signal, close = self.pending or (None, None)
            self.pending = None
            if signal == "buy" and not self.position:
                _, sl, tp = self.buy_bracket(size=qty, exectype=bt.Order.Market, stopprice=close * (1.0 - stop),
                                             limitprice=close * (1.0 + take))
                self.children = [sl, tp]
                self.names = {sl.ref: "stop", tp.ref: "limit"}
            elif signal == "sell" and self.position:
                for child in self.children:
                    self.cancel(child)
                self.close()

        def notify_order(self, order):
            if order.status == order.Completed and order.issell():
                exits.append((order.executed.price, self.names.get(order.ref, "close")))

        def notify_trade(self, trade):
            if trade.justopened:
                trades.append({"entry_time": _ms(trade.dtopen), "entry_price": trade.price, "qty": trade.size,
                               "exit_time": None, "exit_price": None, "pnl": None, "exit": None})
            elif trade.isclosed:
                price, how = exits[-1]
                trades[-1].update(exit_time=_ms(trade.dtclose), exit_price=price, pnl=trade.pnlcomm, exit=how)

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame(data)))
    cerebro.addstrategy(SmaBracket)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=fee)
    cerebro.broker.set_checksubmit(False)
    cerebro.run()
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
