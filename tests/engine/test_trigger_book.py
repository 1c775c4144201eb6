"""TriggerBook (app/engine/core/triggers.py): hand-computed cases, and random operations against a naive scan.

The naive book below is the definition: on each print every trailer's water mark moves, waiting trailers whose
activation traded start from that print, then every armed key is checked, and the fired keys are sorted deepest
first, ties by arming sequence. The real book must agree with it on every fire (same keys, same order), every
water mark and trigger, and every ``take_moved``.
"""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine.core.triggers import TriggerBook, trail_trigger


# ---------------------------------------------------------------------------------------------- the reference
class _Item:
    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.fixed_up: bool | None = None  # a fixed trigger's direction
        self.at: float | None = None  # fixed trigger or activation price
        self.side: str | None = None  # a trailer's side
        self.distance: float | None = None
        self.pct: float | None = None
        self.h: float | None = None  # None while a trailer waits
        self.told: float | None = None


class NaiveBook:
    """O(n) per print: the definition the real book is checked against."""

    def __init__(self) -> None:
        self.items: dict[object, _Item] = {}
        self.seq = 0
        self.last: float | None = None

    def _trigger(self, it: _Item) -> float:
        if it.side is None:
            return it.at
        if it.distance is not None:
            return it.h - it.distance if it.side == "sell" else it.h + it.distance
        return it.h * (1.0 - it.pct) if it.side == "sell" else it.h * (1.0 + it.pct)

    def arm_fixed(self, key, direction, trigger) -> None:
        assert key not in self.items
        self.seq += 1
        it = _Item(self.seq)
        it.fixed_up, it.at = direction == "up", trigger
        self.items[key] = it

    def _start(self, it: _Item, activation, ref) -> None:
        if ref is not None:
            it.h = ref
        elif activation is not None:
            it.at = activation
            reached = self.last is not None and (
                self.last >= activation if it.side == "sell" else self.last <= activation)
            it.h = self.last if reached else None
        else:
            it.h = self.last
        it.told = it.h

    def arm_trailing(self, key, side, distance=None, pct=None, activation=None, ref=None) -> None:
        assert key not in self.items
        self.seq += 1
        it = _Item(self.seq)
        it.side, it.distance, it.pct = side, distance, pct
        self._start(it, activation, ref)
        self.items[key] = it

    def cancel(self, key) -> bool:
        return self.items.pop(key, None) is not None

    def modify(self, key, trigger) -> None:
        it = self.items[key]
        if it.side is None:
            it.at = trigger
            return
        if it.h is not None:
            raise ValueError("trailing")
        self._start(it, trigger, None)

    def modify_trailing(self, key, distance=None, pct=None) -> None:
        it = self.items[key]
        if it.side is None:
            raise ValueError("fixed")
        it.distance, it.pct = distance, pct

    def on_price(self, p: float) -> list:
        self.last = p
        for it in self.items.values():
            if it.side is None:
                continue
            if it.h is not None:
                it.h = max(it.h, p) if it.side == "sell" else min(it.h, p)
            elif it.at is None or (p >= it.at if it.side == "sell" else p <= it.at):
                it.h = p
        fired = []
        for key, it in self.items.items():
            if it.side is None:
                t = it.at
                if (p >= t) if it.fixed_up else (p <= t):
                    fired.append((abs(p - t), it.seq, key))
            elif it.h is not None:
                t = self._trigger(it)
                if (p <= t) if it.side == "sell" else (p >= t):
                    fired.append((abs(p - t), it.seq, key))
        fired.sort(key=lambda f: (-f[0], f[1]))
        for f in fired:
            del self.items[f[2]]
        return [f[2] for f in fired]

    def keys(self) -> list:
        return [k for k, _ in sorted(self.items.items(), key=lambda kv: kv[1].seq)]

    def water_mark(self, key):
        return self.items[key].h

    def trigger_of(self, key):
        it = self.items[key]
        return None if it.side is not None and it.h is None else self._trigger(it)

    def take_moved(self) -> list:
        out = []
        for key, it in sorted(self.items.items(), key=lambda kv: kv[1].seq):
            if it.side is not None and it.h is not None and it.told != it.h:
                it.told = it.h
                out.append((key, it.h))
        return out


