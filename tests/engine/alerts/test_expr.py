"""Alert expressions: what parses and how it is written back, every refusal with its position and sentence,
the scale rule, and evaluation on the streaming kernels against the vectorised indicators over a recorded
series (warm-up as None, warm() on history then live == live throughout, a forming bar changes nothing)."""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import app.engine.indicators as ta
from app.engine.alerts.expr import Condition, ExprError, IndicatorCall, compile
from app.engine.core.messages import Bar
from app.engine.indicators.registry import IndicatorSpec, Param
from tests.kit.data import load_recorded_bars


@pytest.fixture(scope="module")
def bars():
    return load_recorded_bars("ETH-BTC-5m.csv.gz")


def _columns(bars, lo: int = 0, hi: int | None = None) -> list[list[float]]:
    return [getattr(bars, k)[lo:hi].tolist() for k in ("open", "high", "low", "close", "volume")]


def _live(condition: Condition, cols: list[list[float]]) -> list[bool | None]:
    ev = condition.new_state()
    return [ev.update(*bar) for bar in zip(*cols)]


def _hand(closes: list[float], text: str) -> list[bool | None]:
    """Evaluate ``text`` over bars whose open/high/low are derived from ``closes`` (no indicator needed)."""
    ev = compile(text).new_state()
    return [ev.update(c - 1.0, c + 2.0, c - 2.0, c, 100.0 * c) for c in closes]


# ----------------------------------------------------------------------------------------- numpy reference
def _truth(mask: np.ndarray, defined: np.ndarray) -> list[bool | None]:
    return [bool(m) if d else None for m, d in zip(mask, defined)]


def _ok(*arrays: np.ndarray) -> np.ndarray:
    out = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        out &= ~np.isnan(a)
    return out


def _crosses(a: np.ndarray, b: np.ndarray, way: str) -> tuple[np.ndarray, np.ndarray]:
    pa, pb = np.r_[np.nan, a[:-1]], np.r_[np.nan, b[:-1]]
    above = (pa <= pb) & (a > b)
    below = (pa >= pb) & (a < b)
    mask = {"above": above, "below": below, "": above | below}[way]
    return mask, _ok(a, b, pa, pb)


# ----------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("written,normalised", [
    ("RSI(14)>70", "rsi(14) > 70"),
    ("close crosses  ABOVE sma( 200 )", "close crosses above sma(200)"),
    ("close Crosses Below sma(200)", "close crosses below sma(200)"),
    ("close crosses sma(200)", "close crosses sma(200)"),
    ("macd(12,26,9).SIGNAL < 0", "macd(12, 26, 9).macdsignal < 0"),
    ("macd(12, 26, 9).macdhist >= -0.5", "macd(12, 26, 9).macdhist >= -0.5"),
    ("bbands(20, nbdevup=2).upper <= close", "bbands(20, nbdevup=2).upperband <= close"),
    ("bbands(timeperiod=20, nbdevdn=1.5).lower > low", "bbands(timeperiod=20, nbdevdn=1.5).lowerband > low"),
    ("close > 1e3", "close > 1000"),
    ("close > 2.5E-3", "close > 0.0025"),
    ("close > .5", "close > 0.5"),
    ("close > sma(50)*1.02", "close > sma(50) * 1.02"),
    ("close/sma(20) > 1.02", "close / sma(20) > 1.02"),
    ("(high+low)/2 > sma(20)", "(high + low) / 2 > sma(20)"),
    ("close - (open - low) > 0", "close - (open - low) > 0"),
    ("(close - 2) - 1 > 0", "close - 2 - 1 > 0"),
    ("close + (open + low) > 0", "close + (open + low) > 0"),
    ("-(close - open) > 0", "-(close - open) > 0"),
    ("2 * -close < - 3", "2 * -close < -3"),
    ("close - -5 > 0", "close - -5 > 0"),
    ("obv > 0", "obv() > 0"),
    ("volume > 2 * SMA(Volume, 20)", "volume > 2 * sma(volume, 20)"),
    ("stoch().k crosses above stoch().d", "stoch().slowk crosses above stoch().slowd"),
    ("(close > 1 or close < 0) and rsi(14) > 50", "(close > 1 or close < 0) and rsi(14) > 50"),
    ("close > 1 or (close < 0 and rsi(14) > 50)", "close > 1 or close < 0 and rsi(14) > 50"),
    ("close > 1 and (close < 9 and (open > 2))", "close > 1 and close < 9 and open > 2"),
    ("((rsi(14) > 70))", "rsi(14) > 70"),
])
def test_written_forms_normalise_and_read_back(written: str, normalised: str) -> None:
    c = compile(written)
    assert c.text == normalised
    assert compile(c.text).text == normalised
    assert compile(c.text) == c


