"""The learning record's benchmark still runs: the archive page, the path and the
recommendation at a tiny size on SQLite beside the SQL baseline, whose answers are the
library's (no timing is asserted; the figures are in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

import pytest

from eduengine import FixedClock, School

HERE = Path(__file__).parent.parent / "benchmarks"


def load_script() -> ModuleType:
    sys.path.insert(0, str(HERE))  # it reuses bench_mastery's students
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_learning_record", HERE / "bench_learning_record.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(HERE))
    return module


def test_the_benchmark_times_each_read_beside_the_sql_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_script().main(["--students", "60", "--submissions", "600", "--calls", "8",
                        "--adapters", "sqlite"])
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and not line.startswith("| read")
    ]
    assert [(r[0], r[1]) for r in rows] == [
        ("archive page", "sqlite"), ("next_step", "sqlite"), ("recommend", "sqlite")
    ]
    for row in rows:
        assert all(re.fullmatch(r"\d+\.\d{3} ms", cell) for cell in row[3:7]), row


def test_the_baseline_answers_like_the_library() -> None:
    """A fair baseline: the same archive page and the same next step for each student."""
    bench = load_script()
    with tempfile.TemporaryDirectory() as tmp:
        store, db, close = bench.open_engine("sqlite", Path(tmp), None)
        try:
            bench.seed(db, 60, 600)
            school = School.build(store, clock=FixedClock(bench.T))
            bench.timetable(school, db, ["s000000", "s000001"])
            for n in range(60):
                sid = f"s{n:06d}"
                page = school.learning.archive(bench.ACADEMIC, sid, limit=bench.PAGE)
                plain = bench.sql_archive(db, sid)
                assert [e.ref for e in page.entries] == [r[1].split("|")[2] for r in plain]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    step = school.mastery.next_step(sid)
                assert (step.kind, step.point_id) == bench.sql_next_step(db, sid), sid
        finally:
            close()
