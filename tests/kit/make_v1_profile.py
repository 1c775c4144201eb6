"""Make the profile fixture of store schema 1 (``tests/data/profiles/v1/``): a profile as this release leaves it,
for the migration to venue-qualified instrument ids (issue 19; docs/design/issue19-instrument-ids-and-paper.md)
to be tested against. Made once and checked in: a later release must not remake it.

What it holds: sim orders and fills on BTC/USDT and the A-share 600519.SH (positions on both, one working limit
order), a per-symbol risk limit changed through ``kestrel risk set``, a strategy instance (sma_cross on
ETH/USDT), the main chart's saved state, stored bars of binance BTC/USDT, a saved binance venue config (no
secrets; disabled, so no test reaches for the network) with its cached instruments, and the audit trail of all
of it.

    .venv/bin/python tests/kit/make_v1_profile.py tests/data/profiles/v1
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START = 1_704_333_600_000  # Thu 2024-01-04 10:00 Beijing: the A-share market is open
EXPECTED = {"positions": {"BTC/USDT": 0.01, "600519.SH": 100.0}, "working": 1, "strategies": ["sma_cross-1"],
            "chart": {"symbol": "ETH/USDT", "timeframe": "5m", "log": False, "indicators": []},
            "bars": [("binance", "BTC/USDT", 60_000, 500)], "limit": {"BTC/USDT": 0.5}}


def make(profile: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from app.config import Settings
    from app.engine.core.clock import SimClock
    from app.engine.core.instruments import Instrument
    from app.engine.core.messages import LoadStrategy, OrderType, Side
    from app.engine.data.bar_store import BarStore
    from app.engine.data.bars import Bars
    from app.engine.kernel import Kernel
    from app.engine.venues.venue_config import parse_config, save_config, venues_dir

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
    kernel.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.02)
    kernel.submit("BTC/USDT", Side.SELL, OrderType.MARKET, 0.01)
    kernel.submit("600519.SH", Side.BUY, OrderType.MARKET, 100)
    low = kernel.market.get("ETH/USDT").book.best_bid * 0.97  # inside the price collar, far from filling
    kernel.submit("ETH/USDT", Side.BUY, OrderType.LIMIT, 0.1, kernel.instruments["ETH/USDT"].round_price(low))
    advance(2_000)
    answer = kernel.port.send(LoadStrategy("sma_cross", {"symbol": "ETH/USDT"}))
    assert answer is not None and answer.detail == "sma_cross-1", answer
    kernel.store.set_setting("ui.charts", {"main": EXPECTED["chart"], "docks": []})
    kernel.close()

    ts = START - 600 * 60_000 + 60_000 * np.arange(500)
    close = 42_000 + np.cumsum(np.sin(np.arange(500) / 7.0))
    BarStore(profile).write("binance", "BTC/USDT", 60_000,
                            Bars.from_arrays(ts, close, close + 5, close - 5, close, np.full(500, 2.0)))
    save_config(profile, parse_config({"name": "binance", "exchange": "binance", "symbols": ["BTC/USDT"],
                                       "enabled": False}))
    btc = Instrument("BTC/USDT", "binance", "BTC", "USDT", 0.01, 1e-05, 1e-05, 9000.0, min_notional=5.0)
    (venues_dir(profile) / "binance.instruments.json").write_text(json.dumps([dataclasses.asdict(btc)]))
    done = subprocess.run([sys.executable, "-m", "app.cli", "risk", "set", "max_position",
                           json.dumps(EXPECTED["limit"]), "--reason", "fixture: a per-symbol limit",
                           "--profile", str(profile)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for junk in ("heartbeat.json", "kestrel.log", "logs", "kestrel.lock", "bars/index.lock", "bars/locks"):
        path = profile / junk  # the run's traces and lock files, not the profile's state
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


if __name__ == "__main__":
    make(Path(sys.argv[1]).resolve())
    print("made", sys.argv[1])