def test_precedence_and_arithmetic_evaluate_as_written() -> None:
    closes = [2.0]
    assert _hand(closes, "close > 1 or close < 0 and close > 5") == [True]  # and before or
    assert _hand(closes, "(close > 1 or close < 0) and close > 5") == [False]
    # close 5, open 4, high 7, low 3, volume 500
    assert _hand([5.0], "close - open * 2 < 0") == [True]  # 5 - 8, not (5 - 4) * 2
    assert _hand([5.0], "(close - open) * 2 >= 2") == [True]
    assert _hand([5.0], "close - 2 - 1 < 3") == [True]  # (5 - 2) - 1, not 5 - (2 - 1)
    assert _hand([5.0], "close - (open - low) > 3") == [True]
    assert _hand([5.0], "high / 2 * 3 > 10") == [True]  # (7 / 2) * 3, not 7 / (2 * 3)
    assert _hand([5.0], "-close < -4.5") == [True]
    assert _hand([5.0], "high / (close - close) > 0") == [None]  # a division by zero is undefined
    assert _hand([5.0], "volume >= 500 and volume <= 500") == [True]


def test_crosses_compare_with_the_last_final_bar() -> None:
    closes = [9.0, 10.0, 11.0, 11.0, 9.0, 10.0, 12.0, 10.0, 10.0, 9.0]  # touching 10 is not crossing it
    f, t = False, True
    assert _hand(closes, "close crosses above 10") == [None, f, t, f, f, f, t, f, f, f]
    assert _hand(closes, "close crosses below 10") == [None, f, f, f, t, f, f, f, f, t]
    assert _hand(closes, "close crosses 10") == [None, f, t, f, t, f, t, f, f, t]
    assert _hand(closes, "10 crosses below close") == _hand(closes, "close crosses above 10")


def test_one_stream_per_distinct_call_however_written(bars) -> None:
    c = compile("rsi(14) > 70 or RSI() < 30 or rsi(timeperiod=14) > 50 or rsi(close, 14) > 60 or rsi(20) > 1")
    assert c.indicators == (IndicatorCall("rsi", (("timeperiod", 14),)),
                            IndicatorCall("rsi", (("timeperiod", 20),)))
    assert [str(i) for i in c.indicators] == ["rsi(14)", "rsi(20)"]
    assert "rsi() < 30" in c.text and "rsi(timeperiod=14) > 50" in c.text  # each written as the trader did
    assert len(compile("sma(volume, 20) > 1 and sma(20) > 1").indicators) == 2  # another input: a stream
    # the shared stream is fed once per bar: the numbers are still the vectorised ones
    r = ta.rsi(bars.close, 14)
    assert _live(compile("rsi(14) > 70 or rsi() < 30"), _columns(bars)) == _truth((r > 70) | (r < 30), _ok(r))


def test_multi_output_calls_share_the_stream_and_pick_their_output() -> None:
    c = compile("macd(12, 26, 9).signal crosses above macd(12, 26, 9).macd")
    assert [str(i) for i in c.indicators] == ["macd(12, 26, 9)"]
    assert c.indicators[0].params == (("fastperiod", 12), ("slowperiod", 26), ("signalperiod", 9))


