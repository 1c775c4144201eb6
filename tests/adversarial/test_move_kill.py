"""kill -9 in the middle of a move (ModifyOrder): the replacement is journaled and held while the old order's
cancel travels, and the terminal dies. At the next start the held order is canceled with the reason, never
sent (no OrderSubmitted for it on the audit trail), so the old and the new order can never both be working;
the audit trail verifies."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name == "nt", reason="kill -9")

CHILD = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from app.config import RiskSettings, Settings, SimSettings
    from app.engine.core.clock import SimClock
    from app.engine.core.messages import ModifyOrder, OrderType, Side
    from app.engine.kernel import Kernel
    from tests.kit.kernel import LOOSE_LIMITS, advance, cannot_amend

    k = Kernel(Path(sys.argv[1]), Settings(sim=SimSettings(latency_ms=50), risk=RiskSettings(**LOOSE_LIMITS)),
               clock=SimClock(1_750_000_000_000))
    k.start()
    cannot_amend(k)  # a venue that moves orders by cancel-then-replace
    advance(k, 500)
    inst = k.instruments["BTC/USDT@sim"]
    old = k.submit("BTC/USDT@sim", Side.BUY, OrderType.LIMIT, 0.01,
                   inst.round_price(k.market.get("BTC/USDT@sim").book.best_bid))
    advance(k, 100)
    k.bus.publish(ModifyOrder(old, inst.round_price(k.execution.orders[old].price - 2.0), "moved-1", "chart",
                              ts=k.clock.now_ms()))
    k.audit_recorder.flush()
    k.execution.commit_states()  # the held order is in the journal; the cancel's answer is 50 ms away
    print(old, k.execution.orders["moved-1"].status.value, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
''')


def test_kill_9_mid_move_leaves_the_held_order_canceled_and_never_sent(tmp_path):
    from app.config import RiskSettings, Settings, SimSettings
    from app.engine.audit.verify import verify
    from app.engine.core.clock import SimClock
    from app.engine.core.messages import OrderStatus
    from app.engine.kernel import Kernel
    from tests.kit.kernel import LOOSE_LIMITS, advance

    profile = tmp_path / "profile"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(profile), str(ROOT)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    old, held = proc.stdout.split()
    assert held == "PENDING_REPLACE"
    k = Kernel(profile, Settings(sim=SimSettings(latency_ms=50), risk=RiskSettings(**LOOSE_LIMITS)),
               clock=SimClock(1_750_000_100_000))
    k.start()
    try:
        new = k.execution.orders["moved-1"]
        assert new.status is OrderStatus.CANCELED and new.replaces == old
        assert new.reason.startswith(f"not sent: Kestrel stopped while {old} was being canceled")
        advance(k, 500)
        assert k.execution.orders[old].status is OrderStatus.CANCELED  # the restarted sim has no such order
        assert not [o for o in k.sim.open_orders() if o.client_order_id in (old, "moved-1")]
    finally:
        k.close()
    conn = sqlite3.connect(profile / "kestrel.db")
    submitted = [json.loads(p) for (p,) in conn.execute("SELECT payload FROM audit WHERE kind='OrderSubmitted'")]
    conn.close()
    assert not [p for p in submitted if "moved-1" in json.dumps(p)]  # never sent
    assert [p for p in submitted if old in json.dumps(p)]  # (the trail does record what was sent)
    assert verify(profile / "kestrel.db").ok
