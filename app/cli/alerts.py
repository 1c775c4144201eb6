"""``kestrel alerts add|list|remove|test``: a trader's alert rules, from any terminal, beside a running one or not.

These write the profile's database (``alert_rules``, engine/alerts/store.py) in one transaction and put the change
on the audit trail; a running terminal reads the rules' revision every 0.25 s and arms what changed, so a rule
added here is live within a second (the command waits for the terminal's word and prints it, e.g. that the price
is already across the level). Notification URLs go to the OS keyring, never to the database.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ACTOR = "cli"


def add_alert_commands(sub, common: argparse.ArgumentParser) -> None:
    alerts = sub.add_parser("alerts", parents=[common], help="alert rules: add, list, remove, test a channel")
    asub = alerts.add_subparsers(dest="alerts_command", required=True)
    add = asub.add_parser("add", parents=[common], help="add an alert rule")
    add.add_argument("--symbol", required=True, help="the instrument, e.g. BTC/USDT or BTC/USDT@binance")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--above", type=float, metavar="PRICE", help="when the last trade crosses above PRICE")
    what.add_argument("--below", type=float, metavar="PRICE", help="when the last trade crosses below PRICE")
    what.add_argument("--when", metavar="EXPR", help="an indicator condition on closed bars, e.g. 'rsi(14) > 70' "
                                                     "or 'close crosses sma(200)' (needs --timeframe)")
    add.add_argument("--timeframe", default=None, help="the bars --when is evaluated on: 1m 5m 15m 1h 4h 1d ...")
    add.add_argument("--notify", nargs="+", default=[], metavar="URL",
                     help="also send it to these notification URLs (apprise syntax: tgram://, mailto://, "
                          "slack://, ntfy://, json:// ...); kept in the OS keyring")
    add.add_argument("--repeat", action="store_true", help="fire every time, not once (with --cooldown)")
    add.add_argument("--cooldown", type=float, default=60.0, metavar="S", help="seconds between two firings of a "
                     "repeating rule (default 60)")
    add.add_argument("--note", default="", help="a note shown with the alert")
    add.add_argument("--expires", default=None, metavar="WHEN",
                     help="end the rule unfired then: a time (ISO 8601, UTC unless it says, e.g. 2026-12-31T18:00) "
                          "or a span from now (30m, 8h, 2d)")
    asub.add_parser("list", parents=[common], help="the alert rules and their last firings")
    rm = asub.add_parser("remove", parents=[common], help="delete an alert rule")
    rm.add_argument("id")
    test = asub.add_parser("test", parents=[common], help="send a test notification to URL")
    test.add_argument("url")


def main_alerts(args: argparse.Namespace, profile: Path) -> int:
    cmd = args.alerts_command
    if cmd == "test":
        return _test(args.url, profile)
    from app.engine.alerts.store import AlertStore
    from app.engine.core.store import Store, StoreError

    try:
        store = Store(profile / "kestrel.db")
    except (StoreError, OSError) as exc:
        print(f"kestrel alerts: {exc}", file=sys.stderr)
        return 2
    try:
        alerts = AlertStore(store.conn)
        if cmd == "add":
            return _add(args, profile, store, alerts)
        if cmd == "list":
            return _list(alerts)
        return _remove(args.id, store, alerts)
    except Exception as exc:  # noqa: BLE001 - sqlite3.Error and friends: said, never a traceback
        print(f"kestrel alerts {cmd}: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _add(args: argparse.Namespace, profile: Path, store, alerts) -> int:
    from app.engine.alerts.rules import AlertRule

    try:
        symbol = _instrument(profile, args.symbol)
        now = int(time.time() * 1000)
        if args.when is not None:
            if not args.timeframe:
                raise ValueError("--when needs --timeframe (the bars it is evaluated on), e.g. --timeframe 5m")
            expr = _check_expr(args.when)
            rule = AlertRule("indicator", symbol, expr=expr, timeframe=args.timeframe)
        else:
            kind, level = ("price_above", args.above) if args.above is not None else ("price_below", args.below)
            rule = AlertRule(kind, symbol, level=level)
        expires = _expiry(args.expires, now) if args.expires else 0
        channels = _channels(profile, args.notify)
        rule = rule.with_(repeat=args.repeat, cooldown_s=args.cooldown, note=args.note, channels=channels,
                          expires_ts=expires, created_ts=now, updated_ts=now, actor=ACTOR).check()
    except ValueError as exc:
        print(f"kestrel alerts add: {exc}", file=sys.stderr)
        return 2
    seq = _audit_head(store)
    rule = alerts.save(rule)
    _audit(store, "SetAlert", {"rule": rule.to_dict()})
    print(f"alert {rule.id} set: {rule.describe()}" + (" (repeating)" if rule.repeat else "") +
          (f"; notifies {', '.join(channels)}" if channels else ""))
    _await_terminal(profile, store, rule.id, seq)
    return 0


def _list(alerts) -> int:
    rules = alerts.rules()
    if not rules:
        print("no alert rules (add one: kestrel alerts add --symbol BTC/USDT --above 70000)")
    last = {}
    for h in alerts.history(limit=1000):
        last.setdefault(h["rule_id"], h)
    for r in rules:
        fired = last.get(r.id)
        when = f"; last fired {_utc(fired['ts'])}: {fired['title']}" if fired else ""
        mode = f"repeat every >= {r.cooldown:g} s" if r.repeat else "once"
        if r.expires_ts:
            mode += f", until {_utc(r.expires_ts)}"
        print(f"{r.id:>4}  {r.state:<8} {r.describe()}  [{mode}]" + (f"  channels: {', '.join(r.channels)}"
                                                                      if r.channels else "") +
              (f"  note: {r.note}" if r.note else "") + when)
    for rid, why in alerts.broken:
        print(f"{rid:>4}  unreadable: {why}")
    return 0


def _remove(rule_id: str, store, alerts) -> int:
    try:
        gone = alerts.delete(rule_id)
    except ValueError as exc:
        print(f"kestrel alerts remove: {exc}", file=sys.stderr)
        return 2
    if not gone:
        print(f"kestrel alerts remove: no alert {rule_id} (see `kestrel alerts list`)", file=sys.stderr)
        return 1
    _audit(store, "RemoveAlert", {"rule_id": rule_id})
    print(f"alert {rule_id} removed")
    return 0


def _test(url: str, profile: Path) -> int:
    try:
        from app.engine.alerts.delivery import test_channel
    except ImportError:
        print("kestrel alerts test: notification channels are not available in this build", file=sys.stderr)
        return 2
    ok, message = test_channel(url, profile)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------------- helpers
def _instrument(profile: Path, text: str) -> str:
    """The id of the instrument ``text`` names, among the sim's and the profile's venues' (ValueError)."""
    from app.engine.core.instruments import InstrumentTable, default_instruments
    from app.engine.venues.manager import cached_instruments

    table = InstrumentTable(default_instruments() + cached_instruments(profile))
    try:
        inst = table.get(text)
    except KeyError as exc:  # ambiguous: the message names the choices
        raise ValueError(str(exc).strip("'\"")) from None
    if inst is None:
        known = ", ".join(sorted(table)[:12])
        raise ValueError(f"unknown symbol {text!r}: known here are {known}")
    return inst.id


