"""The timetable benchmark still runs: every query, on memory and SQLite and the SQL
baseline, at a tiny N (no timing is asserted; the figures are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_timetable.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_timetable", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_timetable_benchmark_times_every_query_beside_the_sql_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert load_script().main(["--tiny"]) == 0
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and not line.startswith("| query")
    ]
    for _, _, median, count in rows:
        assert re.fullmatch(r"\d+\.\d{3} ms", median) and count.isdigit()
    assert {(query, adapter) for query, adapter, _, _ in rows} >= {
        ("a day, every slot", "memory"),
        ("a day, every slot", "sqlite"),
        ("a day, every slot", "SQL baseline"),
        ("a tutor's week", "sqlite"),
    }
    # the library's answer and the baseline's agree on how many slots the day holds
    day = {a: int(c) for q, a, _, c in rows if q == "a day, every slot"}
    assert day["sqlite"] == day["memory"] == day["SQL baseline"] > 0
