"""Who may change the risk limits and how (``change_limits``: a person, with a written reason, validated as a
whole, persisted, logged old -> new), and the limits a profile stored, repaired where an older Kestrel stored
values no longer valid (``stored_limits``)."""
from __future__ import annotations

import logging

from app.config import RiskSettings
from app.engine.core.store import Store

log = logging.getLogger("kestrel.risk")


PEOPLE = ("manual", "cli", "risk-panel", "self-test", "ticket", "ladder", "blotter")


def change_limits(store: Store, current: RiskSettings, changes: dict, actor: str, reason: str) -> RiskSettings:
    """The one way limits change, for the running engine and for ``kestrel risk set`` alike: only a person,
    only with a written reason, validated as a whole, persisted in the profile, logged old -> new.
    Raises PermissionError, ValueError (no reason, unknown limit) or pydantic's ValidationError."""
    if actor not in PEOPLE:
        raise PermissionError(f"limits change only by a person, not {actor!r}")
    if not reason.strip():
        raise ValueError("a limit change needs a written reason")
    unknown = set(changes) - set(RiskSettings.model_fields)
    if unknown:
        raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
    new = RiskSettings.model_validate({**current.model_dump(), **changes})
    store.set_setting("risk.limits", new.model_dump(mode="json"))
    for name in changes:
        log.warning("risk limit %s changed by %s: %r -> %r (%s)", name, actor, getattr(current, name),
                    getattr(new, name), reason)
    return new


def stored_limits(stored: dict | None, defaults: RiskSettings) -> tuple[RiskSettings, str]:
    """The limits a person set (the profile's ``risk.limits``) over ``defaults``, and what was wrong with them.

    A stored value that is no longer valid (an older Kestrel accepted inf and nan) is replaced by its default
    and said, rather than refusing to start or to be repaired with ``kestrel risk set``."""
    if not stored:
        return defaults, ""
    from pydantic import ValidationError

    from app.config import problems

    try:
        return RiskSettings.model_validate(stored), ""
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        kept = {k: v for k, v in stored.items() if k not in bad} if isinstance(stored, dict) else {}
        try:
            merged = RiskSettings.model_validate({**defaults.model_dump(), **kept})
        except ValidationError:
            merged = defaults
        return merged, (f"the stored risk limits are invalid ({problems(exc)}); the defaults are used for "
                        f"{', '.join(sorted(bad)) or 'all of them'}: set them again (kestrel risk set)")
