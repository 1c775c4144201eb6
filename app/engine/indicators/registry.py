"""Indicator registry shared by the chart, strategies and ML features.

Each :class:`IndicatorSpec` says what an indicator needs (inputs), what it takes (typed,
bounded parameters with defaults), what it produces (output names), where it is drawn
("overlay" on price or "subpane"), and how to compute it (vectorised function and streaming
factory).  Functions are referenced lazily as ``"module:attr"`` so importing the registry does
not import numba.  Plugins add indicators with :func:`register`; a duplicate name is an error.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping

Kind = Literal["overlay", "subpane"]


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    min: float | None = None
    max: float | None = None
    type: type = int


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kind: Kind
    params: tuple[Param, ...] = ()
    vectorised: Callable[..., Any] | str = ""
    stream: Callable[..., Any] | str = ""
    doc: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def _resolve(self, ref: Callable[..., Any] | str) -> Callable[..., Any]:
        if callable(ref):
            return ref
        mod, _, attr = ref.partition(":")
        return getattr(importlib.import_module(mod), attr)

    @property
    def fn(self) -> Callable[..., Any]:
        """The vectorised function (imported on first use)."""
        return self._resolve(self.vectorised)

    @property
    def stream_factory(self) -> Callable[..., Any]:
        """The streaming factory (imported on first use)."""
        return self._resolve(self.stream)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate_params(self, **kw: Any) -> dict[str, Any]:
        """Merge ``kw`` over the defaults and check names, types and bounds (ValueError)."""
        known = {p.name: p for p in self.params}
        for k in kw:
            if k not in known:
                raise ValueError(f"{self.name}: unknown parameter {k!r}; expected one of {sorted(known)}")
        out = self.defaults()
        out.update(kw)
        for k, v in out.items():
            p = known[k]
            if p.type is int and (isinstance(v, bool) or not float(v).is_integer()):
                raise ValueError(f"{self.name}.{k}: expected an integer, got {v!r}")
            if p.min is not None and v < p.min:
                raise ValueError(f"{self.name}.{k}: must be >= {p.min}, got {v!r}")
            if p.max is not None and v > p.max:
                raise ValueError(f"{self.name}.{k}: must be <= {p.max}, got {v!r}")
        return out


class IndicatorRegistry(Mapping[str, IndicatorSpec]):
    def __init__(self) -> None:
        self._specs: dict[str, IndicatorSpec] = {}

    def register(self, spec: IndicatorSpec) -> IndicatorSpec:
        key = spec.name.lower()
        if key in self._specs:
            raise ValueError(f"indicator {spec.name!r} is already registered; pick another name "
                             f"(registered: {', '.join(sorted(self._specs))})")
        if spec.kind not in ("overlay", "subpane"):
            raise ValueError(f"indicator {spec.name!r}: kind must be 'overlay' or 'subpane', got {spec.kind!r}")
        self._specs[key] = spec
        return spec

    def __getitem__(self, name: str) -> IndicatorSpec:
        try:
            return self._specs[name.lower()]
        except KeyError:
            raise KeyError(f"unknown indicator {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


registry = IndicatorRegistry()


def register(name: str, inputs: tuple[str, ...], outputs: tuple[str, ...], kind: Kind,
             params: tuple[Param, ...] = (), vectorised: Callable[..., Any] | str = "",
             stream: Callable[..., Any] | str = "", doc: str = "") -> IndicatorSpec:
    """Add an indicator (e.g. from a plugin).  Raises ``ValueError`` on a duplicate name."""
    return registry.register(IndicatorSpec(name, tuple(inputs), tuple(outputs), kind, tuple(params),
                                           vectorised, stream, doc))


_P = 100_000
C, HL, HLC, HLCV, CV = ("close",), ("high", "low"), ("high", "low", "close"), \
    ("high", "low", "close", "volume"), ("close", "volume")


def _tp(name: str = "timeperiod", default: int = 14, lo: int = 2) -> Param:
    return Param(name, default, lo, _P, int)


def _mt(name: str, default: int = 0) -> Param:
    return Param(name, default, 0, 1, int)


def _f(name: str, default: float, lo: float | None = None, hi: float | None = None) -> Param:
    return Param(name, default, lo, hi, float)


_BUILTINS: list[tuple[str, str, tuple, tuple, Kind, tuple]] = [
    # name, module, inputs, outputs, kind, params
    ("sma", "overlap", C, ("real",), "overlay", (_tp(default=30, lo=1),)),
    ("ema", "overlap", C, ("real",), "overlay", (_tp(default=30, lo=1),)),
    ("wma", "overlap", C, ("real",), "overlay", (_tp(default=30, lo=1),)),
    ("dema", "overlap", C, ("real",), "overlay", (_tp(default=30, lo=1),)),
    ("tema", "overlap", C, ("real",), "overlay", (_tp(default=30, lo=1),)),
    ("kama", "overlap", C, ("real",), "overlay", (_tp(default=30, lo=1),)),
    ("trima", "overlap", C, ("real",), "overlay", (_tp(default=30, lo=1),)),
    ("bbands", "overlap", C, ("upperband", "middleband", "lowerband"), "overlay",
     (_tp(default=20), _f("nbdevup", 2.0), _f("nbdevdn", 2.0), _mt("matype"))),
    ("stddev", "overlap", C, ("real",), "subpane", (_tp(default=5), _f("nbdev", 1.0))),
    ("midprice", "overlap", HL, ("real",), "overlay", (_tp(),)),
    ("sar", "overlap", HL, ("real",), "overlay", (_f("acceleration", 0.02, 0.0), _f("maximum", 0.2, 0.0))),
    ("rsi", "momentum", C, ("real",), "subpane", (_tp(),)),
    ("macd", "momentum", C, ("macd", "macdsignal", "macdhist"), "subpane",
     (_tp("fastperiod", 12), _tp("slowperiod", 26), _tp("signalperiod", 9, 1))),
    ("apo", "momentum", C, ("real",), "subpane", (_tp("fastperiod", 12), _tp("slowperiod", 26), _mt("matype", 1))),
    ("ppo", "momentum", C, ("real",), "subpane", (_tp("fastperiod", 12), _tp("slowperiod", 26), _mt("matype", 1))),
    ("mom", "momentum", C, ("real",), "subpane", (_tp(default=10, lo=1),)),
    ("roc", "momentum", C, ("real",), "subpane", (_tp(default=10, lo=1),)),
    ("trix", "momentum", C, ("real",), "subpane", (_tp(default=30, lo=1),)),
    ("cci", "momentum", HLC, ("real",), "subpane", (_tp(),)),
    ("ultosc", "momentum", HLC, ("real",), "subpane",
     (_tp("timeperiod1", 7, 1), _tp("timeperiod2", 14, 1), _tp("timeperiod3", 28, 1))),
    ("willr", "oscillators", HLC, ("real",), "subpane", (_tp(),)),
    ("stoch", "oscillators", HLC, ("slowk", "slowd"), "subpane",
     (_tp("fastk_period", 5, 1), _tp("slowk_period", 3, 1), _mt("slowk_matype"), _tp("slowd_period", 3, 1),
      _mt("slowd_matype"))),
    ("stochf", "oscillators", HLC, ("fastk", "fastd"), "subpane",
     (_tp("fastk_period", 5, 1), _tp("fastd_period", 3, 1), _mt("fastd_matype"))),
    ("stochrsi", "oscillators", C, ("fastk", "fastd"), "subpane",
     (_tp(), _tp("fastk_period", 5, 1), _tp("fastd_period", 3, 1), _mt("fastd_matype"))),
    ("aroon", "oscillators", HL, ("aroondown", "aroonup"), "subpane", (_tp(),)),
    ("kdj", "oscillators", HLC, ("k", "d", "j"), "subpane",
     (_tp("fastk_period", 9, 1), _tp("signalk_period", 3, 1), _tp("signald_period", 3, 1))),
    ("adx", "directional", HLC, ("real",), "subpane", (_tp(),)),
    ("dx", "directional", HLC, ("real",), "subpane", (_tp(),)),
    ("plus_di", "directional", HLC, ("real",), "subpane", (_tp(lo=1),)),
    ("minus_di", "directional", HLC, ("real",), "subpane", (_tp(lo=1),)),
    ("atr", "directional", HLC, ("real",), "subpane", (_tp(lo=1),)),
    ("natr", "directional", HLC, ("real",), "subpane", (_tp(lo=1),)),
    ("trange", "directional", HLC, ("real",), "subpane", ()),
    ("obv", "volume", CV, ("real",), "subpane", ()),
    ("ad", "volume", HLCV, ("real",), "subpane", ()),
    ("adosc", "volume", HLCV, ("real",), "subpane", (_tp("fastperiod", 3), _tp("slowperiod", 10))),
    ("mfi", "volume", HLCV, ("real",), "subpane", (_tp(),)),
    ("vwap", "volume", HLCV + ("session",), ("real",), "overlay", (_tp(default=0, lo=0),)),
    ("supertrend", "extras", HLC, ("supertrend", "direction"), "overlay",
     (_tp(default=10, lo=1), _f("multiplier", 3.0, 0.0))),
    ("keltner", "extras", HLC, ("upperband", "middleband", "lowerband"), "overlay",
     (_tp(default=20, lo=1), _tp("atrperiod", 10, 1), _f("multiplier", 2.0, 0.0))),
    ("donchian", "extras", HL, ("upperband", "middleband", "lowerband"), "overlay", (_tp(default=20, lo=1),)),
    ("ichimoku", "extras", HLC, ("tenkan", "kijun", "senkou_a", "senkou_b", "chikou"), "overlay",
     (_tp("tenkan_period", 9, 1), _tp("kijun_period", 26, 1), _tp("senkou_period", 52, 1))),
    ("heikin_ashi", "extras", ("open", "high", "low", "close"), ("ha_open", "ha_high", "ha_low", "ha_close"),
     "overlay", ()),
]

_PKG = __name__.rsplit(".", 1)[0]
for _name, _mod, _inp, _out, _kind, _params in _BUILTINS:
    register(_name, _inp, _out, _kind, _params, f"{_PKG}.{_mod}:{_name}", f"{_PKG}.{_mod}:{_name}_stream")

#: indicators that exist in TA-Lib (tests compare these with TA-Lib itself)
TALIB_NAMES: tuple[str, ...] = tuple(n for n, *_ in _BUILTINS if n not in
                                     {"kdj", "vwap", "supertrend", "keltner", "donchian", "ichimoku",
                                      "heikin_ashi"})
