"""Overlap studies (drawn over price): SMA, EMA, WMA, DEMA, TEMA, KAMA, TRIMA, BBANDS, MIDPRICE, SAR.

Each indicator = one ``*_step`` (pure scalar state transition, shared) + a vectorised kernel
looping it over an array + a streaming ``*_upd`` kernel applying it to a state buffer.
Numbers follow TA-Lib's C code (same arithmetic order, same warm-up), NaN warm-up included.
"""
from __future__ import annotations

import numpy as np

from ._core import NAN, INF, U, ema_step, fma, is_zero, rt_int, sma_step, tx_begin, tx_end
from ._numba_setup import jit, shared, step
from ._stream import Stream, make_stream
from ._validate import as_series, first_valid, period, series
from ._validate import matype as matype_param
from ._validate import real as real_param
from ._wrap import period_indicator

# ----------------------------------------------------------------------------------------- SMA


@jit
def _sma_kernel(x, begin, p, out):
    """Vectorised SMA: seed sum, then the steady body of :func:`sma_step` (same order).

    The running total (an add and a subtract per bar) is the critical path, as in TA-Lib; bars
    go in pairs with both totals' operations ahead of the two divisions in program order, so
    the scheduler never delays the chain behind the divider (~2% in cache)."""
    n = x.shape[0]
    first = min(n, begin + p - 1)
    out[:first] = NAN
    if first >= n:
        return
    total = 0.0
    for j in range(begin, first):
        total += x[j]
    fp = float(p)
    xs = x[first:]
    xt = x[first - p + 1:]
    o = out[first:]
    m = xs.shape[0]
    k = 0
    while k + 2 <= m:
        t = total + xs[U(k)]
        total = t - xt[U(k)]
        t2 = total + xs[U(k + 1)]
        total = t2 - xt[U(k + 1)]
        o[U(k)] = t / fp
        o[U(k + 1)] = t2 / fp
        k += 2
    if k < m:
        o[U(k)] = (total + xs[U(k)]) / fp


# state: 0 pending, 1 started, 2 p, 3 cnt, 4 total, 5 pos, 6.. ring(p)
@jit
def _sma_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        pos = int(buf[5])
        buf[6 + pos] = x
        pos = pos + 1 if pos + 1 < p else 0
        cnt, total, out = sma_step(int(buf[3]), buf[4], x, buf[6 + pos], p)
        buf[3] = cnt
        buf[4] = total
        buf[5] = pos
    tx_end(buf, final)
    return out


sma, sma_stream = period_indicator(
    "sma", __name__, inputs=1, kernel=_sma_kernel, upd=_sma_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p, 0, 0, 0] + [0.0] * p,
    doc="Simple moving average (TA-Lib SMA).  NaN for the first ``timeperiod-1`` valid bars.")


# ----------------------------------------------------------------------------------------- EMA


@jit
def _ema_kernel(x, begin, p, out):
    """Vectorised EMA: SMA seed, then the steady body of :func:`ema_step` (same arithmetic)."""
    n = x.shape[0]
    first = min(n, begin + p - 1)
    out[:first] = NAN
    if first >= n:
        return
    k = 2.0 / (p + 1)
    xs = x[begin:]
    o = out[begin:]
    acc = 0.0
    for j in range(p):
        acc += xs[j]
    acc = acc / p
    o[p - 1] = acc
    for j in range(p, xs.shape[0]):
        acc = fma(xs[U(j)] - acc, k, acc)
        o[U(j)] = acc


# state: 0 pending, 1 started, 2 p, 3 cnt, 4 acc
@jit
def _ema_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        cnt, acc, out = ema_step(int(buf[3]), buf[4], x, p, 2.0 / (p + 1))
        buf[3] = cnt
        buf[4] = acc
    tx_end(buf, final)
    return out


ema, ema_stream = period_indicator(
    "ema", __name__, inputs=1, kernel=_ema_kernel, upd=_ema_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p, 0, 0],
    doc="Exponential moving average, k=2/(n+1), seeded with the SMA of the first n values (TA-Lib).")


# ----------------------------------------------------------------------------------------- WMA


@step
def _wma_fresh(vals, first, p, cap):
    """Sum and weighted sum (weights 1..p, oldest first) of the window ``vals[first..]`` of p
    values (wrapping at ``cap``), summed as TA-Lib 0.8.1 does when it re-syncs."""
    sub = 0.0
    s = 0.0
    j = first
    for k in range(p):
        v = vals[j]
        sub += v
        s += v * float(k + 1)
        j += 1
        if j == cap:
            j = 0
    return sub, s


@step
def _wma_step(cnt, sub, s, tv, m, x, xl, p, divider, vals, first, cap):
    """TA-Lib 0.8.1 WMA: the running sums of its C code, with ``x * weight`` rounded before it
    is added (no FMA in this function of its binary), and -- unlike older TA-Lib -- the sums
    recomputed from the window every 8*p output bars (steady bar ``m`` with m % 8p == 8p - 1),
    which bounds the drift of the running sums.  ``vals[first..]`` (wrapping at ``cap``) is the
    window ending at ``x``; ``xl`` its oldest value.  State: cnt, sum, weighted sum, trailing
    value, output bars so far.  Returns (cnt, sub, s, tv, m, out)."""
    if p == 1:
        return 1, sub, s, tv, m, x
    if cnt < p - 1:
        sub += x
        s += x * float(cnt + 1)
        return cnt + 1, sub, s, tv, m, NAN
    if m % (8 * p) == 8 * p - 1:
        sub, full = _wma_fresh(vals, first, p, cap)
    else:
        sub += x
        sub -= tv
        full = s + x * float(p)
    tv = xl
    return p, sub, full - sub, tv, m + 1, full / divider