# ---------------------------------------------------------------------------------------------- the driver
PRICES = [x / 2 for x in range(180, 221)]  # 90.0 .. 110.0 in halves: many equal prices, exact sums
DISTANCES = [0.5, 1.0, 1.5, 2.0, 3.0, 5.0]
PCTS = [0.005, 0.01, 0.02, 0.05]


def _amount(kind: str, i: int) -> dict:
    return {"distance": DISTANCES[i % len(DISTANCES)]} if kind == "abs" else {"pct": PCTS[i % len(PCTS)]}


def run_ops(ops: list[tuple]) -> int:
    """Apply ``ops`` to both books, comparing after each; returns the number of fires seen."""
    real, ref = TriggerBook(), NaiveBook()
    next_key = 0
    fires = 0
    for op in ops:
        name = op[0]
        live = ref.keys()
        if name == "price":
            got, want = real.on_price(op[1]), ref.on_price(op[1])
            assert got == want, f"print {op[1]}: fired {got}, naive {want}"
            fires += len(got)
        elif name == "fixed":
            next_key += 1
            for b in (real, ref):
                b.arm_fixed(next_key, op[1], op[2])
        elif name == "trail":
            _, side, kind, i, act, restore = op
            next_key += 1
            for b in (real, ref):
                b.arm_trailing(next_key, side, activation=act, ref=restore, **_amount(kind, i))
        elif name == "take":
            assert real.take_moved() == ref.take_moved()
        elif live:
            key = live[op[1] % len(live)]
            if name == "cancel":
                assert real.cancel(key) is ref.cancel(key) is True
                assert real.cancel(key) is False
            else:
                outcomes = []
                for b in (real, ref):
                    try:
                        if name == "modify":
                            b.modify(key, op[2])
                        else:
                            b.modify_trailing(key, **_amount(op[2], op[3]))
                        outcomes.append(None)
                    except ValueError:
                        outcomes.append(ValueError)
                assert outcomes[0] is outcomes[1], f"{op}: real {outcomes[0]}, naive {outcomes[1]}"
        assert real.keys() == ref.keys()
        assert len(real) == len(ref.items)
        for key in ref.keys():
            assert real.water_mark(key) == ref.water_mark(key), f"water mark of {key} after {op}"
            assert real.trigger_of(key) == ref.trigger_of(key), f"trigger of {key} after {op}"
    return fires


def _maybe_price():
    return st.none() | st.sampled_from(PRICES)


op_strategy = st.one_of(
    st.tuples(st.just("price"), st.sampled_from(PRICES)),
    st.tuples(st.just("price"), st.sampled_from(PRICES)),
    st.tuples(st.just("price"), st.sampled_from(PRICES)),
    st.tuples(st.just("fixed"), st.sampled_from(["up", "down"]), st.sampled_from(PRICES)),
    st.tuples(st.just("trail"), st.sampled_from(["sell", "buy"]), st.sampled_from(["abs", "pct"]),
              st.integers(0, 11), _maybe_price(), _maybe_price()),
    st.tuples(st.just("trail"), st.sampled_from(["sell", "buy"]), st.sampled_from(["abs", "pct"]),
              st.integers(0, 11), st.none(), st.none()),
    st.tuples(st.just("cancel"), st.integers(0, 1000)),
    st.tuples(st.just("modify"), st.integers(0, 1000), st.sampled_from(PRICES)),
    st.tuples(st.just("modtrail"), st.integers(0, 1000), st.sampled_from(["abs", "pct"]), st.integers(0, 11)),
    st.tuples(st.just("take")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_strategy, max_size=120))
def test_random_operations_agree_with_a_naive_scan(ops) -> None:
    run_ops(ops)


