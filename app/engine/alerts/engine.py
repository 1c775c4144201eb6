"""The alert engine (issue 21): a trader's rules, evaluated in the engine as the market moves, fired once (or
repeating with a cool-down), persisted, audited and armed again after a restart.

PRICES        price_above / price_below rules of one symbol live in a ``TriggerBook`` (core/triggers.py) keyed by
              rule id: a print costs a few comparisons however many rules there are, and only the ticking
              symbol's book is asked. A level is crossed from the other side: a rule set with the price already
              across is said so (``AlertRuleChanged.note``) and waits for the price to come back first (it is
              armed the other way, then flipped). Before a symbol's first print its rules wait for that print.
INDICATORS    an indicator rule's condition (expr.py) runs on the streaming kernels, fed each closed bar of its
              symbol and timeframe, built here from the prints (UTC buckets); it is warmed up at arming on the
              bars before now (``history``) and fires when the condition turns true (a rule whose condition is
              already true when it is set says so and waits for it to turn false, then true).
MOVES         pct_move rules of one symbol and window length share the window's lowest and highest prints
              (monotonic deques, O(1) amortised per print) and sit sorted by size: a print costs one comparison
              for all of them. A rule that fired rests one window, so its next move is measured after it.
ACCOUNT       daily PnL, drawdown and gross exposure rules are read from the risk engine's figures at its tick
              (0.25 s): the same numbers the risk panel shows.
EVENTS        a fill, a refusal, a strategy that faults, a venue that disconnects; a model's drift (the PSI of the
              models running strategies hold, read once a second at the tick, as the Models dock shows it).
FIRING        ``AlertFired`` on the bus (the window shows it; delivery takes it to the rule's channels) and a row
              in ``alert_history``. A rule fires once ("fired") unless it repeats; a repeating rule waits its
              cool-down, and what comes true meanwhile is counted and said with its next firing (``throttled``).
CHANGES       ``SetAlert`` / ``RemoveAlert`` on the bus (the window), or ``kestrel alerts`` writing the database
              from another process: the engine reads ``alert_meta.rev`` at each tick and re-arms what changed,
              within 0.25 s. Every change and every firing is an ``AlertRuleChanged`` / ``AlertFired`` on the bus,
              which the audit recorder writes to the trail.
"""
from __future__ import annotations

import logging
import math
import sqlite3
from bisect import bisect_right, insort
from collections import deque
from heapq import heapify, heappop, heappush
from typing import Any, Callable

from app.engine.alerts.rules import PRICE_KINDS, SENTIMENT_KINDS, AlertRule, duration_text, keywords
from app.engine.alerts.store import AlertStore
from app.engine.core.messages import (
    Alert, AlertFired, AlertRuleChanged, CommandDone, CommandRefused, NewsArrived, OrderDenied, OrderFilled,
    OrderRejected, RemoveAlert, SetAlert, TradeTick, VenueStatus,
)
from app.engine.core.triggers import TriggerBook
from app.engine.venues.events import FeedStatus

log = logging.getLogger("kestrel.alerts")