# ----------------------------------------------------------------------------------------- refusals
ERRORS = [
    # syntax
    ("", 0, "empty expression"),
    ("close > ", 8, "missing operand after '>'"),
    ("close crosses", 13, "missing operand after 'crosses'"),
    ("close > and rsi(14) > 70", 8, "expected a number, a bar field or an indicator, got 'and'"),
    ("close > * 2", 8, "expected a number, a bar field or an indicator, got '*'"),
    ("(close > 1", 0, "unclosed '('"),
    ("(close > 1 foo", 11, "expected ')' to close the '(' at 0, got 'foo'"),
    ("close > 1)", 9, "unmatched ')'"),
    ("() > 1", 0, "empty parentheses"),
    ("close > 1 2", 10, "unexpected '2'"),
    ("close > 1 foo", 10, "unexpected 'foo'"),
    ("close $ 3", 6, "unexpected character '$'"),
    ("close > 1e999", 8, "number 1e999 is out of range"),
    ("1 < close < 2", 10, "comparisons do not chain"),
    ("close", 5, "expected a comparison (>, <, >=, <=, crosses) after close"),
    ("close 70", 6, "expected a comparison (>, <, >=, <=, crosses) after close, got '70'"),
    ("close and open > 1", 6, "expected a comparison (>, <, >=, <=, crosses) after close, got 'and'"),
    ("open > 1 or close", 17, "expected a comparison (>, <, >=, <=, crosses) after close"),
    ("close > 1 and", 13, "missing condition after 'and'"),
    ("close = 5", 6, "'=' is not a comparison an alert can watch"),
    ("close == 5", 6, "'==' is not a comparison an alert can watch"),
    ("(close > 1) * 2 > 1", 12, "cannot do arithmetic on a condition (close > 1)"),
    ("-(close > 1) > 1", 0, "cannot negate a condition (close > 1)"),
    ("close > (open > 1)", 8, "'>' needs a value on each side, and (open > 1) is a condition"),
    ("close() > 1", 5, "close is a bar field, not an indicator"),
    ("close.x > 1", 5, "close is a bar field, not an indicator"),
    ("sma(20). > 1", 9, "expected an output name after '.'"),
    ("rsi(14 > 70", 7, "expected ',' or ')' in the parameters of rsi, got '>'"),
    ("rsi(14", 3, "unclosed '('"),
    ("rsi(14,) > 1", 6, "missing parameter after ','"),
    # unknown names
    ("rsx(14) > 70", 0, "unknown indicator 'rsx'"),
    ("clsoe > 70", 0, "unknown indicator 'clsoe'"),
    ("close crosses abve sma(3)", 14, "unknown indicator 'abve'"),
    ("zzzz > 1", 0, "unknown indicator 'zzzz'"),
    # parameters (the registry's own messages)
    ("rsi(1) > 70", 4, "rsi.timeperiod: must be >= 2, got 1"),
    ("sma(100001) > close", 4, "sma.timeperiod: must be <= 100000, got 100001"),
    ("rsi(14.5) > 70", 4, "rsi.timeperiod: expected an integer, got 14.5"),
    ("sar(-0.1) > close", 4, "sar.acceleration: must be >= 0.0, got -0.1"),
    ("rsi(periods=14) > 70", 4, "rsi: unknown parameter 'periods'; expected one of ['timeperiod']"),
    ("rsi(14, 3) > 70", 8, "rsi takes 1 parameter(s) (timeperiod)"),
    ("rsi(14, timeperiod=3) > 70", 8, "rsi: parameter timeperiod is given twice"),
    ("rsi(x) > 70", 4, "expected a number for a parameter, got 'x'"),
    ("bbands(nbdevup=2, 20).upper > close", 18, "a positional parameter cannot follow a named one"),
    ("atr(volume, 14) > 1", 4,
     "atr reads high, low, close from the bar; only a one-input indicator takes a field"),
    ("sma(20, volume) > 1", 8, "the field goes first: sma(volume, ...)"),
    # outputs and inputs
    ("macd(12, 26, 9) > 0", 0, "macd has several outputs; choose one: macd, macdsignal, macdhist"),
    ("macd(12, 26, 9).foo > 0", 16,
     "macd: it has no output 'foo'; its outputs are macd, macdsignal, macdhist"),
    ("bbands(20).band > close", 11,
     ("bbands: 'band' could be upperband or middleband or lowerband; "
      "its outputs are upperband, middleband, lowerband")),
    ("vwap() > close", 0, "vwap needs the bar's session, which an alert condition lacks"),
    # scales
    ("close > rsi(14)", 6,
     "cannot compare a price (close) with an oscillator (rsi(14)): they are on different scales"),
    ("close crosses above volume", 6,
     "cannot compare a price (close) with a volume (volume): they are on different scales"),
    ("close + volume > 1", 6,
     "cannot add a price (close) and a volume (volume): they are on different scales"),
    ("atr(14) - close > 0", 8,
     "cannot subtract a price (close) from a price change (atr(14)): they are on different scales"),
    ("close * open > 1", 6,
     "cannot multiply a price (close) by a price (open): their product has no scale to compare with"),
    ("volume / close > 1", 7,
     "cannot divide a volume (volume) by a price (close): they are on different scales"),
]