@jit
def _wma_kernel(x, begin, p, out):
    """Vectorised WMA: :func:`_wma_step` for the first window, then its steady body.

    TA-Lib's re-sync sums a whole window from scratch (two dependent chains of p adds) every 8p
    bars.  Here that window's sums are accumulated while its bars go by, in the same order, as
    two more chains beside the running ones, so the re-sync bar costs one add instead of a
    stall of p adds (bit-identical; ~5 % faster than TA-Lib instead of ~2 % slower)."""
    n = x.shape[0]
    out[:begin] = NAN
    divider = float((p * (p + 1)) >> 1)
    cnt = 0
    sub = 0.0
    s = 0.0
    tv = 0.0
    m = 0
    warm = min(n, begin + p)
    for i in range(begin, warm):
        j = i - p + 1
        xl = x[j] if j >= begin else 0.0
        cnt, sub, s, tv, m, o = _wma_step(cnt, sub, s, tv, m, x[i], xl, p, divider, x, max(j, 0), n)
        out[i] = o
    if p == 1:
        for i in range(warm, n):
            out[i] = x[i]
        return
    fp = float(p)
    period8 = 8 * p
    i = warm
    while i < n:
        r = i + (period8 - 1 - m % period8)  # the next re-sync bar
        w0 = r - p + 1  # the first bar of its window
        e1 = min(n, max(i, w0))
        for k in range(i, e1):  # plain bars
            u = U(k)
            xi = x[u]
            sub += xi
            sub -= x[U(k - p)]
            full = s + xi * fp
            out[u] = full / divider
            s = full - sub
        fsub = 0.0
        fs = 0.0
        for k in range(w0, e1):  # window bars already behind us (only right after the warm-up)
            v = x[U(k)]
            fsub += v
            fs += v * float(k - w0 + 1)
        e2 = min(n, r)
        for k in range(e1, e2):  # plain bars that also feed the re-sync sums
            u = U(k)
            xi = x[u]
            fsub += xi
            fs += xi * float(k - w0 + 1)
            sub += xi
            sub -= x[U(k - p)]
            full = s + xi * fp
            out[u] = full / divider
            s = full - sub
        m += e2 - i
        i = e2
        if i < n:  # the re-sync bar: TA-Lib's fresh window sums
            xi = x[U(i)]
            sub = fsub + xi
            full = fs + xi * fp
            out[U(i)] = full / divider
            s = full - sub
            m += 1
            i += 1


# state: 0 pending, 1 started, 2 p, 3 cnt, 4 sub, 5 sum, 6 tv, 7 pos, 8 output bars, 9.. ring(p)
@jit
def _wma_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        pos = int(buf[7])
        ring = buf[9:9 + p]
        ring[pos] = x
        pos = pos + 1 if pos + 1 < p else 0
        cnt, sub, s, tv, m, out = _wma_step(int(buf[3]), buf[4], buf[5], buf[6], int(buf[8]), x, ring[pos], p,
                                            float((p * (p + 1)) >> 1), ring, pos, p)
        buf[3] = cnt
        buf[4] = sub
        buf[5] = s
        buf[6] = tv
        buf[7] = pos
        buf[8] = m
    tx_end(buf, final)
    return out


wma, wma_stream = period_indicator(
    "wma", __name__, inputs=1, kernel=_wma_kernel, upd=_wma_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p, 0, 0, 0, 0, 0, 0] + [0.0] * p,
    doc="Linearly weighted moving average (TA-Lib WMA).")


# ---------------------------------------------------------------------------------- DEMA / TEMA


@step
def _dema_step(c1, a1, c2, a2, x, p, k):
    c1, a1, e1 = ema_step(c1, a1, x, p, k)
    if c1 < p:
        return c1, a1, c2, a2, NAN
    c2, a2, e2 = ema_step(c2, a2, e1, p, k)
    if c2 < p:
        return c1, a1, c2, a2, NAN
    return c1, a1, c2, a2, fma(2.0, e1, -e2)


@jit
def _dema_kernel(x, begin, p, out):
    """Vectorised DEMA: :func:`_dema_step` for the warm-up bars, then its steady body."""
    n = x.shape[0]
    out[:begin] = NAN
    k = 2.0 / (p + 1)
    c1 = 0
    c2 = 0
    a1 = 0.0
    a2 = 0.0
    warm = min(n, begin + 2 * p - 1)
    for i in range(begin, warm):
        c1, a1, c2, a2, out[i] = _dema_step(c1, a1, c2, a2, x[i], p, k)
    for i in range(warm, n):
        u = U(i)
        a1 = fma(x[u] - a1, k, a1)
        a2 = fma(a1 - a2, k, a2)
        out[u] = fma(2.0, a1, -a2)


# state: 0 pending, 1 started, 2 p, 3 c1, 4 a1, 5 c2, 6 a2
@jit
def _dema_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        c1, a1, c2, a2, out = _dema_step(int(buf[3]), buf[4], int(buf[5]), buf[6], x, p, 2.0 / (p + 1))
        buf[3] = c1
        buf[4] = a1
        buf[5] = c2
        buf[6] = a2
    tx_end(buf, final)
    return out


dema, dema_stream = period_indicator(
    "dema", __name__, inputs=1, kernel=_dema_kernel, upd=_dema_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p, 0, 0, 0, 0],
    doc="Double EMA: 2*EMA - EMA(EMA) (TA-Lib DEMA, lookback 2*(n-1)).")


