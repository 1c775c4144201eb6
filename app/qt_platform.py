"""Before the QApplication exists: name the system libraries Qt's X11 platform plugin cannot load.

When ``libqxcb.so`` cannot be loaded, Qt says only "Could not load the Qt platform plugin "xcb" even though
it was found" (with a hint about ``libxcb-cursor0`` whatever is actually missing) and aborts. The dynamic
linker knows which libraries are missing: this loads the plugin first (``ctypes``) and, when that fails,
asks ``ldd`` for all of them, names them and gives the ``apt-get`` command that installs them. It never stops
a start it cannot judge: no plugin file, or a load error that names no library, means "nothing to report".
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

#: The Debian packages of the system libraries Qt's xcb plugin and the Qt libraries it loads link against
#: (ldd + dpkg -S on PySide6 6.11; on a bare Debian 12 these, with what they depend on, are all it needs).
#: README.md lists the same.
XCB_PACKAGES = (
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-shape0", "libxcb-xkb1", "libxkbcommon-x11-0", "libx11-xcb1",
    "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3", "libglib2.0-0",
)

#: soname -> the Debian 12 package that ships it (Ubuntu 24.04 renamed a few with a "t64" suffix, e.g.
#: libglib2.0-0t64; on 64-bit architectures they provide the old names, so apt-get takes these; not tried here)
_PACKAGE_OF = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1", "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0", "libGLdispatch.so.0": "libglvnd0", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0", "libpng16.so.16": "libpng16-16", "libz.so.1": "zlib1g",
    "libexpat.so.1": "libexpat1", "libbsd.so.0": "libbsd0", "libbrotlidec.so.1": "libbrotli1",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)
_DLOPEN_ERROR = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")


def uses_xcb(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> bool:
    """Whether Qt will load its xcb plugin: asked for first in ``QT_QPA_PLATFORM``, or the Linux default
    with an X display and no Wayland session."""
    env = os.environ if env is None else env
    asked = env.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return re.split(r"[;:]", asked, maxsplit=1)[0].strip() == "xcb"
    return (platform.startswith("linux") and bool(env.get("DISPLAY"))
            and env.get("XDG_SESSION_TYPE", "").lower() != "wayland")


def xcb_plugin(env: Mapping[str, str] | None = None) -> Path | None:
    """The ``libqxcb.so`` Qt will load: from ``QT_QPA_PLATFORM_PLUGIN_PATH`` if set (Qt honours it), else
    PySide6's own."""
    env = os.environ if env is None else env
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders = [Path(p) for p in env["QT_QPA_PLATFORM_PLUGIN_PATH"].split(os.pathsep) if p]
    else:
        try:
            import PySide6
        except ImportError:
            return None
        folders = [Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"]
    return next((f / "libqxcb.so" for f in folders if (f / "libqxcb.so").is_file()), None)


def parse_ldd(text: str) -> list[str]:
    """The libraries ``ldd`` reports as "not found", each once, in ldd's order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(text)))


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries the dynamic linker cannot find for ``plugin``; empty when it loads. Loading it is
    the cheap check (Qt loads the same file next); only a failed load asks ``ldd`` for the whole list (the
    load error names the first missing library only)."""
    import ctypes

    try:
        ctypes.CDLL(str(plugin))
        return []
    except OSError as exc:
        first = _DLOPEN_ERROR.search(str(exc))
    if shutil.which("ldd"):
        try:
            out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=15)
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and parse_ldd(out.stdout):
            return parse_ldd(out.stdout)
    return [first.group(1)] if first else []


def message(missing: list[str], plugin: Path) -> str:
    """What the terminal prints: the missing libraries, the packages that ship them, the command."""
    packages = list(dict.fromkeys(_PACKAGE_OF[lib] for lib in missing if lib in _PACKAGE_OF))
    ours = [lib for lib in missing if lib.startswith("libQt6") or lib.startswith("libicu")]
    unknown = [lib for lib in missing if lib not in _PACKAGE_OF and lib not in ours]
    lines = ["kestrel: cannot open the window: Qt's X11 (xcb) platform plugin needs libraries this system "
             "does not have:", "  " + ", ".join(missing), f"  (checked with ldd: {plugin})"]
    if packages:
        lines += ["Install them (Debian/Ubuntu):", "  sudo apt-get install " + " ".join(packages)]
    if unknown:
        lines.append("Find the package of the others with your distribution's search (Debian: apt-file search "
                     "NAME).")
    if ours:
        lines.append("The Qt libraries are PySide6's own: reinstall it (pip install --force-reinstall "
                     "PySide6-Essentials).")
    lines += ["Everything the window needs (Debian/Ubuntu, README.md):",
              "  sudo apt-get install " + " ".join(XCB_PACKAGES),
              "Without a display, QT_QPA_PLATFORM=offscreen runs it (kestrel --self-test does)."]
    return "\n".join(lines)


def check_xcb(env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """True when the window may start. False after printing which libraries the xcb plugin lacks (Qt would
    abort with a message that does not say)."""
    if not uses_xcb(env):
        return True
    plugin = xcb_plugin(env)
    missing = missing_libraries(plugin) if plugin else []
    if not missing:
        return True
    print(message(missing, plugin), file=stream or sys.stderr, flush=True)
    return False
