"""Alert conditions: a small expression language over a symbol's bars and the registry's indicators.

::

    rsi(14) > 70
    close crosses above sma(200)
    close > bbands(20, nbdevup=2.5).upperband and volume > 2 * sma(volume, 20)

``compile(text)`` checks an expression and returns a :class:`Condition`; ``condition.new_state()`` gives an
:class:`Evaluator` with its own streaming indicators, fed one bar at a time (``update``) or brought up to date
on history (``warm``).  Nothing recomputes over history: each bar costs one ``update`` per distinct indicator
call, on the same kernels (and so the same numbers) as the chart, the strategies and the vectorised functions.

Grammar (names case-insensitive, whitespace free, ``and`` binds tighter than ``or``)::

    condition   := conjunction ("or" conjunction)*
    conjunction := comparison ("and" comparison)*
    comparison  := sum [OP sum]          OP: > < >= <= | crosses | crosses above | crosses below
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/") unary)*
    unary       := "-" unary | NUMBER | FIELD | call ["." OUTPUT] | "(" condition ")"
    call        := NAME ["(" [arg ("," arg)*] ")"]
    arg         := NUMBER | PARAM "=" NUMBER | FIELD

FIELD is ``open high low close volume``.  A call's numbers fill the indicator's parameters in the registry's
order; ``PARAM=`` names one.  A one-input indicator (sma, rsi, ...) reads ``close`` unless a field comes
first: ``sma(volume, 20)``.  A multi-output indicator needs ``.OUTPUT``: its registry name
(``macd(12, 26, 9).macdsignal``) or a part of it that picks one output alone (``.signal``, ``.upper``).
The parser is hand-written (recursive descent, ~200 lines): a library would save little at this size, and
every refusal here carries the character offset of the token at fault and a sentence a trader can act on.

Refusals raise :class:`ExprError` (a ``ValueError``): syntax (unexpected token, missing operand,
unbalanced parenthesis, trailing text), unknown indicator or output (with the close names), a bad
parameter (the registry's own ``validate_params`` message), a multi-output indicator without its output,
an indicator that needs more than a bar holds (vwap needs the session), and things on different scales.

Scales.  Every value has one; a comparison or a cross needs both sides on one scale, or a number on one side:

- ``price``: open, high, low, close, and indicators drawn over the price (registry kind ``"overlay"``);
- ``price change``: a distance in price units, e.g. ``close - open``; the subpane indicators measured in
  price units (atr, trange, stddev, mom, macd, apo: the registry cannot tell these, so a table here does);
- ``volume``: the volume, and subpane indicators that read the volume (obv, ad, adosc; mfi is the exception:
  a 0..100 oscillator);
- ``oscillator``: every other subpane indicator (rsi, cci, adx, roc, natr, stoch ...: their own scale, often
  bounded), and supertrend's ``direction`` (+1/-1);
- ``number``: a literal; it compares and combines with anything.

A one-input indicator fed the volume (``sma(volume, 20)``) is on the volume scale where it would have been on
the price or price change scale.  A plugin indicator can state its scale in ``IndicatorSpec.extra["scale"]``
(one scale, or a mapping output -> scale), which overrides all of the above.

Arithmetic: with a number the other side's scale is kept (``sma(50) * 1.02`` is a price); ``+`` and ``-``
need one scale, except price - price = price change and price +/- price change = price; ``a / b`` on one
scale is a number (``close / sma(20) > 1.02``), as is price over price change; the product of two scaled
values has no scale and is refused, as is any other mix.

Evaluation.  ``update`` returns the condition's truth at that bar: ``None`` while any value it needs is NaN
(an indicator warming up, a NaN input, a division by zero), so ``a or b`` is ``None`` while ``a`` warms up.
``a crosses above b`` is ``a_prev <= b_prev and a > b`` (``below`` the mirror, ``crosses`` either), the
``_prev`` values being those of the last final bar.  A forming bar (``final=False``) is evaluated with the
streams' own preview (the value the bar would give if it closed now) against the last final bar, and
changes nothing.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, NamedTuple

from app.engine.indicators.registry import IndicatorSpec
from app.engine.indicators.registry import registry as _default_registry

__all__ = ["FIELDS", "SCALES", "Condition", "Evaluator", "ExprError", "IndicatorCall", "compile"]

FIELDS = ("open", "high", "low", "close", "volume")
PRICE, CHANGE, VOLUME, OSCILLATOR, NUMBER = "price", "price change", "volume", "oscillator", "number"
SCALES = (PRICE, CHANGE, VOLUME, OSCILLATOR, NUMBER)

#: builtin indicators whose scale their registry kind does not tell (indicator -> scale, or output -> scale)
_SCALE_TABLE: dict[str, str | dict[str, str]] = {
    "atr": CHANGE, "trange": CHANGE, "stddev": CHANGE, "mom": CHANGE, "macd": CHANGE, "apo": CHANGE,
    "mfi": OSCILLATOR, "supertrend": {"supertrend": PRICE, "direction": OSCILLATOR},
}
_CMP_OPS = (">", "<", ">=", "<=")
_KEYWORDS = ("and", "or", "crosses", "above", "below")
_NAN = math.nan
_isnan = math.isnan


class ExprError(ValueError):
    """An expression refused: ``message`` says why, ``position`` is the 0-based offset of the token at fault.

    ``str()`` shows the message, the expression and a caret under that position.
    """

    def __init__(self, message: str, position: int, text: str = "", hint: str = "") -> None:
        self.message = message
        self.position = position
        self.text = text
        self.hint = hint
        super().__init__(message, position)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.position, self.text, self.hint))

    @property
    def summary(self) -> str:
        """One line: the message, the position and the hint (for a status bar or a log)."""
        return f"{self.message} at {self.position}" + (f" ({self.hint})" if self.hint else "")

    def __str__(self) -> str:
        if not self.text:
            return self.summary
        return f"{self.summary}\n  {self.text}\n  {' ' * self.position}^"


# ------------------------------------------------------------------------------------------------ tokens
class _Tok(NamedTuple):
    kind: str  # "num" | "name" | "op" | "end"
    text: str  # lower-cased for names
    pos: int
    value: float = 0.0


_TOKEN = re.compile(r"\s+|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<op>>=|<=|==|[<>+\-*/(),.=])")


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprError(f"unexpected character {text[pos]!r}", pos, text)
        if m.lastgroup == "num":
            v = float(m.group())
            if not math.isfinite(v):
                raise ExprError(f"number {m.group()} is out of range", pos, text)
            toks.append(_Tok("num", m.group(), pos, v))
        elif m.lastgroup is not None:
            toks.append(_Tok(m.lastgroup, m.group().lower(), pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _desc(tok: _Tok) -> str:
    return "the end of the expression" if tok.kind == "end" else repr(tok.text)


def _fmt(v: float) -> str:
    """A number as the normalised text writes it (reads back to the same float)."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)


