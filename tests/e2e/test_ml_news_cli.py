"""``kestrel ml train --features`` with news features: the symbol's stored news is read from the profile's
``kestrel.db`` (``NewsStore.series`` under the symbol's news key); without any, the command says what to run
first."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli.main import main
from app.cli.ml import NoNews, _news_series
from app.engine.news.store import NewsItem, NewsStore
from tests.e2e.test_ml_cli import kestrel
from tests.kit.series import write_generated_bars

NEWS = "news.sentiment:30m,news.count:30m,news.surprise:30m"


@pytest.fixture(scope="module")
def bar_file(tmp_path_factory):
    return write_generated_bars(tmp_path_factory.mktemp("data") / "GEN.csv", n=1500, seed=5)


def store_news(profile, n: int = 800) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scored items about GEN in the profile's database, arriving over the bar file's span (one poll each)."""
    profile.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    t0 = 1_700_000_000_000
    arrived = np.sort(rng.integers(t0 - 3_600_000, t0 + 1500 * 60_000, n)).astype(np.int64)
    score = np.tanh(rng.standard_normal(n))
    store = NewsStore(profile / "kestrel.db")
    for i, (t, s) in enumerate(zip(arrived.tolist(), score.tolist())):
        store.add([NewsItem("desk", "news", f"item {i}", url=f"https://n.invalid/{i}", symbols=(("GEN", "code"),),
                            scores=(("lexicon", s),))], t)
    store.close()
    return arrived, score


def test_no_news_says_what_to_run(tmp_path):
    with pytest.raises(NoNews, match=r"no news stored for GEN in this profile: run `kestrel news fetch` first"):
        _news_series(tmp_path, "GEN")  # no kestrel.db in the profile


def test_the_hook_reads_the_profile_database_under_the_news_key(tmp_path):
    arrived, score = store_news(tmp_path)
    s = _news_series(tmp_path, "GEN")
    assert len(s) == 800 and np.array_equal(s.arrived_ms, arrived) and np.allclose(s.score, score)
    with pytest.raises(NoNews, match=r"no news stored for BTC/USDT@binance \(BTC\)"):
        _news_series(tmp_path, "BTC/USDT@binance")


def test_train_with_news_features_registers_a_model_that_lists_them(tmp_path, bar_file, capsys):
    prof = tmp_path / "p"
    store_news(prof)
    out = tmp_path / "manifest.json"
    rc = main(["ml", "train", "--profile", str(prof), "--data", str(bar_file), "--horizon", "3", "--small",
               "--splits", "2", "--no-backtest", "--features", NEWS, "--json", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    m = json.loads(out.read_text())
    assert m["news"]["features"] == ["news.sentiment(30m)", "news.count(30m)", "news.surprise(30m,20)"]
    assert m["news"]["scorer"] == "lexicon"


def test_news_features_without_news_or_with_bad_text_exit_2(tmp_path, bar_file):
    prof = tmp_path / "p"
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--features", "news.sentiment:1h")
    assert r.returncode == 2 and "no news stored for GEN in this profile: run `kestrel news fetch` first" in r.stderr
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--news-symbol", "600519",
                "--features", "news.sentiment:1h")
    assert r.returncode == 2 and "no news stored for 600519 (600519.SH)" in r.stderr
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--features", "news.mood:1h")
    assert r.returncode == 2 and "news feature 'news.mood:1h'" in r.stderr and "Traceback" not in r.stderr
