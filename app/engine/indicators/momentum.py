"""Momentum oscillators: RSI, MACD, APO, PPO, MOM, ROC, TRIX, CCI, ULTOSC.

Shared-step design as in :mod:`.overlap`: every value comes from one ``*_step`` used by both
the vectorised kernel and the streaming update.  TA-Lib arithmetic order and warm-up.
"""
from __future__ import annotations

import numpy as np

from ._core import NAN, U, ema_step, fma, is_zero, rt_int, sma_step, tx_begin, tx_end
from ._numba_setup import jit, shared, step
from ._stream import Stream, make_stream
from ._validate import as_series, first_valid, period, series
from ._validate import matype as matype_param
from ._wrap import period_indicator

# ----------------------------------------------------------------------------------------- RSI


@step
def rsi_step(cnt, prev, gain, loss, x, p):
    """TA-Lib 0.8.1 RSI (Wilder smoothing, unstable period 0).  Returns (cnt, prev, gain, loss, out).

    Arithmetic as in TA-Lib 0.8.1's binary: ``up = d if d > 0 else 0``, the loss term is
    ``up - d``, sums are scaled by the reciprocal ``1/p`` and smoothed as
    ``(avg*(p-1) + term) * (1/p)`` (no division in the recurrence, no FMA).
    """
    if cnt == 0:
        return 1, x, gain, loss, NAN
    d = x - prev
    up = d if d > 0.0 else 0.0
    dn = up - d
    if cnt < p:
        return cnt + 1, x, gain + up, loss + dn, NAN
    inv = 1.0 / p
    if cnt == p:
        gain = (gain + up) * inv
        loss = (loss + dn) * inv
    else:
        pm1 = float(p - 1)
        gain = (gain * pm1 + up) * inv
        loss = (dn + loss * pm1) * inv
    return p + 1, x, gain, loss, _rsi_out(gain, loss)


@step
def _rsi_out(gain, loss):
    s = gain + loss
    return 100.0 * (gain / s) if s > 0.0 else 0.0  # TA-Lib 0.8: 0 when flat or NaN


@jit
def _rsi_kernel(x, begin, p, out):
    """Vectorised RSI: warm-up loop, then a branch-free steady loop.  Same arithmetic, in the
    same order, as :func:`rsi_step` (tests check bit equality with the streaming form)."""
    n = x.shape[0]
    first = min(n, begin + p)
    out[:first] = NAN
    if first >= n:
        return
    gain = 0.0
    loss = 0.0
    for i in range(begin + 1, begin + p + 1):
        d = x[i] - x[i - 1]
        up = d if d > 0.0 else 0.0
        gain += up
        loss += up - d
    inv = 1.0 / p
    gain *= inv
    loss *= inv
    out[first] = _rsi_out(gain, loss)
    pm1 = float(p - 1)
    xs = x[first + 1:]
    xp = x[first:]
    o = out[first + 1:]
    for k in range(xs.shape[0]):
        d = xs[k] - xp[k]
        up = d if d > 0.0 else 0.0
        gain = (gain * pm1 + up) * inv
        loss = ((up - d) + loss * pm1) * inv
        o[k] = _rsi_out(gain, loss)


@jit
def _rsi_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        cnt, prev, gain, loss, out = rsi_step(int(buf[3]), buf[4], buf[5], buf[6], x, int(buf[2]))
        buf[3], buf[4], buf[5], buf[6] = cnt, prev, gain, loss
    tx_end(buf, final)
    return out


rsi, rsi_stream = period_indicator(
    "rsi", __name__, inputs=1, kernel=_rsi_kernel, upd=_rsi_upd, default=14, minimum=2,
    state=lambda p: [0, 0, p, 0, 0, 0, 0],
    doc="Relative strength index, Wilder smoothing (TA-Lib RSI, lookback n, 0 when flat).")


# ---------------------------------------------------------------------------------------- MACD


@step
def macd_step(st, x, fast, slow, sig, kf, ks, kg):
    """TA-Lib MACD: both EMAs SMA-seeded, the fast seed window ends on the slow one's last bar.

    st = (cnt, cf, af, cs, as, cg, ag).  Returns (st, macd, signal, hist).
    """
    cnt, cf, af, cs, a_s, cg, ag = st
    if cnt >= slow - fast:
        cf, af, ef = ema_step(cf, af, x, fast, kf)
    else:
        ef = NAN
    cs, a_s, es = ema_step(cs, a_s, x, slow, ks)
    cnt += 1
    if cs < slow:
        return (cnt, cf, af, cs, a_s, cg, ag), NAN, NAN, NAN
    m = ef - es
    cg, ag, g = ema_step(cg, ag, m, sig, kg)
    st = (cnt, cf, af, cs, a_s, cg, ag)
    if cg < sig:
        return st, NAN, NAN, NAN
    return st, m, g, m - g


