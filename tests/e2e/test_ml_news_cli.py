"""``kestrel ml train --features`` with news features: the symbol's stored news is read through
``app.cli.ml._news_series`` (``NewsStore(db).series(symbol, scorer)``); without a news store the command says
what to run first. The news store lives in another module: a stand-in with its API is put in its place."""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from app.cli.main import main
from app.cli.ml import NoNews, _news_series
from tests.e2e.test_ml_cli import kestrel
from tests.kit.series import write_generated_bars

NEWS = "news.sentiment:30m,news.count:30m,news.surprise:30m"


@pytest.fixture(scope="module")
def bar_file(tmp_path_factory):
    return write_generated_bars(tmp_path_factory.mktemp("data") / "GEN.csv", n=1500, seed=5)


@pytest.fixture
def news_store(monkeypatch):
    """``app.engine.news.store.NewsStore`` as it will be: ``series(symbol, scorer)`` -> (int64, float64)."""
    calls = []

    class NewsStore:
        def __init__(self, db_path):
            self.db_path = db_path

        def series(self, symbol: str, scorer: str = "lexicon"):
            calls.append((self.db_path, symbol, scorer))
            if symbol != "GEN":
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
            rng = np.random.default_rng(1)
            t0 = 1_700_000_000_000
            arrived = np.sort(rng.integers(t0 - 3_600_000, t0 + 1500 * 60_000, 800)).astype(np.int64)
            return arrived, np.tanh(rng.standard_normal(800))

    module = types.ModuleType("app.engine.news.store")
    module.NewsStore = NewsStore
    monkeypatch.setitem(sys.modules, "app.engine.news.store", module)
    return calls


def test_no_news_store_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "app.engine.news.store", None)  # import fails, as in this branch
    with pytest.raises(NoNews, match=r"no news stored for GEN in this profile: run `kestrel news fetch` first"):
        _news_series(tmp_path, "GEN")


def test_the_hook_reads_the_profile_database(tmp_path, news_store):
    with pytest.raises(NoNews, match="no news stored for GEN"):
        _news_series(tmp_path, "GEN")  # no kestrel.db in the profile
    (tmp_path / "kestrel.db").touch()
    s = _news_series(tmp_path, "GEN")
    assert len(s) == 800 and news_store[-1] == (tmp_path / "kestrel.db", "GEN", "lexicon")
    with pytest.raises(NoNews, match="no news stored for OTHER"):
        _news_series(tmp_path, "OTHER")


def test_train_with_news_features_registers_a_model_that_lists_them(tmp_path, bar_file, news_store, capsys):
    prof = tmp_path / "p"  # the command opens (creates) the profile's kestrel.db before reading news
    out = tmp_path / "manifest.json"
    rc = main(["ml", "train", "--profile", str(prof), "--data", str(bar_file), "--horizon", "3", "--small",
               "--splits", "2", "--no-backtest", "--features", NEWS, "--json", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    m = json.loads(out.read_text())
    assert m["news"]["features"] == ["news.sentiment(30m)", "news.count(30m)", "news.surprise(30m,20)"]
    assert news_store[-1][1:] == ("GEN", "lexicon")


def test_news_features_without_news_or_with_bad_text_exit_2(tmp_path, bar_file):
    prof = tmp_path / "p"
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--features", "news.sentiment:1h")
    assert r.returncode == 2 and "no news stored for GEN in this profile: run `kestrel news fetch` first" in r.stderr
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--news-symbol", "600519",
                "--features", "news.sentiment:1h")
    assert r.returncode == 2 and "no news stored for 600519" in r.stderr
    r = kestrel("ml", "train", "--profile", str(prof), "--data", str(bar_file), "--features", "news.mood:1h")
    assert r.returncode == 2 and "news feature 'news.mood:1h'" in r.stderr and "Traceback" not in r.stderr
