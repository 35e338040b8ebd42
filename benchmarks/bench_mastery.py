"""The learning path and recommendations at school scale, beside plain indexed SQL.

    .venv/bin/python benchmarks/bench_mastery.py [--students 100000] [--adapters memory,sqlite]

For each adapter it stores ``--students`` students, each with 10 knowledge points met
(an estimate and an FSRS review card per point, about 3 kB of JSON per student, written
with the mastery module's own ``_save_student`` so the ``review_due`` index is filed),
a school graph of 30 points (a chain of ten 3-point levels) and 10 courses of 3 points,
and a timetable of 40 open slots. A sample of 20 students also holds 5 booked lessons
each (the history recommendations learn habits from). It then times, for students drawn
at random:

- ``school.mastery.next_step(student, actor=...)``;
- ``school.mastery.recommend(student, horizon=14 days, actor=...)``: the service's own
  path, which finds the open slots through each candidate course's ``slot_time`` index;

and, in the same run, the same two answers from a **plain indexed-SQL baseline** (its
own SQLite file with the same pragmas: one row per student and point with
``PRIMARY KEY (student_id, point_id)``, the graph, course points, slots (indexed by
``(course_id, start)``, read by the candidate courses and the horizon as the service
reads them) and bookings in small tables with their indexes; the same rules computed in
Python from the rows, with floats, and no explanations). Each library call is read as
academic staff, so it includes the access check and its audit row (a write unit of
work). Each call's time is the median (and p90) of ``--calls``
calls after 5 warm-up calls; the garbage collector is paused while timing.

What the baseline leaves out is what the library does on top: documents as JSON,
Decimal arithmetic, FSRS cards, every step's explanation in data, the unit of work.
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.kernel.codec import dt_out
from eduengine.mastery.service import _save_student, observe_in
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import Actor

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POINTS = [f"p{i:02d}" for i in range(30)]
#: a chain of ten levels of three points: each point needs the three of the level below
GRAPH = {p: POINTS[(i // 3 - 1) * 3 : (i // 3) * 3] if i >= 3 else [] for i, p in enumerate(POINTS)}
COURSES = {f"c{j}": POINTS[j * 3 : j * 3 + 3] for j in range(10)}
PER_STUDENT = 10
SLOTS = 40
SAMPLE = 20
BATCH = 5_000
WARMUP = 5
MASTERED = 0.95
#: how far ahead recommendations look for slots (the timetable spans ten days)
HORIZON = timedelta(days=14)
#: who reads: the access check passes and writes its audit row, as in a host
READER = Actor(id="bench", role="academic")


def student_doc(template: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A student with 10 points: the template's cards, her own estimates and due dates."""
    met = sorted(rng.sample(POINTS[:15], PER_STUDENT))
    points, cards = {}, {}
    for n, point in enumerate(met):
        base = template["points"][f"t{n}"]
        points[point] = {**base, "p": f"{rng.uniform(0.1, 0.999):.12f}"}
        due = T + timedelta(days=rng.uniform(-5, 30))
        cards[point] = {**template["cards"][f"t{n}"], "due": dt_out(due)}
    return {"points": points, "cards": cards}


def template_doc() -> dict[str, Any]:
    """One real student document, made by observations, to copy the shape of."""
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        for n in range(PER_STUDENT):
            observe_in(uow, "t", f"t{n}", Decimal("0.8"), T - timedelta(days=1, minutes=n))
        doc = uow.records.get("mastery_student", "t")
        uow.collect_events()
    assert doc is not None
    return doc


def build_school(adapter: str, where: Path) -> tuple[School, Any]:
    if adapter == "memory":
        store: Any = InMemoryStore()
    else:
        store = SqliteStore(where / "school.sqlite3")
        store.migrate()
    school = School.build(store, clock=FixedClock(T), reminders=None, notices=None)
    return school, store


