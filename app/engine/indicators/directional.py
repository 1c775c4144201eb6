"""Directional movement and volatility: ADX, DX, PLUS_DI, MINUS_DI, ATR, NATR, TRANGE.

One Wilder state machine (:func:`dm_step`) feeds all four directional indicators, exactly as
TA-Lib's C code computes them (sums over period-1 bars, then Wilder smoothing).
"""
from __future__ import annotations

import numpy as np

from ._core import NAN, U, fma, is_zero, rt_int, true_range, tx_begin, tx_end
from ._numba_setup import jit, shared, step
from ._stream import Stream, make_stream
from ._validate import first_valid, series
from ._wrap import period_indicator

# kind: 0 ADX, 1 DX, 2 PLUS_DI, 3 MINUS_DI


@shared
def dm_step(st, h, l, c, p, kind):
    """st = (cnt, ph, pl, pc, pdm, mdm, tr, sumdx, adx, prev_out)."""
    cnt, ph, pl, pc, pdm, mdm, tr, sdx, adx, prev = st
    if cnt == 0:
        return (1, h, l, c, pdm, mdm, tr, sdx, adx, prev), NAN
    diff_p = h - ph
    diff_m = pl - l
    rng = true_range(h, l, pc)
    if p == 1 and (kind == 2 or kind == 3):  # TA-Lib: +DI1 = +DM1/TR1 (no smoothing, no x100)
        out = 0.0
        if kind == 2 and diff_p > 0 and diff_p > diff_m:
            out = diff_p / rng if rng > 0.0 else 0.0
        if kind == 3 and diff_m > 0 and diff_m > diff_p:
            out = diff_m / rng if rng > 0.0 else 0.0
        return (2, h, l, c, pdm, mdm, tr, sdx, adx, out), out
    plus = diff_p > 0 and diff_p > diff_m
    minus = diff_m > 0 and diff_p < diff_m
    if kind == 3:
        minus = diff_m > 0 and diff_m > diff_p
    if cnt < p:  # initial sums over p-1 bars
        if kind == 0 or kind == 1:
            if minus:
                mdm += diff_m
            elif plus:
                pdm += diff_p
        else:
            if plus:
                pdm += diff_p
            if minus:
                mdm += diff_m
        tr += rng
        return (cnt + 1, h, l, c, pdm, mdm, tr, sdx, adx, prev), NAN
    pdm = pdm - pdm / p
    mdm = mdm - mdm / p
    if kind == 0 or kind == 1:
        if minus:
            mdm += diff_m
        elif plus:
            pdm += diff_p
    else:
        if plus:
            pdm += diff_p
        if minus:
            mdm += diff_m
    tr = tr - tr / p + rng
    st_next = cnt + 1
    if kind == 2 or kind == 3:
        dm = pdm if kind == 2 else mdm
        out = (100.0 * (dm / tr)) if tr > 0.0 else 0.0  # TA-Lib 0.8: 0 when flat or NaN
        return (st_next, h, l, c, pdm, mdm, tr, sdx, adx, out), out
    dx = NAN
    if not is_zero(tr):
        mdi = 100.0 * (mdm / tr)
        pdi = 100.0 * (pdm / tr)
        s = mdi + pdi
        if not is_zero(s):
            dx = 100.0 * (abs(mdi - pdi) / s)
    if kind == 1:  # DX: a degenerate bar repeats the previous value (0 for the first)
        out = dx if dx == dx else (prev if cnt > p else 0.0)
        return (st_next, h, l, c, pdm, mdm, tr, sdx, adx, out), out
    # ADX: p DX values are averaged, then Wilder-smoothed
    if cnt < 2 * p - 1:
        if dx == dx:
            sdx += dx
        return (st_next, h, l, c, pdm, mdm, tr, sdx, adx, prev), NAN
    if cnt == 2 * p - 1:
        if dx == dx:
            sdx += dx
        adx = sdx / p
    elif dx == dx:
        adx = fma(adx, float(p - 1), dx) / p
    return (st_next, h, l, c, pdm, mdm, tr, sdx, adx, adx), adx