# ------------------------------------------------------------------------------------------------ nodes
@dataclass(frozen=True, eq=False)
class IndicatorCall:
    """One indicator call of a condition: ``params`` are all of them (defaults filled, registry order).

    Two calls are the same (and share one stream) when name, params and source agree, however written.
    """

    name: str
    params: tuple[tuple[str, Any], ...]
    source: str | None = None  # the bar field feeding a one-input indicator, None = its declared inputs
    text: str = field(default="", compare=False)  # as first written, normalised: "bbands(20, nbdevup=2)"

    @property
    def key(self) -> tuple[str, tuple[tuple[str, Any], ...], str | None]:
        return (self.name, self.params, self.source)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IndicatorCall) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class _Value:
    pos: int  # the token that names this node in an error (its operator, for arithmetic)
    start: int  # where its text starts
    scale: str

    prec = 9  # binding strength in the normalised text

    def text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class _Num(_Value):
    value: float = 0.0

    def text(self) -> str:
        return _fmt(self.value)


@dataclass(frozen=True)
class _Field(_Value):
    name: str = ""

    def text(self) -> str:
        return self.name


@dataclass(frozen=True)
class _Ind(_Value):
    call: IndicatorCall = None  # type: ignore[assignment]
    output: str = ""  # "" for a single-output indicator
    k: int = 0  # the output's index (multi-output indicators)
    written: str = ""  # this call as written here (the same call may be spelled twice)

    def text(self) -> str:
        return self.written + (f".{self.output}" if self.output else "")


