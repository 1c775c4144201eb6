""".ci/run runs the README's test command first, exactly, then the plain install's self-test: what a new user
types is what CI checks."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_block(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(f"## {heading}"):]
    return re.search(r"```\n(.*?)\n```", section, re.S).group(1).strip()


def test_ci_runs_the_readme_test_command_first_then_the_plain_install_self_test():
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))]
    assert commands[0] == _readme_block("Test it")
    plain = "\n".join(commands[1:])
    run_it = _readme_block("Run it")
    assert run_it.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e . &&")
    assert re.search(r'pip" install -q -e \.\s', plain) and "[dev]" not in plain and "--self-test" in plain