@pytest.mark.parametrize("text,position,message", ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_refusals_say_what_and_where(text: str, position: int, message: str) -> None:
    with pytest.raises(ExprError) as info:
        compile(text)
    err = info.value
    assert (err.message, err.position) == (message, position)
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("text,hint", [
    ("rsx(14) > 70", "did you mean rsi?"),
    ("clsoe > 70", "did you mean close?"),
    ("close crosses abve sma(3)", "did you mean above?"),
    ("zzzz > 1", ""),
    ("rsi(periods=14) > 70", "did you mean timeperiod?"),
    ("rsi(1) > 70", ""),
    ("macd(12, 26, 9) > 0", "e.g. macd(12, 26, 9).macd"),
    ("macd(12, 26, 9).signl > 0", "did you mean macdsignal?"),
])
def test_refusals_hint_at_the_fix(text: str, hint: str) -> None:
    with pytest.raises(ExprError) as info:
        compile(text)
    assert info.value.hint == hint


def test_the_error_shows_the_expression_with_a_caret() -> None:
    with pytest.raises(ExprError) as info:
        compile("rsx(14) > 70")
    assert str(info.value) == "unknown indicator 'rsx' at 0 (did you mean rsi?)\n  rsx(14) > 70\n  ^"
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)  # e.g. from a worker process
    with pytest.raises(ExprError) as info:
        compile("close > rsi(14)")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("cannot compare a price (close) with an oscillator (rsi(14))")
    assert lines[1:] == ["  close > rsi(14)", "        ^"]
    assert lines[2].index("^") - 2 == info.value.position == lines[1].index(">") - 2


# ----------------------------------------------------------------------------------------- scales
ALLOWED = [
    "close > sma(50) * 1.02", "close / sma(20) > 1.02", "70 < rsi(14)", "rsi(14) crosses above stoch().slowk",
    "adx(14) > plus_di(14)", "close - sma(20) > 2 * atr(14)", "close > sma(20) + 2 * atr(14)",
    "sma(20) - 2 * atr(14) > low", "high - low > atr(14)", "(high + low) / 2 > sma(20)",
    "(close - open) / atr(14) > 1", "close / atr(14) > 50", "volume > 2 * sma(volume, 20)",
    "obv() crosses above sma(volume, 10)", "volume > 1e6",
    "macd().macd crosses macd().signal", "mom(10) > close - open", "mfi(14) > 80", "mfi(14) > rsi(14)",
    "supertrend().direction > 0", "close crosses above supertrend(10, 3).supertrend",
    "close > bbands(20, nbdevup=2).upper", "ichimoku().tenkan crosses above ichimoku().kijun",
    "heikin_ashi().ha_close > close", "sma(high, 5) > sma(low, 5)", "close > sar() and rsi(14) < 30",
    "stddev(volume, 20) < sma(volume, 20)", "rsi(volume, 14) > 70",
]
REFUSED = [  # (text, the operator the position points at)
    ("close > rsi(14)", ">"), ("close crosses volume", "crosses"), ("sma(20) > obv()", ">"),
    ("close > atr(14)", ">"), ("volume > mfi(14)", ">"), ("close > supertrend().direction", ">"),
    ("sma(volume, 20) > close", ">"), ("macd().macd > rsi(14)", ">"), ("close + rsi(14) > 1", "+"),
    ("rsi(14) - close > 0", "-"), ("close * volume > 1e6", "*"), ("atr(14) - close > 0", "-"),
    ("stddev(volume, 20) > atr(14)", ">"), ("close < rsi(volume, 14)", "<"), ("1 + close > 2 * rsi(14)", ">"),
]


