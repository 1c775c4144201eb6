"""``kestrel run --headless``: the engine on the simulated exchange with no Qt at all."""
from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from app.config import ConfigError, load_settings
from app.engine.logring import setup_logging
from app.engine.messages import TradeTick
from app.engine.store import StoreError


def run_headless(profile: Path, duration: float | None) -> int:
    from app.engine.kernel import Kernel

    setup_logging(profile)
    try:
        kernel = Kernel(profile, load_settings(profile))
    except (StoreError, ConfigError) as exc:
        print(f"kestrel: {exc}", file=sys.stderr)
        return 2
    trades = [0]
    kernel.bus.subscribe(TradeTick, lambda _t: trades.__setitem__(0, trades[0] + 1))
    kernel.start()
    print(f"kestrel headless: profile {profile}, trading state {kernel.risk.state.value}, "
          f"instruments {', '.join(kernel.instruments)}", flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, kernel.stop)
            except (NotImplementedError, RuntimeError):
                pass
        await kernel.run(duration)

    try:
        asyncio.run(main())
    finally:
        last = {s: kernel.market.get(s).last for s in kernel.instruments}
        print(f"stopped: {kernel.bus.published} messages, {trades[0]} trades, loop lag p99 "
              f"{kernel.loop_monitor.p99():.1f} ms, last prices {last}", flush=True)
        kernel.close()
    return 0
