"""When Qt's X11 platform plugin cannot load, `kestrel` names the missing system libraries and the apt-get
command instead of Qt's generic "could not load the Qt platform plugin" abort."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import qt_platform

ROOT = Path(__file__).resolve().parents[1]

#: ``ldd .../PySide6/Qt/plugins/platforms/libqxcb.so`` on a bare Debian 12 (debootstrap --variant=minbase,
#: plus python3-venv and a plain ``pip install -e .``), verbatim.
BARE_DEBIAN_LDD = """\
\tlinux-vdso.so.1 (0x00007fedea44d000)
\tlibQt6XcbQpa.so.6 => /root/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007fedea37f000)
\tlibQt6Gui.so.6 => /root/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6Gui.so.6 (0x00007fede9800000)
\tlibGL.so.1 => not found
\tlibQt6Core.so.6 => /root/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6Core.so.6 (0x00007fede9000000)
\tlibxkbcommon.so.0 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => not found
\tlibxcb-image.so.0 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-randr.so.0 => not found
\tlibxcb-render-util.so.0 => not found
\tlibxcb-shm.so.0 => not found
\tlibxcb-sync.so.1 => not found
\tlibxcb-xfixes.so.0 => not found
\tlibxcb-render.so.0 => not found
\tlibxcb-shape.so.0 => not found
\tlibxcb-xkb.so.1 => not found
\tlibxcb.so.1 => not found
\tlibX11-xcb.so.1 => not found
\tlibX11.so.6 => not found
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007fede8c00000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fede8f20000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007fedea353000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fede8a1e000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => not found
\tlibxcb-image.so.0 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-randr.so.0 => not found
\tlibxcb-render.so.0 => not found
\tlibxcb-render-util.so.0 => not found
\tlibxcb-shape.so.0 => not found
\tlibxcb-shm.so.0 => not found
\tlibxcb-sync.so.1 => not found
\tlibxcb.so.1 => not found
\tlibxcb-xfixes.so.0 => not found
\tlibxcb-xkb.so.1 => not found
\tlibxkbcommon.so.0 => not found
\tlibglib-2.0.so.0 => not found
\tlibX11-xcb.so.1 => not found
\tlibX11.so.6 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibGL.so.1 => not found
\tlibgthread-2.0.so.0 => not found
\tlibEGL.so.1 => not found
\tlibfontconfig.so.1 => not found
\tlibX11.so.6 => not found
\tlibglib-2.0.so.0 => not found
\tlibQt6DBus.so.6 => /root/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6DBus.so.6 (0x00007fede8e45000)
\tlibxkbcommon.so.0 => not found
\tlibGL.so.1 => not found
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007fedea32a000)
\tlibfreetype.so.6 => not found
\tlibgthread-2.0.so.0 => not found
\tlibicui18n.so.73 => /root/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicui18n.so.73 (0x00007fede8600000)
\tlibicuuc.so.73 => /root/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicuuc.so.73 (0x00007fede8200000)
\tlibicudata.so.73 => /root/venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libicudata.so.73 (0x00007fede6200000)
\tlibzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x00007fede9744000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fedea44f000)
\tlibglib-2.0.so.0 => not found
\tlibgthread-2.0.so.0 => not found
\tlibdbus-1.so.3 => not found
\tlibpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007fedea321000)
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007fedea31a000)
"""


def test_the_ldd_report_of_a_bare_debian_becomes_the_missing_libraries_and_the_packages_to_install():
    missing = qt_platform.parse_ldd(BARE_DEBIAN_LDD)
    assert missing == ["libGL.so.1", "libxkbcommon.so.0", "libxkbcommon-x11.so.0", "libxcb-cursor.so.0",
                       "libxcb-icccm.so.4", "libxcb-util.so.1", "libxcb-image.so.0", "libxcb-keysyms.so.1",
                       "libxcb-randr.so.0", "libxcb-render-util.so.0", "libxcb-shm.so.0", "libxcb-sync.so.1",
                       "libxcb-xfixes.so.0", "libxcb-render.so.0", "libxcb-shape.so.0", "libxcb-xkb.so.1",
                       "libxcb.so.1", "libX11-xcb.so.1", "libX11.so.6", "libglib-2.0.so.0",
                       "libgthread-2.0.so.0", "libEGL.so.1", "libfontconfig.so.1", "libfreetype.so.6",
                       "libdbus-1.so.3"]
    text = qt_platform.message(missing, Path("/venv/PySide6/Qt/plugins/platforms/libqxcb.so"))
    assert "libxcb-icccm.so.4, libxcb-util.so.1" in text.splitlines()[1]
    assert ("  sudo apt-get install libgl1 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 "
            "libxcb-util1 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shm0 libxcb-sync1 "
            "libxcb-xfixes0 libxcb-render0 libxcb-shape0 libxcb-xkb1 libxcb1 libx11-xcb1 libx11-6 libglib2.0-0 "
            "libegl1 libfontconfig1 libfreetype6 libdbus-1-3\n") in text
    assert "apt-file" not in text and "PySide6-Essentials" not in text  # every library has its package
    assert "sudo apt-get install " + " ".join(qt_platform.XCB_PACKAGES) in text
    assert "/venv/PySide6/Qt/plugins/platforms/libqxcb.so" in text


@pytest.mark.parametrize("env,platform,expected", [
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb:display=:1"}, "linux", True),
    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, "linux", False),
    ({"DISPLAY": ":0"}, "linux", True),
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
    ({}, "linux", False),
    ({"DISPLAY": ":0"}, "win32", False),
])
def test_the_check_runs_only_where_qt_will_load_its_xcb_plugin(env, platform, expected):
    assert qt_platform.uses_xcb(env, platform) is expected


def _plugin_missing_a_library(tmp_path: Path) -> Path:
    """A copy of PySide6's real xcb plugin, one of whose needed libraries has a name no system has (the Qt
    libraries it needs still resolve, through its $ORIGIN/../../lib run path)."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    (tmp_path / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (tmp_path / "Qt" / "lib").symlink_to(qt / "lib", target_is_directory=True)
    data = (qt / "plugins" / "platforms" / "libqxcb.so").read_bytes()
    assert data.count(b"libxcb-icccm.so.4\0") == 1
    plugin = tmp_path / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    plugin.write_bytes(data.replace(b"libxcb-icccm.so.4\0", b"libkestrel-x.so.4\0"))
    return plugin


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")
def test_kestrel_names_the_library_the_xcb_plugin_lacks_instead_of_qts_abort(tmp_path, profile):
    plugin = _plugin_missing_a_library(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99",
           "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin.parent)}
    proc = subprocess.run([sys.executable, "-m", "app.cli", "--profile", str(profile)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Could not load the Qt platform plugin" not in proc.stderr
    assert "xcb) platform plugin needs libraries this system does not have" in proc.stderr
    assert "libkestrel-x.so.4" in proc.stderr.splitlines()[1]
    assert f"(checked with ldd: {plugin})" in proc.stderr
    assert "sudo apt-get install " + " ".join(qt_platform.XCB_PACKAGES) in proc.stderr
    assert not (profile / "kestrel.db").exists()  # stopped before anything started


def test_a_plugin_that_loads_is_not_reported(tmp_path):
    import PySide6

    real = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    broken = _plugin_missing_a_library(tmp_path)
    assert "libkestrel-x.so.4" in qt_platform.missing_libraries(broken)
    assert "libkestrel-x.so.4" not in qt_platform.missing_libraries(real)
    assert qt_platform.check_xcb({"QT_QPA_PLATFORM": "offscreen", "QT_QPA_PLATFORM_PLUGIN_PATH": str(broken.parent)})


def test_the_readme_lists_the_packages_the_message_names():
    readme = (ROOT / "README.md").read_text()
    assert "sudo apt-get install " + " ".join(qt_platform.XCB_PACKAGES) in readme


def test_without_ldd_the_load_error_still_names_the_first_missing_library(tmp_path, monkeypatch):
    broken = _plugin_missing_a_library(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no ldd on PATH
    assert qt_platform.missing_libraries(broken) == ["libkestrel-x.so.4"]
