"""Segment pages and the journey sweep at school scale, beside plain indexed SQL.

    .venv/bin/python benchmarks/bench_growth.py [--students 100000] [--adapters memory,sqlite]

For each adapter it stores ``--students`` students as registration makes them (a
student document and her roster place, written directly in batches, as the ``segments``
projection files them), one in ten tagged ``vip``, and a ``welcome`` journey
(registered and no purchase after 3 days: a task for staff) with one due step per
student: ``--due`` of them due now, the others later. It then times:

- ``segments.page(vip, limit=100, actor=SYSTEM)``: the first page of the segment, and a page after a
  cursor in the middle of the roster (keyset: the same work);
- ``journeys.sweep_due()`` with nothing due (what a ``run-due`` tick costs a school
  whatever its size), and with ``--due`` steps due (each taken in its own unit of work).

and, in the same run, a **plain indexed-SQL baseline** (its own SQLite file, same
pragmas): ``student(place INTEGER PRIMARY KEY, id, vip, ...)`` with an index on
``(vip, place)`` answering ``WHERE vip = 1 AND place > ? ORDER BY place LIMIT 100``, and
``due(key PRIMARY KEY, student_id, at)`` with an index on ``at``, swept by reading the
rows due and moving each to a ``step`` table in a transaction of its own. Pages are the
median (and p90) of ``--calls`` calls after warm-up; a sweep is timed once (it changes
the store), on a fresh copy of the due rows for the baseline.

What the baseline leaves out is what the library does on top: a segment is any mix of
conditions (stage, tags, activity, purchases, packages, spend, guardians, mastery)
checked on each student's document, where the baseline has one index made for the one
condition; a step checks the trigger still holds, quiet hours and the frequency cap,
and records an event.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.growth import Journey, Segment, StaffTask, Step, Trigger
from eduengine.growth.journeys import file_due
from eduengine.growth.segments import ROSTER_SEQ, file_roster
from eduengine.kernel.codec import dt_out, micros
from eduengine.people import SYSTEM
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import records as rec

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VIP = Segment(tags_any={"vip"})
WELCOME = Journey(
    key="welcome",
    trigger=Trigger.registered_no_purchase(days=3),
    steps=[Step(name="call", action=StaffTask(title="call the new student"))],
)
BATCH = 5_000
WARMUP = 3
LIMIT = 100


def build_school(adapter: str, where: Path) -> tuple[School, Any, FixedClock]:
    if adapter == "memory":
        store: Any = InMemoryStore()
    else:
        store = SqliteStore(where / "school.sqlite3")
        store.migrate()
    clock = FixedClock(T)
    school = School.build(store, clock=clock, reminders=None, notices=None, journeys=[WELCOME])
    return school, store, clock


def student_doc(sid: str, registered: datetime, vip: bool) -> dict[str, Any]:
    """A student document of the shape registration writes."""
    at = dt_out(registered)
    return {
        "name": sid,
        "phone": None,
        "email": None,
        "birth_date": None,
        "class_id": None,
        "erased": False,
        "guardians": [],
        "packages": [],
        "stage": "registered",
        "tags": ["vip"] if vip else [],
        "facts": {
            "registered_at": at,
            "last_active": at,
            "last_login": None,
            "modules": [],
            "purchases": 0,
            "trial": False,
        },
    }


def registered_at(i: int, students: int, due: int) -> datetime:
    """The first ``due`` students' steps come due an hour after ``T``, the others' two
    to three days after it: nothing is due at ``T``, exactly ``due`` a day later."""
    if i < due:
        return T - timedelta(days=3) + timedelta(hours=1, milliseconds=i)
    return T - timedelta(days=1) + timedelta(seconds=(i * 80_000) // students)


def fill_school(store: Any, students: int, due: int) -> None:
    for first in range(0, students, BATCH):
        with store.unit_of_work() as uow:
            tx: UnitOfWork = uow
            for i in range(first, min(students, first + BATCH)):
                sid = f"s{i:06d}"
                when = registered_at(i, students, due)
                doc = student_doc(sid, when, i % 10 == 3)
                tx.records.put(rec.STUDENTS, sid, doc)
                roster = {"place": i + 1, "registered": micros(when), "due": None}
                file_roster(tx, sid, roster, doc)
                file_due(tx, WELCOME, sid, when + WELCOME.trigger.wait)
            tx.records.put(ROSTER_SEQ, "next", {"n": min(students, first + BATCH)})
            tx.commit()


# --- the plain indexed-SQL baseline --------------------------------------------------


def baseline(where: Path, students: int, due: int) -> sqlite3.Connection:
    db = sqlite3.connect(where / "baseline.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(
        """
        CREATE TABLE student (place INTEGER PRIMARY KEY, id TEXT UNIQUE, stage TEXT,
                              vip INTEGER, purchases INTEGER, registered INTEGER);
        CREATE INDEX student_vip ON student (vip, place);
        CREATE TABLE due (key TEXT PRIMARY KEY, student_id TEXT, at INTEGER);
        CREATE INDEX due_at ON due (at);
        CREATE TABLE step (key TEXT PRIMARY KEY, at INTEGER);
        """
    )
    db.execute("BEGIN")
    rows = []
    for i in range(students):
        when = registered_at(i, students, due)
        rows.append((i + 1, f"s{i:06d}", "registered", int(i % 10 == 3), 0, micros(when)))
    db.executemany("INSERT INTO student VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.executemany(
        "INSERT INTO due VALUES (?, ?, ?)",
        [(f"welcome/call/{sid}", sid, at + 3 * 86_400_000_000) for _, sid, _, _, _, at in rows],
    )
    db.execute("COMMIT")
    return db


def sql_page(db: sqlite3.Connection, after: int | None) -> tuple[list[str], int | None]:
    rows = db.execute(
        "SELECT place, id FROM student WHERE vip = 1 AND place > ? ORDER BY place LIMIT ?",
        (after or 0, LIMIT),
    ).fetchall()
    return [sid for _, sid in rows], (rows[-1][0] if len(rows) == LIMIT else None)


def sql_sweep(db: sqlite3.Connection, now: datetime) -> int:
    done = 0
    while True:
        rows = db.execute(
            "SELECT key, student_id FROM due WHERE at <= ? ORDER BY at LIMIT 200", (micros(now),)
        ).fetchall()
        for key, student in rows:
            db.execute("BEGIN IMMEDIATE")
            (purchases,) = db.execute(
                "SELECT purchases FROM student WHERE id = ?", (student,)
            ).fetchone()
            if purchases == 0 and db.execute("DELETE FROM due WHERE key = ?", (key,)).rowcount:
                db.execute("INSERT INTO step VALUES (?, ?)", (key, micros(now)))
                done += 1
            db.execute("COMMIT")
        if len(rows) < 200:
            return done


# --- timing -----------------------------------------------------------------------------


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """Median and p90 seconds of ``calls`` calls (after warm-up calls)."""
    for _ in range(WARMUP):
        call()
    times = []
    gc.disable()
    try:
        for _ in range(calls):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
    finally:
        gc.enable()
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def once(call: Callable[[], object]) -> tuple[float, object]:
    gc.disable()
    try:
        started = time.perf_counter()
        result = call()
        return time.perf_counter() - started, result
    finally:
        gc.enable()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def run(adapter: str, students: int, due: int, calls: int, where: Path) -> list[tuple[str, ...]]:
    started = time.perf_counter()
    school, store, clock = build_school(adapter, where)
    fill_school(store, students, due)
    built = time.perf_counter() - started
    db = baseline(where, students, due)
    middle = f"r{students // 2}"
    rows: list[tuple[str, ...]] = []
    for name, lib, raw in (
        (
            "segment page 1",
            lambda: school.segments.page(VIP, limit=LIMIT, actor=SYSTEM),
            lambda: sql_page(db, None),
        ),
        (
            "segment page mid",
            lambda: school.segments.page(VIP, after=middle, limit=LIMIT, actor=SYSTEM),
            lambda: sql_page(db, students // 2),
        ),
        (
            "sweep, none due",
            lambda: school.journeys.sweep_due(),
            lambda: sql_sweep(db, T),
        ),
    ):
        lib_50, lib_90 = timed(lib, calls)
        raw_50, raw_90 = timed(raw, calls)
        ratio = f"{lib_50 / raw_50:.1f}x"
        rows.append(
            (name, adapter, f"{students:,}", ms(lib_50), ms(lib_90), ms(raw_50), ms(raw_90), ratio)
        )
    # a day later the first ``due`` students' steps are due: each is taken once
    clock.set(T + timedelta(days=1))
    lib_s, taken = once(school.journeys.sweep_due)
    raw_s, raw_taken = once(lambda: sql_sweep(db, clock.now()))
    assert taken == raw_taken == due, (taken, raw_taken, due)
    ratio = f"{lib_s / raw_s:.1f}x"
    rows.append(
        (f"sweep, {due:,} due", adapter, f"{students:,}", ms(lib_s), "", ms(raw_s), "", ratio)
    )
    db.close()
    if hasattr(store, "close"):
        store.close()
    print(f"{adapter}: stored {students:,} students in {built:.1f} s", file=sys.stderr)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--adapters", default="memory,sqlite")
    args = parser.parse_args(argv)
    if not 0 < args.due <= args.students:
        parser.error("--due is between 1 and --students")
    rows: list[tuple[str, ...]] = []
    for adapter in [a for a in args.adapters.split(",") if a]:
        if adapter not in ("memory", "sqlite"):
            parser.error(f"unknown adapter {adapter!r}")
        with tempfile.TemporaryDirectory() as tmp:
            rows += run(adapter, args.students, args.due, args.calls, Path(tmp))
    head = ("call", "adapter", "students", "p50", "p90", "SQL p50", "SQL p90", "lib/SQL")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
