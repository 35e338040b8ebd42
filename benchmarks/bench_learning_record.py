"""The learning record's reads at school scale, on SQLite and PostgreSQL, beside a plain
indexed-SQL baseline in the same database.

    .venv/bin/python benchmarks/bench_learning_record.py [--students 100000]
        [--submissions 1000000] [--calls 200] [--adapters sqlite,postgres] [--tiny]
        [--dsn postgresql://...]

**Seeding.** ``--students`` students (profiles in 100 classes, and a mastery document
each: 10 knowledge points met with estimates and FSRS review cards, as
``bench_mastery.py`` makes them) and ``--submissions`` graded submissions: for each, the
work document (its one attempt, score and rubric) filed under the student's index, and
its archive line (``work_graded``) filed under her index and her course's. The first
tenth of the submissions (up to 500 each) go to 200 students, the timed ones; the rest
are spread at random over every student (10^6 over 10^5: about 10 each). The rows are
bulk-inserted into the adapter's own tables (``records`` and ``record_index``: the
documents and index entries its writes make; ``executemany`` on SQLite, ``COPY`` on
PostgreSQL), since a million writes through the unit of work would take most of an
hour; the curriculum, the course map and a timetable of 40 open slots over the next ten
days are made through the school's services, and 20 timed students book 5 lessons each.

**The baseline** is plain tables in the same database: ``plain_archive`` with an index on
``(student_id, at_us, key)``, ``plain_work`` on ``(student_id, assigned_us)``,
``plain_mastery`` under ``PRIMARY KEY (student_id, point_id)``, the graph and course
points, ``plain_slot`` with an index on ``(course_id, start_us)`` and ``plain_booking``
on ``student_id``: the same answers computed from rows, with floats, no explanations.

**Reads**, each as academic staff (the access check and its audit row: a write unit of
work) for the timed students in random order, beside the baseline:

- ``archive``: the first page (50 lines) of her archive;
- ``next_step``: her learning path's next step;
- ``recommend``: the next course and slot, the slots found through each candidate
  course's ``slot_time`` index over a 14-day horizon (the service's own path).

Figures are the median and p90 of ``--calls`` calls after 5 warm-up calls.
PostgreSQL runs when ``--dsn`` or ``EDUENGINE_PG_DSN`` names a server (a schema of its
own, dropped at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_mastery import (
    COURSES,
    GRAPH,
    MASTERED,
    POINTS,
    ms,
    student_doc,
    template_doc,
    timed,
)

from eduengine import FixedClock, InMemoryStore, School
from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.learning import records as lrec
from eduengine.mastery.service import REVIEW_DUE
from eduengine.mastery.service import STUDENTS as MASTERY
from eduengine.students import Actor
from eduengine.students import records as srec

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = T - timedelta(days=365)
ACADEMIC = Actor(id="bench", role="academic")
LONG, LONG_LINES, SAMPLE, SLOTS, PAGE, BATCH = 200, 500, 20, 40, 50, 20_000
HORIZON = timedelta(days=14)


class Db:
    """One connection to the engine, for the seeding and the baseline."""

    def __init__(self, engine: str, conn: Any) -> None:
        self.engine, self.conn = engine, conn

    def sql(self, text: str) -> str:
        return text if self.engine == "sqlite" else text.replace("?", "%s")

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(self.sql(text), params).fetchall())

    def script(self, statements: Iterable[str]) -> None:
        for statement in statements:
            self.conn.execute(statement)
        self.commit()

    def insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        if self.engine == "sqlite":
            marks = ", ".join("?" * len(rows[0]))
            self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            return
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        self.conn.commit()


# --- the data --------------------------------------------------------------------------


def owners(students: int, submissions: int, rng: random.Random) -> Iterator[str]:
    long = min(LONG, students)
    for n in range(submissions):
        if n < min(long * LONG_LINES, submissions // 10):
            yield f"s{n % long:06d}"
        else:
            yield f"s{rng.randrange(students):06d}"


def work_doc(student: str, course: str, at: datetime, score: str) -> dict[str, Any]:
    return {
        "assignment_id": "a",
        "student_id": student,
        "kind": "homework",
        "course_id": course,
        "unit_id": None,
        "title": "Homework",
        "points": COURSES[course],
        "dimensions": ["vocabulary"],
        "teacher_id": "t1",
        "assigned_at": dt_out(at - timedelta(days=1)),
        "due_at": dt_out(at + timedelta(days=1)),
        "late_window_us": 0,
        "max_attempts": 1,
        "state": "graded",
        "attempts": [
            {
                "number": 1,
                "submitted_at": dt_out(at),
                "late": False,
                "content": "answers",
                "score": score,
                "rubric": [["vocabulary", score]],
                "comment": None,
                "graded_by": "t1",
                "returned": False,
            }
        ],
    }


def profile_doc() -> dict[str, Any]:
    """A registered student's profile document, to copy the shape of."""
    store = InMemoryStore()
    School.build(store, clock=FixedClock(T)).students.register("t", name="t")
    with store.unit_of_work() as uow:
        doc = uow.records.get(srec.STUDENTS, "t")
    assert doc is not None
    return doc


