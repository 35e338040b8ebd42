"""The encryption benchmark still runs, at a tiny size (no timing is asserted; the figures
are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_the_encryption_benchmark_prints_both_paths_with_a_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_crypt")
    results = bench.main(["--students", "300", "--calls", "20"])
    assert set(results) == {"profile read", "booking"}
    out = capsys.readouterr().out
    for what in results:
        assert re.search(rf"{what}: plain [\d.]+ ms, sealed [\d.]+ ms, [\d.]+x", out), out
