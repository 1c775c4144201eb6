"""Paper trading against a backtest of the same recorded period (issue 19: "paper results per strategy are
comparable with a backtest of the same period"; docs/VENUES.md, "Paper against a backtest of the same period").

A slice of the real recorded XRP/ETH prints (tests/data/XRP-ETH-trades.csv.gz) is played by the fake Binance
(tests/venues/fake_replay.py: re-based to now, one recorded minute per wall second, a *synthesized* book one
tick around the last print, ten 500 XRP levels a side). The bundled ``sma_cross`` trades it on the paper venue
``binance-paper`` through the real kernel, whose 1 s bars (the recording's 1 min candles) are stored in the
``binance`` series of the profile's bar store. Then ``kestrel backtest --venue binance --symbol XRP/ETH
--timeframe 1s --since .. --until ..`` runs in-process on those stored bars, and a trader's comparison is
asserted with bounds derived from the fill conventions:

- the same orders on the same bars (paper sends each on the bar's opening print; the backtest fills it at
  that bar's open);
- each paper fill is the book around a print of the latency window (from the opening print to the order's
  arrival ``paper_latency_ms`` later), walked: its average is that print + one tick + the walk beyond the
  first level, so |paper - backtest| <= walk + the most the prints moved within the window;
- every fill a taker at the instrument's taker rate, as the backtest's ``--fee``: fees differ only by that
  rate times the notional's difference;
- the final equity within the per-trip return bound those prices give (``growth_bound``).

Measured and documented (docs/VENUES.md): ``--latency-ms`` = ``paper_latency_ms`` puts every backtest fill a
whole bar later (a bar's opening print is at its open time there, so no order sent from it arrives in time),
and the risk gate values a paper market buy at the ask the terminal holds when the order is sent, which
trails the print that triggered it (books come on their own stream, after the print): an all-in buy after a
gap up is refused at 1x gross exposure, where the backtest's gate sees the bar's own price.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from app.engine.core.messages import OrderDenied, OrderFilled, SubmitOrder
from tests.kit.data import load_recorded_bars
from tests.kit.venues import Session, make_fake, run
from tests.kit.wait import until
from tests.venues.fake_replay import MINUTE_MS, Prints, Replay, SynthBook, recorded_prints

SYMBOL, XRP = "XRP/ETH", "XRP/ETH@binance-paper"
TICK, LOT = 1e-8, 1.0  # Binance's XRP/ETH price tick and lot
SPEED = 60  # one recorded minute per wall second: the terminal's 1 s bars are the recording's 1 min candles
DEFAULT_LATENCY_MS = 50  # the paper venue's default paper_latency_ms: 3 s of the recording at SPEED
FEE = 0.001  # ccxt's binance spot rate, maker and taker alike: the paper instruments' fees
CASH = 1.0  # ETH: the portfolio's cash (what sma_cross sizes from) and the backtest's --cash
BOOK = SynthBook(TICK, levels=10, level_qty=500.0)  # an all-in order (~700 XRP) walks into the second level


@dataclass
class PaperRun:
    prints: Prints
    wall0: int  # the wall second the first played minute is sent in
    times: np.ndarray  # each print's exchange time (wall ms)
    bids: np.ndarray  # the synthesized book's best bid after each print
    asks: np.ndarray  # and its best ask
    latency_ms: int
    first_bar: int  # the first compared bar (wall ms): the strategy saw every bar from it on
    end_bar: int  # the lead-out minute's bar: the compared bars open before it
    orders: list[dict] = field(default_factory=list)  # every paper order: time, side, qty, the print it followed
    fills: list[OrderFilled] = field(default_factory=list)
    bars: object = None  # the stored bars of the compared span
    cash: float = 0.0
    position: float = 0.0


def kernel_settings():
    from app.config import RiskSettings, Settings
    from app.engine.backtest.options import backtest_limits

    limits = backtest_limits().model_dump()  # the desk's size and loss limits lifted, as the backtest lifts them
    limits.update(
        # the gate values a paper market buy at the ask held when it is sent, which trails the print that
        # triggered it (the module docstring); all-in after a gap up needs room above 1x
        max_gross_exposure_x_equity=2.0,
        # per-minute and per-second rates run on the wall clock, where a minute holds an hour of the recording
        max_fills_per_min_strategy=10_000, max_msgs_per_s_strategy=1_000)
    return Settings(base_currency="ETH", fx_to_base={"ETH": 1.0, "USDT": 0.005, "CNY": 0.0007},
                    sim={"starting_cash": {"ETH": CASH}}, ui={"chart_timeframe_s": 1}, risk=RiskSettings(**limits))


def play_paper(profile, prints: Prints, params: dict, latency_ms: int) -> PaperRun:
    """``prints`` (whole minutes: a lead-in, the compared minutes, a lead-out) played on the fake Binance and
    traded by ``sma_cross(params)`` on binance-paper. The lead-in's bar is the first the terminal sees (not
    stored: it began before the terminal listened); the strategy starts on the first compared print, and stops
    before the lead-out's first print, which closes (and stores) the last compared bar."""

    async def go() -> PaperRun:
        fake = await make_fake(symbols=(SYMBOL,), auto_market=False, specs={SYMBOL: {
            "tick": TICK, "step": LOT, "min_notional": 0.01, "mid": float(prints.price[0])}}).start()
        s = Session(profile, fake, settings=kernel_settings(), name="binance-paper", paper=True, stream="ws",
                    paper_latency_ms=latency_ms, paper_balances={"ETH": 2 * CASH})
        try:
            replay = Replay(fake, SYMBOL, prints, BOOK, SPEED, wall0=0)
            await replay.show_first_book()
            await s.start(credentials=None)
            k = s.kernel
            await s.tradable(XRP)
            replay.wall0 = (int(time.time()) + 2) * 1000
            minute = prints.ts // MINUTE_MS
            first = int(np.searchsorted(minute, minute[0] + 1))  # the first compared print
            last = int(np.searchsorted(minute, minute[-1]))  # the lead-out's first print
            times = replay.times
            paper = PaperRun(prints, replay.wall0, times, replay.bids, replay.asks, latency_ms, int(times[first]) // 1000 * 1000, int(times[last]) // 1000 * 1000)

            def on_submit(cmd: SubmitOrder) -> None:
                st = k.market.get(XRP)
                paper.orders.append({"cid": cmd.client_order_id, "ts": cmd.ts, "side": cmd.side.value,
                                     "qty": cmd.quantity, "last": st.last, "last_ts": st.last_ts})

            k.bus.subscribe(SubmitOrder, on_submit)
            k.bus.subscribe(OrderFilled, paper.fills.append)
            started, ending = replay.hold(first + 1), replay.hold(last)
            player = asyncio.get_running_loop().create_task(replay.run())
            series = k.bars.get(XRP)
            await until(lambda: series.n and int(series.ts[-1]) == paper.first_bar, 30, "the first compared print")
            runner = k.strategies.load("sma_cross", "sma_cross", {"symbol": XRP, **params})
            assert k.strategies.start(runner.instance), runner.reason
            started.set()
            await until(lambda: len(replay.sent) == last, 600, "the compared minutes played")
            st = k.market.get(XRP)
            await until(lambda: st.last_ts == times[last - 1], 10, "the last compared print at the terminal")
            await asyncio.sleep(2 * latency_ms / 1000)
            await until(lambda: not k.execution.working, 10, "the last paper order done")
            k.strategies.stop(runner.instance, "end of the compared span")
            ending.set()
            await player
            last_bar = int(times[last - 1]) // 1000 * 1000
            await until(lambda: k.bar_store.read("binance", SYMBOL, 1000, last_bar).n, 10,
                        "the last compared bar stored")
            paper.bars = k.bar_store.read("binance", SYMBOL, 1000, paper.first_bar, paper.end_bar)
            paper.cash = k.portfolio.cash.get("ETH", 0.0)
            held = k.portfolio.positions.get(XRP)
            paper.position = held.quantity if held else 0.0
            assert not s.of(OrderDenied), s.of(OrderDenied)
            return paper
        finally:
            await s.close()
            await fake.stop()

    return run(go(), timeout=900)


def backtest_cli(profile, tmp_path, params: dict, since: int, until_: int, latency_ms: int) -> dict:
    """``kestrel backtest`` on the stored series, in-process as the command line runs it: its --json."""
    from app.cli.main import main

    out = tmp_path / f"backtest-latency-{latency_ms}.json"
    argv = ["backtest", "--strategy", "sma_cross", "--params", ",".join(f"{k}={v}" for k, v in params.items()),
            "--venue", "binance", "--symbol", SYMBOL, "--timeframe", "1s", "--since", str(since), "--until",
            str(until_), "--fee", str(FEE), "--cash", str(CASH), "--latency-ms", str(latency_ms),
            "--json", str(out), "--profile", str(profile)]
    assert main(argv) == 0
    return json.loads(out.read_text())


# ------------------------------------------------------------------------------------------------ bounds
def window_bests(paper: PaperRun, buy: bool, open_ts: int, arrived_ts: int) -> np.ndarray:
    """The best price a market order could have met on arrival: the synthesized book's best ask (bid) after
    each print from the opening print it was sent on to the last print sent by its arrival (no print is sent
    before its time)."""
    a = int(np.searchsorted(paper.times, open_ts, side="left"))
    b = int(np.searchsorted(paper.times, arrived_ts, side="right"))
    return (paper.asks if buy else paper.bids)[a:max(b, a + 1)]


def trip_return(entry: float, exit_: float) -> float:
    return exit_ * (1 - FEE) / (entry * (1 + FEE)) - 1


def growth_bound(e_b: float, x_b: float, b_e: float, b_x: float, r_p: float, equity: float) -> float:
    """The most paper's equity growth over one round trip can differ from the backtest's 1 + r_b, given that
    its entry and exit are within ``b_e`` and ``b_x`` of the backtest's ``e_b`` and ``x_b``.

    Backtest (all-in, no lot): E' = E (1 + r_b), r = x (1 - f) / (e (1 + f)) - 1. Paper buys floor(E / (e_b
    (1 + f))) lots at the opening print e_b's sizing, pays e_p: E' = E (1 + r_p (1 - u / E) e_p / e_b), u < lot
    e_b (1 + f) the cash the lot rounding leaves out. So |growth_p - growth_b| <= |r_p - r_b| + |r_p| (u / E +
    |e_p - e_b| / e_b), and |r_p - r_b| <= k (b_x e_b + x_b b_e) / (e_b (e_b - b_e)), k = (1 - f) / (1 + f)."""
    k = (1 - FEE) / (1 + FEE)
    d_r = k * (b_x * e_b + x_b * b_e) / (e_b * (e_b - b_e))
    return d_r + abs(r_p) * (LOT * e_b * (1 + FEE) / equity + b_e / e_b)


def vwap(fills: list[OrderFilled]) -> tuple[float, float, float]:
    qty = sum(f.quantity for f in fills)
    return sum(f.price * f.quantity for f in fills) / qty, qty, sum(f.fee for f in fills)


# ------------------------------------------------------------------------------------------- comparison
def compare(paper: PaperRun, bt: dict, bt_late: dict) -> list[str]:
    """Assert what a trader compares (the module docstring); the numbers, one line each."""
    bars = paper.bars
    opens = dict(zip(bars.ts.tolist(), bars.open.tolist()))
    lines = [f"{bars.n} bars of 1 s (recorded minutes), {len(paper.prints)} prints"]

    # the bars the paper run stored are the recording's own 1 min candles of those minutes
    rec = load_recorded_bars("XRP-ETH-1m.csv.gz")
    rec0 = int(paper.prints.ts[0]) // MINUTE_MS * MINUTE_MS
    a, b = np.searchsorted(rec.ts, [rec0 + (paper.first_bar - paper.wall0) * SPEED,
                                    rec0 + (paper.end_bar - paper.wall0) * SPEED])
    for col in ("open", "high", "low", "close", "volume"):
        assert bars.column(col).tolist() == rec.column(col)[a:b].tolist(), col
    assert ((bars.ts - bars.ts[0]) * SPEED).tolist() == (rec.ts[a:b] - rec.ts[a]).tolist()

    # the same orders on the same bars: paper sends each on a bar's opening print, the backtest fills it there
    want = [(t, side) for trip in bt["trades"] for t, side in ((trip["entry_time"], "BUY"), (trip["exit_time"], "SELL"))]
    got = [(o["ts"] // 1000 * 1000, o["side"]) for o in paper.orders]
    assert got == want, f"paper orders {got}, backtest fills {want}"
    for o in paper.orders:
        bar = o["ts"] // 1000 * 1000
        assert o["last"] == opens[bar] and o["last_ts"] // 1000 * 1000 == bar, o  # sent on the opening print
    assert paper.position == 0.0 and len(want) % 2 == 0, "choose a slice that ends flat on both sides"

    # each fill: the book around a print of the latency window, walked, as taker at the taker rate
    by_order: dict[str, list[OrderFilled]] = {}
    for f in paper.fills:
        by_order.setdefault(f.client_order_id, []).append(f)
        assert f.liquidity == "TAKER" and f.fee == pytest.approx(f.price * f.quantity * FEE, rel=1e-9)
    legs = []
    for o, (bar, side) in zip(paper.orders, want):
        fills = by_order[o["cid"]]
        price, qty, fee = vwap(fills)
        assert qty == o["qty"], "a market order on 10 levels of 500 fills whole"
        arrived = max(f.ts for f in fills)
        assert arrived - o["ts"] >= paper.latency_ms
        sign = 1 if side == "BUY" else -1
        bests = window_bests(paper, side == "BUY", o["last_ts"], arrived)
        best = price - sign * BOOK.walk(qty)
        assert np.isclose(bests, best, rtol=0, atol=1e-12).any(), (
            f"{side} at {price:.10f}: best {best:.10f}, none of the window's bests {bests}")
        away = np.abs(bests - opens[bar])  # the book's best from the open: the spread, and any drift after it
        bound = BOOK.walk(qty) + float(away.max())
        assert abs(price - opens[bar]) <= bound + 1e-12
        legs.append({"side": side, "bar": bar, "paper": price, "backtest": opens[bar], "qty": qty, "fee": fee,
                     "bound": bound, "walk": BOOK.walk(qty), "spread": float(away[0]), "moved": len(set(bests)) > 1,
                     "delay": arrived - o["ts"]})

    # round trips, fees and equity
    equity_p, growth_b, bound_ratio = CASH, 1.0, 1.0
    for j, trip in enumerate(bt["trades"]):
        e, x = legs[2 * j], legs[2 * j + 1]
        # (the backtest's round trips carry volume-weighted prices: its one fill each, to the last bit or so)
        assert trip["entry_price"] == pytest.approx(e["backtest"], rel=1e-12)
        assert trip["exit_price"] == pytest.approx(x["backtest"], rel=1e-12)
        r_p, r_b = trip_return(e["paper"], x["paper"]), trip_return(trip["entry_price"], trip["exit_price"])
        fees_p = e["fee"] + x["fee"]
        notional_gap = (e["qty"] * e["paper"] + x["qty"] * x["paper"]) - trip["qty"] * (trip["entry_price"]
                                                                                        + trip["exit_price"])
        assert fees_p - trip["fees"] == pytest.approx(FEE * notional_gap, abs=1e-12)
        d = growth_bound(trip["entry_price"], trip["exit_price"], e["bound"], x["bound"], r_p, equity_p)
        growth_b *= 1 + r_b
        bound_ratio *= 1 + d / (1 + r_b)
        equity_p += x["qty"] * x["paper"] - e["qty"] * e["paper"] - fees_p
        lines.append(f"trip {j + 1}: {_leg(e)}; {_leg(x)}; return paper {r_p:+.3%} backtest {r_b:+.3%}; "
                     f"fees paper {fees_p:.6f} backtest {trip['fees']:.6f} ETH")
    assert equity_p == pytest.approx(paper.cash, abs=1e-12)
    assert bt["equity_final"] == pytest.approx(CASH * growth_b, rel=1e-12)
    gap = paper.cash / bt["equity_final"] - 1
    assert abs(gap) <= bound_ratio - 1, f"paper/backtest equity {gap:+.6%} beyond the bound {bound_ratio - 1:.6%}"
    against = [(leg["paper"] - leg["backtest"]) * (1 if leg["side"] == "BUY" else -1) / TICK for leg in legs]
    lines.append(
        f"{len(bt['trades'])} round trips on both; final equity paper {paper.cash:.6f} ETH, backtest "
        f"{bt['equity_final']:.6f} ETH: paper/backtest {gap:+.3%}, bound ±{bound_ratio - 1:.3%}; fills against "
        f"us by {np.mean(against):+.1f} ticks on average (median {np.median(against):+.1f}); "
        f"{sum(leg['moved'] for leg in legs)}/{len(legs)} with the book moving within the latency; order to fill "
        f"{np.mean([leg['delay'] for leg in legs]):.1f} ms (paper_latency_ms {paper.latency_ms})")

    # --latency-ms = paper_latency_ms: every fill one stored bar later than paper's (the docs' old advice)
    later = {t: u for t, u in zip(bars.ts.tolist()[:-1], bars.ts.tolist()[1:])}
    late = [(t, side) for trip in bt_late["trades"] for t, side in ((trip["entry_time"], "BUY"),
                                                                   (trip["exit_time"], "SELL"))]
    assert len(late) >= len(want) - 2 and all(t == later.get(w) for (t, _), (w, _) in zip(late, want)), (late, want)
    lines.append(f"backtest --latency-ms {paper.latency_ms}: every fill one bar later; {len(bt_late['trades'])} "
                 f"round trips, final equity {bt_late['equity_final']:.6f} ETH")
    return lines


def _leg(leg: dict) -> str:
    return (f"{leg['side'].lower()} {leg['qty']:.0f} at paper {leg['paper']:.10f} backtest {leg['backtest']:.8f} "
            f"({(leg['paper'] - leg['backtest']) / TICK:+.1f} ticks; bound {leg['bound'] / TICK:.1f} = walk "
            f"{leg['walk'] / TICK:.2f} + the best's reach {(leg['bound'] - leg['walk']) / TICK:.0f}, of which the "
            f"spread at the open {leg['spread'] / TICK:.0f})")


def check(profile, tmp_path, start_min: int, minutes: int, params: dict, latency_ms: int) -> list[str]:
    prints = recorded_prints().between((start_min - 1) * MINUTE_MS, (start_min + minutes + 1) * MINUTE_MS)
    paper = play_paper(profile, prints, params, latency_ms)
    bt = backtest_cli(profile, tmp_path, params, paper.first_bar, paper.end_bar, 0)
    bt_late = backtest_cli(profile, tmp_path, params, paper.first_bar, paper.end_bar, latency_ms)
    lines = compare(paper, bt, bt_late)
    title = (f"sma_cross {params} on XRP/ETH from minute {start_min} (x 60 s), {minutes} minutes, "
             f"paper_latency_ms {latency_ms}:")
    print("\n".join(["", title, *lines]))
    return lines


def test_paper_and_a_backtest_of_the_same_recorded_22_minutes_trade_alike_within_the_fill_conventions(
        profile, tmp_path):
    """2019-10-11 05:15..05:37 UTC, 22 recorded minutes in 22 s, three round trips; paper_latency_ms 1, about
    the default 50 ms in the recording's time (60 ms)."""
    check(profile, tmp_path, 26179515, 22, {"fast": 2, "slow": 4}, 1)


@pytest.mark.slow
def test_paper_and_a_backtest_of_the_same_recorded_three_hours_trade_alike(profile, tmp_path):
    """2019-10-11 09:01..12:01 UTC, 180 recorded minutes in 3 min, fourteen round trips; paper_latency_ms at
    its default 50, which is 3 s of the recording: the book moves within it more often."""
    check(profile, tmp_path, 26179741, 180, {"fast": 3, "slow": 8}, DEFAULT_LATENCY_MS)
