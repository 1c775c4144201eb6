"""News items stored once, with honest times, from feeds and akshare frames that are malformed in the ways
real ones are: markup in titles, mojibake, duplicates under new ids, dates in the future, truncated XML."""
from __future__ import annotations

import asyncio
import datetime as dt
import math
import time

import pandas as pd
import pytest

from app.engine.core.bus import MessageBus
from app.engine.core.messages import NewsArrived
from app.engine.news.service import NewsService
from app.engine.news.sources import SourceRefused, parse_feed, parse_flash_em, parse_stock_news_em
from app.engine.news.store import FUTURE, MARKUP, REPAIRED, NewsItem, NewsStore
from app.engine.news.text import NewsKey, SymbolMatcher, clean, norm_title, repair
from app.engine.venues.executor import DeadlineExecutor

NOW = 1_796_000_000_000  # 2026-12-01


def rss(*items: str, encoding: str | None = "utf-8") -> bytes:
    head = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else '<?xml version="1.0"?>'
    return (head + '<rss version="2.0"><channel><title>t</title>' + "".join(items) + "</channel></rss>").encode(
        encoding or "utf-8")


def item(title: str, link: str = "", guid: str = "", date: str = "Tue, 01 Dec 2026 10:00:00 +0800",
         desc: str = "") -> str:
    parts = [f"<title>{title}</title>"]
    if link:
        parts.append(f"<link>{link}</link>")
    if guid:
        parts.append(f"<guid>{guid}</guid>")
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    if desc:
        parts.append(f"<description>{desc}</description>")
    return "<item>" + "".join(parts) + "</item>"


@pytest.fixture
def store(tmp_path):
    s = NewsStore(tmp_path / "kestrel.db")
    yield s
    s.close()


# ---------------------------------------------------------------------------------------------------- text
def test_clean_and_norm_title():
    assert clean("A &amp;amp; <b>B</b>\n  up") == ("A & B up", True)
    assert clean("plain") == ("plain", False)
    assert norm_title("贵州茅台：净利润增长 20%！") == norm_title("贵州茅台 净利润增长20%")
    assert norm_title("<i>Bitcoin</i> jumps, again") == norm_title("BITCOIN JUMPS AGAIN")


def test_mojibake_is_repaired_or_refused():
    good = "贵州茅台发布公告"
    assert repair(good.encode("utf-8").decode("latin-1")) == (good, "repaired")
    assert repair(good.encode("gbk").decode("cp1252", errors="replace"))[1] in ("repaired", "unreadable")
    assert repair("Café prices rise") == ("Café prices rise", "")
    assert repair("\u00c3\u00a9\u00c2\u00a0\u00c3\u00bf\u00c2\u00ae")[1] in ("repaired", "unreadable")


def test_news_keys_and_symbol_matching():
    assert NewsKey.of("600519.SH@akshare") == "600519.SH"
    assert NewsKey.of("BTC/USDT@binance") == "BTC"
    assert NewsKey.of("ETH/USDT:USDT") == "ETH"
    m = SymbolMatcher({"贵州茅台": "600519.SH", "茅台": "600519.SH", "平安银行": "000001.SZ"}, ["BTC", "ETH", "ONE"])
    assert m.find("贵州茅台(600519)与平安银行公告") == [("600519.SH", "code"), ("000001.SZ", "name")]
    assert m.find("Bitcoin and ETH rally; one more thing") == [("BTC", "name"), ("ETH", "ticker")]
    assert m.find("比特币大涨") == [("BTC", "name")]
    assert m.find("比特币大涨, together with whether") == [("BTC", "name")]  # no "ether" inside English words
    assert m.find("no symbols here 1234567") == []


# --------------------------------------------------------------------------------------------------- store
def test_an_item_is_stored_once_even_under_another_id(store):
    a = NewsItem("feed-a", "news", "Acme wins contract", url="https://a/1", source_id="1", published_ms=NOW)
    first = store.add([a], NOW + 5)
    assert len(first.records) == 1 and first.records[0].arrived_ms == NOW + 5
    again = store.add([a], NOW + 10)  # the same id again
    other_id = store.add([NewsItem("feed-a", "news", "ACME wins contract!", url="https://a/2", source_id="2",
                                   published_ms=NOW + 3_600_000)], NOW + 20)  # re-sent under a new id
    other_src = store.add([NewsItem("feed-b", "news", "Acme  wins contract", url="https://b/9",
                                    published_ms=NOW)], NOW + 30)
    same_url = store.add([NewsItem("feed-a", "news", "Other title", url="https://a/1")], NOW + 40)
    assert (again.duplicates, other_id.duplicates, other_src.duplicates, same_url.duplicates) == (1, 1, 1, 1)
    a_week_later = store.add([NewsItem("feed-a", "news", "Acme wins contract", url="https://a/3",
                                       published_ms=NOW + 7 * 86_400_000)], NOW + 50)
    assert len(a_week_later.records) == 1  # the same words a week later are news again
    assert store.count() == 2
    assert [r.arrived_ms for r in store.recent()] == [NOW + 50, NOW + 5]  # arrival is never rewritten


