"""The import rules, checked mechanically (pyproject's import-linter contracts): the layers (cli > bootstrap >
widgets > api > kernel > strategy/backtest/ml > orders > risk > oms > venues > data > core), plugins import only the
plugin API, widgets no venue internals and no CLI, the engine never Qt; and no import cycle anywhere."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = 4


def test_import_linter_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{CONTRACTS} kept, 0 broken" in r.stdout


def cycles(graph) -> list[list[str]]:
    """Every set of modules that import each other round (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v)):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_cycle():
    """Imports under TYPE_CHECKING count: a protocol says what a module needs without importing its user."""
    import grimp

    found = cycles(grimp.build_graph("app", include_external_packages=False))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)