def seed(db: Db, students: int, submissions: int) -> None:
    """The records and index rows the adapter's writes make, and the baseline's rows."""
    db.script(
        [
            "CREATE TABLE plain_archive (student_id TEXT, at_us BIGINT, key TEXT,"
            " course_id TEXT, doc TEXT, PRIMARY KEY (key))",
            "CREATE INDEX plain_archive_student ON plain_archive (student_id, at_us, key)",
            "CREATE TABLE plain_work (key TEXT PRIMARY KEY, student_id TEXT,"
            " assigned_us BIGINT, doc TEXT)",
            "CREATE INDEX plain_work_student ON plain_work (student_id, assigned_us)",
            "CREATE TABLE plain_mastery (student_id TEXT, point_id TEXT, p REAL,"
            " due BIGINT, PRIMARY KEY (student_id, point_id))",
            "CREATE TABLE plain_prereq (point_id TEXT, needs TEXT)",
            "CREATE TABLE plain_course_point (course_id TEXT, point_id TEXT)",
            "CREATE TABLE plain_slot (id TEXT PRIMARY KEY, course_id TEXT, start_us BIGINT,"
            " tutor_id TEXT, seats_left INTEGER)",
            "CREATE INDEX plain_slot_course ON plain_slot (course_id, start_us)",
            "CREATE TABLE plain_booking (student_id TEXT, slot_id TEXT)",
            "CREATE INDEX plain_booking_student ON plain_booking (student_id)",
        ]
    )
    rng = random.Random(23)
    template = template_doc()
    shape = profile_doc()
    for first in range(0, students, BATCH):
        records, index, plain = [], [], []
        for i in range(first, min(students, first + BATCH)):
            sid = f"s{i:06d}"
            profile = {**shape, "name": sid, "class_id": f"c{i % 100}"}
            records.append((srec.STUDENTS, sid, json.dumps(profile, sort_keys=True)))
            doc = student_doc(template, rng)
            records.append((MASTERY, sid, json.dumps(doc, sort_keys=True)))
            due = min(micros(dt_in(c["due"])) for c in doc["cards"].values())
            index.append((MASTERY, REVIEW_DUE, due, sid))
            for point, state in doc["points"].items():
                card = micros(dt_in(doc["cards"][point]["due"]))
                plain.append((sid, point, float(state["p"]), card))
        db.insert("records", "kind, key, data", records)
        db.insert("record_index", "kind, name, value, key", index)
        db.insert("plain_mastery", "student_id, point_id, p, due", plain)
        db.commit()
    db.insert(
        "plain_prereq", "point_id, needs", [(p, n) for p, needs in GRAPH.items() for n in needs]
    )
    db.insert(
        "plain_course_point",
        "course_id, point_id",
        [(c, p) for c, points in COURSES.items() for p in points],
    )
    who = owners(students, submissions, rng)
    courses = sorted(COURSES)
    for first in range(0, submissions, BATCH):
        records, index, archive, works = [], [], [], []
        for n in range(first, min(submissions, first + BATCH)):
            sid = next(who)
            course = rng.choice(courses)
            at = START + timedelta(seconds=rng.randrange(365 * 24 * 3600))
            us = micros(at)
            score = f"0.{rng.randrange(10, 100)}"
            work_id = f"w{n:07d}:{sid}"
            work = json.dumps(work_doc(sid, course, at, score), sort_keys=True)
            records.append((lrec.WORKS, work_id, work))
            index.append((lrec.WORKS, lrec.by_student(sid), us - 86_400_000_000, work_id))
            key = f"{sid}|work|{work_id}|001|2"
            line = {
                "student_id": sid,
                "at": dt_out(at),
                "kind": "work_graded",
                "course_id": course,
                "ref": work_id,
                "detail": {"work_kind": "homework", "unit_id": None, "attempt": 1,
                           "score": score, "dimensions": {"vocabulary": score},
                           "grader": "t1", "comment": None},
            }
            text = json.dumps(line, sort_keys=True)
            records.append((lrec.ARCHIVE, key, text))
            index.append((lrec.ARCHIVE, lrec.by_student(sid), us, key))
            index.append((lrec.ARCHIVE, lrec.by_course(sid, course), us, key))
            archive.append((sid, us, key, course, text))
            works.append((work_id, sid, us - 86_400_000_000, work))
        db.insert("records", "kind, key, data", records)
        db.insert("record_index", "kind, name, value, key", index)
        db.insert("plain_archive", "student_id, at_us, key, course_id, doc", archive)
        db.insert("plain_work", "key, student_id, assigned_us, doc", works)
        db.commit()
        if (first + BATCH) % 200_000 == 0:
            print(f"  {first + BATCH:,} submissions stored", file=sys.stderr, flush=True)


