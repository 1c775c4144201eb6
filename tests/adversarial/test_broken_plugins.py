"""Every kind of broken plugin an adversary (or a tired quant) writes: each faults that strategy only, with the
reason a person reads, and the terminal goes on trading. A loop the watchdog cannot interrupt leaves the
terminal visibly unresponsive from outside (``kestrel risk status``).

Before: ``feed_bar`` called ``on_bar`` outside the watchdog (``while True: pass`` froze the terminal forever,
SIGTERM ignored); the watchdog's interrupt derived from ``Exception`` (a plugin's ``except Exception``
swallowed it); ``sys.exit()`` or ``KeyboardInterrupt`` inside a callback ended the whole terminal."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.engine.core.heartbeat import read_status
from app.engine.core.messages import OrderType, Side
from app.engine.strategy.runner import StrategyStatus
from tests.kit.kernel import advance
from tests.kit.terminal import wait_for_beats
from tests.kit.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
HEADER = "import sys\nfrom app.api import Strategy, Param\n"


def plugin(profile: Path, name: str, body: str) -> None:
    folder = profile / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(HEADER + textwrap.dedent(body))


def strategy(name: str, method: str, code: str) -> str:
    """A plugin class ``name`` whose ``method`` runs ``code`` (indented in the method's body)."""
    args = {"on_bar": "bar", "on_tick": "tick", "on_start": "", "__init__": ""}[method]
    body = textwrap.indent(textwrap.dedent(code).strip(), " " * 8)
    return (f"class S(Strategy):\n    name = {name!r}\n    def {method}(self{', ' + args if args else ''}):\n"
            f"{body}\n")


BROKEN = {
    "loop_in_on_bar": ("on_bar", "while True:\n    pass", "watchdog"),
    "loop_swallowing_exception": ("on_tick", "while True:\n    try:\n        sum(range(1000))\n"
                                  "    except Exception:\n        pass", "watchdog"),
    "sys_exit_in_on_tick": ("on_tick", "sys.exit(3)", "SystemExit"),
    "keyboard_interrupt_in_on_bar": ("on_bar", "raise KeyboardInterrupt", "KeyboardInterrupt"),
    "loop_in_constructor": ("__init__", "super().__init__()\nwhile True:\n    pass", "could not be created"),
    "exit_in_on_start": ("on_start", "raise SystemExit('bye')", "SystemExit"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_plugin_faults_only_itself_and_the_terminal_keeps_trading(make_kernel, profile, kind):
    method, code, expected = BROKEN[kind]
    plugin(profile, kind, strategy(kind, method, code))
    k = make_kernel()
    k.strategies.host.watchdog_s = 0.3
    k.strategies.load(kind, "bad", {"symbol": "BTC/USDT"})
    t0 = time.monotonic()
    k.strategies.start("bad")
    advance(k, 61_000, step=500)  # a bar closes (60 s bars), ticks flow
    bad = k.strategies.runners["bad"]
    assert bad.status is StrategyStatus.FAULTED, (bad.status, bad.reason)
    assert expected in bad.reason
    assert time.monotonic() - t0 < 20
    cid = k.submit("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01)  # the terminal still trades
    advance(k, 200)
    assert k.execution.orders[cid].status.value == "FILLED"


def test_a_plugin_that_loops_at_import_is_listed_broken(make_kernel, profile):
    k = make_kernel()
    plugin(profile, "hangs_at_import", "while True:\n    pass\n")
    k.strategies.host.import_limit_s = 0.5
    t0 = time.monotonic()
    infos = {i.name: i for i in k.strategies.rescan()}
    assert time.monotonic() - t0 < 10
    assert "interrupted" in infos["hangs_at_import"].error
    assert infos["sma_cross"].ok  # the others still load


@pytest.mark.parametrize("scope", ["global", "own"])
def test_a_strategy_cannot_be_started_while_halted(make_kernel, scope):
    k = make_kernel()
    runner = k.strategies.load("sma_cross", "s1", {"symbol": "BTC/USDT"})
    if scope == "global":
        k.risk.halt("desk says stop")
    else:
        k.risk.halt_strategy("s1", "too many rejects")
    assert k.strategies.start("s1") is False
    assert runner.status is StrategyStatus.STOPPED
    assert "HALTED" in runner.reason and ("desk says stop" in runner.reason or "too many rejects" in runner.reason)
    k.risk.reset("checked", actor="manual", scope="global" if scope == "global" else "strategy:s1")
    assert k.strategies.start("s1") is True and runner.status is StrategyStatus.RUNNING


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def headless(profile: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "run", "--headless", "--profile", str(profile),
                             *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 30) -> str:
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        line = proc.stdout.readline()
        seen.append(line)
        if text in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} not printed; got: {''.join(seen)}")


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_sigterm_closes_a_terminal_whose_plugin_loops_in_on_bar(tmp_path):
    """The loop is in on_bar (the path that escaped the watchdog): the watchdog interrupts it, the loop
    resumes and SIGTERM closes the terminal cleanly."""
    prof = tmp_path / "p"
    (prof / "plugins").mkdir(parents=True)
    (prof / "plugins" / "spin.py").write_text(HEADER + strategy("spin", "on_bar", "while True:\n    pass"))
    (prof / "settings.json").write_text('{"ui": {"chart_timeframe_s": 1}}')
    proc = headless(prof, "--strategy", "spin:symbol=BTC/USDT")
    try:
        wait_for_line(proc, "strategy spin: RUNNING")
        # bars close every second: on_bar is entered and spins until the watchdog (2 s) interrupts it
        log = prof / "logs" / "kestrel.log"
        wait_until(lambda: "FAULTED" in log.read_text(), 30, "the watchdog to interrupt on_bar")
        wait_for_beats(prof, 1)  # the loop resumed
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    log = (prof / "logs" / "kestrel.log").read_text()
    assert "interrupting it" in log and "FAULTED" in log
    assert "SIGTERM received" in log and "closed: profile" in log


@pytest.mark.skipif(os.name == "nt", reason="kill -9")
def test_an_uninterruptible_plugin_shows_as_unresponsive_to_the_cli(tmp_path):
    """A loop that catches BaseException cannot be interrupted from Python. The heartbeat stops, so a person
    running ``kestrel risk status`` / ``halt`` beside it is told the halt is not being acted on."""
    prof = tmp_path / "p"
    (prof / "plugins").mkdir(parents=True)
    code = ("if time.monotonic() - T0 < 3:\n    return\n"  # responsive for 3 s, then stuck for good
            "while True:\n    try:\n        sum(range(1000))\n    except BaseException:\n        pass")
    (prof / "plugins" / "stubborn.py").write_text(HEADER + "import time\nT0 = time.monotonic()\n"
                                                   + strategy("stubborn", "on_tick", code))
    proc = headless(prof, "--strategy", "stubborn:symbol=BTC/USDT")
    try:
        wait_for_line(proc, "strategy stubborn: RUNNING")
        before = cli("risk", "status", "--profile", str(prof))
        # stuck from ~3 s after the start: its heartbeat stops
        wait_until(lambda: read_status(prof).unresponsive, 30, "its heartbeat to go stale", interval=0.1)
        status = cli("risk", "status", "--profile", str(prof))
        halt = cli("risk", "halt", "--reason", "desk", "--profile", str(prof))
    finally:
        proc.kill()
        proc.wait(10)
    assert "running" in before.stdout and "UNRESPONSIVE" not in before.stdout
    assert status.returncode == 0 and "UNRESPONSIVE for" in status.stdout and f"kill -9 {proc.pid}" in status.stdout
    assert halt.returncode == 0 and "has not acted on this" in halt.stdout and "UNRESPONSIVE" in halt.stdout
    after = cli("risk", "status", "--profile", str(prof))
    assert "HALTED" in after.stdout and "none running" in after.stdout  # the latch held for the next start