def fill_school(school: School, store: Any, students: int, sample: list[str]) -> list[str]:
    rng = random.Random(7)
    template = template_doc()
    for point, needs in GRAPH.items():
        school.mastery.define_point(point, prerequisites=needs)
    for course, points in COURSES.items():
        school.mastery.define_course(course, points)
    for first in range(0, students, BATCH):
        with store.unit_of_work() as uow:
            tx: UnitOfWork = uow
            for i in range(first, min(students, first + BATCH)):
                _save_student(tx, f"s{i}", student_doc(template, rng))
            tx.commit()
    timetable = []
    for k in range(SLOTS):
        start = T + timedelta(days=1 + k % 10, hours=k % 8)
        slot = school.booking.create_slot(
            f"c{k % 10}", start, start + timedelta(hours=1), 30, tutor_id=f"t{k % 4}"
        )
        timetable.append(slot.id)
    for s, student in enumerate(sample):
        for k in range(5):
            school.booking.book(timetable[(s + 7 * k) % SLOTS], student)
    return timetable


# --- the plain indexed-SQL baseline --------------------------------------------------


def baseline(
    where: Path, students: int, sample: list[str], timetable_size: int
) -> sqlite3.Connection:
    db = sqlite3.connect(where / "baseline.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(
        """
        CREATE TABLE mastery (student_id TEXT, point_id TEXT, p REAL, due INTEGER,
                              PRIMARY KEY (student_id, point_id)) WITHOUT ROWID;
        CREATE TABLE prereq (point_id TEXT, needs TEXT);
        CREATE TABLE course_point (course_id TEXT, point_id TEXT);
        CREATE TABLE slot (id TEXT PRIMARY KEY, course_id TEXT, start INTEGER,
                           tutor_id TEXT, seats_left INTEGER);
        CREATE TABLE booking (id INTEGER PRIMARY KEY, student_id TEXT, slot_id TEXT);
        CREATE INDEX booking_student ON booking (student_id);
        CREATE INDEX slot_course ON slot (course_id, start);
        """
    )
    rng = random.Random(7)
    db.execute("BEGIN")
    for i in range(students):
        met = sorted(rng.sample(POINTS[:15], PER_STUDENT))
        db.executemany(
            "INSERT INTO mastery VALUES (?, ?, ?, ?)",
            [
                (
                    f"s{i}",
                    p,
                    rng.uniform(0.1, 0.999),
                    int((T + timedelta(days=rng.uniform(-5, 30))).timestamp() * 1e6),
                )
                for p in met
            ],
        )
    db.executemany(
        "INSERT INTO prereq VALUES (?, ?)", [(p, n) for p, needs in GRAPH.items() for n in needs]
    )
    db.executemany(
        "INSERT INTO course_point VALUES (?, ?)",
        [(c, p) for c, points in COURSES.items() for p in points],
    )
    for k in range(timetable_size):
        start = T + timedelta(days=1 + k % 10, hours=k % 8)
        db.execute(
            "INSERT INTO slot VALUES (?, ?, ?, ?, 30)",
            (f"b{k}", f"c{k % 10}", int(start.timestamp() * 1e6), f"t{k % 4}"),
        )
    for s, student in enumerate(sample):
        for k in range(5):
            db.execute(
                "INSERT INTO booking (student_id, slot_id) VALUES (?, ?)",
                (student, f"b{(s + 7 * k) % timetable_size}"),
            )
    db.execute("COMMIT")
    return db


def sql_next_step(db: sqlite3.Connection, student: str) -> tuple[str, str | None]:
    now = int(T.timestamp() * 1e6)
    rows = db.execute(
        "SELECT point_id, p, due FROM mastery WHERE student_id = ?", (student,)
    ).fetchall()
    due = sorted((d, p) for p, _, d in rows if d <= now)
    if due:
        return "review", due[0][1]
    mastery = {p: m for p, m, _ in rows}
    needs: dict[str, list[str]] = {p: [] for p in POINTS}
    for point, need in db.execute("SELECT point_id, needs FROM prereq"):
        needs[point].append(need)
    open_points = [
        (mastery.get(p, 0.2), p)
        for p in POINTS
        if mastery.get(p, 0.2) < MASTERED and all(mastery.get(n, 0.2) >= MASTERED for n in needs[p])
    ]
    return ("learn", min(open_points)[1]) if open_points else ("done", None)