@jit
def _dm_kernel(h, l, c, begin, p, kind, out):
    """Vectorised ADX/DX/+DI/-DI: :func:`dm_step` for the warm-up bars, then a steady loop with
    the step's steady-state arithmetic in the same order, its data-dependent choices written as
    selects (tests check bit equality with the streaming form)."""
    n = h.shape[0]
    out[:begin] = NAN
    st = (rt_int(0, begin), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # runtime ints: see rt_int
    if kind == 0:
        warm = begin + 2 * p
    elif kind == 1:
        warm = begin + p + 1
    elif p > 1:
        warm = begin + p
    else:
        warm = n
    warm = min(n, warm)
    for i in range(begin, warm):
        st, o = dm_step(st, h[i], l[i], c[i], p, kind)
        out[i] = o
    if warm >= n:
        return
    cnt, ph, pl, pc, pdm, mdm, tr, sdx, adx, prev = st
    pm1 = float(p - 1)
    hs = h[warm:]
    ls = l[warm:]
    cs = c[warm:]
    o = out[warm:]
    for k in range(hs.shape[0]):
        u = U(k)
        hh = hs[u]
        ll = ls[u]
        diff_p = hh - ph
        diff_m = pl - ll
        rng = true_range(hh, ll, pc)
        ph = hh
        pl = ll
        pc = cs[u]
        pdm = pdm - pdm / p
        mdm = mdm - mdm / p
        if kind <= 1:
            minus = (diff_m > 0) & (diff_p < diff_m)
            plus = (diff_p > 0) & (diff_p > diff_m) & (not minus)
        else:
            plus = (diff_p > 0) & (diff_p > diff_m)
            minus = (diff_m > 0) & (diff_m > diff_p)
        pdm = pdm + diff_p if plus else pdm
        mdm = mdm + diff_m if minus else mdm
        tr = tr - tr / p + rng
        if kind >= 2:
            dm = pdm if kind == 2 else mdm
            v = 100.0 * (dm / tr)
            o[u] = v if tr > 0.0 else 0.0
            continue
        mdi = 100.0 * (mdm / tr)
        pdi = 100.0 * (pdm / tr)
        s = mdi + pdi
        dxv = 100.0 * (abs(mdi - pdi) / s)
        dxv = dxv if (not is_zero(tr)) & (not is_zero(s)) else NAN
        if kind == 1:
            prev = dxv if dxv == dxv else prev
            o[u] = prev
        else:
            a2 = fma(adx, pm1, dxv) / p
            adx = a2 if dxv == dxv else adx
            o[u] = adx


# state: 0 pending,1 started,2 p,3 kind,4..13 st
@jit
def _dm_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        st = (int(buf[4]), buf[5], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11], buf[12], buf[13])
        st, out = dm_step(st, h, l, c, int(buf[2]), int(buf[3]))
        buf[4], buf[5], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11], buf[12], buf[13] = st
    tx_end(buf, final)
    return out


def _dm_pair(name: str, kind: int, minimum: int, doc: str):
    return period_indicator(name, __name__, inputs=3, kernel=_dm_kernel, upd=_dm_upd, default=14,
                            minimum=minimum, extra=(kind,), state=lambda p: [0, 0, p, kind] + [0.0] * 10, doc=doc)


adx, adx_stream = _dm_pair("adx", 0, 2, "Average directional index (TA-Lib ADX, lookback 2n-1).")
dx, dx_stream = _dm_pair("dx", 1, 2, "Directional movement index (TA-Lib DX, lookback n).")
plus_di, plus_di_stream = _dm_pair("plus_di", 2, 1, "+DI (TA-Lib PLUS_DI, lookback n; period 1 = +DM1/TR1).")
minus_di, minus_di_stream = _dm_pair("minus_di", 3, 1, "-DI (TA-Lib MINUS_DI, lookback n; period 1 = -DM1/TR1).")


# ------------------------------------------------------------------------------ ATR/NATR/TRANGE


@step
def _atr_val(val, c, kind):
    """ATR/TRANGE value -> output (NATR: percent of close; TA-Lib 0.8.1 tests ``close != 0``
    exactly, so only a zero close gives 0 and a tiny one still divides)."""
    if kind == 1:
        return (val / c) * 100.0 if c != 0.0 else 0.0
    return val


@step
def _tr_ordered(h, l, pc):
    """True range as ``max(h, pc) - min(l, pc)``, valid when ``h - l >= 0``.

    Then it is bit-identical to :func:`._core.true_range`: for h >= l the largest of h-l,
    |h-pc| and |l-pc| is mathematically that difference, rounding is monotone, so TA-Lib's
    pick among the rounded candidates is the rounding of the same subtraction of the same two
    operands (a NaN previous close gives h - l in both).  Three operations instead of seven.
    Callers flag bars where ``h - l >= 0`` fails (h < l, NaN, inf - inf) and fall back.
    """
    mh = pc if pc > h else h
    ml = pc if pc < l else l
    return mh - ml


