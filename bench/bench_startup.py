"""Launch to window shown, and the self-test's wall time, measured from outside the process.

    python bench/bench_startup.py [--repeat 7]
    python bench/bench_startup.py --exe /usr/bin/kestrel [--repeat 7]     the installed (frozen) program

Each run starts ``python main.py`` (or ``--exe``) offscreen in a fresh profile with KESTREL_EXIT_AFTER_SHOWN=1:
the app builds the engine and the window, shows it, and quits once the first event-loop turn after show()
runs. The time is taken by this script from spawn to that line on stdout (interpreter start and all imports
included). The first run warms the OS file cache and is reported separately. Also reported: which heavy
libraries (sklearn, ccxt, akshare, onnxruntime, numba) the GUI start imported — the goal is none.

With ``--exe`` the "first start" runs (window, and self-test) each use a fresh, empty home folder (no profile,
no Numba cache: a trader's first start after installing; the OS file cache is whatever the install left), the
others one shared home whose cache the first self-test filled. ``--json FILE`` writes the raw runs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, median, table

HEAVY = ("sklearn", "ccxt", "akshare", "onnxruntime", "numba")


def launch(extra_env: dict[str, str], args: list[str], marker: str, exe: str | None = None,
           home: str | None = None) -> tuple[float, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra_env}
    if home is not None:
        env = {k: v for k, v in env.items() if not k.startswith(("XDG_", "NUMBA_"))}
        env["HOME"] = home
    cmd = [exe] if exe else [sys.executable, "main.py"]
    with tempfile.TemporaryDirectory() as prof:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*cmd, "--profile", prof, *args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        elapsed = None
        for line in proc.stdout:
            out.append(line)
            if marker in line and elapsed is None:
                elapsed = time.perf_counter() - t0
        proc.wait(600)
        if elapsed is None:
            raise SystemExit(f"no {marker!r} line:\n{''.join(out)}")
        return elapsed, "".join(out)


def heavy_imports() -> list[str]:
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen'; import tempfile; "
            "from app.bootstrap import build, create_app; create_app(); "
            "build(__import__('pathlib').Path(tempfile.mkdtemp())); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    return eval(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else [f"error: {r.stderr[-300:]}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--exe", default=None, help="time this program (e.g. the installed kestrel) instead of main.py")
    ap.add_argument("--cold-repeat", type=int, default=3, help="--exe: first starts, each in an empty home")
    ap.add_argument("--json", default=None, help="write the raw runs here")
    a = ap.parse_args()
    if a.exe:
        return main_installed(a)
    cold, _ = launch({"KESTREL_EXIT_AFTER_SHOWN": "1"}, [], "window shown")
    warm = [launch({"KESTREL_EXIT_AFTER_SHOWN": "1"}, [], "window shown")[0] for _ in range(a.repeat)]
    selftest = [launch({}, ["--self-test"], "self-test passed")[0] for _ in range(max(3, a.repeat // 2))]
    rows = [["launch -> window shown, first run [s]", f"{cold:.2f}", "-"],
            [f"launch -> window shown, warm, median of {len(warm)} [s]", f"{median(warm):.2f}", "<= 2.0"],
            ["launch -> window shown, warm, max [s]", f"{max(warm):.2f}", ""],
            [f"self-test wall time, median of {len(selftest)} [s]", f"{median(selftest):.2f}", ""]]
    print(table(["measure", "Kestrel", "goal"], rows))
    print(f"heavy libraries imported by the GUI start: {heavy_imports() or 'none'}")


def main_installed(a) -> None:
    shown = {"KESTREL_EXIT_AFTER_SHOWN": "1"}
    cold: list[float] = []
    cold_selftest: list[float] = []
    for _ in range(a.cold_repeat):  # each with its own empty home: no profile, no Numba cache
        with tempfile.TemporaryDirectory() as fresh, tempfile.TemporaryDirectory() as fresh2:
            cold.append(launch(shown, [], "window shown", a.exe, home=fresh)[0])
            cold_selftest.append(launch({}, ["--self-test"], "self-test passed", a.exe, home=fresh2)[0])
    with tempfile.TemporaryDirectory() as warm_home:
        launch(shown, [], "window shown", a.exe, home=warm_home)
        launch({}, ["--self-test"], "self-test passed", a.exe, home=warm_home)  # fills the Numba cache
        warm = [launch(shown, [], "window shown", a.exe, home=warm_home)[0] for _ in range(a.repeat)]
        selftest = [launch({}, ["--self-test"], "self-test passed", a.exe, home=warm_home)[0]
                    for _ in range(max(3, a.repeat // 2))]
    n = len(cold)
    rows = [[f"launch -> window shown, first start (empty home and Numba cache), median of {n} [s]",
             f"{median(cold):.2f}", "-"],
            [f"launch -> window shown, warm, median of {len(warm)} [s]", f"{median(warm):.2f}", "<= 2.0"],
            ["launch -> window shown, warm, max [s]", f"{max(warm):.2f}", ""],
            [f"self-test, first run (empty Numba cache), median of {n} [s]", f"{median(cold_selftest):.2f}", ""],
            [f"self-test, warm cache, median of {len(selftest)} [s]", f"{median(selftest):.2f}", "<= 12"]]
    print(f"program: {a.exe}")
    print(table(["measure", "installed Kestrel", "goal"], rows))
    if a.json:
        import json

        Path(a.json).write_text(json.dumps({"exe": a.exe, "cold_shown": cold, "warm_shown": warm,
                                            "cold_selftest": cold_selftest, "warm_selftest": selftest}, indent=2))


if __name__ == "__main__":
    main()
