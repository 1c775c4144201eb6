"""News where an adversary stands: the parsing worker process killed mid-poll (the poll says so, the next one
works), two processes fetching the same feed into one profile at once (every item stored once), a second
process's fetch seen by the running terminal's dock, a kill -9 of a fetch mid-write (nothing half-stored)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.engine.core.bus import MessageBus
from app.engine.news.service import NewsService
from app.engine.news.store import NewsStore
from app.engine.news.worker import NewsProcess

ROOT = Path(__file__).resolve().parents[2]


def feed(n: int, start: int = 0) -> str:
    items = "".join(f"<item><title>Headline number {i} about markets</title><link>https://f.invalid/{i}</link>"
                    f"</item>" for i in range(start, start + n))
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f</title>{items}</channel></rss>'


def kestrel(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_the_worker_process_killed_mid_poll_fails_that_poll_clearly_and_the_next_one_works(tmp_path):
    slow = tmp_path / "big.xml"
    slow.write_text(feed(4000), encoding="utf-8")
    store = NewsStore(tmp_path / "kestrel.db")
    proc = NewsProcess(tmp_path)
    svc = NewsService(store, MessageBus(), lambda: int(time.time() * 1000), process=proc, deadline_s=60)
    svc.add_source("f", "rss", slow.as_uri())
    proc.warm().result(timeout=60)
    (pid,) = list(proc._pool._processes)

    async def kill_during():
        task = asyncio.ensure_future(svc.poll(svc.sources["f"]))
        await asyncio.sleep(0.15)  # parsing 4,000 items: it is in the worker now
        os.kill(pid, signal.SIGKILL)
        return await task

    assert asyncio.run(kill_during()) == []
    st = svc.sources["f"]
    assert st.failures == 1 and "news worker process died" in st.last_error and store.count() == 0
    st.paused_until = st.next_due = 0.0
    records = asyncio.run(svc.poll(st))  # a fresh worker
    assert len(records) == 4000 and store.count() == 4000 and st.failures == 0
    proc.shutdown()
    svc.executor.shutdown()
    store.close()


def test_two_processes_fetching_the_same_feed_into_one_profile_store_each_item_once(tmp_path):
    f = tmp_path / "feed.xml"
    f.write_text(feed(300), encoding="utf-8")
    profile = tmp_path / "profile"
    runs = [kestrel("news", "fetch", "--source", f.as_uri(), "--profile", str(profile)) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in runs]
    assert all(p.returncode == 0 for p in runs), outs
    new = sorted(int(out.split(": ", 1)[1].split(" new")[0]) for out, _err in outs)
    assert sum(new) == 300, outs  # between them, each item once
    store = NewsStore(profile / "kestrel.db")
    assert store.count() == 300
    assert store.conn.execute("SELECT count(DISTINCT url) FROM news_items").fetchone()[0] == 300
    store.close()


def test_a_fetch_killed_mid_write_leaves_no_half_stored_batch(tmp_path):
    import sqlite3

    f = tmp_path / "feed.xml"
    f.write_text(feed(6000), encoding="utf-8")
    profile = tmp_path / "profile"
    profile.mkdir()
    NewsStore(profile / "kestrel.db").close()  # the tables exist before the fetch, so the watcher can count
    p = kestrel("news", "fetch", "--source", f.as_uri(), "--profile", str(profile))
    conn = sqlite3.connect(profile / "kestrel.db", timeout=5)
    deadline = time.monotonic() + 60
    seen = 0
    while time.monotonic() < deadline and p.poll() is None:
        seen = conn.execute("SELECT count(*) FROM news_items").fetchone()[0]
        if seen:  # it is writing: kill it now
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    p.wait(timeout=30)
    conn.close()
    assert p.returncode == -signal.SIGKILL and 0 < seen < 6000, (p.returncode, seen)
    store = NewsStore(profile / "kestrel.db")
    n = store.count()
    assert 0 < n < 6000 and n % 50 == 0, n  # whole chunks of 50 (one transaction each), never part of one
    assert store.conn.execute("SELECT count(*) FROM news_symbols WHERE item_id NOT IN "
                              "(SELECT id FROM news_items)").fetchone()[0] == 0
    store.close()
    done = kestrel("news", "fetch", "--source", f.as_uri(), "--profile", str(profile))
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert f"{6000 - n} new of 6000 ({n} duplicates" in out  # the rest arrived, nothing twice
    store = NewsStore(profile / "kestrel.db")
    assert store.count() == 6000
    store.close()