@dataclass(frozen=True)
class _Neg(_Value):
    operand: _Value = None  # type: ignore[assignment]
    prec = 3

    def text(self) -> str:
        inner = self.operand.text()
        return "-" + (inner if self.operand.prec >= self.prec else f"({inner})")


@dataclass(frozen=True)
class _Arith(_Value):
    op: str = "+"
    left: _Value = None  # type: ignore[assignment]
    right: _Value = None  # type: ignore[assignment]

    @property
    def prec(self) -> int:  # type: ignore[override]
        return 1 if self.op in "+-" else 2

    def text(self) -> str:
        lt, rt = self.left.text(), self.right.text()
        lt = lt if self.left.prec >= self.prec else f"({lt})"
        rt = rt if self.right.prec > self.prec else f"({rt})"  # a + (b + c) keeps its rounding
        return f"{lt} {self.op} {rt}"


@dataclass(frozen=True)
class _Cond:
    pos: int
    start: int

    prec = 9

    def text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class _Compare(_Cond):
    op: str = ">"  # one of _CMP_OPS, or "crosses", "crosses above", "crosses below"
    left: _Value = None  # type: ignore[assignment]
    right: _Value = None  # type: ignore[assignment]

    def text(self) -> str:
        return f"{self.left.text()} {self.op} {self.right.text()}"


@dataclass(frozen=True)
class _Bool(_Cond):
    op: str = "and"
    parts: tuple[_Cond, ...] = ()

    @property
    def prec(self) -> int:  # type: ignore[override]
        return 2 if self.op == "and" else 1

    def text(self) -> str:
        return f" {self.op} ".join(p.text() if p.prec > self.prec else f"({p.text()})" for p in self.parts)


# ------------------------------------------------------------------------------------------------ scales
def _article(scale: str) -> str:
    return f"an {scale}" if scale[0] in "aeiou" else f"a {scale}"


def _what(node: _Value) -> str:
    return f"{_article(node.scale)} ({node.text()})"


def _indicator_scale(spec: IndicatorSpec, output: str, source: str | None) -> str:
    declared = spec.extra.get("scale") if spec.extra else None
    rule = declared if declared is not None else _SCALE_TABLE.get(spec.name.lower())
    if isinstance(rule, Mapping):
        rule = rule.get(output or spec.outputs[0])
    if rule is not None:
        scale = str(rule)
        if scale not in SCALES:
            raise ValueError(f"indicator {spec.name!r}: scale {scale!r} is not one of {', '.join(SCALES)}")
    elif spec.kind == "overlay":
        scale = PRICE
    else:
        scale = VOLUME if "volume" in spec.inputs else OSCILLATOR
    if declared is None and source == "volume" and scale in (PRICE, CHANGE):
        scale = VOLUME
    return scale


def _arith_scale(op: str, a: str, b: str) -> str | None:
    """The scale of ``a op b``, or None if it has none."""
    if a == NUMBER:
        return b
    if b == NUMBER:
        return a
    if op == "+":
        if a == b:
            return a
        return PRICE if {a, b} == {PRICE, CHANGE} else None
    if op == "-":
        if a == b:
            return CHANGE if a == PRICE else a
        return PRICE if (a, b) == (PRICE, CHANGE) else None
    if op == "/":
        return NUMBER if a == b or {a, b} == {PRICE, CHANGE} else None
    return None  # a product of two scaled values


_VERB = {"+": "add {a} and {b}", "-": "subtract {b} from {a}", "*": "multiply {a} by {b}",
         "/": "divide {a} by {b}"}
_HINT = "compare prices with prices, volumes with volumes, oscillators with numbers or other oscillators"


