"""The tests and benchmarks read only what the repository holds: a clean clone with nothing beside it runs
them. The recorded market data lives in tests/data, each file listed with its checksum in its README."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.kit.data import DATA

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"""shared["']?\s*[/,)]\s*["']?data|\.\./shared|/work/shared|KESTREL_REAL_DATA""")


def test_no_test_or_benchmark_reads_data_from_outside_the_repository():
    sources = [p for d in ("tests", "bench") for p in (ROOT / d).rglob("*.py") if p.name != Path(__file__).name]
    offenders = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in sources
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not offenders, "reads data from outside the repository:\n" + "\n".join(offenders)


def test_every_test_finds_the_recorded_data_through_the_kit():
    """tests/kit/data.py is the one place that knows where tests/data is: no test builds that path itself."""
    own_path = re.compile(r"""/\s*["']data["']|["']tests/data""")
    kit = ROOT / "tests" / "kit" / "data.py"
    sources = [p for p in (ROOT / "tests").rglob("*.py") if p not in (kit, Path(__file__).resolve())]
    offenders = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in sources
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if own_path.search(line)]
    assert not offenders, "finds tests/data its own way (use tests.kit.data):\n" + "\n".join(offenders)


def test_the_recorded_data_is_in_the_repository_and_its_readme_names_every_file_with_its_checksum():
    assert DATA == ROOT / "tests" / "data"
    listed = dict(re.findall(r"^\| (\S+\.csv\.gz) \|.*`([0-9a-f]{64})`", (DATA / "README.md").read_text(),
                             re.MULTILINE))
    on_disk = {p.name for p in DATA.glob("*.csv.gz")}
    assert set(listed) == on_disk and len(on_disk) == 5, (sorted(listed), sorted(on_disk))
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name
    assert sum((DATA / n).stat().st_size for n in on_disk) < 1_000_000  # small: the suite's inputs only


def test_the_headline_sets_are_listed_with_their_checksums():
    """The written headline sets (HEADLINES.md) are pinned like the recorded data: a changed label changes the
    measured accuracy, so the change must show in the README too."""
    listed = dict(re.findall(r"^\| (headlines_\w+\.csv) \|.*`([0-9a-f]{64})`", (DATA / "README.md").read_text(),
                             re.MULTILINE))
    assert set(listed) == {p.name for p in DATA.glob("headlines_*.csv")} == {"headlines_en.csv", "headlines_zh.csv"}
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name
    assert (DATA / "HEADLINES.md").is_file()
