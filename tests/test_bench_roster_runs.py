"""The roster benchmark still runs, at a tiny size (no timing is asserted; the figures are
in docs/benchmarks.md): a booking takes as many SQLite statements at either roster
size, give or take the first write of a day's shard documents (an insert; later writes
are an update and the index clean-up)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_the_roster_benchmark_books_on_both_roster_sizes_alike(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_roster")
    results = bench.main(["--students", "40", "400", "--calls", "20"])
    assert set(results) == {40, 400}
    assert results[40][2] > 0
    assert abs(results[40][2] - results[400][2]) < 1
    assert "| 400 |" in capsys.readouterr().out