@pytest.mark.parametrize("text", ALLOWED)
def test_like_scales_compare(text: str) -> None:
    compile(text)


@pytest.mark.parametrize("text,op", REFUSED)
def test_unlike_scales_are_refused_at_the_operator(text: str, op: str) -> None:
    with pytest.raises(ExprError) as info:
        compile(text)
    assert info.value.position == text.index(f" {op} ") + 1
    assert "scale" in info.value.message


def test_a_plugin_indicator_can_state_its_scale() -> None:
    sma = ta.registry["sma"]

    def spec(extra: dict) -> IndicatorSpec:
        params = (Param("timeperiod", 30, 1, 1000, int),)
        return IndicatorSpec("avgline", ("close",), ("real",), "subpane", params, sma.vectorised, sma.stream,
                             extra=extra)

    with pytest.raises(ExprError, match="with an oscillator"):
        compile("close > avgline(5)", registry={"avgline": spec({})})
    c = compile("close > avgline(5)", registry={"avgline": spec({"scale": "price"})})
    assert c.text == "close > avgline(5)" and c.new_state().update(1.0, 1.0, 1.0, 1.0, 1.0) is None
    with pytest.raises(ExprError, match="with a volume"):
        compile("close > avgline(5)", registry={"avgline": spec({"scale": {"real": "volume"}})})


# ----------------------------------------------------------------------------------------- evaluation
def test_rsi_above_70_is_the_vectorised_rsi_above_70(bars) -> None:
    r = ta.rsi(bars.close, 14)
    got = _live(compile("rsi(14) > 70"), _columns(bars))
    assert got == _truth(r > 70, _ok(r))
    assert got.count(None) == 14 and got.count(True) > 50 and got.count(False) > 1000


def test_close_crosses_above_sma_is_the_vectorised_cross(bars) -> None:
    c, s = bars.close, ta.sma(bars.close, 20)
    got = _live(compile("close crosses above sma(20)"), _columns(bars))
    assert got == _truth(*_crosses(c, s, "above"))
    assert got.count(None) == 20 and got.count(True) > 100


@pytest.mark.parametrize("way", ["above", "below", ""])
def test_macd_signal_crosses_are_the_vectorised_crosses(bars, way: str) -> None:
    macd, signal, _ = ta.macd(bars.close, 12, 26, 9)
    got = _live(compile(f"macd(12, 26, 9).signal crosses {way} macd(12, 26, 9).macd".replace("  ", " ")),
                _columns(bars))
    assert got == _truth(*_crosses(signal, macd, way))


def test_a_compound_condition_is_the_vectorised_one(bars) -> None:
    o, h, lo, c, v = (getattr(bars, k) for k in ("open", "high", "low", "close", "volume"))
    upper = ta.bbands(c, timeperiod=20, nbdevup=2.5)[0]
    vs = ta.sma(v, 20)
    atr = ta.atr(h, lo, c, 14)
    text = ("close > bbands(20, nbdevup=2.5).upper and volume > 2 * sma(volume, 20) "
            "or (close - open) / atr(14) < -1.5")
    got = _live(compile(text), _columns(bars))
    a = (c > upper) & (v > 2 * vs)
    b = (c - o) / atr < -1.5
    assert got == _truth(a | b, _ok(upper, vs, atr))
    assert got.count(True) > 20