# ------------------------------------------------------------------------------------------------ parser
class _Parser:
    def __init__(self, text: str, specs: Mapping[str, IndicatorSpec]) -> None:
        self.text = text
        self.specs = specs
        self.toks = _lex(text)
        self.i = 0
        self.calls: dict[tuple, IndicatorCall] = {}

    # -- helpers
    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in ops

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text in words

    def fail(self, message: str, pos: int, hint: str = "") -> ExprError:
        return ExprError(message, pos, self.text, hint)

    def need_condition(self, node: _Value | _Cond, after: _Tok) -> _Cond:
        if isinstance(node, _Cond):
            return node
        got = "" if after.kind == "end" else f", got {_desc(after)}"
        raise self.fail(f"expected a comparison (>, <, >=, <=, crosses) after {node.text()}{got}", after.pos,
                        f"e.g. {node.text()} > 70")

    def need_value(self, node: _Value | _Cond, op: _Tok) -> _Value:
        if isinstance(node, _Value):
            return node
        raise self.fail(f"'{op.text}' needs a value on each side, and ({node.text()}) is a condition",
                        node.start)

    # -- grammar
    def parse(self) -> _Cond:
        if self.peek().kind == "end":
            raise self.fail("empty expression", 0, "e.g. rsi(14) > 70")
        node = self.disjunction()
        tok = self.peek()
        if tok.kind != "end":
            if tok.text == ")":
                raise self.fail("unmatched ')'", tok.pos)
            if isinstance(node, _Value):
                self.need_condition(node, tok)  # raises: a value where a comparison was due
            raise self.fail(f"unexpected {_desc(tok)}", tok.pos, "expected 'and', 'or' or the end")
        return self.need_condition(node, tok)

    def disjunction(self) -> _Value | _Cond:
        return self.boolean("or", self.conjunction)

    def conjunction(self) -> _Value | _Cond:
        return self.boolean("and", self.comparison)

    def boolean(self, word: str, operand: Callable[[], _Value | _Cond]) -> _Value | _Cond:
        first = operand()
        if not self.is_word(word):
            return first
        parts: list[_Cond] = []
        node = first
        while self.is_word(word):
            tok = self.peek()
            parts.append(self.need_condition(node, tok))
            self.take()
            if self.peek().kind == "end":
                raise self.fail(f"missing condition after '{word}'", self.peek().pos)
            node = operand()
        parts.append(self.need_condition(node, self.peek()))
        flat: list[_Cond] = []
        for p in parts:  # a and (b and c) -> a and b and c (exact: every part is evaluated anyway)
            flat.extend(p.parts if isinstance(p, _Bool) and p.op == word else (p,))
        return _Bool(parts[0].pos, parts[0].start, word, tuple(flat))

    def comparison(self) -> _Value | _Cond:
        left = self.sum()
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("=", "=="):
            raise self.fail(f"'{tok.text}' is not a comparison an alert can watch", tok.pos,
                            "use >, <, >=, <= or crosses")
        if tok.kind == "op" and tok.text in _CMP_OPS:
            op = self.take().text
        elif tok.kind == "name" and tok.text == "crosses":
            self.take()
            op = "crosses"
            if self.is_word("above", "below"):
                op += " " + self.take().text
        else:
            return left
        left = self.need_value(left, tok)
        right = self.need_value(self.sum(), tok)
        if not (left.scale == right.scale or NUMBER in (left.scale, right.scale)):
            raise self.fail(f"cannot compare {_what(left)} with {_what(right)}: they are on different scales",
                            tok.pos, _HINT)
        nxt = self.peek()
        if (nxt.kind == "op" and nxt.text in _CMP_OPS) or (nxt.kind == "name" and nxt.text == "crosses"):
            raise self.fail("comparisons do not chain", nxt.pos,
                            f"join them with 'and': {left.text()} {op} {right.text()} and {right.text()} ...")
        return _Compare(tok.pos, left.start, op, left, right)

    def sum(self) -> _Value | _Cond:
        return self.arith(("+", "-"), self.product)

    def product(self) -> _Value | _Cond:
        return self.arith(("*", "/"), self.unary)

    def arith(self, ops: tuple[str, ...], operand: Callable[[], _Value | _Cond]) -> _Value | _Cond:
        left = operand()
        while self.is_op(*ops):
            tok = self.take()
            right = operand()
            for side in (left, right):
                if isinstance(side, _Cond):
                    raise self.fail(f"cannot do arithmetic on a condition ({side.text()})", tok.pos)
            assert isinstance(left, _Value) and isinstance(right, _Value)
            scale = _arith_scale(tok.text, left.scale, right.scale)
            if scale is None:
                why = ("their product has no scale to compare with" if tok.text == "*"
                       else "they are on different scales")
                raise self.fail(f"cannot {_VERB[tok.text].format(a=_what(left), b=_what(right))}: {why}",
                                tok.pos)
            left = _Arith(tok.pos, left.start, scale, tok.text, left, right)
        return left

    def unary(self) -> _Value | _Cond:
        if not self.is_op("-"):
            return self.primary()
        tok = self.take()
        operand = self.unary()
        if isinstance(operand, _Cond):
            raise self.fail(f"cannot negate a condition ({operand.text()})", tok.pos)
        if isinstance(operand, _Num):
            return _Num(tok.pos, tok.pos, NUMBER, -operand.value)
        return _Neg(tok.pos, tok.pos, operand.scale, operand)

    def primary(self) -> _Value | _Cond:
        tok = self.peek()
        if tok.kind == "num":
            self.take()
            return _Num(tok.pos, tok.pos, NUMBER, tok.value)
        if tok.kind == "op" and tok.text == "(":
            self.take()
            if self.is_op(")"):
                raise self.fail("empty parentheses", tok.pos)
            inner = self.disjunction()
            self.close_paren(tok)
            return replace(inner, start=tok.pos)
        if tok.kind == "name" and tok.text not in _KEYWORDS:
            if tok.text in FIELDS:
                self.take()
                if self.is_op("(", "."):
                    raise self.fail(f"{tok.text} is a bar field, not an indicator", self.peek().pos)
                return _Field(tok.pos, tok.pos, VOLUME if tok.text == "volume" else PRICE, tok.text)
            return self.call()
        prev = self.toks[self.i - 1] if self.i > 0 else None
        if tok.kind == "end" or tok.text == ")":
            raise self.fail(f"missing operand after {_desc(prev)}" if prev else "missing operand", tok.pos)
        raise self.fail(f"expected a number, a bar field or an indicator, got {_desc(tok)}", tok.pos)

    def close_paren(self, opening: _Tok) -> None:
        tok = self.peek()
        if tok.kind == "op" and tok.text == ")":
            self.take()
            return
        if tok.kind == "end":
            raise self.fail("unclosed '('", opening.pos, "add the missing ')'")
        raise self.fail(f"expected ')' to close the '(' at {opening.pos}, got {_desc(tok)}", tok.pos)

    def call(self) -> _Ind:
        name_tok = self.take()
        name = name_tok.text
        spec = self.specs.get(name)
        if spec is None:
            words = list(self.specs) + list(FIELDS)
            prev = self.toks[self.i - 2] if self.i >= 2 else None
            if prev is not None and prev.text == "crosses":
                words += ["above", "below"]
            close = difflib.get_close_matches(name, words, n=3)
            raise self.fail(f"unknown indicator {name!r}", name_tok.pos,
                            f"did you mean {' or '.join(close)}?" if close else "")
        missing = [i for i in spec.inputs if i not in FIELDS]
        if missing:
            raise self.fail(f"{name} needs the bar's {', '.join(missing)}, which an alert condition lacks",
                            name_tok.pos, f"a condition sees {', '.join(FIELDS)}")
        source, given, texts = self.arguments(name, spec)
        params = dict(spec.validate_params(**{k: v for k, (v, _) in given.items()}))
        text = f"{name}({', '.join(texts)})"
        call = IndicatorCall(name, tuple(params.items()), source, text)
        call = self.calls.setdefault(call.key, call)
        output, k = self.output(name_tok, spec, call)
        scale = _indicator_scale(spec, output, source)
        return _Ind(name_tok.pos, name_tok.pos, scale, call, output if len(spec.outputs) > 1 else "", k, text)

    def arguments(self, name: str,
                  spec: IndicatorSpec) -> tuple[str | None, dict[str, tuple[Any, int]], list[str]]:
        """The call's field source, its given parameters (name -> (value, position)) and their texts."""
        source: str | None = None
        given: dict[str, tuple[Any, int]] = {}
        texts: list[str] = []
        if not self.is_op("("):
            return source, given, texts
        lparen = self.take()
        positional = 0
        while not self.is_op(")"):
            tok = self.peek()
            if tok.kind == "end":
                raise self.fail("unclosed '('", lparen.pos, "add the missing ')'")
            if tok.kind == "name" and tok.text in FIELDS:
                self.take()
                if spec.inputs != ("close",):
                    raise self.fail(f"{name} reads {', '.join(spec.inputs)} from the bar; only a one-input "
                                    f"indicator takes a field", tok.pos, "e.g. sma(volume, 20)")
                if texts:
                    raise self.fail(f"the field goes first: {name}({tok.text}, ...)", tok.pos)
                source = None if tok.text == "close" else tok.text  # sma(close, 20) is sma(20)
                texts.append(tok.text)
            else:
                if tok.kind == "name" and self.peek(1).text == "=":
                    self.take()
                    self.take()
                    key, pos = tok.text, tok.pos
                else:
                    if given and any(t.partition("=")[1] for t in texts):
                        raise self.fail("a positional parameter cannot follow a named one", tok.pos)
                    if positional >= len(spec.params):
                        names = ", ".join(p.name for p in spec.params) or "none"
                        raise self.fail(f"{name} takes {len(spec.params)} parameter(s) ({names})", tok.pos)
                    key, pos = spec.params[positional].name, tok.pos
                    positional += 1
                value: Any = self.number(tok)
                if key in given:
                    raise self.fail(f"{name}: parameter {key} is given twice", pos)
                param = next((p for p in spec.params if p.name == key), None)
                if param is not None and param.type is int and value.is_integer():
                    value = int(value)
                try:
                    spec.validate_params(**{key: value})
                except ValueError as exc:
                    close = difflib.get_close_matches(key, [p.name for p in spec.params], n=1)
                    hint = f"did you mean {close[0]}?" if close and param is None else ""
                    raise self.fail(str(exc), pos, hint) from None
                given[key] = (value, pos)
                texts.append(f"{key}={_fmt(value)}" if tok.text == key else _fmt(value))
            if self.is_op(","):
                comma = self.take()
                if self.is_op(")"):
                    raise self.fail("missing parameter after ','", comma.pos)
            elif not self.is_op(")"):
                nxt = self.peek()
                if nxt.kind == "end":
                    raise self.fail("unclosed '('", lparen.pos, "add the missing ')'")
                raise self.fail(f"expected ',' or ')' in the parameters of {name}, got {_desc(nxt)}", nxt.pos)
        self.take()
        return source, given, texts

    def number(self, at: _Tok) -> float:
        sign = 1.0
        if self.is_op("-"):
            self.take()
            sign = -1.0
        tok = self.peek()
        if tok.kind != "num":
            got = _desc(tok)
            raise self.fail(f"expected a number for a parameter, got {got}", tok.pos,
                            "parameters are numbers; a bar field may come first (sma(volume, 20))")
        self.take()
        return sign * tok.value

    def output(self, name_tok: _Tok, spec: IndicatorSpec, call: IndicatorCall) -> tuple[str, int]:
        outs = spec.outputs
        if not self.is_op("."):
            if len(outs) > 1:
                raise self.fail(f"{name_tok.text} has several outputs; choose one: {', '.join(outs)}",
                                name_tok.pos, f"e.g. {call.text}.{outs[0]}")
            return outs[0], 0
        self.take()
        tok = self.peek()
        if tok.kind != "name":
            raise self.fail("expected an output name after '.'", tok.pos,
                            f"{name_tok.text} has {', '.join(outs)}")
        self.take()
        if tok.text in outs:
            return tok.text, outs.index(tok.text)
        alias = [o for o in outs if o.startswith(tok.text) or o.endswith(tok.text)]
        if len(alias) == 1:
            return alias[0], outs.index(alias[0])
        close = difflib.get_close_matches(tok.text, outs, n=2)
        why = f"'{tok.text}' could be {' or '.join(alias)}" if alias else f"it has no output '{tok.text}'"
        raise self.fail(f"{name_tok.text}: {why}; its outputs are {', '.join(outs)}", tok.pos,
                        f"did you mean {' or '.join(close)}?" if close and not alias else "")


