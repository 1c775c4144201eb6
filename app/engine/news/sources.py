"""Where news comes from: RSS/Atom feeds (feedparser) and akshare (A-share news, flash news, announcements).

Each source is a ``fetch`` that runs on a worker thread (``DeadlineExecutor``: akshare and slow feeds hang) and
returns finished ``NewsItem``s and what it had to count (``Counts``): malformed feeds, entries with nothing to
show, markup removed, mojibake repaired or refused. The loop only stores them. Times from akshare are Shanghai
local text; feed times are what feedparser parsed (UTC). No item's time is trusted: ``arrived_ms`` is ours.
"""
from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable

from app.engine.core.ashare_rules import SHANGHAI
from app.engine.news.store import MARKUP, REPAIRED, NewsItem
from app.engine.news.text import SymbolMatcher, clean, language, repair
from app.engine.venues.akshare.data import shanghai_ms

USER_AGENT = "Kestrel/0.1 (+news reader)"
MAX_FEED_BYTES = 8 * 1024 * 1024


class SourceRefused(RuntimeError):
    """The source said no (HTTP 4xx/5xx, a ban): ``retry_after_s`` when it said how long to wait."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Counts:
    entries: int = 0  # what the source returned
    malformed: int = 0  # feeds that did not parse cleanly (items recovered are still kept)
    empty: int = 0  # entries without a title or text, or without a link or id: skipped
    markup: int = 0  # titles that held HTML
    repaired: int = 0  # mojibake decoded back
    unreadable: int = 0  # text that stayed garbled: skipped
    bad_time: int = 0  # an unreadable publication time (the arrival time stands in)

    def add(self, other: "Counts") -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _text(value: Any, counts: Counts) -> tuple[str, int]:
    """(clean text, flags) or ("", -1) when it is unreadable."""
    s, had_markup = clean(value)
    s, state = repair(s)
    if state == "unreadable":
        return "", -1
    return s, (MARKUP if had_markup else 0) | (REPAIRED if state == "repaired" else 0)


def make_item(source: str, kind: str, title: Any, summary: Any, url: Any, source_id: Any, published_ms: int,
              counts: Counts, matcher: SymbolMatcher | None, symbols: tuple = ()) -> NewsItem | None:
    t, tf = _text(title, counts)
    s, sf = _text(summary, counts)
    if tf < 0 or (sf < 0 and not t):
        counts.unreadable += 1
        return None
    if sf < 0:
        s, sf = "", 0
    url_s = str(url or "").strip()
    sid = str(source_id or "").strip()
    if not t and s:
        t = s[:120] + ("…" if len(s) > 120 else "")
    if not t or not (url_s or sid):
        counts.empty += 1
        return None
    flags = tf | sf
    counts.markup += bool(flags & MARKUP)
    counts.repaired += bool(flags & REPAIRED)
    if s == t:
        s = ""
    found = list(symbols)
    if matcher is not None:
        for key, how in matcher.find(t + " " + s):
            if all(key != k for k, _ in found):
                found.append((key, how))
    lang = language(t + s)
    return NewsItem(source, kind, t[:500], s[:4000], url_s[:2000], sid[:500], published_ms, tuple(found), flags,
                    lang)


# --------------------------------------------------------------------------------------------------------- RSS
def fetch_url(url: str, timeout_s: float = 15.0) -> tuple[bytes, str]:
    """The feed's bytes and its Content-Type (with ``requests``: the executor bounds its timeout)."""
    if url.lower().startswith("file://"):  # a feed saved on disk (offline, tests)
        from urllib.parse import unquote, urlparse

        path = unquote(urlparse(url).path)
        try:
            with open(path, "rb") as fh:
                return fh.read(MAX_FEED_BYTES), ""
        except OSError as exc:
            raise SourceRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    import requests

    from app.engine.venues.backoff import parse_retry_after

    with requests.get(url, timeout=timeout_s, headers={"User-Agent": USER_AGENT}, stream=True) as r:
        if r.status_code >= 400:
            raise SourceRefused(f"HTTP {r.status_code} from {url}", parse_retry_after(r.headers.get("Retry-After")))
        data = r.raw.read(MAX_FEED_BYTES + 1, decode_content=True)
        if len(data) > MAX_FEED_BYTES:
            raise SourceRefused(f"the feed at {url} is larger than {MAX_FEED_BYTES // 2**20} MiB")
        return data, r.headers.get("Content-Type", "")