@jit
def _macd_kernel(x, begin, fast, slow, sig, o1, o2, o3):
    """Vectorised MACD: :func:`macd_step` for the warm-up bars, then its steady body."""
    n = x.shape[0]
    o1[:begin] = NAN
    o2[:begin] = NAN
    o3[:begin] = NAN
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (sig + 1)
    st = (0, 0, 0.0, 0, 0.0, 0, 0.0)
    warm = min(n, begin + slow + sig - 1)
    for i in range(begin, warm):
        st, o1[i], o2[i], o3[i] = macd_step(st, x[i], fast, slow, sig, kf, ks, kg)
    cnt, cf, af, cs, a_s, cg, ag = st
    for i in range(warm, n):
        u = U(i)
        xi = x[u]
        af = fma(xi - af, kf, af)
        a_s = fma(xi - a_s, ks, a_s)
        m = af - a_s
        ag = fma(m - ag, kg, ag)
        o1[u] = m
        o2[u] = ag
        o3[u] = m - ag


# state: 0 pending,1 started,2 fast,3 slow,4 sig,5..11 step state
@jit
def _macd_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    c = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        fast, slow, sig = int(buf[2]), int(buf[3]), int(buf[4])
        st = (int(buf[5]), int(buf[6]), buf[7], int(buf[8]), buf[9], int(buf[10]), buf[11])
        st, a, b, c = macd_step(st, x, fast, slow, sig, 2.0 / (fast + 1), 2.0 / (slow + 1),
                                2.0 / (sig + 1))
        buf[5], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11] = st
    tx_end(buf, final)
    return a, b, c


def _macd_params(fastperiod: int, slowperiod: int, signalperiod: int) -> tuple[int, int, int]:
    f = period(fastperiod, "fastperiod", 2)
    s = period(slowperiod, "slowperiod", 2)
    g = period(signalperiod, "signalperiod", 1)
    if s < f:  # TA-Lib swaps
        f, s = s, f
    return f, s, g