@step
def atr_step(st, h, l, c, p, kind):
    """kind 0 ATR, 1 NATR, 2 TRANGE.  st = (cnt, prev_close, atr).

    TA-Lib 0.8.1: seed = (sum of the first p true ranges) / p, then
    ``atr = fma(atr, k, tr * (1 - k))`` with ``k = (p-1)/p`` (what its FMA build computes).
    """
    cnt, pc, a = st
    if cnt == 0:
        return (1, c, a), NAN
    tr = true_range(h, l, pc)
    if kind == 2 or p == 1:
        val = tr
    elif cnt < p:
        return (cnt + 1, c, a + tr), NAN
    elif cnt == p:
        a = (a + tr) / p
        val = a
    else:
        k = float(p - 1) / p
        a = fma(a, k, tr * (1.0 - k))
        val = a
    return (cnt + 1, c, a), _atr_val(val, c, kind)


@jit
def _atr_ref(h, l, c, begin, p, kind, out):
    """Reference kernel (the streaming algorithm over arrays): fallback and test oracle."""
    out[:begin] = NAN
    st = (rt_int(0, begin), 0.0, 0.0)
    for i in range(begin, h.shape[0]):
        st, out[i] = atr_step(st, h[i], l[i], c[i], p, kind)


@jit
def _atr_kernel(h, l, c, begin, p, kind, out):
    """Vectorised ATR/NATR/TRANGE: warm-up loop, then branch-free steady loops with the same
    arithmetic as :func:`atr_step` and the true range from :func:`_tr_ordered`.  Returns True
    if some bar fails ``high - low >= 0`` (the wrapper then runs :func:`_atr_ref`)."""
    n = h.shape[0]
    plain = kind == 2 or p == 1
    first = min(n, begin + (1 if plain else p))
    out[:first] = NAN
    if first >= n:
        return False
    ok = True
    hs = h[first:]
    ls = l[first:]
    cs = c[first:]
    o = out[first:]
    pc = c[first - 1]
    if plain:
        for j in range(hs.shape[0]):
            u = U(j)
            hj = hs[u]
            lj = ls[u]
            cc = cs[u]
            ok &= (hj - lj) >= 0.0
            o[u] = _atr_val(_tr_ordered(hj, lj, pc), cc, kind)
            pc = cc
        return not ok
    a = 0.0
    for i in range(begin + 1, first + 1):
        a += true_range(h[i], l[i], c[i - 1])
    a = a / p
    o[0] = _atr_val(a, cs[0], kind)
    k = float(p - 1) / p
    omk = 1.0 - k
    pc = cs[0]
    if kind == 1:  # NATR: the percent-of-close is off the chain; keep it out of the ATR loop
        for j in range(1, hs.shape[0]):
            u = U(j)
            hj = hs[u]
            lj = ls[u]
            cc = cs[u]
            ok &= (hj - lj) >= 0.0
            a = fma(a, k, _tr_ordered(hj, lj, pc) * omk)
            v = (a / cc) * 100.0
            o[u] = 0.0 if cc == 0.0 else v
            pc = cc
        return not ok
    for j in range(1, hs.shape[0]):
        u = U(j)
        hj = hs[u]
        lj = ls[u]
        ok &= (hj - lj) >= 0.0
        a = fma(a, k, _tr_ordered(hj, lj, pc) * omk)
        o[u] = a
        pc = cs[u]
    return not ok


@jit
def _atr_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        st, out = atr_step((int(buf[4]), buf[5], buf[6]), h, l, c, int(buf[2]), int(buf[3]))
        buf[4], buf[5], buf[6] = st
    tx_end(buf, final)
    return out


atr, atr_stream = period_indicator(
    "atr", __name__, inputs=3, kernel=_atr_kernel, upd=_atr_upd, default=14, minimum=1, extra=(0,),
    ref=_atr_ref, state=lambda p: [0, 0, p, 0, 0, 0, 0],
    doc="Average true range, Wilder smoothing (TA-Lib ATR, lookback n).")


natr, natr_stream = period_indicator(
    "natr", __name__, inputs=3, kernel=_atr_kernel, upd=_atr_upd, default=14, minimum=1, extra=(1,),
    ref=_atr_ref, state=lambda p: [0, 0, p, 1, 0, 0, 0], doc="ATR as a percent of close (TA-Lib NATR).")


def trange(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range (TA-Lib TRANGE, lookback 1)."""
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    out = np.empty(n)
    begin = first_valid(h, l, c)
    if _atr_kernel(h, l, c, begin, 1, 2, out):  # a bar with high < low or a NaN
        _atr_ref(h, l, c, begin, 1, 2, out)
    return out


def trange_stream() -> Stream:
    return make_stream("trange", ("high", "low", "close"), _atr_upd, [0, 0, 1, 2, 0, 0, 0], {}, ("real",))