def test_an_item_dated_in_the_future_is_clamped_and_flagged(store):
    out = store.add([NewsItem("f", "news", "From 2099", url="u", published_ms=4_070_908_800_000)], NOW)
    r = out.records[0]
    assert out.future == 1 and r.published_ms == NOW and r.flags & FUTURE


def test_symbols_scores_and_series(store):
    store.add([NewsItem("f", "news", "one", url="1", symbols=(("BTC", "ticker"),), scores=(("lexicon", 0.5),)),
               NewsItem("f", "news", "two", url="2", symbols=(("BTC", "ticker"), ("ETH", "name")),
                        scores=(("lexicon", math.nan),))], NOW)
    store.add([NewsItem("f", "news", "three", url="3", symbols=(("ETH", "ticker"),), scores=(("lexicon", -1.0),))],
              NOW + 1000)
    arrived, score = store.series("ETH")
    assert arrived.tolist() == [NOW, NOW + 1000] and math.isnan(score[0]) and score[1] == -1.0
    recent = store.recent("BTC")
    assert [r.title for r in recent] == ["two", "one"] and recent[1].score == 0.5
    assert set(recent[0].symbols) == {"BTC", "ETH"}
    assert [r.title for r in store.recent(since_ms=NOW + 1)] == ["three"]


# --------------------------------------------------------------------------------------------------- feeds
def test_feed_markup_future_and_empty_entries():
    data = rss(item("A &amp; <b>B</b> up", link="https://x/1", guid="g1"),
               item("Later", link="https://x/2", date="Thu, 01 Jan 2099 00:00:00 +0000"),
               item("", date=""),  # nothing to show
               item("no link or id", date=""))
    items, counts, problem = parse_feed(data, "application/rss+xml", "x")
    assert problem == ""
    assert [i.title for i in items] == ["A & B up", "Later"]
    assert items[0].flags & MARKUP and counts.markup == 1 and counts.empty == 2
    assert items[0].published_ms == int(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)
    assert items[0].lang == "en"


def test_malformed_and_garbage_feeds_are_counted_not_fatal():
    truncated = rss(item("kept", link="https://x/1"), item("cut", link="https://x/2")).decode()[:-40].encode()
    items, counts, problem = parse_feed(truncated, "", "x")
    assert counts.malformed == 1 and problem and [i.title for i in items][:1] == ["kept"]
    items, counts, problem = parse_feed(b"\x00\xff garbage \x89PNG", "", "x")
    assert items == [] and problem


def test_gbk_feed_without_a_declared_encoding_is_read_as_chinese():
    data = rss(item("贵州茅台发布年度报告", link="https://x/1"), encoding=None).decode("utf-8").encode("gbk")
    items, counts, _ = parse_feed(data, "", "cn", SymbolMatcher({"贵州茅台": "600519.SH"}))
    assert len(items) == 1 and items[0].title == "贵州茅台发布年度报告" and items[0].lang == "zh"
    assert ("600519.SH", "name") in items[0].symbols
    assert counts.repaired + (not items[0].flags & REPAIRED) >= 1


def test_akshare_frames_parse_and_a_changed_frame_is_a_clear_error():
    df = pd.DataFrame({"关键词": ["600519"], "新闻标题": ["<em>贵州茅台</em>净利润增长"], "新闻内容": ["内容"],
                       "发布时间": ["2026-12-01 10:00:00"], "文章来源": ["x"],
                       "新闻链接": ["http://finance.eastmoney.com/a/202612013000001.html"]})
    items, counts = parse_stock_news_em(df, "600519.SH")
    assert items[0].title == "贵州茅台净利润增长" and items[0].source_id == "202612013000001"
    assert items[0].symbols[0] == ("600519.SH", "source")
    assert items[0].published_ms == int(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)
    flash = pd.DataFrame({"标题": ["快讯"], "摘要": ["摘要"], "发布时间": ["bad time"], "链接": ["https://k/1.html"]})
    items, counts = parse_flash_em(flash)
    assert counts.bad_time == 1 and items[0].published_ms == 0
    with pytest.raises(ValueError, match="without the columns 新闻标题"):
        parse_stock_news_em(pd.DataFrame({"x": [1]}), "600519.SH")