def parse_feed(data: bytes | str, content_type: str, source: str,
               matcher: SymbolMatcher | None = None) -> tuple[list[NewsItem], Counts, str]:
    """(items, counts, problem): problem is feedparser's complaint about a malformed feed ("" when clean)."""
    import feedparser

    counts = Counts()
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(data, response_headers=headers)
    problem = ""
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        problem = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
        if not isinstance(exc, feedparser.CharacterEncodingOverride):
            counts.malformed += 1
    items = []
    for e in parsed.entries:
        counts.entries += 1
        when = e.get("published_parsed") or e.get("updated_parsed")
        try:
            pub = calendar.timegm(when) * 1000 if when else 0
        except (TypeError, ValueError, OverflowError):
            pub = 0
        if not when and (e.get("published") or e.get("updated")):
            counts.bad_time += 1
        item = make_item(source, "news", e.get("title"), e.get("summary") or e.get("description"), e.get("link"),
                         e.get("id"), pub, counts, matcher)
        if item is not None:
            items.append(item)
    if not parsed.entries and parsed.get("bozo") and not problem:
        problem = "not a feed"
    return items, counts, problem


# ----------------------------------------------------------------------------------------------------- akshare
def _sh_ms(text: Any) -> int:
    """Shanghai local time text ("2026-12-07 09:31:05", "... 09:31", "2026-12-07") -> epoch ms; 0 if it is not."""
    try:
        return shanghai_ms(str(text or "").strip()[:19])
    except ValueError:
        return 0


def _rows(df: Any, need: tuple[str, ...], what: str) -> list[dict]:
    cols = list(getattr(df, "columns", ()))
    missing = [c for c in need if c not in cols]
    if missing:
        raise ValueError(f"akshare's {what} answered without the columns {', '.join(missing)} (got "
                         f"{', '.join(map(str, cols[:8])) or 'nothing'}); akshare may have changed: update it")
    return df.to_dict("records")


_ART = re.compile(r"/(\w+)\.html?$")


def _art_id(url: str) -> str:
    m = _ART.search(url or "")
    return m.group(1) if m else ""


def parse_stock_news_em(df: Any, key: str, matcher: SymbolMatcher | None = None) -> tuple[list[NewsItem], Counts]:
    counts, items = Counts(), []
    for r in _rows(df, ("新闻标题", "发布时间", "新闻链接"), "stock_news_em"):
        counts.entries += 1
        pub = _sh_ms(r.get("发布时间"))
        counts.bad_time += not pub
        it = make_item("eastmoney", "news", r.get("新闻标题"), r.get("新闻内容"), r.get("新闻链接"),
                       _art_id(str(r.get("新闻链接") or "")), pub, counts, matcher, ((key, "source"),))
        if it is not None:
            items.append(it)
    return items, counts


def parse_flash_em(df: Any, matcher: SymbolMatcher | None = None) -> tuple[list[NewsItem], Counts]:
    counts, items = Counts(), []
    for r in _rows(df, ("标题", "发布时间"), "stock_info_global_em"):
        counts.entries += 1
        pub = _sh_ms(r.get("发布时间"))
        counts.bad_time += not pub
        link = str(r.get("链接") or "")
        it = make_item("eastmoney-flash", "flash", r.get("标题"), r.get("摘要"), link, _art_id(link), pub, counts,
                       matcher)
        if it is not None:
            items.append(it)
    return items, counts


def parse_notices(df: Any, key: str, matcher: SymbolMatcher | None = None) -> tuple[list[NewsItem], Counts]:
    counts, items = Counts(), []
    for r in _rows(df, ("公告标题", "公告日期", "网址"), "stock_individual_notice_report"):
        counts.entries += 1
        pub = _sh_ms(r.get("公告日期"))
        counts.bad_time += not pub
        kind = str(r.get("公告类型") or "").strip()
        title = str(r.get("公告标题") or "")
        it = make_item("cninfo-notices", "notice", title, kind, r.get("网址"), _art_id(str(r.get("网址") or "")),
                       pub, counts, matcher, ((key, "source"),))
        if it is not None:
            items.append(it)
    return items, counts


def ak_stock_news(code: str) -> Any:
    from akshare.news.news_stock import stock_news_em

    return stock_news_em(symbol=code)


def ak_flash() -> Any:
    from akshare.stock_feature.stock_info import stock_info_global_em

    return stock_info_global_em()


def ak_notices(code: str, days: int = 30) -> Any:
    from akshare.stock_fundamental.stock_notice import stock_individual_notice_report

    end = dt.datetime.now(SHANGHAI).date()
    start = end - dt.timedelta(days=days)
    try:
        return stock_individual_notice_report(security=code, symbol="全部", begin_date=start.strftime("%Y%m%d"),
                                              end_date=end.strftime("%Y%m%d"))
    except KeyError as exc:  # akshare 1.19 on zero announcements: its empty frame has no 代码 column to index
        if exc.args and exc.args[0] == "代码":
            import pandas as pd

            return pd.DataFrame(columns=["代码", "名称", "公告标题", "公告类型", "公告日期", "网址"])
        raise


#: the akshare news kinds: (fetch, parse, per symbol?)
AKSHARE: dict[str, tuple[Callable[..., Any], Callable[..., Any], bool]] = {
    "flash": (ak_flash, parse_flash_em, False),
    "news": (ak_stock_news, parse_stock_news_em, True),
    "notices": (ak_notices, parse_notices, True),
}
