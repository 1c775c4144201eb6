"""How an audit record is encoded and hashed: canonical JSON payloads, the chain hash, messages -> records.

These are the definitions a verifier re-implements (in any language) to check a trail, so they are kept small
and stated exactly. ``message_payload`` is the hot-path form of ``canonical_json(record_of(msg)[2])``: the
same bytes (a test holds them equal) with the field loop done in C.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import json.encoder
import operator
from typing import Any, Callable

GENESIS = "0" * 64
_TAG = b"kestrel-audit-1\n"


def chain_hash(prev_hash: bytes, seq: int, ts_utc_ms: int, mono_ns: int, kind: bytes, actor: bytes,
               payload: bytes) -> str:
    """The hash of one record, as 64 lowercase hex chars.

    Input (bytes): ``b"kestrel-audit-1\\n" + prev_hash + "\\n" + seq + "\\n" + ts_utc_ms + "\\n" +
    mono_ns + "\\n" + len(kind) + ":" + kind + "\\n" + len(actor) + ":" + actor + "\\n" + len(payload) + ":" +
    payload``; integers in decimal ASCII, lengths in bytes, text as UTF-8. Length prefixes make it
    unambiguous, and it is computed from the stored bytes, so a verifier never re-encodes JSON and any changed
    byte changes the hash.
    """
    return hashlib.sha256(b"%s%s\n%d\n%d\n%d\n%d:%s\n%d:%s\n%d:%s" % (
        _TAG, prev_hash, seq, ts_utc_ms, mono_ns, len(kind), kind, len(actor), actor, len(payload), payload,
    )).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)  # Path, Decimal, datetime...: an audit append must never fail on an odd value


canonical_json: Callable[[Any], str] = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode
"""``canonical_json(payload) -> str``: sorted keys, no spaces, UTF-8 text (NaN/Infinity as Python writes
them); enums as their value, nested dataclasses as objects, anything else unknown as ``str(value)``."""


# ------------------------------------------------------------------------------------- messages -> records
@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    names: tuple[str, ...]  # sorted field names
    get: Callable[[Any], tuple]  # their values, in one C call
    has_actor: bool


_SPECS: dict[type, _Spec] = {}


def _spec(cls: type) -> _Spec:
    spec = _SPECS.get(cls)
    if spec is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"an audit record needs a dataclass message, got {cls.__name__}")
        names = tuple(sorted(f.name for f in dataclasses.fields(cls)))
        if len(names) > 1:
            get = operator.attrgetter(*names)
        else:  # attrgetter returns a bare value for one name and refuses none
            def get(m: Any, _n: tuple[str, ...] = names) -> tuple:
                return tuple(getattr(m, n) for n in _n)
        spec = _SPECS[cls] = _Spec(names, get, "actor" in names)
    return spec


def record_of(msg: Any, actor: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """Map a bus message (a frozen dataclass) to ``(kind, actor, payload)``.

    kind is the class name; payload holds every field (enums as their value; nested values are made JSON by
    ``canonical_json``); actor is the argument, else the message's own ``actor`` field, else "system".
    """
    if isinstance(msg, type):
        raise TypeError("record_of needs a message instance, not a class")
    spec = _spec(type(msg))
    payload = dict(zip(spec.names, spec.get(msg)))
    for name, value in payload.items():
        if isinstance(value, enum.Enum):
            payload[name] = value.value
    return type(msg).__name__, _actor(actor, payload.get("actor")), payload


def _c_encoder() -> Callable[[Any], str] | None:
    """``canonical_json``'s C encoder, built once: ``JSONEncoder.encode`` builds a new one per call, which
    is half the cost of encoding a message. None where the C accelerator is missing."""
    make = json.encoder.c_make_encoder
    if make is None or json.encoder.c_encode_basestring is None:
        return None
    # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan):
    # the settings of ``canonical_json``; no circular-reference markers (messages are flat dataclasses)
    encode = make(None, _json_default, json.encoder.c_encode_basestring, None, ":", ",", True, False, True)
    return lambda obj: "".join(encode(obj, 0))


_encode = _c_encoder() or canonical_json


def message_payload(msg: Any, actor: str | None = None) -> tuple[str, str, str]:
    """``(kind, actor, canonical JSON payload)`` of a message: the bytes ``record_of`` + ``canonical_json``
    give, without the per-field Python loop: the C encoder writes str/int/float enums as their value already
    (other enums go through ``_json_default``)."""
    spec = _spec(type(msg))
    text = _encode(dict(zip(spec.names, spec.get(msg))))
    return type(msg).__name__, _actor(actor, getattr(msg, "actor", None) if spec.has_actor else None), text


def _actor(explicit: Any, own: Any) -> str:
    actor = explicit or own or "system"
    return str(actor.value if isinstance(actor, enum.Enum) else actor)