# ------------------------------------------------------------------------------------------------- service
def _service(store, fetchers, **kw):
    bus = MessageBus()
    got: list[NewsArrived] = []
    bus.subscribe(NewsArrived, got.append)
    clock = {"now": NOW}
    svc = NewsService(store, bus, lambda: clock["now"], fetchers=fetchers, ban_base_s=10.0, ban_cap_s=100.0,
                      executor=DeadlineExecutor(workers=1, max_stuck=1, name="news-test"), deadline_s=0.5, **kw)
    return svc, got, clock


def test_a_poll_stores_publishes_and_a_second_poll_adds_only_whats_new(store):
    feed = {"data": rss(item("one", link="https://x/1"), item("two", link="https://x/2"))}
    svc, got, clock = _service(store, {"rss": lambda url: (feed["data"], "application/rss+xml")})
    svc.add_source("x", "rss", "https://example.invalid/feed")
    st = svc.sources["x"]
    recs = asyncio.run(svc.poll(st))
    assert [r.title for r in recs] == ["one", "two"] and len(got) == 1
    feed["data"] = rss(item("two", link="https://x/2"), item("three", link="https://x/3"))
    clock["now"] = NOW + 60_000
    recs = asyncio.run(svc.poll(st))
    assert [r.title for r in recs] == ["three"] and recs[0].arrived_ms == NOW + 60_000
    assert st.duplicates == 1 and st.state == "ok"
    saved = {s["name"]: s for s in store.sources()}["x"]["status"]
    assert saved["stored"] == 3 and saved["duplicates"] == 1


def test_a_hanging_or_banning_source_is_paused_and_the_rest_is_served(store):
    def hang(url):
        time.sleep(2.0)

    def ban(url):
        raise SourceRefused("HTTP 429 from x", retry_after_s=600)

    svc, got, _ = _service(store, {"rss": hang})
    svc.add_source("slow", "rss", "https://example.invalid/slow")
    t0 = time.monotonic()
    assert asyncio.run(svc.poll(svc.sources["slow"])) == []
    assert time.monotonic() - t0 < 1.5  # the deadline, not the hang
    st = svc.sources["slow"]
    assert st.state == "paused" and "hung" in st.last_error and 5.0 <= st.paused_s <= 10.0
    svc.add_source("also", "rss", "https://example.invalid/also")  # while the hung call holds its thread:
    asyncio.run(svc.poll(svc.sources["also"]))  # refused at once, not queued behind it
    assert "busy" in svc.sources["also"].last_error
    svc2, _, _ = _service(store, {"rss": ban})
    svc2.add_source("banned", "rss", "https://example.invalid/b")
    asyncio.run(svc2.poll(svc2.sources["banned"]))
    assert svc2.sources["banned"].paused_s > 500 and "429" in svc2.sources["banned"].last_error


def test_a_burst_is_stored_in_chunks_with_the_loop_running_between(store):
    items = [NewsItem("x", "news", f"headline number {i}", url=f"https://x/{i}") for i in range(1000)]
    svc, got, _ = _service(store, {})
    ticks = []

    async def run():
        async def ticker():
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0)
        t = asyncio.get_running_loop().create_task(ticker())
        await asyncio.sleep(0)
        out = await svc.store_items(items, NOW)
        t.cancel()
        return out

    out = asyncio.run(run())
    assert len(out) == 1000 and len(got) == 20 and store.count() == 1000
    assert len(ticks) >= 20  # the loop ran between chunks


def test_a_source_added_by_another_process_is_polled_by_the_running_service(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss(item("from the other process", link="https://x/9")))
    store = NewsStore(tmp_path / "kestrel.db")
    svc, got, _ = _service(store, {})
    svc.sources_every_s = 0.3  # (5 s in the terminal)

    async def run():
        svc.start()
        try:
            other = NewsStore(tmp_path / "kestrel.db")  # `kestrel news sources --add` beside the terminal
            other.set_source("other", "rss", feed.as_uri(), 300.0)
            other.close()
            for _ in range(100):
                await asyncio.sleep(0.1)
                if got:
                    return time.monotonic()
            raise AssertionError("the running service never polled the new source")
        finally:
            await svc.stop()

    asyncio.run(run())
    assert [r.title for ev in got for r in ev.items] == ["from the other process"]
    store.close()
