"""Trader indicators TA-Lib lacks: SUPERTREND, KELTNER, DONCHIAN, ICHIMOKU, HEIKIN_ASHI.

Conventions (documented per function) are the common charting-package ones; all are causal
(value at bar i uses bars <= i only), so streaming and vectorised forms agree exactly.
"""
from __future__ import annotations

import numpy as np

from ._core import (NAN, U, blk_extremes, blk_first, blk_scratch, ema_step, fma, pow2_at_least, rt_bool, rt_int,
                    tx_begin, tx_end)
from ._numba_setup import jit, shared, step
from ._stream import Stream, make_stream
from ._validate import first_valid, period, real, series
from .directional import atr_step
from .oscillators import hl_window

# ----------------------------------------------------------------------------------- SUPERTREND


@step
def supertrend_step(st, h, l, c, p, mult):
    """ATR (TA-Lib/Wilder) bands around hl2 with the usual ratchet rules.

    st = (atr_cnt, prev_close_atr, atr, up, dn, trend, prev_close, have_prev).
    Returns (st, supertrend, direction) with direction +1 (up) / -1 (down).
    """
    ac, apc, a, up, dn, trend, pc, have = st
    (ac, apc, a), atr_v = atr_step((ac, apc, a), h, l, c, p, 0)
    if atr_v != atr_v:
        return (ac, apc, a, up, dn, trend, c, have), NAN, NAN
    mid = (h + l) / 2.0
    bu = fma(-mult, atr_v, mid)
    bd = fma(mult, atr_v, mid)
    if have == 0:
        up, dn, trend = bu, bd, 1
    else:
        nu = max(bu, up) if pc > up else bu
        nd = min(bd, dn) if pc < dn else bd
        if trend == -1 and c > dn:
            trend = 1
        elif trend == 1 and c < up:
            trend = -1
        up, dn = nu, nd
    val = up if trend == 1 else dn
    return (ac, apc, a, up, dn, trend, c, 1), val, float(trend)


@jit
def _supertrend_kernel(h, l, c, begin, p, mult, o1, o2):
    o1[:begin] = NAN
    o2[:begin] = NAN
    st = (0, 0.0, 0.0, 0.0, 0.0, 1, 0.0, 0)
    for i in range(begin, h.shape[0]):
        st, o1[i], o2[i] = supertrend_step(st, h[i], l[i], c[i], p, mult)


@jit
def _supertrend_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        st = (int(buf[4]), buf[5], buf[6], buf[7], buf[8], int(buf[9]), buf[10], int(buf[11]))
        st, a, b = supertrend_step(st, h, l, c, int(buf[2]), buf[3])
        buf[4], buf[5], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11] = st
    tx_end(buf, final)
    return a, b


