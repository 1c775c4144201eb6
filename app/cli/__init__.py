"""The ``kestrel`` command line: ``main`` parses and dispatches (main.py); one module per command group.

    run.py          kestrel run --headless
    risk.py         kestrel risk status|halt|reset|limits|set
    audit.py        kestrel audit verify|checkpoint
    strategies.py   kestrel plugins list, backtest, sweep
    ml.py           kestrel ml train|list|show
    keys.py         kestrel keys set|delete|list
    selftest/       kestrel --self-test
    output.py       --json/--plot/--out checked writable before a run
"""
from app.cli.main import WARM_INDICATORS_FLAG, build_parser, main

__all__ = ["main", "build_parser", "WARM_INDICATORS_FLAG"]
