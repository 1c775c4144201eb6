"""Shared kernel building blocks: the pieces every indicator's step is made of.

Why one place: the vectorised loops and the streaming updates call these same ``@jit`` step
helpers, so a number cannot be computed two different ways.  Arithmetic order follows
TA-Lib's C source; ``fma`` reproduces the fused multiply-adds that TA-Lib's released binary
uses (GCC contracts ``a*b+c``), which is what makes many outputs bit-identical to TA-Lib.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir  # noqa: F401  (llvmlite ships with numba)
from numba import uint64
from numba.core import types
from numba.extending import intrinsic

from ._numba_setup import jit, shared, step

NAN = np.nan
EPS = 1e-14  # TA-Lib's TA_EPSILON (TA_IS_ZERO / TA_IS_ZERO_OR_NEG)


@intrinsic
def fma(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """Fused ``a*b + c`` with one rounding (LLVM ``llvm.fma.f64``)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fma(*args)

    return sig, codegen



# Numba compiles a separate copy of a called (non-inlined) kernel for every distinct LITERAL
# argument value (a constant ``False`` or ``-1`` in the caller is typed ``Literal[...]``).  Flags
# passed to shared kernels go through these so all callers reuse one compiled version.
@step
def rt_bool(v, n):
    """``v`` typed as a runtime bool (``n`` = any non-negative runtime integer)."""
    return v ^ (n < 0)


@step
def rt_int(v, n):
    """``v`` typed as a runtime int64 (``n`` = any runtime integer)."""
    return v + n * 0

@step
def is_zero(v: float) -> bool:
    return -EPS < v < EPS


@step
def true_range(h: float, l: float, prev_c: float) -> float:
    """TA-Lib TRANGE body: max(h-l, |h-prev_c|, |l-prev_c|), comparisons in TA-Lib's order."""
    rng = h - l
    tmp = abs(h - prev_c)
    if tmp > rng:
        rng = tmp
    tmp = abs(l - prev_c)
    if tmp > rng:
        rng = tmp
    return rng


@step
def ema_step(cnt: int, acc: float, x: float, period: int, k: float):
    """TA-Lib EMA (default compatibility): seed = SMA of the first ``period`` values.

    State: ``cnt`` values seen (saturates at ``period``), ``acc`` running sum then EMA.
    Returns (cnt, acc, out); out is NaN during warm-up.
    """
    if cnt >= period:
        acc = fma(x - acc, k, acc)
        return cnt, acc, acc
    acc += x
    cnt += 1
    if cnt == period:
        acc = acc / period
        return cnt, acc, acc
    return cnt, acc, NAN


@step
def sma_step(cnt: int, total: float, x: float, x_leave: float, period: int):
    """TA-Lib SMA.  ``x_leave`` is the oldest value of the window that ends at ``x``.

    TA-Lib keeps the sum of the newest period-1 values: add x, emit total/period, then
    subtract the oldest.  Returns (cnt, total, out).
    """
    total += x
    if cnt < period - 1:
        return cnt + 1, total, NAN
    out = total / period
    total -= x_leave
    return period, total, out


@step
def ring_push(buf: np.ndarray, off: int, cap: int, pos: int, x: float):
    """Write ``x`` at ring slot ``pos`` (a ring of ``cap`` slots at ``buf[off:]``); return next pos."""
    buf[off + pos] = x
    pos += 1
    if pos == cap:
        pos = 0
    return pos


@step
def scan_max(vals, m: int, hi_idx: int, hi: float, trailing: int, today: int, ties_latest: bool):
    """TA-Lib's lazy rolling maximum over ``[trailing, today]`` (index ``& m`` into ``vals``).

    Rescans the window only when the previous maximum left it.  NaNs never win a comparison
    and a NaN running extreme is replaced by the next number (TA-Lib 0.8 skips NaNs in windows).
    ``ties_latest`` selects AROON's ``>=`` in the rescan (latest index wins ties).
    """
    tmp = vals[today & m]
    if hi_idx < trailing:
        hi_idx = trailing
        hi = vals[hi_idx & m]
        i = hi_idx + 1
        while i <= today:
            tmp = vals[i & m]
            if tmp > hi or (ties_latest and tmp == hi) or hi != hi:
                hi_idx = i
                hi = tmp
            i += 1
    elif tmp >= hi or hi != hi:
        hi_idx = today
        hi = tmp
    return hi_idx, hi


