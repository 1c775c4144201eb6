"""Fast checks of what the installers depend on, without building anything: the frozen path rules, the
warm-up child of a frozen build, what the PyInstaller spec collects, and the .deb's declared dependencies."""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------- frozen paths
def test_bundled_files_are_found_in_the_source_tree():
    from app import paths

    assert not paths.is_frozen()
    assert paths.bundle_root() == ROOT
    assert (paths.resources_dir() / "theme" / "dark.qss").is_file()
    assert (paths.bundled_model_dir() / "manifest.json").is_file()
    assert (paths.bundled_plugins_dir() / "sma_cross.py").is_file()


def test_a_frozen_build_finds_them_in_its_bundle_folder(tmp_path, monkeypatch):
    from app import paths

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.is_frozen()
    assert paths.bundle_root() == tmp_path.resolve()
    assert paths.bundled_plugins_dir() == tmp_path.resolve() / "plugins"
    assert paths.bundled_model_dir() == tmp_path.resolve() / "resources" / "models" / "default"


def test_a_frozen_build_warms_the_indicator_cache_through_its_own_program(monkeypatch):
    from app import cli
    from app.engine.indicators import background

    assert background.CHILD_FLAG == cli.WARM_INDICATORS_FLAG
    assert background.child_command()[1:] == ["-m", "app.engine.indicators.background"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert background.child_command() == [sys.executable, cli.WARM_INDICATORS_FLAG]
    monkeypatch.setattr(background, "main", lambda: 7)  # what the child runs
    assert cli.main([cli.WARM_INDICATORS_FLAG]) == 7


# ----------------------------------------------------------------------------------------------------- spec
class _Captured:
    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs
        self.binaries, self.datas, self.pure, self.scripts = list(kwargs.get("binaries", [])), [], [], []


@pytest.fixture(scope="module")
def spec():
    """Run packaging/kestrel.spec with PyInstaller's spec globals replaced by recorders."""
    pytest.importorskip("PyInstaller")
    names = {"Analysis": _Captured, "PYZ": _Captured, "EXE": _Captured, "COLLECT": _Captured,
             "BUNDLE": _Captured, "SPECPATH": str(ROOT / "packaging"), "__file__": str(ROOT / "packaging" / "x")}
    code = (ROOT / "packaging" / "kestrel.spec").read_text()
    exec(compile(code, "kestrel.spec", "exec"), names)  # noqa: S102 - our own build file
    return names


def test_the_spec_lists_what_the_analysis_cannot_see(spec):
    analysis = spec["a"].kwargs
    hidden = set(analysis["hiddenimports"])
    assert {"PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets", "PySide6.QtSvg"} <= hidden  # pyqtgraph, inside try
    for path in (ROOT / "app" / "engine" / "indicators").glob("*.py"):  # imported by name from the registry
        if path.stem != "__init__":
            assert f"app.engine.indicators.{path.stem}" in hidden, path.stem
    for plugin in (ROOT / "plugins").glob("*.py"):  # files loaded at run time: their imports must be bundled
        for module in spec["plugin_imports"](plugin.parent):
            assert module in hidden, (plugin.name, module)
    excluded = set(analysis["excludes"])
    assert {"PyQt5", "PyQt6", "PySide2"} <= excluded
    assert not excluded & {f"PySide6.{m}" for m in spec["QT_MODULES"]}
    assert "PySide6.QtWebEngineCore" in excluded or "PySide6.Qt3DCore" in excluded


def test_the_spec_ships_data_files_and_numba_sources(spec):
    analysis = spec["a"].kwargs
    datas = {(Path(src).name, dest) for src, dest in analysis["datas"]}
    assert ("calendar.json", "akshare/file_fold") in datas  # `import akshare` reads it
    assert ("model.onnx", "resources/models/default") in datas
    assert ("dark.qss", "resources/theme") in datas
    assert ("sma_cross.py", "plugins") in datas
    libs = [(Path(src).name, dest) for src, dest in analysis["binaries"]]
    assert len(libs) == 1 and libs[0][1] == "." and "mini_racer" in libs[0][0]
    # every module with a cached numba function ships as a real .py file (numba keys its cache on it)
    modes = analysis["module_collection_mode"]
    for path in (ROOT / "app").rglob("*.py"):
        if re.search(r"cache=True", path.read_text()):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            assert any(module == m or module.startswith(m + ".") for m, mode in modes.items() if mode == "py"), module


def test_the_spec_drops_qt_plugins_that_pull_in_qml_but_keeps_the_desktop_platforms(spec):
    keep = spec["keep_binary"]
    assert not keep("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so")
    assert not keep("PySide6/Qt/lib/libQt6Quick.so.6")
    for kept in ("PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqwayland.so",
                 "PySide6/Qt/plugins/platforms/libqoffscreen.so", "PySide6/Qt/lib/libQt6XcbQpa.so.6",
                 "PySide6/Qt/lib/libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6OpenGL.so.6"):
        assert keep(kept), kept
    assert keep("onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so")
    if sys.platform.startswith("linux"):
        assert not keep("onnxruntime/capi/libonnxruntime.so.1.31.1")


# ------------------------------------------------------------------------------------------------------ deb
def test_the_desktop_entry_starts_kestrel():
    entry = (ROOT / "packaging" / "linux" / "kestrel.desktop").read_text()
    assert re.search(r"^Exec=kestrel\b", entry, re.M) and "Icon=kestrel" in entry and "Type=Application" in entry


@pytest.mark.slow  # packaging (ldd over Qt's libraries, 23 s)
@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("dpkg") is None, reason="Debian only")
def test_the_deb_depends_on_every_system_library_qts_xcb_plugin_loads():
    """A Qt upgrade that links one more xcb library must show up here, not on a trader's desktop."""
    import PySide6

    build = _load(ROOT / "packaging" / "build.py", "kestrel_build")
    control = build.control_file(1000, "amd64", "2.36")
    depends = re.search(r"^Depends: (.*)$", control, re.M).group(1)
    declared = {alt.strip().split(" ")[0] for dep in depends.split(",") for alt in dep.split("|")}
    qt = Path(PySide6.__file__).parent / "Qt"
    needed: set[str] = set()
    for lib in (qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6",
                qt / "lib" / "libQt6Gui.so.6"):
        for line in subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout.splitlines():
            m = re.match(r"\s*(\S+) => (/\S+)", line)
            if m and "PySide6" not in m.group(2) and not m.group(1).startswith(("libc.so", "libm.so", "libdl.",
                                                                                "libpthread.", "librt.")):
                owner = subprocess.run(["dpkg", "-S", m.group(2)], capture_output=True, text=True).stdout
                if not owner:  # /lib vs /usr/lib on merged-/usr systems
                    owner = subprocess.run(["dpkg", "-S", f"*/{m.group(1)}"], capture_output=True, text=True).stdout
                if owner:
                    needed.add(owner.split(":")[0])
    direct = {p for p in needed if p.startswith(("libxcb", "libxkbcommon", "libx11", "libegl", "libgl1",
                                                 "libfontconfig", "libdbus", "libglib"))}
    assert "libxcb-cursor0" in direct  # Qt >= 6.5 on X11
    assert direct <= declared, sorted(direct - declared)
    assert re.search(r"libc6 \(>= 2\.36\)", depends)
