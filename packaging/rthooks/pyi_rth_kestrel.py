"""PyInstaller runtime hook: runs in the frozen ``kestrel`` before main.py, before any library is imported.

- pyqtgraph and qasync pick their Qt binding from the environment: only PySide6 is in the bundle.
- Numba's cache goes to the per-user cache folder (``<user cache>/kestrel/numba``), never next to the
  install (read-only under /usr/lib or Program Files). The jitted modules are shipped as real ``.py``
  files (the spec's ``module_collection_mode``) so numba's cache index, keyed on the source file, finds the
  same entries whatever directory the program is launched from.
- Nothing is written into the install folder: the modules shipped as ``.py`` are precompiled by
  packaging/build.py, and Python never writes ``__pycache__`` there (it may be read-only, or owned by dpkg).
- Settings the trader set in the environment win (``setdefault``).
"""
import os
import sys

sys.dont_write_bytecode = True

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("QT_API", "pyside6")

from app.engine.indicators._cache_dir import cache_dir  # noqa: E402 - no numba import: platformdirs only

os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir())
