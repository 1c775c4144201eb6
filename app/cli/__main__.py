"""``python -m app.cli``: the same as ``kestrel``."""
import sys

from app.cli.main import main

sys.exit(main())