# ------------------------------------------------------------------------------------------------ evaluation
def _walk_values(node: _Value) -> list[_Value]:
    out: list[_Value] = [node]
    if isinstance(node, _Neg):
        out += _walk_values(node.operand)
    elif isinstance(node, _Arith):
        out += _walk_values(node.left) + _walk_values(node.right)
    return out


def _value_fn(node: _Value, env: list[Any], slots: dict[IndicatorCall, int]) -> Callable[[], float]:
    if isinstance(node, _Num):
        v = node.value
        return lambda: v
    if isinstance(node, _Field):
        i = FIELDS.index(node.name)
        return lambda: env[i]
    if isinstance(node, _Ind):
        i, k = slots[node.call], node.k
        if node.output:
            return lambda: env[i][k]
        return lambda: env[i]
    if isinstance(node, _Neg):
        f = _value_fn(node.operand, env, slots)
        return lambda: -f()
    assert isinstance(node, _Arith)
    f, g = _value_fn(node.left, env, slots), _value_fn(node.right, env, slots)
    if node.op == "+":
        return lambda: f() + g()
    if node.op == "-":
        return lambda: f() - g()
    if node.op == "*":
        return lambda: f() * g()

    def div() -> float:
        a, b = f(), g()
        return a / b if b != 0.0 else _NAN
    return div


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


