"""Symbol search over the market catalog (the Find symbol dialog types into it): median and worst time of a
search over N markets of three venues, and of the index build after a venue's list changed.

    python bench/bench_symbol_search.py [N]        (default 3000; the issue's budget: < 5 ms a search)
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.engine.venues.catalog import Market, MarketCatalog  # noqa: E402


class Listed:
    def __init__(self, markets: list[Market]) -> None:
        self._markets, self.markets_version = markets, 1

    def markets(self) -> list[Market]:
        return self._markets

    def instruments(self) -> list:
        return []


def markets(n: int, seed: int = 7) -> list[Market]:
    rng = random.Random(seed)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for i in range(n):
        if i % 3 == 2:  # an A-share, with a Chinese name
            code = f"{rng.choice(['600', '000', '300', '688'])}{i:03d}"[:6]
            name = "".join(rng.choice("贵州茅台平安银行五粮液宁德时代中国石油") for _ in range(4))
            out.append(Market("akshare", f"{code}.SH", code, "CNY", "equity", name))
            continue
        base = rng.choice(["BTC", "ETH", "SOL"]) if i % 10 == 0 else \
            "".join(rng.choice(letters) for _ in range(rng.randint(2, 6)))
        quote = rng.choice(["USDT", "USDC", "BTC", "ETH", "EUR"])
        kind = rng.choice(["spot", "spot", "swap", "future"])
        out.append(Market(f"ex{i % 3}", f"{base}/{quote}" + (f":{quote}" if kind != "spot" else ""), base, quote,
                          kind))
    return out


def main(n: int = 3000) -> None:
    ms = markets(n)
    venues = {}
    for m in ms:
        venues.setdefault(m.venue, []).append(m)
    catalog = MarketCatalog({v: Listed(x) for v, x in venues.items()}, {})
    t0 = time.perf_counter()
    catalog.search("x")
    build = time.perf_counter() - t0
    queries = ["b", "btc", "usdt", "eth/usdt", "btcusdt", "600", "茅台", "平安银", "zzzz", "a"]
    times = {q: [] for q in queries}
    for _ in range(50):
        for q in queries:
            t0 = time.perf_counter()
            catalog.search(q)
            times[q].append(time.perf_counter() - t0)
    everything = [t for ts in times.values() for t in ts]
    print(f"{n} markets: index built in {build * 1000:.1f} ms; a search: median "
          f"{statistics.median(everything) * 1000:.2f} ms, worst {max(everything) * 1000:.2f} ms")
    for q, ts in times.items():
        print(f"  {q!r:12} median {statistics.median(ts) * 1000:.2f} ms, {len(catalog.search(q))} results")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