@step
def _tema_step(c1, a1, c2, a2, c3, a3, x, p, k):
    c1, a1, e1 = ema_step(c1, a1, x, p, k)
    if c1 < p:
        return c1, a1, c2, a2, c3, a3, NAN
    c2, a2, e2 = ema_step(c2, a2, e1, p, k)
    if c2 < p:
        return c1, a1, c2, a2, c3, a3, NAN
    c3, a3, e3 = ema_step(c3, a3, e2, p, k)
    if c3 < p:
        return c1, a1, c2, a2, c3, a3, NAN
    return c1, a1, c2, a2, c3, a3, e3 + fma(3.0, e1, -(3.0 * e2))


@jit
def _tema_kernel(x, begin, p, out):
    """Vectorised TEMA: :func:`_tema_step` for the warm-up bars, then its steady body."""
    n = x.shape[0]
    out[:begin] = NAN
    k = 2.0 / (p + 1)
    c1 = 0
    c2 = 0
    c3 = 0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    warm = min(n, begin + 3 * p - 2)
    for i in range(begin, warm):
        c1, a1, c2, a2, c3, a3, out[i] = _tema_step(c1, a1, c2, a2, c3, a3, x[i], p, k)
    for i in range(warm, n):
        u = U(i)
        a1 = fma(x[u] - a1, k, a1)
        a2 = fma(a1 - a2, k, a2)
        a3 = fma(a2 - a3, k, a3)
        out[u] = a3 + fma(3.0, a1, -(3.0 * a2))


# state: 0 pending, 1 started, 2 p, 3 c1, 4 a1, 5 c2, 6 a2, 7 c3, 8 a3
@jit
def _tema_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        c1, a1, c2, a2, c3, a3, out = _tema_step(int(buf[3]), buf[4], int(buf[5]), buf[6],
                                                 int(buf[7]), buf[8], x, p, 2.0 / (p + 1))
        buf[3] = c1
        buf[4] = a1
        buf[5] = c2
        buf[6] = a2
        buf[7] = c3
        buf[8] = a3
    tx_end(buf, final)
    return out


tema, tema_stream = period_indicator(
    "tema", __name__, inputs=1, kernel=_tema_kernel, upd=_tema_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p, 0, 0, 0, 0, 0, 0],
    doc="Triple EMA: 3*EMA - 3*EMA(EMA) + EMA(EMA(EMA)) (TA-Lib TEMA, lookback 3*(n-1)).")


# ---------------------------------------------------------------------------------------- KAMA

_KAMA_MAX = 2.0 / (30.0 + 1.0)
_KAMA_DIFF = 2.0 / (2.0 + 1.0) - _KAMA_MAX


@step
def _kama_step(cnt, sroc, prev_kama, prev_x, tv, x, x_trail, p):
    """``x_trail`` = x[i-p] (the bar ``p`` bars back).  State: cnt, sumROC1, KAMA, x[i-1], trailing."""
    if p == 1:
        return 1, sroc, x, x, tv, x
    if cnt < p:  # accumulate |x[j]-x[j-1]| for the first p differences
        if cnt > 0:
            sroc += abs(prev_x - x)
        return cnt + 1, sroc, prev_kama, x, tv, NAN
    if cnt == p:  # first KAMA: previous value = yesterday's price
        sroc += abs(prev_x - x)
        prev_kama = prev_x
        period_roc = x - x_trail
        tv = x_trail
    else:
        period_roc = x - x_trail
        sroc -= abs(tv - x_trail)
        sroc += abs(x - prev_x)
        tv = x_trail
    if sroc <= period_roc or is_zero(sroc):
        er = 1.0
    else:
        er = abs(period_roc / sroc)
    sc = fma(er, _KAMA_DIFF, _KAMA_MAX)
    sc *= sc
    prev_kama = fma(x - prev_kama, sc, prev_kama)
    return p + 1, sroc, prev_kama, x, tv, prev_kama


@jit
def _kama_kernel(x, begin, p, out):
    """Vectorised KAMA: :func:`_kama_step` for the warm-up bars (through the first KAMA), then
    a steady loop with the step's arithmetic in the same order, ER chosen by a select."""
    n = x.shape[0]
    out[:begin] = NAN
    cnt = 0
    sroc = 0.0
    kama = 0.0
    px = 0.0
    tv = 0.0
    warm = min(n, begin + p + 1) if p > 1 else n
    for i in range(begin, warm):
        j = i - p
        xt = x[j] if j >= begin else 0.0
        cnt, sroc, kama, px, tv, o = _kama_step(cnt, sroc, kama, px, tv, x[i], xt, p)
        out[i] = o
    if warm >= n:
        return
    xs = x[warm:]
    xt = x[warm - p:]
    o = out[warm:]
    for k in range(xs.shape[0]):  # px = x[i-1] and tv = x[i-p-1] carried in registers
        u = U(k)
        xi = xs[u]
        xtr = xt[u]
        period_roc = xi - xtr
        sroc -= abs(tv - xtr)
        sroc += abs(xi - px)
        tv = xtr
        px = xi
        er = abs(period_roc / sroc)
        er = 1.0 if (sroc <= period_roc) | is_zero(sroc) else er
        sc = fma(er, _KAMA_DIFF, _KAMA_MAX)
        sc *= sc
        kama = fma(xi - kama, sc, kama)
        o[u] = kama


# state: 0 pending,1 started,2 p,3 cnt,4 sroc,5 kama,6 prev_x,7 tv,8 pos, 9.. ring(p+1)
@jit
def _kama_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        cap = p + 1
        pos = int(buf[8])
        buf[9 + pos] = x
        pos = pos + 1 if pos + 1 < cap else 0
        cnt, sroc, kama, px, tv, out = _kama_step(int(buf[3]), buf[4], buf[5], buf[6], buf[7], x,
                                                  buf[9 + pos], p)
        buf[3] = cnt
        buf[4] = sroc
        buf[5] = kama
        buf[6] = px
        buf[7] = tv
        buf[8] = pos
    tx_end(buf, final)
    return out


