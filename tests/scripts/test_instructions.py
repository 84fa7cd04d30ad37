"""scripts/instructions.py: instruction counts per kind of request, under callgrind."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import instructions  # noqa: E402  (scripts/ is not a package)


def _dump(folder: Path, name: str, label: str | None, total: int) -> None:
    desc = (f"desc: Trigger: Client Request: {instructions.LABEL_PREFIX}{label}"
            if label else "desc: Trigger: Program termination")
    (folder / name).write_text(f"version: 1\ncreator: callgrind-3.19.0\n{desc}\n"
                               f"events: Ir\nsummary: {total}\ntotals: {total}\n")


def test_instructions_by_kind_sums_the_labelled_dumps(tmp_path: Path) -> None:
    _dump(tmp_path, "callgrind.out.1.1", "search", 1000)
    _dump(tmp_path, "callgrind.out.1.2", "results", 5000)
    _dump(tmp_path, "callgrind.out.1.3", "search", 300)
    _dump(tmp_path, "callgrind.out.1", None, 77)  # the program's end: not a kind
    (tmp_path / "other.txt").write_text("totals: 5\n")
    assert instructions.instructions_by_kind(tmp_path) == {"search": 1300, "results": 5000}


@pytest.mark.skipif(shutil.which("valgrind") is None
                    or (shutil.which("cc") or shutil.which("gcc")) is None,
                    reason="needs valgrind and a C compiler")
def test_counts_only_inside_begin_and_end_per_kind(tmp_path: Path) -> None:
    script = tmp_path / "work.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(SCRIPTS)!r})
        from instructions import Counter, under_callgrind

        def work(n):
            total = 0
            for i in range(n):
                total += i * i
            return total

        counter = Counter(under_callgrind())
        counter.start()
        work(200_000)  # not counted
        for kind, n in (("small", 20_000), ("large", 60_000), ("small", 20_000)):
            counter.begin(kind)
            work(n)
            counter.end()
        counter.flush()
        assert dict(counter.requests) == {{"small": 2, "large": 1}}
    """))
    instructions.run_under_callgrind([sys.executable, str(script)], tmp_path)
    totals = instructions.instructions_by_kind(tmp_path)
    assert set(totals) == {"small", "large"}
    # both kinds ran 40,000 / 60,000 loop iterations in all: counts in that ratio (the
    # uncounted 200,000 would break it), give or take the calls around the loops
    assert totals["large"] / totals["small"] == pytest.approx(1.5, rel=0.05)