def timetable(school: School, db: Db, sample: Sequence[str]) -> None:
    """40 open slots over the next ten days through the service (and the baseline's), and
    5 lessons booked by each sampled student."""
    for point, needs in GRAPH.items():
        school.mastery.define_point(point, prerequisites=needs)
    for course, points in COURSES.items():
        school.mastery.define_course(course, points)
    slots, plain = [], []
    for k in range(SLOTS):
        start = T + timedelta(days=1 + k % 10, hours=k % 8)
        slot = school.booking.create_slot(
            f"c{k % 10}", start, start + timedelta(hours=1), 30, tutor_id=f"t{k % 4}"
        )
        slots.append(slot.id)
        plain.append((slot.id, f"c{k % 10}", micros(start), f"t{k % 4}", 30))
    booked = []
    for s, student in enumerate(sample):
        for k in range(5):
            slot_id = slots[(s + 7 * k) % SLOTS]
            school.booking.book(slot_id, student)
            booked.append((student, slot_id))
    # the baseline's rows after the school's writes: one writer at a time on SQLite
    db.insert("plain_slot", "id, course_id, start_us, tutor_id, seats_left", plain)
    db.insert("plain_booking", "student_id, slot_id", booked)
    db.commit()


# --- the baseline's reads ------------------------------------------------------------


def sql_archive(db: Db, student: str) -> list[tuple[Any, ...]]:
    return db.rows(
        f"SELECT at_us, key, doc FROM plain_archive WHERE student_id = ? "
        f"ORDER BY at_us, key LIMIT {PAGE}",
        (student,),
    )


def sql_next_step(db: Db, student: str) -> tuple[str, str | None]:
    now = micros(T)
    rows = db.rows("SELECT point_id, p, due FROM plain_mastery WHERE student_id = ?", (student,))
    due = sorted((d, p) for p, _, d in rows if d <= now)
    if due:
        return "review", due[0][1]
    mastery = {p: m for p, m, _ in rows}
    needs: dict[str, list[str]] = {p: [] for p in POINTS}
    for point, need in db.rows("SELECT point_id, needs FROM plain_prereq"):
        needs[point].append(need)
    open_points = [
        (mastery.get(p, 0.2), p)
        for p in POINTS
        if mastery.get(p, 0.2) < MASTERED and all(mastery.get(n, 0.2) >= MASTERED for n in needs[p])
    ]
    return ("learn", min(open_points)[1]) if open_points else ("done", None)


def sql_recommend(db: Db, student: str) -> str | None:
    mastery = dict(
        db.rows("SELECT point_id, p FROM plain_mastery WHERE student_id = ?", (student,))
    )
    course_points: dict[str, list[str]] = {}
    for course, point in db.rows("SELECT course_id, point_id FROM plain_course_point"):
        course_points.setdefault(course, []).append(point)
    need = {
        c: sum(1 - mastery.get(p, 0.2) for p in ps) / len(ps) for c, ps in course_points.items()
    }
    history = db.rows(
        "SELECT s.start_us, s.tutor_id FROM plain_booking b JOIN plain_slot s ON s.id = "
        "b.slot_id WHERE b.student_id = ?",
        (student,),
    )
    mine = {s for (s,) in db.rows("SELECT slot_id FROM plain_booking WHERE student_id = ?",
                                  (student,))}
    marks = ", ".join("?" * len(course_points))
    slots = db.rows(
        f"SELECT id, course_id, start_us, tutor_id FROM plain_slot WHERE course_id IN ({marks})"
        " AND start_us > ? AND start_us <= ? AND seats_left > 0",
        [*sorted(course_points), micros(T), micros(T + HORIZON)],
    )
    tutors = [t for _, t in history]
    best = None
    for slot_id, course, _start, tutor in slots:
        if slot_id in mine:
            continue
        score = need.get(course, 0) + (tutors.count(tutor) / len(tutors) if tutors else 0)
        if best is None or score > best[0]:
            best = (score, slot_id)
    return best[1] if best else None


