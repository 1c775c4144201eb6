"""``kestrel risk status|halt|reset|limits|set``: the kill switch and the limits, usable apart from the GUI.

These write the profile's database directly (a second process, WAL mode). A running terminal re-reads the
risk state every 0.25 s: a ``halt`` from here stops its trading (and cancels its working orders) within a
second. No engine or venue is started here.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PEOPLE_ACTOR = "cli"


def add_risk_commands(sub, common: argparse.ArgumentParser) -> None:
    risk = sub.add_parser("risk", parents=[common], help="kill switch and risk limits, from any terminal")
    rsub = risk.add_subparsers(dest="risk_command", required=True)
    rsub.add_parser("status", parents=[common], help="trading states and limits")
    for name, text in (("halt", "engage the kill switch (a running terminal stops within 1 s)"),
                       ("reset", "reset the kill switch to ACTIVE (needs --reason)")):
        p = rsub.add_parser(name, parents=[common], help=text)
        p.add_argument("--reason", default="", help="why (required for reset; recorded)")
        p.add_argument("--strategy", default=None, help="only this strategy (per-strategy kill switch)")
    rsub.add_parser("limits", parents=[common], help="print the limits in force (JSON)")
    s = rsub.add_parser("set", parents=[common], help="change one limit: NAME VALUE (JSON value), needs --reason")
    s.add_argument("name")
    s.add_argument("value")
    s.add_argument("--reason", default="")


def main_risk(args: argparse.Namespace, profile: Path) -> int:
    """``halt``, ``reset`` and ``status`` need nothing but the profile database's kill latch: a broken
    ``settings.json`` must never stop a person from halting a terminal. Only ``limits`` and ``set`` read the
    settings (their defaults)."""
    from app.engine.core.store import Store, StoreError

    cmd = args.risk_command
    try:
        store = Store(profile / "kestrel.db")
    except (StoreError, OSError) as exc:
        print(f"kestrel risk: {exc}", file=sys.stderr)
        if cmd == "halt":
            _say_unhalted(profile)
        return 2
    try:
        if cmd == "status":
            return _status(store, profile)
        if cmd in ("halt", "reset"):
            return _set_state(store, profile, args, cmd)
        return _limits(store, profile, args, cmd)
    finally:
        store.close()


def _audit(store, kind: str, payload: dict) -> None:
    from app.engine.audit.log import AuditLog
    from app.engine.core.clock import LiveClock

    try:
        AuditLog(store.conn, LiveClock()).append(kind, PEOPLE_ACTOR, payload)
    except Exception as exc:  # noqa: BLE001 - the command itself took effect; say the trail did not
        print(f"kestrel risk: warning: the audit trail could not record this ({exc})", file=sys.stderr)


def _status(store, profile: Path) -> int:
    from app.engine.core.heartbeat import read_status

    records = sorted(store.risk_states(), key=lambda r: r.scope != "global")
    if not any(r.scope == "global" for r in records):
        print("global                   no kill-latch record in this database: a terminal starting on this "
              "profile starts HALTED (fail closed); `kestrel risk reset --reason TEXT` writes one")
    for rec in records:
        print(f"{rec.scope:<24} {rec.state:<9} by {rec.actor or '?'}: {rec.reason}")
    terminal = read_status(profile)
    print(terminal.describe())
    if terminal.running and not terminal.unresponsive:
        behind = [r.scope for r in records if not terminal.has_applied(r.scope, r.state, r.ts)]
        if behind:
            print(f"terminal: has not acted yet on {', '.join(behind)} (it polls every 0.25 s)")
    return 0


def _set_state(store, profile: Path, args: argparse.Namespace, cmd: str) -> int:
    from app.engine.core.store import RiskStateRecord

    scope = f"strategy:{args.strategy}" if getattr(args, "strategy", None) else "global"
    if cmd == "reset" and not args.reason.strip():
        print("kestrel risk reset: --reason is required (it is recorded).", file=sys.stderr)
        return 2
    state = "HALTED" if cmd == "halt" else "ACTIVE"
    reason = (args.reason or "halted from the command line") if cmd == "halt" else args.reason
    rec = RiskStateRecord(scope, state, reason, PEOPLE_ACTOR, int(time.time() * 1000))
    try:
        store.save_risk_state(rec)
    except Exception as exc:  # noqa: BLE001 - sqlite3.Error and friends: say it, never a traceback
        print(f"kestrel risk {cmd}: the kill latch could not be written ({exc}).", file=sys.stderr)
        if cmd == "halt":
            _say_unhalted(profile)
        return 2
    _audit(store, "RiskStateSet", {"scope": scope, "state": state, "reason": reason})
    if cmd == "halt":
        print(f"{scope}: HALTED ({reason}).")
    else:
        print(f"{scope}: ACTIVE ({reason}). Strategies are not restarted.")
    _await_terminal(profile, rec)
    return 0


def _await_terminal(profile: Path, rec, wait_s: float = 2.0) -> None:
    """Say whether a running terminal acted on ``rec`` (its heartbeat lists the states it applied)."""
    from app.engine.core.heartbeat import read_status

    end = time.monotonic() + wait_s
    while True:
        terminal = read_status(profile)
        if not terminal.running:
            print("No terminal is running on this profile: the next one starts "
                  f"{'HALTED' if rec.state == 'HALTED' else 'in this state'}.")
            return
        if terminal.has_applied(rec.scope, rec.state, rec.ts):
            what = "stopped trading and sent cancels for its working orders" if rec.state == "HALTED" \
                else "is back to ACTIVE"
            print(f"The running terminal (pid {terminal.pid}) {what}.")
            return
        if time.monotonic() >= end:
            print(f"WARNING: the running terminal (pid {terminal.pid}) has not acted on this within {wait_s:g} s.")
            print(terminal.describe())
            return
        time.sleep(0.1)


def _say_unhalted(profile: Path) -> None:
    from app.engine.core.heartbeat import read_status

    terminal = read_status(profile)
    if terminal.running:
        print(f"NOT HALTED. A terminal is running on this profile (pid {terminal.pid or '?'}): stop that "
              f"process to stop its trading, and check the venue for working orders.", file=sys.stderr)


def _limits(store, profile: Path, args: argparse.Namespace, cmd: str) -> int:
    from app.config import RiskSettings, load_settings

    from app.engine.risk.limits import stored_limits

    try:
        defaults = load_settings(profile).risk
    except Exception as exc:  # noqa: BLE001 - a clear message, never a traceback
        print(f"kestrel risk: {exc}", file=sys.stderr)
        return 2
    current, problem = stored_limits(store.get_setting("risk.limits"), defaults)
    if problem:
        print(f"kestrel risk: warning: {problem}", file=sys.stderr)
    if cmd == "limits":
        print(json.dumps(current.model_dump(mode="json"), indent=2))
        return 0
    if cmd != "set":
        return 2
    if not args.reason.strip():
        print("kestrel risk set: --reason is required (it is recorded).", file=sys.stderr)
        return 2
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value
    from app.engine.core.logring import setup_logging
    from app.engine.risk.limits import change_limits

    setup_logging(profile)
    if args.name not in RiskSettings.model_fields:
        print(f"kestrel risk set: unknown limit {args.name!r}", file=sys.stderr)
        return 2
    try:
        new = change_limits(store, current, {args.name: value}, PEOPLE_ACTOR, args.reason)
    except Exception as exc:  # noqa: BLE001 - a clear message, never a traceback
        from pydantic import ValidationError

        from app.config import problems

        why = problems(exc) if isinstance(exc, ValidationError) else str(exc)
        print(f"kestrel risk set: invalid value for {args.name}: {why}", file=sys.stderr)
        return 2
    _audit(store, "RiskLimitsChanged", {"name": args.name, "old": repr(getattr(current, args.name)),
                                       "new": repr(getattr(new, args.name)), "reason": args.reason})
    print(f"{args.name}: {getattr(current, args.name)!r} -> {getattr(new, args.name)!r}")
    return 0
