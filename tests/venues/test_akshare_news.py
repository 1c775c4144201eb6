"""akshare's news through its own request and parsing code, over the fake eastmoney HTTP layer (no network): the
flash news and an A-share's announcements stored once with their symbols and Shanghai times; a ban and a stalled
socket pause the source with the reason and leave the stored items; a stock with no announcements is an empty
answer, not a failure (issue 22, must-have 1)."""
from __future__ import annotations

import asyncio
import datetime as dt
import time

from app.engine.core.bus import MessageBus
from app.engine.news.service import NewsService
from app.engine.news.store import MARKUP, NewsStore
from app.engine.news.text import SymbolMatcher
from app.engine.venues.executor import DeadlineExecutor
from tests.venues.fake_akshare import NAMES, FakeAkshareHTTP

NOW = int(dt.datetime(2026, 12, 7, 1, 40, tzinfo=dt.timezone.utc).timestamp() * 1000)  # 09:40 in Shanghai


def service(tmp_path, **kw) -> tuple[NewsService, NewsStore]:
    store = NewsStore(tmp_path / "kestrel.db")
    names = {n: f"{c}.{'SH' if c.startswith('6') else 'SZ'}" for c, n in NAMES.items()}
    svc = NewsService(store, MessageBus(), lambda: NOW, matcher=lambda: SymbolMatcher(names, ["BTC"]),
                      executor=DeadlineExecutor(workers=1, max_stuck=2, name="news-test"), deadline_s=2.0,
                      ban_base_s=30.0, **kw)
    return svc, store


def test_flash_news_and_announcements_through_akshares_own_code(tmp_path, monkeypatch):
    fake = FakeAkshareHTTP().install(monkeypatch)
    svc, store = service(tmp_path)
    svc.add_source("flash", "akshare-flash")
    svc.add_source("notices", "akshare-notices", "600519.SH,000001.SZ")
    flash = asyncio.run(svc.poll(svc.sources["flash"]))
    assert [r.title for r in flash] == ["央行：保持流动性合理充裕", "贵州茅台：净利润同比增长15%"]
    assert flash[0].flags & MARKUP and flash[0].url == "https://finance.eastmoney.com/a/202612073012345678.html"
    assert flash[0].published_ms == int(dt.datetime(2026, 12, 7, 1, 31, 5, tzinfo=dt.timezone.utc).timestamp() * 1000)
    assert flash[1].symbols == ("600519.SH",) and flash[0].symbols == ()  # found by its name in the text
    assert {r.arrived_ms for r in flash} == {NOW} and flash[0].lang == "zh"
    notices = asyncio.run(svc.poll(svc.sources["notices"]))
    assert [(r.title, r.kind, r.summary, r.symbols) for r in notices] == [
        ("贵州茅台关于回购股份的公告", "notice", "重大事项", ("600519.SH",))]
    assert asyncio.run(svc.poll(svc.sources["notices"])) == []  # 000001: no announcements is an answer
    st = svc.sources["notices"]
    assert st.failures == 0 and st.state == "ok"
    assert asyncio.run(svc.poll(svc.sources["flash"])) == [] and svc.sources["flash"].duplicates == 2
    assert ("eastmoney", "/comm/web/getFastNewsList") in fake.calls
    assert store.count() == 3


def test_a_ban_or_a_stall_pauses_the_source_and_keeps_what_is_stored(tmp_path, monkeypatch):
    fake = FakeAkshareHTTP().install(monkeypatch)
    svc, store = service(tmp_path)
    svc.add_source("flash", "akshare-flash")
    st = svc.sources["flash"]
    assert len(asyncio.run(svc.poll(st))) == 2
    fake.mode["eastmoney"] = "ban"
    assert asyncio.run(svc.poll(st)) == []
    assert st.state == "paused" and "Connection aborted" in st.last_error and 15 <= st.paused_s <= 30
    assert [r.title for r in store.recent()] != []  # served from the store, marked stale by the dock
    saved = {s["name"]: s["status"] for s in store.sources()}["flash"]
    assert saved["state"] == "paused" and saved["failures"] == 1 and saved["last_ok_ms"] == NOW
    fake.mode["eastmoney"] = "hang_hard"  # a stall that ignores the request's timeout
    fake.hang_s = 5.0
    st.paused_until = 0.0
    t0 = time.monotonic()
    assert asyncio.run(svc.poll(st)) == []
    assert time.monotonic() - t0 < 3.0 and "hung" in st.last_error and st.failures == 2
    assert 30 <= st.paused_s <= 60  # longer the second time
    fake.release_hangs()
