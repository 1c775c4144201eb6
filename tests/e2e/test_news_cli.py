"""`kestrel news fetch|list|score|sources` as a trader types them (issue 22, must-have 6): a saved feed fetched
twice stores its items once; list filters by symbol and arrival date; score prints each scorer and language; a
bad source or a bad date is a sentence and exit code 2, not a traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>desk</title>
<item><title>Bitcoin gains as ETF inflows beat forecasts</title><link>https://n.invalid/1</link></item>
<item><title>ETH exchange hacked, losses mount</title><link>https://n.invalid/2</link></item>
<item><title>贵州茅台(600519)净利润同比增长</title><link>https://n.invalid/3</link></item>
<item><title>broken &lt;b&gt;markup</title><link>https://n.invalid/4</link></item>
<item><title></title></item>
</channel></rss>"""


def kestrel(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--profile", str(profile)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_fetch_list_and_score_from_the_command_line(tmp_path):
    feed = tmp_path / "desk.xml"
    feed.write_text(FEED, encoding="utf-8")
    profile = tmp_path / "p"
    r = kestrel("news", "fetch", "--source", feed.as_uri(), profile=profile)
    assert r.returncode == 0, r.stderr
    assert f"{feed.as_uri()}: 4 new of 5 (1 empty skipped, 1 markup removed)" in r.stdout
    again = kestrel("news", "fetch", "--source", feed.as_uri(), profile=profile)
    assert "0 new of 5 (4 duplicates" in again.stdout

    r = kestrel("news", "list", "--symbol", "BTC/USDT", "--json", profile=profile)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["title"] for x in rows] == ["Bitcoin gains as ETF inflows beat forecasts"]
    assert rows[0]["symbols"] == ["BTC"] and rows[0]["score"] > 0 and rows[0]["url"] == "https://n.invalid/1"
    r = kestrel("news", "list", "--symbol", "600519.SH", profile=profile)
    assert "贵州茅台(600519)净利润同比增长" in r.stdout and "+1.00" in r.stdout and "ETH" not in r.stdout
    assert "no news stored since 2999-01-01" in kestrel("news", "list", "--since", "2999-01-01", profile=profile).stdout
    bad = kestrel("news", "list", "--since", "yesterday-ish", profile=profile)
    assert bad.returncode == 2 and "is not a date" in bad.stderr and "Traceback" not in bad.stderr

    r = kestrel("news", "score", "Profits", "beat", "forecasts;", "strong", "gains", profile=profile)
    assert r.returncode == 0 and r.stdout.split()[:3] == ["lexicon", "en", "+1.000"]
    r = kestrel("news", "score", "公司涉嫌财务造假被立案调查", profile=profile)
    name, lang, value = r.stdout.split()[:3]
    assert (name, lang) == ("lexicon", "zh") and float(value) < 0


def test_sources_and_refusals(tmp_path):
    profile = tmp_path / "p"
    r = kestrel("news", "fetch", profile=profile)
    assert r.returncode == 2 and "polls no news sources" in r.stderr
    r = kestrel("news", "fetch", "--source", "bloomberg", profile=profile)
    assert r.returncode == 2 and "is akshare or a feed URL" in r.stderr
    r = kestrel("news", "sources", "--add", "x", "ftp://nope", profile=profile)
    assert r.returncode == 2 and "a feed is an http(s) URL" in r.stderr
    r = kestrel("news", "sources", "--add", "desk", "https://desk.invalid/rss", "--every", "600", profile=profile)
    assert r.returncode == 0 and "added desk" in r.stdout
    r = kestrel("news", "sources", profile=profile)
    assert "desk" in r.stdout and "every 600 s" in r.stdout
    r = kestrel("news", "fetch", "--source", (tmp_path / "missing.xml").as_uri(), profile=profile)
    assert r.returncode == 1 and "FAILED: cannot read" in r.stdout
    assert kestrel("news", "sources", "--remove", "desk", profile=profile).returncode == 0
    assert kestrel("news", "sources", "--remove", "desk", profile=profile).returncode == 2
