"""Backtest results: the equity curve, closed round trips and the statistics a trader reads.

Definitions (all from the per-bar equity marked at each bar's close, risk-free rate 0):

- total_return = equity_final / cash - 1; annual_return compounds it over the data's span (365-day years)
- sharpe = mean / std (ddof 1) of per-bar returns x sqrt(bars per year); sortino uses the downside
  deviation sqrt(mean(min(r, 0)^2)) instead of std; calmar = annual_return / max_drawdown
- max_drawdown: the largest fall from a running peak, as a positive fraction; its duration is the longest
  stretch (bars and ms) spent below a previous peak
- a trade is a round trip: opened when the position leaves zero, closed when it returns to zero (a flip
  closes one and opens the next). entry/exit prices are volume-weighted; pnl is net of both legs' fees
- win_rate, profit_factor (gross wins / gross losses), expectancy (mean pnl per trade) over closed trades
- exposure: the fraction of bars that end with a position
- equity_final values a position still open at the end at the last close
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

YEAR_MS = 365 * 86_400_000


@dataclass
class BacktestResult:
    trades: list[dict[str, Any]]
    stats: dict[str, Any]
    equity_final: float
    ts: np.ndarray = field(repr=False)
    equity: np.ndarray = field(repr=False)
    drawdown: np.ndarray = field(repr=False)
    position: np.ndarray = field(repr=False)
    fills: list[dict[str, Any]] = field(default_factory=list, repr=False)
    denials: list[dict[str, Any]] = field(default_factory=list, repr=False)
    orders: list[dict[str, Any]] = field(default_factory=list, repr=False)  # all sent, denied ones too

    def to_json(self) -> dict[str, Any]:
        return {"trades": self.trades, "stats": self.stats, "equity_final": self.equity_final}


def _fill_row(f: Any) -> dict[str, Any]:
    return {"time": int(f.ts), "side": f.side.value, "price": f.price, "qty": f.quantity, "fee": f.fee,
            "client_order_id": f.client_order_id}


def round_trips(fills: list[Any]) -> list[dict[str, Any]]:
    trades: list[dict[str, Any]] = []
    pos = 0.0
    cur: dict[str, Any] | None = None
    for f in fills:
        signed = f.quantity * f.side.sign
        qty, price, fee, ts = f.quantity, f.price, f.fee, int(f.ts)
        if cur is None or pos == 0.0:
            cur = {"entry_time": ts, "side": "long" if signed > 0 else "short", "qty": 0.0, "_entry_val": 0.0,
                   "_exit_qty": 0.0, "_exit_val": 0.0, "fees": 0.0, "_dir": 1.0 if signed > 0 else -1.0}
        direction = cur["_dir"]
        if signed * direction > 0:  # adds to the position
            cur["qty"] += qty
            cur["_entry_val"] += qty * price
            cur["fees"] += fee
            pos += signed
            continue
        closing = min(qty, abs(pos))
        share = closing / qty if qty else 1.0
        cur["_exit_qty"] += closing
        cur["_exit_val"] += closing * price
        cur["fees"] += fee * share
        pos += closing * (-direction)
        if abs(pos) <= 1e-12 * max(1.0, cur["qty"]):
            pos = 0.0
            trades.append(_close(cur, ts))
            rest = qty - closing
            if rest > 1e-15:  # a flip: the remainder opens the opposite trade
                cur = {"entry_time": ts, "side": "long" if signed > 0 else "short", "qty": rest,
                       "_entry_val": rest * price, "_exit_qty": 0.0, "_exit_val": 0.0, "fees": fee * (1 - share),
                       "_dir": 1.0 if signed > 0 else -1.0}
                pos = signed / qty * rest
    return trades


def _close(cur: dict[str, Any], ts: int) -> dict[str, Any]:
    entry = cur["_entry_val"] / cur["qty"]
    exit_ = cur["_exit_val"] / cur["_exit_qty"]
    gross = (exit_ - entry) * cur["_exit_qty"] * cur["_dir"]
    return {"entry_time": cur["entry_time"], "exit_time": ts, "side": cur["side"], "qty": cur["qty"],
            "entry_price": entry, "exit_price": exit_, "pnl": gross - cur["fees"], "fees": cur["fees"]}


def equity_curve(ts: np.ndarray, close: np.ndarray, fills: list[Any], cash: float):
    n = len(ts)
    dcash = np.zeros(n)
    dqty = np.zeros(n)
    if fills:
        f_ts = np.fromiter((f.ts for f in fills), dtype=np.int64, count=len(fills))
        idx = np.searchsorted(ts, f_ts, side="right") - 1
        idx = np.clip(idx, 0, n - 1)
        sign = np.fromiter((f.side.sign for f in fills), dtype=np.float64, count=len(fills))
        qty = np.fromiter((f.quantity for f in fills), dtype=np.float64, count=len(fills))
        px = np.fromiter((f.price for f in fills), dtype=np.float64, count=len(fills))
        fee = np.fromiter((f.fee for f in fills), dtype=np.float64, count=len(fills))
        np.add.at(dcash, idx, -sign * px * qty - fee)
        np.add.at(dqty, idx, sign * qty)
    position = np.cumsum(dqty)
    equity = cash + np.cumsum(dcash) + position * close
    return equity, position


def _annualise(total: float, span_years: float) -> float:
    """Compound ``total`` over a year; a gain over a short span can exceed a float (infinity then)."""
    if span_years <= 0 or total <= -1.0:
        return -1.0
    try:
        return (1.0 + total) ** (1.0 / span_years) - 1.0
    except OverflowError:
        return math.inf


def compute_stats(ts: np.ndarray, equity: np.ndarray, position: np.ndarray, trades: list[dict[str, Any]],
                  cash: float, timeframe_ms: int) -> tuple[dict[str, Any], np.ndarray]:
    n = len(equity)
    prev = np.r_[cash, equity[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = np.where(prev != 0, equity / prev - 1.0, 0.0)
    per_year = YEAR_MS / max(timeframe_ms, 1)
    sd = float(np.std(rets, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(rets)) if n else 0.0
    down = float(np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2))) if n else 0.0
    peak = np.maximum.accumulate(np.r_[cash, equity])[1:]
    dd = equity / peak - 1.0
    max_dd = float(-dd.min()) if n else 0.0
    edges = np.diff(np.r_[0, (dd < 0).view(np.int8), 0])
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    longest = int(runs.max()) if runs.size else 0
    final = float(equity[-1]) if n else cash
    total = final / cash - 1.0
    span_years = (int(ts[-1]) + timeframe_ms - int(ts[0])) / YEAR_MS if n else 0.0
    annual = _annualise(total, span_years)
    pnls = np.array([t["pnl"] for t in trades], dtype=np.float64)
    wins, losses = pnls[pnls > 0], pnls[pnls < 0]
    stats = {
        "bars": n,
        "total_return": total,
        "annual_return": annual,
        "sharpe": mean / sd * math.sqrt(per_year) if sd > 0 else math.nan,
        "sortino": mean / down * math.sqrt(per_year) if down > 0 else math.nan,
        "calmar": annual / max_dd if max_dd > 0 else math.nan,
        "max_drawdown": max_dd,
        "max_drawdown_bars": longest,
        "max_drawdown_duration_ms": longest * timeframe_ms,
        "trades": len(trades),
        "win_rate": float(len(wins) / len(pnls)) if len(pnls) else math.nan,
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) and losses.sum() < 0 else
        (math.inf if len(wins) else math.nan),
        "expectancy": float(pnls.mean()) if len(pnls) else math.nan,
        "exposure": float(np.count_nonzero(np.abs(position) > 1e-12) / n) if n else 0.0,
        "fees": float(sum(t["fees"] for t in trades)),
        "equity_final": final,
    }
    return stats, dd


def build_result(bars, fills: list[Any], cash: float, elapsed_s: float, events: int, denials: list[Any],
                 risk_state: str) -> BacktestResult:
    equity, position = equity_curve(bars.ts, bars.close, fills, cash)
    trades = round_trips(fills)
    stats, dd = compute_stats(bars.ts, equity, position, trades, cash, bars.timeframe_ms)
    stats.update({"elapsed_s": elapsed_s, "events_per_s": events / elapsed_s if elapsed_s > 0 else math.nan,
                  "orders_denied": len(denials), "fills": len(fills), "risk_state": risk_state})
    final = float(equity[-1]) if len(equity) else cash
    return BacktestResult(trades, stats, final, bars.ts, equity, dd, position, [_fill_row(f) for f in fills],
                          [{"client_order_id": d.client_order_id, "reason": d.reason, "message": d.message,
                            "time": d.ts} for d in denials])
