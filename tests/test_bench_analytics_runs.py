"""The analytics benchmark still runs: every dashboard query at a tiny scale on SQLite,
each printed beside its naive recount (no timing is asserted; the figures at 10^6
bookings are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_analytics.py"


def test_the_analytics_benchmark_times_every_dashboard_query(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location("bench_analytics", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--tiny"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    timed = {}
    for line in rows[1:]:
        query, ours, naive = (c.strip() for c in line.strip("|").split("|"))
        assert re.fullmatch(r"\d+\.\d{3} ms", ours) and re.fullmatch(r"\d+\.\d{3} ms", naive)
        timed[query] = ours
    for name in (
        "fill_rate",
        "attendance",
        "group_metrics",
        "funnel",
        "active_students",
        "cancellation_reasons",
        "lead_time",
        "renewal_rate",
        "segments",
    ):
        assert any(q.startswith(name) for q in timed), name
    assert len(timed) == 43
