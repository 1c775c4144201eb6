"""Strategy parameters and the plugin API's version: what a plugin declares (``Param``), how values a
person typed or a saved instance holds are checked against it (``validate_params``), and whether a plugin
written for one API version runs under this one (``api_compatible``). Re-exported by ``app.api``."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

API_VERSION = "1.3"  # 1.1 added Strategy.model(), history(), lot_size, round_qty(), Model and ta; 1.2 stops,
# brackets, time in force, modify and close_position (issue 20); 1.3 news() and sentiment() (issue 22)


def api_compatible(declared: str) -> bool:
    """True when a plugin written for ``declared`` runs under this API (same major, minor <= ours)."""
    try:
        major, minor = (int(x) for x in str(declared).split(".", 1))
    except ValueError:
        return False
    our_major, our_minor = (int(x) for x in API_VERSION.split("."))
    return major == our_major and minor <= our_minor


class ParamError(ValueError):
    """A parameter value (or declaration) is invalid; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    """A typed strategy parameter. The type is the default's type (int, float, bool or str)."""

    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    def check_declaration(self, name: str) -> None:
        if self.kind not in (int, float, bool, str):
            raise ParamError(f"parameter {name!r}: default {self.default!r} must be an int, float, bool or str")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ParamError(f"parameter {name!r}: lo {self.lo} is above hi {self.hi}")
        self.coerce(name, self.default)

    def coerce(self, name: str, value: Any) -> Any:
        """Convert ``value`` (a Python value or the text a user typed) to the declared type, within bounds."""
        kind = self.kind
        try:
            if kind is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = low in ("true", "1", "yes")
                else:
                    value = bool(value)
            elif kind is int:
                f = float(value)
                if not f.is_integer():
                    raise ValueError
                value = int(f)
            elif kind is float:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise ParamError(f"parameter {name!r}: {value!r} is not a valid {kind.__name__}") from None
        if self.lo is not None and kind in (int, float) and value < self.lo:
            raise ParamError(f"parameter {name!r}: {value} is below its minimum {self.lo}")
        if self.hi is not None and kind in (int, float) and value > self.hi:
            raise ParamError(f"parameter {name!r}: {value} is above its maximum {self.hi}")
        if self.choices is not None and value not in self.choices:
            raise ParamError(f"parameter {name!r}: {value!r} is not one of {list(self.choices)}")
        return value


class Params:
    """Read-only attribute access to a strategy's validated parameters (``self.p.fast``)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("parameters are read-only; change them in the strategy manager")

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def declared_params(cls: type) -> dict[str, Param]:
    """The ``Param`` attributes of a strategy class, base classes first, in declaration order."""
    out: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, Param):
                out[key] = value
    return out


def validate_params(cls: type, given: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``given``, each coerced and bounds-checked; unknown names are errors."""
    decl = declared_params(cls)
    given = dict(given or {})
    unknown = sorted(set(given) - set(decl))
    if unknown:
        raise ParamError(f"unknown parameter(s) {', '.join(unknown)}; {cls.name or cls.__name__} takes "
                         f"{', '.join(decl) or 'none'}")
    return {k: p.coerce(k, given.get(k, p.default)) for k, p in decl.items()}


def parse_params(text: str, flag: str = "--params") -> dict[str, str]:
    """``k=v,k2=v2`` -> {k: v}; values stay text (the plugin's declaration types them)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"{flag} item {part!r}: write name=value")
        out[k.strip()] = v.strip()
    return out
