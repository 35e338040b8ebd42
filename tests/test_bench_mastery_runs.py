"""The mastery benchmark still runs: both calls on memory and SQLite at a tiny size,
beside the SQL baseline (no timing is asserted; the figures are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

from eduengine.people import SYSTEM

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_mastery.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mastery", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mastery_benchmark_times_both_calls_beside_the_sql_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_script().main(["--students", "40", "--calls", "8"])
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and not line.startswith("| call")
    ]
    assert {(r[0], r[1]) for r in rows} == {
        (call, adapter) for call in ("next_step", "recommend") for adapter in ("memory", "sqlite")
    }
    for row in rows:
        assert all(re.fullmatch(r"\d+\.\d{3} ms", cell) for cell in row[3:7]), row
        assert re.fullmatch(r"\d+\.\dx", row[7]), row


def test_the_baseline_answers_like_the_library_on_the_path() -> None:
    """The baseline is a fair one: for every stored student it picks the step the
    library picks (same data, same rules)."""
    bench = load_script()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        school, store = bench.build_school("memory", where)
        students = [f"s{i}" for i in range(60)]
        bench.fill_school(school, store, 60, students[:3])
        db = bench.baseline(where, 60, students[:3], bench.SLOTS)
        for student in students:
            step = school.mastery.next_step(student, actor=SYSTEM)
            assert (step.kind, step.point_id) == bench.sql_next_step(db, student), student
        db.close()
