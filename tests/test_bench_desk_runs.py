"""The desk benchmark still runs: SLA evaluation of every open ticket, the periodic job
and routing at a tiny scale, beside plain indexed-SQL baselines that give the same
answers (the benchmark asserts it; no timing is asserted; the figures at 10^5 open
tickets are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_desk.py"


def test_the_desk_benchmark_times_sla_evaluation_beside_a_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location("bench_desk", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--tiny"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 8  # the header and seven measurements
    beside = [rows[1], rows[2], rows[6], rows[7]]  # sweeps and routing, each beside SQL
    for line in beside:
        _, ours, plain, ratio = (c.strip() for c in line.strip("|").split("|"))
        assert re.fullmatch(r"\d+\.\d{3} ms", ours) and re.fullmatch(r"\d+\.\d{3} ms", plain)
        assert re.fullmatch(r"\d+\.\d{2}x", ratio)