class _Moves:
    """The pct_move rules of one symbol and one window length: the window's lowest and highest prints in
    monotonic deques (O(1) amortised per print, shared by every rule of that window), and the rules' sizes sorted,
    so a print asks one comparison for all of them. A rule that fired rests for one window (its next move is
    measured on prints after its firing), then rejoins."""

    __slots__ = ("window_ms", "lows", "highs", "sizes", "resting")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.lows: deque = deque()  # (ts, price), prices increasing
        self.highs: deque = deque()  # (ts, price), prices decreasing
        self.sizes: list[tuple[float, str]] = []  # (move as a fraction, rule id), smallest first
        self.resting: list[tuple[int, str, float]] = []  # (back at ts, rule id, size), a heap

    def add(self, rule_id: str, size: float) -> None:
        insort(self.sizes, (size, rule_id))

    def remove(self, rule_id: str) -> None:
        self.sizes = [x for x in self.sizes if x[1] != rule_id]
        self.resting = [x for x in self.resting if x[1] != rule_id]
        heapify(self.resting)

    def __len__(self) -> int:
        return len(self.sizes) + len(self.resting)

    def on_price(self, ts: int, p: float) -> list[tuple[str, float, float]]:
        """The rules whose move this print completes: (rule id, the window's extreme, the move as a fraction)."""
        lows, highs, start = self.lows, self.highs, ts - self.window_ms
        while lows and lows[-1][1] >= p:
            lows.pop()
        lows.append((ts, p))
        while highs and highs[-1][1] <= p:
            highs.pop()
        highs.append((ts, p))
        while lows[0][0] < start:
            lows.popleft()
        while highs[0][0] < start:
            highs.popleft()
        resting = self.resting
        while resting and resting[0][0] <= ts:
            _, rid, size = heappop(resting)
            insort(self.sizes, (size, rid))
        sizes = self.sizes
        if not sizes:
            return []
        low, high = lows[0][1], highs[0][1]
        up = p / low - 1.0 if low > 0 else 0.0
        down = 1.0 - p / high if high > 0 else 0.0
        move, ref = (up, low) if up >= down else (-down, high)
        if abs(move) < sizes[0][0]:
            return []  # (the path of almost every print)
        n = bisect_right(sizes, (abs(move), "\uffff"))
        hit, self.sizes = sizes[:n], sizes[n:]
        for size, rid in hit:
            heappush(resting, (ts + self.window_ms, rid, size))
        return [(rid, ref, move) for _size, rid in hit]


class _Watch:
    """One indicator rule: its evaluator (its own streams) and the last answer (it fires on false -> true)."""

    __slots__ = ("rule_id", "ev", "prev")

    def __init__(self, rule_id: str, ev: Any, prev: bool | None) -> None:
        self.rule_id, self.ev, self.prev = rule_id, ev, prev


class _BarsOf:
    """The bars of one symbol at one timeframe, built from its prints (UTC buckets): a bar closes at the first
    print of the next bucket, or at the tick once its time has passed; its indicator rules are fed then."""

    __slots__ = ("tf_ms", "bucket", "o", "h", "low", "c", "v", "watches")

    def __init__(self, tf_ms: int) -> None:
        self.tf_ms, self.bucket = tf_ms, -1
        self.o = self.h = self.low = self.c = self.v = 0.0
        self.watches: list[_Watch] = []

    def on_trade(self, ts: int, p: float, size: float) -> tuple[float, float, float, float, float] | None:
        """The bar this print closed (open, high, low, close, volume), if it starts a new one."""
        b = ts - ts % self.tf_ms
        closed = None
        if b != self.bucket:
            if self.bucket >= 0:
                closed = (self.o, self.h, self.low, self.c, self.v)
            self.bucket, self.o, self.h, self.low, self.c, self.v = b, p, p, p, p, size
            return closed
        if p > self.h:
            self.h = p
        elif p < self.low:
            self.low = p
        self.c = p
        self.v += size
        return None

    def close_due(self, now: int) -> tuple[float, float, float, float, float] | None:
        """The forming bar, closed, if its time has passed with no print since (then no bar forms until one)."""
        if self.bucket >= 0 and now >= self.bucket + self.tf_ms:
            self.bucket = -1
            return self.o, self.h, self.low, self.c, self.v
        return None