def sql_recommend(db: sqlite3.Connection, student: str) -> str | None:
    mastery = dict(
        db.execute("SELECT point_id, p FROM mastery WHERE student_id = ?", (student,)).fetchall()
    )
    course_points: dict[str, list[str]] = {}
    for course, point in db.execute("SELECT course_id, point_id FROM course_point"):
        course_points.setdefault(course, []).append(point)
    need = {
        c: sum(1 - mastery.get(p, 0.2) for p in ps) / len(ps) for c, ps in course_points.items()
    }
    history = db.execute(
        "SELECT s.start, s.tutor_id FROM booking b JOIN slot s ON s.id = b.slot_id "
        "WHERE b.student_id = ?",
        (student,),
    ).fetchall()
    # the candidate courses' slots in the horizon, by the (course_id, start) index
    marks = ",".join("?" * len(course_points))
    slots = db.execute(
        f"SELECT id, course_id, start, tutor_id FROM slot WHERE course_id IN ({marks})"
        " AND start > ? AND start <= ? AND seats_left > 0",
        [*sorted(course_points), int(T.timestamp() * 1e6), int((T + HORIZON).timestamp() * 1e6)],
    ).fetchall()
    mine = {
        s for (s,) in db.execute("SELECT slot_id FROM booking WHERE student_id = ?", (student,))
    }
    tutors = [t for _, t in history]
    best = None
    for slot_id, course, _start, tutor in slots:
        if slot_id in mine:
            continue
        score = need.get(course, 0) + (tutors.count(tutor) / len(tutors) if tutors else 0)
        if best is None or score > best[0]:
            best = (score, slot_id)
    return best[1] if best else None


# --- timing -----------------------------------------------------------------------------


def timed(call: Callable[[str], object], students: Sequence[str]) -> tuple[float, float]:
    """Median and p90 seconds of one call per student (after warm-up calls)."""
    for student in students[:WARMUP]:
        call(student)
    times = []
    gc.disable()
    try:
        for student in students:
            started = time.perf_counter()
            call(student)
            times.append(time.perf_counter() - started)
    finally:
        gc.enable()
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def run(adapter: str, students: int, calls: int, where: Path) -> list[tuple[str, ...]]:
    rng = random.Random(11)
    sample = [f"s{i}" for i in rng.sample(range(students), min(SAMPLE, students))]
    started = time.perf_counter()
    school, store = build_school(adapter, where)
    timetable = fill_school(school, store, students, sample)
    built = time.perf_counter() - started
    db = baseline(where, students, sample, len(timetable))
    drawn = [f"s{rng.randrange(students)}" for _ in range(calls)]
    with_history = [sample[n % len(sample)] for n in range(calls)]
    rows: list[tuple[str, ...]] = []
    for name, lib, raw, who in (
        (
            "next_step",
            lambda s: school.mastery.next_step(s, actor=READER),
            lambda s: sql_next_step(db, s),
            drawn,
        ),
        (
            "recommend",
            lambda s: school.mastery.recommend(s, horizon=HORIZON, actor=READER),
            lambda s: sql_recommend(db, s),
            with_history,
        ),
    ):
        lib_50, lib_90 = timed(lib, who)
        raw_50, raw_90 = timed(raw, who)
        rows.append(
            (
                name,
                adapter,
                f"{students:,}",
                ms(lib_50),
                ms(lib_90),
                ms(raw_50),
                ms(raw_90),
                f"{lib_50 / raw_50:.1f}x",
            )
        )
    db.close()
    if hasattr(store, "close"):
        store.close()
    print(f"{adapter}: stored {students:,} students in {built:.1f} s", file=sys.stderr)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--adapters", default="memory,sqlite")
    args = parser.parse_args(argv)
    rows: list[tuple[str, ...]] = []
    for adapter in [a for a in args.adapters.split(",") if a]:
        if adapter not in ("memory", "sqlite"):
            parser.error(f"unknown adapter {adapter!r}")
        with tempfile.TemporaryDirectory() as tmp:
            rows += run(adapter, args.students, args.calls, Path(tmp))
    head = ("call", "adapter", "students", "p50", "p90", "SQL p50", "SQL p90", "lib/SQL")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
