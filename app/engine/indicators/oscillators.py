"""Range oscillators built on rolling highest-high / lowest-low: WILLR, STOCH, STOCHF, STOCHRSI,
AROON, and KDJ (not in TA-Lib).

Rolling extremes: the streams (and the ``_*_ref`` reference kernels) use TA-Lib's lazy-rescan
algorithm (:func:`._core.scan_max`); the vectorised kernels use branch-free van Herk /
Gil-Werman blocks (:func:`._core.blk_extremes`), which give the same (exact) extremes on
NaN-free data.  When a NaN appears after the first valid bar the wrapper reruns the reference
kernel, so NaN handling is the stream's (TA-Lib's) in both forms.
"""
from __future__ import annotations

import numpy as np

from ._core import (EPS, NAN, blk_arg_step, blk_extremes, blk_first, blk_scratch, ma_push, pow2,
                    pow2_at_least, rt_bool, rt_int, scan_max, scan_min, tx_begin, tx_end)
from ._numba_setup import jit, shared, step
from ._stream import Stream, make_stream
from ._validate import as_series, first_valid, period, series
from ._validate import matype as matype_param
from ._wrap import period_indicator
from .momentum import _rsi_kernel, rsi_step


@shared
def hl_window(mm, H, L, vm, trail, today, ties_latest):
    """Advance (hi_idx, hi, lo_idx, lo) to the window [trail, today] (TA-Lib order: low first)."""
    hi_idx, hi, lo_idx, lo = mm
    lo_idx, lo = scan_min(L, vm, lo_idx, lo, trail, today, ties_latest)
    hi_idx, hi = scan_max(H, vm, hi_idx, hi, trail, today, ties_latest)
    return (hi_idx, hi, lo_idx, lo)


@step
def fast_k(hi, lo, c):
    """TA-Lib STOCH raw %K: (c - lowest) / ((highest - lowest)/100).

    0 on a flat window; 'flat' is TA-Lib 0.8's scale-aware test |hi-lo| <= 1e-14*(|hi|+|lo|).
    """
    if abs(hi - lo) <= EPS * (abs(hi) + abs(lo)):
        return 0.0
    return (c - lo) / ((hi - lo) / 100.0)


# ---------------------------------------------------------------------------------------- WILLR


@step
def _willr_value(hi, lo, c):
    if abs(hi - lo) <= EPS * (abs(hi) + abs(lo)):
        return 0.0
    v = (hi - c) / ((hi - lo) / (0 - 100.0))
    return -100.0 if v < -100.0 else (0.0 if v > 0.0 else v)  # TA-Lib 0.8 clamps to [-100, 0]


@jit
def _willr_ref(h, l, c, begin, p, out):
    """Reference kernel: the streaming algorithm (lazy rescan) over arrays.  Used when the
    input has NaNs after its first valid bar, and by the tests as the oracle."""
    n = h.shape[0]
    out[:min(n, begin + p - 1)] = NAN
    mm = (rt_int(-1, begin), 0.0, rt_int(-1, begin), 0.0)
    for i in range(begin + p - 1, n):
        mm = hl_window(mm, h, l, rt_int(-1, i), i - p + 1, i, rt_bool(False, i))
        out[i] = _willr_value(mm[1], mm[3], c[i])


@jit
def _willr_kernel(h, l, c, begin, p, out):
    """Vectorised WILLR: block rolling extremes (:func:`._core.blk_extremes`), then the same
    per-bar value function as the stream; NaNs after the first valid bar -> :func:`_willr_ref`."""
    n = h.shape[0]
    first = min(n, begin + p - 1)
    out[:first] = NAN
    if first >= n:
        return False
    PH, PL, AH, AL, BH, BL, HI, LO = blk_scratch(p)
    hi, lo, bad = blk_first(h, l, begin, p, PH, PL)
    out[first] = _willr_value(hi, lo, c[first])
    C = HI.shape[0]
    for b in range(begin + p, n, C):
        m = min(C, n - b)
        bad |= blk_extremes(h, l, b, m, p, PH, PL, AH, AL, BH, BL, HI, LO)
        o = out[b:]
        cc = c[b:]
        for k in range(m):
            o[k] = _willr_value(HI[k], LO[k], cc[k])
    return bad


