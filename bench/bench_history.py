"""ccxt history (issue 18): bars/s through ``fetch_history`` against a plain ccxt paging loop, same rate limit.

    python bench/bench_history.py [--bars 20000] [--delay-ms 20] [--rate-limit-ms 50] [--repeat 3]

The fake Binance (tests/venues/fake_binance.py, 127.0.0.1) serves 1m candles and answers each klines request
``--delay-ms`` late; ccxt's throttle runs at ``rateLimit`` = ``--rate-limit-ms`` (binance weighs a 1000-candle
klines request 5, so pages are ~5 x rateLimit apart). Both sides download the same ``--bars`` 1m candles in
pages of 1000 with a fresh exchange object each run (markets loaded before the clock starts), alternating:

  plain     ``while since < until: page = await ex.fetch_ohlcv(symbol, "1m", since, 1000)`` ... (the loop
            everyone writes: no retries, no de-duplication, no gap report, list of lists)
  kestrel   ``fetch_history(ex, symbol, "1m", since, until, on_page=...)`` (rate gate, retries, overlap and
            forming-bar filtering, gap report, each page as ``Bars``)
  download  what ``kestrel data download`` does (app/engine/venues/download.py): the bar store's missing range
            fetched with ``fetch_history``, each page written to a fresh store (fsynced) as it comes

Reported: bars/s per side (median of ``--repeat``), kestrel / plain and download / plain (goal >= 0.95).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

from _common import ROOT, median, table

sys.path.insert(0, str(ROOT / "tests" / "venues"))

SYMBOL, MIN = "BTC/USDT", 60_000


async def _exchange(fake, rate_limit_ms: float):
    from app.engine.venues.ccxt.rest import make_exchange
    from app.engine.venues.venue_config import parse_config

    cfg = fake.venue_config(stream="poll")
    cfg["ccxt"]["rateLimit"] = rate_limit_ms
    ex = await asyncio.to_thread(make_exchange, parse_config(cfg), None)
    await ex.load_markets()
    return ex


async def plain(ex, since: int, until: int) -> int:
    bars = []
    while since < until:
        page = await ex.fetch_ohlcv(SYMBOL, "1m", since, 1000)
        if not page:
            break
        bars.extend(row for row in page if row[0] < until)
        since = page[-1][0] + MIN
    return len(bars)


async def kestrel(ex, since: int, until: int) -> int:
    from app.engine.venues.backoff import RateGate
    from app.engine.venues.ccxt.history import fetch_history

    pages = []
    result = await fetch_history(ex, SYMBOL, "1m", since, until, on_page=pages.append, page_limit=1000,
                                 rate=RateGate())
    assert result.complete and result.bars == sum(len(p) for p in pages)
    return result.bars


async def download(ex, since: int, until: int) -> int:
    """What ``kestrel data download`` does: the store's missing ranges fetched, each page written (fsynced)."""
    import tempfile

    from app.engine.data.bar_store import BarStore
    from app.engine.venues.download import download_ccxt

    with tempfile.TemporaryDirectory() as folder:
        store = BarStore(folder)
        report = await download_ccxt(store, ex, "binance", SYMBOL, MIN, since, until)
        assert report.complete
        return len(store.read("binance", SYMBOL, MIN))


async def main(args) -> None:
    from fake_binance import HISTORY_START_MS, FakeBinance

    fake = await FakeBinance(auto_market=False).start()
    fake.slow("GET /api/v3/klines", args.delay_ms / 1000)
    since = HISTORY_START_MS + 7 * 86_400_000
    until = since + args.bars * MIN
    rates: dict[str, list[float]] = {"plain": [], "kestrel": [], "download": []}
    try:
        for _ in range(args.repeat):
            for name, fn in (("plain", plain), ("kestrel", kestrel), ("download", download)):
                ex = await _exchange(fake, args.rate_limit_ms)
                try:
                    t0 = time.perf_counter()
                    n = await fn(ex, since, until)
                    dt = time.perf_counter() - t0
                finally:
                    await ex.close()
                assert n == args.bars, (name, n)
                rates[name].append(n / dt)
    finally:
        await fake.stop()
    p, k = median(rates["plain"]), median(rates["kestrel"])
    rows = [[name, f"{median(v):,.0f}", ", ".join(f"{x:,.0f}" for x in v)] for name, v in rates.items()]
    print(f"{args.bars:,} 1m bars in pages of 1000, fake +{args.delay_ms:g} ms per request, "
          f"ccxt rateLimit {args.rate_limit_ms:g} ms")
    print(table(["loop", "bars/s (median)", "runs"], rows))
    print(f"kestrel / plain: {k / p:.3f} (goal >= 0.95)")
    print(f"download (into the bar store) / plain: {median(rates['download']) / p:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--rate-limit-ms", type=float, default=50.0)
    ap.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(ap.parse_args()))
