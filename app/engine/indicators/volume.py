"""Volume indicators: OBV, AD, ADOSC, MFI (TA-Lib) and VWAP (session and rolling)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._core import EPS, NAN, U, fma, tx_begin, tx_end
from ._numba_setup import jit, step
from ._stream import Stream, make_stream
from ._validate import as_series, first_valid, period, series
from ._wrap import period_indicator

# ----------------------------------------------------------------------------------------- OBV


@step
def obv_step(st, c, v):
    """TA-Lib OBV: starts at the first volume, +/- volume on up/down closes."""
    cnt, prev_c, obv = st
    if cnt == 0:
        return (1, c, v), v
    if c > prev_c:
        obv += v
    elif c < prev_c:
        obv -= v
    return (1, c, obv), obv


@jit
def _obv_kernel(c, v, begin, out):
    """Vectorised OBV: the body of :func:`obv_step` as a branch-free loop."""
    n = c.shape[0]
    out[:begin] = NAN
    if begin >= n:
        return
    obv = v[begin]
    out[begin] = obv
    cs = c[begin + 1:]
    vs = v[begin + 1:]
    o = out[begin + 1:]
    pc = c[begin]
    for k in range(cs.shape[0]):
        x = cs[k]
        vi = vs[k]
        # obv - v == obv + (-v) exactly, and obv + (-0.0) == obv for every obv (-0.0 included),
        # so the chain is one add while the choice of the increment stays off it
        d = vi if x > pc else -0.0
        d = -vi if x < pc else d
        obv += d
        o[k] = obv
        pc = x


@jit
def _obv_upd(buf, c, v, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (c == c and v == v):
        buf[1] = 1.0
        st, out = obv_step((int(buf[2]), buf[3], buf[4]), c, v)
        buf[2], buf[3], buf[4] = st
    tx_end(buf, final)
    return out


def obv(real: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume (TA-Lib OBV; first value = first volume)."""
    (c, v), n = series({"real": real, "volume": volume})
    out = np.empty(n)
    _obv_kernel(c, v, first_valid(c, v), out)
    return out


def obv_stream() -> Stream:
    return make_stream("obv", ("close", "volume"), _obv_upd, [0, 0, 0, 0, 0], {}, ("real",))


# ------------------------------------------------------------------------------------ AD/ADOSC


@step
def ad_value(ad, h, l, c, v):
    """Chaikin A/D line increment (TA-Lib: skipped when high <= low).  TA-Lib 0.8.1 rounds the
    product and the sum separately here (no FMA, even in its FMA build)."""
    tmp = h - l
    if tmp > 0.0:
        ad = ad + ((c - l - (h - c)) / tmp) * v
    return ad


@jit
def _ad_kernel(h, l, c, v, begin, out):
    """Vectorised AD: :func:`ad_value` with the skip (high <= low) folded into the operands:
    ad + (-0.0 * 0.0) == ad exactly, so the chain is one add, no branch."""
    n = h.shape[0]
    out[:begin] = NAN
    ad = 0.0
    hs = h[begin:]
    ls = l[begin:]
    cs = c[begin:]
    vs = v[begin:]
    o = out[begin:]
    for k in range(hs.shape[0]):
        u = U(k)
        hh = hs[u]
        ll = ls[u]
        cc = cs[u]
        tmp = hh - ll
        ok = tmp > 0.0
        t = (cc - ll - (hh - cc)) / tmp
        ad = ad + (t if ok else -0.0) * (vs[u] if ok else 0.0)
        o[u] = ad


@jit
def _ad_upd(buf, h, l, c, v, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c and v == v):
        buf[1] = 1.0
        buf[2] = ad_value(buf[2], h, l, c, v)
        out = buf[2]
    tx_end(buf, final)
    return out