def macd(real: np.ndarray, fastperiod: int = 12, slowperiod: int = 26,
         signalperiod: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD -> (macd, macdsignal, macdhist) (TA-Lib MACD, lookback slow-1 + signal-1)."""
    x = as_series(real, "real")
    f, s, g = _macd_params(fastperiod, slowperiod, signalperiod)
    n = len(x)
    a, b, c = np.empty(n), np.empty(n), np.empty(n)
    _macd_kernel(x, first_valid(x), f, s, g, a, b, c)
    return a, b, c


def macd_stream(fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9) -> Stream:
    f, s, g = _macd_params(fastperiod, slowperiod, signalperiod)
    return make_stream("macd", ("close",), _macd_upd, [0, 0, f, s, g] + [0.0] * 7,
                       {"fastperiod": f, "slowperiod": s, "signalperiod": g},
                       ("macd", "macdsignal", "macdhist"))


# ------------------------------------------------------------------------------------ APO / PPO


@step
def po_step(st, x, xl_fast, xl_slow, fast, slow, mt, pct):
    """TA-Lib INT_PO: fast MA minus slow MA, each MA started on the first bar.

    st = (cnt, cf, af, cs, as).  ``xl_*`` = oldest value of each SMA window.
    """
    cnt, cf, af, cs, a_s = st
    if mt == 0:
        cf, af, ef = sma_step(cf, af, x, xl_fast, fast)
        cs, a_s, es = sma_step(cs, a_s, x, xl_slow, slow)
    else:  # unlike MACD, TA_MA runs the fast EMA from the first bar
        cf, af, ef = ema_step(cf, af, x, fast, 2.0 / (fast + 1))
        cs, a_s, es = ema_step(cs, a_s, x, slow, 2.0 / (slow + 1))
    cnt += 1
    st = (cnt, cf, af, cs, a_s)
    if cs < slow:
        return st, NAN
    if pct:
        if not is_zero(es):
            return st, ((ef - es) / es) * 100.0
        return st, 0.0
    return st, ef - es


@jit
def _po_kernel(x, begin, fast, slow, mt, pct, out):
    out[:begin] = NAN
    st = (0, 0, 0.0, 0, 0.0)
    for i in range(begin, x.shape[0]):
        jf = i - fast + 1
        js = i - slow + 1
        st, o = po_step(st, x[i], x[jf] if jf >= begin else 0.0, x[js] if js >= begin else 0.0,
                        fast, slow, mt, pct)
        out[i] = o


# state: 0 pending,1 started,2 fast,3 slow,4 mt,5 pct,6..10 step,11 n, 12.. ring(cap)
@jit
def _po_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        fast, slow = int(buf[2]), int(buf[3])
        i = int(buf[11])
        cap = buf.shape[0] // 2 - 12
        m = cap - 1
        ring = buf[12:12 + cap]
        ring[i & m] = x
        st = (int(buf[6]), int(buf[7]), buf[8], int(buf[9]), buf[10])
        st, out = po_step(st, x, ring[(i - fast + 1) & m], ring[(i - slow + 1) & m], fast, slow,
                          int(buf[4]), buf[5] != 0.0)
        buf[6], buf[7], buf[8], buf[9], buf[10] = st
        buf[11] = i + 1
    tx_end(buf, final)
    return out


def _po_params(fastperiod: int, slowperiod: int, matype: int) -> tuple[int, int, int]:
    f = period(fastperiod, "fastperiod", 2)
    s = period(slowperiod, "slowperiod", 2)
    mt = matype_param(matype, "matype")
    if s < f:
        f, s = s, f
    return f, s, mt


def _po(real: np.ndarray, fastperiod: int, slowperiod: int, matype: int, pct: bool) -> np.ndarray:
    x = as_series(real, "real")
    f, s, mt = _po_params(fastperiod, slowperiod, matype)
    out = np.empty(len(x))
    _po_kernel(x, first_valid(x), f, s, mt, pct, out)
    return out


def apo(real: np.ndarray, fastperiod: int = 12, slowperiod: int = 26, matype: int = 1) -> np.ndarray:
    """Absolute price oscillator, fast MA - slow MA (TA-Lib APO; TA-Lib 0.8 default matype 1=EMA)."""
    return _po(real, fastperiod, slowperiod, matype, False)


def ppo(real: np.ndarray, fastperiod: int = 12, slowperiod: int = 26, matype: int = 1) -> np.ndarray:
    """Percentage price oscillator, 100*(fast-slow)/slow (TA-Lib PPO; default matype 1=EMA)."""
    return _po(real, fastperiod, slowperiod, matype, True)


def _pow2(n: int) -> int:
    c = 1
    while c < n:
        c <<= 1
    return c


def _po_stream(name: str, fastperiod: int, slowperiod: int, matype: int, pct: bool) -> Stream:
    f, s, mt = _po_params(fastperiod, slowperiod, matype)
    return make_stream(name, ("close",), _po_upd, [0, 0, f, s, mt, 1.0 if pct else 0.0] + [0.0] * 6
                       + [0.0] * _pow2(s), {"fastperiod": f, "slowperiod": s, "matype": mt}, ("real",))


def apo_stream(fastperiod: int = 12, slowperiod: int = 26, matype: int = 1) -> Stream:
    return _po_stream("apo", fastperiod, slowperiod, matype, False)


def ppo_stream(fastperiod: int = 12, slowperiod: int = 26, matype: int = 1) -> Stream:
    return _po_stream("ppo", fastperiod, slowperiod, matype, True)


# ------------------------------------------------------------------------------------ MOM / ROC


@step
def diff_step(x, x_back, cnt, p, kind):
    """kind 0: MOM = x - x[-p]; kind 1: ROC = (x/x[-p] - 1)*100 (0 when x[-p] == 0)."""
    if cnt < p:
        return cnt + 1, NAN
    if kind == 0:
        return p, x - x_back
    if x_back != 0.0:
        return p, ((x / x_back) - 1.0) * 100.0
    return p, 0.0


@jit
def _diff_kernel(x, begin, p, kind, out):
    """Vectorised MOM/ROC: NaN warm-up, then the steady-state body of :func:`diff_step`."""
    n = x.shape[0]
    first = min(n, begin + p)
    out[:first] = NAN
    xs = x[first:]
    xb = x[first - p:]
    o = out[first:]
    if kind == 0:
        for k in range(xs.shape[0]):
            o[k] = xs[k] - xb[k]
    else:
        for k in range(xs.shape[0]):
            b = xb[k]
            o[k] = ((xs[k] / b) - 1.0) * 100.0 if b != 0.0 else 0.0


# state: 0 pending,1 started,2 p,3 kind,4 cnt,5 n, 6.. ring(cap >= p+1)
@jit
def _diff_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        i = int(buf[5])
        cap = buf.shape[0] // 2 - 6
        m = cap - 1
        ring = buf[6:6 + cap]
        ring[i & m] = x
        cnt, out = diff_step(x, ring[(i - p) & m], int(buf[4]), p, int(buf[3]))
        buf[4] = cnt
        buf[5] = i + 1
    tx_end(buf, final)
    return out


mom, mom_stream = period_indicator(
    "mom", __name__, inputs=1, kernel=_diff_kernel, upd=_diff_upd, default=10, minimum=1, extra=(0,),
    state=lambda p: [0, 0, p, 0, 0, 0] + [0.0] * _pow2(p + 1),
    doc="Momentum x - x[n bars ago] (TA-Lib MOM).")


roc, roc_stream = period_indicator(
    "roc", __name__, inputs=1, kernel=_diff_kernel, upd=_diff_upd, default=10, minimum=1, extra=(1,),
    state=lambda p: [0, 0, p, 1, 0, 0] + [0.0] * _pow2(p + 1),
    doc="Rate of change in percent, 0 when the base is 0 (TA-Lib ROC).")


# ---------------------------------------------------------------------------------------- TRIX


@step
def trix_step(st, x, p, k):
    """1-bar ROC of a triple-smoothed EMA (TA-Lib TRIX, lookback 3*(n-1)+1)."""
    c1, a1, c2, a2, c3, a3, prev = st
    c1, a1, e1 = ema_step(c1, a1, x, p, k)
    if c1 < p:
        return (c1, a1, c2, a2, c3, a3, prev), NAN
    c2, a2, e2 = ema_step(c2, a2, e1, p, k)
    if c2 < p:
        return (c1, a1, c2, a2, c3, a3, prev), NAN
    first = c3 < p
    c3, a3, e3 = ema_step(c3, a3, e2, p, k)
    if c3 < p:
        return (c1, a1, c2, a2, c3, a3, prev), NAN
    st = (c1, a1, c2, a2, c3, a3, e3)
    if first:
        return st, NAN
    if prev != 0.0:
        return st, ((e3 / prev) - 1.0) * 100.0
    return st, 0.0


@jit
def _trix_kernel(x, begin, p, out):
    """Vectorised TRIX: :func:`trix_step` for the warm-up bars, then its steady body."""
    n = x.shape[0]
    out[:begin] = NAN
    k = 2.0 / (p + 1)
    st = (0, 0.0, 0, 0.0, 0, 0.0, 0.0)
    warm = min(n, begin + 3 * p - 1)
    for i in range(begin, warm):
        st, out[i] = trix_step(st, x[i], p, k)
    c1, a1, c2, a2, c3, a3, prev = st
    for i in range(warm, n):
        u = U(i)
        a1 = fma(x[u] - a1, k, a1)
        a2 = fma(a1 - a2, k, a2)
        a3 = fma(a2 - a3, k, a3)
        out[u] = ((a3 / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0
        prev = a3


@jit
def _trix_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        p = int(buf[2])
        st = (int(buf[3]), buf[4], int(buf[5]), buf[6], int(buf[7]), buf[8], buf[9])
        st, out = trix_step(st, x, p, 2.0 / (p + 1))
        buf[3], buf[4], buf[5], buf[6], buf[7], buf[8], buf[9] = st
    tx_end(buf, final)
    return out


trix, trix_stream = period_indicator(
    "trix", __name__, inputs=1, kernel=_trix_kernel, upd=_trix_upd, default=30, minimum=1,
    state=lambda p: [0, 0, p] + [0.0] * 7, doc="TRIX: percent rate of change of EMA(EMA(EMA(x))).")


# ----------------------------------------------------------------------------------------- CCI


@shared
def cci_step(ring, pos, cnt, h, l, c, p):
    """TA-Lib CCI: circular buffer of typical prices, mean deviation summed in slot order."""
    last = (h + l + c) / 3
    ring[pos] = last
    pos = pos + 1 if pos + 1 < p else 0
    if cnt < p - 1:
        return pos, cnt + 1, NAN
    avg = 0.0
    for j in range(p):
        avg += ring[j]
    avg /= p
    dev = 0.0
    for j in range(p):
        dev += abs(ring[j] - avg)
    t = last - avg
    if not is_zero(t) and not is_zero(dev):
        return pos, p, t / (0.015 * (dev / p))
    return pos, p, 0.0


@step
def _cci_value(last, avg, dev, p):
    t = last - avg
    if not is_zero(t) and not is_zero(dev):
        return t / (0.015 * (dev / p))
    return 0.0


@jit
def _cci_kernel(h, l, c, begin, p, out):
    """Vectorised CCI: :func:`cci_step` fills the ring, then bars are processed in pairs whose
    sums run side by side (two independent add chains), each in :func:`cci_step`'s slot order
    and arithmetic (bar i+1's ring = bar i's with one slot replaced, chosen by a select)."""
    n = h.shape[0]
    out[:begin] = NAN
    ring = np.zeros(p)
    pos = rt_int(0, begin)
    cnt = rt_int(0, begin)
    first = min(n, begin + p - 1)
    for i in range(begin, first):
        pos, cnt, o = cci_step(ring, pos, cnt, h[i], l[i], c[i], p)
        out[i] = o
    i = first
    while i + 1 < n:
        ta = (h[i] + l[i] + c[i]) / 3
        ring[pos] = ta
        pos = pos + 1 if pos + 1 < p else 0
        tb = (h[i + 1] + l[i + 1] + c[i + 1]) / 3
        sa = 0.0
        sb = 0.0
        for j in range(p):
            v = ring[j]
            sa += v
            sb += tb if j == pos else v
        sa /= p
        sb /= p
        da = 0.0
        db = 0.0
        for j in range(p):
            v = ring[j]
            da += abs(v - sa)
            db += abs((tb if j == pos else v) - sb)
        out[i] = _cci_value(ta, sa, da, p)
        out[i + 1] = _cci_value(tb, sb, db, p)
        ring[pos] = tb
        pos = pos + 1 if pos + 1 < p else 0
        i += 2
    if i < n:
        pos, cnt, o = cci_step(ring, pos, p, h[i], l[i], c[i], p)
        out[i] = o


# state: 0 pending,1 started,2 p,3 pos,4 cnt,5.. ring(p)
@jit
def _cci_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        p = int(buf[2])
        pos, cnt, out = cci_step(buf[5:5 + p], int(buf[3]), int(buf[4]), h, l, c, p)
        buf[3] = pos
        buf[4] = cnt
    tx_end(buf, final)
    return out


cci, cci_stream = period_indicator(
    "cci", __name__, inputs=3, kernel=_cci_kernel, upd=_cci_upd, default=14, minimum=2,
    state=lambda p: [0, 0, p, 0, 0] + [0.0] * p, doc="Commodity channel index (TA-Lib CCI, 0 when flat).")


# -------------------------------------------------------------------------------------- ULTOSC


@step
def _uo_term(h, l, c, pc):
    """ULTOSC terms of one bar: (close - true low, true range), TA-Lib's comparison order."""
    true_low = l if l < pc else pc
    tr = h - l
    tmp = abs(pc - h)
    if tmp > tr:
        tr = tmp
    tmp = abs(pc - l)
    if tmp > tr:
        tr = tmp
    return c - true_low, tr


@step
def _uo_value(a1, a2, a3, b1, b2, b3):
    out = 0.0
    if b1 > 0.0:
        out = fma(4.0, a1 / b1, out)
    if b2 > 0.0:
        out = fma(2.0, a2 / b2, out)
    if b3 > 0.0:
        out += a3 / b3
    return 100.0 * (out / 7.0)


@shared
def ultosc_step(st, ring_a, ring_b, h, l, c, p1, p2, p3):
    """TA-Lib ULTOSC.  p1<p2<p3 sorted; ring of the last p3 (close-trueLow, trueRange) terms.

    st = (cnt, prev_close, a1, a2, a3, b1, b2, b3).
    """
    cnt, pc, a1, a2, a3, b1, b2, b3 = st
    if cnt == 0:
        return (1, c, a1, a2, a3, b1, b2, b3), NAN
    cmtl, tr = _uo_term(h, l, c, pc)
    slot = cnt % p3
    ring_a[slot] = cmtl
    ring_b[slot] = tr
    if cnt < p3:
        if cnt >= p3 - p1 + 1:
            a1 += cmtl
            b1 += tr
        if cnt >= p3 - p2 + 1:
            a2 += cmtl
            b2 += tr
        a3 += cmtl
        b3 += tr
        return (cnt + 1, c, a1, a2, a3, b1, b2, b3), NAN
    a1 += cmtl
    a2 += cmtl
    a3 += cmtl
    b1 += tr
    b2 += tr
    b3 += tr
    out = _uo_value(a1, a2, a3, b1, b2, b3)
    s1 = (cnt - p1 + 1) % p3
    s2 = (cnt - p2 + 1) % p3
    s3 = (cnt - p3 + 1) % p3
    a1 -= ring_a[s1]
    b1 -= ring_b[s1]
    a2 -= ring_a[s2]
    b2 -= ring_b[s2]
    a3 -= ring_a[s3]
    b3 -= ring_b[s3]
    return (cnt + 1, c, a1, a2, a3, b1, b2, b3), out


@jit
def _ultosc_kernel(h, l, c, begin, p1, p2, p3, out):
    """Vectorised ULTOSC: :func:`ultosc_step` for the p3 warm-up bars, then a steady loop with
    the same arithmetic but a power-of-two ring (mask instead of ``%``).  :func:`_uo_term` is a
    pure function of the bar, so the ring holds the very values the stream keeps."""
    n = h.shape[0]
    out[:begin] = NAN
    ra = np.zeros(p3)
    rb = np.zeros(p3)
    st = (rt_int(0, begin), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    warm = min(n, begin + p3)
    for i in range(begin, warm):
        st, out[i] = ultosc_step(st, ra, rb, h[i], l[i], c[i], p1, p2, p3)
    if warm >= n:
        return
    cnt, pc, a1, a2, a3, b1, b2, b3 = st
    cap = 1
    while cap < p3:
        cap <<= 1
    m = cap - 1
    RA = np.empty(cap)  # terms of the last p3 bars, slot = bar index & m
    RB = np.empty(cap)
    for i in range(warm - p3 + 1, warm):
        RA[i & m], RB[i & m] = _uo_term(h[i], l[i], c[i], c[i - 1])
    for i in range(warm, n):
        u = U(i)
        cm, tr = _uo_term(h[u], l[u], c[u], c[U(i - 1)])
        RA[u & U(m)] = cm
        RB[u & U(m)] = tr
        a1 += cm
        a2 += cm
        a3 += cm
        b1 += tr
        b2 += tr
        b3 += tr
        out[u] = _uo_value(a1, a2, a3, b1, b2, b3)
        j = U((i - p1 + 1) & m)
        a1 -= RA[j]
        b1 -= RB[j]
        j = U((i - p2 + 1) & m)
        a2 -= RA[j]
        b2 -= RB[j]
        j = U((i - p3 + 1) & m)
        a3 -= RA[j]
        b3 -= RB[j]


# state: 0 pending,1 started,2 p1,3 p2,4 p3,5..12 step, 13.. ring a(p3), ring b(p3)
@jit
def _ultosc_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        p1, p2, p3 = int(buf[2]), int(buf[3]), int(buf[4])
        st = (int(buf[5]), buf[6], buf[7], buf[8], buf[9], buf[10], buf[11], buf[12])
        st, out = ultosc_step(st, buf[13:13 + p3], buf[13 + p3:13 + 2 * p3], h, l, c, p1, p2, p3)
        buf[5], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11], buf[12] = st
    tx_end(buf, final)
    return out


def _ultosc_params(t1: int, t2: int, t3: int) -> tuple[int, int, int]:
    ps = sorted([period(t1, "timeperiod1", 1), period(t2, "timeperiod2", 1), period(t3, "timeperiod3", 1)])
    return ps[0], ps[1], ps[2]


def ultosc(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod1: int = 7,
           timeperiod2: int = 14, timeperiod3: int = 28) -> np.ndarray:
    """Ultimate oscillator (TA-Lib ULTOSC; periods are sorted, weights 4/2/1 short->long)."""
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    p1, p2, p3 = _ultosc_params(timeperiod1, timeperiod2, timeperiod3)
    out = np.empty(n)
    _ultosc_kernel(h, l, c, first_valid(h, l, c), p1, p2, p3, out)
    return out


def ultosc_stream(timeperiod1: int = 7, timeperiod2: int = 14, timeperiod3: int = 28) -> Stream:
    p1, p2, p3 = _ultosc_params(timeperiod1, timeperiod2, timeperiod3)
    return make_stream("ultosc", ("high", "low", "close"), _ultosc_upd,
                       [0, 0, p1, p2, p3] + [0.0] * 8 + [0.0] * (2 * p3),
                       {"timeperiod1": timeperiod1, "timeperiod2": timeperiod2, "timeperiod3": timeperiod3},
                       ("real",))
