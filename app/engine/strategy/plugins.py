"""Finding and loading strategy plugins. The loader never raises: a broken plugin is listed with its error.

Where plugins come from, in this order (the first plugin to claim a name wins; later ones are listed as
duplicates):

1. the bundled ``plugins/`` folder next to ``app/``;
2. the user's ``plugins/`` folder in the profile;
3. installed distributions advertising the entry-point group ``kestrel.strategies`` (an entry point
   names a module or a ``Strategy`` class).

A plugin is a ``.py`` file or a package folder. Every ``Strategy`` subclass *defined in it* with a
``name`` is a strategy. It is refused (and listed with the reason) when its ``api_version`` major differs
from ``app.api.API_VERSION``'s, when a parameter declaration is invalid, or when importing it fails.
Files are imported under a fresh module name each time, so a changed file can be reloaded in place.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from app.engine.strategy.base import Strategy

from app.engine.strategy.params import API_VERSION, ParamError, api_compatible, declared_params
from app.paths import bundled_plugins_dir

log = logging.getLogger("kestrel.plugins")

ENTRY_POINT_GROUP = "kestrel.strategies"
BUNDLED_DIR = bundled_plugins_dir()  # next to app/ from source; inside the bundle when frozen


@dataclass
class PluginInfo:
    name: str  # the strategy's name, or the file's stem when it could not be loaded
    source: str  # "bundled", "user" or "entry-point"
    origin: str  # file path or entry point "module:attr"
    cls: type | None = None
    error: str = ""
    mtime: float = 0.0
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.cls is not None and not self.error

    def changed_on_disk(self) -> bool:
        path = Path(self.origin)
        try:
            return path.exists() and _mtime(path) != self.mtime
        except OSError:
            return False


def _mtime(path: Path) -> float:
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.rglob("*.py")), default=0.0)
    return path.stat().st_mtime


def _short_error(exc: BaseException) -> str:
    if type(exc).__name__ == "StrategyFault":  # the watchdog (strategy_manager) interrupted the import
        return "importing it took too long (it loops or blocks at import time) and was interrupted"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def import_file(path: Path) -> ModuleType:
    """Import a plugin file or package folder under a fresh, unique module name."""
    target = path / "__init__.py" if path.is_dir() else path
    digest = hashlib.sha1(f"{path.resolve()}:{_mtime(path)}".encode()).hexdigest()[:10]
    mod_name = f"kestrel_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(
        mod_name, target, submodule_search_locations=[str(path)] if path.is_dir() else None)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


def check_strategy_class(cls: type) -> str:
    """Empty string if ``cls`` is a usable strategy, else what is wrong with it."""
    if not getattr(cls, "name", ""):
        return "the Strategy subclass has no `name`"
    declared = getattr(cls, "api_version", None)
    if not api_compatible(str(declared)):
        return (f"written for plugin API {declared}, this Kestrel provides {API_VERSION} "
                f"(a different major version, or a newer minor): update the plugin")
    try:
        for pname, param in declared_params(cls).items():
            param.check_declaration(pname)
    except ParamError as exc:
        return f"bad parameter declaration: {exc}"
    return ""


def strategies_in(module: ModuleType) -> list[type]:
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, Strategy) and obj is not Strategy
            and obj.__module__ == module.__name__ and getattr(obj, "name", "")]


def load_path(path: Path, source: str) -> list[PluginInfo]:
    try:
        mtime = _mtime(path)
    except OSError as exc:
        return [PluginInfo(path.stem, source, str(path), error=f"cannot read: {exc}")]
    try:
        module = import_file(path)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from plugin code too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return [PluginInfo(path.stem, source, str(path), error=_short_error(exc), mtime=mtime)]
    found = strategies_in(module)
    if not found:
        return [PluginInfo(path.stem, source, str(path), mtime=mtime,
                           error="defines no Strategy subclass with a `name`")]
    return [PluginInfo(cls.name, source, str(path), cls=cls, mtime=mtime, error=check_strategy_class(cls),
                       description=(cls.description or (cls.__doc__ or "").strip().split("\n")[0]))
            for cls in found]


def load_entry_points() -> list[PluginInfo]:
    out: list[PluginInfo] = []
    try:
        eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as exc:  # noqa: BLE001 - broken metadata of some other distribution
        return [PluginInfo("entry points", "entry-point", ENTRY_POINT_GROUP, error=_short_error(exc))]
    for ep in eps:
        try:
            obj = ep.load()
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            out.append(PluginInfo(ep.name, "entry-point", ep.value, error=_short_error(exc)))
            continue
        classes = [obj] if isinstance(obj, type) else strategies_in(obj) if isinstance(obj, ModuleType) else []
        classes = [c for c in classes if isinstance(c, type) and issubclass(c, Strategy)]
        if not classes:
            out.append(PluginInfo(ep.name, "entry-point", ep.value, error="names no Strategy subclass"))
        for cls in classes:
            out.append(PluginInfo(cls.name or ep.name, "entry-point", ep.value, cls=cls,
                                  error=check_strategy_class(cls), description=cls.description))
    return out


def plugin_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if (p.suffix == ".py" and not p.name.startswith("_"))
                  or (p.is_dir() and (p / "__init__.py").exists() and not p.name.startswith(("_", "."))))


def discover(profile: Path | None = None, bundled: Path | None = BUNDLED_DIR,
             entry_points: bool = True) -> list[PluginInfo]:
    """Every plugin found, loadable or not, in priority order. Never raises."""
    found: list[PluginInfo] = []
    if bundled is not None:
        for path in plugin_files(bundled):
            found += load_path(path, "bundled")
    if profile is not None:
        for path in plugin_files(Path(profile) / "plugins"):
            found += load_path(path, "user")
    if entry_points:
        found += load_entry_points()
    seen: dict[str, PluginInfo] = {}
    for info in found:
        if info.ok:
            first = seen.get(info.name)
            if first is not None:
                info.error = f"duplicate strategy name {info.name!r}: already provided by {first.origin}"
            else:
                seen[info.name] = info
    for info in found:
        if info.error:
            log.warning("plugin %s (%s) not loaded: %s", info.name, info.origin, info.error)
    return found


def reload(info: PluginInfo) -> PluginInfo:
    """Load ``info``'s file again; the result carries the new class or the new error."""
    if info.source == "entry-point":
        return info
    for fresh in load_path(Path(info.origin), info.source):
        if fresh.name == info.name or not fresh.ok:
            return fresh
    return PluginInfo(info.name, info.source, info.origin, mtime=info.mtime,
                      error=f"the file no longer defines strategy {info.name!r}")
