"""Kestrel: ``python main.py`` does what the ``kestrel`` command does. It is also the PyInstaller entry script
(packaging/kestrel.spec)."""
import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    # A frozen build's spawn workers (backtests, sweeps, model training) start the kestrel program itself
    # with multiprocessing's arguments: this runs them and exits. A no-op from source.
    multiprocessing.freeze_support()
    sys.exit(main())
