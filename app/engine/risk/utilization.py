"""The risk panel's read model: how much of each limit is in use, from the same figures the checks and the
automatic trips use (a view never recomputes a risk figure)."""
from __future__ import annotations

from typing import Any


def utilization(risk: Any) -> list[tuple[str, float, float]]:
    """(limit, in use, max) for every limit of ``risk`` (a ``RiskEngine``) with a current level."""
    lim = risk.limits
    pnl, sod = risk.daily_pnl()
    equity = sod + pnl
    peak = risk.peak_equity or equity
    rows = [
        ("Working orders", len(risk.execution.working), lim.max_working_orders_total),
        ("Messages / s", risk.rates.total.msgs.count(risk.clock.monotonic_ns()), lim.max_msgs_per_s_total),
        ("Gross exposure", risk.portfolio.gross_exposure(), lim.max_gross_exposure_x_equity * equity),
        ("Daily loss", max(-pnl, 0.0), lim.daily_loss_halt_pct / 100.0 * sod),
        ("Drawdown", max(peak - equity, 0.0), lim.max_drawdown_pct / 100.0 * peak),
    ]
    for sym, cap in lim.max_position.items():
        rows.append((f"Position {sym}", abs(risk.portfolio.position(sym).quantity), cap))
    rows += [("Order notional (manual)", 0.0, lim.max_notional_manual),
             ("Order notional (strategy)", 0.0, lim.max_notional_strategy)]
    return rows
