"""The command line as a user runs it: real processes, real profile folders."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_QT = """
import sys
class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'qasync'):
            raise ImportError(f'Qt is blocked in this test: {name}')
sys.meta_path.insert(0, BlockQt())
"""


def run(args: list[str], timeout: float = 120, code: str | None = None, **env) -> subprocess.CompletedProcess:
    e = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "main.py", *args]
    return subprocess.run(cmd, cwd=ROOT, env=e, capture_output=True, text=True, timeout=timeout)


def test_self_test_passes_every_step(tmp_path):
    r = run(["--self-test", "--profile", str(tmp_path / "p")])
    assert r.returncode == 0, r.stdout + r.stderr
    steps = ("window", "feed", "chart", "ticket order", "fill", "position", "kill switch", "reset",
             "indicator dialog", "strategies", "backtest", "sweep", "venues", "data", "alerts", "news",
             "model training",
             "audit", "indicators", "ML inference", "plugins", "user plugin", "worker process", "venue libraries",
             "secrets")
    reported = [m.group(1) for m in re.finditer(r"^ok   (.+?)\s+[\d.]+ ms ", r.stdout, re.MULTILINE)]
    assert reported == list(steps), r.stdout  # every step, in order, each ok
    assert "numba cache" in r.stdout
    assert not (tmp_path / "p" / "plugins" / "kestrel_selftest_probe.py").exists()
    assert "self-test passed" in r.stdout


def test_self_test_names_the_failing_step_and_exits_nonzero(tmp_path):
    prof = tmp_path / "p"
    prof.mkdir()
    (prof / "kestrel.db").write_bytes(b"not a database at all" * 40)
    r = run(["--self-test", "--profile", str(prof)])
    assert r.returncode == 1
    assert "FAIL start" in r.stdout and "not a SQLite file" in r.stdout


def test_headless_runs_the_engine_without_importing_qt(tmp_path):
    code = BLOCK_QT + f"""
from app.cli import main
rc = main(['run', '--headless', '--duration', '2', '--profile', {str(tmp_path / 'p')!r}])
loaded = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'qasync')]
assert not loaded, loaded
sys.exit(rc)
"""
    r = run([], code=code)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stopped:" in r.stdout and "trades" in r.stdout


def test_every_engine_module_imports_with_qt_unavailable():
    code = BLOCK_QT + """
import importlib, pkgutil, app.engine
for m in pkgutil.walk_packages(app.engine.__path__, 'app.engine.'):
    importlib.import_module(m.name)
print('ok')
"""
    r = run([], code=code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_corrupt_database_at_start_gives_a_clear_message_and_is_not_touched(tmp_path):
    prof = tmp_path / "p"
    prof.mkdir()
    db = prof / "kestrel.db"
    junk = b"\x00garbage" * 500
    db.write_bytes(junk)
    for args in (["--profile", str(prof)], ["run", "--headless", "--duration", "1", "--profile", str(prof)]):
        r = run(args)
        assert r.returncode == 2
        assert "not a SQLite file" in r.stderr and "untouched" in r.stderr
        assert "Traceback" not in r.stderr
    assert db.read_bytes() == junk


def test_invalid_settings_are_named_and_the_file_is_kept(tmp_path):
    prof = tmp_path / "p"
    prof.mkdir()
    bad = '{"risk": {"max_notional_manual": -5}, "sim": {"latency_ms": "fast"}}'
    (prof / "settings.json").write_text(bad)
    r = run(["run", "--headless", "--duration", "1", "--profile", str(prof)])
    assert r.returncode == 2
    assert "risk.max_notional_manual" in r.stderr and "sim.latency_ms" in r.stderr
    assert (prof / "settings.json").read_text() == bad


def test_kill_latch_survives_a_hard_kill(tmp_path):
    """HALTED engaged, then the process is killed with SIGKILL: the next start is still HALTED."""
    prof = tmp_path / "p"
    code = f"""
import os, signal
from pathlib import Path
from app.config import load_settings
from app.engine.kernel import Kernel
k = Kernel(Path({str(prof)!r}), load_settings(Path({str(prof)!r})))
k.start()
k.risk.halt('test', actor='test')
os.kill(os.getpid(), signal.SIGKILL)
"""
    r = run([], code=code)
    assert r.returncode == -9
    r = run(["run", "--headless", "--duration", "0.5", "--profile", str(prof)])
    assert r.returncode == 0 and "trading state HALTED" in r.stdout


def test_a_second_terminal_on_the_same_profile_is_refused_but_risk_commands_work(tmp_path):
    prof = tmp_path / "p"
    first = subprocess.Popen([sys.executable, "main.py", "run", "--headless", "--duration", "20", "--profile",
                              str(prof)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "trading state ACTIVE" in first.stdout.readline()
        second = run(["run", "--headless", "--duration", "1", "--profile", str(prof)])
        assert second.returncode == 2 and "Another Kestrel terminal is running" in second.stderr
        gui = run(["--profile", str(prof)])
        assert gui.returncode == 2 and "Another Kestrel terminal is running" in gui.stderr
        assert run(["risk", "status", "--profile", str(prof)]).returncode == 0
    finally:
        first.kill()
        first.wait(10)
    again = run(["run", "--headless", "--duration", "0.5", "--profile", str(prof)])  # killed: no stale lock
    assert again.returncode == 0, again.stderr


def test_output_cut_short_by_a_pipe_is_not_an_error(tmp_path):
    """`kestrel plugins list | head -1`: the reader goes away; no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "plugins", "list", "--profile", str(tmp_path / "p")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert proc.returncode == 0 and "Traceback" not in err and "BrokenPipeError" not in err, err


def test_headless_starts_the_strategies_it_is_given_and_refuses_them_while_halted(tmp_path):
    prof = tmp_path / "p"

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli", "run", "--headless", "--duration", "2",
                               "--profile", str(prof), *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)

    r = run("--strategy", "sma_cross:fast=5,slow=20", "--strategy", "rsi_reversion:symbol=ETH/USDT")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "strategy sma_cross: RUNNING {'symbol': 'BTC/USDT@sim', 'fast': 5, 'slow': 20" in r.stdout
    assert "strategy rsi_reversion: RUNNING {'symbol': 'ETH/USDT@sim'" in r.stdout
    halt = subprocess.run([sys.executable, "-m", "app.cli", "risk", "halt", "--reason", "desk", "--profile",
                           str(prof)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert halt.returncode == 0
    r = run("--strategy", "sma_cross")  # the saved instance, its parameters kept
    assert r.returncode == 0 and "strategy sma_cross: not started: trading is HALTED (desk)" in r.stdout
    bad = run("--strategy", "sma_cross:fast=zero")
    assert bad.returncode == 2 and "fast" in bad.stderr and "Traceback" not in bad.stderr


def test_building_the_command_line_imports_no_heavy_library():
    """Every `kestrel ...` parses its arguments first, `kestrel risk halt` from a second terminal included: the
    parser (every command group's module) loads no numpy, pandas, Qt, ccxt or akshare."""
    code = """
import sys
from app.cli.main import build_parser
build_parser()
heavy = [m for m in ('numpy', 'pandas', 'PySide6', 'ccxt', 'akshare') if m in sys.modules]
assert not heavy, heavy
print('ok')
"""
    r = run([], code=code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
