"""The growth benchmark still runs: segment pages and journey sweeps on memory and
SQLite at a tiny size, beside the SQL baseline (no timing is asserted; the figures are
in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

from eduengine.people import SYSTEM

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_growth.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_growth", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_growth_benchmark_times_pages_and_sweeps_beside_the_sql_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_script().main(["--students", "300", "--due", "12", "--calls", "3"])
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and not line.startswith("| call")
    ]
    calls = ("segment page 1", "segment page mid", "sweep, none due", "sweep, 12 due")
    assert {(r[0], r[1]) for r in rows} == {(c, a) for c in calls for a in ("memory", "sqlite")}
    for row in rows:
        assert re.fullmatch(r"\d+\.\d{3} ms", row[3]) and re.fullmatch(r"\d+\.\d{3} ms", row[5])
        assert re.fullmatch(r"\d+\.\dx", row[7]), row


def test_the_baseline_pages_like_the_library_and_the_sweep_reads_only_due_steps() -> None:
    """The baseline is a fair one: its pages are the library's, page after page; and the
    library's sweep at a time nothing is due reads no student document."""
    bench = load_script()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        school, store, clock = bench.build_school("memory", where)
        bench.fill_school(store, 500, 20)
        db = bench.baseline(where, 500, 20)
        cursor, place = None, None
        while True:
            page = school.segments.page(bench.VIP, after=cursor, limit=bench.LIMIT, actor=SYSTEM)
            ids, place = bench.sql_page(db, place)
            assert list(page.student_ids) == ids
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        with store.unit_of_work() as uow:
            records = type(uow.records)
        reads: list[str] = []
        real = records.get

        def spy(self: object, kind: str, key: str) -> object:
            reads.append(kind)
            return real(self, kind, key)

        records.get = spy
        try:
            assert school.journeys.sweep_due() == 0
            assert reads.count("student") == 0, reads
            clock.set(bench.T + bench.timedelta(days=1))
            assert school.journeys.sweep_due() == 20 == bench.sql_sweep(db, clock.now())
            # each due step reads its own student, and no one else
            assert reads.count("student") == 20, reads
        finally:
            records.get = real
        db.close()
