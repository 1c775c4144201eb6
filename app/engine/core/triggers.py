"""Trigger books: the armed stops and trailing stops of one price series of one instrument, checked on each print.

The emulator keeps one ``TriggerBook`` per (instrument id, series), the series being ``last``, ``bid`` or ``ask``,
and calls ``on_price`` on every print of that series (docs/design/issue20-orders.md, section 3). A print with
nothing to fire costs a few comparisons however many triggers are armed, where vn.py's ``check_stop_order`` and
Nautilus's Python ``MatchingCore.iterate`` scan every armed order on every tick. The book is pure: it knows keys
(client order ids), prices and the order of arming, not orders; it sends nothing and journals nothing.

FIXED       ``arm_fixed(key, "up", t)`` fires on a print p >= t (a buy stop), ``"down"`` on p <= t (a sell
            stop). Two heaps of (sort key, ver, holder): ``up`` keyed by t (a min-heap), ``down`` by -t (a
            max-heap). A print pops while a top is crossed; with nothing crossed that is one comparison per heap.
            O(log n) per arm and per fire.
LAZY        cancel and modify do not search a heap: the holder's ``ver`` changes, so its old entry is stale and is
            skipped when it comes to the top. A heap is rebuilt (O(n)) when its stale entries outnumber its live
            ones: it stays under twice its live size and the rebuild costs amortised O(1) per cancel.
TRAILING    a sell trailer's water mark H is the highest print since it was armed, its trigger H - d (absolute) or
            H * (1 - q) (percent); it fires on p <= trigger. A buy trailer mirrors it: low water mark L, trigger
            L + d or L * (1 + q), fires on p >= trigger. Every trailer of a side sees the same prints, so a print
            p raises H to p for exactly the trailers with H < p, and after it they all share H = p. Trailers with
            equal H form a **cohort**; a side's cohorts form a **stack** sorted by H (strictly decreasing from
            bottom to top for sells, L increasing for buys), one stack per side and kind of distance: four. A
            cohort keeps a heap of its members' distances (the nearest trigger on top) and one lazy entry, keyed
            by that nearest trigger, in its side's cohort heap (``sells`` max-first, ``buys`` min-first; apart
            from the fixed stops so that a trend's re-posts do not churn a heap of thousands).
NEW HIGH    a print above the top cohort's H pops every cohort with H <= p, merges them small-into-large (a trailer
            only moves into a cohort at least as large as its own, so it moves O(log n) times in its life, each
            move O(log n)) and pushes the survivor back with H = p and its new trigger, O(log c) (c: cohorts).
            On a monotone series that is one cohort whose H is overwritten and whose entry, on top of its heap, is
            replaced in place. With no new high and nothing crossed a print costs O(1): four stack tops and four
            heap tops.
RESTORE     ``arm_trailing(..., ref=H)`` places a trailer at its journaled water mark. The note's invariant (every
            cohort has processed the last print before a trailer joins with H = that print, hence restoring in
            descending ``trail_ref``) is not needed here: a trailer is inserted at its own H by bisection (O(log c)
            to find, a list insert to place), so trailers can be restored in any order, before or after prints.
ACTIVATION  a trailer with an activation price waits as a fixed trigger (a sell on p >= activation, a buy on
            p <= activation), then joins the cohort of the activating print (H = that print). One armed before
            any print and without ``ref`` waits the same way for the first print. One whose activation the last
            print has already reached starts at once from that print.
ORDER       the keys one print fires come back deepest first (largest |trigger - print|), ties by arming sequence.
            ``modify`` and ``modify_trailing`` keep the key's arming sequence, so a restart that re-arms in
            journal (arming) order gives the same ties.
MARKETABLE  arming never fires, and a marketable trigger is not refused here: one that the last print has
            crossed fires at the next print that crosses it. The gate asks first: ``would_fire(direction,
            trigger)`` (STOP_MARKETABLE; for a trailer restored with ``ref``, pass ``trail_trigger(...)``), and
            ``last_price`` is None before any print (NO_MARKET_DATA).
JOURNAL     ``take_moved()`` returns the trailers whose water mark changed since they were armed or last returned
            (their cohort's H moved, or they activated): what the emulator writes as ``trail_ref``, throttled.

Prices are the series' floats as received (finite; percent distances need positive prices). A trigger is always
computed with ``trail_trigger``'s expressions, so a caller that recomputes one gets the same float.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Hashable
from heapq import heapify, heappop, heappush, heapreplace
from typing import Literal

Direction = Literal["up", "down"]
TrailSide = Literal["sell", "buy"]
_DEAD = -1  # the ver of a holder with no live entry


def trail_trigger(side: TrailSide, ref: float, distance: float | None = None, pct: float | None = None) -> float:
    """The trigger of a trailer at water mark ``ref``, computed as the book computes it."""
    if distance is not None:
        return ref - distance if side == "sell" else ref + distance
    return ref * (1.0 - pct) if side == "sell" else ref * (1.0 + pct)


class _Heap:
    """Entries (sort key, ver, holder); an entry is live while ``holder.ver == ver``."""

    __slots__ = ("items", "stale")

    def __init__(self) -> None:
        self.items: list[tuple] = []
        self.stale = 0

    def dropped(self) -> None:
        """One entry went stale (its holder's ver was changed before this call)."""
        self.stale += 1
        if self.stale * 2 > len(self.items):
            self.items[:] = [e for e in self.items if e[2].ver == e[1]]  # in place: callers hold the list
            heapify(self.items)
            self.stale = 0


class _Stack:
    """One side's cohorts for one kind of distance, sorted by water mark (the last one moves first)."""

    __slots__ = ("sell", "pct", "cohorts", "heap")

    def __init__(self, sell: bool, pct: bool, heap: _Heap) -> None:
        self.sell, self.pct, self.heap = sell, pct, heap
        self.cohorts: list[_Cohort] = []

    def trigger(self, h: float, m: float) -> float:
        """``m`` is the distance, or the factor (1 - q for a sell, 1 + q for a buy) for a percent trailer."""
        if self.pct:
            return h * m
        return h - m if self.sell else h + m

    def rank(self, m: float) -> float:
        """Smallest first = nearest trigger first."""
        return -m if self.sell and self.pct else m

    def index(self, h: float) -> int:
        return bisect_left(self.cohorts, -h, key=_neg_h) if self.sell else bisect_left(self.cohorts, h, key=_h)


class _Cohort:
    """Trailers sharing one water mark; ``members`` is a heap of (rank, ver, armed)."""

    __slots__ = ("h", "stack", "members", "live", "stale", "ver")

    def __init__(self, h: float, stack: _Stack) -> None:
        self.h, self.stack = h, stack
        self.members: list[tuple] = []
        self.live = self.stale = 0
        self.ver = _DEAD


def _h(c: _Cohort) -> float:
    return c.h


def _neg_h(c: _Cohort) -> float:
    return -c.h


class _Armed:
    """One key. ``at``: the fixed trigger or the activation price; ``heap``: where it waits (None once trailing);
    ``stack``/``m``: a trailer's stack and distance or factor; ``told``: the water mark last reported."""

    __slots__ = ("key", "seq", "ver", "at", "heap", "stack", "m", "cohort", "told")

    def __init__(self, key: Hashable, seq: int) -> None:
        self.key, self.seq, self.ver = key, seq, _DEAD
        self.at: float | None = None
        self.heap: _Heap | None = None
        self.stack: _Stack | None = None
        self.m = 0.0
        self.cohort: _Cohort | None = None
        self.told: float | None = None


def _finite(x: float, what: str) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{what} must be a finite price, got {x!r}")
    return x


class TriggerBook:
    """The armed triggers of one price series of one instrument (see the module docstring)."""

    def __init__(self) -> None:
        self._up = _Heap()  # fixed buy stops, and sell trailers waiting for their activation
        self._down = _Heap()  # fixed sell stops, and buy trailers waiting for their activation
        self._sells = _Heap()  # sell cohorts by trigger (max first)
        self._buys = _Heap()  # buy cohorts by trigger (min first)
        self._sell_abs = _Stack(True, False, self._sells)
        self._sell_pct = _Stack(True, True, self._sells)
        self._buy_abs = _Stack(False, False, self._buys)
        self._buy_pct = _Stack(False, True, self._buys)
        # the hot path reads these lists directly; they are only ever changed in place
        self._sa, self._sp = self._sell_abs.cohorts, self._sell_pct.cohorts
        self._ba, self._bp = self._buy_abs.cohorts, self._buy_pct.cohorts
        self._ui, self._di = self._up.items, self._down.items
        self._si, self._bi = self._sells.items, self._buys.items
        self._armed: dict[Hashable, _Armed] = {}
        self._moved: dict[_Cohort, None] = {}  # cohorts whose H moved since take_moved (insertion-ordered)
        self._seq = 0
        self._ver = 0
        self.last_price: float | None = None
        self.fired_at: dict[Hashable, float] = {}  # the keys the last firing print fired -> their triggers

    # ------------------------------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._armed)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._armed

    def keys(self) -> list[Hashable]:
        """Armed keys in arming order."""
        return [a.key for a in sorted(self._armed.values(), key=lambda a: a.seq)]

    def water_mark(self, key: Hashable) -> float | None:
        """A trailer's H (sell) or L (buy); None for a fixed trigger or a trailer not yet trailing."""
        c = self._armed[key].cohort
        return None if c is None else c.h

    def trigger_of(self, key: Hashable) -> float | None:
        """The price that fires ``key`` now; None for a trailer not yet trailing."""
        a = self._armed[key]
        if a.stack is None:
            return a.at
        return None if a.cohort is None else a.stack.trigger(a.cohort.h, a.m)

    def would_fire(self, direction: Direction, trigger: float) -> bool:
        """Whether the last print has already crossed ``trigger`` (False before any print: see ``last_price``)."""
        last = self.last_price
        if last is None:
            return False
        return last >= trigger if direction == "up" else last <= trigger

    @property
    def moved(self) -> bool:
        """Some trailer's water mark changed since ``take_moved`` last ran."""
        return bool(self._moved)

    def take_moved(self) -> list[tuple[Hashable, float]]:
        """(key, water mark) of each trailer whose water mark changed since it was armed or last returned here,
        in arming order."""
        out = []
        for c in self._moved:
            h = c.h
            for _, ver, a in c.members:
                if a.ver == ver and a.told != h:
                    a.told = h
                    out.append(a)
        self._moved.clear()
        out.sort(key=lambda a: a.seq)
        return [(a.key, a.cohort.h) for a in out]

    # ------------------------------------------------------------------------------------------ arming
    def arm_fixed(self, key: Hashable, direction: Direction, trigger: float) -> None:
        """Arm a fixed trigger: ``up`` fires on a print >= trigger, ``down`` on a print <= trigger."""
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
        trigger = _finite(trigger, "trigger")
        self._check_new(key)
        self._wait(_Armed(key, self._next_seq()), direction == "up", trigger)

    def arm_trailing(self, key: Hashable, side: TrailSide, distance: float | None = None, pct: float | None = None,
                     activation: float | None = None, ref: float | None = None) -> None:
        """Arm a trailer, ``distance`` (price units) or ``pct`` (a fraction: 0.02 is 2 %). It trails from the last
        print, or from ``ref`` (a journaled water mark: a restart), or waits for ``activation`` to trade (ignored
        when ``ref`` is given)."""
        stack, m = self._trail_kind(side, distance, pct)
        activation = None if activation is None else _finite(activation, "activation")
        ref = None if ref is None else _finite(ref, "ref")
        self._check_new(key)
        a = _Armed(key, self._next_seq())
        a.stack, a.m = stack, m
        self._start(a, activation, ref)

    def cancel(self, key: Hashable) -> bool:
        """Disarm ``key``; False when it is not armed (already fired or canceled)."""
        a = self._armed.pop(key, None)
        if a is None:
            return False
        self._drop(a)
        return True

    def modify(self, key: Hashable, trigger: float) -> None:
        """Move a fixed trigger, or a waiting trailer's activation price. The key keeps its arming sequence (its
        place among ties). A trailer already trailing changes its distance with ``modify_trailing``."""
        a = self._armed[key]
        trigger = _finite(trigger, "trigger")
        if a.cohort is not None:
            raise ValueError(f"{key!r} is trailing: change its distance with modify_trailing")
        up = a.heap is self._up
        self.cancel(key)
        b = _Armed(key, a.seq)
        if a.stack is None:
            self._wait(b, up, trigger)
        else:
            b.stack, b.m = a.stack, a.m
            self._start(b, trigger, None)

    def modify_trailing(self, key: Hashable, distance: float | None = None, pct: float | None = None) -> None:
        """Change a trailer's distance; it keeps its water mark (or keeps waiting) and its arming sequence."""
        a = self._armed[key]
        if a.stack is None:
            raise ValueError(f"{key!r} is a fixed trigger: move it with modify")
        stack, m = self._trail_kind("sell" if a.stack.sell else "buy", distance, pct)
        c = a.cohort
        self.cancel(key)
        b = _Armed(key, a.seq)
        b.stack, b.m = stack, m
        if c is None:
            self._start(b, a.at, None)
            return
        self._start(b, None, c.h)
        b.told = a.told
        if b.told != c.h:  # moved and not yet reported: its new cohort must be looked at
            self._moved[b.cohort] = None

    # ------------------------------------------------------------------------------------------ prints
    def on_price(self, p: float) -> list[Hashable]:
        """Process one print; return the keys it fires (now disarmed), deepest first, ties by arming sequence."""
        self.last_price = p
        cs = self._sa
        if cs and cs[-1].h < p:
            self._raise(self._sell_abs, p)
        cs = self._sp
        if cs and cs[-1].h < p:
            self._raise(self._sell_pct, p)
        cs = self._ba
        if cs and cs[-1].h > p:
            self._raise(self._buy_abs, p)
        cs = self._bp
        if cs and cs[-1].h > p:
            self._raise(self._buy_pct, p)
        ui, di, si, bi = self._ui, self._di, self._si, self._bi
        if (ui and ui[0][0] <= p) or (di and di[0][0] <= -p) or (si and si[0][0] <= -p) or (bi and bi[0][0] <= p):
            return self._fire(p)
        return []

    # ------------------------------------------------------------------------------------------ internals
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _next_ver(self) -> int:
        self._ver += 1
        return self._ver

    def _check_new(self, key: Hashable) -> None:
        if key in self._armed:
            raise ValueError(f"{key!r} is already armed")

    def _trail_kind(self, side: TrailSide, distance: float | None, pct: float | None) -> tuple[_Stack, float]:
        if side not in ("sell", "buy"):
            raise ValueError(f"side must be 'sell' or 'buy', got {side!r}")
        if (distance is None) == (pct is None):
            raise ValueError("give a trailing distance or a percent, not both or neither")
        sell = side == "sell"
        if distance is not None:
            d = float(distance)
            if not (d > 0 and math.isfinite(d)):
                raise ValueError(f"a trailing distance must be positive, got {distance!r}")
            return (self._sell_abs if sell else self._buy_abs), d
        q = float(pct)
        if not (0 < q < 1):
            raise ValueError(f"a trailing percent must be a fraction between 0 and 1 (0.02 = 2 %), got {pct!r}")
        f = 1.0 - q if sell else 1.0 + q
        if f == 1.0:
            raise ValueError(f"a trailing percent of {pct!r} is too small to move the trigger")
        return (self._sell_pct if sell else self._buy_pct), f

    def _wait(self, a: _Armed, up: bool, at: float) -> None:
        """Put ``a`` in a heap: a fixed trigger, or a trailer waiting for its activation price."""
        a.at, a.ver = at, self._next_ver()
        a.heap = self._up if up else self._down
        heappush(a.heap.items, (at if up else -at, a.ver, a))
        self._armed[a.key] = a

    def _start(self, a: _Armed, activation: float | None, ref: float | None) -> None:
        """A trailer trails from ``ref``, else from the last print, else (or until ``activation``) it waits."""
        sell = a.stack.sell
        last = self.last_price
        if ref is None:
            if activation is None and last is None:
                activation = -math.inf if sell else math.inf  # the first print starts it
            if activation is not None:
                a.at = activation
                if last is None or (last < activation if sell else last > activation):
                    self._wait(a, sell, activation)
                    return
            ref = last
        a.ver, a.told = self._next_ver(), ref
        self._armed[a.key] = a
        self._place(a, ref)

    def _place(self, a: _Armed, h: float) -> _Cohort:
        """Put a trailer into its stack's cohort with water mark ``h`` (made if none)."""
        st = a.stack
        cs = st.cohorts
        i = st.index(h)
        if i < len(cs) and cs[i].h == h:
            c = cs[i]
        else:
            c = _Cohort(h, st)
            cs.insert(i, c)
        e = (st.rank(a.m), a.ver, a)
        heappush(c.members, e)
        c.live += 1
        a.cohort, a.heap = c, None
        if c.members[0] is e:
            self._post(c)
        return c

    def _post(self, c: _Cohort) -> None:
        """(Re)enter cohort ``c`` in its side's heap at its nearest member's trigger."""
        st = c.stack
        t = st.trigger(c.h, c.members[0][2].m)
        self._repost(st.heap, c, -t if st.sell else t)

    def _repost(self, heap: _Heap, c: _Cohort, k: float) -> None:
        items, old = heap.items, c.ver
        self._ver = v = self._ver + 1
        c.ver = v
        if old == _DEAD:
            heappush(items, (k, v, c))
        elif items[0][2] is c and items[0][1] == old:  # its entry is on top (a trend's one cohort): replace it
            heapreplace(items, (k, v, c))
        else:
            heap.dropped()
            heappush(items, (k, v, c))

    def _unstack(self, c: _Cohort) -> None:
        cs = c.stack.cohorts
        del cs[c.stack.index(c.h)]
        self._moved.pop(c, None)

    def _tidy(self, c: _Cohort) -> None:
        if c.stale > c.live:
            c.members[:] = [e for e in c.members if e[2].ver == e[1]]
            heapify(c.members)
            c.stale = 0

    def _drop(self, a: _Armed) -> None:
        """Take a disarmed key out of its heap or cohort (lazily)."""
        c = a.cohort
        if c is None:
            a.ver = _DEAD
            a.heap.dropped()
            a.heap = None
            return
        top = c.members[0][2] is a
        a.ver, a.cohort = _DEAD, None
        c.live -= 1
        c.stale += 1
        if not c.live:
            c.ver = _DEAD
            c.stack.heap.dropped()
            self._unstack(c)
            return
        if top:
            mem = c.members
            while mem[0][2].ver != mem[0][1]:
                heappop(mem)
                c.stale -= 1
            self._post(c)
        self._tidy(c)

    def _raise(self, st: _Stack, p: float) -> None:
        """A new high (sell) or low (buy): every cohort the print passes or meets becomes one with H = p."""
        cs = st.cohorts
        big = cs.pop()
        if st.sell:
            while cs and cs[-1].h <= p:
                big = self._merge(big, cs.pop())
        else:
            while cs and cs[-1].h >= p:
                big = self._merge(big, cs.pop())
        big.h = p
        cs.append(big)
        self._moved[big] = None
        # _post(big), inlined: on a trending market this runs on every print
        m = big.members[0][2].m
        if st.pct:
            k = -(p * m) if st.sell else p * m
        else:
            k = -(p - m) if st.sell else p + m
        self._repost(st.heap, big, k)

    def _merge(self, a: _Cohort, b: _Cohort) -> _Cohort:
        """Move the smaller cohort's live members into the larger; return the larger."""
        if a.live < b.live:
            a, b = b, a
        b.ver = _DEAD
        b.stack.heap.dropped()
        moved = [e for e in b.members if e[2].ver == e[1]]
        for e in moved:
            e[2].cohort = a
        mem = a.members
        if len(moved) * 8 > len(mem):
            mem += moved
            heapify(mem)
        else:
            for e in moved:
                heappush(mem, e)
        a.live += b.live
        b.members, b.live = [], 0
        self._moved.pop(b, None)
        return a

    def _fire(self, p: float) -> list[Hashable]:
        fired: list[tuple[float, int, Hashable]] = []
        up, down, sells, buys = self._up, self._down, self._sells, self._buys
        ui, di, si, bi = up.items, down.items, sells.items, buys.items
        while True:
            if ui and ui[0][0] <= p:
                heap, (_, ver, x) = up, heappop(ui)
            elif di and di[0][0] <= -p:
                heap, (_, ver, x) = down, heappop(di)
            elif si and si[0][0] <= -p:
                heap, (_, ver, x) = sells, heappop(si)
            elif bi and bi[0][0] <= p:
                heap, (_, ver, x) = buys, heappop(bi)
            else:
                break
            if x.ver != ver:
                heap.stale -= 1
            elif type(x) is _Cohort:
                self._fire_cohort(x, p, fired)
            elif x.stack is None:
                del self._armed[x.key]
                x.ver, x.heap = _DEAD, None
                fired.append((p - x.at if heap is up else x.at - p, x.seq, x.key, x.at))
            else:  # a trailer's activation price traded
                self._moved[self._place(x, p)] = None
        fired.sort(key=_deepest_first)
        self.fired_at = {f[2]: f[3] for f in fired}
        return [f[2] for f in fired]

    def _fire_cohort(self, c: _Cohort, p: float, fired: list) -> None:
        """Its global entry was popped: fire the members the print crosses, then re-enter or remove it."""
        st, mem, h = c.stack, c.members, c.h
        sell = st.sell
        while mem:
            _, ver, a = mem[0]
            if a.ver != ver:
                heappop(mem)
                c.stale -= 1
                continue
            t = st.trigger(h, a.m)
            if not (p <= t if sell else p >= t):
                break
            heappop(mem)
            c.live -= 1
            del self._armed[a.key]
            a.ver, a.cohort = _DEAD, None
            fired.append((t - p if sell else p - t, a.seq, a.key, t))
        c.ver = _DEAD  # its entry was consumed by the pop
        if c.live:
            self._tidy(c)
            self._post(c)
        else:
            self._unstack(c)


def _deepest_first(f: tuple) -> tuple[float, int]:
    return -f[0], f[1]