@step
def scan_min(vals, m: int, lo_idx: int, lo: float, trailing: int, today: int, ties_latest: bool):
    """Mirror of :func:`scan_max` for the rolling minimum."""
    tmp = vals[today & m]
    if lo_idx < trailing:
        lo_idx = trailing
        lo = vals[lo_idx & m]
        i = lo_idx + 1
        while i <= today:
            tmp = vals[i & m]
            if tmp < lo or (ties_latest and tmp == lo) or lo != lo:
                lo_idx = i
                lo = tmp
            i += 1
    elif tmp <= lo or lo != lo:
        lo_idx = today
        lo = tmp
    return lo_idx, lo


@step
def dq_push_max(dq, m: int, head: int, tail: int, vals, vm: int, i: int, oldest: int):
    """Monotone deque step for a rolling max over ``[oldest, i]``; returns (head, tail).

    ``dq`` holds indices (ring, mask ``m``); values are read as ``vals[idx & vm]``.  Pops
    ``<=`` so the latest index wins ties (the same index TA-Lib's AROON reports).
    """
    x = vals[i & vm]
    while tail > head and vals[dq[(tail - 1) & m] & vm] <= x:
        tail -= 1
    dq[tail & m] = i
    tail += 1
    while dq[head & m] < oldest:
        head += 1
    return head, tail


@step
def dq_push_min(dq, m: int, head: int, tail: int, vals, vm: int, i: int, oldest: int):
    """Mirror of :func:`dq_push_max` for the rolling minimum."""
    x = vals[i & vm]
    while tail > head and vals[dq[(tail - 1) & m] & vm] >= x:
        tail -= 1
    dq[tail & m] = i
    tail += 1
    while dq[head & m] < oldest:
        head += 1
    return head, tail


@step
def tx_begin(buf: np.ndarray, n: int, final: bool) -> None:
    """Forming-bar support for streams.

    ``buf[:n]`` is the live state (slot 0 = 'uncommitted bar pending' flag), ``buf[n:2n]`` the
    last committed state.  A pending uncommitted bar is rolled back first; a non-final update
    snapshots the committed state so the next call can roll it back.
    """
    if buf[0] != 0.0:
        for j in range(n):
            buf[j] = buf[n + j]
    elif not final:
        for j in range(n):
            buf[n + j] = buf[j]


@step
def tx_end(buf: np.ndarray, final: bool) -> None:
    buf[0] = 0.0 if final else 1.0


def pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


@step
def ma_push(matype: int, cnt: int, acc: float, x: float, ring, rm: int, idx: int, p: int):
    """Second-stage moving average (TA_MA semantics) over a value stream kept in a small ring.

    ``idx`` = how many values were pushed before this one.  matype 0 = SMA, 1 = EMA; period 1
    is a copy, as in TA-Lib's TA_MA.  Returns (cnt, acc, out).
    """
    ring[idx & rm] = x
    if p == 1:
        return 1, acc, x
    if matype == 0:
        return sma_step(cnt, acc, x, ring[(idx - p + 1) & rm], p)
    return ema_step(cnt, acc, x, p, 2.0 / (p + 1))


@step
def pow2(n: int) -> int:
    """Smallest power of two >= n (jitted twin of :func:`pow2_at_least`)."""
    p = 1
    while p < n:
        p <<= 1
    return p


