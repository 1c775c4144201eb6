"""Kestrel: ``python main.py`` does what the ``kestrel`` command does."""
import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