def _cond_fn(node: _Cond, env: list[Any], slots: dict[IndicatorCall, int]) -> Callable[[bool], bool | None]:
    if isinstance(node, _Bool):
        fns = [_cond_fn(p, env, slots) for p in node.parts]
        combine = all if node.op == "and" else any

        def boolean(final: bool) -> bool | None:
            rs = [fn(final) for fn in fns]  # every part, every bar: a cross keeps its previous values
            return None if None in rs else combine(rs)
        return boolean
    assert isinstance(node, _Compare)
    f, g = _value_fn(node.left, env, slots), _value_fn(node.right, env, slots)
    if node.op in _COMPARE:
        test = _COMPARE[node.op]

        def compare(final: bool) -> bool | None:
            a, b = f(), g()
            return None if _isnan(a) or _isnan(b) else test(a, b)
        return compare
    prev = [_NAN, _NAN]
    way = node.op.partition(" ")[2]

    def cross(final: bool) -> bool | None:
        a, b = f(), g()
        pa, pb = prev
        if final:
            prev[0], prev[1] = a, b
        if _isnan(a) or _isnan(b) or _isnan(pa) or _isnan(pb):
            return None
        if way == "above":
            return pa <= pb and a > b
        if way == "below":
            return pa >= pb and a < b
        return (pa <= pb and a > b) or (pa >= pb and a < b)
    return cross