class AlertEngine:
    def __init__(self, bus: Any, store: AlertStore, clock: Any, market: Any = None, risk: Any = None,
                 portfolio: Any = None, instruments: Any = None) -> None:
        self.bus, self.store, self.clock = bus, store, clock
        self.market, self.risk, self.portfolio, self.instruments = market, risk, portfolio, instruments
        self.rules: dict[str, AlertRule] = {}
        self._books: dict[str, TriggerBook] = {}  # symbol -> its price rules' book
        self._flipped: set[str] = set()  # price rules armed the other way, waiting for the price to come back
        self._unpriced: dict[str, list[str]] = {}  # symbol -> price rules waiting for its first print
        self._moves: dict[str, dict[int, _Moves]] = {}  # symbol -> window ms -> its pct_move rules
        self._bars: dict[str, dict[int, _BarsOf]] = {}  # symbol -> timeframe ms -> its indicator rules
        #: the last ``n`` closed bars of a symbol at a timeframe, oldest first, as arrays (o, h, l, c, v), and the
        #: bar forming now (bucket, o, h, l, c, v) or None, to warm an indicator rule up at once (the kernel: its
        #: live bars and the bar store, resampled); None: it starts cold
        self.history: Callable[[str, int, int], tuple | None] | None = None
        self._account: list[str] = []
        self._events: dict[str, list[str]] = {}  # kind -> rule ids
        self._held: dict[str, int] = {}  # rule id -> firings its cool-down held back since it last fired
        self._rev = -1
        self.notes: dict[str, str] = {}  # rule id -> what the trader was told when it was last set or armed
        self.version = 0  # bumped on every change a view shows (rules, firings)
        self.fired = 0
        self.on_fire: list[Callable[[AlertFired, int], None]] = []  # delivery: (the firing, its history row)
        self.models: Callable[[], list[tuple[str, str, Any]]] | None = None  # (instance, model, handle) in use
        self._drift_checked = 0
        #: news (issue 22): the mean sentiment of a symbol's news over a window (seconds), as of now, and the key
        #: news about an instrument is filed under ("BTC/USDT@sim" -> "BTC"); None: sentiment rules wait
        self.sentiment: Callable[[str, float], float] | None = None
        self.news_key: Callable[[str], str] = lambda symbol: symbol
        self._across: dict[str, bool] = {}  # sentiment rule id -> its condition held at the last check
        bus.subscribe(NewsArrived, self._on_news)
        bus.subscribe(SetAlert, self.on_set)
        bus.subscribe(RemoveAlert, self.on_remove)
        bus.subscribe(TradeTick, self.on_trade)
        bus.subscribe(OrderFilled, self._on_filled)
        bus.subscribe(OrderDenied, self._on_refused)
        bus.subscribe(OrderRejected, self._on_refused)
        bus.subscribe(VenueStatus, self._on_venue)
        bus.subscribe(FeedStatus, self._on_feed)
        bus.subscribe(Alert, self._on_alert)

    # --------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Arm every stored rule (after a restart: the same rules, armed again)."""
        self.reload("armed")

    def tick(self) -> None:
        """Every 0.25 s: rules changed by another process, expiries, the account rules."""
        try:
            rev = self.store.rev()
        except sqlite3.Error as exc:
            log.warning("alert rules could not be read (%s); trying again", exc)
            rev = self._rev
        if rev != self._rev:
            self.reload("set")
        now = self.clock.now_ms()
        for rule in list(self.rules.values()):
            if rule.expires_ts and now >= rule.expires_ts and rule.state == "armed":
                self._end(rule, "expired", f"expired at {_utc(rule.expires_ts)} without firing")
        for sym, groups in self._bars.items():
            for group in groups.values():
                bar = group.close_due(now) if group.watches else None
                if bar is not None:
                    self._bar_closed(sym, group, bar, now)
        if self._account:
            self._check_account(now)
        if self._events.get("model_drift") and self.models is not None and now - self._drift_checked >= 1000:
            self._drift_checked = now
            self._check_drift(now)

    def reload(self, action: str) -> None:
        """Read the rules from the database and re-arm what differs from what is armed."""
        self._rev = self.store.rev()
        stored = {r.id: r for r in self.store.rules()}
        for rid in [rid for rid in self.rules if rid not in stored]:
            old = self._disarm(rid)
            self._announce(old, "removed", old.actor)
        for rid, rule in stored.items():
            if self.rules.get(rid) == rule:
                continue
            if rid in self.rules:
                self._disarm(rid)
            note = self._arm(rule)
            self._announce(rule, action, rule.actor, note)
        self.version += 1

    # -------------------------------------------------------------------------------------- commands
    def on_set(self, cmd: SetAlert) -> None:
        """Add or replace a rule from the window; a bad rule is refused with its reason (``CommandRefused``)."""
        now = self.clock.now_ms()
        try:
            rule = AlertRule.from_dict(dict(cmd.rule)).with_(actor=cmd.actor, updated_ts=now).check()
            if not rule.id:
                rule = rule.with_(created_ts=now)
            if rule.kind == "indicator":
                from app.engine.alerts.expr import ExprError, compile as compile_expr

                try:
                    rule = rule.with_(expr=compile_expr(rule.expr).text)
                except ExprError as exc:
                    raise ValueError(str(exc)) from None
            if rule.symbol and self.instruments is not None:
                inst = self.instruments.get(rule.symbol)
                if inst is None:
                    raise ValueError(f"unknown symbol {rule.symbol!r}")
                rule = rule.with_(symbol=inst.id)
            rule = self.store.save(rule)
        except (ValueError, KeyError, sqlite3.Error) as exc:
            why = str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)
            self.bus.publish(CommandRefused.to(cmd, f"The alert was not set: {why}", now))
            return
        self.reload("set")
        self.bus.publish(CommandDone.to(cmd, rule.id, now))  # the rule's id

    def on_remove(self, cmd: RemoveAlert) -> None:
        now = self.clock.now_ms()
        try:
            gone = self.store.delete(cmd.rule_id)
        except (ValueError, sqlite3.Error) as exc:
            self.bus.publish(CommandRefused.to(cmd, f"Alert {cmd.rule_id} was not removed: {exc}", now))
            return
        if not gone:
            self.bus.publish(CommandRefused.to(cmd, f"There is no alert {cmd.rule_id}.", now))
            return
        self.reload("set")
        self.bus.publish(CommandDone.to(cmd, cmd.rule_id, now))

    # ----------------------------------------------------------------------------------------- arming
    def _arm(self, rule: AlertRule) -> str:
        """Arm ``rule`` if it is armed in the store; what the trader should know about it ("" if nothing)."""
        self.rules[rule.id] = rule
        if rule.state != "armed":
            return ""
        k = rule.kind
        if k in PRICE_KINDS:
            last = self._last(rule.symbol)
            if last is None:
                self._unpriced.setdefault(rule.symbol, []).append(rule.id)
                return f"no price of {rule.symbol} yet: it is armed from the first one"
            return self._arm_price(rule, last)
        if k == "pct_move":
            windows = self._moves.setdefault(rule.symbol, {})
            ms = int(rule.window_s * 1000)
            group = windows.get(ms)
            if group is None:
                group = windows[ms] = _Moves(ms)
            group.add(rule.id, rule.level / 100.0)
        elif k in ("daily_pnl_below", "drawdown_above", "exposure_above"):
            self._account.append(rule.id)
        elif k == "indicator":
            return self._arm_indicator(rule)
        else:
            self._events.setdefault(k, []).append(rule.id)
            if k in SENTIMENT_KINDS:
                value = self._sentiment(rule)
                self._across[rule.id] = across = _sentiment_across(rule, value)
                if across:
                    return (f"{rule.symbol}'s news sentiment is already {value:+.2f}: it fires when it comes back "
                            f"and crosses {rule.level:+.2f} again")
        return ""

    def _arm_price(self, rule: AlertRule, last: float) -> str:
        book = self._books.get(rule.symbol)
        if book is None:
            book = self._books[rule.symbol] = TriggerBook()
        up = rule.kind == "price_above"
        across = last >= rule.level if up else last <= rule.level
        if across:  # wait for the price to come back to the near side first, then cross
            self._flip(book, rule)
            where = "above" if up else "below"
            return (f"{rule.symbol} is already {where} {rule.level:,.10g} (last {last:,.10g}): it fires when the price "
                    f"comes back and crosses it again")
        book.arm_fixed(rule.id, "up" if up else "down", rule.level)
        return ""

    def _arm_indicator(self, rule: AlertRule) -> str:
        """The rule's condition on the streaming kernels, warmed up on the bars before now where they are known;
        what the trader should know (already true; warming up)."""
        from app.engine.alerts.expr import ExprError, compile as compile_expr
        from app.engine.alerts.rules import timeframe_ms

        try:
            cond = compile_expr(rule.expr)
            tf = timeframe_ms(rule.timeframe)
        except (ExprError, ValueError) as exc:
            self._unarmed(rule, f"its condition cannot be evaluated: {exc}")
            return f"not armed: {exc}"
        ev = cond.new_state()
        need = cond.needs_warmup or 0
        known = self.history(rule.symbol, tf, max(need + 1, 2)) if self.history is not None else None
        bars, forming = known if known is not None else (None, None)
        now_true = ev.warm(*bars) if bars is not None and len(bars[0]) else None
        group = self._bars.setdefault(rule.symbol, {}).get(tf)
        if group is None:
            group = self._bars[rule.symbol][tf] = _BarsOf(tf)
            if forming is not None:  # the bar forming now, from the closed base bars in it so far
                group.bucket, group.o, group.h, group.low, group.c, group.v = forming
        group.watches.append(_Watch(rule.id, ev, now_true))
        if now_true:
            return (f"the condition is already true on the last closed {rule.timeframe} bar: it fires when it "
                    f"turns true again")
        if now_true is None and need:
            return f"warming up: it needs {need} closed {rule.timeframe} bars of {rule.symbol} before it can fire"
        return ""

    def _unarmed(self, rule: AlertRule, why: str) -> None:
        log.warning("alert %s (%s) not armed: %s", rule.id, rule.describe(), why)

    def _bar_closed(self, symbol: str, group: _BarsOf, bar: tuple, ts: int) -> None:
        for w in list(group.watches):
            try:
                now = w.ev.update(*bar, final=True)
            except Exception:  # noqa: BLE001 - one rule's failure must not stop the others
                log.exception("alert %s: its condition failed on a bar", w.rule_id)
                continue
            was, w.prev = w.prev, now
            if now and was is False:
                rule = self.rules.get(w.rule_id)
                if rule is not None:
                    self._fire(rule, f"{symbol} {rule.timeframe}: {rule.expr}",
                               f"{symbol}: {rule.expr} on the {rule.timeframe} bar that closed at {bar[3]:,.10g}.",
                               bar[3], ts)

    def _flip(self, book: TriggerBook, rule: AlertRule) -> None:
        """Arm ``rule`` the other way: it is across its level and must come back (strictly) before it can cross
        again, so a price sitting on the level does not fire it print after print."""
        if rule.kind == "price_above":
            book.arm_fixed(rule.id, "down", math.nextafter(rule.level, -math.inf))
        else:
            book.arm_fixed(rule.id, "up", math.nextafter(rule.level, math.inf))
        self._flipped.add(rule.id)

    def _disarm(self, rid: str) -> AlertRule:
        rule = self.rules.pop(rid)
        book = self._books.get(rule.symbol)
        if book is not None and rid in book:
            book.cancel(rid)
        self._flipped.discard(rid)
        waiting = self._unpriced.get(rule.symbol)
        if waiting and rid in waiting:
            waiting.remove(rid)
        if rule.kind == "pct_move":
            group = self._moves.get(rule.symbol, {}).get(int(rule.window_s * 1000))
            if group is not None:
                group.remove(rid)
                if not group:
                    del self._moves[rule.symbol][group.window_ms]
        if rule.kind == "indicator":
            for group in self._bars.get(rule.symbol, {}).values():
                group.watches = [w for w in group.watches if w.rule_id != rid]
        if rid in self._account:
            self._account.remove(rid)
        ids = self._events.get(rule.kind)
        if ids and rid in ids:
            ids.remove(rid)
        self._held.pop(rid, None)
        self._across.pop(rid, None)
        return rule

    def _last(self, symbol: str) -> float | None:
        st = self.market.get(symbol) if self.market is not None else None
        return st.last if st is not None and st.last else None

    # ------------------------------------------------------------------------------------------ prints
    def on_trade(self, tick: TradeTick) -> None:
        sym, p = tick.symbol, tick.price
        waiting = self._unpriced.get(sym)
        if waiting:
            for rid in waiting:
                note = self._arm_price(self.rules[rid], p)
                if note:
                    self._announce(self.rules[rid], "armed", "", note)
            waiting.clear()
        book = self._books.get(sym)
        if book is not None:
            fired = book.on_price(p)
            for rid in fired:
                self._price_crossed(rid, p, tick.ts)
        groups = self._bars.get(sym)
        if groups:
            for group in groups.values():
                if group.watches:
                    bar = group.on_trade(tick.ts, p, tick.size)
                    if bar is not None:
                        self._bar_closed(sym, group, bar, tick.ts)
        windows = self._moves.get(sym)
        if windows:
            for group in windows.values():
                for rid, ref, frac in group.on_price(tick.ts, p):
                    rule = self.rules[rid]
                    self._fire(rule, f"{sym} {'+' if frac > 0 else ''}{frac * 100:.2f} % in "
                                     f"{duration_text(rule.window_s)}", f"{sym} moved from {ref:,.10g} to {p:,.10g} "
                                     f"({frac * 100:+.2f} %) within {duration_text(rule.window_s)}.", p, tick.ts)

    def _price_crossed(self, rid: str, p: float, ts: int) -> None:
        rule = self.rules.get(rid)
        if rule is None:
            return
        up = rule.kind == "price_above"
        book = self._books[rule.symbol]
        if rid in self._flipped:  # back on the near side: now armed to cross
            self._flipped.discard(rid)
            book.arm_fixed(rid, "up" if up else "down", rule.level)
            return
        where = "above" if up else "below"
        fired = self._fire(rule, f"{rule.symbol} {where} {rule.level:,.10g}",
                           f"{rule.symbol} crossed {where} {rule.level:,.10g}: last {p:,.10g}.", p, ts)
        if fired is not None and rule.repeat or fired is None and rule.state == "armed":
            self._flip(book, rule)  # crosses again only after coming back

    # ----------------------------------------------------------------------------------------- account
    def _check_account(self, now: int) -> None:
        risk = self.risk
        if risk is None:
            return
        pnl, _sod = risk.daily_pnl()
        equity = risk.portfolio.equity()
        peak = max(risk.peak_equity, equity)
        gross = risk.portfolio.gross_exposure()
        for rid in list(self._account):
            rule = self.rules[rid]
            k, level = rule.kind, rule.level
            if k == "daily_pnl_below" and pnl < level:
                self._fire(rule, f"Daily PnL {pnl:,.2f}", f"The day's PnL is {pnl:,.2f}, below {level:,.2f}.", pnl,
                           now)
            elif k == "drawdown_above" and peak > 0 and (dd := (peak - equity) / peak * 100.0) > level:
                self._fire(rule, f"Drawdown {dd:.2f} %", f"Equity {equity:,.2f} is {dd:.2f} % below its peak "
                                                         f"{peak:,.2f} (alert above {level:g} %).", dd, now)
            elif k == "exposure_above" and gross > level:
                self._fire(rule, f"Gross exposure {gross:,.2f}", f"Gross exposure is {gross:,.2f}, above "
                                                                 f"{level:,.2f}.", gross, now)

    def _check_drift(self, now: int) -> None:
        """Each model a running strategy holds: its features' PSI against its training data (as the Models dock
        shows it); a rule fires when the largest is at or above its level."""
        for instance, name, handle in self.models():
            drift = getattr(handle, "drift", None)
            if drift is None:
                continue
            values = drift.psi()
            finite = [(float(v), f) for v, f in zip(values, drift.names) if v == v]
            if not finite:
                continue
            worst, feature = max(finite)
            for rid in self._matching("model_drift", name, target=True):
                rule = self.rules[rid]
                if worst >= (rule.level or 0.0):
                    self._fire(rule, f"Model {name} drifting (PSI {worst:.2f})",
                               f"Model {name}, used by {instance}: feature {feature} has PSI {worst:.2f} against its "
                               f"training data (alert at {rule.level:g}). Its scores may no longer mean what they "
                               f"did; see the Models dock.", worst, now)

    # ------------------------------------------------------------------------------------------ events
    def _on_filled(self, fill: OrderFilled) -> None:
        for rid in self._matching("order_filled", fill.symbol):
            self._fire(self.rules[rid], f"Filled: {fill.side.value} {fill.quantity:g} {fill.symbol}",
                       f"Order {fill.client_order_id}: {fill.side.value} {fill.quantity:g} {fill.symbol} at "
                       f"{fill.price:,.10g} on {fill.venue}.", fill.price, fill.ts)

    def _on_refused(self, ev: Any) -> None:
        symbol = getattr(ev, "symbol", "")
        reason = getattr(ev, "message", "") or getattr(ev, "reason", "")
        for rid in self._matching("order_rejected", symbol):
            self._fire(self.rules[rid], f"Order refused: {symbol}", f"Order {ev.client_order_id} ({symbol}) was "
                       f"refused: {reason}", math.nan, getattr(ev, "ts", 0) or self.clock.now_ms())

    def _on_venue(self, st: VenueStatus) -> None:
        if st.connected:
            return
        for rid in self._matching("venue_down", st.venue, target=True):
            self._fire(self.rules[rid], f"Venue {st.venue} down", f"{st.venue}: {st.message}", math.nan,
                       st.ts or self.clock.now_ms())

    def _on_feed(self, st: FeedStatus) -> None:
        """A symbol's market data down or stale: a venue_down rule on that venue (or on any) fires."""
        if st.state not in ("down", "stale"):
            return
        for rid in self._matching("venue_down", st.venue, target=True):
            self._fire(self.rules[rid], f"{st.venue} {st.symbol} feed {st.state}",
                       f"{st.venue}: the {st.channel} of {st.symbol} is {st.state}: {st.message}", math.nan,
                       st.ts or self.clock.now_ms())

    def _on_alert(self, a: Alert) -> None:
        event = a.extra.get("event") if a.extra else None
        if event == "strategy_faulted":
            for rid in self._matching("strategy_faulted", a.extra.get("strategy", ""), target=True):
                self._fire(self.rules[rid], a.title, a.message, math.nan, a.ts or self.clock.now_ms())


    def _sentiment(self, rule: AlertRule) -> float:
        if self.sentiment is None:
            return math.nan
        try:
            return float(self.sentiment(rule.symbol, rule.window_s))
        except Exception as exc:  # noqa: BLE001 - a busy or broken news table: the rule waits for the next item
            log.warning("alert %s: the news sentiment of %s could not be read (%s)", rule.id, rule.symbol, exc)
            return math.nan

    def _on_news(self, ev: NewsArrived) -> None:
        """New items: keyword rules look at each; sentiment rules about their symbols check their mean."""
        now = self.clock.now_ms()
        about: set[str] = set()
        for item in ev.items:
            about.update(item.symbols)
        for kind in SENTIMENT_KINDS:
            for rid in list(self._events.get(kind, ())):
                rule = self.rules[rid]
                if self.news_key(rule.symbol) not in about:
                    continue
                value = self._sentiment(rule)
                across, was = _sentiment_across(rule, value), self._across.get(rid, False)
                self._across[rid] = across
                if across and not was:
                    side = "above" if kind == "sentiment_above" else "below"
                    self._fire(rule, f"{rule.symbol} news sentiment {value:+.2f}",
                               f"The mean sentiment of the news about {rule.symbol} over the last "
                               f"{duration_text(rule.window_s)} is {value:+.2f}, {side} {rule.level:+.2f}.", value,
                               ev.ts or now)
        for rid in list(self._events.get("news_keyword", ())):
            rule = self.rules[rid]
            words = keywords(rule.expr)
            key = self.news_key(rule.symbol) if rule.symbol else ""
            for item in ev.items:
                if key and key not in item.symbols:
                    continue
                text = f"{item.title} {item.summary}".casefold()
                hit = next((w for w in words if w in text), None)
                if hit is not None:
                    self._fire(rule, f"News: {item.title[:80]}",
                               f"{item.title} ({item.source}; mentions {hit!r}) {item.url}".strip(),
                               item.score, item.arrived_ms or now)
                    if self.rules[rid].state != "armed":
                        break

    def _matching(self, kind: str, what: str, target: bool = False) -> list[str]:
        out = []
        for rid in self._events.get(kind, ()):
            rule = self.rules[rid]
            want = rule.target if target else rule.symbol
            if not want or want == what:
                out.append(rid)
        return out

    # ------------------------------------------------------------------------------------------ firing
    def _fire(self, rule: AlertRule, title: str, message: str, value: float, ts: int) -> AlertFired | None:
        """Fire ``rule`` unless its cool-down holds it back (then it is counted); the firing, or None."""
        if rule.state != "armed":
            return None
        now = self.clock.now_ms()
        if rule.repeat and rule.last_fired_ts and now - rule.last_fired_ts < rule.cooldown * 1000:
            self._held[rule.id] = self._held.get(rule.id, 0) + 1
            return None
        held = self._held.pop(rule.id, 0)
        if held:
            message += f" ({held} more time{'s' if held > 1 else ''} during the cool-down: not sent)"
        if rule.note:
            message += f" Note: {rule.note}"
        ev = AlertFired(rule.id, rule.kind, rule.symbol, title, message, value, rule.channels, held, ts or now)
        state = rule.state if rule.repeat else "fired"
        rule = rule.with_(last_fired_ts=now, state=state, updated_ts=now)
        self.rules[rule.id] = rule
        try:  # saved before it is handed on: a restart never fires a once-rule twice
            before = self._rev
            seq, rev = self.store.save_fired(rule, ev.ts, title, message, value, held)
            if rev == before + 1:
                self._rev = rev  # only our own change since the last read: nothing to re-arm
        except (sqlite3.Error, KeyError) as exc:  # it fires all the same; the trader is told it was not saved
            log.error("alert %s fired but could not be saved (%s)", rule.id, exc)
            seq = 0
        if state != "armed":
            self._disarm(rule.id)
            self.rules[rule.id] = rule
        self.fired += 1
        self.version += 1
        self.bus.publish(ev)
        for deliver in self.on_fire:
            try:
                deliver(ev, seq)
            except Exception:  # noqa: BLE001 - delivery must never break the engine
                log.exception("alert %s: delivery failed to take it", rule.id)
        return ev

    def _end(self, rule: AlertRule, state: str, note: str) -> None:
        rule = rule.with_(state=state, updated_ts=self.clock.now_ms())
        self._disarm(rule.id)
        self.rules[rule.id] = rule
        try:
            self.store.save(rule)
            self._rev = self.store.rev()
        except (sqlite3.Error, KeyError) as exc:
            log.error("alert %s: %s, but that could not be saved (%s)", rule.id, state, exc)
        self._announce(rule, state, "", note)
        self.version += 1

    def _announce(self, rule: AlertRule, action: str, actor: str, note: str = "") -> None:
        if action in ("set", "armed"):
            self.notes[rule.id] = note  # what the views say beside it ("already above ...")
        self.bus.publish(AlertRuleChanged(rule.id, action, rule.to_dict(), actor, note, self.clock.now_ms()))
        if note and action in ("set", "armed"):
            log.info("alert %s (%s): %s", rule.id, rule.describe(), note)


def _sentiment_across(rule: AlertRule, value: float) -> bool:
    if value != value:
        return False
    return value > rule.level if rule.kind == "sentiment_above" else value < rule.level


def _utc(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
