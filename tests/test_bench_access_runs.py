"""The access benchmark still runs: each read with and without the check at a tiny scale
on SQLite (no timing is asserted; the figures at 10^5 students are in
docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_access.py"


@pytest.mark.parametrize("audit", ["synchronous", "buffered", "journal", None])
def test_the_access_benchmark_times_each_read_with_and_without_the_check(
    capsys: pytest.CaptureFixture[str], audit: str | None
) -> None:
    spec = importlib.util.spec_from_file_location("bench_access", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--students", "50", "--reads", "20", *(["--audit", audit] if audit else [])])
    out = capsys.readouterr().out
    # without --audit the school gets School.build's default: the journal, on SQLite
    assert f"audit {audit or 'journal'}:" in out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    timed = [row.strip("|").split("|")[0].strip() for row in rows[1:]]
    assert timed == ["profile", "profile, masked role", "a student's bookings"]
    assert all(re.search(r"\d+\.\d\dx \|$", row) for row in rows[1:])
