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
    from app.config import RiskSettings, load_settings
    from app.engine.store import RiskStateRecord, Store, StoreError

    try:
        store = Store(profile / "kestrel.db")
        settings = load_settings(profile)
    except (StoreError, Exception) as exc:  # noqa: BLE001 - a clear message, never a traceback
        print(f"kestrel risk: {exc}", file=sys.stderr)
        return 2
    def audit(kind: str, payload: dict) -> None:
        from app.engine.audit import AuditLog
        from app.engine.clock import LiveClock

        try:
            AuditLog(store.conn, LiveClock()).append(kind, PEOPLE_ACTOR, payload)
        except Exception as exc:  # noqa: BLE001 - the command itself took effect; say the trail did not
            print(f"kestrel risk: warning: the audit trail could not record this ({exc})", file=sys.stderr)

    try:
        cmd = args.risk_command
        scope = f"strategy:{args.strategy}" if getattr(args, "strategy", None) else "global"
        if cmd == "status":
            for rec in sorted(store.risk_states(), key=lambda r: r.scope != "global"):
                print(f"{rec.scope:<24} {rec.state:<9} by {rec.actor or '?'}: {rec.reason}")
            return 0
        if cmd == "halt":
            store.save_risk_state(RiskStateRecord(scope, "HALTED", args.reason or "halted from the command line",
                                                  PEOPLE_ACTOR, int(time.time() * 1000)))
            audit("RiskStateSet", {"scope": scope, "state": "HALTED", "reason": args.reason})
            print(f"{scope}: HALTED. A running terminal stops trading and cancels its orders within 1 s.")
            return 0
        if cmd == "reset":
            if not args.reason.strip():
                print("kestrel risk reset: --reason is required (it is recorded).", file=sys.stderr)
                return 2
            store.save_risk_state(RiskStateRecord(scope, "ACTIVE", args.reason, PEOPLE_ACTOR,
                                                  int(time.time() * 1000)))
            audit("RiskStateSet", {"scope": scope, "state": "ACTIVE", "reason": args.reason})
            print(f"{scope}: ACTIVE ({args.reason}). Strategies are not restarted.")
            return 0
        current = RiskSettings.model_validate(store.get_setting("risk.limits") or settings.risk.model_dump())
        if cmd == "limits":
            print(json.dumps(current.model_dump(mode="json"), indent=2))
            return 0
        if cmd == "set":
            if not args.reason.strip():
                print("kestrel risk set: --reason is required (it is recorded).", file=sys.stderr)
                return 2
            try:
                value = json.loads(args.value)
            except json.JSONDecodeError:
                value = args.value
            from app.engine.logring import setup_logging
            from app.engine.risk import change_limits

            setup_logging(profile)
            if args.name not in RiskSettings.model_fields:
                print(f"kestrel risk set: unknown limit {args.name!r}", file=sys.stderr)
                return 2
            try:
                new = change_limits(store, current, {args.name: value}, PEOPLE_ACTOR, args.reason)
            except Exception as exc:  # noqa: BLE001 - a clear message, never a traceback
                print(f"kestrel risk set: invalid value for {args.name}: {exc}", file=sys.stderr)
                return 2
            audit("RiskLimitsChanged", {"name": args.name, "old": repr(getattr(current, args.name)),
                                        "new": repr(getattr(new, args.name)), "reason": args.reason})
            print(f"{args.name}: {getattr(current, args.name)!r} -> {getattr(new, args.name)!r}")
            return 0
        return 2
    finally:
        store.close()
