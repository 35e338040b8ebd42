"""A day's timetable among N slots (issue #27): ``school.queries`` beside a hand-written
indexed SQL query over the same slots, in the same run.

    .venv/bin/python benchmarks/bench_timetable.py [--n 100000] [--adapters memory,sqlite]
        [--tiny]

It writes N slots through the adapter's own insert path (``uow.slots.add``, 10^4 per unit
of work, so each slot is filed in the ``slot_time`` index as a school's would be), spread
over a year (~N/365 a day) across 50 courses and 200 tutors, with a seat booked in every
tenth slot. The **baseline** is the same slots in a plain SQLite table ``baseline_slots`` with a
B-tree on ``(start_us, id)`` and ``(course_id, start_us, id)``, read with one SELECT of
the columns a timetable shows: what a host writing its own SQL would get. Each call is
timed as the median of 7 after 3 warm-up calls, the garbage collector paused.

Aim: a day's timetable (every slot of the day, one page) under 5 ms on SQLite at
N = 10^5.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import sys
import tempfile
import time as timer
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.booking.model import Slot
from eduengine.kernel.codec import micros

T = datetime(2026, 1, 1, tzinfo=UTC)
DAY = T + timedelta(days=180)
COURSES = 50
TUTORS = 200
BATCH = 10_000
WARMUP = 3
REPS = 7
AIM_SECONDS = 0.005


def slot_at(i: int, n: int) -> Slot:
    # evenly over 365 days, at whole minutes from 08:00 to 20:00
    day, within = divmod(i * 365, n)
    minute = 8 * 60 + (within * 720) // max(1, n)
    start = T + timedelta(days=day, minutes=minute + (i % 7) * 5)
    slot = Slot.create(
        slot_id=f"s{i:07}",
        course_id=f"c{i % COURSES:02}",
        tutor_id=f"t{i % TUTORS:03}",
        start=start,
        end=start + timedelta(minutes=50),
        capacity=8,
        now=T - timedelta(days=1),
    )
    if i % 10 == 0:
        slot.book(f"st{i}", now=T - timedelta(days=1), new_id=lambda: f"b{i}")
    return slot


def fill(store: InMemoryStore | SqliteStore, n: int) -> None:
    for at in range(0, n, BATCH):
        with store.unit_of_work() as uow:
            for i in range(at, min(n, at + BATCH)):
                uow.slots.add(slot_at(i, n))
            uow.commit()


def fill_baseline(path: Path, n: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE baseline_slots (id TEXT PRIMARY KEY, course_id TEXT, tutor_id TEXT, "
        "start_us INTEGER, end_us INTEGER, capacity INTEGER, booked INTEGER, "
        "waiting INTEGER, opens_us INTEGER, status TEXT)"
    )
    rows = []
    for i in range(n):
        s = slot_at(i, n)
        times = (micros(s.start), micros(s.end))
        rows.append(
            (s.id, s.course_id, s.tutor_id, *times, s.capacity, len(s.bookings), 0, None, "open")
        )
    conn.executemany("INSERT INTO baseline_slots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("CREATE INDEX baseline_by_start ON baseline_slots (start_us, id)")
    conn.execute("CREATE INDEX baseline_by_course ON baseline_slots (course_id, start_us, id)")
    conn.commit()
    return conn


def timed(call: Callable[[], Sequence[object]]) -> tuple[float, Sequence[object]]:
    for _ in range(WARMUP):
        call()
    times = []
    gc.disable()
    try:
        for _ in range(REPS):
            began = timer.perf_counter()
            out = call()
            times.append(timer.perf_counter() - began)
    finally:
        gc.enable()
    return statistics.median(times), out


def run(adapter: str, n: int, folder: Path) -> list[tuple[str, str, float, int]]:
    store: InMemoryStore | SqliteStore
    if adapter == "memory":
        store = InMemoryStore()
    else:
        store = SqliteStore(folder / f"timetable-{n}.sqlite3")
        store.migrate()
    fill(store, n)
    school = School.build(store, clock=FixedClock(T), reminders=None)
    q = school.queries
    end = DAY + timedelta(days=1)
    calls: list[tuple[str, Callable[[], Sequence[object]]]] = [
        ("a day, every slot", lambda: q.timetable(start=DAY, end=end, limit=500).items),
        ("a day, one course", lambda: q.timetable(start=DAY, end=end, course_id="c07").items),
        ("a day, first page of 20", lambda: q.timetable(start=DAY, end=end, limit=20).items),
        ("a tutor's week", lambda: q.tutor_week("t042", DAY, zone="Europe/Paris")),
    ]
    out = []
    for name, call in calls:
        seconds, found = timed(call)
        out.append((name, adapter, seconds, len(found)))
    if adapter == "sqlite":
        base = fill_baseline(folder / f"baseline-{n}.sqlite3", n)
        lo, hi = micros(DAY), micros(end) - 1
        sql = (
            "SELECT id, course_id, tutor_id, start_us, end_us, capacity, booked, waiting, "
            "opens_us, status FROM baseline_slots WHERE start_us BETWEEN ? AND ? "
            "ORDER BY start_us, id LIMIT 500"
        )
        by_course = (
            "SELECT id, course_id, tutor_id, start_us, end_us, capacity, booked, waiting, "
            "opens_us, status FROM baseline_slots WHERE course_id = ? AND start_us "
            "BETWEEN ? AND ? ORDER BY start_us, id"
        )
        seconds, found = timed(lambda: base.execute(sql, (lo, hi)).fetchall())
        out.append(("a day, every slot", "SQL baseline", seconds, len(found)))
        seconds, found = timed(lambda: base.execute(by_course, ("c07", lo, hi)).fetchall())
        out.append(("a day, one course", "SQL baseline", seconds, len(found)))
        base.close()
        store.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--adapters", default="memory,sqlite")
    parser.add_argument("--tiny", action="store_true", help="N = 365 (a test that it runs)")
    args = parser.parse_args(argv)
    n = 365 if args.tiny else args.n
    print(f"N = {n} slots over a year (~{n // 365} a day)\n")
    print("| query | adapter | median | slots |")
    print("|---|---|---:|---:|")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for adapter in args.adapters.split(","):
            for name, who, seconds, count in run(adapter, n, Path(tmp)):
                print(f"| {name} | {who} | {seconds * 1000:.3f} ms | {count} |")
                if who == "sqlite" and name == "a day, every slot" and n >= 100_000:
                    failed = failed or seconds > AIM_SECONDS
    if failed:
        print(f"\nAIM MISSED: a day's timetable over {AIM_SECONDS * 1000:.0f} ms on SQLite")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