def _feed_fn(env: list[Any], slot: int, update: Callable[..., Any],
             idx: Sequence[int]) -> Callable[[bool], None]:
    if len(idx) == 1:
        (a,) = idx

        def feed1(final: bool) -> None:
            env[slot] = update(env[a], final)
        return feed1
    if len(idx) == 3:
        a, b, c = idx

        def feed3(final: bool) -> None:
            env[slot] = update(env[a], env[b], env[c], final)
        return feed3

    def feed(final: bool) -> None:
        env[slot] = update(*[env[i] for i in idx], final)
    return feed


class Evaluator:
    """One condition's running state: its own indicator streams (one per distinct call), crosses' last values.

    Feed every bar of one symbol and timeframe in order.  Only final bars advance the state.
    """

    __slots__ = ("_env", "_feeds", "_root", "bars", "condition")

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.bars = 0  # final bars fed
        calls = condition.indicators
        self._env: list[Any] = [_NAN] * (len(FIELDS) + len(calls))
        slots = {call: len(FIELDS) + n for n, call in enumerate(calls)}
        self._feeds = []
        for call, slot in slots.items():
            spec = condition._specs[call.name]
            stream = spec.stream_factory(**dict(call.params))
            inputs = (call.source,) if call.source else spec.inputs
            self._feeds.append(_feed_fn(self._env, slot, stream.update, [FIELDS.index(i) for i in inputs]))
        self._root = _cond_fn(condition._root, self._env, slots)

    def update(self, open: float, high: float, low: float, close: float, volume: float,
               final: bool = True) -> bool | None:
        """The condition at this bar (``None`` while undefined); ``final=False`` previews a forming bar."""
        env = self._env
        env[0], env[1], env[2], env[3], env[4] = open, high, low, close, volume
        for feed in self._feeds:
            feed(final)
        result = self._root(final)
        if final:
            self.bars += 1
        return result

    def update_bar(self, bar: Any) -> bool | None:
        """``update`` from a ``Bar`` message (its ``closed`` flag says whether it is final)."""
        return self.update(bar.open, bar.high, bar.low, bar.close, bar.volume, bar.closed)

    def warm(self, open: Sequence[float], high: Sequence[float], low: Sequence[float], close: Sequence[float],
             volume: Sequence[float]) -> bool | None:
        """Feed closed bars of history in order, exactly as ``update`` does; the condition at the last one
        (None for none)."""
        cols = [list(map(float, c)) for c in (open, high, low, close, volume)]
        n = len(cols[3])
        if any(len(c) != n for c in cols):
            raise ValueError(f"warm: open, high, low, close, volume have lengths {[len(c) for c in cols]}")
        result = None
        update = self.update
        for o, h, lo, c, v in zip(*cols):
            result = update(o, h, lo, c, v)
        return result


