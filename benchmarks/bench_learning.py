"""A page of a student's learning archive at school scale on SQLite, beside a plain
indexed SQL table holding the same lines.

    .venv/bin/python benchmarks/bench_learning.py [--students 100000] [--records 1000000]
        [--tiny]

**Seeding.** ``--students`` student profiles (in 100 classes) and ``--records`` archive
lines spread over them (lessons attended and missed, homework steps, notes, over a
year, in 8 courses), written through the real adapter with the archive's own
``put_entry`` (the documents and index entries the projection writes), in units of
work of 10^4 lines. The same lines go to a plain table ``archive(student_id, at_us, key,
course_id, doc)`` with one index on ``(student_id, at_us, key)`` and one on
``(student_id, course_id, at_us, key)``: the baseline any hand-written SQL would use.

The timed students have long archives: the first tenth of the lines (up to 500 each)
goes to 200 of them, the rest is spread at random over every student (10^6 lines over
10^5 students: about 10 each).

**Reads.** For those 200 students, in random order: the first page (50 lines), the next page (keyset
cursor), one course's first page, and a month's first page, each through
``school.learning.archive`` as academic staff (it checks access and writes an audit
entry: a write unit of work) and through the archive's index read alone in a read-only
unit of work (``records.page``), beside the plain SQL query. Figures are p50 and p99 in
milliseconds.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time as timer
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.kernel.codec import micros
from eduengine.learning import ArchiveEntry
from eduengine.learning import records as lrec
from eduengine.students import Actor
from eduengine.students import records as srec

START = datetime(2025, 9, 1, tzinfo=UTC)
COURSES = [f"course-{n}" for n in range(8)]
KINDS = ["lesson_attended", "lesson_missed", "work_submitted", "work_graded", "teacher_note"]
ACADEMIC = Actor(id="bench", role="academic")
BATCH = 10_000
PAGE = 50


#: students with a long archive (a year of lessons and homework: about 500 lines each),
#: the ones the reads are timed on; the other lines are spread over every student
LONG = 200
LONG_LINES = 500


def lines(students: int, records: int, rng: random.Random) -> list[tuple[str, ArchiveEntry]]:
    out = []
    long = min(LONG, students)
    for n in range(records):
        if n < min(long * LONG_LINES, records // 10):
            student = f"s{n % long:06d}"
        else:
            student = f"s{rng.randrange(students):06d}"
        at = START + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        kind = rng.choice(KINDS)
        entry = ArchiveEntry(
            student_id=student,
            at=at,
            kind=kind,
            course_id=rng.choice(COURSES),
            ref=f"r{n}",
            detail={"score": "0.8"} if kind == "work_graded" else {},
        )
        out.append((f"{student}|bench|{n:09d}", entry))
    return out


def seed(
    path: Path, students: int, records: int
) -> tuple[SqliteStore, sqlite3.Connection, float, float]:
    rng = random.Random(23)
    store = SqliteStore(path)
    store.migrate()
    started = timer.perf_counter()
    ids = [f"s{n:06d}" for n in range(students)]
    for chunk in range(0, students, BATCH):
        with store.unit_of_work() as uow:
            for sid in ids[chunk : chunk + BATCH]:
                uow.records.put(
                    srec.STUDENTS,
                    sid,
                    {"name": sid, "class_id": f"c{int(sid[1:]) % 100}", "erased": False},
                )
            uow.commit()
    every = lines(students, records, rng)
    for chunk in range(0, records, BATCH):
        with store.unit_of_work() as uow:
            for key, entry in every[chunk : chunk + BATCH]:
                lrec.put_entry(uow, key, entry)
            uow.commit()
    ours = timer.perf_counter() - started
    started = timer.perf_counter()
    plain = sqlite3.connect(path.with_suffix(".plain.sqlite3"))
    plain.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        "CREATE TABLE archive (student_id TEXT, at_us INTEGER, key TEXT, course_id TEXT,"
        " doc TEXT, PRIMARY KEY (key));"
        "CREATE INDEX archive_student ON archive (student_id, at_us, key);"
        "CREATE INDEX archive_course ON archive (student_id, course_id, at_us, key);"
    )
    for chunk in range(0, records, BATCH):
        plain.executemany(
            "INSERT INTO archive VALUES (?, ?, ?, ?, ?)",
            [
                (
                    e.student_id,
                    micros(e.at),
                    key,
                    e.course_id,
                    json.dumps({"kind": e.kind, "ref": e.ref, "detail": dict(e.detail)}),
                )
                for key, e in every[chunk : chunk + BATCH]
            ],
        )
        plain.commit()
    return store, plain, ours, timer.perf_counter() - started


def plain_page(
    db: sqlite3.Connection,
    student: str,
    *,
    course: str | None = None,
    lo: int | None = None,
    hi: int | None = None,
    after: tuple[int, str] | None = None,
) -> list[tuple[int, str, str]]:
    where, args = ["student_id = ?"], [student]
    if course is not None:
        where.append("course_id = ?")
        args.append(course)
    if lo is not None:
        where.append("at_us >= ?")
        args.append(str(lo))
    if hi is not None:
        where.append("at_us <= ?")
        args.append(str(hi))
    if after is not None:
        where.append("(at_us, key) > (?, ?)")
        args += [str(after[0]), after[1]]
    rows = db.execute(
        f"SELECT at_us, key, doc FROM archive WHERE {' AND '.join(where)} "
        f"ORDER BY at_us, key LIMIT {PAGE}",
        [int(a) if a.isdigit() else a for a in args],
    ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


Calls = list[Callable[[], object]]


def timed(calls: list[Callable[[], object]]) -> tuple[float, float]:
    for call in calls[:5]:
        call()  # warm up
    took = []
    for call in calls:
        started = timer.perf_counter()
        call()
        took.append((timer.perf_counter() - started) * 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, int(len(took) * 0.99))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--tiny", action="store_true", help="10^2 students, 10^3 records")
    args = parser.parse_args(argv)
    students, records = (100, 1_000) if args.tiny else (args.students, args.records)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        store, plain, ours_s, plain_s = seed(Path(tmp) / "bench.sqlite3", students, records)
        print(
            f"seeded {students:,} students, {records:,} archive lines: "
            f"{ours_s:.1f} s through the adapter, {plain_s:.1f} s into the plain table"
        )
        school = School.build(store, clock=FixedClock(START + timedelta(days=400)))
        learning = school.learning
        chosen = [f"s{n:06d}" for n in range(min(LONG, students))]
        rng.shuffle(chosen)
        month_lo = micros(START + timedelta(days=90))
        month_hi = micros(START + timedelta(days=120)) - 1
        cursors: dict[str, str | None] = {}
        for sid in chosen:
            first = learning.archive(ACADEMIC, sid, limit=PAGE)
            assert first.entries, f"{sid} has an empty archive"
            cursors[sid] = first.next

        def index_only(
            sid: str,
            *,
            course: str | None = None,
            lo: int | None = None,
            hi: int | None = None,
            after: tuple[int, str] | None = None,
        ) -> Callable[[], object]:
            def read() -> object:
                with store.unit_of_work(read_only=True) as uow:
                    index = lrec.by_student(sid) if course is None else lrec.by_course(sid, course)
                    rows, _ = lrec.page(
                        uow.records,
                        lrec.ARCHIVE,
                        index,
                        lo=lo,
                        hi=hi,
                        limit=PAGE,
                        after=after,
                        descending=False,
                    )
                    return [uow.records.get(lrec.ARCHIVE, k) for k, _ in rows]

            return read

        archive = partial(learning.archive, ACADEMIC, limit=PAGE)
        deep = [s for s in chosen if cursors[s]]
        since, until = START + timedelta(days=90), START + timedelta(days=120)
        cases: list[tuple[str, Calls, Calls, Calls]] = [
            (
                "first page",
                [partial(archive, s) for s in chosen],
                [index_only(s) for s in chosen],
                [partial(plain_page, plain, s) for s in chosen],
            ),
            (
                "next page (cursor)",
                [partial(archive, s, after=cursors[s]) for s in deep],
                [index_only(s, after=lrec.cursor_in(cursors[s])) for s in deep],
                [partial(plain_page, plain, s, after=lrec.cursor_in(cursors[s])) for s in deep],
            ),
            (
                "one course",
                [partial(archive, s, course_id=COURSES[0]) for s in chosen],
                [index_only(s, course=COURSES[0]) for s in chosen],
                [partial(plain_page, plain, s, course=COURSES[0]) for s in chosen],
            ),
            (
                "one month",
                [partial(archive, s, since=since, until=until) for s in chosen],
                [index_only(s, lo=month_lo, hi=month_hi) for s in chosen],
                [partial(plain_page, plain, s, lo=month_lo, hi=month_hi) for s in chosen],
            ),
        ]
        print()
        print("| read | archive() p50 / p99 | index read p50 / p99 | plain SQL p50 / p99 |")
        print("|---|---|---|---|")
        for name, service, index, baseline in cases:
            if not service:
                print(f"| {name} | (no archive longer than a page) | | |")
                continue
            a50, a99 = timed(service)
            i50, i99 = timed(index)
            b50, b99 = timed(baseline)
            print(
                f"| {name} | {a50:.3f} / {a99:.3f} ms | {i50:.3f} / {i99:.3f} ms "
                f"| {b50:.3f} / {b99:.3f} ms |"
            )
        plain.close()
        store.close()


if __name__ == "__main__":
    main()
