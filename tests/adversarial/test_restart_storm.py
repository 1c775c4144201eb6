"""A restart storm: a trading strategy in a headless terminal, killed with SIGKILL at random moments (during
start-up, mid-order, mid-fill), restarted each time on the same profile. Afterwards: no fill lost (every
order's journaled quantity equals its fills), nothing sent twice (one OrderSubmitted per client order id on
the audit trail, ids never reused), positions equal the fills, the audit trail verifies, and the terminal
still trades. The seed is printed; a failure reproduces with ``KESTREL_STORM_SEED``."""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name == "nt", reason="kill -9")

STORM = '''
from app.api import Strategy, Param


class Storm(Strategy):
    """Trades all the time: every ``every`` prints a marketable limit order 1% through the market, alternately
    buying and selling sizes that vary (the duplicate-order check refuses identical ones within 1 s), and a
    resting order 2% away on the same side that is moved (canceled and re-sent) each time."""
    name = "storm"
    every = Param(12, lo=1, hi=1000)
    qty = Param(0.001, lo=0.0, hi=1.0)

    def on_start(self):
        self.n = 0
        self.resting = None

    def price(self, x):
        return round(round(x / self.tick_size) * self.tick_size, 8)

    def on_tick(self, tick):
        self.n += 1
        if self.n % self.p.every:
            return
        k = self.n // self.p.every
        qty = round(self.p.qty * (1 + k % 4), 6)
        if self.resting is not None:
            self.cancel(self.resting)
        if k % 2:
            self.buy(qty, price=self.price(tick.price * 1.01))
            self.resting = self.buy(qty, price=self.price(tick.price * 0.98))
        else:
            self.sell(qty, price=self.price(tick.price * 0.99))
            self.resting = self.sell(qty, price=self.price(tick.price * 1.02))
'''


def kestrel(prof: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--profile", str(prof)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def storm(prof: Path, restarts: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    notes = []
    for n in range(restarts):
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "run", "--headless", "--profile", str(prof),
                                 "--strategy", "storm:symbol=BTC/USDT"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        delay = rng.uniform(0.3, 4.0)  # start-up (imports, reconcile) takes ~1.5 s: some kills land in it
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        notes.append(f"restart {n + 1}: killed after {delay:.2f} s; {out.count(chr(10))} lines")
        assert "Traceback" not in out, out
    return notes


def check_journal(prof: Path) -> dict:
    db = sqlite3.connect(prof / "kestrel.db")
    orders = {r[0]: r for r in db.execute(
        "SELECT client_order_id, side, quantity, status, filled_qty, actor FROM orders")}
    fills = collections.defaultdict(float)
    position = 0.0
    for cid, side, qty, symbol in db.execute("SELECT client_order_id, side, quantity, symbol FROM fills"):
        fills[cid] += qty
        if symbol == "BTC/USDT":
            position += qty if side == "BUY" else -qty
    submitted = collections.Counter(
        json.loads(p)["client_order_id"] for (p,) in db.execute(
            "SELECT payload FROM audit WHERE kind='OrderSubmitted'"))
    # the marketable orders: priced through the last trade before them (the resting ones are 2% away)
    marketable_ids = {cid for cid, side, price, ts in db.execute(
        "SELECT client_order_id, side, price, created_ts FROM orders WHERE order_type='LIMIT'")
        if _through(db, side, price, ts)}
    db.close()
    assert set(fills) <= set(orders), "a fill of an order the journal does not know"
    for cid, (_cid, _side, qty, status, filled, _actor) in orders.items():
        assert abs((filled or 0.0) - fills.get(cid, 0.0)) < 1e-9, (cid, status, filled, fills.get(cid))
        if status == "FILLED":
            assert abs(fills[cid] - qty) < 1e-9, (cid, qty, fills[cid])
        assert status not in ("SUBMITTED", "ACCEPTED", "PENDING_CANCEL", "PARTIALLY_FILLED", "UNKNOWN"), \
            (cid, status)  # the sim venue died with each process: reconcile closed them on restart
    twice = {cid: n for cid, n in submitted.items() if n > 1}
    assert not twice, f"sent more than once: {twice}"
    marketable = [o for o in orders.values() if o[5] == "strategy:storm" and o[0] in marketable_ids]
    return {"orders": len(orders), "fills": sum(1 for _ in fills), "position": position,
            "filled_orders": sum(1 for o in orders.values() if o[3] == "FILLED"),
            "marketable_unfilled": sum(1 for o in marketable if o[3] != "FILLED")}


def _through(db: sqlite3.Connection, side: str, price: float, ts: int) -> bool:
    """Was this limit order priced through the market (1% from the last fill price we know)?"""
    row = db.execute("SELECT price FROM fills WHERE ts <= ? ORDER BY ts DESC LIMIT 1", (ts,)).fetchone()
    last = row[0] if row else 65_000.0  # the sim's BTC/USDT opens at 65,000
    return price > last * 1.005 if side == "BUY" else price < last * 0.995


def run_storm(tmp_path: Path, restarts: int) -> None:
    seed = int(os.environ.get("KESTREL_STORM_SEED", random.randrange(1 << 30)))
    print(f"restart storm seed {seed} (KESTREL_STORM_SEED={seed} to reproduce)")
    prof = tmp_path / "storm"
    (prof / "plugins").mkdir(parents=True)
    (prof / "plugins" / "storm.py").write_text(STORM)
    for line in storm(prof, restarts, seed):
        print(line)
    # one clean session: reconcile what the last kill left, trade a little more, close cleanly
    r = kestrel(prof, "run", "--headless", "--duration", "3", "--strategy", "storm:symbol=BTC/USDT")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "strategy storm: RUNNING" in r.stdout, r.stdout
    summary = check_journal(prof)
    print(summary)
    assert summary["filled_orders"] >= restarts, summary  # the storm traded in most sessions
    # every marketable order (1% through the market, plenty of liquidity) filled, unless its session was
    # killed before the venue answered it: a fill taken for a duplicate leaves it CANCELED on restart
    assert summary["marketable_unfilled"] <= restarts + 1, summary
    assert "duplicate fill ignored" not in (prof / "logs" / "kestrel.log").read_text()

    # positions the terminal rebuilds equal the fills
    from app.config import Settings
    from app.engine.kernel import Kernel

    k = Kernel(prof, Settings())
    try:
        held = k.portfolio.position("BTC/USDT").quantity
    finally:
        k.close()
    assert abs(held - summary["position"]) < 1e-9, (held, summary["position"])

    v = kestrel(prof, "audit", "verify")
    assert v.returncode == 0 and "audit trail intact" in v.stdout, v.stdout + v.stderr


def test_restart_storm_ten_kills(tmp_path):
    run_storm(tmp_path, restarts=10)


@pytest.mark.slow
def test_restart_storm_forty_kills(tmp_path):
    run_storm(tmp_path, restarts=40)


@pytest.mark.slow  # (in the default suite: test_selftest_steps.py runs it twice on one profile, the log checked)
def test_the_self_test_passes_twice_on_the_same_profile(tmp_path):
    """The first report of lost fills: the second self-test on a profile failed ("not filled within 5 s";
    the log said "duplicate fill ignored: sim T-21")."""
    prof = tmp_path / "st"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for run in (1, 2):
        r = subprocess.run([sys.executable, "-m", "app.cli", "--self-test", "--profile", str(prof)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, f"run {run}:\n{r.stdout}\n{r.stderr}"
    assert "duplicate fill ignored" not in (prof / "logs" / "kestrel.log").read_text()
