"""Build Kestrel's installers: the PyInstaller one-dir bundle, and on Linux a .deb.

    .venv/bin/python packaging/build.py [--deb] [--compression xz|zstd|gzip] [--self-test] [--clean]

Needs the ``packaging`` extra (``pip install -e ".[packaging]"``); ``--deb`` needs dpkg-deb (Debian/Ubuntu).
Outputs (git-ignored): ``dist/kestrel/`` (``kestrel`` + ``_internal/``; ``dist/Kestrel.app`` on macOS),
``dist/kestrel_<version>_<arch>.deb``, and ``build/packaging-report.json`` (sizes and times, for
docs/BENCHMARKS.md). Windows and macOS installers are built from the bundle by their own recipes
(``packaging/windows/kestrel.iss``, ``packaging/macos/make_dmg.sh``); see docs/PACKAGING.md.

After PyInstaller the script strips symbol tables from the libraries (never numpy's or scipy's vendored
``*.libs``: stripping those breaks them), byte-compiles the modules shipped as source, refuses a bundle that contains
another Qt binding, and on Linux records the bundle's glibc floor (the build machine's: build on the oldest
distribution you support) for the .deb's dependencies.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
DIST = ROOT / "dist"
WORK = ROOT / "build"
BUNDLE = DIST / "kestrel"
NAME = "kestrel"
PACKAGE = "kestrel-terminal"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

#: Stripping (``strip --strip-unneeded``: symbol tables and debug sections, never dynamic symbols) saves
#: ~120 MB, but not for the libraries that auditwheel/delocate vendored into ``<package>.libs`` folders
#: (numpy's, scipy's OpenBLAS): they were rewritten by patchelf, and strip breaks them.
NEVER_STRIP = re.compile(r"(^|/)[^/]+\.libs/")
#: Other Qt bindings must never be in the bundle (pyqtgraph and qasync probe for them).
STRAY_BINDINGS = ("PyQt5", "PyQt6", "PySide2", "shiboken2")

#: Debian packages of the system libraries the bundle links against and does not carry: Qt's xcb
#: platform plugin (Qt >= 6.5 needs libxcb-cursor0), OpenGL/EGL, fontconfig, D-Bus, GLib. Found with
#: ``ldd`` on the bundle's Qt libraries and ``dpkg -S``; "a | b" covers Debian 12 / Ubuntu 22.04 names
#: and the 64-bit time_t renames of Ubuntu 24.04.
DEB_DEPENDS = [
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-render0", "libxcb-shape0", "libxcb-shm0", "libxcb-sync1", "libxcb-util1",
    "libxcb-xfixes0", "libxcb-xkb1", "libxcb1", "libxkbcommon-x11-0", "libxkbcommon0", "libx11-6",
    "libx11-xcb1", "libegl1", "libgl1", "libfontconfig1", "libfreetype6", "libdbus-1-3",
    "libglib2.0-0t64 | libglib2.0-0", "libpng16-16t64 | libpng16-16", "zlib1g", "libstdc++6", "libgcc-s1",
]


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


# ------------------------------------------------------------------------------------------------- bundle
def pyinstaller(clean: bool) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "PyInstaller", str(PACKAGING / "kestrel.spec"), "--noconfirm",
           "--distpath", str(DIST), "--workpath", str(WORK / "pyinstaller"), "--log-level", "WARN"]
    if clean:
        cmd.append("--clean")
    run(cmd, cwd=ROOT, env=env)


def internal_dir() -> Path:
    if sys.platform == "darwin":
        return DIST / "Kestrel.app" / "Contents" / "Frameworks"
    return BUNDLE / "_internal"


def strip_safe_libraries() -> int:
    """``strip --strip-unneeded`` every ELF file but NEVER_STRIP's (Linux only: macOS and Windows wheels ship
    stripped, and their signatures must stay intact)."""
    if not sys.platform.startswith("linux") or shutil.which("strip") is None:
        return 0
    internal = internal_dir()
    saved = 0
    for path in sorted(internal.rglob("*")):
        if not path.is_file() or path.is_symlink() or NEVER_STRIP.search(path.relative_to(internal).as_posix()):
            continue
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        before = path.stat().st_size
        subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)
        saved += before - path.stat().st_size
    return saved


def precompile() -> int:
    """Byte-compile the modules the spec ships as ``.py`` (numba's jitted ones), so the installed program
    never compiles them at start and never writes ``__pycache__`` into its install folder. Not on macOS:
    PyInstaller has already signed the .app, and a file added now would break the signature."""
    import compileall

    if sys.platform == "darwin":
        return 0

    folder = internal_dir() / "app"
    ok = compileall.compile_dir(str(folder), quiet=1, ddir=None, workers=1)
    if not ok:
        raise SystemExit(f"byte-compiling {folder} failed")
    return sum(1 for _ in folder.rglob("*.pyc"))


def check_bundle() -> list[str]:
    """Refuse stray Qt bindings; return the PySide6 extension modules found (for the report)."""
    internal = internal_dir()
    stray = [str(p.relative_to(internal)) for name in STRAY_BINDINGS for p in internal.glob(f"{name}*")]
    if stray:
        raise SystemExit(f"the bundle contains another Qt binding: {stray}; add it to the spec's EXCLUDES")
    return sorted(p.name.split(".")[0] for p in (internal / "PySide6").glob("Qt*")
                  if p.suffix in (".so", ".pyd", ".abi3"))


def glibc_floor(folder: Path) -> str:
    """The newest GLIBC_x.y symbol version any ELF file in ``folder`` asks for."""
    newest = (2, 17)
    pattern = re.compile(rb"GLIBC_2\.(\d+)(?:\.(\d+))?\x00")
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
            data = f.read()
        for m in pattern.finditer(data):
            newest = max(newest, (2, int(m.group(1))))
    return f"{newest[0]}.{newest[1]}"


# ---------------------------------------------------------------------------------------------------- deb
def deb_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def control_file(installed_kb: int, arch: str, glibc: str) -> str:
    depends = ", ".join([f"libc6 (>= {glibc})", *DEB_DEPENDS])
    return (f"Package: {PACKAGE}\n"
            f"Version: {VERSION}\n"
            f"Architecture: {arch}\n"
            f"Maintainer: Kestrel developers <kestrel@localhost>\n"
            f"Installed-Size: {installed_kb}\n"
            f"Depends: {depends}\n"
            f"Section: misc\n"
            f"Priority: optional\n"
            f"Homepage: https://localhost/kestrel\n"
            f"Description: Kestrel desktop trading terminal\n"
            f" A native trading terminal with a built-in simulated exchange: chart, order-book ladder,\n"
            f" order ticket, positions, a risk panel with a persistent kill switch and strategy plugins.\n"
            f" Trades real exchanges through ccxt and watches China A-shares through akshare.\n")


def build_deb(compression: str) -> Path:
    """Stage /usr/lib/kestrel (the bundle), /usr/bin/kestrel, the desktop entry and icons; dpkg-deb it."""
    if shutil.which("dpkg-deb") is None:
        raise SystemExit("--deb needs dpkg-deb (Debian/Ubuntu)")
    stage = WORK / "deb" / "root"
    if stage.parent.exists():
        shutil.rmtree(stage.parent)
    lib = stage / "usr" / "lib" / NAME
    shutil.copytree(BUNDLE, lib, symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    os.symlink(f"../lib/{NAME}/{NAME}", stage / "usr" / "bin" / NAME)  # the bootloader resolves the link
    apps = stage / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copy2(PACKAGING / "linux" / "kestrel.desktop", apps / "kestrel.desktop")
    icons = stage / "usr" / "share" / "icons" / "hicolor"
    (icons / "256x256" / "apps").mkdir(parents=True)
    (icons / "scalable" / "apps").mkdir(parents=True)
    shutil.copy2(ROOT / "resources" / "icons" / "kestrel.png", icons / "256x256" / "apps" / "kestrel.png")
    shutil.copy2(ROOT / "resources" / "icons" / "kestrel.svg", icons / "scalable" / "apps" / "kestrel.svg")
    for path in stage.rglob("*"):  # what dpkg installs is world-readable, not world-writable
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    debian = stage / "DEBIAN"
    debian.mkdir()
    debian.chmod(0o755)
    glibc = glibc_floor(lib)
    (debian / "control").write_text(control_file(du(stage) // 1024, deb_arch(), glibc))
    out = DIST / f"{NAME}_{VERSION}_{deb_arch()}.deb"
    run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(stage), str(out)])
    return out


# ------------------------------------------------------------------------------------------------- checks
def bundle_self_test() -> float:
    exe = BUNDLE / NAME if sys.platform != "win32" else BUNDLE / "kestrel-cli.exe"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    t0 = time.perf_counter()
    r = subprocess.run([str(exe), "--self-test"], env=env, cwd=WORK, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    print(r.stdout + r.stderr, flush=True)
    if r.returncode != 0:
        raise SystemExit(f"the bundle's self-test failed (exit {r.returncode})")
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deb", action="store_true", help="also build the Debian package (Linux)")
    ap.add_argument("--compression", default="xz", choices=("xz", "zstd", "gzip"), help=".deb compression")
    ap.add_argument("--self-test", action="store_true", help="run the bundle's --self-test offscreen after building")
    ap.add_argument("--clean", action="store_true", help="discard PyInstaller's cache first")
    ap.add_argument("--skip-pyinstaller", action="store_true", help="reuse dist/kestrel (e.g. only rebuild the .deb)")
    args = ap.parse_args(argv)
    report: dict = {"version": VERSION, "platform": sys.platform}
    WORK.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    if not args.skip_pyinstaller:
        pyinstaller(args.clean)
        report["pyinstaller_s"] = round(time.perf_counter() - t0, 1)
        report["bundle_unstripped_bytes"] = du(internal_dir().parent)
        report["stripped_bytes"] = strip_safe_libraries()
        report["precompiled_modules"] = precompile()
    report["qt_modules"] = check_bundle()
    report["bundle_bytes"] = du(internal_dir().parent)
    print(f"bundle: {internal_dir().parent} {mb(report['bundle_bytes'])}; Qt modules: {', '.join(report['qt_modules'])}")
    if sys.platform.startswith("linux"):
        report["glibc_floor"] = glibc_floor(internal_dir())
        print(f"glibc floor: {report['glibc_floor']}")
    if args.self_test:
        report["bundle_self_test_s"] = round(bundle_self_test(), 2)
    if args.deb:
        t1 = time.perf_counter()
        deb = build_deb(args.compression)
        report.update(deb=str(deb), deb_bytes=deb.stat().st_size, deb_compression=args.compression,
                      deb_s=round(time.perf_counter() - t1, 1))
        print(f"deb: {deb} {mb(report['deb_bytes'])} ({args.compression})")
    report["total_s"] = round(time.perf_counter() - t0, 1)
    (WORK / "packaging-report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