# --------------------------------------------------------------------------------------------
# Block (van Herk / Gil-Werman) rolling extremes for the vectorised kernels.
#
# The window [i-w+1, i] spans at most two aligned blocks of w bars: its max is
# max(suffix-max of the previous block from i-w+1, prefix-max of the current block up to i).
# O(1) per bar, no data-dependent branches.  Exact for NaN-free data (max/min are exact), so it
# returns the same window extremes as the streaming lazy rescan (:func:`scan_max`); any NaN
# sets ``bad`` and the caller falls back to its reference kernel (the streaming algorithm
# applied to arrays).  Values are read as ``vals[idx & vm]`` (vm = -1 for plain arrays).

INF = np.inf
U = uint64  # index cast: numba skips negative-index wrap-around for unsigned indices,
#               which lets LLVM keep these loops tight (indices here are never negative)


@step
def blk_scratch(w):
    """Scratch for :func:`blk_extremes`: suffix buffers (previous block, block A, block B;
    -inf/+inf sentinels at index w) and the extremes of one chunk of bars (a multiple of 2w,
    about 512 bars: stays in L1 while the caller consumes it)."""
    PH = np.full(w + 1, -INF)
    PL = np.full(w + 1, INF)
    c = 2 * w * max(1, 512 // (2 * w))
    return PH, PL, PH.copy(), PL.copy(), PH.copy(), PL.copy(), np.empty(c), np.empty(c)


@step
def blk_first(H, L, begin, w, SH, SL):
    """First block [begin, begin+w): its suffix extremes go to ``SH``/``SL``.  Returns
    (highest, lowest, bad) of the block = the first full window; ``bad`` = NaN seen."""
    mh = -INF
    ml = INF
    bad = False
    Hb = H[begin:]
    Lb = L[begin:]
    for jj in range(w):
        j = U(w - 1 - jj)
        xh = Hb[j]
        xl = Lb[j]
        bad |= (xh != xh) | (xl != xl)
        mh = xh if xh > mh else mh
        ml = xl if xl < ml else ml
        SH[j] = mh
        SL[j] = ml
    return mh, ml, bad


@shared
def _blk_last(H, L, b0, q, r, w, PH, PL, AH, AL, HI, LO):
    """:func:`blk_extremes` on one of its last blocks (``r`` <= w bars at ``b0 + q``), alone; a whole one
    becomes the previous block.  True if a NaN was seen.  Not inlined: it runs once per call, and the
    paired loop keeps the registers it had before this was split out."""
    bad = False
    Hc = H[b0 + q:]
    Lc = L[b0 + q:]
    if r == w:
        ah = -INF
        al = INF
        for jj in range(w):
            j = U(w - 1 - jj)
            x = Hc[j]
            ah = x if x > ah else ah
            AH[j] = ah
            x = Lc[j]
            al = x if x < al else al
            AL[j] = al
    fh = -INF
    fl = INF
    HIc = HI[q:]
    LOc = LO[q:]
    for j in range(r):
        x = Hc[j]
        y = Lc[j]
        bad |= (x != x) | (y != y)
        fh = x if x > fh else fh
        fl = y if y < fl else fl
        s = PH[j + 1]
        HIc[j] = s if s > fh else fh
        s = PL[j + 1]
        LOc[j] = s if s < fl else fl
    if r == w:
        for j in range(w):
            PH[j] = AH[j]
            PL[j] = AL[j]
    return bad


@jit
def blk_extremes(H, L, b0, m, w, PH, PL, AH, AL, BH, BL, HI, LO):
    """Rolling extremes of the ``w``-bar windows ending at bars b0 .. b0+m-1 -> HI[:m], LO[:m].

    Van Herk / Gil-Werman: bars form aligned blocks of ``w`` (``b0`` is a block start, ``m`` a
    multiple of 2w except for the last call); a window = suffix of the previous block + prefix
    of its own block.  ``PH``/``PL`` hold the previous block's suffix extremes (updated on
    return).  Blocks are processed in pairs, side by side, so independent dependency chains
    interleave.  O(1) per bar, no data-dependent branches.  Exact for NaN-free input (max/min
    are exact); returns True if a NaN was seen (callers then fall back to their reference
    kernel, the streaming algorithm).  One compiled function shared by all window kernels.
    """
    bad = False
    q = 0
    while q + 2 * w <= m:
        oa = b0 + q
        ob = b0 + q + w
        ah = -INF
        al = INF
        bh = -INF
        bl = INF
        for jj in range(w):  # suffix extremes of both blocks, walked backwards
            j = U(w - 1 - jj)
            x = H[U(oa) + j]
            ah = x if x > ah else ah
            AH[j] = ah
            x = L[U(oa) + j]
            al = x if x < al else al
            AL[j] = al
            x = H[U(ob) + j]
            bh = x if x > bh else bh
            BH[j] = bh
            x = L[U(ob) + j]
            bl = x if x < bl else bl
            BL[j] = bl
        ah = -INF
        al = INF
        bh = -INF
        bl = INF
        for j in range(w):  # prefix extremes, combined with the previous block's suffix
            xa = H[U(oa + j)]
            ya = L[U(oa + j)]
            xb = H[U(ob + j)]
            yb = L[U(ob + j)]
            bad |= (xa != xa) | (ya != ya) | (xb != xb) | (yb != yb)
            ah = xa if xa > ah else ah
            al = ya if ya < al else al
            bh = xb if xb > bh else bh
            bl = yb if yb < bl else bl
            s = PH[j + 1]
            HI[U(q + j)] = s if s > ah else ah
            s = PL[j + 1]
            LO[U(q + j)] = s if s < al else al
            s = AH[j + 1]
            HI[U(q + w + j)] = s if s > bh else bh
            s = AL[j + 1]
            LO[U(q + w + j)] = s if s < bl else bl
        for j in range(w):
            PH[j] = BH[j]
            PL[j] = BL[j]
        q += 2 * w
    while q < m:  # the last one or two blocks (the final one possibly partial)
        r = min(w, m - q)
        bad |= _blk_last(H, L, b0, q, r, w, PH, PL, AH, AL, HI, LO)
        q += r
    return bad


@step
def blk_arg_step(H, L, i, w, SH, SL, SIH, SIL, pos, fh, fl, fih, fil, bad):
    """Per-bar block rolling extremes with the LATEST index of each extreme (AROON ties) over
    plain arrays, windows [i-w+1, i].  ``SH``/``SL`` (length w+1, -inf/+inf at index w) and
    ``SIH``/``SIL`` hold the previous block's suffix extremes and their indices; ``pos`` = bars
    of the current block seen (start: 0 at the first bar), ``fh``/``fl`` its prefix extremes at
    ``fih``/``fil``.  Exact for NaN-free input; ``bad`` flags a NaN (callers fall back).
    Returns (pos, fh, fl, fih, fil, bad, hi_idx, lo_idx).
    """
    if pos == w:
        mh = -INF
        ml = INF
        ih = i - 1
        il = i - 1
        for k in range(w - 1, -1, -1):
            j = i - w + k
            xh = H[U(j)]
            xl = L[U(j)]
            if xh > mh:  # walking backwards: strict keeps the latest index of a tie
                mh = xh
                ih = j
            if xl < ml:
                ml = xl
                il = j
            SH[U(k)] = mh
            SL[U(k)] = ml
            SIH[k] = ih
            SIL[k] = il
        pos = 0
        fh = -INF
        fl = INF
    xh = H[U(i)]
    xl = L[U(i)]
    bad |= (xh != xh) | (xl != xl)
    if xh >= fh:
        fh = xh
        fih = i
    if xl <= fl:
        fl = xl
        fil = i
    pos += 1
    hi_idx = fih if fh >= SH[U(pos)] else SIH[U(pos)]
    lo_idx = fil if fl <= SL[U(pos)] else SIL[U(pos)]
    return pos, fh, fl, fih, fil, bad, hi_idx, lo_idx
