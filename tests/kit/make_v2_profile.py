"""Make the profile fixture of store schema 2 (``tests/data/profiles/v2/``): a profile as the release with
instrument ids (issue 19) leaves it, for the migration to schema 3 (issue 20: order types, triggers and order
lists; docs/design/issue20-orders.md) to be tested against. Made once, by that release, and checked in: a later
release must not remake it.

What it holds: sim orders and fills on BTC/USDT@sim and 600519.SH@sim (positions on both), two working limit
orders (ETH/USDT@sim, one partly filled is not possible on the sim's still book: both rest untouched), a denied
order, a canceled one, a per-instrument risk limit set through ``kestrel risk set``, a strategy instance
(sma_cross on ETH/USDT@sim), the main chart's saved state, a saved binance venue (disabled) and a saved
binance-paper venue (disabled), and the audit trail of all of it.

    .venv/bin/python tests/kit/make_v2_profile.py tests/data/profiles/v2
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START = 1_704_333_600_000  # Thu 2024-01-04 10:00 Beijing: the A-share market is open
EXPECTED = {"positions": {"BTC/USDT@sim": 0.01, "600519.SH@sim": 100.0}, "working": 2, "denied": 1,
            "canceled": 1, "strategies": ["sma_cross-1"],
            "chart": {"symbol": "ETH/USDT@sim", "timeframe": "5m", "log": False, "indicators": []},
            "limit": {"BTC/USDT@sim": 0.5}, "venues": ["binance", "binance-paper"]}


def make(profile: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from app.config import Settings
    from app.engine.core.clock import SimClock
    from app.engine.core.messages import CancelOrder, LoadStrategy, OrderType, Side
    from app.engine.core.store import SCHEMA_VERSION
    from app.engine.kernel import Kernel
    from app.engine.venues.venue_config import parse_config, save_config

    assert SCHEMA_VERSION == 2, "the v2 fixture is made by the schema-2 release only"
    if profile.exists():
        shutil.rmtree(profile)
    profile.mkdir(parents=True)
    kernel = Kernel(profile, Settings(), clock=SimClock(START))
    kernel.start()

    def advance(ms: int) -> None:
        for _ in range(ms // 50):
            kernel.clock.advance(50)
            kernel.step()

    advance(1_000)
    kernel.submit("BTC/USDT@sim", Side.BUY, OrderType.MARKET, 0.02)
    kernel.submit("BTC/USDT@sim", Side.SELL, OrderType.MARKET, 0.01)
    kernel.submit("600519.SH@sim", Side.BUY, OrderType.MARKET, 100)
    eth = kernel.instruments["ETH/USDT@sim"]
    low = kernel.market.get("ETH/USDT@sim").book.best_bid * 0.97  # inside the price collar, far from filling
    kernel.submit("ETH/USDT@sim", Side.BUY, OrderType.LIMIT, 0.1, eth.round_price(low))
    kernel.submit("ETH/USDT@sim", Side.BUY, OrderType.LIMIT, 0.2, eth.round_price(low * 0.995))
    gone = kernel.submit("ETH/USDT@sim", Side.BUY, OrderType.LIMIT, 0.3, eth.round_price(low * 0.99))
    kernel.submit("ETH/USDT@sim", Side.BUY, OrderType.LIMIT, 0.1, eth.round_price(low * 0.5))  # collar: denied
    advance(1_000)
    kernel.port.send(CancelOrder(gone, "fixture", kernel.clock.now_ms()))
    advance(1_000)
    answer = kernel.port.send(LoadStrategy("sma_cross", {"symbol": "ETH/USDT@sim"}))
    assert answer is not None and answer.detail == "sma_cross-1", answer
    kernel.store.set_setting("ui.charts", {"main": EXPECTED["chart"], "docks": []})
    kernel.close()

    save_config(profile, parse_config({"name": "binance", "exchange": "binance", "symbols": ["BTC/USDT"],
                                       "enabled": False}))
    save_config(profile, parse_config({"name": "binance-paper", "exchange": "binance", "symbols": ["BTC/USDT"],
                                       "paper": True, "enabled": False}))
    done = subprocess.run([sys.executable, "-m", "app.cli", "risk", "set", "max_position",
                           json.dumps(EXPECTED["limit"]), "--reason", "fixture: a per-instrument limit",
                           "--profile", str(profile)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for junk in ("heartbeat.json", "kestrel.log", "logs", "kestrel.lock", "bars", "kestrel.db-shm",
                 "kestrel.db-wal"):
        path = profile / junk  # the run's traces and lock files, not the profile's state
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


if __name__ == "__main__":
    make(Path(sys.argv[1]).resolve())
    print("made", sys.argv[1])