def ad(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Chaikin accumulation/distribution line (TA-Lib AD)."""
    (h, l, c, v), n = series({"high": high, "low": low, "close": close, "volume": volume})
    out = np.empty(n)
    _ad_kernel(h, l, c, v, first_valid(h, l, c, v), out)
    return out


def ad_stream() -> Stream:
    return make_stream("ad", ("high", "low", "close", "volume"), _ad_upd, [0, 0, 0], {}, ("real",))


@step
def adosc_step(st, h, l, c, v, fast, slow):
    """TA-Lib ADOSC: EMA(fast) - EMA(slow) of AD, both seeded with the first AD value.

    As TA-Lib 0.8.1's FMA build: ``ema = fma(ema, 1 - k, k * ad)`` (the chain runs through one
    FMA; the other product is rounded first)."""
    cnt, a, fe, se = st
    a = ad_value(a, h, l, c, v)
    if cnt == 0:
        fe = a
        se = a
    else:
        fk = 2.0 / (fast + 1.0)
        sk = 2.0 / (slow + 1.0)
        fe = fma(fe, 1.0 - fk, fk * a)
        se = fma(se, 1.0 - sk, sk * a)
    cnt += 1
    st = (cnt, a, fe, se)
    if cnt < max(fast, slow):
        return st, NAN
    return st, fe - se


@jit
def _adosc_kernel(h, l, c, v, begin, fast, slow, out):
    """Vectorised ADOSC: first bar seeds both EMAs, then the steady body of :func:`adosc_step`."""
    n = h.shape[0]
    out[:begin] = NAN
    if begin >= n:
        return
    st = (0, 0.0, 0.0, 0.0)
    st, out[begin] = adosc_step(st, h[begin], l[begin], c[begin], v[begin], fast, slow)
    cnt, a, fe, se = st
    fk = 2.0 / (fast + 1.0)
    sk = 2.0 / (slow + 1.0)
    ofk = 1.0 - fk
    osk = 1.0 - sk
    lb = max(fast, slow)
    for i in range(begin + 1, n):
        u = U(i)
        a = ad_value(a, h[u], l[u], c[u], v[u])
        fe = fma(fe, ofk, fk * a)
        se = fma(se, osk, sk * a)
        out[u] = fe - se if i - begin + 1 >= lb else NAN


@jit
def _adosc_upd(buf, h, l, c, v, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c and v == v):
        buf[1] = 1.0
        st, out = adosc_step((int(buf[4]), buf[5], buf[6], buf[7]), h, l, c, v, int(buf[2]), int(buf[3]))
        buf[4], buf[5], buf[6], buf[7] = st
    tx_end(buf, final)
    return out


def adosc(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
          fastperiod: int = 3, slowperiod: int = 10) -> np.ndarray:
    """Chaikin A/D oscillator (TA-Lib ADOSC; always EMA(fastperiod) - EMA(slowperiod))."""
    (h, l, c, v), n = series({"high": high, "low": low, "close": close, "volume": volume})
    f = period(fastperiod, "fastperiod", 2)
    s = period(slowperiod, "slowperiod", 2)
    out = np.empty(n)
    _adosc_kernel(h, l, c, v, first_valid(h, l, c, v), f, s, out)
    return out


def adosc_stream(fastperiod: int = 3, slowperiod: int = 10) -> Stream:
    f = period(fastperiod, "fastperiod", 2)
    s = period(slowperiod, "slowperiod", 2)
    return make_stream("adosc", ("high", "low", "close", "volume"), _adosc_upd, [0, 0, f, s, 0, 0, 0, 0],
                       {"fastperiod": f, "slowperiod": s}, ("real",))


# ----------------------------------------------------------------------------------------- MFI


@step
def mfi_step(st, pos_r, neg_r, h, l, c, v, p):
    """TA-Lib 0.8 MFI: scale-aware 'no move', empty-window detection by a null-run counter,
    ratio clamped to [0, 100].  st = (cnt, prev_tp, pos_sum, neg_sum, null_run, idx)."""
    cnt, prev, ps, ns, null_run, idx = st
    tp = (h + l + c) / 3.0
    if cnt == 0:
        return (1, tp, ps, ns, null_run, idx), NAN
    if cnt > p:
        ps -= pos_r[idx]
        ns -= neg_r[idx]
    d = tp - prev
    scale = abs(tp) + abs(prev)
    mf = tp * v
    money = 0.0 if abs(d) <= EPS * scale else mf
    pf = 0.0 if d < 0.0 else money
    nf = money if d < 0.0 else 0.0
    pos_r[idx] = pf
    neg_r[idx] = nf
    ps += pf
    ns += nf
    null_run = null_run + 1 if money == 0.0 else 0
    if null_run >= p:
        null_run = p
        ps = 0.0
        ns = 0.0
    idx = idx + 1 if idx + 1 < p else 0
    if cnt < p:
        return (cnt + 1, tp, ps, ns, null_run, idx), NAN
    tot = ps + ns
    clamped = 0.0 if ps < 0.0 else (tot if ps > tot else ps)
    out = 0.0 if tot <= 0.0 else 100.0 * (clamped / tot)
    return (p + 1, tp, ps, ns, null_run, idx), out


@jit
def _mfi_kernel(h, l, c, v, begin, p, out):
    out[:begin] = NAN
    pr = np.zeros(p)
    nr = np.zeros(p)
    st = (0, 0.0, 0.0, 0.0, 0, 0)
    for i in range(begin, h.shape[0]):
        st, out[i] = mfi_step(st, pr, nr, h[i], l[i], c[i], v[i], p)


@jit
def _mfi_upd(buf, h, l, c, v, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c and v == v):
        buf[1] = 1.0
        p = int(buf[2])
        st = (int(buf[3]), buf[4], buf[5], buf[6], int(buf[7]), int(buf[8]))
        st, out = mfi_step(st, buf[9:9 + p], buf[9 + p:9 + 2 * p], h, l, c, v, p)
        buf[3], buf[4], buf[5], buf[6], buf[7], buf[8] = st
    tx_end(buf, final)
    return out


mfi, mfi_stream = period_indicator(
    "mfi", __name__, inputs=4, kernel=_mfi_kernel, upd=_mfi_upd, default=14, minimum=2,
    state=lambda p: [0, 0, p] + [0.0] * 6 + [0.0] * (2 * p),
    doc="Money flow index (TA-Lib 0.8 MFI, lookback n).")


# ---------------------------------------------------------------------------------------- VWAP


@step
def vwap_step(st, ring_pv, ring_v, h, l, c, v, sess, p):
    """Session VWAP (p == 0: cumulative, reset when ``sess`` changes) or rolling VWAP over p bars.

    Price = typical price (h+l+c)/3.  NaN while the volume sum is 0.
    st = (cnt, spv, sv, last_session).
    """
    cnt, spv, sv, last = st
    tp = (h + l + c) / 3.0
    pv = tp * v
    if p == 0:
        if cnt == 0 or sess != last:
            spv = 0.0
            sv = 0.0
        spv += pv
        sv += v
        cnt += 1
    else:
        slot = cnt % p
        if cnt >= p:
            spv -= ring_pv[slot]
            sv -= ring_v[slot]
        ring_pv[slot] = pv
        ring_v[slot] = v
        spv += pv
        sv += v
        cnt += 1
        if cnt < p:
            return (cnt, spv, sv, sess), NAN
    out = spv / sv if sv != 0.0 else NAN
    return (cnt, spv, sv, sess), out


@jit
def _vwap_kernel(h, l, c, v, s, begin, p, out):
    out[:begin] = NAN
    rp = np.zeros(max(p, 1))
    rv = np.zeros(max(p, 1))
    st = (0, 0.0, 0.0, 0.0)
    for i in range(begin, h.shape[0]):
        st, out[i] = vwap_step(st, rp, rv, h[i], l[i], c[i], v[i], s[i], p)


@jit
def _vwap_upd(buf, h, l, c, v, s, final):
    tx_begin(buf, buf.shape[0] // 2, final)
    out = NAN
    if buf[1] != 0.0 or (h == h and l == l and c == c and v == v):
        buf[1] = 1.0
        p = int(buf[2])
        r = max(p, 1)
        st, out = vwap_step((int(buf[3]), buf[4], buf[5], buf[6]), buf[7:7 + r], buf[7 + r:7 + 2 * r],
                            h, l, c, v, s, p)
        buf[3], buf[4], buf[5], buf[6] = st
    tx_end(buf, final)
    return out


def vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
         timeperiod: int = 0, session: Any = None) -> np.ndarray:
    """Volume-weighted average price of the typical price (h+l+c)/3 (not in TA-Lib).

    ``timeperiod == 0`` (default): session VWAP, cumulative since the start of the session;
    ``session`` is an array of session ids (e.g. ``timestamp_ms // 86_400_000`` for UTC days,
    or an exchange trading-day number) and a change of id starts a new session; ``None`` means
    one session.  ``timeperiod > 0``: rolling VWAP over the last ``timeperiod`` bars (NaN until
    the window is full).  NaN while the volume in the window is 0.
    """
    (h, l, c, v), n = series({"high": high, "low": low, "close": close, "volume": volume})
    p = period(timeperiod, "timeperiod", 0)
    if p == 1:
        p = 1
    s = np.zeros(n) if session is None else as_series(session, "session")
    if len(s) != n:
        raise ValueError(f"session: length {len(s)} does not match high length {n}")
    out = np.empty(n)
    _vwap_kernel(h, l, c, v, s, first_valid(h, l, c, v), p, out)
    return out


def vwap_stream(timeperiod: int = 0) -> Stream:
    p = period(timeperiod, "timeperiod", 0)
    r = max(p, 1)
    return make_stream("vwap", ("high", "low", "close", "volume", "session"), _vwap_upd,
                       [0, 0, p, 0, 0, 0, 0] + [0.0] * (2 * r), {"timeperiod": p}, ("real",))