kama, kama_stream = period_indicator(
    "kama", __name__, inputs=1, kernel=_kama_kernel, upd=_kama_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p, 0, 0, 0, 0, 0, 0] + [0.0] * (p + 1),
    doc="Kaufman adaptive moving average (TA-Lib KAMA: fast 2, slow 30, lookback n).")


# --------------------------------------------------------------------------------------- TRIMA


@step
def _trima_first(x, t, p):
    """First numerator/numeratorSub/numeratorAdd for the window starting at ``x[t]`` (TA-Lib)."""
    half = p >> 1
    if p % 2 == 1:
        middle = t + half
        today = middle + half
    else:
        middle = t + half - 1
        today = middle + half
    num = 0.0
    nsub = 0.0
    i = middle
    while i >= t:
        nsub += x[i]
        num += nsub
        i -= 1
    nadd = 0.0
    i = middle + 1
    while i <= today:
        nadd += x[i]
        num += nadd
        i += 1
    return num, nsub, nadd


@step
def _trima_next(num, nsub, nadd, prev_trail, x_mid, x_today, odd):
    """Advance the TRIMA numerators by one bar (TA-Lib steps 1-3)."""
    num -= nsub
    nsub -= prev_trail
    nsub += x_mid
    if odd:
        num += nadd
        nadd -= x_mid
    else:
        nadd -= x_mid
        num += nadd
    nadd += x_today
    num += x_today
    return num, nsub, nadd


@step
def _trima_factor(p):
    half = p >> 1
    if p % 2 == 1:
        return 1.0 / float((half + 1) * (half + 1))
    return 1.0 / float(half * (half + 1))


@jit
def _trima_kernel(x, begin, p, out):
    n = x.shape[0]
    out[:begin] = NAN
    if n - begin < p:
        out[begin:] = NAN
        return
    start = begin + p - 1
    out[begin:start] = NAN
    if p == 1:
        for i in range(begin, n):
            out[i] = x[i]
        return
    factor = _trima_factor(p)
    odd = p % 2 == 1
    half = p >> 1
    num, nsub, nadd = _trima_first(x, begin, p)
    out[start] = num * factor
    # after the first output TA-Lib's middleIdx points one past the first sub half
    mid = begin + half + 1 if odd else begin + half
    trail = begin
    for today in range(start + 1, n):
        num, nsub, nadd = _trima_next(num, nsub, nadd, x[trail], x[mid], x[today], odd)
        trail += 1
        mid += 1
        out[today] = num * factor


# state: 0 pending,1 started,2 p,3 cnt,4 num,5 nsub,6 nadd,7 pos, 8.. ring(p)
@jit
def _trima_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        pos = int(buf[7])
        cnt = int(buf[3])
        ring = buf[8:8 + p]
        if p == 1:
            out = x
        elif cnt < p:
            ring[pos] = x
            pos = pos + 1 if pos + 1 < p else 0
            cnt += 1
            if cnt == p:  # ring is full, oldest at pos (== 0)
                tmp = np.empty(p)
                for j in range(p):
                    tmp[j] = ring[(pos + j) % p]
                num, nsub, nadd = _trima_first(tmp, 0, p)
                buf[4] = num
                buf[5] = nsub
                buf[6] = nadd
                out = num * _trima_factor(p)
        else:
            odd = p % 2 == 1
            half = p >> 1
            # window before this bar: ring[pos] is its oldest (trail), oldest+k at (pos+k)%p
            trail = ring[pos]
            moff = half + 1 if odd else half
            xm = ring[(pos + moff) % p]
            num, nsub, nadd = _trima_next(buf[4], buf[5], buf[6], trail, xm, x, odd)
            buf[4] = num
            buf[5] = nsub
            buf[6] = nadd
            ring[pos] = x
            pos = pos + 1 if pos + 1 < p else 0
            out = num * _trima_factor(p)
        buf[3] = cnt
        buf[7] = pos
    tx_end(buf, final)
    return out


trima, trima_stream = period_indicator(
    "trima", __name__, inputs=1, kernel=_trima_kernel, upd=_trima_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p, 0, 0, 0, 0, 0] + [0.0] * p,
    doc="Triangular moving average (TA-Lib TRIMA: SMA of SMA, computed by TA-Lib's recurrence).")


# ------------------------------------------------------------------------------- BBANDS/STDDEV


@step
def _var_value(s1, s2, run, p, ip):
    """Population variance from the shifted sums (``ip`` = 1/p); exactly 0 on a constant window."""
    if run >= p:
        return 0.0
    m1 = s1 * ip
    var = fma(-m1, m1, s2 * ip)
    return 0.0 if var < 0.0 else var


@step
def _var_slide(s1, s2, run, d, dl, p, ip):
    """Steady-state bar: the variance of the window with ``d`` (newest deviation) added, then the
    sums with ``dl`` (the oldest) removed.  Each sum gets ONE add per bar (the add/remove pair
    is combined off the dependency chain).  Returns (var, s1, s2)."""
    var = _var_value(s1 + d, fma(d, d, s2), run, p, ip)
    s1 += d - dl
    s2 += fma(d, d, -(dl * dl))
    return var, s1, s2


@step
def _var_recentre(vals, vm, i, p):
    """Re-centre on the newest value: shift K = x[i] and exact sums over the p-1 values that
    stay in the window (``vals[(i-p+2 .. i) & vm]``).  Returns (K, s1, s2)."""
    K = vals[i & vm]
    s1 = 0.0
    s2 = 0.0
    for j in range(i - p + 2, i + 1):
        dj = vals[j & vm] - K
        s1 += dj
        s2 = fma(dj, dj, s2)
    return K, s1, s2