def test_needs_warmup_is_where_the_answers_start(bars) -> None:
    cols = _columns(bars, 0, 400)
    for text, want in [("rsi(14) > 70", 15), ("close crosses above sma(20)", 21), ("close > 1", 1),
                       ("close crosses 1", 2), ("macd(12, 26, 9).signal > 0", 34),
                       ("macd(12, 26, 9).signal crosses 0 or rsi(14) > 50", 35),
                       ("rsi(14) crosses 50 or macd(12, 26, 9).signal > 0", 34),
                       ("close > ema(10) + 0 * atr(50)", 51),
                       ("volume > sma(volume, 30) or close > ema(10)", 30)]:
        c = compile(text)
        got = _live(c, cols)
        first = next(i for i, r in enumerate(got) if r is not None)
        assert (c.needs_warmup, first + 1) == (want, want), text


def test_warm_on_history_then_live_equals_live_throughout(bars) -> None:
    c = compile("close crosses above sma(20) or rsi(14) > 70 and volume > sma(volume, 10)")
    cols = _columns(bars)
    half = len(cols[0]) // 2
    all_live = _live(c, cols)
    ev = c.new_state()
    last = ev.warm(*(np.asarray(col[:half]) for col in cols))
    assert last == all_live[half - 1] and ev.bars == half
    rest = [ev.update(*bar) for bar in zip(*(col[half:] for col in cols))]
    assert rest == all_live[half:]


def test_warm_refuses_columns_of_different_lengths() -> None:
    ev = compile("close > 1").new_state()
    with pytest.raises(ValueError, match="lengths"):
        ev.warm([1.0], [1.0], [1.0], [1.0, 2.0], [1.0])
    assert ev.warm([], [], [], [], []) is None


def test_a_forming_bar_is_a_preview_and_changes_nothing(bars) -> None:
    c = compile("close crosses above sma(20) or rsi(14) > 65 or high - low > 2 * atr(14)")
    cols = _columns(bars, 0, 600)
    plain = _live(c, cols)
    ev = c.new_state()
    rng = np.random.default_rng(1)
    previews: dict[int, bool | None] = {}
    got = []
    for i, (o, h, lo, cl, v) in enumerate(zip(*cols)):
        for _ in range(3):  # ticks of the bar still forming: other prices, part of the volume
            k = 1.0 + 0.004 * rng.standard_normal()
            tick = (o, max(h, cl * k), min(lo, cl * k), cl * k, v * rng.uniform(0.1, 1.0))
            previews[i] = ev.update(*tick, final=False)
        assert ev.bars == i
        got.append(ev.update(o, h, lo, cl, v))
        if i in (5, 21, 120, 333, 599):  # the preview is what the bar would give if it closed like that
            fresh = c.new_state()
            fresh.warm(*(col[:i] for col in cols))
            assert fresh.update(*tick) == previews[i]
    assert got == plain
    assert any(p is True for p in previews.values()) and any(p is False for p in previews.values())


def test_evaluators_of_one_condition_are_independent(bars) -> None:
    c = compile("close crosses above sma(20)")
    cols = _columns(bars, 0, 300)
    one, two = c.new_state(), c.new_state()
    first = [one.update(*bar) for bar in zip(*cols)]
    second = [two.update(*bar) for bar in zip(*cols)]
    assert first == second == _live(c, cols)


def test_bar_messages_feed_it_and_only_closed_bars_count() -> None:
    ev = compile("close crosses above 10").new_state()
    bar = Bar("BTC/USDT", 60_000, 0, 9.0, 9.0, 9.0, 9.0, 1.0)
    assert ev.update_bar(bar) is None and ev.bars == 1
    forming = Bar("BTC/USDT", 60_000, 60_000, 9.0, 11.0, 9.0, 11.0, 1.0, closed=False)
    assert ev.update_bar(forming) is True and ev.bars == 1
    assert ev.update_bar(Bar("BTC/USDT", 60_000, 60_000, 9.0, 12.0, 9.0, 12.0, 2.0)) is True
    assert ev.update_bar(Bar("BTC/USDT", 60_000, 120_000, 12.0, 13.0, 12.0, 13.0, 2.0)) is False
    assert ev.bars == 3


def test_nan_inputs_give_none_not_an_answer() -> None:
    ev = compile("close > 1 or volume > 5").new_state()
    assert ev.update(2.0, 2.0, 2.0, 2.0, math.nan) is None
    assert ev.update(2.0, 2.0, 2.0, 2.0, 6.0) is True