def _check_expr(text: str) -> str:
    """``text`` if it parses as a condition (ValueError with the position of the error otherwise)."""
    try:
        from app.engine.alerts.expr import ExprError, compile as compile_condition
    except ImportError:
        raise ValueError("indicator conditions are not available in this build") from None
    try:
        return compile_condition(text).text
    except ExprError as exc:
        raise ValueError(str(exc)) from None


def _channels(profile: Path, urls: list[str]) -> tuple[str, ...]:
    """Each URL kept in the OS keyring as a channel; their names (ValueError for a URL apprise does not take)."""
    if not urls:
        return ()
    try:
        from app.engine.alerts.channels import ChannelStore
    except ImportError:
        raise ValueError("notification channels are not available in this build") from None
    from app.engine.alerts.channels import ChannelError

    store = ChannelStore(profile)
    try:
        return tuple(store.ensure(url) for url in urls)
    except ChannelError as exc:
        raise ValueError(f"--notify: {exc}") from None


def _expiry(text: str, now_ms: int) -> int:
    """``--expires``: a span from now (30m, 8h, 2d) or a time (ISO 8601; UTC unless it names its offset), in ms;
    ValueError saying what it takes."""
    import datetime as dt
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhd])\s*", text)
    if m:
        return now_ms + int(float(m.group(1)) * {"m": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2)])
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--expires {text!r}: a span from now (30m, 8h, 2d) or a time such as "
                         f"2026-12-31T18:00 (UTC unless it says)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    ms = int(when.timestamp() * 1000)
    if ms <= now_ms:
        raise ValueError(f"--expires {text!r} is already past")
    return ms


def _audit_head(store) -> int:
    import sqlite3

    try:
        row = store.conn.execute("SELECT MAX(seq) FROM audit").fetchone()
    except sqlite3.OperationalError:  # a profile no terminal has opened yet: no trail yet
        return 0
    return int(row[0] or 0) if row else 0


def _audit(store, kind: str, payload: dict) -> None:
    from app.engine.audit.log import AuditLog
    from app.engine.core.clock import LiveClock

    try:
        AuditLog(store.conn, LiveClock()).append(kind, ACTOR, payload)
    except Exception as exc:  # noqa: BLE001 - the change took effect; say the trail did not record it
        print(f"kestrel alerts: warning: the audit trail could not record this ({exc})", file=sys.stderr)


def _await_terminal(profile: Path, store, rule_id: str, after_seq: int, wait_s: float = 2.0) -> None:
    """Print what a running terminal said when it armed rule ``rule_id`` (read from the audit trail)."""
    from app.engine.core.heartbeat import read_status

    terminal = read_status(profile)
    if not terminal.running:
        print("No terminal is running on this profile: the next one to start arms it.")
        return
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        for (payload,) in store.conn.execute("SELECT payload FROM audit WHERE seq > ? AND kind='AlertRuleChanged'",
                                             (after_seq,)):
            ev = json.loads(payload)
            if str(ev.get("rule_id")) == str(rule_id):
                note = ev.get("note") or ""
                print("The running terminal armed it." + (f" {note}" if note else ""))
                return
        time.sleep(0.1)
    print(f"The running terminal has not armed it within {wait_s:g} s (it reads rules every 0.25 s); "
          f"check its log if this persists.")


def _utc(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