@step
def _var_step(cnt, K, s1, s2, run, age, prev_x, x, xl, vals, vm, i, p):
    """Population variance of the window ending at ``vals[i & vm]`` (== ``x``).

    TA-Lib 0.8 returns an accurate variance (not the cancellation-prone sum-of-squares form)
    and exactly 0 for a constant window.  We keep sums of deviations from a shift ``K`` that is
    re-centred on the window every ``p`` bars (O(1) amortised, no drift), and detect constant
    windows exactly with an equal-run counter.  Returns (state..., var).
    """
    if cnt == 0:
        K = x
    run = run + 1 if (cnt > 0 and x == prev_x) else 1
    d = x - K
    if cnt < p - 1:
        s1 += d
        s2 = fma(d, d, s2)
        return cnt + 1, K, s1, s2, run, age, x, NAN
    var, s1, s2 = _var_slide(s1, s2, run, d, xl - K, p, 1.0 / p)
    age += 1
    if age >= p:  # re-centre on the newest value and recompute the p-1 remaining terms exactly
        K, s1, s2 = _var_recentre(vals, vm, i, p)
        age = 0
    return p, K, s1, s2, run, age, x, var


@step
def _var_warm(xs, p):
    """Warm-up of :func:`_var_step` over ``xs[0 .. p-2]`` (plain array, p >= 2): returns
    (K, s1, s2, run) before the first full window."""
    K = xs[0]
    s1 = 0.0
    s2 = 0.0
    run = 0
    px = K
    for j in range(p - 1):
        x = xs[j]
        run = run + 1 if (j > 0 and x == px) else 1
        px = x
        d = x - K
        s1 += d
        s2 = fma(d, d, s2)
    return K, s1, s2, run


@shared
def _bb_step(st, x, xl, vals, vm, i, p, up, dn, ma_type, k):
    """BBANDS: middle = SMA or EMA, deviation = population std of the window (TA-Lib rules).

    ``st`` = (cnt, total, ecnt, eacc, vcnt, K, s1, s2, run, age, prev_x).
    """
    cnt, total, ecnt, eacc, vcnt, K, s1, s2, run, age, px = st
    if ma_type == 0:
        cnt, total, mid = sma_step(cnt, total, x, xl, p)
        ok = cnt >= p
    else:
        ecnt, eacc, mid = ema_step(ecnt, eacc, x, p, k)
        ok = ecnt >= p
    vcnt, K, s1, s2, run, age, px, var = _var_step(vcnt, K, s1, s2, run, age, px, x, xl, vals, vm, i, p)
    st = (cnt, total, ecnt, eacc, vcnt, K, s1, s2, run, age, px)
    if not ok:
        return st, NAN, NAN, NAN
    sd = np.sqrt(var)
    return st, fma(sd, up, mid), mid, fma(-sd, dn, mid)


@jit
def _bb_kernel(x, begin, p, up, dn, ma_type, o_up, o_mid, o_lo):
    """Vectorised BBANDS: :func:`_bb_step` restructured like :func:`_stddev_kernel` (warm-up,
    then chunks of p bars, re-centre at each chunk end); the middle band uses the SMA/EMA steps'
    arithmetic in the same order, so the result is bit-identical to the stream (tested)."""
    n = x.shape[0]
    first = min(n, begin + p - 1)
    o_up[:first] = NAN
    o_mid[:first] = NAN
    o_lo[:first] = NAN
    if first >= n:
        return
    xs = x[begin:]
    K, s1, s2, run = _var_warm(xs, p)
    total = 0.0
    for j in range(p - 1):  # SMA / EMA seed: running sum of the first p-1 values
        total += xs[j]
    px = xs[p - 2]
    ip = 1.0 / p
    k = 2.0 / (p + 1)
    m = xs.shape[0]
    ou = o_up[begin:]
    om = o_mid[begin:]
    ol = o_lo[begin:]
    i = p - 1
    while i < m:
        e = min(i + p, m)
        for j in range(i, e):
            xj = xs[U(j)]
            xl = xs[U(j - p + 1)]
            run = run + 1 if xj == px else 1
            px = xj
            if ma_type == 0:  # sma_step
                total += xj
                mid = total / p
                total -= xl
            elif j == p - 1:  # ema_step: seed
                total += xj
                total = total / p
                mid = total
            else:
                total = fma(xj - total, k, total)
                mid = total
            var, s1, s2 = _var_slide(s1, s2, run, xj - K, xl - K, p, ip)
            sd = np.sqrt(var)
            ou[U(j)] = fma(sd, up, mid)
            om[U(j)] = mid
            ol[U(j)] = fma(-sd, dn, mid)
        if e - i == p:
            K, s1, s2 = _var_recentre(xs, -1, e - 1, p)
        i = e


