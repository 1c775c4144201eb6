"""Where Kestrel's bundled files are: the source tree, or the folder a PyInstaller build unpacked.

From source, the bundled ``resources/`` and ``plugins/`` folders sit next to the ``app`` package. In a
frozen build (PyInstaller sets ``sys.frozen`` and ``sys._MEIPASS``) they are collected into the bundle's
data folder (``_internal/`` in a one-dir build; ``Contents/Resources`` in a macOS ``.app``), which is
``sys._MEIPASS``. Everything that reads a bundled file asks here, so the two layouts stay one rule.
"""
from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def is_frozen() -> bool:
    """True in a PyInstaller build (the ``kestrel`` executable), False when run from source."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def bundle_root() -> Path:
    """The folder holding ``resources/`` and ``plugins/``: ``sys._MEIPASS`` frozen, else the source tree."""
    if is_frozen():
        return Path(sys._MEIPASS).resolve()  # type: ignore[attr-defined]
    return _SOURCE_ROOT


def resources_dir() -> Path:
    return bundle_root() / "resources"


def bundled_plugins_dir() -> Path:
    return bundle_root() / "plugins"


def bundled_model_dir() -> Path:
    return resources_dir() / "models" / "default"


__all__ = ["is_frozen", "bundle_root", "resources_dir", "bundled_plugins_dir", "bundled_model_dir"]