def supertrend(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 10,
               multiplier: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """SuperTrend -> (supertrend, direction).

    Conventions: ATR is TA-Lib's ATR(timeperiod) (Wilder); basic bands hl2 -/+ multiplier*ATR;
    the lower band only rises while the previous close stays above it, the upper band only
    falls while the previous close stays below it; the trend starts up (+1) on the first ATR
    bar and flips when the close crosses the opposite band.  Line = lower band in an uptrend,
    upper band in a downtrend.  First value at bar ``timeperiod``.
    """
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    p = period(timeperiod, "timeperiod", 1)
    m = real(multiplier, "multiplier", 0.0)
    a, b = np.empty(n), np.empty(n)
    _supertrend_kernel(h, l, c, first_valid(h, l, c), p, m, a, b)
    return a, b


def supertrend_stream(timeperiod: int = 10, multiplier: float = 3.0) -> Stream:
    p = period(timeperiod, "timeperiod", 1)
    m = real(multiplier, "multiplier", 0.0)
    return make_stream("supertrend", ("high", "low", "close"), _supertrend_upd,
                       [0, 0, p, m, 0, 0, 0, 0, 0, 1, 0, 0], {"timeperiod": p, "multiplier": m},
                       ("supertrend", "direction"))


# -------------------------------------------------------------------------------------- KELTNER


@step
def keltner_step(st, h, l, c, p, ap, mult):
    """Middle = EMA(close, p) (TA-Lib EMA); bands = middle +/- mult * ATR(ap) (TA-Lib ATR)."""
    ec, ea, ac, apc, a = st
    ec, ea, mid = ema_step(ec, ea, c, p, 2.0 / (p + 1))
    (ac, apc, a), atr_v = atr_step((ac, apc, a), h, l, c, ap, 0)
    st = (ec, ea, ac, apc, a)
    if mid != mid or atr_v != atr_v:
        return st, NAN, NAN, NAN
    return st, fma(mult, atr_v, mid), mid, fma(-mult, atr_v, mid)


@jit
def _keltner_kernel(h, l, c, begin, p, ap, mult, o1, o2, o3):
    o1[:begin] = NAN
    o2[:begin] = NAN
    o3[:begin] = NAN
    st = (0, 0.0, 0, 0.0, 0.0)
    for i in range(begin, h.shape[0]):
        st, o1[i], o2[i], o3[i] = keltner_step(st, h[i], l[i], c[i], p, ap, mult)


@jit
def _keltner_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    d = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        st = (int(buf[5]), buf[6], int(buf[7]), buf[8], buf[9])
        st, a, b, d = keltner_step(st, h, l, c, int(buf[2]), int(buf[3]), buf[4])
        buf[5], buf[6], buf[7], buf[8], buf[9] = st
    tx_end(buf, final)
    return a, b, d


def _keltner_params(timeperiod: int, atrperiod: int, multiplier: float) -> tuple[int, int, float]:
    return (period(timeperiod, "timeperiod", 1), period(atrperiod, "atrperiod", 1),
            real(multiplier, "multiplier", 0.0))


def keltner(high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int = 20,
            atrperiod: int = 10, multiplier: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keltner channel -> (upperband, middleband, lowerband): EMA(close) +/- multiplier*ATR.

    First value where both the EMA (bar timeperiod-1) and the ATR (bar atrperiod) exist.
    """
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    p, ap, m = _keltner_params(timeperiod, atrperiod, multiplier)
    a, b, d = np.empty(n), np.empty(n), np.empty(n)
    _keltner_kernel(h, l, c, first_valid(h, l, c), p, ap, m, a, b, d)
    return a, b, d


def keltner_stream(timeperiod: int = 20, atrperiod: int = 10, multiplier: float = 2.0) -> Stream:
    p, ap, m = _keltner_params(timeperiod, atrperiod, multiplier)
    return make_stream("keltner", ("high", "low", "close"), _keltner_upd, [0, 0, p, ap, m, 0, 0, 0, 0, 0],
                       {"timeperiod": p, "atrperiod": ap, "multiplier": m},
                       ("upperband", "middleband", "lowerband"))


# --------------------------------------------------------------------------- DONCHIAN/ICHIMOKU


@step
def _mid_of(mm):
    return (mm[1] + mm[3]) / 2.0


@shared
def _channels(mms, H, L, vm, i, p1, p2, p3, kind):
    """kind 0 Donchian(p1) -> (upper, middle, lower); kind 1 Ichimoku(p1,p2,p3) ->
    (tenkan, kijun, senkou_a, senkou_b, chikou)."""
    m1, m2, m3 = mms
    r1 = NAN
    r2 = NAN
    r3 = NAN
    if i >= p1 - 1:
        m1 = hl_window(m1, H, L, vm, i - p1 + 1, i, rt_bool(False, i))
        r1 = _mid_of(m1)
    if kind == 0:
        if i >= p1 - 1:
            return (m1, m2, m3), m1[1], r1, m1[3], NAN, NAN
        return (m1, m2, m3), NAN, NAN, NAN, NAN, NAN
    if i >= p2 - 1:
        m2 = hl_window(m2, H, L, vm, i - p2 + 1, i, rt_bool(False, i))
        r2 = _mid_of(m2)
    if i >= p3 - 1:
        m3 = hl_window(m3, H, L, vm, i - p3 + 1, i, rt_bool(False, i))
        r3 = _mid_of(m3)
    return (m1, m2, m3), r1, r2, (r1 + r2) / 2.0, r3, NAN


@jit
def _channels_kernel(h, l, c, begin, p1, p2, p3, kind, o1, o2, o3, o4, o5):
    n = h.shape[0]
    for o in (o1, o2, o3, o4, o5):
        o[:begin] = NAN
    e = (rt_int(-1, begin), 0.0, rt_int(-1, begin), 0.0)
    mms = (e, e, e)
    H = h[begin:]
    L = l[begin:]
    for i in range(begin, n):
        mms, o1[i], o2[i], o3[i], o4[i], o5[i] = _channels(mms, H, L, rt_int(-1, i), i - begin, p1, p2, p3, kind)
        if kind == 1:
            o5[i] = c[i]


@jit
def _blk_window(h, l, begin, p, HI, LO):
    """HI[i], LO[i] = highest high / lowest low of the ``p`` bars ending at i, for every
    i >= begin+p-1 (block rolling extremes, written straight into the given arrays).
    Returns True if a NaN was seen (callers then use the reference kernel)."""
    n = h.shape[0]
    first = begin + p - 1
    if first >= n:
        return False
    PH, PL, AH, AL, BH, BL, _, _ = blk_scratch(p)
    hi, lo, bad = blk_first(h, l, begin, p, PH, PL)
    HI[first] = hi
    LO[first] = lo
    b = first + 1
    if b < n:
        bad |= blk_extremes(h, l, b, n - b, p, PH, PL, AH, AL, BH, BL, HI[b:], LO[b:])
    return bad


@jit
def _mid_fill(a, b, out, first):
    """out[i] = (a[i] + b[i]) / 2 from ``first`` on, NaN before (a, b, out may alias)."""
    n = out.shape[0]
    first = min(n, first)
    for i in range(first, n):
        u = U(i)
        out[u] = (a[u] + b[u]) / 2.0
    out[:first] = NAN


@jit
def _channels_fast(h, l, c, begin, p1, p2, p3, kind, o1, o2, o3, o4, o5):
    """Vectorised Donchian/Ichimoku with block rolling extremes (the outputs double as scratch).
    Same values as :func:`_channels_kernel` on NaN-free input; returns True if a NaN was seen
    after the first valid bar (the wrapper then runs :func:`_channels_kernel`)."""
    n = h.shape[0]
    if kind == 0:
        bad = _blk_window(h, l, begin, p1, o1, o3)
        f = min(n, begin + p1 - 1)
        o1[:f] = NAN
        o3[:f] = NAN
        _mid_fill(o1, o3, o2, f)
        o4[:] = NAN
        o5[:] = NAN
        return bad
    bad = _blk_window(h, l, begin, p1, o1, o3)
    _mid_fill(o1, o3, o1, begin + p1 - 1)  # tenkan
    bad |= _blk_window(h, l, begin, p2, o2, o4)
    _mid_fill(o2, o4, o2, begin + p2 - 1)  # kijun
    _mid_fill(o1, o2, o3, begin + max(p1, p2) - 1)  # senkou_a
    bad |= _blk_window(h, l, begin, p3, o4, o5)
    _mid_fill(o4, o5, o4, begin + p3 - 1)  # senkou_b
    o5[:begin] = NAN
    o5[begin:] = c[begin:]
    return bad


# state: 0 pending,1 started,2 p1,3 p2,4 p3,5 kind,6 n,7..18 mms, 19.. H(cap), L(cap)
@jit
def _channels_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    r = (NAN, NAN, NAN, NAN, NAN)
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        i = int(buf[6])
        cap = (buf.shape[0] // 2 - 19) // 2
        m = cap - 1
        H = buf[19:19 + cap]
        L = buf[19 + cap:19 + 2 * cap]
        H[i & m] = h
        L[i & m] = l
        mms = ((int(buf[7]), buf[8], int(buf[9]), buf[10]), (int(buf[11]), buf[12], int(buf[13]), buf[14]),
               (int(buf[15]), buf[16], int(buf[17]), buf[18]))
        mms, a, b, d, e, f = _channels(mms, H, L, m, i, int(buf[2]), int(buf[3]), int(buf[4]), int(buf[5]))
        buf[7], buf[8], buf[9], buf[10] = mms[0]
        buf[11], buf[12], buf[13], buf[14] = mms[1]
        buf[15], buf[16], buf[17], buf[18] = mms[2]
        buf[6] = i + 1
        r = (a, b, d, e, c if int(buf[5]) == 1 else NAN)
    tx_end(buf, final)
    return r


def _channels_state(p1: int, p2: int, p3: int, kind: int) -> list[float]:
    cap = pow2_at_least(max(p1, p2, p3))
    return [0, 0, p1, p2, p3, kind, 0] + [-1, 0, -1, 0] * 3 + [0.0] * (2 * cap)


def donchian(high: np.ndarray, low: np.ndarray, timeperiod: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Donchian channel -> (upperband, middleband, lowerband): highest high, mid, lowest low of
    the last ``timeperiod`` bars including the current one (first value at bar n-1)."""
    (h, l), n = series({"high": high, "low": low})
    p = period(timeperiod, "timeperiod", 1)
    outs = [np.empty(n) for _ in range(5)]
    fv = first_valid(h, l)
    if _channels_fast(h, l, h, fv, p, 1, 1, 0, *outs):  # NaN inside: the stream's algorithm
        _channels_kernel(h, l, h, fv, p, 1, 1, 0, *outs)
    return outs[0], outs[1], outs[2]


def donchian_stream(timeperiod: int = 20) -> Stream:
    p = period(timeperiod, "timeperiod", 1)
    return _DonchianStream("donchian", _channels_upd, np.asarray(_channels_state(p, 1, 1, 0), dtype=float),
                           {"timeperiod": p}, ("upperband", "middleband", "lowerband"))


def ichimoku(high: np.ndarray, low: np.ndarray, close: np.ndarray, tenkan_period: int = 9,
             kijun_period: int = 26, senkou_period: int = 52) -> tuple[np.ndarray, ...]:
    """Ichimoku -> (tenkan, kijun, senkou_a, senkou_b, chikou), NOT displaced.

    Convention: every line is reported at the bar whose data produced it (causal, so streaming
    equals vectorised).  To draw the classic cloud, shift senkou_a/senkou_b forward by
    ``kijun_period`` bars and chikou (= close) back by ``kijun_period`` bars.
    tenkan/kijun/senkou_b = (highest high + lowest low)/2 over their periods; senkou_a =
    (tenkan + kijun)/2.
    """
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    p1 = period(tenkan_period, "tenkan_period", 1)
    p2 = period(kijun_period, "kijun_period", 1)
    p3 = period(senkou_period, "senkou_period", 1)
    outs = [np.empty(n) for _ in range(5)]
    fv = first_valid(h, l, c)
    if _channels_fast(h, l, c, fv, p1, p2, p3, 1, *outs):  # NaN inside: the stream's algorithm
        _channels_kernel(h, l, c, fv, p1, p2, p3, 1, *outs)
    return tuple(outs)


def ichimoku_stream(tenkan_period: int = 9, kijun_period: int = 26, senkou_period: int = 52) -> Stream:
    p1 = period(tenkan_period, "tenkan_period", 1)
    p2 = period(kijun_period, "kijun_period", 1)
    p3 = period(senkou_period, "senkou_period", 1)
    return make_stream("ichimoku", ("high", "low", "close"), _channels_upd, _channels_state(p1, p2, p3, 1),
                       {"tenkan_period": p1, "kijun_period": p2, "senkou_period": p3},
                       ("tenkan", "kijun", "senkou_a", "senkou_b", "chikou"))


class _DonchianStream(Stream):
    """Donchian streams take (high, low) and return 3 values."""

    __slots__ = ()
    inputs = ("high", "low", "close")

    def __init__(self, name, fn, state, params, outputs):  # type: ignore[no-untyped-def]
        super().__init__(name, fn, state, params, outputs)

    def update(self, high: float, low: float, final: bool = True):  # type: ignore[override]
        r = self._fn(self._buf, high, low, 0.0, final)
        return r[0], r[1], r[2]


# ---------------------------------------------------------------------------------- HEIKIN_ASHI


@step
def heikin_ashi_step(st, o, h, l, c):
    """HA close = (o+h+l+c)/4; HA open = (prev HA open + prev HA close)/2, first = (o+c)/2;
    HA high/low = max/min of (high/low, HA open, HA close)."""
    have, po, pc = st
    hc = (o + h + l + c) / 4.0
    ho = (po + pc) / 2.0 if have else (o + c) / 2.0
    hh = max(h, max(ho, hc))
    hl = min(l, min(ho, hc))
    return (1, ho, hc), ho, hh, hl, hc


@jit
def _ha_kernel(o, h, l, c, begin, o1, o2, o3, o4):
    for arr in (o1, o2, o3, o4):
        arr[:begin] = NAN
    st = (0, 0.0, 0.0)
    for i in range(begin, o.shape[0]):
        st, o1[i], o2[i], o3[i], o4[i] = heikin_ashi_step(st, o[i], h[i], l[i], c[i])


@jit
def _ha_upd(buf, o, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    r = (NAN, NAN, NAN, NAN)
    if buf[1] != 0.0 or (o == o and h == h and l == l and c == c):
        buf[1] = 1.0
        st, a, b, d, e = heikin_ashi_step((int(buf[2]), buf[3], buf[4]), o, h, l, c)
        buf[2], buf[3], buf[4] = st
        r = (a, b, d, e)
    tx_end(buf, final)
    return r


def heikin_ashi(open: np.ndarray, high: np.ndarray, low: np.ndarray,
                close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Heikin-Ashi candles -> (ha_open, ha_high, ha_low, ha_close); first bar seeds HA open
    with (open+close)/2.  No warm-up NaNs."""
    (o, h, l, c), n = series({"open": open, "high": high, "low": low, "close": close})
    outs = [np.empty(n) for _ in range(4)]
    _ha_kernel(o, h, l, c, first_valid(o, h, l, c), *outs)
    return tuple(outs)  # type: ignore[return-value]


def heikin_ashi_stream() -> Stream:
    return make_stream("heikin_ashi", ("open", "high", "low", "close"), _ha_upd, [0, 0, 0, 0, 0], {},
                       ("ha_open", "ha_high", "ha_low", "ha_close"))
