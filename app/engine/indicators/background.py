"""Fill the indicator kernels' on-disk Numba cache in a separate, low-priority process.

Why a process and not a thread: compiling every kernel takes ~50 s of CPU with an empty cache,
and Numba holds the GIL for much of it, so a compiling thread in the GUI process would stutter
the window.  The child (``python -m app.engine.indicators.background``, or, in a frozen build,
``kestrel --warm-indicator-cache``) lowers its own priority, runs :func:`app.engine.indicators.warmup`
and, on success, writes a stamp next to the cache.  The GUI process never compiles on purpose: it
loads each kernel from the cache, lazily, the first time an indicator is used.

:func:`cache_is_warm` compares the stamp with a fingerprint of what the cache depends on (this
package's sources, Python, numba, the machine) without importing numba, so a warm start spawns
nothing.  :func:`start` never raises: failures are logged and the app keeps running (a kernel
that is not cached compiles on first use, as without any warm-up).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from ._cache_dir import cache_dir

log = logging.getLogger("kestrel.indicators")

STAMP = "kestrel-indicators-warm.json"
LOCK = "kestrel-indicators-warm.lock"
PACKAGE_DIR = Path(__file__).resolve().parent
DEADLINE_S = 900.0


def fingerprint() -> str:
    """What a warm cache depends on: the kernels' sources, Python, numba and the machine."""
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    for f in sorted(PACKAGE_DIR.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    try:
        nb = version("numba")
    except PackageNotFoundError:
        nb = "?"
    for part in (sys.version, nb, platform.machine(), platform.node(), cache_dir()):
        h.update(b"\0" + part.encode())
    return h.hexdigest()


def cache_is_warm() -> bool:
    """True when a warm-up finished for exactly this code, interpreter, numba and machine."""
    try:
        stamp = json.loads((Path(cache_dir()) / STAMP).read_text())
        return stamp.get("fingerprint") == fingerprint()
    except (OSError, ValueError):
        return False


class Warmup:
    """A running background warm-up: :meth:`poll` from a timer until it returns True."""

    def __init__(self, proc: subprocess.Popen, errors: IO[bytes], deadline_s: float) -> None:
        self.proc = proc
        self._errors = errors
        self._t0 = time.monotonic()
        self._deadline = deadline_s
        self.result: str | None = None

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._t0

    def poll(self) -> bool:
        """True once the child has finished (the outcome is logged and kept in ``result``)."""
        if self.result is not None:
            return True
        rc = self.proc.poll()
        if rc is None:
            if self.seconds <= self._deadline:
                return False
            self.stop()
            self._finish(f"indicator warm-up stopped after {self.seconds:.0f} s (deadline); kernels that "
                         "are not cached yet compile on first use", logging.WARNING)
            return True
        if rc == 0:
            self._finish(f"indicator kernels cached in the background in {self.seconds:.1f} s", logging.INFO)
        else:
            self._errors.seek(0)
            tail = self._errors.read()[-1500:].decode("utf-8", "replace").strip()
            self._finish(f"indicator warm-up failed (exit {rc}) after {self.seconds:.1f} s; kernels compile "
                         f"on first use instead. {tail}", logging.WARNING)
        return True

    def stop(self) -> None:
        """Stop the child if it still runs (the app is quitting); the next start resumes the work."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.result is None and self.proc.returncode is not None and self.proc.returncode != 0:
            self._finish("indicator warm-up stopped with the app; it resumes at the next start", logging.INFO)

    def _finish(self, message: str, level: int) -> None:
        self.result = message
        log.log(level, message)
        try:
            self._errors.close()
        except OSError:
            pass


#: The hidden ``kestrel`` flag that runs :func:`main` (a frozen build has no ``python -m``: its
#: ``sys.executable`` is the ``kestrel`` program itself; see ``app.cli.main``).
CHILD_FLAG = "--warm-indicator-cache"


def child_command() -> list[str]:
    """The warm-up child's command line: ``python -m`` from source, ``kestrel CHILD_FLAG`` when frozen."""
    if getattr(sys, "frozen", False):
        return [sys.executable, CHILD_FLAG]
    return [sys.executable, "-m", "app.engine.indicators.background"]


def start(deadline_s: float = DEADLINE_S, command: list[str] | None = None) -> Warmup | None:
    """Spawn the low-priority warm-up child if the cache is cold; None if nothing to do or on
    error (logged).  Never raises.  ``command`` replaces the child's command line (tests)."""
    try:
        if cache_is_warm():
            log.info("indicator kernels: on-disk cache is warm")
            return None
        root = str(PACKAGE_DIR.parents[2])  # the folder that holds the ``app`` package
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        errors = tempfile.TemporaryFile()
        flags = 0
        if sys.platform == "win32":
            flags = subprocess.IDLE_PRIORITY_CLASS | subprocess.CREATE_NO_WINDOW
        cmd = command or child_command()
        proc = subprocess.Popen(cmd, cwd=root, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                creationflags=flags)
        log.info("indicator kernels: cache is cold; compiling them in a low-priority background process "
                 "(pid %d)", proc.pid)
        return Warmup(proc, errors, deadline_s)
    except Exception:  # noqa: BLE001 - a failed warm-up must never stop the app
        log.exception("indicator warm-up could not start; kernels compile on first use")
        return None


def _lower_priority() -> None:
    if hasattr(os, "nice"):
        try:
            os.nice(19)
        except OSError:
            pass


def main() -> int:
    """Child entry point: compile every kernel into the cache, then write the stamp."""
    _lower_priority()
    from filelock import FileLock, Timeout

    folder = Path(cache_dir())
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(folder / LOCK), timeout=0):
            fp = fingerprint()  # before compiling: a source edit meanwhile leaves the stamp stale
            t0 = time.perf_counter()
            from app.engine.indicators import warmup

            per = warmup()
            seconds = time.perf_counter() - t0
            tmp = folder / (STAMP + ".tmp")
            tmp.write_text(json.dumps({"fingerprint": fp, "seconds": round(seconds, 2),
                                       "indicators": len(per), "written": time.time()}))
            os.replace(tmp, folder / STAMP)
            print(f"warmed {len(per)} indicators in {seconds:.1f} s")
    except Timeout:
        print("another warm-up is running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