# state: 0 pending,1 started,2 p,3 n,4 hi_idx,5 hi,6 lo_idx,7 lo, 8.. ring H(cap), ring L(cap)
@jit
def _willr_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        p = int(buf[2])
        i = int(buf[3])
        cap = (buf.shape[0] // 2 - 8) // 2
        m = cap - 1
        H = buf[8:8 + cap]
        L = buf[8 + cap:8 + 2 * cap]
        H[i & m] = h
        L[i & m] = l
        if i >= p - 1:
            mm = hl_window((int(buf[4]), buf[5], int(buf[6]), buf[7]), H, L, m, i - p + 1, i,
                           rt_bool(False, i))
            buf[4], buf[5], buf[6], buf[7] = mm
            out = _willr_value(mm[1], mm[3], c)
        buf[3] = i + 1
    tx_end(buf, final)
    return out


willr, willr_stream = period_indicator(
    "willr", __name__, inputs=3, kernel=_willr_kernel, upd=_willr_upd, default=14, minimum=2,
    ref=_willr_ref, state=lambda p: _hl_state(p, [0, 0, p, 0, -1, 0, -1, 0], p),
    doc="Williams %R in [-100, 0] (TA-Lib WILLR, 0 on a flat window).")


def _hl_state(p: int, extra: list[float], cap_for: int) -> list[float]:
    cap = pow2_at_least(cap_for)
    return extra + [0.0] * (2 * cap)


# ------------------------------------------------------------------------------- STOCH / STOCHF


@step
def stoch_step(st, rk, rd, k, fk, sk, skt, sd, sdt, slow):
    """From raw %K ``k`` to (fastk, fastd) [slow=False] or (slowk, slowd) [slow=True].

    st = (nk, ck, ak, nd, cd, ad): two TA_MA stages over small rings ``rk`` / ``rd``.
    """
    nk, ck, ak, nd, cd, ad = st
    ck, ak, k2 = ma_push(skt, ck, ak, k, rk, rk.shape[0] - 1, nk, sk)
    nk += 1
    if k2 != k2 and (ck < sk and sk > 1):
        return (nk, ck, ak, nd, cd, ad), NAN, NAN
    cd, ad, d = ma_push(sdt, cd, ad, k2, rd, rd.shape[0] - 1, nd, sd)
    nd += 1
    st = (nk, ck, ak, nd, cd, ad)
    if d != d and (cd < sd and sd > 1):
        return st, NAN, NAN
    if slow:
        return st, k2, d
    return st, k, k2


#: The same step compiled once as a called function, for the streams and reference kernels
#: (the vectorised hot loops inline :func:`stoch_step` itself; same source, same arithmetic).
stoch_step_shared = shared(stoch_step.py_func)

@jit
def _stoch_ref(h, l, c, begin, fk, sk, skt, sd, sdt, slow, o1, o2):
    """Reference kernel (streaming algorithm over arrays); NaN fallback and test oracle."""
    n = h.shape[0]
    o1[:min(n, begin + fk - 1)] = NAN
    o2[:min(n, begin + fk - 1)] = NAN
    rk = np.zeros(pow2(sk))
    rd = np.zeros(pow2(sd))
    mm = (rt_int(-1, begin), 0.0, rt_int(-1, begin), 0.0)
    z = rt_int(0, begin)
    st = (z, z, 0.0, z, z, 0.0)
    for i in range(begin + fk - 1, n):
        mm = hl_window(mm, h, l, rt_int(-1, i), i - fk + 1, i, rt_bool(False, i))
        st, a, b = stoch_step_shared(st, rk, rd, fast_k(mm[1], mm[3], c[i]), fk, sk, skt, sd, sdt, slow)
        o1[i] = a
        o2[i] = b


@jit
def _stoch_kernel(h, l, c, begin, fk, sk, skt, sd, sdt, slow, o1, o2):
    """Vectorised STOCH/STOCHF: block rolling extremes, then the shared :func:`stoch_step`;
    NaNs after the first valid bar -> :func:`_stoch_ref`."""
    n = h.shape[0]
    first = min(n, begin + fk - 1)
    o1[:first] = NAN
    o2[:first] = NAN
    if first >= n:
        return False
    rk = np.zeros(pow2(sk))
    rd = np.zeros(pow2(sd))
    PH, PL, AH, AL, BH, BL, HI, LO = blk_scratch(fk)
    hi, lo, bad = blk_first(h, l, begin, fk, PH, PL)
    st = (0, 0, 0.0, 0, 0, 0.0)
    st, o1[first], o2[first] = stoch_step(st, rk, rd, fast_k(hi, lo, c[first]), fk, sk, skt, sd, sdt, slow)
    C = HI.shape[0]
    for b in range(begin + fk, n, C):
        m = min(C, n - b)
        bad |= blk_extremes(h, l, b, m, fk, PH, PL, AH, AL, BH, BL, HI, LO)
        p1 = o1[b:]
        p2 = o2[b:]
        cc = c[b:]
        for k in range(m):
            st, p1[k], p2[k] = stoch_step(st, rk, rd, fast_k(HI[k], LO[k], cc[k]), fk, sk, skt, sd,
                                          sdt, slow)
    return bad


# state: 0 pending,1 started,2 fk,3 sk,4 skt,5 sd,6 sdt,7 slow,8 n,9..12 mm,13..18 st,
#        19 capk, 20 capd, 21.. ring k(capk), ring d(capd), H(cap), L(cap)
@jit
def _stoch_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        fk = int(buf[2])
        i = int(buf[8])
        capk = int(buf[19])
        capd = int(buf[20])
        o = 21 + capk + capd
        cap = (buf.shape[0] // 2 - o) // 2
        m = cap - 1
        H = buf[o:o + cap]
        L = buf[o + cap:o + 2 * cap]
        H[i & m] = h
        L[i & m] = l
        if i >= fk - 1:
            mm = hl_window((int(buf[9]), buf[10], int(buf[11]), buf[12]), H, L, m, i - fk + 1, i,
                           rt_bool(False, i))
            buf[9], buf[10], buf[11], buf[12] = mm
            st = (int(buf[13]), int(buf[14]), buf[15], int(buf[16]), int(buf[17]), buf[18])
            st, a, b = stoch_step_shared(st, buf[21:21 + capk], buf[21 + capk:21 + capk + capd],
                                  fast_k(mm[1], mm[3], c), fk, int(buf[3]), int(buf[4]), int(buf[5]),
                                  int(buf[6]), buf[7] != 0.0)
            buf[13], buf[14], buf[15], buf[16], buf[17], buf[18] = st
        buf[8] = i + 1
    tx_end(buf, final)
    return a, b


def _stoch_state(fk: int, sk: int, skt: int, sd: int, sdt: int, slow: bool) -> list[float]:
    capk, capd, cap = pow2_at_least(sk), pow2_at_least(sd), pow2_at_least(fk)
    return ([0, 0, fk, sk, skt, sd, sdt, 1.0 if slow else 0.0, 0, -1, 0, -1, 0, 0, 0, 0, 0, 0, 0,
             capk, capd] + [0.0] * (capk + capd + 2 * cap))


def stoch(high: np.ndarray, low: np.ndarray, close: np.ndarray, fastk_period: int = 5,
          slowk_period: int = 3, slowk_matype: int = 0, slowd_period: int = 3,
          slowd_matype: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic -> (slowk, slowd) (TA-Lib STOCH; MA types 0=SMA default, 1=EMA)."""
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    fk = period(fastk_period, "fastk_period", 1)
    sk = period(slowk_period, "slowk_period", 1)
    sd = period(slowd_period, "slowd_period", 1)
    skt = matype_param(slowk_matype, "slowk_matype")
    sdt = matype_param(slowd_matype, "slowd_matype")
    a, b = np.empty(n), np.empty(n)
    fv = first_valid(h, l, c)
    if _stoch_kernel(h, l, c, fv, fk, sk, skt, sd, sdt, True, a, b):
        _stoch_ref(h, l, c, fv, fk, sk, skt, sd, sdt, True, a, b)
    return a, b


def stoch_stream(fastk_period: int = 5, slowk_period: int = 3, slowk_matype: int = 0,
                 slowd_period: int = 3, slowd_matype: int = 0) -> Stream:
    fk = period(fastk_period, "fastk_period", 1)
    sk = period(slowk_period, "slowk_period", 1)
    sd = period(slowd_period, "slowd_period", 1)
    skt = matype_param(slowk_matype, "slowk_matype")
    sdt = matype_param(slowd_matype, "slowd_matype")
    return make_stream("stoch", ("high", "low", "close"), _stoch_upd, _stoch_state(fk, sk, skt, sd, sdt, True),
                       {"fastk_period": fk, "slowk_period": sk, "slowk_matype": skt,
                        "slowd_period": sd, "slowd_matype": sdt}, ("slowk", "slowd"))


def stochf(high: np.ndarray, low: np.ndarray, close: np.ndarray, fastk_period: int = 5,
           fastd_period: int = 3, fastd_matype: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fast stochastic -> (fastk, fastd) (TA-Lib STOCHF)."""
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    fk = period(fastk_period, "fastk_period", 1)
    fd = period(fastd_period, "fastd_period", 1)
    fdt = matype_param(fastd_matype, "fastd_matype")
    a, b = np.empty(n), np.empty(n)
    fv = first_valid(h, l, c)
    if _stoch_kernel(h, l, c, fv, fk, fd, fdt, 1, 0, False, a, b):
        _stoch_ref(h, l, c, fv, fk, fd, fdt, 1, 0, False, a, b)
    return a, b


def stochf_stream(fastk_period: int = 5, fastd_period: int = 3, fastd_matype: int = 0) -> Stream:
    fk = period(fastk_period, "fastk_period", 1)
    fd = period(fastd_period, "fastd_period", 1)
    fdt = matype_param(fastd_matype, "fastd_matype")
    return make_stream("stochf", ("high", "low", "close"), _stoch_upd, _stoch_state(fk, fd, fdt, rt_int(1, fk), rt_int(0, fk), rt_bool(False, fk)),
                       {"fastk_period": fk, "fastd_period": fd, "fastd_matype": fdt}, ("fastk", "fastd"))


# ------------------------------------------------------------------------------------- STOCHRSI


@shared
def stochrsi_step(rs, mm, st, R, vm, j, x, p, fk, rk, rd, fd, fdt):
    """RSI, then STOCHF of the RSI series.  ``j`` counts RSI values produced so far."""
    cnt, prev, gain, loss = rs
    cnt, prev, gain, loss, r = rsi_step(cnt, prev, gain, loss, x, p)
    rs = (cnt, prev, gain, loss)
    if cnt <= p:
        return rs, mm, st, j, NAN, NAN
    R[j & vm] = r
    if j < fk - 1:
        return rs, mm, st, j + 1, NAN, NAN
    mm = hl_window(mm, R, R, vm, j - fk + 1, j, rt_bool(False, j))
    st, a, b = stoch_step_shared(st, rk, rd, fast_k(mm[1], mm[3], r), fk, fd, fdt, rt_int(1, fk),
                                 rt_int(0, fk), rt_bool(False, fk))
    return rs, mm, st, j + 1, a, b


@jit
def _stochrsi_kernel(x, begin, p, fk, fd, fdt, o1, o2):
    """Vectorised STOCHRSI: the RSI kernel writes the RSI series into ``o2``, then STOCHF runs
    over it with block rolling extremes (each chunk's RSI values are read before ``o2`` is
    overwritten with %D there).  Returns True if an RSI value was NaN (possible only with
    inf inputs): the wrapper then reruns :func:`_stochrsi_ref`."""
    n = x.shape[0]
    _rsi_kernel(x, begin, p, o2)
    fb = begin + p  # first RSI value
    first = fb + fk - 1
    if first >= n:
        o1[:] = NAN
        o2[:] = NAN
        return False
    rk = np.zeros(pow2(fd))
    rd = np.zeros(1)
    PH, PL, AH, AL, BH, BL, HI, LO = blk_scratch(fk)
    hi, lo, bad = blk_first(o2, o2, fb, fk, PH, PL)
    r = o2[first]
    o1[:first] = NAN
    o2[:first] = NAN
    z = rt_int(0, begin)
    st = (z, z, 0.0, z, z, 0.0)
    st, o1[first], o2[first] = stoch_step_shared(st, rk, rd, fast_k(hi, lo, r), fk, fd, fdt,
                                                 rt_int(1, fk), rt_int(0, fk), rt_bool(False, fk))
    C = HI.shape[0]
    for b in range(first + 1, n, C):
        m = min(C, n - b)
        bad |= blk_extremes(o2, o2, b, m, fk, PH, PL, AH, AL, BH, BL, HI, LO)
        p1 = o1[b:]
        p2 = o2[b:]
        for k in range(m):
            st, p1[k], p2[k] = stoch_step_shared(st, rk, rd, fast_k(HI[k], LO[k], p2[k]), fk, fd, fdt,
                                                 rt_int(1, fk), rt_int(0, fk), rt_bool(False, fk))
    return bad


@jit
def _stochrsi_ref(x, begin, p, fk, fd, fdt, o1, o2):
    """Reference kernel (streaming algorithm over arrays); NaN fallback and test oracle."""
    o1[:begin] = NAN
    o2[:begin] = NAN
    cap = pow2(fk)
    R = np.zeros(cap)
    rk = np.zeros(pow2(fd))
    rd = np.zeros(1)
    z = rt_int(0, begin)
    rs = (z, 0.0, 0.0, 0.0)
    mm = (z - 1, 0.0, z - 1, 0.0)
    st = (z, z, 0.0, z, z, 0.0)
    j = z
    for i in range(begin, x.shape[0]):
        rs, mm, st, j, a, b = stochrsi_step(rs, mm, st, R, cap - 1, j, x[i], p, fk, rk, rd, fd, fdt)
        o1[i] = a
        o2[i] = b


# state: 0 pending,1 started,2 p,3 fk,4 fd,5 fdt,6 j,7..10 rs,11..14 mm,15..20 st,21 cap,22 capk,
#        23.. R(cap), rk(capk), rd(1)
@jit
def _stochrsi_upd(buf, x, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    if buf[1] != 0.0 or x == x:
        buf[1] = 1.0
        cap = int(buf[21])
        capk = int(buf[22])
        rs = (int(buf[7]), buf[8], buf[9], buf[10])
        mm = (int(buf[11]), buf[12], int(buf[13]), buf[14])
        st = (int(buf[15]), int(buf[16]), buf[17], int(buf[18]), int(buf[19]), buf[20])
        rs, mm, st, j, a, b = stochrsi_step(rs, mm, st, buf[23:23 + cap], cap - 1, int(buf[6]), x,
                                            int(buf[2]), int(buf[3]), buf[23 + cap:23 + cap + capk],
                                            buf[23 + cap + capk:24 + cap + capk], int(buf[4]), int(buf[5]))
        buf[6] = j
        buf[7], buf[8], buf[9], buf[10] = rs
        buf[11], buf[12], buf[13], buf[14] = mm
        buf[15], buf[16], buf[17], buf[18], buf[19], buf[20] = st
    tx_end(buf, final)
    return a, b


def _stochrsi_params(timeperiod: int, fastk_period: int, fastd_period: int,
                     fastd_matype: int) -> tuple[int, int, int, int]:
    return (period(timeperiod, "timeperiod", 2), period(fastk_period, "fastk_period", 1),
            period(fastd_period, "fastd_period", 1), matype_param(fastd_matype, "fastd_matype"))


def stochrsi(real: np.ndarray, timeperiod: int = 14, fastk_period: int = 5, fastd_period: int = 3,
             fastd_matype: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic RSI -> (fastk, fastd) (TA-Lib STOCHRSI = STOCHF applied to RSI)."""
    x = as_series(real, "real")
    p, fk, fd, fdt = _stochrsi_params(timeperiod, fastk_period, fastd_period, fastd_matype)
    n = len(x)
    a, b = np.empty(n), np.empty(n)
    fv = first_valid(x)
    if _stochrsi_kernel(x, fv, p, fk, fd, fdt, a, b):
        _stochrsi_ref(x, fv, p, fk, fd, fdt, a, b)
    return a, b


def stochrsi_stream(timeperiod: int = 14, fastk_period: int = 5, fastd_period: int = 3,
                    fastd_matype: int = 0) -> Stream:
    p, fk, fd, fdt = _stochrsi_params(timeperiod, fastk_period, fastd_period, fastd_matype)
    cap, capk = pow2_at_least(fk), pow2_at_least(fd)
    state = [0, 0, p, fk, fd, fdt, 0, 0, 0, 0, 0, -1, 0, -1, 0, 0, 0, 0, 0, 0, 0, cap, capk]
    return make_stream("stochrsi", ("close",), _stochrsi_upd, state + [0.0] * (cap + capk + 1),
                       {"timeperiod": p, "fastk_period": fk, "fastd_period": fd, "fastd_matype": fdt},
                       ("fastk", "fastd"))


# ---------------------------------------------------------------------------------------- AROON


@step
def _aroon_value(mm, today, p):
    factor = 100.0 / p
    return factor * (p - (today - mm[2])), factor * (p - (today - mm[0]))


@jit
def _aroon_ref(h, l, begin, p, o_dn, o_up):
    """Reference kernel (streaming algorithm over arrays); NaN fallback and test oracle."""
    n = h.shape[0]
    o_dn[:min(n, begin + p)] = NAN
    o_up[:min(n, begin + p)] = NAN
    mm = (rt_int(-1, begin), 0.0, rt_int(-1, begin), 0.0)
    for i in range(begin + p, n):
        mm = hl_window(mm, h, l, rt_int(-1, i), i - p, i, rt_bool(True, i))
        o_dn[i], o_up[i] = _aroon_value(mm, i, p)


@jit
def _aroon_kernel(h, l, begin, p, o_dn, o_up):
    n = h.shape[0]
    first = min(n, begin + p)
    o_dn[:first] = NAN
    o_up[:first] = NAN
    w = p + 1
    SH = np.full(w + 1, -np.inf)
    SL = np.full(w + 1, np.inf)
    SIH = np.zeros(w + 1, dtype=np.int64)
    SIL = np.zeros(w + 1, dtype=np.int64)
    pos, fh, fl, fih, fil, bad = 0, -np.inf, np.inf, 0, 0, False
    for i in range(begin, first):
        pos, fh, fl, fih, fil, bad, ih, il = blk_arg_step(h, l, i, w, SH, SL, SIH, SIL, pos, fh, fl,
                                                          fih, fil, bad)
    for i in range(first, n):
        pos, fh, fl, fih, fil, bad, ih, il = blk_arg_step(h, l, i, w, SH, SL, SIH, SIL, pos, fh, fl,
                                                          fih, fil, bad)
        o_dn[i], o_up[i] = _aroon_value((ih, 0.0, il, 0.0), i, p)
    return bad


# state: 0 pending,1 started,2 p,3 n,4..7 mm, 8.. H(cap), L(cap)
@jit
def _aroon_upd(buf, h, l, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    if buf[1] != 0.0 or (h == h and l == l):
        buf[1] = 1.0
        p = int(buf[2])
        i = int(buf[3])
        cap = (buf.shape[0] // 2 - 8) // 2
        m = cap - 1
        H = buf[8:8 + cap]
        L = buf[8 + cap:8 + 2 * cap]
        H[i & m] = h
        L[i & m] = l
        if i >= p:
            mm = hl_window((int(buf[4]), buf[5], int(buf[6]), buf[7]), H, L, m, i - p, i, rt_bool(True, i))
            buf[4], buf[5], buf[6], buf[7] = mm
            a, b = _aroon_value(mm, i, p)
        buf[3] = i + 1
    tx_end(buf, final)
    return a, b


aroon, aroon_stream = period_indicator(
    "aroon", __name__, inputs=2, kernel=_aroon_kernel, upd=_aroon_upd, default=14, minimum=2,
    ref=_aroon_ref, outputs=("aroondown", "aroonup"),
    state=lambda p: _hl_state(p, [0, 0, p, 0, -1, 0, -1, 0], p + 1),
    doc="Aroon -> (aroondown, aroonup) over n+1 bars, latest extreme wins ties (TA-Lib AROON).")


# ------------------------------------------------------------------------------------------ KDJ


@step
def kdj_step(kd, rsv, m1, m2):
    """Classic KDJ smoothing: K = ((m1-1)K + RSV)/m1, D = ((m2-1)D + K)/m2, J = 3K - 2D; K0=D0=50."""
    k, d = kd
    k = ((m1 - 1) * k + rsv) / m1
    d = ((m2 - 1) * d + k) / m2
    return (k, d), k, d, 3.0 * k - 2.0 * d


@jit
def _kdj_ref(h, l, c, begin, p, m1, m2, ok, od, oj):
    """Reference kernel (streaming algorithm over arrays); NaN fallback and test oracle."""
    n = h.shape[0]
    ok[:min(n, begin + p - 1)] = NAN
    od[:min(n, begin + p - 1)] = NAN
    oj[:min(n, begin + p - 1)] = NAN
    mm = (rt_int(-1, begin), 0.0, rt_int(-1, begin), 0.0)
    kd = (50.0, 50.0)
    for i in range(begin + p - 1, n):
        mm = hl_window(mm, h, l, rt_int(-1, i), i - p + 1, i, rt_bool(False, i))
        kd, ok[i], od[i], oj[i] = kdj_step(kd, fast_k(mm[1], mm[3], c[i]), m1, m2)


@jit
def _kdj_kernel(h, l, c, begin, p, m1, m2, ok, od, oj):
    """Vectorised KDJ: block rolling extremes, then the shared :func:`kdj_step`."""
    n = h.shape[0]
    first = min(n, begin + p - 1)
    ok[:first] = NAN
    od[:first] = NAN
    oj[:first] = NAN
    if first >= n:
        return False
    PH, PL, AH, AL, BH, BL, HI, LO = blk_scratch(p)
    hi, lo, bad = blk_first(h, l, begin, p, PH, PL)
    kd = (50.0, 50.0)
    kd, ok[first], od[first], oj[first] = kdj_step(kd, fast_k(hi, lo, c[first]), m1, m2)
    C = HI.shape[0]
    for b in range(begin + p, n, C):
        m = min(C, n - b)
        bad |= blk_extremes(h, l, b, m, p, PH, PL, AH, AL, BH, BL, HI, LO)
        q1 = ok[b:]
        q2 = od[b:]
        q3 = oj[b:]
        cc = c[b:]
        for k in range(m):
            kd, q1[k], q2[k], q3[k] = kdj_step(kd, fast_k(HI[k], LO[k], cc[k]), m1, m2)
    return bad


# state: 0 pending,1 started,2 p,3 m1,4 m2,5 n,6..9 mm,10 k,11 d, 12.. H(cap), L(cap)
@jit
def _kdj_upd(buf, h, l, c, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    a = NAN
    b = NAN
    j = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c):
        buf[1] = 1.0
        p = int(buf[2])
        i = int(buf[5])
        cap = (buf.shape[0] // 2 - 12) // 2
        m = cap - 1
        H = buf[12:12 + cap]
        L = buf[12 + cap:12 + 2 * cap]
        H[i & m] = h
        L[i & m] = l
        if i >= p - 1:
            mm = hl_window((int(buf[6]), buf[7], int(buf[8]), buf[9]), H, L, m, i - p + 1, i,
                           rt_bool(False, i))
            buf[6], buf[7], buf[8], buf[9] = mm
            kd, a, b, j = kdj_step((buf[10], buf[11]), fast_k(mm[1], mm[3], c), int(buf[3]), int(buf[4]))
            buf[10], buf[11] = kd
        buf[5] = i + 1
    tx_end(buf, final)
    return a, b, j


def kdj(high: np.ndarray, low: np.ndarray, close: np.ndarray, fastk_period: int = 9,
        signalk_period: int = 3, signald_period: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KDJ -> (k, d, j), the stochastic variant common in Chinese markets (not in TA-Lib).

    Conventions: RSV = TA-Lib raw %K over ``fastk_period`` bars (0 on a flat window);
    K and D are Wilder-style smoothings seeded at 50 on the first RSV bar; J = 3K - 2D.
    First value at bar ``fastk_period-1`` of valid data.
    """
    (h, l, c), n = series({"high": high, "low": low, "close": close})
    p = period(fastk_period, "fastk_period", 1)
    m1 = period(signalk_period, "signalk_period", 1)
    m2 = period(signald_period, "signald_period", 1)
    a, b, j = np.empty(n), np.empty(n), np.empty(n)
    fv = first_valid(h, l, c)
    if _kdj_kernel(h, l, c, fv, p, m1, m2, a, b, j):
        _kdj_ref(h, l, c, fv, p, m1, m2, a, b, j)
    return a, b, j


def kdj_stream(fastk_period: int = 9, signalk_period: int = 3, signald_period: int = 3) -> Stream:
    p = period(fastk_period, "fastk_period", 1)
    m1 = period(signalk_period, "signalk_period", 1)
    m2 = period(signald_period, "signald_period", 1)
    return make_stream("kdj", ("high", "low", "close"), _kdj_upd,
                       _hl_state(p, [0, 0, p, m1, m2, 0, -1, 0, -1, 0, 50.0, 50.0], p),
                       {"fastk_period": p, "signalk_period": m1, "signald_period": m2}, ("k", "d", "j"))