class Condition:
    """A checked alert condition.  Immutable; each ``new_state()`` is an independent evaluator."""

    def __init__(self, root: _Cond, calls: tuple[IndicatorCall, ...], specs: Mapping[str, IndicatorSpec]):
        self._root = root
        self.text = root.text()  # normalised: compile(c.text) is the same condition and gives this text again
        self.indicators = calls  # distinct calls in order of appearance: one stream each
        self._specs = specs

    def new_state(self) -> Evaluator:
        return Evaluator(self)

    @cached_property
    def needs_warmup(self) -> int | None:
        """The final bars it takes before ``update`` answers True/False (on data without NaN), or None.

        Measured, not declared (the registry has no lookbacks): each indicator's stream is fed a synthetic
        random walk until the outputs used are defined (None if one never is); a cross needs one bar more.
        A division by zero can still make a later bar None.
        """
        lookback: dict[tuple[IndicatorCall, int], int | None] = {}
        for node in self._values():
            if isinstance(node, _Ind) and (node.call, node.k) not in lookback:
                lookback[(node.call, node.k)] = _lookback(self._specs[node.call.name], node.call, node.k)

        def need(node: _Cond) -> int | None:
            if isinstance(node, _Bool):
                needs = [need(p) for p in node.parts]
                return None if None in needs else max(needs)  # type: ignore[type-var]
            assert isinstance(node, _Compare)
            lbs = [lookback[(v.call, v.k)] for side in (node.left, node.right) for v in _walk_values(side)
                   if isinstance(v, _Ind)]
            if None in lbs:
                return None
            return max(lbs, default=0) + 1 + (node.op.startswith("crosses"))  # type: ignore[type-var]
        return need(self._root)

    def _values(self) -> list[_Value]:
        out: list[_Value] = []
        stack: list[_Cond] = [self._root]
        while stack:
            node = stack.pop()
            if isinstance(node, _Bool):
                stack.extend(node.parts)
            elif isinstance(node, _Compare):
                out += _walk_values(node.left) + _walk_values(node.right)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"<Condition {self.text!r}>"


def _synthetic_bars(seed: int = 7) -> Any:
    """An endless random walk with high > low and positive volume (no NaN, no flat bar)."""
    import random

    rng = random.Random(seed)
    close = 100.0
    while True:
        open_ = close
        close = max(1.0, close + rng.gauss(0.0, 1.0))
        high = max(open_, close) + 0.1 + abs(rng.gauss(0.0, 0.5))
        low = min(open_, close) - 0.1 - abs(rng.gauss(0.0, 0.5))
        yield open_, high, low, close, 1000.0 + abs(rng.gauss(0.0, 300.0))


def _lookback(spec: IndicatorSpec, call: IndicatorCall, k: int) -> int | None:
    """Leading NaN bars of output ``k`` of ``call`` on a synthetic walk (None: still NaN after a long run)."""
    stream = spec.stream_factory(**dict(call.params))
    inputs = (call.source,) if call.source else spec.inputs
    idx = [FIELDS.index(i) for i in inputs]
    multi = len(spec.outputs) > 1
    periods = [v for _, v in call.params if isinstance(v, int)]
    cap = 1000 + 4 * max(periods, default=0)
    for n, bar in zip(range(cap), _synthetic_bars()):
        out = stream.update(*[bar[i] for i in idx])
        v = out[k] if multi else out
        if not _isnan(v):
            return n
    return None


# ------------------------------------------------------------------------------------------------ entry point
def compile(text: str, registry: Mapping[str, IndicatorSpec] | None = None) -> Condition:
    """Check ``text`` and return its :class:`Condition`; an :class:`ExprError` says why and where if refused.

    ``registry`` defaults to the indicator registry (plugins' indicators included).
    """
    specs = _default_registry if registry is None else registry
    parser = _Parser(text, specs)
    root = parser.parse()
    return Condition(root, tuple(parser.calls.values()), specs)