# state: 0 pending,1 started,2 p,3 up,4 dn,5 matype,6 n(bars),7..17 step state, 18.. ring(cap)
@jit
def _bb_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    c = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        i = int(buf[6])
        cap = (buf.shape[0] // 2) - 18
        m = cap - 1
        ring = buf[18:18 + cap]
        ring[i & m] = x
        xl = ring[(i - p + 1) & m]
        st = (int(buf[7]), buf[8], int(buf[9]), buf[10], int(buf[11]), buf[12], buf[13], buf[14],
              int(buf[15]), int(buf[16]), buf[17])
        st, a, b, c = _bb_step(st, x, xl, ring, m, i, p, buf[3], buf[4], int(buf[5]), 2.0 / (p + 1))
        buf[7], buf[8], buf[9], buf[10], buf[11], buf[12] = st[0], st[1], st[2], st[3], st[4], st[5]
        buf[13], buf[14], buf[15], buf[16], buf[17] = st[6], st[7], st[8], st[9], st[10]
        buf[6] = i + 1
    tx_end(buf, final)
    return a, b, c


def bbands(real: np.ndarray, timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0,
           matype: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands -> (upperband, middleband, lowerband), population std (TA-Lib BBANDS).

    TA-Lib 0.8 defaults: timeperiod 20, nbdev 2, matype 0 (SMA); matype 1 (EMA) is also supported.
    """
    x = as_series(real, "real")
    p = period(timeperiod, "timeperiod", 2)
    up = real_param(nbdevup, "nbdevup")
    dn = real_param(nbdevdn, "nbdevdn")
    mt = matype_param(matype, "matype")
    n = len(x)
    a, b, c = np.empty(n), np.empty(n), np.empty(n)
    _bb_kernel(x, first_valid(x), p, up, dn, mt, a, b, c)
    return a, b, c


def bbands_stream(timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0,
                  matype: int = 0) -> Stream:
    p = period(timeperiod, "timeperiod", 2)
    up = real_param(nbdevup, "nbdevup")
    dn = real_param(nbdevdn, "nbdevdn")
    mt = matype_param(matype, "matype")
    return make_stream("bbands", ("close",), _bb_upd, [0, 0, p, up, dn, mt] + [0.0] * 12
                       + [0.0] * _pow2(p), {"timeperiod": p, "nbdevup": up, "nbdevdn": dn, "matype": mt},
                       ("upperband", "middleband", "lowerband"))


@jit
def _stddev_kernel(x, begin, p, nbdev, out):
    """Vectorised STDDEV: :func:`_var_step` restructured (warm-up, then chunks of p bars with a
    branch-free body and the re-centre at each chunk end) -- same arithmetic, same order, so
    bit-identical to the stream (tested)."""
    n = x.shape[0]
    first = min(n, begin + p - 1)
    out[:first] = NAN
    if first >= n:
        return
    xs = x[begin:]
    K, s1, s2, run = _var_warm(xs, p)
    px = xs[p - 2]
    ip = 1.0 / p
    i = p - 1  # index in xs of the first full window's newest bar
    m = xs.shape[0]
    o = out[begin:]
    while i < m:
        e = min(i + p, m)
        for j in range(i, e):
            xj = xs[U(j)]
            run = run + 1 if xj == px else 1
            px = xj
            var, s1, s2 = _var_slide(s1, s2, run, xj - K, xs[U(j - p + 1)] - K, p, ip)
            o[U(j)] = np.sqrt(var) * nbdev
        if e - i == p:
            K, s1, s2 = _var_recentre(xs, -1, e - 1, p)
        i = e


# state: 0 pending,1 started,2 p,3 nbdev,4 n(bars),5 cnt,6 K,7 s1,8 s2,9 run,10 age,11 prev_x, 12.. ring
@jit
def _stddev_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        i = int(buf[4])
        cap = (buf.shape[0] // 2) - 12
        m = cap - 1
        ring = buf[12:12 + cap]
        ring[i & m] = x
        cnt, K, s1, s2, run, age, px, var = _var_step(int(buf[5]), buf[6], buf[7], buf[8], int(buf[9]),
                                                      int(buf[10]), buf[11], x, ring[(i - p + 1) & m],
                                                      ring, m, i, p)
        out = np.sqrt(var) * buf[3]
        buf[5], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11] = cnt, K, s1, s2, run, age, px
        buf[4] = i + 1
    tx_end(buf, final)
    return out


def stddev(real: np.ndarray, timeperiod: int = 5, nbdev: float = 1.0) -> np.ndarray:
    """Population standard deviation times ``nbdev`` (TA-Lib STDDEV; exactly 0 on a constant window)."""
    x = as_series(real, "real")
    p = period(timeperiod, "timeperiod", 2)
    nb = real_param(nbdev, "nbdev")
    out = np.empty(len(x))
    _stddev_kernel(x, first_valid(x), p, nb, out)
    return out


def stddev_stream(timeperiod: int = 5, nbdev: float = 1.0) -> Stream:
    p = period(timeperiod, "timeperiod", 2)
    nb = real_param(nbdev, "nbdev")
    return make_stream("stddev", ("close",), _stddev_upd, [0, 0, p, nb] + [0.0] * 8 + [0.0] * _pow2(p),
                       {"timeperiod": p, "nbdev": nb}, ("real",))


# ------------------------------------------------------------------------------------ MIDPRICE


@step
def _midprice_window(high, low, vm, trail, today):
    """TA-Lib MIDPRICE body: scan of the window, oldest first, NaNs skipped."""
    lo = low[trail & vm]
    hi = high[trail & vm]
    i = trail + 1
    while i <= today:
        tmp = low[i & vm]
        if tmp < lo or lo != lo:
            lo = tmp
        tmp = high[i & vm]
        if tmp > hi or hi != hi:
            hi = tmp
        i += 1
    return (hi + lo) / 2.0


@jit
def _midprice_ref(high, low, begin, p, out):
    """Reference kernel (streaming algorithm over arrays); NaN fallback and test oracle."""
    n = high.shape[0]
    out[:min(n, begin + p - 1)] = NAN
    for today in range(begin + p - 1, n):
        out[today] = _midprice_window(high, low, -1, today - p + 1, today)


@step
def _suffix_block(high, low, o, p, SH, SL, base):
    """Suffix highs/lows of bars ``o .. o+p-1`` into ``SH``/``SL[base:base+p]``.
    Returns (highest, lowest, NaN seen) of the block."""
    mh = -INF
    ml = INF
    bad = False
    for jj in range(p):
        j = U(p - 1 - jj)
        xh = high[U(o) + j]
        xl = low[U(o) + j]
        bad |= (xh != xh) | (xl != xl)
        mh = xh if xh > mh else mh
        ml = xl if xl < ml else ml
        SH[base + j] = mh
        SL[base + j] = ml
    return mh, ml, bad


@jit
def _midprice_kernel(high, low, begin, p, out):
    """Vectorised MIDPRICE: van Herk / Gil-Werman blocks, MIDPRICE-specific.  Returns True if
    a NaN was seen after ``begin`` (the wrapper then uses :func:`_midprice_ref`).

    Bars after the first window form aligned blocks of ``p``; the window ending at a bar =
    the suffix of the previous block + the prefix of its own block.  Blocks go in pairs: one
    backward pass stores both blocks' suffix highs/lows, one forward pass runs their prefix
    highs/lows (four independent chains) and writes ``(hi + lo) / 2`` straight to ``out`` (no
    chunk of extremes in between, unlike the shared :func:`._core.blk_extremes`).  Suffix
    buffers rotate through three slots instead of being copied.  Max and min are exact, so the
    values equal the stream's window scan for NaN-free input.
    """
    n = high.shape[0]
    first = min(n, begin + p - 1)
    out[:first] = NAN
    if first >= n:
        return False
    w1 = p + 1
    SH = np.full(3 * w1, -INF)  # three suffix slots of p+1 (index p = -inf/+inf sentinel)
    SL = np.full(3 * w1, INF)
    mh, ml, bad = _suffix_block(high, low, begin, p, SH, SL, U(0))  # first window = first block
    out[first] = (mh + ml) / 2.0
    sp = 0  # slot holding the previous block's suffix
    oa = begin + p
    while oa + 2 * p <= n:
        ob = oa + p
        sa = sp + 1 if sp < 2 else 0
        sb = sa + 1 if sa < 2 else 0
        P = U(sp * w1)
        A = U(sa * w1)
        B = U(sb * w1)
        ah = -INF
        al = INF
        bh = -INF
        bl = INF
        for jj in range(p):
            j = U(p - 1 - jj)
            x = high[U(oa) + j]
            ah = x if x > ah else ah
            SH[A + j] = ah
            x = low[U(oa) + j]
            al = x if x < al else al
            SL[A + j] = al
            x = high[U(ob) + j]
            bh = x if x > bh else bh
            SH[B + j] = bh
            x = low[U(ob) + j]
            bl = x if x < bl else bl
            SL[B + j] = bl
        ah = -INF
        al = INF
        bh = -INF
        bl = INF
        for j in range(p):
            xa = high[U(oa + j)]
            ya = low[U(oa + j)]
            xb = high[U(ob + j)]
            yb = low[U(ob + j)]
            bad |= (xa != xa) | (ya != ya) | (xb != xb) | (yb != yb)
            ah = xa if xa > ah else ah
            al = ya if ya < al else al
            bh = xb if xb > bh else bh
            bl = yb if yb < bl else bl
            s = SH[P + U(j + 1)]
            hi = s if s > ah else ah
            s = SL[P + U(j + 1)]
            lo = s if s < al else al
            out[U(oa + j)] = (hi + lo) / 2.0
            s = SH[A + U(j + 1)]
            hi = s if s > bh else bh
            s = SL[A + U(j + 1)]
            lo = s if s < bl else bl
            out[U(ob + j)] = (hi + lo) / 2.0
        sp = sb
        oa += 2 * p
    P = U(sp * w1)
    A = U((sp + 1 if sp < 2 else 0) * w1)
    while oa < n:  # the last one or two blocks (the final one possibly partial)
        r = min(p, n - oa)
        if r == p:
            _suffix_block(high, low, oa, p, SH, SL, A)
        fh = -INF
        fl = INF
        for j in range(r):
            x = high[U(oa + j)]
            y = low[U(oa + j)]
            bad |= (x != x) | (y != y)
            fh = x if x > fh else fh
            fl = y if y < fl else fl
            s = SH[P + U(j + 1)]
            hi = s if s > fh else fh
            s = SL[P + U(j + 1)]
            lo = s if s < fl else fl
            out[U(oa + j)] = (hi + lo) / 2.0
        P, A = A, P
        oa += r
    return bad


# state: 0 pending,1 started,2 p,3 cnt,4 cap,5.. ring high(cap), ring low(cap)
@jit
def _midprice_upd(buf, h, l, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l):
        buf[1] = 1.0
        p = int(buf[2])
        cnt = int(buf[3])
        cap = int(buf[4])
        m = cap - 1
        buf[5 + (cnt & m)] = h
        buf[5 + cap + (cnt & m)] = l
        if cnt >= p - 1:
            out = _midprice_window(buf[5:5 + cap], buf[5 + cap:5 + 2 * cap], m, cnt - p + 1, cnt)
        buf[3] = cnt + 1
    tx_end(buf, final)
    return out


midprice, midprice_stream = period_indicator(
    "midprice", __name__, inputs=2, kernel=_midprice_kernel, upd=_midprice_upd, default=14, minimum=2,
    ref=_midprice_ref, state=lambda p: [0, 0, p, 0, _pow2(p)] + [0.0] * (2 * _pow2(p)),
    doc="(highest high + lowest low) / 2 over ``timeperiod`` bars (TA-Lib MIDPRICE).")


def _pow2(n: int) -> int:
    c = 1
    while c < n:
        c <<= 1
    return c


# ----------------------------------------------------------------------------------------- SAR


@shared
def _sar_step(cnt, is_long, sar, ep, af, new_h, new_l, h, l, acc, mx):
    """TA-Lib SAR state machine.  State: cnt, is_long, sar, ep, af, newHigh, newLow."""
    if cnt == 0:  # first bar only establishes the extreme
        return 1, is_long, sar, ep, af, h, l, NAN
    if cnt == 1:  # direction from -DM(1) between bar 0 and bar 1, then bootstrap like TA-Lib
        diff_p = h - new_h
        diff_m = new_l - l
        is_long = 0 if (diff_m > 0 and diff_p < diff_m) else 1
        if is_long == 1:
            ep = h
            sar = new_l
        else:
            ep = l
            sar = new_h
        new_l = l
        new_h = h
        af = acc
    prev_l = new_l
    prev_h = new_h
    new_l = l
    new_h = h
    if is_long == 1:
        if new_l <= sar:
            is_long = 0
            sar = ep
            if sar < prev_h:
                sar = prev_h
            if sar < new_h:
                sar = new_h
            out = sar
            af = acc
            ep = new_l
            sar = fma(af, ep - sar, sar)
            if sar < prev_h:
                sar = prev_h
            if sar < new_h:
                sar = new_h
        else:
            out = sar
            if new_h > ep:
                ep = new_h
                af += acc
                if af > mx:
                    af = mx
            sar = fma(af, ep - sar, sar)
            if sar > prev_l:
                sar = prev_l
            if sar > new_l:
                sar = new_l
    elif new_h >= sar:
        is_long = 1
        sar = ep
        if sar > prev_l:
            sar = prev_l
        if sar > new_l:
            sar = new_l
        out = sar
        af = acc
        ep = new_h
        sar = fma(af, ep - sar, sar)
        if sar > prev_l:
            sar = prev_l
        if sar > new_l:
            sar = new_l
    else:
        out = sar
        if new_l < ep:
            ep = new_l
            af += acc
            if af > mx:
                af = mx
        sar = fma(af, ep - sar, sar)
        if sar < prev_h:
            sar = prev_h
        if sar < new_h:
            sar = new_h
    return 2, is_long, sar, ep, af, new_h, new_l, out


@jit
def _sar_kernel(high, low, begin, acc, mx, out):
    out[:begin] = NAN
    cnt = rt_int(0, begin)
    is_long = rt_int(1, begin)
    sar = 0.0
    ep = 0.0
    af = acc
    nh = 0.0
    nl = 0.0
    n = high.shape[0]
    warm = min(n, begin + 2)
    for i in range(begin, warm):
        cnt, is_long, sar, ep, af, nh, nl, o = _sar_step(cnt, is_long, sar, ep, af, nh, nl, high[i],
                                                         low[i], acc, mx)
        out[i] = o
    # steady state: the body of :func:`_sar_step` for cnt >= 2, same arithmetic and order; the
    # common (no reversal) case uses selects instead of branches
    for i in range(warm, n):
        u = U(i)
        prev_l = nl
        prev_h = nh
        nl = low[u]
        nh = high[u]
        if is_long == 1:
            if nl <= sar:
                is_long = 0
                sar = ep
                if sar < prev_h:
                    sar = prev_h
                if sar < nh:
                    sar = nh
                out[u] = sar
                af = acc
                ep = nl
                sar = fma(af, ep - sar, sar)
                if sar < prev_h:
                    sar = prev_h
                if sar < nh:
                    sar = nh
            else:
                out[u] = sar
                up = nh > ep
                ep = nh if up else ep
                a2 = af + acc
                a2 = mx if a2 > mx else a2
                af = a2 if up else af
                sar = fma(af, ep - sar, sar)
                sar = prev_l if sar > prev_l else sar
                sar = nl if sar > nl else sar
        elif nh >= sar:
            is_long = 1
            sar = ep
            if sar > prev_l:
                sar = prev_l
            if sar > nl:
                sar = nl
            out[u] = sar
            af = acc
            ep = nh
            sar = fma(af, ep - sar, sar)
            if sar > prev_l:
                sar = prev_l
            if sar > nl:
                sar = nl
        else:
            out[u] = sar
            dn = nl < ep
            ep = nl if dn else ep
            a2 = af + acc
            a2 = mx if a2 > mx else a2
            af = a2 if dn else af
            sar = fma(af, ep - sar, sar)
            sar = prev_h if sar < prev_h else sar
            sar = nh if sar < nh else sar


# state: 0 pending,1 started,2 acc,3 max,4 cnt,5 is_long,6 sar,7 ep,8 af,9 nh,10 nl
@jit
def _sar_upd(buf, h, l, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l):
        buf[1] = 1.0
        cnt, il, sar, ep, af, nh, nl, out = _sar_step(int(buf[4]), int(buf[5]), buf[6], buf[7], buf[8],
                                                      buf[9], buf[10], h, l, buf[2], buf[3])
        buf[4] = cnt
        buf[5] = il
        buf[6] = sar
        buf[7] = ep
        buf[8] = af
        buf[9] = nh
        buf[10] = nl
    tx_end(buf, final)
    return out


def _sar_params(acceleration: float, maximum: float) -> tuple[float, float]:
    acc = real_param(acceleration, "acceleration", 0.0)
    mx = real_param(maximum, "maximum", 0.0)
    return (mx if acc > mx else acc), mx  # TA-Lib clamps acceleration to maximum


def sar(high: np.ndarray, low: np.ndarray, acceleration: float = 0.02,
        maximum: float = 0.2) -> np.ndarray:
    """Parabolic SAR (TA-Lib SAR: first bar consumed, direction from -DM of bars 0-1)."""
    (h, l), n = series({"high": high, "low": low})
    acc, mx = _sar_params(acceleration, maximum)
    out = np.empty(n)
    _sar_kernel(h, l, first_valid(h, l), acc, mx, out)
    return out


def sar_stream(acceleration: float = 0.02, maximum: float = 0.2) -> Stream:
    acc, mx = _sar_params(acceleration, maximum)
    return make_stream("sar", ("high", "low"), _sar_upd, [0, 0, acc, mx, 0, 1, 0, 0, acc, 0, 0],
                       {"acceleration": acc, "maximum": mx}, ("real",))
