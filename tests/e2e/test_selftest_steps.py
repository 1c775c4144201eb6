"""``kestrel --self-test`` drives every dock and dialog of the shown window as a person does (issue 16): run
as a user runs it, in a real process, on a trader's profile, with only what the plain install has.

The self-test may run on a trader's own profile (``--profile``): it must pass there twice in a row and leave
the profile as it found it (their strategies, chart, venues and models; nothing of its own). A step that
fails is named with the reason a person can act on, and what the steps added is still taken back."""
from __future__ import annotations

import ast
import importlib.metadata as metadata
import json
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

DOCK_STEPS = ("kill switch", "reset", "indicator dialog", "strategies", "backtest", "sweep", "venues",
              "data", "alerts", "news", "model training")
TRADER_CHART = {"symbol": "ETH/USDT@sim", "timeframe": "5m", "log": False,
                "indicators": [{"name": "sma", "params": {"timeperiod": 33}}]}
TRADER_STRATEGY = {"instance": "sma_cross-1", "plugin": "sma_cross",
                   "params": {"symbol": "ETH/USDT@sim", "fast": 7, "slow": 30, "stop_loss_pct": 0.0,
                              "take_profit_pct": 0.0}}  # (its protection, off: plugin API 1.2)

SITECUSTOMIZE = '''import json, os, sys


class NotInThePlainInstall:
    """What only the dev extras (or nothing in pyproject) bring is absent, as after `pip install -e .`; so
    are the Qt modules the installers leave out of the bundle."""
    blocked = set(json.loads(os.environ["KESTREL_TEST_BLOCKED"]))

    def find_spec(self, name, path=None, target=None):
        if name in self.blocked or name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the plain install)", name=name)


sys.meta_path.insert(0, NotInThePlainInstall())
'''


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def modules_outside_the_plain_install() -> list[str]:
    """Top-level modules installed here that no distribution of pyproject's ``dependencies`` (followed
    through their own requirements) provides: the dev extras and what they pulled in."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(project["name"]), "pip", "setuptools"}  # the project itself; a venv's own tools
    todo = [Requirement(r) for r in project["dependencies"]]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = _norm(req.name)
        if name in wanted:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        wanted.add(name)
        todo += [Requirement(r) for r in requires]
    return sorted(module for module, dists in metadata.packages_distributions().items()
                  if not any(_norm(d) in wanted for d in dists))


def qt_modules_outside_the_bundle() -> list[str]:
    """The PySide6 modules packaging/kestrel.spec leaves out of the installed program (QtTest among them)."""
    import PySide6

    spec = (ROOT / "packaging" / "kestrel.spec").read_text()
    bundled = ast.literal_eval(re.search(r"^QT_MODULES = (\(.*?\))", spec, re.MULTILINE | re.DOTALL).group(1))
    installed = {p.name.split(".")[0] for p in Path(PySide6.__file__).parent.iterdir() if p.name.startswith("Qt")
                 and p.suffix in (".so", ".pyd")}
    return sorted(f"PySide6.{m}" for m in installed - set(bundled))


def self_test(profile: Path, tmp_path: Path, plain: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if plain:
        site = tmp_path / "plain-install"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])  # the spawned workers get it too
        env["KESTREL_TEST_BLOCKED"] = json.dumps(modules_outside_the_plain_install()
                                                 + qt_modules_outside_the_bundle())
    return subprocess.run([sys.executable, "main.py", "--self-test", "--profile", str(profile)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def traders_profile(profile: Path) -> None:
    """A profile in use, set up in the window: a chart on ETH/USDT 5m with an SMA, a strategy instance, a
    saved (disabled) venue, and the Strategies, Models and Venues docks closed (the self-test opens them
    from the View menu, as a person would, and puts the layout back)."""
    from app.bootstrap import build, create_app
    from app.engine.core.store import Store
    from app.engine.venues.venue_config import parse_config, save_config

    profile.mkdir()
    store = Store(profile / "kestrel.db")
    store.set_setting("ui.charts", {"main": TRADER_CHART, "docks": []})
    store.close()
    from app.engine.data.bar_store import BarStore
    from app.engine.data.bars import Bars

    ts = 1_700_000_040_000 + 60_000 * np.arange(500)  # the trader's stored history: left as it was
    BarStore(profile).write("binance", "SOL/USDT", 60_000, Bars.from_arrays(ts, *[np.full(500, 20.0)] * 5))
    save_config(profile, parse_config({"name": "binance", "exchange": "binance", "symbols": ["SOL/USDT"],
                                       "enabled": False}))
    create_app()
    kernel, window = build(profile)
    window.show()
    kernel.strategies.load(TRADER_STRATEGY["plugin"], TRADER_STRATEGY["instance"], TRADER_STRATEGY["params"])
    for dock in (window.docks["strategies"], window.docks["ml"], window.venues_dock):
        dock.close()
    window.close()
    kernel.close()


def what_the_trader_has(profile: Path) -> dict:
    from app.engine.data.bar_store import BarStore

    db = sqlite3.connect(profile / "kestrel.db")
    try:
        settings = dict(db.execute("SELECT key, value FROM settings"))
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        models = db.execute("SELECT name, version FROM ml_models").fetchall() if "ml_models" in tables else []
    finally:
        db.close()
    return {"chart": json.loads(settings["ui.charts"])["main"], "strategies": json.loads(settings["strategies"]),
            "strategy state": sorted(k for k in settings if k.startswith("strategy_state.")),
            "layout": {k: settings.get(k) for k in ("ui.geometry", "ui.window_state")},
            "models": models, "model files": sorted(p.name for p in (profile / "models").glob("*")),
            "venues": sorted(p.name for p in (profile / "venues").glob("*")),
            "plugins": sorted(p.name for p in (profile / "plugins").glob("*")),
            "bars": [(i.venue, i.symbol, i.timeframe_ms, i.bars) for i in BarStore(profile).series()]}


def ok_steps(out: str) -> dict[str, str]:
    """{step: its detail} for every step reported ok."""
    steps = {}
    for line in out.splitlines():
        m = re.match(r"ok   (.+?)\s+[\d.]+ ms  (.*)", line)
        if m:
            steps[m.group(1)] = m.group(2)
    return steps


def test_twice_on_a_traders_profile_on_the_plain_install_every_dock_driven_and_the_profile_left_as_found(
        qapp, tmp_path):
    profile = tmp_path / "trader"
    traders_profile(profile)
    before = what_the_trader_has(profile)
    assert before["chart"] == TRADER_CHART and before["strategies"] == [TRADER_STRATEGY]
    assert before["layout"]["ui.window_state"] and before["venues"] == ["binance.json"]
    assert before["bars"] == [("binance", "SOL/USDT", 60_000, 500)]
    for run in (1, 2):
        r = self_test(profile, tmp_path, plain=True)
        assert r.returncode == 0, f"run {run}:\n{r.stdout}\n{r.stderr}"
        steps = ok_steps(r.stdout)
        for step in DOCK_STEPS:
            assert step in steps, f"run {run}: {step}\n{r.stdout}"
        assert steps["kill switch"].startswith("tool bar button: HALTED persisted and shown")
        assert "no reason refused ('Nothing was reset')" in steps["reset"]
        assert "EMA(13) drawn" in steps["indicator dialog"] and "chart as before" in steps["indicator dialog"]
        # the trader's own sma_cross-1 is left alone: the self-test's instance is the next free name
        assert steps["strategies"] == "sma_cross-2: loaded, fast=8 applied, started, stopped, removed"
        assert re.search(r"\d+ trades, equity [\d,.]+; equity curve drawn", steps["backtest"])
        assert steps["sweep"].startswith("best total_return ") and steps["sweep"].endswith("dialog closed")
        assert "sim listed (connected)" in steps["venues"] and "fits 1366x768; canceled, nothing saved" in steps[
            "venues"]
        assert re.search(r"^alert \d+ set from New… on \S+@sim above [\d,.]+, listed, its line on the chart; "
                         r"dialog .* fits 1366x768; deleted after asking$", steps["alerts"]), steps["alerts"]
        assert re.search(r"^linear-h5 v1 trained in its worker within [\d.]+ s of Train .* deleted again$",
                         steps["model training"])
        assert "self-test passed" in r.stdout and "FAIL" not in r.stdout
        assert what_the_trader_has(profile) == before, f"run {run} changed the profile"
    # the first report of lost fills: a second self-test on one profile saw "duplicate fill ignored"
    assert "duplicate fill ignored" not in (profile / "logs" / "kestrel.log").read_text()


def test_a_step_that_fails_is_named_with_its_reason_and_the_steps_are_still_undone(tmp_path):
    """The profile's models folder is a file: the Models dock's training cannot be saved. The self-test says
    so (it used to report the dock's last progress message), and exits 1; what the earlier dock steps did is
    gone from the profile all the same."""
    profile = tmp_path / "p"
    profile.mkdir()
    (profile / "models").write_text("not a folder")
    r = self_test(profile, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    fail = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
    assert fail == [f"FAIL model training: training ended with: trained, but not saved: {profile / 'models'} "
                    f"cannot hold models (it is a file, not a folder). Make it a writable folder and train "
                    f"again."], r.stdout
    steps = ok_steps(r.stdout)
    assert set(DOCK_STEPS) - set(steps) == {"model training"}
    assert "audit" not in steps  # the run ends at the first failure
    assert "self-test FAILED" in r.stdout
    has = what_the_trader_has(profile)
    assert has["strategies"] == [] and has["strategy state"] == [] and has["models"] == []
    assert has["venues"] == [] and has["plugins"] == []
    assert (profile / "models").read_text() == "not a folder"
