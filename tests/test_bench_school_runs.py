"""The school benchmark still runs: its three measurements of issue #22's aims, on SQLite,
at a tiny size (no timing is asserted; the figures are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_the_school_benchmark_prints_each_aim_with_a_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # importable by name (not loaded from its path): the spawned workers import it again
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_school")
    tiny = ["--calls", "20", "--processes", "2", "--attempts", "30", "--seats", "5"]
    bench.main(["--sqlite-only", *tiny, "--rush", "40"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("sqlite")]
    assert len(lines) == 4, out
    call, alone, drain, catch_up = lines
    assert "no worker running" in alone
    assert "worker running the projections" in call and "the worker applied" in call
    assert re.search(r"5 booked, 0 errors; successful bookings p50 [\d.]+ ms, p99", drain)
    assert "for 40 events per projection" in catch_up
    for line in (call, drain, catch_up):
        assert re.search(r"\(aim [^)]*\): (met|NOT met)\b", line), line
