"""A time a person writes (a command's ``--since``, a dialog's "since" field) -> ms UTC.

Stdlib only: the command line imports it while building its parser.
"""
from __future__ import annotations

import datetime as dt
import re


def parse_time(text: str | None, flag: str) -> int | None:
    """ISO 8601 (UTC when no offset) or epoch ms -> ms UTC; None for None or blank text. ``flag`` names the
    field ("--since", "From") in the ``ValueError`` that says how to write it."""
    if text is None or not text.strip():
        return None
    if re.fullmatch(r"-?\d{10,}", text.strip()):
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{flag} {text!r}: write an ISO 8601 time (2024-01-31, 2024-01-31T09:30, "
                         f"2024-01-31T09:30+08:00) or epoch milliseconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp() * 1000)