def random_ops(rng: random.Random, n: int, arm_share: float = 0.35) -> list[tuple]:
    """A random walk of prints with arms, cancels and modifies in between (many armed at once)."""
    ops: list[tuple] = []
    i = 20
    for _ in range(n):
        r = rng.random()
        if r < arm_share:
            if rng.random() < 0.4:
                ops.append(("fixed", rng.choice(["up", "down"]), rng.choice(PRICES)))
            else:
                act = rng.choice(PRICES) if rng.random() < 0.2 else None
                restore = rng.choice(PRICES) if rng.random() < 0.2 else None
                ops.append(("trail", rng.choice(["sell", "buy"]), rng.choice(["abs", "pct"]), rng.randrange(12),
                            act, restore))
        elif r < arm_share + 0.08:
            ops.append(("cancel", rng.randrange(1000)))
        elif r < arm_share + 0.12:
            ops.append(("modify", rng.randrange(1000), rng.choice(PRICES)))
        elif r < arm_share + 0.15:
            ops.append(("modtrail", rng.randrange(1000), rng.choice(["abs", "pct"]), rng.randrange(12)))
        elif r < arm_share + 0.17:
            ops.append(("take",))
        else:
            i = max(0, min(len(PRICES) - 1, i + rng.choice([-2, -1, -1, 0, 1, 1, 2])))
            ops.append(("price", PRICES[i]))
    return ops


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_random_walks_agree_with_a_naive_scan(seed) -> None:
    """Long enough for hundreds armed at once, heap rebuilds and many cohort merges."""
    assert run_ops(random_ops(random.Random(seed), 2500)) > 100


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 140))
def test_longer_random_walks_agree_with_a_naive_scan(seed) -> None:
    run_ops(random_ops(random.Random(seed), 20_000, arm_share=random.Random(seed).choice([0.1, 0.35, 0.5])))


# ---------------------------------------------------------------------------------------------- hand cases
def test_sell_stop_fires_at_or_below_and_buy_stop_at_or_above() -> None:
    b = TriggerBook()
    b.arm_fixed("sell", "down", 100.0)
    b.arm_fixed("buy", "up", 105.0)
    assert b.on_price(100.5) == []
    assert b.on_price(104.5) == []
    assert b.on_price(99.5) == ["sell"]
    assert b.on_price(105.0) == ["buy"]
    assert len(b) == 0 and b.keys() == []


def test_trailing_sell_follows_the_high_and_fires_at_high_minus_distance() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("t", "sell", distance=2.0)
    assert (b.water_mark("t"), b.trigger_of("t")) == (100.0, 98.0)
    assert b.on_price(101.0) == [] and b.on_price(103.0) == [] and b.on_price(102.0) == []
    assert (b.water_mark("t"), b.trigger_of("t")) == (103.0, 101.0)
    assert b.on_price(101.0) == ["t"]
    assert "t" not in b


def test_trailing_buy_mirrors_it() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("t", "buy", distance=2.0)
    for p in (99.0, 97.0, 98.0, 98.5):
        assert b.on_price(p) == []
    assert (b.water_mark("t"), b.trigger_of("t")) == (97.0, 99.0)
    assert b.on_price(99.0) == ["t"]


def test_percent_trailers() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("s", "sell", pct=0.10)
    b.on_price(120.0)
    assert b.trigger_of("s") == pytest.approx(108.0) == trail_trigger("sell", 120.0, pct=0.10)
    assert b.trigger_of("s") == trail_trigger("sell", 120.0, pct=0.10)
    assert b.on_price(108.5) == []
    assert b.on_price(107.9) == ["s"]
    b.arm_trailing("b", "buy", pct=0.10)
    assert b.trigger_of("b") == pytest.approx(118.69)
    assert b.on_price(80.0) == []
    assert b.trigger_of("b") == pytest.approx(88.0)
    assert b.on_price(87.9) == [] and b.on_price(88.1) == ["b"]


def test_activation_waits_for_its_price_then_trails_from_that_print() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("t", "sell", distance=2.0, activation=105.0)
    assert b.water_mark("t") is None and b.trigger_of("t") is None
    assert b.on_price(104.0) == [] and b.on_price(95.0) == []  # not trailing: no fire below 98
    assert b.on_price(105.5) == []
    assert (b.water_mark("t"), b.trigger_of("t")) == (105.5, 103.5)
    assert b.take_moved() == [("t", 105.5)]
    assert b.on_price(106.0) == [] and b.on_price(104.0) == ["t"]


def test_activation_already_reached_starts_from_the_last_print() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("t", "buy", distance=1.0, activation=101.0)
    assert b.water_mark("t") == 100.0