def open_engine(engine: str, tmp: Path, dsn: str | None) -> tuple[Any, Db, Callable[[], None]]:
    if engine == "sqlite":
        from eduengine.adapters.sqlite import SqliteStore

        path = tmp / "school.sqlite3"
        store: Any = SqliteStore(path)
        store.migrate()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")

        def close() -> None:
            conn.close()
            store.close()

        return store, Db("sqlite", conn), close
    import psycopg

    from eduengine.adapters.postgres import PostgresStore

    assert dsn is not None
    schema = f"bench_learning_{uuid.uuid4().hex[:8]}"
    store = PostgresStore(dsn, schema=schema)
    store.migrate()
    pg = psycopg.connect(dsn, options=f"-c search_path={schema}")

    def drop() -> None:
        pg.close()
        store.close()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

    return store, Db("postgres", pg), drop


def run(engine: str, args: argparse.Namespace, tmp: Path) -> list[tuple[str, ...]]:
    students, submissions = args.students, args.submissions
    rng = random.Random(11)
    long = [f"s{n:06d}" for n in range(min(LONG, students))]
    sample = long[:SAMPLE]
    store, db, close = open_engine(engine, tmp, args.dsn)
    try:
        started = time.perf_counter()
        seed(db, students, submissions)
        if engine == "postgres":
            db.script(["ANALYZE"])
        school = School.build(store, clock=FixedClock(T), reminders=None, notices=None)
        timetable(school, db, sample)
        print(
            f"{engine}: seeded {students:,} students, {submissions:,} submissions in "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        drawn = [rng.choice(long) for _ in range(args.calls)]
        with_history = [sample[n % len(sample)] for n in range(args.calls)]
        anyone = [f"s{rng.randrange(students):06d}" for _ in range(args.calls)]
        mastery, learning = school.mastery, school.learning
        cases: list[tuple[str, Callable[[str], object], Callable[[str], object], list[str]]] = [
            (
                "archive page",
                lambda s: learning.archive(ACADEMIC, s, limit=PAGE),
                lambda s: sql_archive(db, s),
                drawn,
            ),
            (
                "next_step",
                lambda s: mastery.next_step(s, actor=ACADEMIC),
                lambda s: sql_next_step(db, s),
                anyone,
            ),
            (
                "recommend",
                lambda s: mastery.recommend(s, horizon=HORIZON, actor=ACADEMIC),
                lambda s: sql_recommend(db, s),
                with_history,
            ),
        ]
        rows: list[tuple[str, ...]] = []
        for name, lib, raw, who in cases:
            lib_50, lib_90 = timed(lib, who)
            raw_50, raw_90 = timed(raw, who)
            rows.append(
                (
                    name,
                    engine,
                    f"{students:,} / {submissions:,}",
                    ms(lib_50),
                    ms(lib_90),
                    ms(raw_50),
                    ms(raw_90),
                    f"{lib_50 / raw_50:.1f}x",
                )
            )
        return rows
    finally:
        close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--adapters", default="sqlite,postgres")
    parser.add_argument("--dsn", default=os.environ.get("EDUENGINE_PG_DSN"))
    parser.add_argument("--tiny", action="store_true", help="300 students, 3,000 submissions")
    args = parser.parse_args(argv)
    if args.tiny:
        args.students, args.submissions, args.calls = 300, 3_000, 20
    engines = [a for a in args.adapters.split(",") if a]
    for engine in engines:
        if engine not in ("sqlite", "postgres"):
            parser.error(f"unknown adapter {engine!r}")
    head = ("read", "adapter", "students / submissions", "p50", "p90", "SQL p50", "SQL p90",
            "lib/SQL")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head), flush=True)
    for engine in engines:
        if engine == "postgres" and not args.dsn:
            print("postgres: skipped (no --dsn / EDUENGINE_PG_DSN)", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            # each engine's rows as soon as they are measured (a full run takes long)
            for row in run(engine, args, Path(tmp)):
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
