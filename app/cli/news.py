"""``kestrel news fetch|list|score|sources``: news from any terminal, beside a running one or not.

``fetch`` polls once and stores what is new in the profile's database (a running terminal's News dock shows it
within a second); ``list`` prints what is stored, by arrival; ``score TEXT`` prints each scorer's score, for
checking; ``sources`` lists, adds or removes the sources a running terminal polls.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path


def add_news_commands(sub, common: argparse.ArgumentParser) -> None:
    news = sub.add_parser("news", parents=[common], help="news: fetch, list, score a text, sources")
    nsub = news.add_subparsers(dest="news_command", required=True)
    fetch = nsub.add_parser("fetch", parents=[common], help="poll news sources once and store what is new")
    fetch.add_argument("--source", default=None, metavar="akshare|URL",
                       help="akshare (flash news, and with --symbols each A-share's news and announcements) or an "
                            "RSS/Atom feed URL; default: every source the profile polls")
    fetch.add_argument("--symbols", nargs="+", default=[], metavar="S",
                       help="A-shares for akshare's per-stock news and announcements, e.g. 600519 000001.SZ")
    fetch.add_argument("--timeout", type=float, default=20.0, metavar="S", help="seconds per source (default 20)")
    ls = nsub.add_parser("list", parents=[common], help="stored news, newest arrival first")
    ls.add_argument("--symbol", default=None, help="only items about this symbol (600519.SH, BTC, BTC/USDT)")
    ls.add_argument("--since", default=None, metavar="DATE", help="arrived on or after DATE (YYYY-MM-DD or ISO time)")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    score = nsub.add_parser("score", parents=[common], help="each scorer's sentiment score of TEXT")
    score.add_argument("text", nargs="+")
    src = nsub.add_parser("sources", parents=[common], help="the sources a running terminal polls")
    grp = src.add_mutually_exclusive_group()
    grp.add_argument("--add", nargs=2, metavar=("NAME", "URL|akshare-flash|akshare-news|akshare-notices"),
                     help="poll a feed URL (or an akshare kind) under NAME")
    grp.add_argument("--remove", metavar="NAME")
    src.add_argument("--every", type=float, default=None, metavar="S", help="with --add: seconds between polls")


def main_news(args: argparse.Namespace, profile: Path) -> int:
    cmd = args.news_command
    if cmd == "score":
        return _score(" ".join(args.text), profile)
    from app.engine.news.store import NewsStore

    profile.mkdir(parents=True, exist_ok=True)
    try:
        store = NewsStore(profile / "kestrel.db")
    except Exception as exc:  # noqa: BLE001 - a corrupt or locked database: say so
        print(f"kestrel news: cannot open {profile / 'kestrel.db'}: {exc}", file=sys.stderr)
        return 2
    try:
        if cmd == "fetch":
            return asyncio.run(_fetch(args, store, profile))
        if cmd == "list":
            return _list(args, store)
        return _sources(args, store)
    finally:
        store.close()


def _local(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


async def _fetch(args: argparse.Namespace, store, profile: Path) -> int:
    from app.engine.core.bus import MessageBus
    from app.engine.news.service import NewsService, SourceState
    from app.engine.news.store import ashare_names
    from app.engine.news.text import CRYPTO_NAMES, NewsKey, SymbolMatcher

    symbols = [NewsKey.of(s) for s in args.symbols]
    names = ashare_names(store.conn)
    tickers = set(CRYPTO_NAMES.values()) | {s for s in symbols if not s[:1].isdigit()}

    def scorers():
        from app.engine.news.sentiment import load_scorers

        return load_scorers(profile)

    svc = NewsService(store, MessageBus(), lambda: int(time.time() * 1000), watched=lambda: symbols,
                      matcher=lambda: SymbolMatcher(names, tickers), scorers=scorers, deadline_s=args.timeout)
    if args.source is None:
        states = [st for st in svc.sources.values() if st.enabled]
        if not states:
            print("kestrel news: this profile polls no news sources; give --source akshare or --source URL, or "
                  "add one with `kestrel news sources --add NAME URL`", file=sys.stderr)
            return 2
    elif args.source == "akshare":
        states = [SourceState("akshare-flash", "akshare-flash", "", 60.0)]
        if symbols:
            states += [SourceState("akshare-news", "akshare-news", ",".join(symbols), 300.0),
                       SourceState("akshare-notices", "akshare-notices", ",".join(symbols), 900.0)]
    elif args.source.lower().startswith(("http://", "https://", "file://")):
        states = [SourceState(args.source, "rss", args.source, 300.0)]
    else:
        print(f"kestrel news: --source is akshare or a feed URL (http/https), not {args.source!r}", file=sys.stderr)
        return 2
    ok = 0
    for st in states:
        new = 0
        for _ in range(len(svc.symbols_of(st)) or 1):  # a per-stock source: each of its A-shares once
            new += len(await svc.poll(st))
            if st.failures:
                break
        c = st.counts
        if st.failures:
            print(f"{st.name}: FAILED: {st.last_error}")
            continue
        ok += 1
        extra = [f"{n} {what}" for n, what in ((st.duplicates, "duplicates"), (c.malformed, "malformed feed"),
                                              (c.empty, "empty skipped"), (c.unreadable, "unreadable skipped"),
                                              (c.repaired, "mojibake repaired"), (c.markup, "markup removed"),
                                              (st.future, "future-dated clamped"), (c.bad_time, "bad times"))
                 if n]
        print(f"{st.name}: {new} new of {c.entries}" + (f" ({', '.join(extra)})" if extra else "")
              + (f"; {st.last_problem}" if st.last_problem else ""))
    for why in svc.scorer_errors:
        print(f"scorer refused: {why}", file=sys.stderr)
    if svc.executor is not None:
        svc.executor.shutdown()
    return 0 if ok else 1


def _list(args: argparse.Namespace, store) -> int:
    from app.engine.news.reader import to_ms
    from app.engine.news.text import NewsKey

    try:
        since = to_ms(args.since, int(time.time() * 1000))
    except ValueError as exc:
        print(f"kestrel news list: {exc}", file=sys.stderr)
        return 2
    rows = store.recent(NewsKey.of(args.symbol) if args.symbol else None, since_ms=since, limit=args.limit)
    if args.json:
        for r in rows:
            print(json.dumps({"id": r.id, "arrived_ms": r.arrived_ms, "published_ms": r.published_ms,
                              "source": r.source, "kind": r.kind, "symbols": list(r.symbols), "title": r.title,
                              "url": r.url, "score": None if math.isnan(r.score) else r.score}, ensure_ascii=False))
        return 0
    if not rows:
        print("no news stored" + (f" about {args.symbol}" if args.symbol else "") + (
            " since " + args.since if args.since else "") + ": `kestrel news fetch` brings some")
        return 0
    print(f"{'arrived':19}  {'source':16} {'score':>6}  {'symbols':14} title")
    for r in rows:
        score = "" if math.isnan(r.score) else f"{r.score:+.2f}"
        print(f"{_local(r.arrived_ms):19}  {r.source[:16]:16} {score:>6}  {' '.join(r.symbols)[:14]:14} {r.title}")
    return 0


def _sources(args: argparse.Namespace, store) -> int:
    from app.engine.news.service import DEFAULT_POLL_S, check_source

    if args.add:
        name, target = args.add
        kind, tgt = (target, "") if target.startswith("akshare-") else ("rss", target)
        why = check_source(kind, tgt)
        if why:
            print(f"kestrel news sources: {why}", file=sys.stderr)
            return 2
        store.set_source(name, kind, tgt, max(15.0, args.every or DEFAULT_POLL_S[kind]))
        print(f"added {name}: {kind} {tgt}".rstrip() + " (a running terminal starts polling it within 5 s)")
        return 0
    if args.remove:
        if not store.remove_source(args.remove):
            print(f"kestrel news sources: no source named {args.remove!r}", file=sys.stderr)
            return 2
        print(f"removed {args.remove}")
        return 0
    rows = store.sources()
    if not rows:
        print("no news sources: add one with `kestrel news sources --add NAME URL` (or akshare-flash)")
    for r in rows:
        st = r["status"]
        print(f"{r['name']:20} {r['kind']:16} every {r['poll_s']:.0f} s  {st.get('state', 'waiting'):8} "
              f"stored {st.get('stored', 0)}  {r['target']}" + (f"  last error: {st['last_error']}"
                                                               if st.get("last_error") else ""))
    return 0


def _score(text: str, profile: Path) -> int:
    from app.engine.news.sentiment import load_scorers, score_text

    scorers, refused = load_scorers(profile)
    for name, lang, value in score_text(text, scorers):
        shown = "cannot score" if value != value else f"{value:+.3f}"
        print(f"{name:24} {lang:3} {shown}")
    for why in refused:
        print(f"refused: {why}", file=sys.stderr)
    return 0