def test_a_trailer_armed_before_any_print_starts_at_the_first() -> None:
    b = TriggerBook()
    b.arm_trailing("t", "sell", distance=1.0)
    assert b.water_mark("t") is None
    assert b.on_price(50.0) == []
    assert b.water_mark("t") == 50.0
    assert b.on_price(49.0) == ["t"]


def test_restore_with_ref_in_any_order() -> None:
    """Restored in ascending water mark (the note's invariant asks for descending): still exact."""
    b = TriggerBook()
    b.arm_trailing("low", "sell", distance=2.0, ref=105.0)
    b.arm_trailing("high", "sell", distance=2.0, ref=110.0)
    b.arm_trailing("mid", "sell", distance=1.0, ref=107.0)
    assert [b.trigger_of(k) for k in ("low", "high", "mid")] == [103.0, 108.0, 106.0]
    assert b.on_price(107.0) == ["high"]
    assert (b.water_mark("low"), b.water_mark("mid")) == (107.0, 107.0)
    b.arm_trailing("late", "sell", distance=2.5, ref=110.0)  # above the last print
    assert b.on_price(108.0) == []
    assert [b.water_mark(k) for k in ("low", "mid", "late")] == [108.0, 108.0, 110.0]
    assert b.on_price(106.5) == ["late", "mid"]  # 107.5 is 1.0 deep, 107 is 0.5 deep
    assert b.take_moved() == [("low", 108.0)]


def test_cancel_or_modify_then_rearm_never_fires_the_stale_entry() -> None:
    b = TriggerBook()
    b.arm_fixed("a", "down", 100.0)
    b.cancel("a")
    b.arm_fixed("a", "down", 90.0)
    b.arm_fixed("m", "down", 100.0)
    b.modify("m", 91.0)
    assert b.on_price(95.0) == []
    assert b.on_price(90.5) == ["m"]
    assert b.on_price(90.0) == ["a"]
    assert b.cancel("a") is False


def test_modify_keeps_the_arming_sequence() -> None:
    b = TriggerBook()
    b.arm_fixed("first", "down", 95.0)
    b.arm_fixed("second", "down", 90.0)
    b.modify("first", 90.0)
    assert b.keys() == ["first", "second"]
    assert b.on_price(90.0) == ["first", "second"]


def test_trailers_armed_at_different_times_merge_on_a_new_high() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("t1", "sell", distance=5.0)  # H 100
    b.on_price(99.0)
    b.arm_trailing("t2", "sell", distance=1.5)  # H 99
    b.on_price(98.5)
    b.arm_trailing("t3", "sell", distance=3.0)  # H 98.5
    assert [b.water_mark(k) for k in ("t1", "t2", "t3")] == [100.0, 99.0, 98.5]
    b.on_price(110.0)
    assert [b.water_mark(k) for k in ("t1", "t2", "t3")] == [110.0, 110.0, 110.0]
    assert [b.trigger_of(k) for k in ("t1", "t2", "t3")] == [105.0, 108.5, 107.0]
    assert len(b._sell_abs.cohorts) == 1  # one cohort, so a rising market moves one H, not three
    assert b.on_price(108.5) == ["t2"]
    assert b.on_price(104.0) == ["t3", "t1"]  # 3 deep, then 1 deep


def test_fires_come_deepest_first_then_by_arming_order() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_fixed("d100", "down", 99.0)
    b.arm_fixed("d101", "down", 99.5)
    b.arm_fixed("u101", "up", 101.0)
    b.arm_fixed("d100b", "down", 99.0)
    b.arm_trailing("t", "sell", distance=1.0)  # trigger 99.0, same depth as d100, armed later
    assert b.on_price(98.0) == ["d101", "d100", "d100b", "t"]
    assert b.keys() == ["u101"]


def test_marketable_arm_is_detectable_and_fires_at_the_next_crossing_print() -> None:
    b = TriggerBook()
    assert b.last_price is None and b.would_fire("down", 1e9) is False
    b.on_price(100.0)
    assert b.would_fire("down", 100.0) and b.would_fire("down", 101.0) and not b.would_fire("down", 99.0)
    assert b.would_fire("up", 100.0) and not b.would_fire("up", 100.5)
    assert b.would_fire("down", trail_trigger("sell", 103.0, distance=2.0))  # a trailer restored at H 103
    b.arm_fixed("k", "down", 101.0)  # arming never fires by itself
    assert "k" in b
    assert b.on_price(100.5) == ["k"]


