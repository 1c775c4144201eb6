""".ci/run runs the README's test command first, exactly, then the plain install's self-test: what a new user
types is what CI checks."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_blocks(heading: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(f"## {heading}"):]
    end = section.find("\n## ", 3)  # up to the next section
    section = section if end < 0 else section[:end]
    return [block.strip() for block in re.findall(r"```\n(.*?)\n```", section, re.S)]


def _readme_block(heading: str) -> str:
    return _readme_blocks(heading)[0]


def test_ci_runs_the_readme_test_command_first_then_the_plain_install_self_test():
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith(("#", "set ", "cd ", "trap "))]
    assert commands == _readme_blocks("Test it")  # exactly the README's commands, nothing else, in order
    plain = "\n".join(commands[1:])
    run_it = _readme_block("Run it")
    assert run_it.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e . &&")
    assert re.search(r'pip" install -q -e \.\s', plain) and "[dev]" not in plain and "--self-test" in plain
