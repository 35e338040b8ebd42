"""The learning benchmark still runs: each archive read at a tiny scale on SQLite,
printed beside the index read alone and the plain SQL baseline (no timing is asserted;
the figures at 10^5 students and 10^6 lines are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_learning.py"


def test_the_learning_benchmark_times_every_archive_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location("bench_learning", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--students", "20", "--records", "2000"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    timed = {}
    for line in rows[1:]:
        read, *cells = (c.strip() for c in line.strip("|").split("|"))
        assert all(re.fullmatch(r"\d+\.\d{3} / \d+\.\d{3} ms", c) for c in cells), line
        timed[read] = cells
    assert list(timed) == ["first page", "next page (cursor)", "one course", "one month"]