def test_take_moved_reports_each_change_once() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("a", "sell", distance=5.0)
    b.arm_trailing("b", "buy", pct=0.05)
    assert b.take_moved() == []
    b.on_price(101.0)
    b.on_price(102.0)
    assert b.take_moved() == [("a", 102.0)]
    assert b.take_moved() == []
    b.on_price(99.5)
    assert b.take_moved() == [("b", 99.5)]


def test_modify_of_a_trailer_keeps_its_water_mark() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("t", "sell", distance=1.0)
    b.on_price(104.0)
    b.modify_trailing("t", pct=0.02)
    assert b.water_mark("t") == 104.0 and b.trigger_of("t") == 104.0 * (1.0 - 0.02)
    with pytest.raises(ValueError, match="modify_trailing"):
        b.modify("t", 99.0)


@pytest.mark.parametrize("kw", [{"distance": 0.0}, {"distance": -1.0}, {"pct": 0.0}, {"pct": 1.0},
                                {"distance": 1.0, "pct": 0.01}, {}, {"distance": math.inf}])
def test_bad_trailing_distances_are_refused(kw) -> None:
    b = TriggerBook()
    with pytest.raises(ValueError):
        b.arm_trailing("t", "sell", **kw)
    assert len(b) == 0


def test_bad_arms_are_refused_and_leave_nothing_armed() -> None:
    b = TriggerBook()
    b.arm_fixed("k", "down", 10.0)
    with pytest.raises(ValueError, match="already armed"):
        b.arm_fixed("k", "up", 11.0)
    with pytest.raises(ValueError):
        b.arm_fixed("x", "sideways", 11.0)
    with pytest.raises(ValueError):
        b.arm_fixed("y", "up", math.nan)
    assert b.keys() == ["k"] and b.trigger_of("k") == 10.0


def test_a_cancel_storm_keeps_the_heaps_small() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    for i in range(1000):
        b.arm_fixed(i, "down", 50.0 + i / 100)
        b.arm_trailing(("t", i), "sell", distance=1.0 + i / 100)
    for i in range(990):
        b.cancel(i)
        b.cancel(("t", i))
    assert len(b._down.items) <= 2 * 11 + 1  # 10 fixed and one cohort live
    assert sum(len(c.members) for c in b._sell_abs.cohorts) <= 2 * 10 + 1
    assert len(b.on_price(58.0)) == 20 and len(b) == 0


# ---------------------------------------------------------------------------------------------- complexity guards
# These look inside the book: they guard its costs (the design note's O(1) quiet print and small-into-large
# merges), which the comparison with the naive scan cannot see.
def test_a_new_high_moves_the_smaller_cohort_into_the_larger() -> None:
    b = TriggerBook()
    b.on_price(100.0)
    for i in range(100):
        b.arm_trailing(i, "sell", distance=5.0 + i / 1000)
    crowd = b._armed[0].cohort
    b.on_price(99.0)
    b.arm_trailing("late", "sell", distance=1.0)  # the top cohort, H 99, one member
    b.on_price(101.0)
    assert b._armed["late"].cohort is crowd and b._armed[99].cohort is crowd
    assert b._sell_abs.cohorts == [crowd] and crowd.h == 101.0


def test_a_print_equal_to_a_lower_cohorts_mark_joins_it() -> None:
    b = TriggerBook()
    b.arm_trailing("restored", "sell", distance=2.0, ref=100.0)
    b.on_price(99.0)
    b.arm_trailing("new", "sell", distance=0.5)
    b.on_price(100.0)
    assert len(b._sell_abs.cohorts) == 1
    assert (b.trigger_of("restored"), b.trigger_of("new")) == (98.0, 99.5)


def test_cancelling_the_nearest_trailer_moves_its_cohort_entry_to_the_next() -> None:
    """Otherwise every later print near the old trigger pops the cohort for nothing (no longer O(1))."""
    b = TriggerBook()
    b.on_price(100.0)
    b.arm_trailing("near", "sell", distance=1.0)
    b.arm_trailing("far", "sell", distance=4.0)
    b.cancel("near")
    live = [e for e in b._sells.items if e[2].ver == e[1]]
    assert [-e[0] for e in live] == [96.0]
