"""The bad-file matrix: every command that reads a file, against every kind of bad file an adversary (or an
accident) leaves there. Each case must exit 2 (the documented "bad input" code of every command here,
``audit verify``'s "cannot check" included) with one line that names the file and says what is wrong, and
never a traceback.

Speed: the ~90 cases run in ONE child process (``python -m`` semantics: ``app.cli.main(argv)`` with stdout and
stderr captured, an escaping exception printed as the interpreter would, ``SystemExit`` as the exit code), so
the matrix costs one interpreter start and one import of the libraries, not ninety. The one-process-per-run
path is exercised by tests/e2e/test_bad_input_cli.py.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_040_000
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------------------------------- bad data files
def _bar_rows(n: int = 400) -> list[list[str]]:
    rows, price = [], 100.0
    for i in range(n):
        step = 0.4 if (i * 7919) % 13 < 7 else -0.35
        o, c = price, price + step
        rows.append([str(T0 + 60_000 * i), f"{o:.2f}", f"{max(o, c) + 0.1:.2f}", f"{min(o, c) - 0.1:.2f}",
                     f"{c:.2f}", "5"])
        price = c
    return rows


def _trade_rows(n: int = 400) -> list[list[str]]:
    return [[str(T0 + 1_000 * i), f"{100 + (i % 17) * 0.1:.2f}", "1.5"] for i in range(n)]


def _csv(header: str, rows: list[list[str]]) -> bytes:
    return (header + "\n" + "\n".join(",".join(r) for r in rows) + "\n").encode()


def _edit(rows: list[list[str]], row: int, col: int, value: str) -> list[list[str]]:
    out = [list(r) for r in rows]
    out[row][col] = value
    return out


def data_files(folder: Path, kind: str) -> dict[str, Path]:
    """Bad bar files (``kind="bars"``) or trade files (``"trades"``), by case name."""
    if kind == "bars":
        header, rows, price_col = "timestamp,open,high,low,close,volume", _bar_rows(), 4
    else:
        header, rows, price_col = "timestamp,price,amount", _trade_rows(), 1
    swapped = [list(r) for r in rows]
    swapped[10], swapped[11] = swapped[11], swapped[10]
    duplicate = _edit(rows, 12, 0, rows[11][0])
    contents = {
        "empty": b"",
        "binary-garbage": bytes((i * 131 + 7) % 256 for i in range(4096)),
        "wrong-columns": _csv("when,bid,ask", [["1", "2", "3"]] * 20),
        "header-only": _csv(header, []),
        "nan": _csv(header, _edit(rows, 7, price_col, "nan")),
        "not-a-number": _csv(header, _edit(rows, 7, price_col, "12.5.3")),
        "unsorted": _csv(header, swapped),
        "duplicate-timestamps": _csv(header, duplicate),
        "huge-number": _csv(header, _edit(rows, 9, price_col, "1e400")),
        "huge-timestamp": _csv(header, _edit(rows, 9, 0, "99999999999999999999")),
        "fractional-timestamp": _csv(header, _edit(rows, 9, 0, rows[9][0] + ".5")),
        "negative": _csv(header, _edit(rows, 9, price_col if kind == "bars" else 2, "-1")),
    }
    folder.mkdir(parents=True, exist_ok=True)
    files = {"missing": folder / "no-such-file.csv", "folder": folder / "a-folder.csv"}
    files["folder"].mkdir()
    for name, data in contents.items():
        path = folder / f"{name}.csv"
        path.write_bytes(data)
        files[name] = path
    return files


DATA_COMMANDS = {
    "backtest": ("bars", ["backtest", "--strategy", "sma_cross"]),
    "backtest-ticks": ("trades", ["backtest", "--strategy", "sma_cross", "--ticks"]),
    "sweep": ("bars", ["sweep", "--strategy", "sma_cross", "--grid", "fast=5:10:5,slow=20:30:10"]),
    "ml-train": ("bars", ["ml", "train", "--small", "--no-backtest"]),
}
DATA_CASES = ["missing", "folder", "empty", "binary-garbage", "wrong-columns", "header-only", "nan",
              "not-a-number", "unsorted", "duplicate-timestamps", "huge-number", "huge-timestamp",
              "fractional-timestamp", "negative"]



def _data_cases(kind: str) -> list[str]:
    """Several trades in one millisecond are real market data, not a bad file."""
    return [c for c in DATA_CASES if not (kind == "trades" and c == "duplicate-timestamps")]


# ----------------------------------------------------------------------------------------- bad profiles
def _profile(folder: Path, case: str) -> Path:
    prof = folder / case
    prof.mkdir(parents=True)
    db = prof / "kestrel.db"
    if case == "db-not-sqlite":
        db.write_bytes(b"this is not a database, it is a shopping list\n" * 50)
    elif case == "db-empty":
        db.write_bytes(b"")
    elif case == "db-folder":
        db.mkdir()
    elif case == "db-garbage-after-header":
        db.write_bytes(b"SQLite format 3\x00" + bytes((i * 37) % 256 for i in range(8192)))
    elif case == "settings-not-json":
        (prof / "settings.json").write_text('{"risk": {"max_drawdown_pct": 5,')
    elif case == "settings-not-utf8":
        (prof / "settings.json").write_bytes(b"\xff\xfe{\x00}")
    elif case == "settings-bad-values":
        (prof / "settings.json").write_text('{"risk": {"max_drawdown_pct": -1, "price_collar_pct": 1e400}}')
    elif case == "settings-folder":
        (prof / "settings.json").mkdir()
    elif case == "profile-is-a-file":
        prof.rmdir()
        prof.write_text("not a folder")
    return prof


PROFILE_COMMANDS = {
    "audit-verify": ["audit", "verify"],
    "risk-status": ["risk", "status"],
    "risk-halt": ["risk", "halt", "--reason", "matrix"],
    "risk-limits": ["risk", "limits"],
    "risk-set": ["risk", "set", "max_drawdown_pct", "3", "--reason", "matrix"],
    "run-headless": ["run", "--headless", "--duration", "0.2"],
}
DB_CASES = ["db-not-sqlite", "db-empty", "db-folder", "db-garbage-after-header", "profile-is-a-file"]
SETTINGS_CASES = ["settings-not-json", "settings-not-utf8", "settings-bad-values", "settings-folder"]
# The kill switch and the status of the trading states need only the database (defect 3: a broken
# settings.json must never stop a halt), and audit verify never reads settings: these combinations are not
# "bad input" for them, so they are not in this matrix.
SETTINGS_COMMANDS = ["risk-limits", "risk-set", "run-headless"]
WORDS = {"db-folder": "folder", "db-empty": "empty (0 bytes)", "settings-folder": "settings.json",
         "settings-bad-values": "max_drawdown_pct", "profile-is-a-file": "not a folder"}


def _cases(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """case id -> (argv, words the message must contain)."""
    cases: dict[str, tuple[list[str], list[str]]] = {}
    files = {kind: data_files(tmp / kind, kind) for kind in ("bars", "trades")}
    for cmd, (kind, argv) in DATA_COMMANDS.items():
        for case in _data_cases(kind):
            path = files[kind][case]
            cases[f"{cmd}/{case}"] = ([*argv, "--data", str(path), "--profile", str(tmp / "profile-ok")],
                                      [path.name])
    for cmd, argv in PROFILE_COMMANDS.items():
        for case in DB_CASES + [c for c in SETTINGS_CASES if cmd in SETTINGS_COMMANDS]:
            prof = _profile(tmp / cmd, case)
            word = WORDS.get(case, "settings.json" if case.startswith("settings") else "kestrel.db")
            cases[f"{cmd}/{case}"] = ([*argv, "--profile", str(prof)], [word])
    return cases


def _drive(cases: dict[str, list[str]]) -> dict[str, dict]:
    """In the child: run each argv as ``python -m app.cli`` would, one after the other."""
    from app.cli import main

    results = {}
    for case, argv in cases.items():
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - what the interpreter would print, then exit 1
                traceback.print_exc()
                code = 1
        results[case] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
    return results


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("bad-files")
    cases = _cases(tmp)
    (tmp / "cases.json").write_text(json.dumps({k: argv for k, (argv, _) in cases.items()}))
    child = ("import json, sys; sys.path.insert(0, '.'); from tests.adversarial.test_bad_files import _drive; "
             f"json.dump(_drive(json.load(open({str(tmp / 'cases.json')!r}))), open({str(tmp / 'out.json')!r}, 'w'))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", child], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp / "out.json").read_text())
    return {k: {**results[k], "words": words} for k, (_, words) in cases.items()}


ALL = ([f"{c}/{d}" for c, (kind, _) in DATA_COMMANDS.items() for d in _data_cases(kind)]
       + [f"{c}/{d}" for c in PROFILE_COMMANDS for d in DB_CASES]
       + [f"{c}/{d}" for c in SETTINGS_COMMANDS for d in SETTINGS_CASES])


@pytest.mark.parametrize("case", ALL)
def test_bad_file(matrix, case):
    r = matrix[case]
    shown = f"exit {r['code']}\nstdout: {r['stdout']}\nstderr: {r['stderr']}"
    assert "Traceback" not in r["stdout"] + r["stderr"], shown
    assert r["code"] == 2, shown
    lines = [x for x in r["stderr"].splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("kestrel"), shown
    for word in r["words"]:
        assert word in lines[0], shown


@pytest.mark.skipif(IS_ROOT, reason="root can write anywhere: a read-only folder cannot be made here")
@pytest.mark.parametrize("command", list(PROFILE_COMMANDS))
def test_a_read_only_profile_folder(tmp_path, command):
    prof = tmp_path / "ro"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli", *argv, "--profile", str(prof)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    assert run(["run", "--headless", "--duration", "0.2"]).returncode == 0  # a real profile first
    for p in (prof / "logs", prof):
        p.chmod(0o555)
    try:
        proc = run(PROFILE_COMMANDS[command])
    finally:
        for p in (prof, prof / "logs"):
            p.chmod(0o755)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    if command in ("audit-verify", "risk-status", "risk-limits"):
        assert proc.returncode in (0, 2), out  # reading may work; if not, a clear refusal
    else:
        assert proc.returncode == 2, out
    if proc.returncode == 2:
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("kestrel"), out
